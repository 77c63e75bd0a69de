"""The watch cache: the pure window, and the adapter over a scripted store (one store watch for many watchers)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from apiserver.storage.errors import KV
from apiserver.storage.etcd3 import ListResult, WatchEvent
from apiserver.storage.watchcache import WatchCache
from apiserver.storage.watchwindow import WatchWindow

pytestmark = pytest.mark.unit


def put(key: str, rev: int) -> WatchEvent:
    return WatchEvent("PUT", KV(key, b"{}", rev, rev), None, rev)


def test_window_keeps_the_newest_events_and_knows_where_it_is_complete():
    w: WatchWindow[WatchEvent] = WatchWindow(3, complete_from=10)
    assert w.can_serve(10) and not w.can_serve(9)
    w.append([put("/a", 10), put("/b", 11), put("/c", 11), put("/d", 12)])
    assert [e.revision for e in w.replay(11)] == [11, 11, 12]
    assert not w.can_serve(10) and w.can_serve(11), "revision 10 left the window"
    w.append([put("/e", 13)])
    assert not w.can_serve(11) and w.can_serve(12), "one of revision 11's two events left: 11 is incomplete"
    w.progress(20)
    assert w.revision == 20
    with pytest.raises(ValueError):
        WatchWindow(0, 1)


class ScriptedStore:
    """Stands in for Etcd3Store: a revision, and watches fed from one list of events pushed by the test."""

    def __init__(self) -> None:
        self.rev = 100
        self.objects: dict[str, KV] = {}
        self.log: list[WatchEvent] = []
        self.watch_calls: list[tuple[str, int]] = []
        self.feeds: list[asyncio.Queue[WatchEvent]] = []

    async def revision(self) -> int:
        return self.rev

    async def list(self, prefix: str, *, start: str = "", limit: int = 0, revision: int = 0) -> ListResult:
        kvs = [kv for key, kv in sorted(self.objects.items()) if key.startswith(prefix) and key >= (start or prefix)]
        return ListResult(kvs[:limit] if limit else kvs, self.rev, bool(limit and len(kvs) > limit), len(kvs))

    async def watch(self, prefix: str, start: int, *, progress_interval: Any = None) -> AsyncIterator[WatchEvent]:
        self.watch_calls.append((prefix, start))
        q: asyncio.Queue[WatchEvent] = asyncio.Queue()
        for ev in self.log:  # like etcd, a watch starts with the history from its start revision
            if ev.revision >= start:
                q.put_nowait(ev)
        self.feeds.append(q)
        while True:
            ev = await q.get()
            if ev.kv is None or ev.kv.key.startswith(prefix):
                yield ev

    def push(self, ev: WatchEvent) -> None:
        self.log.append(ev)
        for q in self.feeds:
            q.put_nowait(ev)


async def take(it: AsyncIterator[WatchEvent], n: int) -> list[tuple[str, int]]:
    out = []
    async for ev in it:
        assert ev.kv is not None
        out.append((ev.kv.key, ev.revision))
        if len(out) == n:
            break
    return out


def test_many_watchers_share_one_store_watch_and_late_ones_replay_the_window():
    async def scenario() -> None:
        store = ScriptedStore()
        cache = WatchCache(store, capacity=100)  # type: ignore[arg-type]
        prefix = "/registry/configmaps/"
        watchers = [cache.watch(prefix, prefix + ("a/" if i % 2 else "b/"), 101) for i in range(50)]
        tasks = [asyncio.create_task(take(w, 2)) for w in watchers]
        await asyncio.sleep(0.01)
        for rev, ns in ((101, "a"), (102, "b"), (103, "a"), (104, "b")):
            store.push(put(f"{prefix}{ns}/x", rev))
        results = await asyncio.wait_for(asyncio.gather(*tasks), 5)
        assert results[1] == [(f"{prefix}a/x", 101), (f"{prefix}a/x", 103)]
        assert results[0] == [(f"{prefix}b/x", 102), (f"{prefix}b/x", 104)]
        assert store.watch_calls == [(prefix, 101)], "one store watch for all 50 watchers"
        late = await asyncio.wait_for(take(cache.watch(prefix, prefix, 103), 2), 5)
        assert late == [(f"{prefix}a/x", 103), (f"{prefix}b/x", 104)], "replayed from the window"
        assert cache.direct_watches == 0
        older = asyncio.create_task(take(cache.watch(prefix, prefix, 50), 1))
        await asyncio.sleep(0.01)
        assert store.watch_calls[-1] == (prefix, 50) and cache.direct_watches == 1, "older than the window"
        older.cancel()
        await cache.stop()

    asyncio.run(scenario())


def test_a_watcher_that_falls_too_far_behind_is_ended():
    async def scenario() -> None:
        store = ScriptedStore()
        cache = WatchCache(store, capacity=100, max_pending=3)  # type: ignore[arg-type]
        prefix = "/registry/pods/"
        it = cache.watch(prefix, prefix, 101)
        first = asyncio.create_task(take(it, 1))
        await asyncio.sleep(0.01)
        store.push(put(prefix + "p", 101))
        assert await asyncio.wait_for(first, 5) == [(prefix + "p", 101)]
        for rev in range(102, 110):  # nobody reads: the queue fills past max_pending
            store.push(put(prefix + "p", rev))
        await asyncio.sleep(0.05)
        rest = await asyncio.wait_for(take(it, 100), 5)
        assert [r for _, r in rest] == [102, 103, 104], "the stream ends after max_pending events"
        await cache.stop()

    asyncio.run(scenario())


def test_the_cache_keeps_current_objects_for_resource_version_0_lists():
    async def scenario() -> None:
        store = ScriptedStore()
        prefix = "/registry/configmaps/"
        for i in range(2500):  # more than one list page
            store.objects[f"{prefix}a/{i:05d}"] = KV(f"{prefix}a/{i:05d}", b"{}", 50, 50)
        cache = WatchCache(store, capacity=10)  # type: ignore[arg-type]
        kvs, rev = await cache.snapshot(prefix, prefix + "a/")
        assert (len(kvs), rev) == (2500, 100) and kvs[0].key == prefix + "a/00000"
        store.push(put(prefix + "b/new", 101))
        store.push(WatchEvent("DELETE", KV(prefix + "a/00000", b"", 102, 0), None, 102))
        store.push(WatchEvent("PROGRESS", None, None, 105))
        for _ in range(100):
            kvs, rev = await cache.snapshot(prefix, prefix)
            if rev == 105:
                break
            await asyncio.sleep(0.01)
        keys = [kv.key for kv in kvs]
        assert rev == 105 and len(keys) == 2500 and prefix + "b/new" in keys and prefix + "a/00000" not in keys
        assert store.watch_calls == [(prefix, 101)], "listed at 100, watched from 101"
        await cache.stop()

    asyncio.run(scenario())
