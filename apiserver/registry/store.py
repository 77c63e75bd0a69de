"""The generic registry store (k8s `registry/generic/registry/store.go`), one instance per resource.

Pipeline for writes: decode -> strategy hooks + system metadata (meta.py) -> validate -> guarded write
through the etcd3 store -> storage errors translated into API errors here, once. A resource's own code
lives only in its Strategy. Objects are stored as JSON (kube-apiserver stores protobuf; the layout of
keys and the resourceVersion = mod_revision rule are the same), with resourceVersion cleared.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from apiserver import errors
from apiserver.api.resources import Resource
from apiserver.registry import meta
from apiserver.registry.strategies import Strategy, strategy_for
from apiserver.selectors import FieldSelector, LabelSelector
from apiserver.storage.errors import (
    KV,
    Compacted,
    FutureRevision,
    GuardMismatch,
    KeyExists,
    RevisionMismatch,
    StorageError,
)
from apiserver.storage.etcd3 import Etcd3Store, WatchEvent
from apiserver.storage.watchcache import WatchCache

MAX_LIST_LIMIT = 10_000
# Store reads are paged (all at the list's one revision), so one Range response stays far below gRPC's message limit
# however many objects a list returns (10,000 pods in one Range went over 8 MiB and failed).
MAX_RANGE_BATCH = 1000
DECODED_CACHE_SIZE = 256
MAX_UPDATE_RETRIES = 1000  # kube-apiserver retries a lost race without limit; 16 refused busy keys (16 writers)
DEFAULT_POD_GRACE_SECONDS = 30
DEFAULT_BOOKMARK_INTERVAL_S = 60.0  # kube-apiserver's watch cache sends bookmarks about once a minute
MAX_GUARD_RETRIES = 32  # creates that lost a quota race re-run validation against the new usage
WatchBatch = list[tuple[str, dict[str, Any]]]  # (type, object) pairs a watcher can send in one write
Guard = tuple[str, int, bytes]  # (key, expected mod_revision, new value): written atomically with a create
Observer = Callable[[str, str, str, "dict[str, Any] | None", int], object]


class AdmissionHook(Protocol):
    """One request's admission, bound by the HTTP layer to the user and request (the registry knows neither).

    ``mutate`` runs after decoding and defaulting, before system metadata and validation, and returns the object
    to continue with; ``validate`` runs after validation, just before the write, and may return guards: other keys
    to rewrite in the same Txn as a create (a ResourceQuota's usage). When such a Txn loses a race on a guard,
    ``validate`` runs again against the new state."""

    async def mutate(self, operation: str, obj: dict[str, Any] | None,
                     old: dict[str, Any] | None) -> dict[str, Any] | None: ...

    async def validate(self, operation: str, obj: dict[str, Any] | None,
                       old: dict[str, Any] | None) -> list[Guard]: ...


class WriteHook(Protocol):
    """A resource's store-side allocations (Services: cluster IPs and node ports). Each method may fill the object
    and returns guards to write in the object's own Txn; the store runs it again when a guard lost a race."""

    async def on_create(self, obj: dict[str, Any]) -> list[Guard]: ...

    async def on_update(self, new: dict[str, Any], old: dict[str, Any]) -> list[Guard]: ...

    async def on_delete(self, old: dict[str, Any]) -> list[Guard]: ...


@dataclass(frozen=True)
class ListOptions:
    label: LabelSelector = LabelSelector()
    field: FieldSelector = FieldSelector()
    limit: int = 0
    continue_token: str = ""
    resource_version: str = ""
    resource_version_match: str = ""  # "", "NotOlderThan" or "Exact" (checked by validate_list_options)


LIST_TOO_OLD = "The resourceVersion for the provided list is too old."


def validate_list_options(rv: str, match: str, continue_token: str) -> None:
    """kube-apiserver's ListOptions validation of resourceVersion / resourceVersionMatch (422 Invalid)."""
    why = ""
    if match not in ("", "NotOlderThan", "Exact"):
        why = f'resourceVersionMatch: Unsupported value: "{match}": supported values: "Exact", "NotOlderThan"'
    elif match and not rv:
        why = "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided"
    elif match and continue_token:
        why = "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden when continue is provided"
    elif match == "Exact" and rv == "0":
        why = 'resourceVersionMatch: Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0"'
    if why:
        raise errors.APIError(f'ListOptions.meta.k8s.io "" is invalid: {why}', "Invalid", 422,
                              group="meta.k8s.io", kind="ListOptions")


@dataclass(frozen=True)
class DeleteOptions:
    propagation_policy: str = ""
    grace_period_seconds: int | None = None
    precondition_uid: str = ""
    precondition_rv: str = ""
    dry_run: bool = False


def encode_continue(rev: int, start: str) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rev, "start": start}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_continue(token: str, prefix: str) -> tuple[int, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        rev, start = int(data["rv"]), str(data["start"])
    except (ValueError, KeyError, TypeError, binascii.Error) as e:
        raise errors.bad_request(f"continue key is not valid: {e}") from e
    if data.get("v") != "meta.k8s.io/v1" or rev <= 0 or not start.startswith(prefix):
        raise errors.bad_request("continue key is not valid: incorrect encoded start resourceVersion")
    return rev, start


def _parse_rv(rv: str) -> int:
    if rv in ("", "0"):
        return 0
    if not rv.isdigit():
        raise errors.bad_request(f"invalid resource version: {rv!r}")
    return int(rv)


K = TypeVar("K")
V = TypeVar("V")


def _remember(cache: dict[K, V], key: K, value: V) -> V:
    """Adds to one of the watch path's insertion-ordered caches, dropping the oldest entry beyond their size."""
    cache[key] = value
    if len(cache) > DECODED_CACHE_SIZE:
        cache.pop(next(iter(cache)))
    return value


class _KeyGate:
    """Serializes this server's read-modify-write updates of one key. Optimistic concurrency alone makes N clients
    patching one object retry ~N times each (the benchmark's 16 patchers needed ~14 Txns per patch, p99 3.5 s);
    queued on the gate, each writer finds the object as the previous one wrote it, so its Txn succeeds at once.
    Other API servers and direct store writers are still caught by the Txn's mod_revision guard."""

    __slots__ = ("lock", "users", "last")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0
        self.last: KV | None = None


class GenericStore:
    def __init__(self, resource: Resource, storage: Etcd3Store, *, clock: Callable[[], float], rng: meta.RNG,
                 namespace_exists: Callable[[str], Awaitable[bool]] | None = None,
                 bookmark_interval: float = DEFAULT_BOOKMARK_INTERVAL_S) -> None:
        self.resource = resource
        self.bookmark_interval = bookmark_interval
        self.strategy: Strategy = strategy_for(resource.plural, resource.group)
        self.storage = storage
        self.clock = clock
        self.rng = rng
        self.namespace_exists = namespace_exists
        self.observer: Observer | None = None  # told about every write (the auth state cache's read-your-writes)
        self.watch_cache: WatchCache | None = None  # set by the Registry: watches share one store watch
        self.write_hook: WriteHook | None = None  # set by the app for Services (allocation)
        self._decoded: dict[tuple[str, int], dict[str, Any]] = {}  # insertion-ordered: the oldest goes first
        self._fields: dict[int, tuple[dict[str, Any], dict[str, str]]] = {}  # id(shared object) -> its fields
        self._gates: dict[str, _KeyGate] = {}  # keys being updated by this server, see guaranteed_update

    def _observe(self, namespace: str, name: str, obj: dict[str, Any] | None, rev: int) -> None:
        if self.observer is not None:
            self.observer(self.resource.plural, namespace if self.resource.namespaced else "", name,
                          copy.deepcopy(obj) if obj is not None else None, rev)

    # ------------------------------------------------------------------ encoding
    def key(self, namespace: str, name: str) -> str:
        if self.resource.namespaced:
            return f"{self.resource.key_prefix}{namespace}/{name}"
        return f"{self.resource.key_prefix}{name}"

    def prefix(self, namespace: str) -> str:
        return f"{self.resource.key_prefix}{namespace}/" if self.resource.namespaced and namespace \
            else self.resource.key_prefix

    def decode(self, kv: KV) -> dict[str, Any]:
        obj: dict[str, Any] = self.strategy.from_storage(json.loads(kv.value))
        obj.setdefault("metadata", {})["resourceVersion"] = str(kv.mod_revision)
        return obj

    def _decode_shared(self, kv: KV) -> dict[str, Any]:
        """The decoded object of a watch event, decoded once for all of this resource's watchers (who only read
        it: the watch handler serializes it, selectors match it)."""
        k = (kv.key, kv.mod_revision)
        obj = self._decoded.get(k)
        return obj if obj is not None else _remember(self._decoded, k, self.decode(kv))

    def encode(self, obj: dict[str, Any]) -> bytes:
        stored = self.strategy.to_storage(copy.deepcopy(obj))
        stored.get("metadata", {}).pop("resourceVersion", None)
        return json.dumps(stored, separators=(",", ":")).encode()

    def _not_found(self, name: str) -> errors.APIError:
        return errors.not_found(self.resource.plural, self.resource.group, name)

    def _translate(self, e: StorageError, name: str) -> errors.APIError:
        if isinstance(e, KeyExists):
            return errors.already_exists(self.resource.plural, self.resource.group, name)
        if isinstance(e, RevisionMismatch):
            return errors.conflict(self.resource.plural, self.resource.group, name)
        if isinstance(e, Compacted):
            return errors.gone(f"too old resource version: {e.requested} ({e.compact_revision})")
        if isinstance(e, FutureRevision):
            return errors.timeout(f"Too large resource version: {e.requested}, current: {e.current}")
        return errors.APIError(f"storage unavailable: {e}", "ServiceUnavailable", 503)

    def _check(self, obj: dict[str, Any], name: str, old: dict[str, Any] | None = None,
               subresource: str = "") -> None:
        causes = meta.validate_object_meta(obj, namespaced=self.resource.namespaced,
                                           name_is_label=self.strategy.name_is_label,
                                           name_is_path_segment=self.strategy.name_is_path_segment)
        causes += self.strategy.validate(obj)
        if old is not None:
            causes += meta.validate_update_meta(obj, old)
            if not subresource:
                causes += self.strategy.validate_update(obj, old)
            elif subresource == "status":
                causes += self.strategy.validate_status_update(obj, old)
        if causes:
            raise errors.invalid(self.resource.kind, self.resource.group, name, causes)

    def _check_identity(self, obj: Any, namespace: str, name: str | None) -> dict[str, Any]:
        if not isinstance(obj, dict):
            raise errors.bad_request("the request body must be a JSON object")
        kind, api_version = obj.get("kind"), obj.get("apiVersion")
        if kind and kind != self.resource.kind:
            raise errors.bad_request(f"the kind {kind!r} does not match the resource {self.resource.kind!r}")
        if api_version and api_version != self.resource.group_version:
            raise errors.bad_request(f"the API version {api_version!r} does not match the expected "
                                     f"API version {self.resource.group_version!r}")
        md = obj.get("metadata")
        if md is not None and not isinstance(md, dict):
            raise errors.bad_request("metadata must be an object")
        md = obj.setdefault("metadata", {})
        if self.resource.namespaced and md.get("namespace") and md["namespace"] != namespace:
            raise errors.bad_request("the namespace of the provided object does not match the namespace sent "
                                     "on the request")
        if name is not None and md.get("name") and md["name"] != name:
            raise errors.bad_request("the name of the object does not match the name on the URL")
        obj["kind"], obj["apiVersion"] = self.resource.kind, self.resource.group_version
        return obj

    # ------------------------------------------------------------------ reads
    async def get(self, namespace: str, name: str) -> dict[str, Any]:
        kv = await self._read(self.key(namespace, name), name)
        if kv is None:
            raise self._not_found(name)
        return self.decode(kv)

    def matches(self, obj: dict[str, Any], opts: ListOptions) -> bool:
        return opts.label.matches(obj.get("metadata", {}).get("labels")) and \
            opts.field.matches(self.strategy.fields(obj))

    async def list(self, namespace: str, opts: ListOptions) -> dict[str, Any]:
        prefix = self.prefix(namespace)
        if opts.resource_version == "0" and not opts.continue_token and self.watch_cache is not None:
            return await self._list_from_cache(prefix, opts)
        limit = min(max(opts.limit, 0), MAX_LIST_LIMIT)
        rev, start = 0, prefix
        if opts.continue_token:
            rev, start = decode_continue(opts.continue_token, prefix)
        minimum = 0
        if not opts.continue_token and opts.resource_version not in ("", "0"):
            if opts.resource_version_match == "Exact":
                rev = _parse_rv(opts.resource_version)  # a read in the past, at exactly that revision
            else:
                minimum = _parse_rv(opts.resource_version)  # NotOlderThan: the latest state will do
        items: list[dict[str, Any]] = []
        token, remaining = "", None
        batch = min(limit, MAX_RANGE_BATCH) if limit else MAX_RANGE_BATCH
        filtered = not (opts.label.empty and not opts.field.requirements)
        try:
            while True:
                res = await self.storage.list(prefix, start=start, limit=batch, revision=rev)
                rev = rev or res.revision
                for i, kv in enumerate(res.kvs):
                    obj = self.decode(kv)
                    if self.matches(obj, opts):
                        items.append(obj)
                    if limit and len(items) == limit:
                        more = res.more or i < len(res.kvs) - 1
                        if more:
                            token = encode_continue(rev, kv.key + "\0")
                            if not filtered:
                                remaining = res.count - (i + 1)
                        break
                else:
                    if res.more and res.kvs:
                        start = res.kvs[-1].key + "\0"
                        batch = min(batch * 2, MAX_RANGE_BATCH)
                        continue
                break
        except Compacted as e:
            if opts.continue_token:
                raise errors.gone("The provided continue parameter is too old to display a consistent list "
                                  "result. You can start a new list without the continue parameter.") from e
            raise errors.gone(LIST_TOO_OLD) from e
        except StorageError as e:
            raise self._translate(e, "") from e
        if minimum > rev:
            raise errors.timeout(f"Too large resource version: {minimum}, current: {rev}")
        md: dict[str, Any] = {"resourceVersion": str(rev)}
        if token:
            md["continue"] = token
        if remaining is not None:
            md["remainingItemCount"] = remaining
        return {"kind": f"{self.resource.kind}List", "apiVersion": self.resource.group_version,
                "metadata": md, "items": items}

    async def _list_from_cache(self, prefix: str, opts: ListOptions) -> dict[str, Any]:
        """resourceVersion=0: any recent state will do, so it comes from the watch cache's memory. As in
        kube-apiserver, `limit` is not applied to such a list (no continue token is ever returned)."""
        assert self.watch_cache is not None
        try:
            kvs, rev = await self.watch_cache.snapshot(self.resource.key_prefix, prefix)
        except StorageError as e:
            raise self._translate(e, "") from e
        items = [obj for obj in (self.decode(kv) for kv in kvs) if self.matches(obj, opts)]
        return {"kind": f"{self.resource.kind}List", "apiVersion": self.resource.group_version,
                "metadata": {"resourceVersion": str(rev)}, "items": items}

    # ------------------------------------------------------------------ writes
    async def create(self, namespace: str, obj: Any, *, dry_run: bool = False,
                     admission: AdmissionHook | None = None) -> dict[str, Any]:
        obj = self._check_identity(obj, namespace, None)
        if self.resource.namespaced:
            if not namespace:
                raise errors.bad_request("a namespaced resource needs a namespace")
            if self.namespace_exists is not None and not await self.namespace_exists(namespace):
                raise errors.not_found("namespaces", "", namespace)
        if admission is not None:
            self.strategy.default(obj)
            mutated = await admission.mutate("CREATE", obj, None)
            obj = self._check_identity(mutated, namespace, None)
        meta.before_create(obj, now=self.clock(), rng=self.rng, namespace=namespace if self.resource.namespaced
                           else "", tracks_generation=self.strategy.tracks_generation)
        self.strategy.prepare_for_create(obj)
        self.strategy.default(obj)
        name = obj["metadata"].get("name", "")
        requested = obj
        for _ in range(MAX_UPDATE_RETRIES if self.write_hook is not None else MAX_GUARD_RETRIES):
            guards: list[Guard] = []
            if self.write_hook is not None:  # allocations start from the request again after a lost race
                obj = copy.deepcopy(requested)
                guards = await self.write_hook.on_create(obj)
            self._check(obj, name)
            if admission is not None:
                guards += await admission.validate("CREATE", obj, None)
            if dry_run:
                return obj
            try:
                if guards:
                    rev = await self.storage.create_guarded(self.key(namespace, name), self.encode(obj), guards)
                else:
                    rev = await self.storage.create(self.key(namespace, name), self.encode(obj))
            except GuardMismatch:
                continue
            except StorageError as e:
                raise self._translate(e, name) from e
            obj["metadata"]["resourceVersion"] = str(rev)
            self._observe(namespace, name, obj, rev)
            return obj
        raise errors.conflict(self.resource.plural, self.resource.group, name,
                              "too many concurrent creates changed the quota; try again")

    async def guaranteed_update(self, namespace: str, name: str,
                                transform: Callable[[dict[str, Any]], dict[str, Any]], *,
                                dry_run: bool = False, admission: AdmissionHook | None = None,
                                subresource: str = "") -> dict[str, Any]:
        """Read, transform, Txn on mod_revision; retried on a lost race (the client sees a Conflict only
        through its own resourceVersion precondition, which `transform` checks)."""
        key = self.key(namespace, name)
        gate = self._gates.get(key)
        if gate is None:
            gate = self._gates[key] = _KeyGate()
        gate.users += 1
        try:
            async with gate.lock:
                result, gate.last = await self._update_locked(key, namespace, name, transform, gate.last,
                                                              dry_run=dry_run, admission=admission,
                                                              subresource=subresource)
                return result
        finally:
            gate.users -= 1
            if not gate.users:
                del self._gates[key]

    async def _read(self, key: str, name: str) -> KV | None:
        """The key's current KV (None when absent); store errors as the API's."""
        try:
            kv, _ = await self.storage.get(key)
        except StorageError as e:
            raise self._translate(e, name) from e
        return kv

    async def _update_locked(self, key: str, namespace: str, name: str,
                             transform: Callable[[dict[str, Any]], dict[str, Any]], known: KV | None, *,
                             dry_run: bool, admission: AdmissionHook | None,
                             subresource: str) -> tuple[dict[str, Any], KV | None]:
        """guaranteed_update's loop, run with the key's gate held; returns the result and what the key now holds
        (for the next writer waiting on the gate), or None when that is not known."""
        kv, fresh = known, known is None
        if kv is None:
            kv = await self._read(key, name)
        for _ in range(MAX_UPDATE_RETRIES):
            if kv is None:
                raise self._not_found(name)
            old = self.decode(kv)
            try:
                new = transform(copy.deepcopy(old))
            except errors.APIError:
                if fresh:
                    raise
                # judged against what this server last wrote, which another writer may have replaced (as
                # kube-apiserver does with its cached state): judge again against the store's current object
                kv, fresh = await self._read(key, name), True
                continue
            new = self._check_identity(new, namespace, name)
            new["metadata"]["name"] = name
            meta.before_update(new, old, tracks_generation=self.strategy.tracks_generation)
            if admission is not None:
                self.strategy.default(new)
                new = self._check_identity(await admission.mutate("UPDATE", new, old), namespace, name)
                new["metadata"]["name"] = name
                meta.before_update(new, old, tracks_generation=self.strategy.tracks_generation)
            self.strategy.default(new)
            md = new["metadata"]
            # kube's ShouldDeleteDuringUpdate: the last finalizer went, and no graceful deletion (a pod's) is
            # still running; a status write to a terminating pod must not delete it.
            gone = bool(md.get("deletionTimestamp") and not md.get("finalizers")
                        and not old["metadata"].get("deletionGracePeriodSeconds")
                        and not self.strategy.holds_deletion(new))
            guards: list[Guard] = []
            if self.write_hook is not None and not subresource:
                guards = await (self.write_hook.on_delete(old) if gone else self.write_hook.on_update(new, old))
            self._check(new, name, old, subresource)
            if admission is not None:
                await admission.validate("UPDATE", new, old)
            if gone:
                # The last finalizer is gone: the object goes away now.
                if dry_run:
                    return new, kv
                try:
                    rev = await self.storage.delete(key, kv.mod_revision, guards)
                    self._observe(namespace, name, None, rev)
                    return new, None
                except RevisionMismatch as e:
                    kv, fresh = e.current, True
                    continue
                except GuardMismatch:
                    continue
                except StorageError as e:
                    raise self._translate(e, name) from e
            data = self.encode(new)
            if data == kv.value or dry_run:
                md["resourceVersion"] = str(kv.mod_revision)
                return new, kv
            try:
                rev = await self.storage.update(key, data, kv.mod_revision, guards)
            except RevisionMismatch as e:
                kv, fresh = e.current, True
                continue
            except GuardMismatch:
                continue
            except StorageError as e:
                raise self._translate(e, name) from e
            md["resourceVersion"] = str(rev)
            self._observe(namespace, name, new, rev)
            return new, KV(key, data, rev, kv.create_revision)
        raise errors.conflict(self.resource.plural, self.resource.group, name, "too many concurrent updates")

    async def update(self, namespace: str, name: str, obj: Any, *, subresource: str = "",
                     dry_run: bool = False, admission: AdmissionHook | None = None,
                     track: Callable[[dict[str, Any], dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """PUT: an unconditional update unless the body carries metadata.resourceVersion. `track(old, new)` records
        field ownership (managedFields) once the new object is known."""
        obj = self._check_identity(obj, namespace, name)
        want_rv = obj["metadata"].get("resourceVersion") or ""

        def transform(old: dict[str, Any]) -> dict[str, Any]:
            if want_rv and want_rv != old["metadata"]["resourceVersion"]:
                raise errors.conflict(self.resource.plural, self.resource.group, name)
            new = copy.deepcopy(obj)
            if subresource == "status":
                self.strategy.prepare_for_status_update(new, old)
            elif subresource == "finalize":
                self.strategy.prepare_for_finalize(new, old)
            else:
                self.strategy.prepare_for_update(new, old)
            if track is not None:
                track(old, new)
            return new
        return await self.guaranteed_update(namespace, name, transform, dry_run=dry_run, admission=admission,
                                            subresource=subresource)

    async def delete(self, namespace: str, name: str, opts: DeleteOptions,
                     admission: AdmissionHook | None = None) -> dict[str, Any]:
        key = self.key(namespace, name)
        for _ in range(MAX_UPDATE_RETRIES):
            kv = await self._read(key, name)
            if kv is None:
                raise self._not_found(name)
            obj = self.decode(kv)
            md = obj["metadata"]
            refusal = self.strategy.check_delete(obj)
            if refusal:
                qualified = self.resource.plural + (f".{self.resource.group}" if self.resource.group else "")
                raise errors.forbidden(f'{qualified} "{name}" is forbidden: {refusal}')
            if opts.precondition_uid and opts.precondition_uid != md.get("uid"):
                raise errors.conflict(self.resource.plural, self.resource.group, name,
                                      f"Precondition failed: UID in precondition: {opts.precondition_uid}, "
                                      f"UID in object meta: {md.get('uid')}")
            if opts.precondition_rv and opts.precondition_rv != md.get("resourceVersion"):
                raise errors.conflict(self.resource.plural, self.resource.group, name)
            if admission is not None:
                await admission.mutate("DELETE", None, copy.deepcopy(obj))
                await admission.validate("DELETE", None, copy.deepcopy(obj))
            finalizers = list(md.get("finalizers") or [])
            if opts.propagation_policy == "Foreground" and "foregroundDeletion" not in finalizers:
                finalizers.append("foregroundDeletion")
            elif opts.propagation_policy == "Orphan" and "orphan" not in finalizers:
                finalizers.append("orphan")
            grace = self._grace(obj, opts)
            if finalizers or grace or self.strategy.holds_deletion(obj):
                if md.get("deletionTimestamp") and finalizers == list(md.get("finalizers") or []):
                    return obj  # deletion already in progress; nothing new to record
                self.strategy.prepare_for_delete(obj)
                md["finalizers"] = finalizers
                md.setdefault("deletionTimestamp", meta.rfc3339(self.clock() + grace))
                md["deletionGracePeriodSeconds"] = grace
                if md.get("generation") is not None:
                    md["generation"] += 1
                if opts.dry_run:
                    return obj
                try:
                    rev = await self.storage.update(key, self.encode(obj), kv.mod_revision)
                except RevisionMismatch:
                    continue
                except StorageError as e:
                    raise self._translate(e, name) from e
                md["resourceVersion"] = str(rev)
                self._observe(namespace, name, obj, rev)
                return obj
            if opts.dry_run:
                return obj
            guards = await self.write_hook.on_delete(obj) if self.write_hook is not None else []
            try:
                rev = await self.storage.delete(key, kv.mod_revision, guards)
            except (RevisionMismatch, GuardMismatch):
                continue
            except StorageError as e:
                raise self._translate(e, name) from e
            self._observe(namespace, name, None, rev)
            return obj
        raise errors.conflict(self.resource.plural, self.resource.group, name, "too many concurrent updates")

    def _grace(self, obj: dict[str, Any], opts: DeleteOptions) -> int:
        """Pods bound to a node are deleted gracefully (the kubelet finishes the job); all else at once."""
        if self.resource.plural != "pods" or not (obj.get("spec") or {}).get("nodeName"):
            return 0
        if opts.grace_period_seconds is not None:
            return max(opts.grace_period_seconds, 0)
        return int((obj.get("spec") or {}).get("terminationGracePeriodSeconds", DEFAULT_POD_GRACE_SECONDS))

    # ------------------------------------------------------------------ watch
    def _decode_prev_shared(self, ev: WatchEvent) -> dict[str, Any]:
        """An event's previous object stamped with the event's revision (a DELETED event carries the last state at
        the deletion's revision), decoded once for all watchers, who only read it."""
        assert ev.prev is not None
        k = (ev.prev.key, -ev.revision)  # negative: never the key of a current state in the same cache
        obj = self._decoded.get(k)
        if obj is None:
            obj = self.decode(ev.prev)
            obj["metadata"]["resourceVersion"] = str(ev.revision)
            _remember(self._decoded, k, obj)
        return obj

    def _matches_shared(self, obj: dict[str, Any], opts: ListOptions) -> bool:
        """`matches` for a shared decoded object: its selectable fields are computed once, not once per watcher."""
        if not opts.label.empty and not opts.label.matches(obj.get("metadata", {}).get("labels")):
            return False
        if not opts.field.requirements:
            return True
        k = id(obj)
        hit = self._fields.get(k)
        if hit is None or hit[0] is not obj:
            hit = _remember(self._fields, k, (obj, self.strategy.fields(obj)))
        return opts.field.matches(hit[1])

    async def watch_batches(self, namespace: str, opts: ListOptions, *,
                            bookmarks: bool = False) -> AsyncIterator[WatchBatch]:
        """Lists of (type, object) pairs: ADDED/MODIFIED/DELETED, plus BOOKMARK objects on store progress; each
        list holds what arrived since the previous one, so the caller can send it in one write.

        An object that starts matching the selectors arrives as ADDED, one that stops as DELETED.
        RV unset or "0": synthetic ADDED for the current state first. Objects are shared with other watchers:
        read them, never change them."""
        prefix = self.prefix(namespace)
        start = _parse_rv(opts.resource_version)
        if opts.resource_version in ("", "0"):
            # "0": the initial state may come from the watch cache; unset: a consistent read of the store.
            initial = await self.list(namespace, ListOptions(opts.label, opts.field,
                                                             resource_version=opts.resource_version))
            if initial["items"]:
                yield [("ADDED", item) for item in initial["items"]]
            start = int(initial["metadata"]["resourceVersion"])
        name = opts.field.exact_name()
        # One object's watchers (kubectl wait, rollout status, delete --wait) only hear about its key.
        key = self.key(namespace, name) if name and (namespace or not self.resource.namespaced) else None
        try:
            interval = self.bookmark_interval if bookmarks else None
            source = (self.watch_cache.watch_batches(self.resource.key_prefix, prefix, start + 1,
                                                     bookmarks=bookmarks, key=key)
                      if self.watch_cache is not None else
                      _single(self.storage.watch(prefix, start + 1, progress_interval=interval)))
            async for evs in source:
                out: WatchBatch = []
                for ev in evs:
                    if ev.type == "PROGRESS":
                        out.append(("BOOKMARK", {"kind": self.resource.kind, "apiVersion": self.resource.group_version,
                                                 "metadata": {"resourceVersion": str(ev.revision)}}))
                        continue
                    assert ev.kv is not None
                    cur = None if ev.type == "DELETE" else self._decode_shared(ev.kv)
                    prev = self._decode_prev_shared(ev) if ev.prev is not None else None
                    now_match = cur is not None and self._matches_shared(cur, opts)
                    was_match = prev is not None and self._matches_shared(prev, opts)
                    if cur is not None and now_match:
                        out.append((("ADDED" if not was_match else "MODIFIED"), cur))
                    elif was_match and prev is not None:
                        out.append(("DELETED", cur if cur is not None else prev))
                if out:
                    yield out
        except Compacted as e:
            raise errors.gone(f"too old resource version: {start} ({e.compact_revision})") from e
        except StorageError as e:
            raise self._translate(e, "") from e


async def _single(events: AsyncIterator[WatchEvent]) -> AsyncIterator[list[WatchEvent]]:
    async for ev in events:
        yield [ev]


class Registry:
    """All resource stores over one etcd3 store; namespace existence is checked through the namespace store."""

    def __init__(self, storage: Etcd3Store, resources: tuple[Resource, ...], *, clock: Callable[[], float],
                 rng: meta.RNG, bookmark_interval: float = DEFAULT_BOOKMARK_INTERVAL_S,
                 watch_cache: bool = True) -> None:
        self.storage = storage
        self.watch_cache = WatchCache(storage, progress_interval=bookmark_interval) if watch_cache else None
        self.stores: dict[tuple[str, str], GenericStore] = {}
        for r in resources:
            if r.virtual:
                continue
            self.stores[(r.group, r.plural)] = GenericStore(r, storage, clock=clock, rng=rng,
                                                            namespace_exists=self._namespace_exists,
                                                            bookmark_interval=bookmark_interval)
            self.stores[(r.group, r.plural)].watch_cache = self.watch_cache

    async def _namespace_exists(self, namespace: str) -> bool:
        kv, _ = await self.storage.get(f"/registry/namespaces/{namespace}")
        return kv is not None

    def store(self, group: str, plural: str) -> GenericStore | None:
        return self.stores.get((group, plural))

    def set_observer(self, observer: Observer) -> None:
        for store in self.stores.values():
            store.observer = observer
