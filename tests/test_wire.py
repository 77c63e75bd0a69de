"""The generated stubs speak etcd's wire format: byte-exact encodings and gRPC method paths."""

from __future__ import annotations

import pytest

from raftkv._pb.etcdserverpb import rpc_pb2 as pb
from raftkv._pb.etcdserverpb import rpc_pb2_grpc as pb_grpc
from raftkv._pb.mvccpb import kv_pb2

pytestmark = pytest.mark.unit


def test_put_request_bytes() -> None:
    # field 1 key (0x0a len), 2 value (0x12 len), 3 lease varint (0x18), 4 prev_kv (0x20)
    msg = pb.PutRequest(key=b"foo", value=b"bar", lease=0x7E5, prev_kv=True)
    assert msg.SerializeToString() == bytes.fromhex("0a03666f6f" "1203626172" "18e50f" "2001")


def test_range_request_bytes() -> None:
    # key=1, range_end=2, limit=3, revision=4, sort_order=5, sort_target=6, serializable=7, keys_only=8,
    # count_only=9, min_mod_revision=10, max_mod_revision=11, min_create_revision=12, max_create_revision=13
    msg = pb.RangeRequest(key=b"a", range_end=b"b", limit=5, revision=7, sort_order=pb.RangeRequest.DESCEND,
                          sort_target=pb.RangeRequest.MOD, serializable=True, keys_only=True, count_only=True,
                          min_mod_revision=1, max_mod_revision=2, min_create_revision=3, max_create_revision=4)
    want = "0a0161" "120162" "1805" "2007" "2802" "3003" "3801" "4001" "4801" "5001" "5802" "6003" "6804"
    assert msg.SerializeToString() == bytes.fromhex(want)


def test_txn_and_compare_bytes() -> None:
    cmp = pb.Compare(result=pb.Compare.GREATER, target=pb.Compare.MOD, key=b"k", mod_revision=9)
    # result=1 (0x08), target=2 (0x10), key=3 (0x1a), mod_revision=6 (0x30)
    assert cmp.SerializeToString() == bytes.fromhex("0801" "1002" "1a016b" "3009")
    txn = pb.TxnRequest(compare=[cmp], success=[pb.RequestOp(request_put=pb.PutRequest(key=b"k"))])
    # compare=1 (0x0a), success=2 (0x12) holding RequestOp.request_put=2 (0x12)
    assert txn.SerializeToString() == bytes.fromhex("0a09" "0801" "1002" "1a016b" "3009" "1205" "1203" "0a016b")


def test_keyvalue_and_watch_create_bytes() -> None:
    kv = kv_pb2.KeyValue(key=b"k", create_revision=2, mod_revision=3, version=1, value=b"v", lease=5)
    assert kv.SerializeToString() == bytes.fromhex("0a016b" "1002" "1803" "2001" "2a0176" "3005")
    w = pb.WatchRequest(create_request=pb.WatchCreateRequest(key=b"k", start_revision=4, progress_notify=True,
                                                             filters=[pb.WatchCreateRequest.NODELETE],
                                                             prev_kv=True, watch_id=7, fragment=True))
    # WatchRequest.create_request=1; key=1, start_revision=3, progress_notify=4, filters=5 (packed),
    # prev_kv=6, watch_id=7, fragment=8
    assert w.SerializeToString() == bytes.fromhex("0a10" "0a016b" "1804" "2001" "2a0101" "3001" "3807" "4001")


def test_grpc_method_paths_are_etcds() -> None:
    calls: list[str] = []

    class FakeChannel:
        def __getattr__(self, kind: str):  # unary_unary, unary_stream, ...
            def make(path: str, **_: object) -> object:
                calls.append(path)
                return None
            return make

    pb_grpc.KVStub(FakeChannel())
    pb_grpc.WatchStub(FakeChannel())
    pb_grpc.LeaseStub(FakeChannel())
    pb_grpc.MaintenanceStub(FakeChannel())
    for path in ("/etcdserverpb.KV/Range", "/etcdserverpb.KV/Put", "/etcdserverpb.KV/Txn",
                 "/etcdserverpb.Watch/Watch", "/etcdserverpb.Lease/LeaseKeepAlive",
                 "/etcdserverpb.Maintenance/Status", "/etcdserverpb.Maintenance/Snapshot"):
        assert path in calls
