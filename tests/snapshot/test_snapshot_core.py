"""The pure halves of backup and restore: etcd's schema both ways, `snapshot status`, the sha256 trailer,
the restore flags and the head of etcd's WAL, each against what etcd 3.4 wrote or printed."""

from __future__ import annotations

import hashlib
import pathlib

import pytest

from raftkv._pb.mvccpb import kv_pb2
from raftkv.auth.store import AuthStore, Permission, User
from raftkv.bbolt import read_db, write_db
from raftkv.server.config import member_id
from raftkv.server.membership import Member
from raftkv.snapshot import cluster_flags, etcd_wal, schema, status, trailer

pytestmark = pytest.mark.unit

DATA = pathlib.Path(__file__).resolve().parents[1] / "bbolt" / "testdata"
ETCD_SNAP = (DATA / "etcd-3.4.snap").read_bytes()
ETCD_WAL_HEAD = (DATA / "etcd-3.4-restored.wal.head").read_bytes()
STOPPED_WAL = (DATA / "etcd-3.4-stopped.wal.head").read_bytes()  # the records of the member that saved ETCD_SNAP


def buckets_of(data: bytes) -> dict[bytes, list[tuple[bytes, bytes]]]:
    return {n: b.pairs() for n, b in read_db(data).root.buckets.items()}


def test_etcds_buckets_survive_the_trip_through_raftkvs_state() -> None:
    theirs = buckets_of(ETCD_SNAP)
    state = schema.from_buckets(theirs)
    assert state.revision == 307 and state.compact_rev == 5 and state.consistent_index == 311
    assert state.leases == [(0x390DA252FCBDCD0A, 100)]
    assert [m.name for m in state.members] == ["e1"]
    assert schema.to_buckets(state) == theirs


def test_raftkvs_tombstones_become_etcds_and_back() -> None:
    put = kv_pb2.KeyValue(key=b"k", value=b"v", create_revision=2, mod_revision=2, version=1).SerializeToString()
    tomb = kv_pb2.KeyValue(key=b"k", mod_revision=3).SerializeToString()
    state = schema.State(kvs=[(2, 0, False, put), (3, 0, True, tomb)])
    out = schema.to_buckets(state)
    assert out[b"key"] == [(b"\0" * 7 + b"\x02_" + b"\0" * 8, put),
                           (b"\0" * 7 + b"\x03_" + b"\0" * 8 + b"t", kv_pb2.KeyValue(key=b"k").SerializeToString())]
    assert out[b"meta"] == [(b"consistent_index", b"\0" * 8)]  # never compacted: no compaction keys
    back = schema.from_buckets(out)
    assert list(back.kvs) == [(2, 0, False, put), (3, 0, True, tomb)]  # the deletion's revision is restored


def test_members_auth_leases_and_alarms_are_encoded_as_etcd_does() -> None:
    auth = AuthStore(enabled=True, revision=9, users={"root": User("root", "h", ["root"]),
                                                     "cn": User("cn", "", [], no_password=True)},
                     roles={"r": [Permission(2, b"a", b"b")]})
    state = schema.State(compact_rev=4, leases=[(7, 60)], auth=auth, alarms=[(1, 1)],
                         members=[Member(0xAB, "m1", ["https://h:1"], ["https://h:2"]),
                                  Member(0xCD, "", ["https://h:3"], [], True)], removed=[0xEF])
    out = schema.to_buckets(state)
    assert sorted(out) == sorted(schema.BUCKETS)
    assert out[b"members"] == [(b"ab", b'{"id":171,"peerURLs":["https://h:1"],"name":"m1","clientURLs":["https://h:2"]}'),
                               (b"cd", b'{"id":205,"peerURLs":["https://h:3"],"isLearner":true}')]
    assert out[b"members_removed"] == [(b"ef", b"removed")]
    assert out[b"auth"] == [(b"authEnabled", b"\x01"), (b"authRevision", (9).to_bytes(8, "big"))]
    assert out[b"lease"] == [((7).to_bytes(8, "big"), b"\x08\x07\x10\x3c")]
    assert dict(out[b"meta"])[b"finishedCompactRev"] == (4).to_bytes(8, "big") + b"_" + b"\0" * 8
    back = schema.from_buckets(out, token_key="kk")
    assert back.auth.users["cn"].no_password and back.auth.users["root"].roles == ["root"]
    assert back.auth.roles == auth.roles and back.auth.enabled and back.auth.token_key == "kk"
    assert list(back.leases) == [(7, 60)] and list(back.alarms) == [(1, 1)] and list(back.removed) == [0xEF]
    assert [(m.id, m.is_learner) for m in back.members] == [(0xAB, False), (0xCD, True)]


@pytest.mark.parametrize("bad", [b"short", b"\0" * 8 + b"-" + b"\0" * 8, b"\0" * 8 + b"_" + b"\0" * 8 + b"x"])
def test_a_key_bucket_that_is_not_etcds_is_refused(bad: bytes) -> None:
    with pytest.raises(schema.SchemaError, match="not an etcd revision key"):
        schema.from_buckets({b"key": [(bad, b"")], b"meta": []})


def test_a_bbolt_file_without_etcds_buckets_is_refused() -> None:
    with pytest.raises(schema.SchemaError, match="'key' and 'meta'"):
        schema.from_buckets(buckets_of(write_db({b"other": [(b"k", b"v")]})))


def test_status_prints_what_etcdctl_printed_for_the_same_file() -> None:
    st = status.status_of(read_db(ETCD_SNAP))
    assert status.render(st, "simple") == "81a4a30b, 307, 310, 66 kB\n"
    assert status.render(st, "json") == '{"hash":2175050507,"revision":307,"totalKey":310,"totalSize":65536}\n'
    assert status.render(st, "fields") == '"Hash" : 2175050507\n"Revision" : 307\n"Keys" : 310\n"Size" : 65536\n'
    assert status.render(st, "table") == (
        "+----------+----------+------------+------------+\n"
        "|   HASH   | REVISION | TOTAL KEYS | TOTAL SIZE |\n"
        "+----------+----------+------------+------------+\n"
        "| 81a4a30b |      307 |        310 |      66 kB |\n"
        "+----------+----------+------------+------------+\n")
    with pytest.raises(ValueError, match="protobuf not supported as output format"):
        status.render(st, "protobuf")


@pytest.mark.parametrize(("n", "text"), [(0, "0 B"), (9, "9 B"), (999, "999 B"), (1000, "1.0 kB"),
                                         (65536, "66 kB"), (12288, "12 kB"), (41_943_040, "42 MB")])
def test_sizes_as_go_humanize_prints_them(n: int, text: str) -> None:
    assert status.human_bytes(n) == text


def test_trailer_checks_as_etcdctl_restore_does() -> None:
    db = ETCD_SNAP[:-32]
    assert trailer.check(ETCD_SNAP, skip_hash_check=False) == db
    assert trailer.append(db) == ETCD_SNAP
    with pytest.raises(trailer.HashError, match=r"^snapshot missing hash but --skip-hash-check=false$"):
        trailer.check(db, skip_hash_check=False)
    assert trailer.check(db, skip_hash_check=True) == db
    bad = ETCD_SNAP[:-1] + bytes([ETCD_SNAP[-1] ^ 1])
    with pytest.raises(trailer.HashError) as err:
        trailer.check(bad, skip_hash_check=False)
    computed = " ".join(str(b) for b in hashlib.sha256(db).digest())
    assert str(err.value).endswith(f", got [{computed}]") and str(err.value).startswith("expected sha256 [")
    assert trailer.check(bad, skip_hash_check=True) == db


def test_restore_flags_give_raftkvs_ids_and_etcdctls_refusals() -> None:
    ms, me = cluster_flags.plan("a", "a=https://h:1,b=https://h:2", "https://h:1", "tok")
    assert me == member_id(["https://h:1"], "tok") and sorted(m.name for m in ms.members.values()) == ["a", "b"]
    with pytest.raises(cluster_flags.FlagError, match='^couldn\'t find local name "c" in the initial cluster'):
        cluster_flags.plan("c", "a=https://h:1", "https://h:1", "tok")
    with pytest.raises(cluster_flags.FlagError) as err:
        cluster_flags.plan("a", "a=http://127.0.0.1:1", "http://127.0.0.1:2", "t")
    assert str(err.value) == ('--initial-cluster has a=http://127.0.0.1:1 but missing from '
                              '--initial-advertise-peer-urls=http://127.0.0.1:2 (resolved urls: '
                              '"http://127.0.0.1:2" != "http://127.0.0.1:1")')
    with pytest.raises(cluster_flags.FlagError, match="^URL scheme must be http, https, unix, or unixs: foo$"):
        cluster_flags.plan("a", "a=foo", "http://h:1", "t")


def test_the_head_of_etcds_restored_wal_names_the_member_and_the_cluster() -> None:
    head = etcd_wal.read_head(ETCD_WAL_HEAD)
    assert (head.member_id, head.cluster_id) == (0x8E9E05C52164694D, 0xCDF818194E3A8C32)
    assert [(t, n) for t, n, _ in head.conf_changes] == [(etcd_wal.ADD_NODE, 0x8E9E05C52164694D)]
    assert schema.member_from_json(head.conf_changes[0][2]).peer_urls == ["http://localhost:2380"]


@pytest.mark.parametrize("cut", [0, 7, 8, 20, 40])
def test_a_wal_head_without_metadata_is_refused(cut: int) -> None:
    with pytest.raises(etcd_wal.WALHeadError):
        etcd_wal.read_head(ETCD_WAL_HEAD[:cut])


def test_a_stopped_members_wal_has_no_put_its_backend_lacks() -> None:
    head = etcd_wal.read_wal([STOPPED_WAL])
    assert head.commit == 312 and len(head.put_indexes) == 307
    assert head.unapplied_puts(schema.from_buckets(buckets_of(ETCD_SNAP)).consistent_index) == []
    assert head.unapplied_puts(300) == list(range(301, 312))  # a backend behind its log is noticed


def test_the_streamed_buckets_are_the_same_buckets() -> None:
    state = schema.from_buckets(buckets_of(ETCD_SNAP))
    streamed = {name: list(pairs) for name, pairs in schema.bucket_stream(state)}
    assert streamed == schema.to_buckets(state)
    assert [name for name, _ in schema.bucket_stream(state)] == sorted(schema.BUCKETS)
