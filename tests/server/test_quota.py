"""--quota-backend-bytes: NOSPACE alarm, writes refused, reads and deletes allowed, disarm after defrag."""

from __future__ import annotations

import pathlib

import grpc
import pytest

from raftkv._pb.etcdserverpb import rpc_pb2 as pb
from raftkv._pb.etcdserverpb import rpc_pb2_grpc as pb_grpc
from tests.server.cluster import make_cluster, wait_for

pytestmark = pytest.mark.e2e
QUOTA = 256 * 1024


def test_nospace_alarm_cycle(tmp_path: pathlib.Path) -> None:
    c = make_cluster(tmp_path, 1, extra_flags=["--quota-backend-bytes", str(QUOTA)])
    try:
        c.start_all()
        n = c.nodes[0]
        kv, maint = c.kv(n), c.maintenance(n)
        refused = None
        for i in range(2000):
            try:
                kv.Put(pb.PutRequest(key=b"fill/%05d" % i, value=b"x" * 1024), timeout=10)
            except grpc.RpcError as exc:
                refused = exc
                break
        assert refused is not None, "the quota was never enforced"
        assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert refused.details() == "etcdserver: mvcc: database space exceeded"
        alarms = wait_for(lambda: maint.Alarm(pb.AlarmRequest(action=pb.AlarmRequest.GET), timeout=5).alarms, 20,
                          "the NOSPACE alarm to be raised")
        assert [a.alarm for a in alarms] == [pb.NOSPACE]
        assert any("NOSPACE" in e for e in c.status(n).errors)
        with pytest.raises(grpc.RpcError) as info:  # even a small write is refused while the alarm is on
            kv.Put(pb.PutRequest(key=b"small", value=b"1"), timeout=10)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert kv.Range(pb.RangeRequest(key=b"fill/00000"), timeout=10).count == 1  # reads still work
        d = kv.DeleteRange(pb.DeleteRangeRequest(key=b"fill/", range_end=b"fill0"), timeout=10)  # and deletes
        assert d.deleted > 0
        kv.Compact(pb.CompactionRequest(revision=d.header.revision, physical=True), timeout=10)
        maint.Defragment(pb.DefragmentRequest(), timeout=30)
        maint.Alarm(pb.AlarmRequest(action=pb.AlarmRequest.DEACTIVATE, memberID=alarms[0].memberID,
                                    alarm=pb.NOSPACE), timeout=10)
        assert not maint.Alarm(pb.AlarmRequest(action=pb.AlarmRequest.GET), timeout=5).alarms
        assert kv.Put(pb.PutRequest(key=b"after", value=b"ok"), timeout=10).header.revision > 0
        lease = pb_grpc.LeaseStub(c.channel(n))
        assert lease.LeaseGrant(pb.LeaseGrantRequest(TTL=30), timeout=10).ID != 0
    except BaseException:
        print(c.logs())
        raise
    finally:
        c.close()
