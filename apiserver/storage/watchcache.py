"""The watch cache's adapter: one store watch per resource prefix, fanned out to every watcher of that resource.

Without it every `?watch=true` opens its own etcd watch (kube-apiserver's watch cache exists to avoid exactly that).
The first watcher (or `resourceVersion=0` list) of a resource lists it and starts the shared store watch right
after that revision; the same events keep both the window and the current objects (served to `resourceVersion=0`
lists, as kube-apiserver serves them from its cache). Later watchers whose start revision lies in the window (`watchwindow.py`) get the held events replayed and then the live ones. A watcher that
asks for older history than the window holds is served by a watch of its own on the store, which also reports
compaction (410 Expired) exactly as before. A watcher that falls more than `max_pending` events behind is ended
(as kube-apiserver ends slow watchers; clients re-watch from their last resourceVersion). If the shared watch fails,
every watcher served by it ends and the next watcher starts a new one.

Fan-out cost per watcher is kept to a dictionary lookup and a deque append per event (`watchwindow.WatcherIndex`,
`WatcherBuffer`): a watcher is woken once however many events arrived meanwhile and takes them as one batch, so a
busy server sends fewer, larger writes instead of falling further behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from apiserver.storage.errors import KV, StorageError
from apiserver.storage.etcd3 import Etcd3Store, WatchEvent
from apiserver.storage.watchwindow import WatcherBuffer, WatcherIndex, WatchWindow

log = logging.getLogger(__name__)
DEFAULT_CAPACITY = 4096
DEFAULT_MAX_PENDING = 10_000
LIST_PAGE = 1000


class _Watcher:
    """One watcher served by a shared watch: its first revision, its pending events and how to wake it."""

    __slots__ = ("start", "bookmarks", "buffer", "waiter")

    def __init__(self, start: int, bookmarks: bool, max_pending: int) -> None:
        self.start = start
        self.bookmarks = bookmarks
        self.buffer: WatcherBuffer[WatchEvent] = WatcherBuffer(max_pending)
        self.waiter: asyncio.Future[None] | None = None  # set while the watcher waits for events

    def wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


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
        self.watchers: WatcherIndex[_Watcher] = WatcherIndex(prefix)
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
        if w.buffer.push(ev):
            w.wake()
        elif w.buffer.overflowed:
            self.watchers.remove(w)  # too slow: it gets what it holds, then its stream ends
            log.info("watch cache for %s: ending a watcher more than %d events behind", self.prefix,
                     self.max_pending)
            w.wake()

    async def _run(self, window: WatchWindow[WatchEvent]) -> None:
        try:
            async for ev in self.storage.watch(self.prefix, window.complete_from,
                                               progress_interval=self.progress_interval):
                if ev.type == "PROGRESS":
                    window.progress(ev.revision)
                    for w in self.watchers.all():
                        if w.bookmarks and ev.revision >= w.start - 1:
                            self._deliver(w, ev)
                    continue
                window.append([ev])
                kv = ev.kv
                assert kv is not None
                if ev.type == "DELETE":
                    self.objects.pop(kv.key, None)
                else:
                    self.objects[kv.key] = kv
                for w in self.watchers.for_key(kv.key):
                    if ev.revision >= w.start:
                        self._deliver(w, ev)
        except StorageError as e:
            log.warning("watch cache for %s stopped: %s", self.prefix, e)
        finally:
            for w in self.watchers.all():
                self.watchers.remove(w)
                w.buffer.end()
                w.wake()

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
                    bookmarks: bool = False, key: str | None = None) -> AsyncIterator[WatchEvent]:
        """Like `Etcd3Store.watch(prefix, start_revision)`, one event at a time (see `watch_batches`)."""
        batches = self.watch_batches(resource_prefix, prefix, start_revision, bookmarks=bookmarks, key=key)
        try:
            async for batch in batches:
                for ev in batch:
                    yield ev
        finally:
            await batches.aclose()  # type: ignore[attr-defined]

    async def watch_batches(self, resource_prefix: str, prefix: str, start_revision: int, *,
                            bookmarks: bool = False, key: str | None = None) -> AsyncIterator[list[WatchEvent]]:
        """Like `Etcd3Store.watch(prefix, start_revision)`, served from the shared watch of `resource_prefix`
        (which must contain `prefix`) when its window reaches back to `start_revision`: every event that has
        arrived since the previous batch, oldest first, as one list. With `key` (under `prefix`), only that key's
        events are wanted: other keys' events never reach this watcher. The stream ends (the client re-watches)
        when the watcher falls `max_pending` events behind or the shared watch stops."""
        shared = self._shared(resource_prefix)
        window = await shared.ensure_running()
        if not window.can_serve(start_revision):
            self.direct_watches += 1
            async for ev in self.storage.watch(key if key is not None else prefix, start_revision,
                                               progress_interval=self.progress_interval if bookmarks else None):
                if ev.type == "PROGRESS" and not bookmarks:
                    continue
                if key is not None and ev.kv is not None and ev.kv.key != key:
                    continue  # a watch on `key` as a prefix also sees longer keys
                yield [ev]
            return
        w = _Watcher(start_revision, bookmarks, self.max_pending)
        # Replay and registration happen with no await in between, so no live event is missed or doubled.
        for ev in window.replay(start_revision):
            assert ev.kv is not None
            if (ev.kv.key == key) if key is not None else ev.kv.key.startswith(prefix):
                w.buffer.push(ev)
        shared.watchers.add(w, prefix, key)
        loop = asyncio.get_running_loop()
        try:
            while True:
                if w.buffer.events:
                    yield w.buffer.take()
                    continue
                if w.buffer.ended:
                    return  # slow, or the shared watch stopped: the client re-watches from its last resourceVersion
                w.waiter = loop.create_future()
                try:
                    await w.waiter
                finally:
                    w.waiter = None
        finally:
            shared.watchers.remove(w)

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
