"""The etcd3 store against Debian's etcd 3.4: guarded writes, paged lists at one revision, watch, compaction.

Written against the store's API only, so the same cases can later run on raftkv unchanged."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable

import pytest

from apiserver.storage.errors import Compacted, KeyExists, RevisionMismatch
from apiserver.storage.etcd3 import Etcd3Store, WatchEvent, prefix_end

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not shutil.which("etcd"), reason="needs etcd")]


def run(url: str, body: Callable[[Etcd3Store], Awaitable[None]]) -> None:
    async def main() -> None:
        store = Etcd3Store.connect([url])
        try:
            await asyncio.wait_for(body(store), 30)
        finally:
            await store.close()
    asyncio.run(main())


def test_prefix_end():
    assert prefix_end("/registry/pods/") == b"/registry/pods0"
    assert prefix_end("a\xff") != b""


def test_create_update_delete_guards(etcd_url):
    async def body(s: Etcd3Store) -> None:
        rev = await s.create("/t/guards/a", b"1")
        with pytest.raises(KeyExists):
            await s.create("/t/guards/a", b"2")
        rev2 = await s.update("/t/guards/a", b"2", rev)
        assert rev2 > rev
        with pytest.raises(RevisionMismatch) as e:
            await s.update("/t/guards/a", b"3", rev)
        assert e.value.current is not None and e.value.current.value == b"2"
        assert e.value.current.mod_revision == rev2
        with pytest.raises(RevisionMismatch):
            await s.delete("/t/guards/a", rev)
        await s.delete("/t/guards/a", rev2)
        kv, _ = await s.get("/t/guards/a")
        assert kv is None
    run(etcd_url, body)


def test_paged_list_reads_one_revision(etcd_url):
    async def body(s: Etcd3Store) -> None:
        for i in range(5):
            await s.create(f"/t/list/{i}", str(i).encode())
        first = await s.list("/t/list/", limit=2)
        assert [kv.key for kv in first.kvs] == ["/t/list/0", "/t/list/1"] and first.more and first.count == 5
        await s.create("/t/list/9", b"late")
        rest = await s.list("/t/list/", start=first.kvs[-1].key + "\0", revision=first.revision)
        assert [kv.key for kv in rest.kvs] == ["/t/list/2", "/t/list/3", "/t/list/4"], "the late key is invisible"
    run(etcd_url, body)


def test_watch_events_progress_and_compaction(etcd_url):
    async def body(s: Etcd3Store) -> None:
        start = await s.create("/t/watch/a", b"1")
        await s.update("/t/watch/a", b"2", start)
        kv, _ = await s.get("/t/watch/a")
        assert kv is not None
        await s.delete("/t/watch/a", kv.mod_revision)
        seen: list[WatchEvent] = []
        async for ev in s.watch("/t/watch/", start, progress_interval=0.2):
            seen.append(ev)
            if ev.type == "PROGRESS":
                break
        assert [e.type for e in seen] == ["PUT", "PUT", "DELETE", "PROGRESS"]
        assert seen[2].prev is not None and seen[2].prev.value == b"2"
        assert seen[3].revision >= seen[2].revision

        await s.create("/t/watch/b", b"x")
        now = await s.revision()
        await s.compact(now)
        with pytest.raises(Compacted) as e:
            async for _ in s.watch("/t/watch/", start):
                pass
        assert e.value.compact_revision == now
    run(etcd_url, body)
