"""The API handler: non-resource documents, then resource verbs routed to the registry.

Everything here is translation between HTTP and the registry: query parameters -> options, bodies ->
objects, objects -> JSON or Table, registry watch -> chunked JSON lines. Semantics live in the registry.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import json
import re
import time
from typing import Any

import yaml
from aiohttp import web

from apiserver import errors, managedfields, patch, protobuf
from apiserver.api import discovery, openapi, tables
from apiserver.api.fieldvalidation import FIELD_VALIDATION_MODES, decode_error, unknown_fields
from apiserver.api.resources import RESOURCES, Resource, find
from apiserver.http import reviews
from apiserver.http.kubelet_proxy import KubeletClientOptions, KubeletProxy
from apiserver.http.negotiation import discovery_version, object_format
from apiserver.http.openapi_v2 import OpenAPIV2
from apiserver.http.security import RequestAdmission, Security
from apiserver.registry import eviction, meta
from apiserver.registry.store import DeleteOptions, GenericStore, ListOptions, Registry, validate_list_options
from apiserver.request_info import RequestInfo
from apiserver.selectors import (
    format_selector,
    parse_field_selector,
    parse_label_selector,
    selector_from_spec,
)

MAX_BODY_BYTES = 3 * 1024 * 1024  # kube-apiserver's request body limit
MAX_WATCH_TIMEOUT_S = 3600
LINE_CACHE_SIZE = 512
EVICTION_RETRIES = 20  # EvictionsRetry's steps: a terminating or pending pod deleted guarded on what was read
WATCH_WRITE_BYTES = 256 * 1024  # a batch of watch events larger than this goes out in several writes
JSON = "application/json"
PROTOBUF = "application/vnd.kubernetes.protobuf"
VERSION_INFO = {"major": "1", "minor": "32", "gitVersion": "v1.32.0", "gitCommit": "raftkv", "gitTreeState": "clean",
                "buildDate": "2026-11-22T00:00:00Z", "goVersion": "python3.11", "compiler": "cpython",
                "platform": "linux/amd64", "emulationMajor": "1", "emulationMinor": "32",
                "minCompatibilityMajor": "1", "minCompatibilityMinor": "31"}
PATCH_TYPES = {"application/json-patch+json": "json", "application/merge-patch+json": "merge",
               "application/strategic-merge-patch+json": "strategic", "application/apply-patch+yaml": "apply"}


def _json(body: Any, status: int = 200, content_type: str = JSON) -> web.Response:
    return web.Response(status=status, body=json.dumps(body).encode(), headers={"Content-Type": content_type})



class GoYAMLLoader(yaml.SafeLoader):
    """YAML as kube-apiserver reads it (sigs.k8s.io/yaml, go-yaml v2's YAML 1.1): `y`, `Y`, `n` and `N` are booleans
    too, so `app: y` is a bool that a string field refuses, as there."""

    bool_values = {**yaml.SafeLoader.bool_values, "y": True, "n": False}


GoYAMLLoader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:y|Y|n|N)$"), list("yYnN"))

class APIHandler:
    def __init__(self, registry: Registry, security: Security, *, server_address: str, clock: Any = time.time,
                 definitions: dict[str, Any] | None = None) -> None:
        self.registry = registry
        self.security = security
        self.definitions = definitions or {}
        self.watches: set[asyncio.Task[Any]] = set()
        self.openapi_root, self.openapi_docs = openapi.all_documents(definitions)
        self.openapi_v2 = OpenAPIV2(definitions, clock())
        self.server_address = server_address
        self.clock = clock
        self.lines: dict[tuple[str, ...], bytes] = {}  # encoded watch events, shared by watchers (insertion-ordered)
        self.kubelets = KubeletProxy(registry, KubeletClientOptions())  # app.py sets the configured one

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        info: RequestInfo = request["request_info"]
        if not info.is_resource_request:
            return await self.non_resource(request)
        resource = find(info.group, info.version, info.resource)
        if resource is not None and resource.virtual and not info.name and info.verb == "create":
            body, _ = await self.read_body(request)
            return _json(reviews.answer(self.security, resource, info, request["user"], body), 201)
        if resource is not None and (resource.group, resource.plural, info.subresource) == ("", "serviceaccounts",
                                                                                         "token"):
            if info.verb != "create":
                raise errors.method_not_allowed()
            body, _ = await self.read_body(request)
            sa = await self.registry.stores[("", "serviceaccounts")].get(info.namespace, info.name)
            return _json(reviews.token_request(self.security, sa, body), 201)
        store = self.registry.store(info.group, info.resource) if resource else None
        if resource is None or store is None:
            raise errors.APIError("the server could not find the requested resource", "NotFound", 404)
        if info.subresource and info.subresource not in resource.subresources:
            raise errors.APIError("the server could not find the requested resource", "NotFound", 404)
        return await self.resource(request, info, resource, store)

    def stop_watches(self) -> None:
        """On shutdown, end open watches (clients re-watch elsewhere) so the server can stop promptly."""
        for task in list(self.watches):
            task.cancel()

    # ------------------------------------------------------------------ non-resource
    async def non_resource(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        accept = request.headers.get("Accept", "*/*")
        if request.method not in ("GET", "HEAD"):
            raise errors.method_not_allowed()
        if path == "/version":
            return _json(VERSION_INFO)
        if path in ("/healthz", "/livez", "/readyz") or path.startswith(("/healthz/", "/livez/", "/readyz/")):
            try:
                await self.registry.storage.revision()
            except Exception as e:
                return web.Response(status=500, text=f"[-]etcd failed: {e}\n{path.strip('/')} check failed")
            return web.Response(text="ok", content_type="text/plain")
        if path in ("/api", "/apis"):
            version = discovery_version(accept)
            if version:
                return _json(discovery.aggregated(path == "/api", version), content_type=(
                    f"application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList"))
            return _json(discovery.api_versions(self.server_address) if path == "/api" else discovery.api_group_list())
        parts = path.strip("/").split("/")
        if parts[0] == "api" and len(parts) == 2:
            doc = discovery.api_resource_list("", parts[1])
            if doc:
                return _json(doc)
        if parts[0] == "apis" and len(parts) == 2:
            group_doc = discovery.api_group(parts[1])
            if group_doc:
                return _json(group_doc)
        if parts[0] == "apis" and len(parts) == 3:
            doc = discovery.api_resource_list(parts[1], parts[2])
            if doc:
                return _json(doc)
        if path == "/openapi/v2":
            return self.openapi_v2.respond(request)
        if path == "/openapi/v3":
            return _json(self.openapi_root)
        if path.startswith("/openapi/v3/") and path[len("/openapi/v3/"):] in self.openapi_docs:
            return _json(self.openapi_docs[path[len("/openapi/v3/"):]])
        if path == "/":
            return _json({"paths": sorted({"/api", "/api/v1", "/apis", "/healthz", "/livez", "/readyz", "/openapi/v2",
                                           "/openapi/v3", "/version"} | {f"/apis/{r.group}/{r.version}"
                                                                          for r in RESOURCES if r.group})})
        raise errors.APIError("the server could not find the requested resource", "NotFound", 404)

    # ------------------------------------------------------------------ bodies and options
    async def read_body(self, request: web.Request, *, patch_type: bool = False) -> tuple[Any, str]:
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            raise errors.too_large(MAX_BODY_BYTES)
        raw = await request.content.read(MAX_BODY_BYTES + 1)
        if len(raw) > MAX_BODY_BYTES:
            raise errors.too_large(MAX_BODY_BYTES)
        ctype = (request.headers.get("Content-Type") or JSON).split(";")[0].strip().lower()
        if patch_type:
            if ctype not in PATCH_TYPES:
                raise errors.unsupported_media_type(ctype)
        elif ctype == PROTOBUF:
            return protobuf.decode_object(raw), ctype
        elif ctype not in (JSON, "application/yaml", "*/*"):
            raise errors.unsupported_media_type(ctype)
        try:
            if ctype in ("application/yaml", "application/apply-patch+yaml"):
                return yaml.load(raw.decode(), Loader=GoYAMLLoader), ctype  # noqa: S506 (a SafeLoader)
            return (json.loads(raw) if raw.strip() else None), ctype
        except (ValueError, yaml.YAMLError) as e:
            raise errors.bad_request(f"the body of the request could not be decoded: {e}") from e

    @staticmethod
    def list_options(request: web.Request, store: GenericStore) -> ListOptions:
        q = request.query
        limit = q.get("limit", "0")
        if not limit.lstrip("-").isdigit():
            raise errors.bad_request(f"invalid limit {limit!r}")
        validate_list_options(q.get("resourceVersion", ""), q.get("resourceVersionMatch", ""), q.get("continue", ""))
        return ListOptions(parse_label_selector(q.get("labelSelector", "")),
                           parse_field_selector(q.get("fieldSelector", ""), store.strategy.supports_field),
                           int(limit), q.get("continue", ""), q.get("resourceVersion", ""),
                           q.get("resourceVersionMatch", ""))

    # ------------------------------------------------------------------ rendering
    def render(self, request: web.Request, resource: Resource, obj: dict[str, Any], status: int = 200) -> web.Response:
        fmt = object_format(request.headers.get("Accept", "*/*"))
        response = self._render(request, resource, obj, status, fmt)
        for w in request.get("warnings", ()):
            escaped = w.replace("\\", "\\\\").replace('"', '\\"')
            response.headers.add("Warning", f'299 - "{escaped}"')
        return response

    def _render(self, request: web.Request, resource: Resource, obj: dict[str, Any], status: int,
                fmt: str) -> web.Response:
        if fmt == "json":
            return _json(obj, status)
        items = obj["items"] if "items" in obj else [obj]
        list_meta = obj["metadata"] if "items" in obj else {"resourceVersion": obj["metadata"].get("resourceVersion")}
        table = tables.to_table(resource.plural, items, list_meta, self.clock(),
                                include_object=request.query.get("includeObject", "Metadata"))
        table["apiVersion"] = "meta.k8s.io/" + fmt.split("-", 1)[1]
        return _json(table, status)

    def check_fields(self, request: web.Request, resource: Resource, obj: Any) -> None:
        """fieldValidation: Strict -> 400 listing unknown fields; Warn (the default) -> Warning headers."""
        mode = request.query.get("fieldValidation", "Warn")
        if mode not in FIELD_VALIDATION_MODES:
            raise errors.bad_request(f"fieldValidation parameter must be one of: Ignore, Warn, Strict (got {mode!r})")
        if not isinstance(obj, dict):
            return
        problem = decode_error(obj, openapi.schema_name(resource), self.definitions)
        if problem:  # the decoder's type error comes before any strict-decoding complaint
            raise errors.bad_request(f'{resource.kind} in version "{resource.version}" cannot be handled as a '
                                     f"{resource.kind}: {problem}")
        unknown = unknown_fields(obj, openapi.schema_name(resource), self.definitions, prune=True)
        if mode == "Ignore":
            return
        if not unknown:
            return
        listed = ", ".join(f'unknown field "{f}"' for f in unknown)
        if mode == "Strict":
            raise errors.bad_request(f'{resource.kind} in version "{resource.version}" cannot be handled as a '
                                     f"{resource.kind}: strict decoding error: {listed}")
        request["warnings"] = [f'unknown field "{f}"' for f in unknown]

    @staticmethod
    def field_manager(request: web.Request, *, required: bool = False) -> str:
        """`fieldManager`, else (like kube-apiserver) the User-Agent's product name."""
        manager = request.query.get("fieldManager", "")
        if required and not manager:
            raise errors.invalid("PatchOptions", "meta.k8s.io", "", [errors.Cause(
                "FieldValueRequired", "Required value: is required for apply patch", "fieldManager")])
        if len(manager) > 128:
            raise errors.invalid("PatchOptions", "meta.k8s.io", "", [errors.Cause(
                "FieldValueTooLong", "Too long: may not be more than 128 bytes", "fieldManager")])
        return manager or (request.headers.get("User-Agent", "") or "unknown").split("/")[0][:128]

    def tracker(self, request: web.Request, resource: Resource, subresource: str = ""
                ) -> Any:
        manager = self.field_manager(request)
        now = meta.rfc3339(self.clock())

        def track(old: dict[str, Any] | None, new: dict[str, Any]) -> None:
            managedfields.record_update(old, new, manager, resource.group_version, now, subresource)
        return track

    # ------------------------------------------------------------------ resource verbs
    async def resource(self, request: web.Request, info: RequestInfo, resource: Resource,
                       store: GenericStore) -> web.StreamResponse:
        ns = info.namespace if resource.namespaced else ""
        dry_run = request.query.get("dryRun") == "All"
        verb, sub = info.verb, info.subresource
        admission = RequestAdmission(self.security, self.registry, info, resource, request["user"], dry_run)
        if sub == "scale":
            return await self.scale(request, info, resource, store, ns, dry_run, admission)
        if resource.plural == "pods" and not resource.group and sub in ("binding", "eviction", "log", "exec", "attach",
                                                                       "portforward"):
            return await self.pod_subresource(request, info, store, ns, dry_run, admission)
        if verb == "list":
            return self.render(request, resource, await store.list(ns, self.list_options(request, store)))
        if verb == "watch":
            return await self.watch(request, info, resource, store, ns)
        if verb == "get":
            return self.render(request, resource, await store.get(ns, info.name))
        if verb == "create" and not info.name:
            body, _ = await self.read_body(request)
            self.check_fields(request, resource, body)
            if isinstance(body, dict):
                self.tracker(request, resource)(None, body)
            # Its `default` ServiceAccount comes from kube-controller-manager's serviceaccount controller.
            return self.render(request, resource, await store.create(ns, body, dry_run=dry_run, admission=admission),
                               201)
        if verb == "update":
            body, _ = await self.read_body(request)
            self.check_fields(request, resource, body)
            return self.render(request, resource, await store.update(
                ns, info.name, body, subresource=sub, dry_run=dry_run, admission=admission,
                track=self.tracker(request, resource, sub)))
        if verb == "patch":
            return await self.patch(request, info, resource, store, ns, dry_run, admission)
        if verb == "delete":
            opts = await self.delete_options(request)
            # A namespace's content is deleted by the namespace controller, dependents by the garbage collector
            # (kube-controller-manager's): the API server only records the deletion and its finalizers. Quota usage
            # is given back by the resourcequota controller.
            return self.render(request, resource, await store.delete(ns, info.name, opts, admission=admission))
        if verb == "deletecollection":
            opts = await self.delete_options(request)
            listed = await store.list(ns, self.list_options(request, store))
            for item in listed["items"]:
                try:
                    await store.delete(item["metadata"].get("namespace", ""), item["metadata"]["name"], opts,
                                       admission=admission)
                except errors.APIError as e:
                    if e.code != 404:
                        raise
            return _json({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"})
        raise errors.method_not_allowed()

    async def pod_subresource(self, request: web.Request, info: RequestInfo, store: GenericStore, ns: str,
                              dry_run: bool, admission: RequestAdmission) -> web.StreamResponse:
        """pods/binding (the scheduler's write), pods/eviction (a delete that honours PodDisruptionBudgets, see
        `evict`); pods/log, exec, attach and portforward are proxied to the pod's kubelet
        (http/kubelet_proxy.py)."""
        sub = info.subresource
        if sub in ("log", "exec", "attach", "portforward"):
            if sub == "log" and info.verb != "get":
                raise errors.method_not_allowed()
            return await self.kubelets.serve(request, sub, await store.get(ns, info.name))
        if info.verb != "create":
            raise errors.method_not_allowed()
        body, _ = await self.read_body(request)
        if not isinstance(body, dict):
            raise errors.bad_request("the request body must be a JSON object")
        success = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
        if sub == "eviction":
            raw = body.get("deleteOptions") or {}
            opts = DeleteOptions(raw.get("propagationPolicy") or "", raw.get("gracePeriodSeconds"),
                                 (raw.get("preconditions") or {}).get("uid") or "",
                                 (raw.get("preconditions") or {}).get("resourceVersion") or "", dry_run)
            named = (body.get("metadata") or {}).get("name") if isinstance(body.get("metadata"), dict) else None
            if named and named != info.name:
                raise errors.bad_request("name in URL does not match name in Eviction object")
            await self.evict(store, ns, info.name, opts, admission)
            return _json(success, 201)
        target = body.get("target") or {}
        node = target.get("name") if isinstance(target, dict) else None
        if not node:
            raise errors.invalid("Binding", "", info.name, [errors.Cause("FieldValueRequired", "Required value",
                                                                         "target.name")])

        def bind(old: dict[str, Any]) -> dict[str, Any]:
            spec = old.setdefault("spec", {})
            if spec.get("nodeName"):
                raise errors.conflict("pods/binding", "", info.name,
                                      f'pod {info.name} is already assigned to node "{spec["nodeName"]}"')
            if old["metadata"].get("deletionTimestamp"):
                raise errors.conflict("pods/binding", "", info.name, f"pod {info.name} is being deleted, "
                                      "cannot be assigned to a host")
            spec["nodeName"] = node
            conds = [c for c in (old.get("status") or {}).get("conditions") or [] if c.get("type") != "PodScheduled"]
            conds.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                          "lastTransitionTime": meta.rfc3339(self.clock())})
            old.setdefault("status", {})["conditions"] = conds
            return old
        await store.guaranteed_update(ns, info.name, bind, dry_run=dry_run, admission=admission,
                                      subresource="binding")
        return _json(success, 201)

    async def evict(self, store: GenericStore, ns: str, name: str, opts: DeleteOptions,
                    admission: RequestAdmission) -> None:
        """1.32's EvictionREST.Create: the decisions are registry/eviction.py's; here the reads, the budget's guarded
        status write (re-checked on the latest budget when another eviction won the race) and the delete."""
        user_rv = bool(opts.precondition_rv)
        pod: dict[str, Any] = {}
        for _ in range(EVICTION_RETRIES):
            pod = await store.get(ns, name)
            if not eviction.can_ignore_pdb(pod):
                break
            delete_opts = opts
            if eviction.should_enforce_resource_version(pod) and not user_rv:
                delete_opts = dataclasses.replace(opts, precondition_rv=pod["metadata"]["resourceVersion"])
            try:
                await store.delete(ns, name, delete_opts, admission=admission)
                return
            except errors.APIError as e:
                if e.code != 409 or user_rv:
                    raise
        else:
            raise errors.conflict("pods", "", name)
        pdb_store = self.registry.store("policy", "poddisruptionbudgets")
        assert pdb_store is not None
        pdbs = eviction.matching_pdbs(pod, (await pdb_store.list(ns, ListOptions()))["items"])
        if len(pdbs) > 1:
            raise errors.APIError(eviction.MORE_THAN_ONE, "", 500)
        skip_budget = bool(pdbs) and eviction.unready_pod_skips_budget(pod, pdbs[0])
        if pdbs and not skip_budget:
            pdb = pdbs[0]
            if opts.dry_run:
                eviction.check_and_decrement(pdb, name, self.clock(), True)
            else:
                await pdb_store.guaranteed_update(
                    ns, pdb["metadata"]["name"], lambda live: eviction.check_and_decrement(live, name, self.clock(),
                                                                                         False),
                    subresource="status")
        delete_opts = opts
        if skip_budget:
            delete_opts = dataclasses.replace(opts, precondition_rv=pod["metadata"]["resourceVersion"])
        try:
            await store.delete(ns, name, delete_opts, admission=admission)
        except errors.APIError as e:
            if e.code == 409 and skip_budget and not user_rv:
                raise eviction.still_processing(pdbs[0]["metadata"]["name"]) from e
            raise

    async def delete_options(self, request: web.Request) -> DeleteOptions:
        q = dict(request.query)
        if request.can_read_body:
            body, _ = await self.read_body(request)
            if isinstance(body, dict):
                q.update({k: v for k, v in body.items() if k in ("propagationPolicy", "gracePeriodSeconds",
                                                                 "dryRun")})
                pre = body.get("preconditions") or {}
                q["uid"], q["rv"] = pre.get("uid", ""), pre.get("resourceVersion", "")
        policy = q.get("propagationPolicy") or ""
        if policy not in ("", "Background", "Foreground", "Orphan"):
            raise errors.bad_request(f"propagationPolicy {policy!r} is not one of Background, Foreground, Orphan")
        grace = q.get("gracePeriodSeconds")
        try:
            grace_int = int(grace) if grace is not None else None
        except ValueError as e:
            raise errors.bad_request(f"invalid gracePeriodSeconds {grace!r}") from e
        dry = q.get("dryRun")
        return DeleteOptions(policy, grace_int, q.get("uid") or "", q.get("rv") or "",
                             dry == "All" or dry == ["All"])

    def _apply_patch(self, kind: str, current: dict[str, Any], body: Any) -> dict[str, Any]:
        if kind == "json":
            result = patch.json_patch(current, body)
        elif kind == "merge":
            if not isinstance(body, dict):
                raise errors.bad_request("merge patch must be a JSON object")
            result = patch.merge_patch(current, body)
        else:
            result = patch.strategic_merge_patch(current, body)
        if not isinstance(result, dict):
            raise errors.bad_request("the patch did not produce an object")
        return result

    async def patch(self, request: web.Request, info: RequestInfo, resource: Resource, store: GenericStore,
                    ns: str, dry_run: bool, admission: RequestAdmission) -> web.StreamResponse:
        body, ctype = await self.read_body(request, patch_type=True)
        kind = PATCH_TYPES[ctype]
        if kind == "apply":
            return await self.apply(request, info, resource, store, ns, body, dry_run, admission)
        want_rv = body.get("metadata", {}).get("resourceVersion") if isinstance(body, dict) and \
            isinstance(body.get("metadata"), dict) else None

        track = self.tracker(request, resource, info.subresource)

        def transform(old: dict[str, Any]) -> dict[str, Any]:
            if want_rv and want_rv != old["metadata"]["resourceVersion"]:
                raise errors.conflict(resource.plural, resource.group, info.name)
            new = self._apply_patch(kind, old, body)
            self.check_fields(request, resource, new)
            if info.subresource == "status":
                store.strategy.prepare_for_status_update(new, old)
            else:
                store.strategy.prepare_for_update(new, old)
            track(old, new)
            return new
        return self.render(request, resource, await store.guaranteed_update(
            ns, info.name, transform, dry_run=dry_run, admission=admission, subresource=info.subresource))

    async def apply(self, request: web.Request, info: RequestInfo, resource: Resource, store: GenericStore,
                    ns: str, body: Any, dry_run: bool, admission: RequestAdmission) -> web.StreamResponse:
        """Server-side apply: create when absent, else merge the configuration with field ownership, 409 on
        conflicts with other managers unless `force=true` (managedfields.py decides)."""
        if not isinstance(body, dict):
            raise errors.bad_request("apply patch must be an object")
        manager = self.field_manager(request, required=True)
        force = request.query.get("force") in ("true", "1")
        self.check_fields(request, resource, body)
        now = meta.rfc3339(self.clock())

        def applied(live: dict[str, Any] | None) -> dict[str, Any]:
            return managedfields.apply(live, body, manager, force=force, api_version=resource.group_version,
                                       now=now, kind="", group="", name="", subresource=info.subresource)
        try:
            await store.get(ns, info.name)
        except errors.APIError as e:
            if e.code != 404 or info.subresource:
                raise
            new = applied(None)
            new.setdefault("metadata", {})["name"] = info.name
            new["apiVersion"], new["kind"] = resource.group_version, resource.kind
            return self.render(request, resource, await store.create(ns, new, dry_run=dry_run,
                                                                     admission=admission), 201)

        def transform(old: dict[str, Any]) -> dict[str, Any]:
            new = applied(old)
            if info.subresource == "status":
                owners = new["metadata"].get("managedFields")
                store.strategy.prepare_for_status_update(new, old)  # keeps only status, and the old metadata
                new["metadata"]["managedFields"] = owners
            else:
                store.strategy.prepare_for_update(new, old)
            return new
        return self.render(request, resource, await store.guaranteed_update(
            ns, info.name, transform, dry_run=dry_run, admission=admission, subresource=info.subresource))

    async def scale(self, request: web.Request, info: RequestInfo, resource: Resource, store: GenericStore,
                    ns: str, dry_run: bool, admission: RequestAdmission) -> web.StreamResponse:
        def to_scale(obj: dict[str, Any]) -> dict[str, Any]:
            md = obj["metadata"]
            selector = obj.get("spec", {}).get("selector")
            if resource.kind == "ReplicationController":
                selector = {"matchLabels": selector or {}}
            return {"kind": "Scale", "apiVersion": "autoscaling/v1",
                    "metadata": {k: md[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                                    "creationTimestamp") if k in md},
                    "spec": {"replicas": obj.get("spec", {}).get("replicas", 0)},
                    "status": {"replicas": obj.get("status", {}).get("replicas", 0),
                               "selector": format_selector(selector_from_spec(selector))}}
        if info.verb == "get":
            return _json(to_scale(await store.get(ns, info.name)))
        if info.verb not in ("update", "patch"):
            raise errors.method_not_allowed()
        body, ctype = await self.read_body(request, patch_type=info.verb == "patch")

        def transform(old: dict[str, Any]) -> dict[str, Any]:
            current = to_scale(old)
            wanted = body if info.verb == "update" else self._apply_patch(PATCH_TYPES[ctype], current, body)
            if not isinstance(wanted, dict):
                raise errors.bad_request("scale must be an object")
            rv = (wanted.get("metadata") or {}).get("resourceVersion")
            if info.verb == "update" and rv and rv != old["metadata"]["resourceVersion"]:
                raise errors.conflict(resource.plural, resource.group, info.name)
            replicas = (wanted.get("spec") or {}).get("replicas")
            if not isinstance(replicas, int) or replicas < 0:
                raise errors.invalid("Scale", "autoscaling", info.name, [errors.Cause(
                    "FieldValueInvalid", f"Invalid value: {replicas!r}: must be greater than or equal to 0",
                    "spec.replicas")])
            new = copy.deepcopy(old)
            new.setdefault("spec", {})["replicas"] = replicas
            return new
        return _json(to_scale(await store.guaranteed_update(ns, info.name, transform, dry_run=dry_run,
                                                            admission=admission)))

    async def watch(self, request: web.Request, info: RequestInfo, resource: Resource, store: GenericStore,
                    ns: str) -> web.StreamResponse:
        opts = self.list_options(request, store)
        if info.name:
            opts = ListOptions(opts.label, parse_field_selector(f"metadata.name={info.name}", lambda f: True),
                               0, "", opts.resource_version)
        fmt = object_format(request.headers.get("Accept", "*/*"))
        bookmarks = request.query.get("allowWatchBookmarks") in ("true", "1")
        timeout_q = request.query.get("timeoutSeconds", "")
        timeout_s = min(int(timeout_q), MAX_WATCH_TIMEOUT_S) if timeout_q.isdigit() else MAX_WATCH_TIMEOUT_S
        batches = store.watch_batches(ns, opts, bookmarks=bookmarks)
        # Like kube-apiserver: 200 first; a compacted resourceVersion arrives as an ERROR event (410 Expired).
        response = web.StreamResponse(status=200, headers={"Content-Type": JSON, "Cache-Control": "no-cache"})
        response.enable_chunked_encoding()
        await response.prepare(request)

        task = asyncio.current_task()
        assert task is not None
        self.watches.add(task)

        include = request.query.get("includeObject", "Metadata")

        def line(kind: str, obj: dict[str, Any]) -> bytes:
            md = obj.get("metadata") or {}
            shareable = fmt == "json" and kind in ("ADDED", "MODIFIED", "DELETED")
            # Every watcher of an event sends the same JSON line: encode it once (kube-apiserver's cachingObject).
            key = (resource.group, resource.plural, kind, md.get("namespace", ""), md.get("name", ""),
                   md.get("resourceVersion", ""))
            encoded = self.lines.get(key) if shareable else None
            if encoded is None:
                out = obj
                if fmt != "json" and kind not in ("BOOKMARK", "ERROR"):
                    out = tables.to_table(resource.plural, [obj], {"resourceVersion": md.get("resourceVersion")},
                                          self.clock(), include_object=include)
                    out["apiVersion"] = "meta.k8s.io/" + fmt.split("-", 1)[1]
                encoded = json.dumps({"type": kind, "object": out}).encode() + b"\n"
                if shareable:
                    self.lines[key] = encoded
                    if len(self.lines) > LINE_CACHE_SIZE:
                        self.lines.pop(next(iter(self.lines)))
            return encoded

        try:
            async with asyncio.timeout(timeout_s):
                async for batch in batches:
                    # Everything that arrived since the last write goes out as one chunk: one send per batch
                    # (aiohttp waits for the socket to drain only past its 64 KiB buffer). A huge batch (the
                    # initial state of a large list) is cut so no single write holds it all in memory at once.
                    chunk: list[bytes] = []
                    size = 0
                    for kind, obj in batch:
                        encoded = line(kind, obj)
                        chunk.append(encoded)
                        size += len(encoded)
                        if size >= WATCH_WRITE_BYTES:
                            await response.write(b"".join(chunk))
                            chunk, size = [], 0
                    if chunk:
                        await response.write(b"".join(chunk))
        except TimeoutError:
            pass
        except errors.APIError as e:
            await response.write(line("ERROR", e.to_status()))
        except (ConnectionResetError, asyncio.CancelledError):
            return response  # the client went away, or the server is shutting down (stop_watches)
        finally:
            self.watches.discard(task)
            await batches.aclose()  # type: ignore[attr-defined]
        await response.write_eof()
        return response
