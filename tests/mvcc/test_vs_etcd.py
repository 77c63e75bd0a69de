"""Differential test: the same random KV, txn, compaction and lease requests go to a real etcd 3.4
(Debian's, on free loopback ports, no TLS) and to raftkv's Applier; every response (headers without
cluster/member/term) and every error message must be identical.

This is how the doubtful cases were settled (txn inner headers, the duplicate-key rule, count_only
and `more`, negative revisions and limits, limit prefetch before a default sort, compacting at 0).
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from raftkv import errors
from raftkv._pb.etcdserverpb import rpc_pb2 as pb
from raftkv.lease import Lessor
from raftkv.mvcc import (
    Applier,
    check_compaction,
    check_delete_range,
    check_put,
    check_range,
    check_txn,
    open_store,
)
from tests.conftest import free_port, register_process, stop_process, wait_for

grpc = pytest.importorskip("grpc")
from raftkv._pb.etcdserverpb import rpc_pb2_grpc  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.e2e,
              pytest.mark.skipif(shutil.which("etcd") is None, reason="etcd 3.4 is not installed")]
KEYS = [b"a", b"b", b"c", b"d", b"ab"]
LEASE_TTL = 600  # well above etcd's minimum, so both sides grant exactly this


@pytest.fixture
def etcd(tmp_path: Any) -> Iterator[Any]:
    client, peer = free_port(), free_port()
    proc = register_process(subprocess.Popen(
        ["etcd", "--data-dir", str(tmp_path / "etcd"), "--name", "d",
         "--listen-client-urls", f"http://127.0.0.1:{client}", "--advertise-client-urls", f"http://127.0.0.1:{client}",
         "--listen-peer-urls", f"http://127.0.0.1:{peer}", "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
         "--initial-cluster", f"d=http://127.0.0.1:{peer}"],
        stdout=subprocess.DEVNULL, stderr=open(tmp_path / "etcd.log", "wb")))
    channel = grpc.insecure_channel(f"127.0.0.1:{client}")

    def ready() -> bool:
        try:
            rpc_pb2_grpc.KVStub(channel).Range(pb.RangeRequest(key=b"x"), timeout=1)
            return True
        except grpc.RpcError:
            return False

    try:
        wait_for(ready, 30, "etcd to answer")
        yield channel
    finally:
        channel.close()
        stop_process(proc)


def strip(m: Any) -> Any:
    """A copy without the member-specific header fields."""
    m = type(m).FromString(m.SerializeToString())

    def walk(x: Any) -> None:
        for f, v in x.ListFields():
            if f.name == "header":
                v.cluster_id = v.member_id = v.raft_term = 0
            elif f.message_type is not None:
                for item in ([v] if hasattr(v, "ListFields") else v):
                    walk(item)
    walk(m)
    return m


class Gen:
    """Random requests over a few keys, revisions near the current one, and the leases granted so far."""

    def __init__(self, rng: random.Random, a: Applier) -> None:
        self.rng, self.a = rng, a
        self.leases: list[int] = []

    def key(self) -> bytes:
        return self.rng.choice(KEYS)

    def end(self) -> bytes:
        return self.rng.choice([b"", b"", b"\0", b"c", b"b"])

    def rev(self) -> int:
        return self.a.s.rev - self.rng.randrange(-1, 6)

    def lease(self) -> int:
        return self.rng.choice(self.leases + [0, 0, 0, 12345]) if self.rng.random() < .3 else 0

    def range(self) -> pb.RangeRequest:
        r = self.rng
        return pb.RangeRequest(
            key=self.key(), range_end=self.end(), limit=r.choice([0, 0, 1, 2, -1]),
            revision=r.choice([0, 0, 0, self.rev(), -1]), sort_order=r.choice([0, 0, 1, 2]),
            sort_target=r.choice([0, 0, 1, 2, 3, 4]), keys_only=r.random() < .2, count_only=r.random() < .2,
            serializable=r.random() < .2, min_mod_revision=r.choice([0, 0, self.rev()]),
            max_mod_revision=r.choice([0, 0, 0, self.rev()]), min_create_revision=r.choice([0, 0, 0, self.rev()]),
            max_create_revision=r.choice([0, 0, self.rev()]))

    def put(self) -> pb.PutRequest:
        r = self.rng
        ignore_lease = r.random() < .1
        return pb.PutRequest(key=self.key(), value=r.choice([b"", b"x", b"y", b"zz"]), prev_kv=r.random() < .5,
                             ignore_value=r.random() < .1, ignore_lease=ignore_lease,
                             lease=0 if ignore_lease and r.random() < .8 else self.lease())

    def delete(self) -> pb.DeleteRangeRequest:
        return pb.DeleteRangeRequest(key=self.key(), range_end=self.end(), prev_kv=self.rng.random() < .5)

    def compare(self) -> pb.Compare:
        r = self.rng
        t = r.choice([0, 1, 2, 3, 4])
        c = pb.Compare(key=self.key(), range_end=r.choice([b"", b"", b"c", b"\0"]), target=t, result=r.choice([0, 1, 2, 3]))
        if t == 0:
            c.version = r.randrange(3)
        elif t == 1:
            c.create_revision = self.rev()
        elif t == 2:
            c.mod_revision = self.rev()
        elif t == 3:
            c.value = r.choice([b"", b"x", b"y", b"zz"])
        else:
            c.lease = self.lease()
        return c

    def op(self, depth: int) -> pb.RequestOp:
        x = self.rng.random()
        if x < .3:
            return pb.RequestOp(request_range=self.range())
        if x < .6:
            return pb.RequestOp(request_put=self.put())
        if x < .85 or depth > 1:
            return pb.RequestOp(request_delete_range=self.delete())
        return pb.RequestOp(request_txn=self._txn(depth + 1))

    def txn(self, depth: int = 0) -> pb.TxnRequest:
        while True:
            t = self._txn(depth)
            text = str(t)
            if not (depth == 0 and 'range_end: "\\000"' in text and "ignore_" in text):
                return t
            # else: a delete to the end followed by a put ignoring value/lease of a deleted key
            # crashes etcd 3.4 (raftkv answers KeyNotFound): not comparable, draw again

    def _txn(self, depth: int) -> pb.TxnRequest:
        r = self.rng
        return pb.TxnRequest(compare=[self.compare() for _ in range(r.randrange(3))],
                             success=[self.op(depth) for _ in range(r.randrange(4))],
                             failure=[self.op(depth) for _ in range(r.randrange(3))])


def run(channel: Any, seed: int, steps: int) -> None:
    print("seed", seed)
    rng = random.Random(seed)
    kv, lease = rpc_pb2_grpc.KVStub(channel), rpc_pb2_grpc.LeaseStub(channel)
    a = Applier(open_store(None), Lessor(min_ttl=1))
    assert kv.Range(pb.RangeRequest(key=b"x")).header.revision == a.s.rev == 1
    g = Gen(rng, a)
    next_lease = iter(range(1000, 10**6))

    def checked(check: Callable[[Any], None], apply: Callable[[Any], Any]) -> Callable[[Any], Any]:
        return lambda req: (check(req), apply(req))[1]

    table: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
        "range": (kv.Range, checked(check_range, a.range)),
        "put": (kv.Put, checked(check_put, a.put)),
        "delete": (kv.DeleteRange, checked(check_delete_range, a.delete_range)),
        "txn": (kv.Txn, checked(check_txn, a.txn)),
        "compact": (kv.Compact, checked(check_compaction, a.compact)),
        "grant": (lease.LeaseGrant, lambda r: a.lease_grant(r.ID, r.TTL)),
        "revoke": (lease.LeaseRevoke, lambda r: a.lease_revoke(r.ID)),
    }
    for step in range(steps):
        kind = rng.choices(list(table), [4, 4, 2, 4, .4, .5, .3])[0]
        req: Any
        if kind == "range":
            req = g.range()
        elif kind == "put":
            req = g.put()
        elif kind == "delete":
            req = g.delete()
        elif kind == "txn":
            req = g.txn()
        elif kind == "compact":
            req = pb.CompactionRequest(revision=rng.choice([0, a.s.compact_rev, a.s.rev, a.s.rev + 1, g.rev()]))
        elif kind == "grant":
            lid = next(next_lease) if rng.random() < .8 or not g.leases else rng.choice(g.leases)
            req = pb.LeaseGrantRequest(ID=lid, TTL=LEASE_TTL)
            if lid not in g.leases:
                g.leases.append(lid)
        else:
            req = pb.LeaseRevokeRequest(ID=g.lease() or 777)
        theirs, ours = table[kind]
        try:
            want, want_err = strip(theirs(req)), None
        except grpc.RpcError as exc:
            want, want_err = None, exc.details()
        try:
            got, got_err = strip(ours(req)), None
        except errors.RaftKVError as exc:
            got, got_err = None, exc.message
        assert (got, got_err) == (want, want_err), f"seed {seed} step {step}: {kind} {req}"


SEEDS = [int(x) for x in os.environ.get("RAFTKV_DIFF_SEEDS", "").split(",") if x] or [
    random.randrange(1 << 30) for _ in range(12)]  # RAFTKV_DIFF_SEEDS=1,2 replays given seeds


@pytest.mark.parametrize("seed", SEEDS)
def test_same_answers_as_etcd(etcd: Any, seed: int) -> None:
    run(etcd, seed, 400)
