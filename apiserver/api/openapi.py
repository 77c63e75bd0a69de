"""OpenAPI v3 documents generated from the resource table; pure.

kubectl's write commands look in `/openapi/v3/<gv>` for the PATCH operation tagged with the object's
`x-kubernetes-group-version-kind` and check it has a `fieldValidation` query parameter; if found they
rely on server-side field validation. The schemas here are deliberately loose (open objects), enough
for that check and for `kubectl explain` at the top level; full v1.32 schemas are a later step.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from apiserver.api.resources import RESOURCES, Resource

K8S_VERSION = "v1.32.0"

_QUERY = {name: {"name": name, "in": "query", "schema": {"type": "string"}, "uniqueItems": True}
          for name in ("dryRun", "fieldManager", "fieldValidation", "pretty", "labelSelector", "fieldSelector",
                       "resourceVersion", "continue", "propagationPolicy")}
_BOOL_QUERY = {name: {"name": name, "in": "query", "schema": {"type": "boolean"}, "uniqueItems": True}
               for name in ("watch", "allowWatchBookmarks", "force")}
_INT_QUERY = {name: {"name": name, "in": "query", "schema": {"type": "integer"}, "uniqueItems": True}
              for name in ("limit", "timeoutSeconds", "gracePeriodSeconds")}


def gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _schema_name(r: Resource) -> str:
    group = {"": "core", "apps": "apps"}.get(r.group, r.group)
    return f"io.k8s.api.{group}.{r.version}.{r.kind}"


def _ref(r: Resource) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{_schema_name(r)}"}


def _op(r: Resource, action: str, op_id: str, params: list[str], body: bool, code: str = "200",
        list_kind: bool = False) -> dict[str, Any]:
    all_params = {**_QUERY, **_BOOL_QUERY, **_INT_QUERY}
    schema: dict[str, Any] = {"type": "object"} if list_kind else _ref(r)
    op: dict[str, Any] = {
        "tags": [gv_path(r.group, r.version).replace("/", "_")],
        "operationId": op_id, "parameters": [all_params[p] for p in params],
        "responses": {code: {"description": "OK", "content": {"application/json": {"schema": schema}}}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": r.group, "version": r.version, "kind": r.kind},
    }
    if body:
        content_types = ["application/json"]
        if action == "patch":
            content_types = ["application/apply-patch+yaml", "application/json-patch+json",
                             "application/merge-patch+json", "application/strategic-merge-patch+json"]
        op["requestBody"] = {"content": {ct: {"schema": {"type": "object"} if action == "patch" else _ref(r)}
                                         for ct in content_types}, "required": True}
    return op


def _paths(r: Resource) -> dict[str, Any]:
    base = "/" + gv_path(r.group, r.version)
    ns = "/namespaces/{namespace}" if r.namespaced else ""
    coll, item = f"{base}{ns}/{r.plural}", f"{base}{ns}/{r.plural}/{{name}}"
    path_params = ([{"name": "namespace", "in": "path", "required": True, "schema": {"type": "string"}}]
                   if r.namespaced else [])
    name_param = [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}]
    k = r.kind
    out = {
        coll: {"parameters": path_params,
               "get": _op(r, "list", f"list{k}", ["labelSelector", "fieldSelector", "limit", "continue",
                                                  "resourceVersion", "timeoutSeconds", "watch"], False,
                          list_kind=True),
               "post": _op(r, "post", f"create{k}", ["dryRun", "fieldManager", "fieldValidation"], True, "201")},
        item: {"parameters": path_params + name_param,
               "get": _op(r, "get", f"read{k}", [], False),
               "put": _op(r, "put", f"replace{k}", ["dryRun", "fieldManager", "fieldValidation"], True),
               "patch": _op(r, "patch", f"patch{k}", ["dryRun", "fieldManager", "fieldValidation", "force"], True),
               "delete": _op(r, "delete", f"delete{k}", ["dryRun", "gracePeriodSeconds", "propagationPolicy"],
                             False)},
    }
    for sub in r.subresources:
        if sub == "finalize":
            continue
        sub_op = {"get": _op(r, "get", f"read{k}{sub.title()}", [], False),
                  "put": _op(r, "put", f"replace{k}{sub.title()}", ["dryRun", "fieldManager", "fieldValidation"],
                             True),
                  "patch": _op(r, "patch", f"patch{k}{sub.title()}", ["dryRun", "fieldManager", "fieldValidation",
                                                                       "force"], True)}
        if sub == "scale":
            for op in sub_op.values():
                op["x-kubernetes-group-version-kind"] = {"group": "autoscaling", "version": "v1", "kind": "Scale"}
        out[f"{item}/{sub}"] = {"parameters": path_params + name_param, **sub_op}
    return out


def _schema(r: Resource) -> dict[str, Any]:
    obj = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return {
        "description": f"{r.kind} ({r.group_version}).", "type": "object",
        "properties": {"apiVersion": {"type": "string", "description": "APIVersion of this representation."},
                       "kind": {"type": "string", "description": "Kind is the REST resource this object is."},
                       "metadata": {**obj, "description": "Standard object's metadata."},
                       "spec": {**obj, "description": "Desired state."},
                       "status": {**obj, "description": "Observed state."},
                       **({"data": {"type": "object", "additionalProperties": {"type": "string"}}}
                          if r.kind in ("ConfigMap", "Secret") else {})},
        "x-kubernetes-group-version-kind": [{"group": r.group, "version": r.version, "kind": r.kind}],
    }


def group_versions() -> list[tuple[str, str]]:
    return list(dict.fromkeys((r.group, r.version) for r in RESOURCES))


def document(group: str, version: str) -> dict[str, Any] | None:
    rows = [r for r in RESOURCES if r.group == group and r.version == version]
    if not rows:
        return None
    paths: dict[str, Any] = {}
    for r in rows:
        paths.update(_paths(r))
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": K8S_VERSION}, "paths": paths,
            "components": {"schemas": {_schema_name(r): _schema(r) for r in rows}}}


def doc_hash(doc: dict[str, Any]) -> str:
    return hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest().upper()


def root() -> dict[str, Any]:
    paths = {}
    for g, v in group_versions():
        doc = document(g, v)
        assert doc is not None
        paths[gv_path(g, v)] = {"serverRelativeURL": f"/openapi/v3/{gv_path(g, v)}?hash={doc_hash(doc)}"}
    return {"paths": paths}
