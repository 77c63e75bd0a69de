"""The watch cache: the pure window, and the adapter over a scripted store (one store watch for many watchers)."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest

from apiserver.storage.errors import KV
from apiserver.storage.etcd3 import ListResult, WatchEvent
from apiserver.storage.watchcache import WatchCache
from apiserver.storage.watchwindow import WatcherBuffer, WatcherIndex, WatchWindow

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


# ---------------------------------------------------------------- fan-out: pure buffer and index

def test_buffer_hands_over_everything_held_at_once_and_ends_a_watcher_that_falls_behind():
    b: WatcherBuffer[WatchEvent] = WatcherBuffer(3)
    assert b.push(put("/a", 1)) and b.push(put("/a", 2))
    assert [e.revision for e in b.take()] == [1, 2] and b.take() == []
    assert all(b.push(put("/a", r)) for r in (3, 4, 5))
    assert not b.push(put("/a", 6)), "a fourth pending event is one too many"
    assert b.overflowed and b.ended and not b.finished
    assert not b.push(put("/a", 7)), "an ended watcher takes nothing more"
    assert [e.revision for e in b.take()] == [3, 4, 5], "what it held is still delivered: a gap-free prefix"
    assert b.finished and len(b.events) == 0
    stopped: WatcherBuffer[WatchEvent] = WatcherBuffer(3)
    stopped.push(put("/a", 1))
    stopped.end()
    assert not stopped.overflowed and not stopped.finished and [e.revision for e in stopped.take()] == [1]
    assert stopped.finished
    with pytest.raises(ValueError):
        WatcherBuffer(0)


def test_index_finds_only_the_watchers_an_events_key_concerns():
    idx: WatcherIndex[str] = WatcherIndex("/registry/pods/")
    idx.add("all", "/registry/pods/")
    idx.add("ns-a", "/registry/pods/a/")
    idx.add("ns-ab", "/registry/pods/ab/")
    idx.add("pod-a-x", "/registry/pods/a/", key="/registry/pods/a/x")
    idx.add("pod-a-x-2", "/registry/pods/a/", key="/registry/pods/a/x")
    idx.add("odd", "/registry/pods/a/x")  # any other prefix still works (matched by startswith)
    assert idx.for_key("/registry/pods/a/x") == ["all", "ns-a", "pod-a-x", "pod-a-x-2", "odd"]
    assert idx.for_key("/registry/pods/a/xy") == ["all", "ns-a", "odd"], "a longer name is another key"
    assert idx.for_key("/registry/pods/ab/x") == ["all", "ns-ab"]
    assert idx.for_key("/registry/pods/b/x") == ["all"]
    assert len(idx) == 6
    idx.remove("pod-a-x")
    idx.remove("pod-a-x-2")
    idx.remove("odd")
    idx.remove("odd")  # removing twice is harmless (a watcher ended by the cache, then by its own exit)
    assert idx.for_key("/registry/pods/a/x") == ["all", "ns-a"] and idx.by_key == {}
    assert idx.all() == ["all", "ns-a", "ns-ab"]
    cluster: WatcherIndex[str] = WatcherIndex("/registry/minions/")
    cluster.add("node-1", "/registry/minions/", key="/registry/minions/n1")
    assert cluster.for_key("/registry/minions/n1") == ["node-1"] and cluster.for_key("/registry/minions/n2") == []
    with pytest.raises(ValueError):
        idx.add("x", "/registry/services/")
    with pytest.raises(ValueError):
        idx.add("y", "/registry/pods/a/", key="/registry/pods/b/y")
    with pytest.raises(ValueError):
        idx.add("all", "/registry/pods/")


# ---------------------------------------------------------------- fan-out: the adapter

async def batches_until(it: AsyncIterator[list[WatchEvent]], n: int) -> list[list[int]]:
    out: list[list[int]] = []
    async for batch in it:
        out.append([ev.revision for ev in batch])
        if sum(map(len, out)) >= n:
            break
    return out


def test_each_watcher_gets_every_event_once_in_order_and_a_busy_one_gets_them_as_one_batch():
    seed = int(os.environ.get("WATCH_SEED", random.randrange(1 << 30)))
    print(f"seed {seed}")
    rng = random.Random(seed)

    async def scenario() -> None:
        store = ScriptedStore()
        cache = WatchCache(store, capacity=1000)  # type: ignore[arg-type]
        prefix = "/registry/pods/"
        keys = [f"{prefix}{ns}/{name}" for ns in "ab" for name in ("x", "y")]
        kinds = [(prefix, None), (prefix + "a/", None), (prefix + "b/", None),
                 (prefix + "a/", prefix + "a/x"), (prefix + "b/", prefix + "b/y")]
        watchers = [(kind, cache.watch_batches(prefix, kind[0], 101, key=kind[1])) for kind in kinds * 20]
        pushed: list[tuple[str, int]] = []
        for rev in range(101, 301):
            pushed.append((rng.choice(keys), rev))

        def wanted(kind: tuple[str, str | None]) -> list[int]:
            return [r for k, r in pushed if (k == kind[1] if kind[1] else k.startswith(kind[0]))]
        tasks = [asyncio.create_task(batches_until(it, len(wanted(kind)))) for kind, it in watchers]
        await asyncio.sleep(0.01)
        for k, rev in pushed:
            store.push(put(k, rev))
            if rng.random() < 0.3:  # sometimes the watchers run between events, sometimes several pile up
                await asyncio.sleep(0)
        results = await asyncio.wait_for(asyncio.gather(*tasks), 10)
        for (kind, _), batches in zip(watchers, results, strict=True):
            got = [r for b in batches for r in b]
            assert got == wanted(kind), f"{kind}: every matching event once, in revision order"
        assert any(len(b) > 1 for batches in results for b in batches), "events that piled up came as one batch"
        assert store.watch_calls == [(prefix, 101)]
        assert len(cache.shared[prefix].watchers) == len(watchers)
        for _, it in watchers:
            await it.aclose()  # type: ignore[attr-defined]  # what the HTTP handler does when its stream ends
        assert len(cache.shared[prefix].watchers) == 0, "closed watchers left the index"
        await cache.stop()

    asyncio.run(scenario())


def test_a_slow_watcher_is_ended_without_holding_up_the_others_and_its_memory_stays_bounded():
    async def scenario() -> None:
        store = ScriptedStore()
        cache = WatchCache(store, capacity=100, max_pending=5)  # type: ignore[arg-type]
        prefix = "/registry/pods/"
        slow = cache.watch_batches(prefix, prefix, 101)
        fast = cache.watch_batches(prefix, prefix, 101)
        first = asyncio.create_task(batches_until(slow, 1))
        fast_task = asyncio.create_task(batches_until(fast, 50))
        await asyncio.sleep(0.01)
        store.push(put(prefix + "a/p", 101))
        assert await asyncio.wait_for(first, 5) == [[101]]
        shared = cache.shared[prefix]
        for rev in range(102, 151):  # the slow watcher reads nothing more; the fast one keeps up
            store.push(put(prefix + "a/p", rev))
            await asyncio.sleep(0)
        fast_got = [r for b in await asyncio.wait_for(fast_task, 5) for r in b]
        assert fast_got == list(range(101, 151)), "the fast watcher saw everything"
        assert len(shared.watchers) == 1, "the slow watcher left the index when it fell 5 events behind"
        rest = [r for b in await asyncio.wait_for(batches_until(slow, 100), 5) for r in b]
        assert rest == [102, 103, 104, 105, 106], "it gets what it held (no gap), then its stream ends"
        await cache.stop()

    asyncio.run(scenario())


def test_the_shared_watch_stopping_ends_every_watcher_after_what_it_holds():
    async def scenario() -> None:
        store = ScriptedStore()
        cache = WatchCache(store, capacity=100)  # type: ignore[arg-type]
        prefix = "/registry/pods/"
        it = cache.watch_batches(prefix, prefix, 101)
        task = asyncio.create_task(batches_until(it, 100))
        await asyncio.sleep(0.01)
        store.push(put(prefix + "a/p", 101))
        store.push(put(prefix + "a/p", 102))
        await asyncio.sleep(0.01)
        await cache.stop()
        assert [r for b in await asyncio.wait_for(task, 5) for r in b] == [101, 102]

    asyncio.run(scenario())
