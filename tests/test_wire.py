"""Wire compatibility with etcd v3: the generated stubs produce the bytes etcd's clients send and
parse the bytes etcd's servers answer, and the gRPC method paths are etcd's.

The expected bytes are written out by hand from the field numbers and wire types in etcd's
published rpc.proto (varint = wire type 0, length-delimited = 2; tag = field << 3 | type), so a
renumbered or retyped field in our schema fails here even if both sides of our own code agree.
"""

from __future__ import annotations

import os
import pathlib
import re
from typing import Any

import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from raftkv._pb.etcdserverpb import rpc_pb2 as pb
from raftkv._pb.etcdserverpb import rpc_pb2_grpc as pb_grpc
from raftkv._pb.mvccpb import kv_pb2
from raftkv._pb.raftpb import raft_pb2

pytestmark = pytest.mark.unit

RPC_PROTO_IN_PACKAGE = "usr/share/gocode/src/go.etcd.io/etcd/etcdserver/etcdserverpb/rpc.proto"
# Debian's golang-etcd-server-dev, installed, or unpacked without its Go dependencies by scripts/test
DEBIAN_RPC_PROTOS = [pathlib.Path("/") / RPC_PROTO_IN_PACKAGE,
                     pathlib.Path(__file__).resolve().parent.parent / ".local" / "etcd-src" / RPC_PROTO_IN_PACKAGE]


def test_generated_modules_import() -> None:
    assert pb.DESCRIPTOR.package == "etcdserverpb"
    assert kv_pb2.DESCRIPTOR.package == "mvccpb"
    assert "Message" in raft_pb2.DESCRIPTOR.message_types_by_name  # raftkv's own peer schema, not etcd's
    assert {"KV", "Watch", "Lease", "Cluster", "Maintenance", "Auth"} <= set(pb.DESCRIPTOR.services_by_name)


def test_put_request_bytes() -> None:
    msg = pb.PutRequest(key=b"foo", value=b"bar", lease=0x1234, prev_kv=True)
    expected = bytes.fromhex(
        "0a03666f6f"  # 1 key, bytes "foo"
        "1203626172"  # 2 value, bytes "bar"
        "18b424"      # 3 lease, varint 4660 = 0x34|0x80, 0x24
        "2001"        # 4 prev_kv, true
    )
    assert msg.SerializeToString() == expected
    assert pb.PutRequest.FromString(expected) == msg


def test_range_request_bytes() -> None:
    msg = pb.RangeRequest(key=b"a", range_end=b"b", limit=10, revision=300,
                          sort_order=pb.RangeRequest.DESCEND, sort_target=pb.RangeRequest.MOD,
                          serializable=True, keys_only=True, count_only=True, min_mod_revision=5)
    expected = bytes.fromhex(
        "0a0161"   # 1 key "a"
        "120162"   # 2 range_end "b"
        "180a"     # 3 limit 10
        "20ac02"   # 4 revision 300 = 0x2c|0x80, 0x02
        "2802"     # 5 sort_order DESCEND = 2
        "3003"     # 6 sort_target MOD = 3
        "3801"     # 7 serializable
        "4001"     # 8 keys_only
        "4801"     # 9 count_only
        "5005"     # 10 min_mod_revision 5
    )
    assert msg.SerializeToString() == expected
    assert pb.RangeRequest.FromString(expected) == msg


def test_txn_request_bytes() -> None:
    msg = pb.TxnRequest(
        compare=[pb.Compare(result=pb.Compare.GREATER, target=pb.Compare.MOD, key=b"k", mod_revision=5),
                 pb.Compare(result=pb.Compare.EQUAL, target=pb.Compare.VALUE, key=b"k", value=b"x")],
        success=[pb.RequestOp(request_put=pb.PutRequest(key=b"k", value=b"v"))],
        failure=[pb.RequestOp(request_range=pb.RangeRequest(key=b"k"))],
    )
    expected = bytes.fromhex(
        "0a09" "0801" "1002" "1a016b" "3005"  # 1 compare: result GREATER=1, target MOD=2, key, 6 mod_revision 5
        "0a08" "1003" "1a016b" "3a0178"       # 1 compare: EQUAL=0 omitted, target VALUE=3, key, 7 value "x"
        "1208" "1206" "0a016b" "120176"       # 2 success: RequestOp 2 request_put {key, value}
        "1a05" "0a03" "0a016b"                # 3 failure: RequestOp 1 request_range {key}
    )
    assert msg.SerializeToString() == expected
    assert pb.TxnRequest.FromString(expected) == msg


def test_watch_create_request_bytes() -> None:
    msg = pb.WatchRequest(create_request=pb.WatchCreateRequest(
        key=b"a", range_end=b"b", start_revision=7, prev_kv=True, filters=[pb.WatchCreateRequest.NODELETE]))
    inner = bytes.fromhex("0a0161" "120162" "1807" "2a0101" "3001")  # filters is packed: 5, len 1, NODELETE=1
    assert msg.SerializeToString() == bytes([0x0A, len(inner)]) + inner


def test_range_response_from_etcd_bytes_decodes() -> None:
    header = bytes.fromhex("0801" "1002" "1803" "2004")  # cluster_id 1, member_id 2, revision 3, raft_term 4
    kv = bytes.fromhex("0a016b" "1002" "1803" "2001" "2a0176" "3009")  # KeyValue: key, create 2, mod 3, ver 1, value, lease 9
    wire = bytes([0x0A, len(header)]) + header + bytes([0x12, len(kv)]) + kv + bytes.fromhex("1801" "2001")
    resp = pb.RangeResponse.FromString(wire)
    assert (resp.header.cluster_id, resp.header.member_id, resp.header.revision, resp.header.raft_term) == (1, 2, 3, 4)
    assert resp.more is True and resp.count == 1
    assert resp.kvs[0] == kv_pb2.KeyValue(key=b"k", create_revision=2, mod_revision=3, version=1, value=b"v", lease=9)


class RecordingChannel:
    """Stands in for a grpc.Channel: records the method paths and call kinds a stub asks for."""

    def __init__(self) -> None:
        self.calls: dict[str, str] = {}

    def _recorder(self, kind: str) -> Any:
        def make(path: str, *args: Any, **kwargs: Any) -> None:
            self.calls[path] = kind

        return make

    def __getattr__(self, name: str) -> Any:
        if name in ("unary_unary", "unary_stream", "stream_unary", "stream_stream"):
            return self._recorder(name)
        raise AttributeError(name)


def rpcs_in(proto_text: str) -> dict[str, str]:
    """`/package.Service/Method` -> call kind, from the service blocks of a .proto file."""
    package = re.search(r"^package\s+([\w.]+);", proto_text, re.M)
    assert package
    out = {}
    for service, body in re.findall(r"^service\s+(\w+)\s*\{(.*?)^\}", proto_text, re.M | re.S):
        for name, req_stream, resp_stream in re.findall(r"rpc\s+(\w+)\s*\((stream\s+)?[\w.]+\)\s*returns\s*"
                                                        r"\((stream\s+)?[\w.]+\)", body):
            kind = ("stream" if req_stream else "unary") + "_" + ("stream" if resp_stream else "unary")
            out[f"/{package.group(1)}.{service}/{name}"] = kind
    return out


def stub_paths() -> dict[str, str]:
    channel = RecordingChannel()
    for service in ("KV", "Watch", "Lease", "Cluster", "Maintenance", "Auth"):
        getattr(pb_grpc, f"{service}Stub")(channel)
    return channel.calls


def test_grpc_method_paths_are_etcds() -> None:
    calls = stub_paths()
    for path in ("/etcdserverpb.KV/Range", "/etcdserverpb.KV/Put", "/etcdserverpb.KV/DeleteRange",
                 "/etcdserverpb.KV/Txn", "/etcdserverpb.KV/Compact", "/etcdserverpb.Lease/LeaseGrant",
                 "/etcdserverpb.Cluster/MemberList", "/etcdserverpb.Maintenance/Status"):
        assert calls[path] == "unary_unary", path
    assert calls["/etcdserverpb.Watch/Watch"] == "stream_stream"
    assert calls["/etcdserverpb.Lease/LeaseKeepAlive"] == "stream_stream"
    assert calls["/etcdserverpb.Maintenance/Snapshot"] == "unary_stream"


def debian_proto() -> str:
    found = next((p for p in DEBIAN_RPC_PROTOS if p.exists()), None)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"etcd's rpc.proto not found in {[str(p) for p in DEBIAN_RPC_PROTOS]}: scripts/test unpacks it")
        pytest.skip("etcd's rpc.proto is not here (Debian's golang-etcd-server-dev; scripts/test unpacks it)")
    return found.read_text()


def test_every_etcd_3_4_rpc_has_a_stub_with_the_same_streaming() -> None:
    expected = rpcs_in(debian_proto())
    assert len(expected) == 39  # etcd 3.4: KV 5, Watch 1, Lease 5, Cluster 5, Maintenance 7, Auth 16
    calls = stub_paths()
    assert {path: calls.get(path) for path in expected} == expected


SCALARS = {"int64": FieldDescriptor.TYPE_INT64, "uint64": FieldDescriptor.TYPE_UINT64,
           "int32": FieldDescriptor.TYPE_INT32, "uint32": FieldDescriptor.TYPE_UINT32,
           "bool": FieldDescriptor.TYPE_BOOL, "string": FieldDescriptor.TYPE_STRING,
           "bytes": FieldDescriptor.TYPE_BYTES, "double": FieldDescriptor.TYPE_DOUBLE}
FIELD = re.compile(r"^\s*(repeated\s+)?([\w.]+)\s+(\w+)\s*=\s*(\d+)")


ENUM_VALUE = re.compile(r"^\s*(\w+)\s*=\s*(\d+)")


def fields_in(proto_text: str) -> tuple[dict[str, list[tuple[str, str, int, bool]]], dict[str, dict[str, int]]]:
    """From .proto text: message name (nested ones dotted) -> [(type, field name, number, repeated)],
    and enum name (dotted) -> {value name: number}."""
    out: dict[str, list[tuple[str, str, int, bool]]] = {}
    enums: dict[str, dict[str, int]] = {}
    stack: list[tuple[str, str]] = []  # (block kind, name) of the enclosing blocks
    for line in re.sub(r"//[^\n]*", "", proto_text).splitlines():
        if stack and stack[-1][0] in ("message", "oneof") and (m := FIELD.match(line)):
            owner = ".".join(name for kind, name in stack if kind == "message")
            out.setdefault(owner, []).append((m.group(2), m.group(3), int(m.group(4)), bool(m.group(1))))
        elif stack and stack[-1][0] == "enum" and (m := ENUM_VALUE.match(line)):
            owner = ".".join(name for kind, name in stack if kind in ("message", "enum"))
            enums.setdefault(owner, {})[m.group(1)] = int(m.group(2))
        if "{" in line:
            opened = re.match(r"^\s*(message|enum|oneof|service)\s+(\w+)", line)
            stack.append((opened.group(1), opened.group(2)) if opened else ("other", ""))
        for _ in range(line.count("}")):
            stack.pop()
    return out, enums


def descriptor_for(name: str) -> Descriptor:
    parts = name.split(".")
    desc = pb.DESCRIPTOR.message_types_by_name[parts[0]]
    for part in parts[1:]:
        desc = desc.nested_types_by_name[part]
    return desc


def test_every_etcd_3_4_field_has_the_same_number_and_type() -> None:
    expected, _ = fields_in(debian_proto())
    assert {"RangeRequest", "PutRequest", "TxnRequest", "Compare", "WatchCreateRequest"} <= set(expected)
    checked = 0
    for message, fields in expected.items():
        desc = descriptor_for(message)
        for type_name, field_name, number, repeated in fields:
            ours = desc.fields_by_name.get(field_name)
            assert ours is not None, f"{message}.{field_name} is missing"
            assert ours.number == number, f"{message}.{field_name}: field {ours.number}, etcd has {number}"
            is_repeated = ours.is_repeated
            assert is_repeated == repeated, f"{message}.{field_name}: repeated is {is_repeated}"
            if type_name in SCALARS:
                assert ours.type == SCALARS[type_name], f"{message}.{field_name}: not {type_name}"
            else:
                named = ours.message_type or ours.enum_type
                assert named is not None and named.name == type_name.split(".")[-1], f"{message}.{field_name}"
            checked += 1
    assert checked > 150


def test_every_etcd_3_4_enum_value_has_the_same_number() -> None:
    _, expected = fields_in(debian_proto())
    assert expected["RangeRequest.SortTarget"]["MOD"] == 3 and "Compare.CompareResult" in expected
    for name, values in expected.items():
        parts = name.split(".")
        enum = descriptor_for(".".join(parts[:-1])).enum_types_by_name[parts[-1]] if len(parts) > 1 \
            else pb.DESCRIPTOR.enum_types_by_name[name]
        assert {v.name: v.number for v in enum.values if v.name in values} == values, name
