"""The watch cache's adapter: one store watch per resource prefix, fanned out to every watcher of that resource.

Without it every `?watch=true` opens its own etcd watch (kube-apiserver's watch cache exists to avoid exactly that).
The first watcher (or `resourceVersion=0` list) of a resource lists it and starts the shared store watch right
after that revision; the same events keep both the window and the current objects (served to `resourceVersion=0`
lists, as kube-apiserver serves them from its cache). Later watchers whose start revision lies in the window (`watchwindow.py`) get the held events replayed and then the live ones. A watcher that
asks for older history than the window holds is served by a watch of its own on the store, which also reports
compaction (410 Expired) exactly as before. A watcher that falls more than `max_pending` events behind is ended
(as kube-apiserver ends slow watchers; clients re-watch from their last resourceVersion). If the shared watch fails,
every watcher served by it ends and the next watcher starts a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from apiserver.storage.errors import KV, StorageError
from apiserver.storage.etcd3 import Etcd3Store, WatchEvent
from apiserver.storage.watchwindow import WatchWindow

log = logging.getLogger(__name__)
DEFAULT_CAPACITY = 4096
DEFAULT_MAX_PENDING = 10_000
LIST_PAGE = 1000
_END = WatchEvent("END", None, None, 0)  # queued to a watcher when the shared watch stops


@dataclass(eq=False)
class _Watcher:
    prefix: str
    start: int
    bookmarks: bool
    queue: asyncio.Queue[WatchEvent] = field(default_factory=asyncio.Queue)
    overflowed: bool = False


class _Shared:
    """One resource prefix: the store watch, its window and its watchers."""

    def __init__(self, storage: Etcd3Store, prefix: str, capacity: int, progress_interval: float | None,
                 max_pending: int) -> None:
        self.storage = storage
        self.prefix = prefix
        self.capacity = capacity
        self.progress_interval = progress_interval
        self.max_pending = max_pending
        self.window: WatchWindow[WatchEvent] | None = None
        self.objects: dict[str, KV] = {}  # the current state, kept by the same events (for resourceVersion=0 lists)
        self.watchers: set[_Watcher] = set()
        self.task: asyncio.Task[None] | None = None
        self.lock = asyncio.Lock()

    async def ensure_running(self) -> WatchWindow[WatchEvent]:
        async with self.lock:
            if self.task is None or self.task.done():
                objects, revision = await self._list_all()
                self.objects = objects
                self.window = WatchWindow(self.capacity, revision + 1)
                self.task = asyncio.create_task(self._run(self.window))
        assert self.window is not None
        return self.window

    async def _list_all(self) -> tuple[dict[str, KV], int]:
        objects: dict[str, KV] = {}
        start, revision = "", 0
        while True:
            res = await self.storage.list(self.prefix, start=start, limit=LIST_PAGE, revision=revision)
            revision = revision or res.revision
            objects.update((kv.key, kv) for kv in res.kvs)
            if not (res.more and res.kvs):
                return objects, revision
            start = res.kvs[-1].key + "\0"

    def _deliver(self, w: _Watcher, ev: WatchEvent) -> None:
        if w.overflowed:
            return
        if w.queue.qsize() >= self.max_pending:
            w.overflowed = True
            w.queue.put_nowait(_END)
            return
        w.queue.put_nowait(ev)

    async def _run(self, window: WatchWindow[WatchEvent]) -> None:
        try:
            async for ev in self.storage.watch(self.prefix, window.complete_from,
                                               progress_interval=self.progress_interval):
                if ev.type == "PROGRESS":
                    window.progress(ev.revision)
                    for w in list(self.watchers):
                        if w.bookmarks and ev.revision >= w.start - 1:
                            self._deliver(w, ev)
                    continue
                window.append([ev])
                assert ev.kv is not None
                if ev.type == "DELETE":
                    self.objects.pop(ev.kv.key, None)
                else:
                    self.objects[ev.kv.key] = ev.kv
                for w in list(self.watchers):
                    if ev.revision >= w.start and ev.kv.key.startswith(w.prefix):
                        self._deliver(w, ev)
        except StorageError as e:
            log.warning("watch cache for %s stopped: %s", self.prefix, e)
        finally:
            for w in list(self.watchers):
                w.queue.put_nowait(_END)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


class WatchCache:
    def __init__(self, storage: Etcd3Store, *, capacity: int = DEFAULT_CAPACITY,
                 progress_interval: float | None = None, max_pending: int = DEFAULT_MAX_PENDING) -> None:
        self.storage = storage
        self.capacity = capacity
        self.progress_interval = progress_interval
        self.max_pending = max_pending
        self.shared: dict[str, _Shared] = {}
        self.direct_watches = 0  # watchers the window could not serve (for tests and benchmarks)

    def _shared(self, resource_prefix: str) -> _Shared:
        shared = self.shared.get(resource_prefix)
        if shared is None:
            shared = self.shared[resource_prefix] = _Shared(self.storage, resource_prefix, self.capacity,
                                                            self.progress_interval, self.max_pending)
        return shared

    async def watch(self, resource_prefix: str, prefix: str, start_revision: int, *,
                    bookmarks: bool = False) -> AsyncIterator[WatchEvent]:
        """Like `Etcd3Store.watch(prefix, start_revision)`, served from the shared watch of `resource_prefix`
        (which must contain `prefix`) when its window reaches back to `start_revision`."""
        shared = self._shared(resource_prefix)
        window = await shared.ensure_running()
        if not window.can_serve(start_revision):
            self.direct_watches += 1
            async for ev in self.storage.watch(prefix, start_revision,
                                               progress_interval=self.progress_interval if bookmarks else None):
                if ev.type != "PROGRESS" or bookmarks:
                    yield ev
            return
        w = _Watcher(prefix, start_revision, bookmarks)
        # Replay and registration happen with no await in between, so no live event is missed or doubled.
        for ev in window.replay(start_revision):
            assert ev.kv is not None
            if ev.kv.key.startswith(prefix):
                w.queue.put_nowait(ev)
        shared.watchers.add(w)
        try:
            while True:
                ev = await w.queue.get()
                if ev is _END:
                    return  # slow, or the shared watch stopped: the client re-watches from its last resourceVersion
                yield ev
        finally:
            shared.watchers.discard(w)

    async def snapshot(self, resource_prefix: str, prefix: str) -> tuple[list[KV], int]:
        """The cached current objects under `prefix`, sorted by key, and the revision they are current at
        (a list with resourceVersion=0: "any recent state", served from memory as kube-apiserver does)."""
        window = await self._shared(resource_prefix).ensure_running()
        shared = self.shared[resource_prefix]
        kvs = sorted((kv for key, kv in shared.objects.items() if key.startswith(prefix)), key=lambda kv: kv.key)
        return kvs, window.revision

    async def stop(self) -> None:
        for shared in self.shared.values():
            await shared.stop()
