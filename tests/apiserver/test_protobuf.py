"""Protobuf request bodies, checked against bytes built by hand from the k8s.io/api field numbers."""

import pytest

from apiserver.errors import APIError
from apiserver.protobuf import MAGIC, decode_object

pytestmark = pytest.mark.unit


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(num: int, payload: bytes | int) -> bytes:
    if isinstance(payload, int):
        return varint(num << 3) + varint(payload)
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    type_meta = field(1, api_version.encode()) + field(2, kind.encode())
    return MAGIC + field(1, type_meta) + field(2, raw) + field(3, b"") + field(4, b"")


def test_configmap_from_kubectl_create_shape():
    meta = field(1, b"c1") + field(2, b"") + field(3, b"ns") + field(8, b"") + \
        field(11, field(1, b"app") + field(2, b"web"))
    raw = field(1, meta) + field(2, field(1, b"a") + field(2, b"b")) + field(2, field(1, b"x") + field(2, b"y"))
    obj = decode_object(envelope("v1", "ConfigMap", raw))
    assert obj == {"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "b", "x": "y"},
                   "metadata": {"name": "c1", "namespace": "ns", "labels": {"app": "web"}}}


def test_secret_bytes_become_base64_and_finalizers_repeat():
    raw = field(1, field(1, b"s") + field(14, b"f1") + field(14, b"f2")) + \
        field(2, field(1, b"pw") + field(2, b"hunter2")) + field(3, b"Opaque")
    obj = decode_object(envelope("v1", "Secret", raw))
    assert obj["data"] == {"pw": "aHVudGVyMg=="} and obj["type"] == "Opaque"
    assert obj["metadata"]["finalizers"] == ["f1", "f2"]


@pytest.mark.parametrize("body,code", [
    (b"{}", 400),
    (MAGIC + b"\x0a\x05", 400),
    (envelope("apps/v1", "StatefulSet", b""), 415),
    (envelope("v1", "ConfigMap", field(99, b"x")), 400),
])
def test_refusals(body, code):
    with pytest.raises(APIError) as e:
        decode_object(body)
    assert e.value.code == code


def test_service_ports_carry_int_or_string_target_ports():
    def port(number: int, target: bytes) -> bytes:
        return field(1, b"80-8080") + field(2, b"TCP") + bytes([0x18]) + bytes([number]) + field(4, target)
    int_target = bytes([0x08, 0x00, 0x10, 0x50])  # IntOrString{type: Int, intVal: 80}
    str_target = bytes([0x08, 0x01]) + field(3, b"http")
    spec = field(1, port(80, int_target)) + field(1, port(81, str_target)) + field(4, b"ClusterIP")
    obj = decode_object(envelope("v1", "Service", field(2, spec)))
    assert [p["targetPort"] for p in obj["spec"]["ports"]] == [80, "http"]
    assert obj["spec"]["type"] == "ClusterIP"
