"""Shared informers: a reflector (list, then watch from the list's resourceVersion) feeding an indexed store and
event handlers, one per resource per process — client-go's tools/cache, reduced to what controllers use.

The reflector resumes a broken watch from the last resourceVersion it saw (events or bookmarks); when the server
answers 410 Expired it lists again and reconciles the store with the fresh list, reporting adds, updates and
deletes for whatever changed while it was away, so handlers neither miss nor repeat an object state. Failures back
off exponentially (800 ms doubling to 30 s, as client-go's reflector backoff manager).
"""

from __future__ import annotations

import asyncio
import logging
import random
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import aiohttp

from controllers.machinery.client import APIError, RESTClient
from controllers.machinery.resources import Resource
from raftkv.eventloop import cancel_and_wait

log = logging.getLogger(__name__)

Object = dict[str, Any]
Objects = list[Object]  # named outside Store, whose `list` method shadows the builtin
Keys = list[str]
IndexFunc = Callable[[Object], Iterable[str]]

INITIAL_BACKOFF_S = 0.8
MAX_BACKOFF_S = 30.0
MIN_WATCH_TIMEOUT_S = 300  # client-go: a random timeout in [5 min, 10 min) so watches do not all end together
LIST_PAGE_SIZE = 500
SHORT_WATCH_S = 1.0


def meta_namespace_key(obj: Object) -> str:
    """client-go's MetaNamespaceKeyFunc: "namespace/name", or "name" for cluster-scoped objects."""
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{ns}/{meta.get('name', '')}" if ns else str(meta.get("name", ""))


def split_key(key: str) -> tuple[str | None, str]:
    """The inverse of `meta_namespace_key`: (namespace or None, name)."""
    ns, sep, name = key.partition("/")
    return (ns, name) if sep else (None, ns)


def _by_namespace(obj: Object) -> Iterable[str]:
    ns = (obj.get("metadata") or {}).get("namespace")
    return [ns] if ns else []


def _by_owner_uid(obj: Object) -> Iterable[str]:
    return [ref["uid"] for ref in (obj.get("metadata") or {}).get("ownerReferences") or [] if ref.get("uid")]


def _by_node_name(obj: Object) -> Iterable[str]:
    node = (obj.get("spec") or {}).get("nodeName")
    return [node] if node else []


INTERN_MAX_LEN = 64


def _compact(value: Any) -> Any:
    """The same JSON with every key and short string interned: 10,000 cached pods share one copy of "metadata",
    "IfNotPresent", image names, label values... (15 KB -> 5 KB a pod, measured)."""
    if isinstance(value, dict):
        return {sys.intern(k): _compact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_compact(v) for v in value]
    if isinstance(value, str) and len(value) <= INTERN_MAX_LEN:
        return sys.intern(value)
    return value


def trim_object(obj: Object) -> Object:
    """What the cache keeps: the object without metadata.managedFields (kube-controller-manager's informers trim
    them too; no controller reads them), with strings interned. Cached objects are shared: never mutate them."""
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        obj = {**obj, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}
    return _compact(obj)  # type: ignore[no-any-return]


DEFAULT_INDEXERS: dict[str, IndexFunc] = {"namespace": _by_namespace, "owner_uid": _by_owner_uid,
                                          "node_name": _by_node_name}


class Store:
    """Objects by key plus secondary indexes (client-go's ThreadSafeStore with Indexers)."""

    def __init__(self, indexers: dict[str, IndexFunc] | None = None) -> None:
        self.indexers = dict(DEFAULT_INDEXERS if indexers is None else indexers)
        self._items: dict[str, Object] = {}
        self._indexes: dict[str, dict[str, set[str]]] = {name: {} for name in self.indexers}

    def get(self, key: str) -> Object | None:
        return self._items.get(key)

    def get_by(self, namespace: str | None, name: str) -> Object | None:
        return self._items.get(f"{namespace}/{name}" if namespace else name)

    def list(self) -> Objects:
        return list(self._items.values())

    def keys(self) -> Keys:
        return list(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def by_index(self, index: str, value: str) -> Objects:
        keys = self._indexes[index].get(value, ())
        return [self._items[k] for k in keys]

    def add_indexer(self, name: str, fn: IndexFunc) -> None:
        """Add an index (before or after objects arrived); existing objects are indexed at once."""
        self.indexers[name] = fn
        self._indexes[name] = {}
        for key, obj in self._items.items():
            for value in fn(obj):
                self._indexes[name].setdefault(value, set()).add(key)

    def upsert(self, key: str, obj: Object) -> Object | None:
        old = self._items.get(key)
        if old is not None:
            self._unindex(key, old)
        self._items[key] = obj
        for name, fn in self.indexers.items():
            for value in fn(obj):
                self._indexes[name].setdefault(value, set()).add(key)
        return old

    def remove(self, key: str) -> Object | None:
        old = self._items.pop(key, None)
        if old is not None:
            self._unindex(key, old)
        return old

    def _unindex(self, key: str, obj: Object) -> None:
        for name, fn in self.indexers.items():
            index = self._indexes[name]
            for value in fn(obj):
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]


@dataclass
class Handlers:
    on_add: Callable[[Object], None] | None = None
    on_update: Callable[[Object, Object], None] | None = None
    on_delete: Callable[[Object], None] | None = None
    resync_period: float | None = None


def _rv(obj: Object) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


class Informer:
    """One resource's cache and handlers, fed by a reflector task (`start`)."""

    def __init__(self, client: RESTClient, resource: Resource, *, namespace: str | None = None,
                 label_selector: str | None = None, field_selector: str | None = None,
                 rng: random.Random | None = None,
                 transform: Callable[[Object], Object] | None = trim_object) -> None:
        self.client = client
        self.transform = transform
        self.resource = resource
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.store = Store()
        self.handlers: list[Handlers] = []
        self.last_sync_resource_version = ""
        self.lists = 0  # how many times the reflector listed (1 + relists), for tests and metrics
        self.watches = 0
        self._synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._resyncs: list[asyncio.Task[None]] = []
        self._rng = rng or random.Random()

    # ---------------------------------------------------------------- consumers
    def add_handlers(self, on_add: Callable[[Object], None] | None = None,
                     on_update: Callable[[Object, Object], None] | None = None,
                     on_delete: Callable[[Object], None] | None = None,
                     resync_period: float | None = None) -> None:
        """Register handlers; objects already in the cache are replayed to `on_add` (as client-go does). With
        `resync_period`, every cached object is handed to `on_update(obj, obj)` that often (client-go's
        AddEventHandlerWithResyncPeriod: level-triggered controllers such as ResourceQuota re-check everything)."""
        h = Handlers(on_add, on_update, on_delete, resync_period)
        self.handlers.append(h)
        if h.on_add is not None:
            for obj in self.store.list():
                self._call(h.on_add, obj)
        if self._task is not None:
            self._start_resync(h)

    def _start_resync(self, h: Handlers) -> None:
        if h.resync_period and h.resync_period > 0 and h.on_update is not None:
            self._resyncs.append(asyncio.get_running_loop().create_task(self._resync(h), name="resync"))

    async def _resync(self, h: Handlers) -> None:
        assert h.resync_period is not None and h.on_update is not None
        while True:
            await asyncio.sleep(h.resync_period)
            if self.has_synced():
                for obj in self.store.list():
                    self._call(h.on_update, obj, obj)

    def has_synced(self) -> bool:
        return self._synced.is_set()

    async def wait_for_sync(self, timeout: float | None = None) -> bool:
        try:
            await asyncio.wait_for(self._synced.wait(), timeout)
            return True
        except TimeoutError:
            return False

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run(), name=f"reflector-{self.resource.plural}")
            for h in self.handlers:
                self._start_resync(h)

    async def stop(self) -> None:
        for t in self._resyncs:
            t.cancel()
        await asyncio.gather(*self._resyncs, return_exceptions=True)
        self._resyncs.clear()
        await cancel_and_wait(self._task)
        self._task = None

    # ---------------------------------------------------------------- reflector
    async def run(self) -> None:
        backoff = INITIAL_BACKOFF_S
        need_list = not self.last_sync_resource_version  # a restarted reflector resumes where it stopped
        while True:
            try:
                if need_list:
                    await self._list_and_replace()
                    need_list = False
                started = time.monotonic()
                events = await self._watch()
                if events == 0 and time.monotonic() - started < SHORT_WATCH_S:
                    # ended at once with nothing in it (client-go's "very short watch"): not a hot loop
                    log.info("%s: very short watch; backing off %.1fs", self.resource.plural, backoff)
                    await asyncio.sleep(backoff * (1 + self._rng.random()))
                    backoff = min(backoff * 2, MAX_BACKOFF_S)
                else:
                    backoff = INITIAL_BACKOFF_S  # a watch that ended normally: resume at once
            except asyncio.CancelledError:
                raise
            except APIError as e:
                if e.expired:
                    log.info("%s: watch of %s expired (%s); relisting", self.resource.plural,
                             self.last_sync_resource_version, e.message)
                    need_list = True
                    continue
                log.warning("%s: reflector failed: %s; retrying in %.1fs", self.resource.plural, e, backoff)
                await asyncio.sleep(backoff * (1 + self._rng.random()))
                backoff = min(backoff * 2, MAX_BACKOFF_S)
            except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as e:
                log.warning("%s: watch broken: %r; retrying in %.1fs", self.resource.plural, e, backoff)
                await asyncio.sleep(backoff * (1 + self._rng.random()))
                backoff = min(backoff * 2, MAX_BACKOFF_S)

    async def _list_and_replace(self) -> None:
        # The first list may come from the watch cache (resourceVersion=0, as client-go's reflector); a relist
        # after 410 must be a consistent read, so it leaves resourceVersion unset.
        rv = "0" if self.lists == 0 else None
        items, list_rv = await self.client.list_all(self.resource, self.namespace, page_size=LIST_PAGE_SIZE,
                                                    resource_version=rv, label_selector=self.label_selector,
                                                    field_selector=self.field_selector)
        self.lists += 1
        self.replace(items, list_rv)

    def replace(self, items: list[Object], resource_version: str) -> None:
        """Make the store equal to a fresh list; report the differences to the handlers."""
        if self.transform is not None:
            items = [self.transform(o) for o in items]
        fresh = {meta_namespace_key(o): o for o in items}
        for key in [k for k in self.store.keys() if k not in fresh]:
            old = self.store.remove(key)
            if old is not None:
                self._dispatch_delete(old)
        for key, obj in fresh.items():
            old = self.store.upsert(key, obj)
            if old is None:
                self._dispatch_add(obj)
            elif _rv(old) != _rv(obj):
                self._dispatch_update(old, obj)
        self.last_sync_resource_version = resource_version
        self._synced.set()

    async def _watch(self) -> int:
        """One watch request; returns how many events (bookmarks included) it carried."""
        self.watches += 1
        n = 0
        timeout = MIN_WATCH_TIMEOUT_S + int(self._rng.random() * MIN_WATCH_TIMEOUT_S)
        async for etype, obj in self.client.watch(self.resource, self.namespace,
                                                  resource_version=self.last_sync_resource_version,
                                                  allow_watch_bookmarks=True, timeout_seconds=timeout,
                                                  label_selector=self.label_selector,
                                                  field_selector=self.field_selector):
            n += 1
            self.handle_event(etype, obj)
        return n

    def handle_event(self, etype: str, obj: Object) -> None:
        """Apply one watch event to the store and the handlers (public for tests of the dispatch rules)."""
        if etype == "ERROR":
            raise APIError.from_status(obj)
        rv = _rv(obj)
        if etype == "BOOKMARK":
            if rv:
                self.last_sync_resource_version = rv
            return
        if self.transform is not None:
            obj = self.transform(obj)
        key = meta_namespace_key(obj)
        if etype in ("ADDED", "MODIFIED"):
            old = self.store.upsert(key, obj)
            if old is None:
                self._dispatch_add(obj)
            else:
                self._dispatch_update(old, obj)
        elif etype == "DELETED":
            self.store.remove(key)
            self._dispatch_delete(obj)  # the final state, as the watch event carries it
        if rv:
            self.last_sync_resource_version = rv

    # ---------------------------------------------------------------- dispatch
    def _call(self, fn: Callable[..., None], *args: Object) -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("%s: event handler %r failed", self.resource.plural, fn)

    def _dispatch_add(self, obj: Object) -> None:
        for h in self.handlers:
            if h.on_add is not None:
                self._call(h.on_add, obj)

    def _dispatch_update(self, old: Object, new: Object) -> None:
        for h in self.handlers:
            if h.on_update is not None:
                self._call(h.on_update, old, new)

    def _dispatch_delete(self, obj: Object) -> None:
        for h in self.handlers:
            if h.on_delete is not None:
                self._call(h.on_delete, obj)


class SharedInformerFactory:
    """One informer per resource per process; `start()` starts those not yet running (call it again after
    building more controllers), `wait_for_sync()` waits for all of them."""

    def __init__(self, client: RESTClient) -> None:
        self.client = client
        self._informers: dict[Resource, Informer] = {}

    def informer(self, resource: Resource) -> Informer:
        inf = self._informers.get(resource)
        if inf is None:
            inf = self._informers[resource] = Informer(self.client, resource)
        return inf

    def informers(self) -> list[Informer]:
        return list(self._informers.values())

    def start(self) -> None:
        for inf in self._informers.values():
            inf.start()

    async def wait_for_sync(self, timeout: float | None = None, resources: Iterable[Resource] | None = None) -> bool:
        chosen = [self.informer(r) for r in resources] if resources is not None else self.informers()
        results = await asyncio.gather(*(inf.wait_for_sync(timeout) for inf in chosen))
        return all(results)

    async def stop(self) -> None:
        for inf in self._informers.values():
            await inf.stop()
