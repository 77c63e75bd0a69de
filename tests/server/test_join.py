"""Growing a cluster the etcd way: member add --learner, start the new member with
--initial-cluster-state existing, let it catch up, promote it to a voter."""

from __future__ import annotations

import pathlib

import pytest

from raftkv._pb.etcdserverpb import rpc_pb2 as pb
from raftkv._pb.etcdserverpb import rpc_pb2_grpc as pb_grpc
from raftkv.server.launcher import free_port
from tests.server.cluster import Node, make_cluster, wait_for

pytestmark = pytest.mark.e2e


def test_learner_joins_catches_up_and_is_promoted(tmp_path: pathlib.Path) -> None:
    c = make_cluster(tmp_path, 3, extra_flags=["--snapshot-count", "50", "--snapshot-catchup-entries", "10"])
    try:
        c.start_all()
        kv = c.kv(c.nodes[0])
        for i in range(120):  # enough that the log is compacted: the learner needs a snapshot
            kv.Put(pb.PutRequest(key=b"j/%03d" % i, value=b"v"), timeout=10)
        cluster_api = pb_grpc.ClusterStub(c.channel(c.nodes[0]))
        new = Node("m4", free_port(), free_port(), c.base / "m4", c.base / "m4.log")
        peer_url = f"https://127.0.0.1:{new.peer_port}"
        added = wait_for(lambda: cluster_api.MemberAdd(pb.MemberAddRequest(peerURLs=[peer_url], isLearner=True),
                                                       timeout=10), 30, "the cluster to accept a new member")
        assert added.member.isLearner
        c.nodes.append(new)
        cmd = c.command(new)
        cmd[cmd.index("--initial-cluster-state") + 1] = "existing"
        c.start(new, cmd)
        wait_for(lambda: c.kv(new).Range(pb.RangeRequest(key=b"j/", range_end=b"j0", serializable=True,
                                                         count_only=True), timeout=5).count == 120,
                 60, "the learner to catch up")
        assert c.status(new).isLearner
        wait_for(lambda: cluster_api.MemberPromote(pb.MemberPromoteRequest(ID=added.member.ID), timeout=10), 60,
                 "the learner to be promoted")
        members = {m.ID: m for m in cluster_api.MemberList(pb.MemberListRequest(), timeout=5).members}
        assert len(members) == 4 and not members[added.member.ID].isLearner
        def published_name() -> str:
            listed = cluster_api.MemberList(pb.MemberListRequest(), timeout=5).members
            return next(m.name for m in listed if m.ID == added.member.ID)

        wait_for(lambda: published_name() == "m4", 30, "the new member to publish its name")
        rev = c.kv(new).Put(pb.PutRequest(key=b"j/new", value=b"from m4"), timeout=10).header.revision
        assert c.kv(c.nodes[1]).Range(pb.RangeRequest(key=b"j/new"), timeout=10).kvs[0].mod_revision == rev
    except BaseException:
        print(c.logs())
        raise
    finally:
        c.close()
