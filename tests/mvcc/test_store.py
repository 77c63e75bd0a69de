"""etcd's KV semantics, table by table: revisions, versions, ranges, txns, compaction, leases, watches.

Expected values follow etcd v3's documented behaviour (and were cross-checked with etcdctl
against Debian's etcd 3.4 in tests/e2e)."""

from __future__ import annotations

import pytest

from raftkv import errors
from raftkv._pb.etcdserverpb import rpc_pb2 as pb
from raftkv._pb.mvccpb import kv_pb2
from raftkv.lease import Lessor
from raftkv.mvcc import Applier, check_put, check_range, check_txn, open_store
from raftkv.mvcc.core.ranges import prefix_end

pytestmark = pytest.mark.unit
RR = pb.RangeRequest


@pytest.fixture
def a() -> Applier:
    return Applier(open_store(None), Lessor(min_ttl=1))


def put(a: Applier, k: bytes, v: bytes = b"v", **kw: object) -> pb.PutResponse:
    return a.put(pb.PutRequest(key=k, value=v, **kw))  # type: ignore[arg-type]


def keys(resp: pb.RangeResponse) -> list[bytes]:
    return [kv.key for kv in resp.kvs]


def test_revisions_versions_and_recreation(a: Applier) -> None:
    assert a.range(RR(key=b"k")).header.revision == 1  # an empty store is at revision 1
    assert put(a, b"k").header.revision == 2
    assert put(a, b"k").header.revision == 3
    kv = a.range(RR(key=b"k")).kvs[0]
    assert (kv.create_revision, kv.mod_revision, kv.version) == (2, 3, 2)
    d = a.delete_range(pb.DeleteRangeRequest(key=b"k"))
    assert d.deleted == 1 and d.header.revision == 4
    assert a.range(RR(key=b"k")).count == 0
    put(a, b"k")
    kv = a.range(RR(key=b"k")).kvs[0]
    assert (kv.create_revision, kv.mod_revision, kv.version) == (5, 5, 1)  # version restarts at 1


def test_delete_of_nothing_does_not_bump_the_revision(a: Applier) -> None:
    put(a, b"x")
    d = a.delete_range(pb.DeleteRangeRequest(key=b"nothing"))
    assert d.deleted == 0 and d.header.revision == 2


@pytest.fixture
def abc(a: Applier) -> Applier:
    for k, v in ((b"a", b"3"), (b"b", b"1"), (b"c", b"2"), (b"d", b"0")):
        put(a, k, v)
    put(a, b"b", b"9")  # b: mod 6, version 2
    return a


@pytest.mark.parametrize("req, want_keys, count, more", [
    (RR(key=b"a"), [b"a"], 1, False),
    (RR(key=b"a", range_end=b"c"), [b"a", b"b"], 2, False),
    (RR(key=b"b", range_end=b"\0"), [b"b", b"c", b"d"], 3, False),
    (RR(key=b"\0", range_end=b"\0"), [b"a", b"b", b"c", b"d"], 4, False),
    (RR(key=b"a", range_end=b"\0", limit=2), [b"a", b"b"], 4, True),
    (RR(key=b"a", range_end=b"\0", limit=4), [b"a", b"b", b"c", b"d"], 4, False),
    (RR(key=b"a", range_end=b"\0", sort_order=RR.DESCEND), [b"d", b"c", b"b", b"a"], 4, False),
    (RR(key=b"a", range_end=b"\0", sort_target=RR.VALUE), [b"d", b"c", b"a", b"b"], 4, False),
    (RR(key=b"a", range_end=b"\0", sort_target=RR.VALUE, sort_order=RR.DESCEND, limit=1), [b"b"], 4, True),
    (RR(key=b"a", range_end=b"\0", sort_target=RR.MOD, sort_order=RR.DESCEND), [b"b", b"d", b"c", b"a"], 4,
     False),
    (RR(key=b"a", range_end=b"\0", sort_target=RR.VERSION, sort_order=RR.DESCEND, limit=1), [b"b"], 4, True),
    (RR(key=b"a", range_end=b"\0", sort_target=RR.CREATE, sort_order=RR.ASCEND), [b"a", b"b", b"c", b"d"], 4,
     False),
    (RR(key=b"a", range_end=b"\0", min_mod_revision=5), [b"b", b"d"], 4, False),
    (RR(key=b"a", range_end=b"\0", max_mod_revision=3), [b"a"], 4, False),
    (RR(key=b"a", range_end=b"\0", min_create_revision=4, max_create_revision=4), [b"c"], 4, False),
    (RR(key=b"a", range_end=b"\0", revision=3), [b"a", b"b"], 2, False),
    (RR(key=b"zz"), [], 0, False),
])
def test_range_options(abc: Applier, req: pb.RangeRequest, want_keys: list[bytes], count: int, more: bool) -> None:
    resp = abc.range(req)
    assert keys(resp) == want_keys
    assert resp.count == count and resp.more == more
    assert resp.header.revision == 6


def test_keys_only_and_count_only(abc: Applier) -> None:
    r = abc.range(RR(key=b"a", range_end=b"\0", keys_only=True))
    assert keys(r) == [b"a", b"b", b"c", b"d"] and all(kv.value == b"" for kv in r.kvs)
    assert r.kvs[1].version == 2
    c = abc.range(RR(key=b"a", range_end=b"\0", count_only=True))
    assert c.count == 4 and not c.kvs
    limited = abc.range(RR(key=b"a", range_end=b"\0", count_only=True, limit=1))
    assert limited.count == 4 and not limited.more  # etcd 3.4: count_only returns no kvs, so never `more`


def test_history_reads_and_errors(abc: Applier) -> None:
    assert abc.range(RR(key=b"b", revision=3)).kvs[0].value == b"1"
    with pytest.raises(errors.FutureRevision, match="required revision is a future revision"):
        abc.range(RR(key=b"b", revision=7))
    abc.compact(pb.CompactionRequest(revision=5))
    with pytest.raises(errors.Compacted) as info:
        abc.range(RR(key=b"b", revision=4))
    assert info.value.compact_revision == 5
    assert str(info.value) == "etcdserver: mvcc: required revision has been compacted"
    assert abc.range(RR(key=b"b", revision=5)).kvs[0].value == b"1"  # the compact revision itself is readable
    with pytest.raises(errors.Compacted):
        abc.compact(pb.CompactionRequest(revision=5))
    with pytest.raises(errors.FutureRevision):
        abc.compact(pb.CompactionRequest(revision=100))


def test_compaction_keeps_the_latest_of_live_keys_and_drops_deleted_ones(a: Applier) -> None:
    put(a, b"live", b"1")
    put(a, b"live", b"2")
    put(a, b"dead")
    a.delete_range(pb.DeleteRangeRequest(key=b"dead"))
    rev = a.s.rev
    a.compact(pb.CompactionRequest(revision=rev))
    assert [kv.value for kv in a.range(RR(key=b"live")).kvs] == [b"2"]
    assert b"dead" not in a.s.index, "a key deleted before the compaction must be removed physically"
    rows = list(a.s.b.scan())
    assert len(rows) == 1, rows


def test_put_options(a: Applier) -> None:
    put(a, b"k", b"v1")
    r = put(a, b"k", b"v2", prev_kv=True)
    assert r.prev_kv.value == b"v1" and r.prev_kv.version == 1
    put(a, b"k", ignore_value=True, v=b"")
    assert a.range(RR(key=b"k")).kvs[0].value == b"v2"
    with pytest.raises(errors.KeyNotFound, match="key not found"):
        put(a, b"missing", b"", ignore_value=True)
    with pytest.raises(errors.LeaseNotFound, match="requested lease not found"):
        put(a, b"k", b"x", lease=42)
    a.lease_grant(42, 10)
    put(a, b"k", b"x", lease=42)
    put(a, b"k", b"y", ignore_lease=True)
    assert a.range(RR(key=b"k")).kvs[0].lease == 42


@pytest.mark.parametrize("req, err", [
    (pb.PutRequest(key=b""), errors.EmptyKey),
    (pb.PutRequest(key=b"k", value=b"v", ignore_value=True), errors.ValueProvided),
    (pb.PutRequest(key=b"k", lease=1, ignore_lease=True), errors.LeaseProvided),
])
def test_put_checks(req: pb.PutRequest, err: type[Exception]) -> None:
    with pytest.raises(err):
        check_put(req)


def test_range_checks(abc: Applier) -> None:
    with pytest.raises(errors.EmptyKey):
        check_range(RR(key=b""))
    with pytest.raises(errors.InvalidSortOption):
        check_range(RR(key=b"k", sort_order=7))
    # etcd 3.4 (checked against it): a negative revision reads the current one, a negative limit is no limit
    neg = RR(key=b"a", range_end=b"\0", revision=-2, limit=-1)
    check_range(neg)
    r = abc.range(neg)
    assert keys(r) == [b"a", b"b", b"c", b"d"] and not r.more and r.count == 4


def test_delete_range_with_prev_kv(abc: Applier) -> None:
    d = abc.delete_range(pb.DeleteRangeRequest(key=b"b", range_end=b"d", prev_kv=True))
    assert d.deleted == 2 and [kv.key for kv in d.prev_kvs] == [b"b", b"c"]
    assert d.header.revision == 7
    assert keys(abc.range(RR(key=b"a", range_end=b"\0"))) == [b"a", b"d"]


def cmp(key: bytes, target: int, result: int, range_end: bytes = b"", **val: object) -> pb.Compare:
    return pb.Compare(key=key, target=target, result=result, range_end=range_end, **val)  # type: ignore[arg-type]


C = pb.Compare


@pytest.mark.parametrize("compare, ok", [
    (cmp(b"b", C.VALUE, C.EQUAL, value=b"9"), True),
    (cmp(b"b", C.VALUE, C.NOT_EQUAL, value=b"9"), False),
    (cmp(b"b", C.VALUE, C.GREATER, value=b"8"), True),
    (cmp(b"b", C.VALUE, C.LESS, value=b"8"), False),
    (cmp(b"b", C.VERSION, C.EQUAL, version=2), True),
    (cmp(b"b", C.CREATE, C.EQUAL, create_revision=3), True),
    (cmp(b"b", C.MOD, C.GREATER, mod_revision=5), True),
    (cmp(b"b", C.LEASE, C.EQUAL, lease=0), True),
    (cmp(b"nope", C.VERSION, C.EQUAL, version=0), True),   # a missing key has version 0
    (cmp(b"nope", C.CREATE, C.EQUAL, create_revision=0), True),
    (cmp(b"nope", C.VALUE, C.EQUAL, value=b""), False),    # ... but no value to compare
    (cmp(b"a", C.VERSION, C.EQUAL, b"c", version=1), False),  # range compare: a=1, b=2
    (cmp(b"a", C.MOD, C.LESS, b"\0", mod_revision=7), True),
])
def test_txn_compares(abc: Applier, compare: pb.Compare, ok: bool) -> None:
    r = abc.txn(pb.TxnRequest(compare=[compare], success=[pb.RequestOp(request_range=RR(key=b"a"))],
                              failure=[pb.RequestOp(request_range=RR(key=b"d"))]))
    assert r.succeeded == ok
    assert keys(r.responses[0].response_range) == ([b"a"] if ok else [b"d"])


def test_txn_is_one_revision_and_sees_its_own_writes(a: Applier) -> None:
    r = a.txn(pb.TxnRequest(success=[
        pb.RequestOp(request_put=pb.PutRequest(key=b"x", value=b"1")),
        pb.RequestOp(request_put=pb.PutRequest(key=b"y", value=b"2")),
        pb.RequestOp(request_range=RR(key=b"x")),
        pb.RequestOp(request_delete_range=pb.DeleteRangeRequest(key=b"zzz")),
        pb.RequestOp(request_txn=pb.TxnRequest(success=[pb.RequestOp(request_put=pb.PutRequest(key=b"n",
                                                                                            value=b"3"))])),
    ]))
    assert r.succeeded and r.header.revision == 2
    assert [x.WhichOneof("response") for x in r.responses] == ["response_put", "response_put", "response_range",
                                                                "response_delete_range", "response_txn"]
    assert r.responses[2].response_range.kvs[0].value == b"1"
    assert {kv.mod_revision for kv in a.range(RR(key=b"\0", range_end=b"\0")).kvs} == {2}
    subs = sorted(a.s.index[k].writes[-1][1] for k in (b"x", b"y", b"n"))
    assert subs == [0, 1, 2]


def test_failed_txn_writes_nothing(a: Applier) -> None:
    put(a, b"k")
    with pytest.raises(errors.LeaseNotFound):
        a.txn(pb.TxnRequest(success=[pb.RequestOp(request_put=pb.PutRequest(key=b"a", value=b"1")),
                                     pb.RequestOp(request_put=pb.PutRequest(key=b"b", value=b"1", lease=99))]))
    assert a.s.rev == 2 and a.range(RR(key=b"a")).count == 0


@pytest.mark.parametrize("ops", [
    [pb.RequestOp(request_put=pb.PutRequest(key=b"k")), pb.RequestOp(request_put=pb.PutRequest(key=b"k"))],
    [pb.RequestOp(request_put=pb.PutRequest(key=b"k1")),
     pb.RequestOp(request_delete_range=pb.DeleteRangeRequest(key=b"k", range_end=b"l"))],
    [pb.RequestOp(request_put=pb.PutRequest(key=b"k")),
     pb.RequestOp(request_txn=pb.TxnRequest(success=[pb.RequestOp(request_put=pb.PutRequest(key=b"k"))]))],
])
def test_duplicate_keys_in_a_txn_are_refused(ops: list[pb.RequestOp]) -> None:
    with pytest.raises(errors.DuplicateKey, match="duplicate key given in txn request"):
        check_txn(pb.TxnRequest(success=ops))


def test_nested_branches_may_write_the_same_key() -> None:
    inner = pb.TxnRequest(success=[pb.RequestOp(request_put=pb.PutRequest(key=b"k"))],
                          failure=[pb.RequestOp(request_put=pb.PutRequest(key=b"k"))])
    check_txn(pb.TxnRequest(success=[pb.RequestOp(request_txn=inner)]))


def test_too_many_ops() -> None:
    ops = [pb.RequestOp(request_put=pb.PutRequest(key=b"k%d" % i)) for i in range(129)]
    with pytest.raises(errors.TooManyOps):
        check_txn(pb.TxnRequest(success=ops), 128)
    check_txn(pb.TxnRequest(success=ops[:128]), 128)


def test_prefix_end() -> None:
    assert prefix_end(b"abc") == b"abd"
    assert prefix_end(b"a\xff") == b"b"
    assert prefix_end(b"\xff\xff") == b"\0"


def test_leases_delete_their_keys_in_one_revision(a: Applier) -> None:
    g = a.lease_grant(7, 1)
    assert g.TTL == 1 and g.ID == 7
    with pytest.raises(errors.LeaseExists):
        a.lease_grant(7, 5)
    put(a, b"l1", lease=7)
    put(a, b"l2", lease=7)
    put(a, b"l2", b"moved")  # overwriting without the lease detaches the key
    r = a.lease_revoke(7)
    assert r.header.revision == 5
    assert keys(a.range(RR(key=b"l", range_end=b"m"))) == [b"l2"]
    with pytest.raises(errors.LeaseNotFound):
        a.lease_revoke(7)


def test_nospace_alarm_refuses_writes_but_not_deletes(a: Applier) -> None:
    put(a, b"k")
    a.set_nospace(True)
    with pytest.raises(errors.NoSpace, match="database space exceeded"):
        put(a, b"k2")
    a.delete_range(pb.DeleteRangeRequest(key=b"k"))
    assert a.range(RR(key=b"k")).count == 0
    a.set_nospace(False)
    put(a, b"k2")


def test_watch_history_live_filters_and_prev_kv(a: Applier) -> None:
    s = a.s
    put(a, b"w/a", b"1")            # rev 2
    ws = s.watch_stream()
    wid = ws.watch(b"w/", prefix_end(b"w/"), 2, True, set())
    live = ws.watch(b"w/a", b"", 0, False, {0})  # NOPUT: deletes only
    put(a, b"w/a", b"2")            # rev 3
    a.delete_range(pb.DeleteRangeRequest(key=b"w/a"))  # rev 4
    while s.sync_watchers():
        pass
    got = {b.watch_id: b for b in ws.poll()}
    hist = [(e.type, e.kv.mod_revision, e.prev_kv.value) for e in got[wid].events]
    assert hist == [(kv_pb2.Event.PUT, 2, b""), (kv_pb2.Event.PUT, 3, b"1"), (kv_pb2.Event.DELETE, 4, b"2")]
    assert [(e.type, e.kv.mod_revision) for e in got[live].events] == [(kv_pb2.Event.DELETE, 4)]


def test_watch_below_compaction_is_cancelled_with_the_compact_revision(a: Applier) -> None:
    for i in range(5):
        put(a, b"c", b"%d" % i)
    a.compact(pb.CompactionRequest(revision=4))
    ws = a.s.watch_stream()
    wid = ws.watch(b"c", b"", 2, False, set())
    a.s.sync_watchers()
    (b,) = ws.poll()
    assert b.watch_id == wid and b.canceled and b.compact_revision == 4


def test_restart_restores_index_revision_leases_and_compaction(tmp_path: object) -> None:
    path = str(tmp_path)
    s = open_store(path)
    a = Applier(s, Lessor(min_ttl=1))
    a.lease_grant(9, 30)
    put(a, b"x", b"1", lease=9)
    put(a, b"x", b"2", lease=9)
    put(a, b"y", b"3")
    a.compact(pb.CompactionRequest(revision=3))
    s.set_consistent_index(77)
    before = s.hash_kv(0)
    s.close()
    s2 = open_store(path)
    lessor = Lessor(min_ttl=1)
    a2 = Applier(s2, lessor)
    assert (s2.rev, s2.compact_rev, s2.consistent_index) == (4, 3, 77)
    assert a2.range(RR(key=b"x")).kvs[0].version == 2
    assert lessor.time_to_live(9, 0.0)[2] == [b"x"]
    assert s2.hash_kv(0) == before


def test_ignore_value_put_of_a_key_deleted_earlier_in_the_txn_is_refused_whole(abc: Applier) -> None:
    """etcd 3.4 panics on this (its duplicate check lets a "\\0" delete through); raftkv refuses it
    before writing anything."""
    before = abc.s.rev, abc.s.hash()
    t = pb.TxnRequest(success=[pb.RequestOp(request_delete_range=pb.DeleteRangeRequest(key=b"a", range_end=b"\0")),
                               pb.RequestOp(request_put=pb.PutRequest(key=b"b", ignore_value=True))])
    check_txn(t)  # etcd's pre-proposal check accepts it
    with pytest.raises(errors.KeyNotFound):
        abc.txn(t)
    assert (abc.s.rev, abc.s.hash()) == before
    assert keys(abc.range(RR(key=b"a", range_end=b"\0"))) == [b"a", b"b", b"c", b"d"]


def test_a_txn_range_at_the_current_revision_does_not_see_the_txns_own_writes(abc: Applier) -> None:
    rev = abc.s.rev
    t = pb.TxnRequest(success=[pb.RequestOp(request_put=pb.PutRequest(key=b"a", value=b"new")),
                               pb.RequestOp(request_range=RR(key=b"a")),
                               pb.RequestOp(request_range=RR(key=b"a", revision=rev))])
    r = abc.txn(t)
    assert r.responses[1].response_range.kvs[0].value == b"new"
    assert r.responses[2].response_range.kvs[0].value != b"new"
    assert r.responses[2].response_range.kvs[0].mod_revision <= rev


def test_restoring_a_snapshot_replaces_keys_leases_and_metadata(tmp_path: object) -> None:
    donor = Applier(open_store(None), Lessor(min_ttl=1))
    donor.lease_grant(5, 60)
    donor.put(pb.PutRequest(key=b"l", value=b"1", lease=5))
    donor.put(pb.PutRequest(key=b"m", value=b"2"))
    donor.compact(pb.CompactionRequest(revision=2))
    donor.s.set_consistent_index(40)
    image = f"{tmp_path}/image.db"
    donor.s.snapshot_to(image)
    lessor = Lessor(min_ttl=1)
    target = Applier(open_store(str(tmp_path)), lessor)
    target.lease_grant(9, 60)
    target.put(pb.PutRequest(key=b"gone", value=b"x", lease=9))
    target.s.restore_from(image)
    assert (target.s.rev, target.s.compact_rev, target.s.consistent_index) == (3, 2, 40)
    assert keys(target.range(RR(key=b"\0", range_end=b"\0"))) == [b"l", b"m"]
    assert lessor.leases() == [5] and lessor.time_to_live(5, 0.0) == (60, 60, [b"l"])
    assert target.s.hash_kv(0) == donor.s.hash_kv(0)


def test_paged_counts_follow_the_txns_own_writes_and_old_revisions_do_not(abc: Applier) -> None:
    rev = abc.s.rev
    before = abc.range(RR(key=b"a", range_end=b"\0", count_only=True)).count
    t = pb.TxnRequest(success=[pb.RequestOp(request_put=pb.PutRequest(key=b"aa", value=b"new")),
                               pb.RequestOp(request_delete_range=pb.DeleteRangeRequest(key=b"d")),
                               pb.RequestOp(request_range=RR(key=b"a", range_end=b"\0", limit=2)),
                               pb.RequestOp(request_range=RR(key=b"a", range_end=b"\0", revision=rev))])
    r = abc.txn(t)
    own, old = r.responses[2].response_range, r.responses[3].response_range
    assert (own.count, keys(own), own.more) == (before, [b"a", b"aa"], True)
    assert (old.count, keys(old)) == (before, [b"a", b"b", b"c", b"d"])


def test_restart_rebuilds_the_live_key_index(tmp_path: object) -> None:
    path = str(tmp_path)
    s = open_store(path)
    a = Applier(s, Lessor(min_ttl=1))
    for k in (b"p/1", b"p/2", b"p/3", b"q"):
        put(a, k)
    a.delete_range(pb.DeleteRangeRequest(key=b"p/2"))
    s.close()
    a2 = Applier(open_store(path), Lessor(min_ttl=1))
    r = a2.range(RR(key=b"p/", range_end=b"p0", limit=1))
    assert (r.count, keys(r), r.more) == (2, [b"p/1"], True)
