"""etcd 3.4's isRPCSupportedForLearner: Maintenance.Status and serializable Ranges only; no streams."""

from raftkv import errors
from raftkv._pb.etcdserverpb import rpc_pb2 as pb
from raftkv.server import learner


def test_a_learner_serves_status_and_serializable_ranges_only() -> None:
    assert learner.refusal("/etcdserverpb.Maintenance/Status", pb.StatusRequest(), streaming=False) is None
    assert learner.refusal("/etcdserverpb.KV/Range", pb.RangeRequest(serializable=True), streaming=False) is None
    for method, request, streaming in (("/etcdserverpb.KV/Range", pb.RangeRequest(), False),
                                       ("/etcdserverpb.KV/Put", pb.PutRequest(), False),
                                       ("/etcdserverpb.Maintenance/Snapshot", pb.SnapshotRequest(), True),
                                       ("/etcdserverpb.Watch/Watch", None, True),
                                       ("/grpc.health.v1.Health/Check", object(), False)):
        refused = learner.refusal(method, request, streaming=streaming)
        assert isinstance(refused, errors.NotSupportedForLearner) and \
            refused.message == "etcdserver: rpc not supported for learner"
