"""Growing a cluster the etcd way: member add --learner, start the new member with
--initial-cluster-state existing, let it catch up, promote it to a voter."""

from __future__ import annotations

import pathlib
import shutil

import pytest

from raftkv._pb.etcdserverpb import rpc_pb2 as pb
from raftkv._pb.etcdserverpb import rpc_pb2_grpc as pb_grpc
from raftkv.server.launcher import free_port
from tests.server.cluster import Cluster, Node, make_cluster, wait_for

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
        # the image it caught up from carries the membership as of the image (with itself as a learner)
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


def _as_joiner(c: Cluster, n: Node) -> list[str]:
    cmd = c.command(n)
    cmd[cmd.index("--initial-cluster-state") + 1] = "existing"
    return cmd


def test_a_removed_member_added_again_with_the_same_urls_gets_a_new_id_and_rejoins(tmp_path: pathlib.Path) -> None:
    c = make_cluster(tmp_path, 3)
    try:
        c.start_all()
        kv = c.kv(c.nodes[0])
        for i in range(20):
            kv.Put(pb.PutRequest(key=b"r/%02d" % i, value=b"v"), timeout=10)
        victim = next(n for n in c.nodes if n is not c.leader())
        old_id = c.status(victim).header.member_id
        c.kill(victim)
        shutil.rmtree(victim.data_dir)
        survivor = next(n for n in c.nodes if n is not victim)
        cluster_api = pb_grpc.ClusterStub(c.channel(survivor))
        wait_for(lambda: cluster_api.MemberRemove(pb.MemberRemoveRequest(ID=old_id), timeout=10), 30,
                 "the removal to commit")
        peer_url = f"https://127.0.0.1:{victim.peer_port}"
        added = wait_for(lambda: cluster_api.MemberAdd(pb.MemberAddRequest(peerURLs=[peer_url]), timeout=10), 30,
                         "the cluster to accept the member again")
        assert added.member.ID != old_id
        c.start(victim, _as_joiner(c, victim))
        wait_for(lambda: c.kv(victim).Range(pb.RangeRequest(key=b"r/", range_end=b"r0", serializable=True,
                                                            count_only=True), timeout=5).count == 20,
                 60, "the re-added member to catch up")
        assert c.status(victim).header.member_id == added.member.ID
        rev = c.kv(victim).Put(pb.PutRequest(key=b"r/back", value=b"v"), timeout=10).header.revision
        assert c.kv(survivor).Range(pb.RangeRequest(key=b"r/back"), timeout=10).kvs[0].mod_revision == rev
    except BaseException:
        print(c.logs())
        raise
    finally:
        c.close()


def test_a_member_that_was_not_added_refuses_to_join(tmp_path: pathlib.Path) -> None:
    c = make_cluster(tmp_path, 3)
    try:
        c.start_all()
        stranger = Node("m4", free_port(), free_port(), c.base / "m4", c.base / "m4.log")
        c.nodes.append(stranger)
        c.start(stranger, _as_joiner(c, stranger))
        assert stranger.proc is not None
        assert stranger.proc.wait(60) == 2
        assert "is not a member of the existing cluster" in stranger.log_path.read_text()
        assert "etcdctl member add" in stranger.log_path.read_text()
    finally:
        c.close()
