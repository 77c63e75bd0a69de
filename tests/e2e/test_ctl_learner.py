"""A started learner serves clients as an etcd 3.4 learner does: serializable Range and Maintenance.Status, and
every other RPC (writes, linearizable reads, leases, cluster, auth, maintenance, Watch and the other streams, the
gRPC health check) refused with `etcdserver: rpc not supported for learner` (UNAVAILABLE, so clients move to
another endpoint). The same etcdctl 3.4 commands and gRPC calls run against etcd 3.4 and raftkv."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from raftkv._pb.etcdserverpb import rpc_pb2 as pb
from raftkv._pb.etcdserverpb import rpc_pb2_grpc as pb_grpc
from tests.conftest import free_port, register_process, stop_process, wait_for
from tests.e2e.cluster import Member, ProcessCluster

pytestmark = pytest.mark.e2e

REFUSED = "etcdserver: rpc not supported for learner"
# clientv3 retries UNAVAILABLE for read-only calls until --command-timeout; which error it then prints depends on
# whether the deadline fell during a call or a back-off wait (on etcd as here)
RETRIED = (f"Error: {REFUSED}", "Error: context deadline exceeded")


@pytest.fixture(scope="module")
def learner(cluster: ProcessCluster) -> Iterator[str]:
    """A learner that started and caught up; its client URL."""
    c = cluster
    c.etcdctl("put", "lk", "v")
    new = Member("learner", free_port(), free_port(), c.base / "learner.data", c.base / "learner.log")

    def add() -> str | None:
        p = c.etcdctl("member", "add", new.name, f"--peer-urls={new.peer_url}", "--learner")
        return p.stdout if p.returncode == 0 else None  # etcd refuses until its voters are connected for 5 s
    m = re.search(r"Member\s+([0-9a-f]+) added", wait_for(add, 30, "the cluster to accept a learner"))
    assert m
    c.members.append(new)
    cmd = c.command(new)
    cmd[cmd.index("--initial-cluster-state") + 1] = "existing"
    with open(new.log_path, "ab") as log:
        new.proc = register_process(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT))
    try:
        wait_for(lambda: c.etcdctl("get", "lk", "--consistency=s", endpoints=[new.client_url]).stdout == "lk\nv\n",
                 60, "the learner to catch up")
        yield new.client_url
    finally:
        c.members.remove(new)
        stop_process(new.proc)
        wait_for(lambda: c.etcdctl("member", "remove", m.group(1)).returncode == 0, 30, "the learner's removal")


def error(c: ProcessCluster, endpoint: str, *args: str) -> str:
    p = c.etcdctl(*args, endpoints=[endpoint], timeouts=("2s", "3s"))
    assert p.returncode != 0, f"etcdctl {' '.join(args)} succeeded on the learner: {p.stdout!r}"
    return [line for line in p.stderr.splitlines() if not line.startswith("{")][-1]


def test_a_learner_serves_serializable_reads_and_status_only(cluster: ProcessCluster, learner: str) -> None:
    c = cluster
    assert c.etcdctl("get", "lk", "--consistency=s", "--print-value-only", endpoints=[learner]).stdout == "v\n"
    status = c.etcdctl("endpoint", "status", endpoints=[learner])
    assert status.returncode == 0 and status.stdout.startswith(learner), status.stderr
    # refused at once (not retried by the client)
    assert error(c, learner, "put", "a", "b") == f"Error: {REFUSED}"
    assert error(c, learner, "del", "lk") == f"Error: {REFUSED}"
    assert error(c, learner, "compaction", "1") == f"Error: {REFUSED}"
    assert error(c, learner, "auth", "enable") == f"Error: {REFUSED}"
    assert error(c, learner, "defrag") == f"Failed to defragment etcd member[{learner}] ({REFUSED})"
    # retried by the client until its deadline
    for args in (["get", "lk"], ["member", "list"], ["alarm", "list"], ["user", "list"], ["role", "list"],
                 ["lease", "list"]):
        assert error(c, learner, *args) in RETRIED, args
    assert error(c, learner, "lease", "grant", "10") == f"Error: failed to grant lease ({REFUSED})"
    assert error(c, learner, "endpoint", "hashkv") == f"Error: {REFUSED}"
    assert error(c, learner, "snapshot", "save", str(c.base / "learner-snap.db")) == \
        "Error: context deadline exceeded"
    # the voters still serve everything
    assert c.etcdctl("put", "lk", "v2", endpoints=c.endpoints[:1]).stdout == "OK\n"


def test_a_learner_refuses_streams_and_the_health_check(cluster: ProcessCluster, learner: str) -> None:
    p = cluster.pki
    creds = grpc.ssl_channel_credentials((p / "ca.crt").read_bytes(), (p / "client.key").read_bytes(),
                                         (p / "client.crt").read_bytes())
    with grpc.secure_channel(learner.removeprefix("https://"), creds) as ch:
        kv = pb_grpc.KVStub(ch)
        assert kv.Range(pb.RangeRequest(key=b"lk", serializable=True), timeout=5).count == 1
        calls = {
            "Range": lambda: kv.Range(pb.RangeRequest(key=b"lk"), timeout=5),
            "Watch": lambda: next(pb_grpc.WatchStub(ch).Watch(
                iter([pb.WatchRequest(create_request=pb.WatchCreateRequest(key=b"lk"))]), timeout=5)),
            "LeaseKeepAlive": lambda: next(pb_grpc.LeaseStub(ch).LeaseKeepAlive(
                iter([pb.LeaseKeepAliveRequest(ID=1)]), timeout=5)),
            "Snapshot": lambda: next(pb_grpc.MaintenanceStub(ch).Snapshot(pb.SnapshotRequest(), timeout=5)),
            "HashKV": lambda: pb_grpc.MaintenanceStub(ch).HashKV(pb.HashKVRequest(), timeout=5),
            "MemberList": lambda: pb_grpc.ClusterStub(ch).MemberList(pb.MemberListRequest(), timeout=5),
            "Health": lambda: health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=5),
        }
        for name, call in calls.items():
            with pytest.raises(grpc.RpcError) as e:
                call()
            assert (e.value.code(), e.value.details()) == (grpc.StatusCode.UNAVAILABLE, REFUSED), name
