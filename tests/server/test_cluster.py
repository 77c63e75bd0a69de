"""A 3-member raftkv cluster of real processes: replication, failover, catch-up, bad input."""

from __future__ import annotations

import pathlib
import threading
import time
from collections.abc import Iterator

import grpc
import pytest

from raftkv._pb.etcdserverpb import rpc_pb2 as pb
from raftkv._pb.etcdserverpb import rpc_pb2_grpc as pb_grpc
from tests.server.cluster import Cluster, make_cluster, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = make_cluster(tmp_path_factory.mktemp("cluster"), 3, extra_flags=["--snapshot-count", "200",
                                                                         "--snapshot-catchup-entries", "50"])
    try:
        c.start_all()
        yield c
    except BaseException:
        print(c.logs())
        raise
    finally:
        c.close()


def get(c: Cluster, node_index: int, key: bytes, serializable: bool = False) -> pb.RangeResponse:
    return c.kv(c.nodes[node_index]).Range(pb.RangeRequest(key=key, serializable=serializable), timeout=10)


def test_writes_through_any_member_are_read_linearizably_everywhere(cluster: Cluster) -> None:
    for i, n in enumerate(cluster.nodes):
        cluster.kv(n).Put(pb.PutRequest(key=b"any/%d" % i, value=b"v%d" % i), timeout=10)
    for i in range(3):
        for j in range(3):
            kvs = get(cluster, j, b"any/%d" % i).kvs
            assert [(kv.key, kv.value) for kv in kvs] == [(b"any/%d" % i, b"v%d" % i)]


def test_header_identifies_member_and_cluster(cluster: Cluster) -> None:
    ids = set()
    cluster_ids = set()
    for n in cluster.nodes:
        h = cluster.kv(n).Put(pb.PutRequest(key=b"hdr", value=b"x"), timeout=10).header
        ids.add(h.member_id)
        cluster_ids.add(h.cluster_id)
        assert h.raft_term >= 1 and h.revision >= 2
    assert len(ids) == 3 and len(cluster_ids) == 1 and 0 not in cluster_ids


def test_members_publish_names_and_client_urls(cluster: Cluster) -> None:
    stub = pb_grpc.ClusterStub(cluster.channel(cluster.nodes[0]))

    def published() -> list[pb.Member] | None:
        ms = list(stub.MemberList(pb.MemberListRequest(), timeout=5).members)
        return ms if all(m.name and m.clientURLs for m in ms) else None

    members = wait_for(published, 30, "every member to publish its name and client URLs")
    assert sorted(m.name for m in members) == ["m1", "m2", "m3"]
    assert sorted(m.clientURLs[0] for m in members) == sorted(f"https://{n.endpoint}" for n in cluster.nodes)


def test_bad_input_is_refused_and_the_member_keeps_serving(cluster: Cluster) -> None:
    kv = cluster.kv(cluster.nodes[0])
    with pytest.raises(grpc.RpcError) as info:
        kv.Put(pb.PutRequest(key=b"big", value=b"x" * (2 * 1024 * 1024)), timeout=10)
    assert info.value.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED)
    txn = pb.TxnRequest(success=[pb.RequestOp(request_put=pb.PutRequest(key=b"t%d" % i, value=b"v"))
                                 for i in range(10_000)])
    with pytest.raises(grpc.RpcError) as info:
        kv.Txn(txn, timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details() == "etcdserver: too many operations in txn request"
    lease = pb_grpc.LeaseStub(cluster.channel(cluster.nodes[0]))
    with pytest.raises(grpc.RpcError) as info:
        lease.LeaseRevoke(pb.LeaseRevokeRequest(ID=12345), timeout=10)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert info.value.details() == "etcdserver: requested lease not found"
    with pytest.raises(grpc.RpcError) as info:
        kv.Range(pb.RangeRequest(key=b"k", revision=10**9), timeout=10)
    assert info.value.code() == grpc.StatusCode.OUT_OF_RANGE
    assert info.value.details() == "etcdserver: mvcc: required revision is a future revision"
    with pytest.raises(grpc.RpcError) as info:
        kv.Put(pb.PutRequest(key=b"", value=b"v"), timeout=10)
    assert info.value.details() == "etcdserver: key is not provided"
    # malformed protobuf on the wire
    raw = cluster.channel(cluster.nodes[0]).unary_unary("/etcdserverpb.KV/Put")
    with pytest.raises(grpc.RpcError) as info:
        raw(b"\xff\xff\xff\xff", timeout=10)
    # as etcd's grpc-go: INTERNAL "grpc: error unmarshalling request: ..."
    assert info.value.code() == grpc.StatusCode.INTERNAL
    assert (info.value.details() or "").startswith("grpc: error unmarshalling request: ")
    assert kv.Put(pb.PutRequest(key=b"still", value=b"serving"), timeout=10).header.revision > 0


def test_clients_without_a_valid_certificate_are_refused(cluster: Cluster, tmp_path: pathlib.Path) -> None:
    from raftkv.pki import create_local_pki

    ep = cluster.nodes[0].endpoint
    ca = (cluster.pki / "ca.crt").read_bytes()
    with grpc.secure_channel(ep, grpc.ssl_channel_credentials(ca)) as ch:  # no client certificate
        with pytest.raises(grpc.RpcError) as info:
            pb_grpc.KVStub(ch).Range(pb.RangeRequest(key=b"k"), timeout=5)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    other = tmp_path / "other-pki"
    create_local_pki(str(other), ["127.0.0.1"])
    creds = grpc.ssl_channel_credentials(ca, (other / "client.key").read_bytes(), (other / "client.crt").read_bytes())
    with grpc.secure_channel(ep, creds) as ch:  # a client certificate from another CA
        with pytest.raises(grpc.RpcError) as info:
            pb_grpc.KVStub(ch).Range(pb.RangeRequest(key=b"k"), timeout=5)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE


def test_kill_leader_during_writes_loses_nothing_and_watchers_see_every_revision(cluster: Cluster) -> None:
    old = cluster.leader()
    watch_node = next(n for n in cluster.nodes if n is not old)
    start_rev = get(cluster, cluster.nodes.index(watch_node), b"x").header.revision + 1
    seen: list[tuple[int, bytes]] = []
    stop = threading.Event()

    def requests() -> Iterator[pb.WatchRequest]:
        yield pb.WatchRequest(create_request=pb.WatchCreateRequest(key=b"fo/", range_end=b"fo0",
                                                                   start_revision=start_rev))
        stop.wait(120)

    watch_stream = pb_grpc.WatchStub(cluster.channel(watch_node)).Watch(requests())

    def watch() -> None:
        try:
            for resp in watch_stream:
                for ev in resp.events:
                    seen.append((ev.kv.mod_revision, ev.kv.key))
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.CANCELLED:  # cancelled = the test is done with it
                raise

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    acked: dict[bytes, int] = {}
    killed_at = None
    survivors = [n for n in cluster.nodes if n is not old]
    for i in range(300):
        if i == 100:
            cluster.kill(old)
            killed_at = time.monotonic()
        key = b"fo/%04d" % i
        target = survivors[i % 2] if killed_at else old
        try:
            acked[key] = cluster.kv(target).Put(pb.PutRequest(key=key, value=b"v"), timeout=5).header.revision
        except grpc.RpcError:
            pass  # not acknowledged: may or may not have happened
    assert killed_at is not None
    new = cluster.leader()
    assert new is not old
    for key, rev in acked.items():
        kvs = cluster.kv(new).Range(pb.RangeRequest(key=key), timeout=10).kvs
        assert kvs and kvs[0].mod_revision == rev, f"acknowledged write {key!r} at {rev} lost"
    last = max(acked.values())
    wait_for(lambda: seen and seen[-1][0] >= last, 30, "the watcher to reach the last acknowledged revision")
    stop.set()
    watch_stream.cancel()
    revs = [r for r, _ in seen]
    assert revs == sorted(revs) and len(revs) == len(set(revs)), "watch events out of order or duplicated"
    assert {k for _, k in seen} >= set(acked), "watch missed acknowledged writes"
    # the killed member comes back and catches up (by snapshot: the log was compacted meanwhile)
    cluster.start(old)
    wait_for(lambda: cluster.kv(old).Range(pb.RangeRequest(key=b"fo/0299", serializable=True), timeout=5).kvs
             or cluster.kv(old).Range(pb.RangeRequest(key=b"fo/", range_end=b"fo0", serializable=True,
                                                      count_only=True), timeout=5).count >= len(acked),
             60, "the restarted member to catch up")


def test_members_agree_on_hashkv(cluster: Cluster) -> None:
    for n in cluster.nodes:
        if n.proc is None:
            cluster.start(n)
    rev = cluster.kv(cluster.nodes[0]).Put(pb.PutRequest(key=b"hash", value=b"x"), timeout=10).header.revision

    def hashes() -> set[int] | None:
        out = set()
        for n in cluster.nodes:
            st = cluster.status(n)
            if st.raftAppliedIndex < cluster.status(cluster.leader()).raftIndex:
                return None
            out.add(cluster.maintenance(n).HashKV(pb.HashKVRequest(revision=rev), timeout=10).hash)
        return out

    assert len(wait_for(hashes, 60, "every member to apply up to the leader's commit")) == 1


def test_health_version_and_metrics_on_the_client_url_as_etcd_serves_them(cluster: Cluster) -> None:
    import json
    import ssl
    import urllib.error
    import urllib.request

    ctx = ssl.create_default_context(cafile=str(cluster.pki / "ca.crt"))
    ctx.load_cert_chain(str(cluster.pki / "client.crt"), str(cluster.pki / "client.key"))
    base = f"https://{cluster.nodes[0].endpoint}"
    wait_for(lambda: urllib.request.urlopen(f"{base}/health", context=ctx, timeout=10).status == 200, 30,
             "member healthy")
    with urllib.request.urlopen(f"{base}/health", context=ctx, timeout=10) as resp:
        assert json.loads(resp.read()) == {"health": "true", "reason": ""}
    with urllib.request.urlopen(f"{base}/version", context=ctx, timeout=10) as resp:
        assert json.loads(resp.read()) == {"etcdserver": "3.5.17", "etcdcluster": "3.5.0"}
    with urllib.request.urlopen(f"{base}/metrics", context=ctx, timeout=10) as resp:
        assert "etcd_server_has_leader 1" in resp.read().decode()
    try:
        urllib.request.urlopen(f"{base}/v3/kv/range", data=b"{}", context=ctx, timeout=10)
        raise AssertionError("the JSON gateway is not served")
    except urllib.error.HTTPError as err:
        assert err.code == 405
    assert get(cluster, 0, b"anything").header.revision > 0  # gRPC on the same port, unaffected
