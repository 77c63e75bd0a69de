"""Watch event production: revision order, whole revisions per batch, future starts, slow consumers
(moved aside and caught up from history without loss or duplication), ids, and snapshots."""

from __future__ import annotations

import random

import pytest

from raftkv import errors
from raftkv._pb.etcdserverpb import rpc_pb2 as pb
from raftkv._pb.mvccpb import kv_pb2
from raftkv.lease import Lessor
from raftkv.mvcc import Applier, WatchStream, open_store, watch
from raftkv.mvcc.core.ranges import prefix_end

pytestmark = pytest.mark.unit
PUT, DELETE = kv_pb2.Event.PUT, kv_pb2.Event.DELETE


@pytest.fixture
def a() -> Applier:
    return Applier(open_store(None), Lessor(min_ttl=1))


def put_op(k: bytes, v: bytes) -> pb.RequestOp:
    return pb.RequestOp(request_put=pb.PutRequest(key=k, value=v))


def drain(a: Applier, ws: WatchStream) -> list[tuple[int, list[tuple[int, bytes, int]]]]:
    """Every batch now pending (after catching up), as (watch_id, [(type, key, mod_revision)])."""
    while a.s.sync_watchers():
        pass
    out = []
    while batches := ws.poll():
        out += [(b.watch_id, [(e.type, e.kv.key, e.kv.mod_revision) for e in b.events]) for b in batches]
        while a.s.sync_watchers():
            pass
    return out


def test_one_revision_is_one_batch_even_when_poll_asks_for_less(a: Applier) -> None:
    ws = a.s.watch_stream()
    wid = ws.watch(b"t/", prefix_end(b"t/"), 0, False, set())
    a.txn(pb.TxnRequest(success=[put_op(b"t/a", b"1"), put_op(b"t/b", b"2"), put_op(b"t/c", b"3")]))
    batches = ws.poll(max_events=1)
    assert len(batches) == 1 and batches[0].watch_id == wid
    assert [(e.kv.key, e.kv.mod_revision) for e in batches[0].events] == [(b"t/a", 2), (b"t/b", 2), (b"t/c", 2)]
    assert batches[0].revision == 2


def test_a_watch_starting_in_the_future_sees_nothing_before_its_start(a: Applier) -> None:
    ws = a.s.watch_stream()
    wid = ws.watch(b"k", b"", 4, False, set())  # store is at 1
    for i in range(5):
        a.put(pb.PutRequest(key=b"k", value=b"%d" % i))  # revisions 2..6
    events = [e for w, evs in drain(a, ws) if w == wid for e in evs]
    assert [rev for _, _, rev in events] == [4, 5, 6]


def test_start_at_the_compact_revision_is_allowed_below_is_cancelled(a: Applier) -> None:
    for i in range(4):
        a.put(pb.PutRequest(key=b"k", value=b"%d" % i))  # 2..5
    a.compact(pb.CompactionRequest(revision=3))
    ws = a.s.watch_stream()
    at = ws.watch(b"k", b"", 3, False, set())
    below = ws.watch(b"k", b"", 2, False, set())
    a.s.sync_watchers()
    got = {b.watch_id: b for b in ws.poll()}
    assert [e.kv.mod_revision for e in got[at].events] == [3, 4, 5]
    assert got[below].canceled and got[below].compact_revision == 3 and not got[below].events
    assert ws.cancel(below) is False  # already gone


def test_explicit_ids_cancel_and_notify(a: Applier) -> None:
    ws = a.s.watch_stream()
    woke: list[int] = []
    ws.set_notify(lambda: woke.append(1))
    assert ws.watch(b"a", b"", 0, False, set(), watch_id=7) == 7
    with pytest.raises(errors.InvalidArgument, match="^mvcc: duplicate watch ID provided on the WatchStream$"):
        ws.watch(b"a", b"", 0, False, set(), watch_id=7)
    with pytest.raises(errors.InvalidArgument, match="^mvcc: watcher range is empty$"):
        ws.watch(b"b", b"a", 0, False, set())
    auto = ws.watch(b"a", b"", 0, False, set())
    assert auto not in (7,)
    a.put(pb.PutRequest(key=b"a", value=b"x"))
    assert woke  # pushing output wakes the server synchronously
    assert {b.watch_id for b in ws.poll()} == {7, auto}
    assert ws.cancel(7) is True and ws.cancel(7) is False
    a.put(pb.PutRequest(key=b"a", value=b"y"))
    assert [b.watch_id for b in ws.poll()] == [auto]
    ws.close()
    a.put(pb.PutRequest(key=b"a", value=b"z"))
    assert ws.poll() == []
    assert ws.request_progress() == a.s.rev


def test_a_slow_consumer_never_blocks_others_and_loses_nothing(a: Applier, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watch, "MAX_PENDING_EVENTS", 5)
    seed = random.randrange(1 << 30)
    print("seed", seed)
    rng = random.Random(seed)
    slow, fast = a.s.watch_stream(), a.s.watch_stream()
    ws_id = slow.watch(b"", b"\0", 0, True, set())
    wf_id = fast.watch(b"", b"\0", 0, False, set())
    fast_seen: list[tuple[int, bytes, int]] = []
    slow_seen: list[tuple[int, bytes, int]] = []
    expected: list[tuple[int, bytes, int]] = []
    for _ in range(200):
        k = b"k%d" % rng.randrange(6)
        if rng.random() < 0.25:
            r = a.delete_range(pb.DeleteRangeRequest(key=k))
            if r.deleted:
                expected.append((DELETE, k, r.header.revision))
        else:
            r2 = a.put(pb.PutRequest(key=k, value=b"%d" % rng.randrange(100)))
            expected.append((PUT, k, r2.header.revision))
        fast_seen += [e for _, evs in drain(a, fast) for e in evs]
        if rng.random() < 0.05:  # the slow stream is drained rarely
            slow_seen += [e for w, evs in drain(a, slow) if w == ws_id for e in evs]
        assert slow.pending_events <= watch.MAX_PENDING_EVENTS + 1
    slow_seen += [e for _, evs in drain(a, slow) for e in evs]
    assert fast_seen == expected
    assert slow_seen == expected
    assert wf_id >= 0


def test_prev_kv_of_catch_up_events_comes_from_history(a: Applier) -> None:
    a.put(pb.PutRequest(key=b"p", value=b"1"))  # 2
    a.put(pb.PutRequest(key=b"p", value=b"2"))  # 3
    a.delete_range(pb.DeleteRangeRequest(key=b"p"))  # 4
    ws = a.s.watch_stream()
    ws.watch(b"p", b"", 2, True, set())
    a.s.sync_watchers()
    (b,) = ws.poll()
    assert [(e.type, e.prev_kv.value, e.prev_kv.mod_revision) for e in b.events] == [
        (PUT, b"", 0), (PUT, b"1", 2), (DELETE, b"2", 3)]


def test_snapshot_restore_keeps_watchers_going_from_their_next_revision(a: Applier, tmp_path: object) -> None:
    donor = Applier(open_store(None), Lessor(min_ttl=1))
    for i in range(3):
        donor.put(pb.PutRequest(key=b"s", value=b"%d" % i))  # donor at 4
    image = f"{tmp_path}/snap.db"
    donor.s.snapshot_to(image)
    ws = a.s.watch_stream()
    ws.watch(b"s", b"", 0, False, set())  # from revision 2
    a.s.restore_from(image)  # the applier's lease table follows by itself
    assert a.s.rev == 4 and a.s.hash_kv(0)[0] == donor.s.hash_kv(0)[0]
    a.put(pb.PutRequest(key=b"s", value=b"new"))  # 5
    events = [e for _, evs in drain(a, ws) for e in evs]
    assert [rev for _, _, rev in events] == [2, 3, 4, 5]


def test_hash_tells_diverged_members_apart() -> None:
    x, y = (Applier(open_store(None), Lessor(min_ttl=1)) for _ in range(2))
    for ap in (x, y):
        ap.put(pb.PutRequest(key=b"a", value=b"1"))
    assert x.s.hash() == y.s.hash() and x.s.hash_kv(0) == y.s.hash_kv(0)
    x.put(pb.PutRequest(key=b"a", value=b"2"))
    y.put(pb.PutRequest(key=b"a", value=b"3"))
    assert x.s.hash() != y.s.hash() and x.s.hash_kv(0)[0] != y.s.hash_kv(0)[0]
    assert x.s.hash_kv(2) == y.s.hash_kv(2)  # identical up to revision 2


def test_catch_up_work_per_call_is_bounded_even_when_nothing_matches(a: Applier) -> None:
    for i in range(200):
        a.put(pb.PutRequest(key=b"x%03d" % i, value=b"v"))  # revisions 2..201
    a.put(pb.PutRequest(key=b"k", value=b"last"))  # 202
    ws = a.s.watch_stream()
    wid = ws.watch(b"k", b"", 2, False, set())
    calls = 1
    while a.s.sync_watchers(max_events=10):
        calls += 1
        assert calls < 100
    assert calls >= 20  # 201 history rows, about 10 per call
    (b,) = ws.poll()
    assert b.watch_id == wid and [e.kv.mod_revision for e in b.events] == [202]
