"""A follower whose WAL lost its tail (a torn or cut write after kill -9) comes back and catches up."""

from __future__ import annotations

import os
import pathlib

import pytest

from raftkv._pb.etcdserverpb import rpc_pb2 as pb
from tests.server.cluster import make_cluster, wait_for

pytestmark = pytest.mark.e2e


def newest_wal(data_dir: pathlib.Path) -> pathlib.Path:
    return sorted((data_dir / "member" / "wal").glob("*.wal"))[-1]


@pytest.mark.parametrize("cut", [7, 61, 300])
def test_a_follower_whose_wal_tail_was_cut_catches_up(tmp_path: pathlib.Path, cut: int) -> None:
    c = make_cluster(tmp_path, 3)
    try:
        c.start_all()
        leader = c.leader()
        kv = c.kv(leader)
        for i in range(150):
            kv.Put(pb.PutRequest(key=b"w/%03d" % i, value=b"v" * 50), timeout=10)
        victim = next(n for n in c.nodes if n is not leader)
        wait_for(lambda: c.kv(victim).Range(pb.RangeRequest(key=b"w/", range_end=b"w0", serializable=True,
                                                            count_only=True), timeout=5).count == 150,
                 30, "the follower to apply everything")
        c.kill(victim)
        wal = newest_wal(victim.data_dir)
        os.truncate(wal, wal.stat().st_size - cut)
        c.start(victim)
        for i in range(150, 200):
            kv.Put(pb.PutRequest(key=b"w/%03d" % i, value=b"v" * 50), timeout=10)
        wait_for(lambda: c.kv(victim).Range(pb.RangeRequest(key=b"w/", range_end=b"w0", serializable=True,
                                                            count_only=True), timeout=5).count == 200,
                 30, "the damaged follower to catch up")
        leader_rev = c.status(leader).header.revision
        wait_for(lambda: c.status(victim).header.revision == leader_rev, 30, "the same revision")
    except BaseException:
        print("exit codes", [(n.name, n.proc.poll() if n.proc else None) for n in c.nodes])
        print(c.logs())
        raise
    finally:
        c.close()


def test_a_member_with_a_corrupt_record_inside_its_wal_refuses_to_start_cleanly(tmp_path: pathlib.Path) -> None:
    c = make_cluster(tmp_path, 3)
    try:
        c.start_all()
        kv = c.kv(c.leader())
        for i in range(100):
            kv.Put(pb.PutRequest(key=b"c/%03d" % i, value=b"v" * 50), timeout=10)
        victim = next(n for n in c.nodes if n is not c.leader())
        c.kill(victim)
        wal = newest_wal(victim.data_dir)
        data = bytearray(wal.read_bytes())
        data[len(data) // 2] ^= 0x10  # inside the log, far from a torn tail
        wal.write_bytes(bytes(data))
        c.start(victim)
        assert victim.proc is not None
        assert victim.proc.wait(60) == 1
        log = victim.log_path.read_text()
        assert "refusing to start: wal: corrupt record" in log
        assert "Traceback" not in log
        assert kv.Put(pb.PutRequest(key=b"c/after", value=b"v"), timeout=10).header.revision > 0
    finally:
        c.close()
