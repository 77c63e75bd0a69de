"""Protobuf request bodies: the wire schema against the v1.32 definitions, the converter's rules, and refusals.

Bodies are built by hand from the upstream field numbers (k8s.io/api and apimachinery v0.32), the way
Go's go-to-protobuf marshaller writes them: value fields always (even when zero), pointer fields only when
set. `test_protobuf_golden.py` has one golden object per served kind; `test_protobuf_e2e.py` sends them
to a real server.
"""

from __future__ import annotations

import ast
import json
import pathlib

import pytest

from apiserver.errors import APIError
from apiserver.k8sproto import convert, schema
from apiserver.protobuf import MAGIC, decode_object

pytestmark = pytest.mark.unit
ROOT = pathlib.Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------ the wire format, by hand
def varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative int32/int64 go as 10-byte two's complement, as in Go
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def vi(num: int, value: int | bool) -> bytes:
    """A varint field (int32, int64, bool)."""
    return varint(num << 3) + varint(int(value))


def ln(num: int, payload: bytes | str) -> bytes:
    """A length-delimited field (string, bytes, embedded message)."""
    data = payload.encode() if isinstance(payload, str) else payload
    return varint(num << 3 | 2) + varint(len(data)) + data


def entry(num: int, key: str, value: bytes | str) -> bytes:
    """One map<string, V> entry: a message with the key as field 1 and the value as field 2."""
    return ln(num, ln(1, key) + ln(2, value))


def time_(seconds: int, nanos: int = 0) -> bytes:
    """meta/v1 Time or MicroTime: seconds = 1, nanos = 2."""
    return vi(1, seconds) + (vi(2, nanos) if nanos else b"")


def qty(value: str) -> bytes:
    """resource.Quantity: string = 1."""
    return ln(1, value)


def int_or_str(value: int | str) -> bytes:
    """intstr.IntOrString: type = 1 (0 int, 1 string), intVal = 2, strVal = 3."""
    if isinstance(value, int):
        return vi(1, 0) + vi(2, value) + ln(3, "")
    return vi(1, 1) + vi(2, 0) + ln(3, value)


def meta(name: str, namespace: str = "", *, rv: str = "", labels: dict[str, str] | None = None,
         extra: bytes = b"") -> bytes:
    """ObjectMeta as Go writes it: name 1, generateName 2, namespace 3, selfLink 4, uid 5, resourceVersion 6,
    generation 7, creationTimestamp 8 (all value fields, so present even when empty), labels 11."""
    out = ln(1, name) + ln(2, "") + ln(3, namespace) + ln(4, "") + ln(5, "") + ln(6, rv) + vi(7, 0) + ln(8, b"")
    for k, v in (labels or {}).items():
        out += entry(11, k, v)
    return out + extra


def envelope(api_version: str, kind: str, raw: bytes, content_type: str = "", encoding: str = "") -> bytes:
    """`k8s\\0` + runtime.Unknown{typeMeta 1 {apiVersion 1, kind 2}, raw 2, contentEncoding 3, contentType 4}."""
    type_meta = ln(1, api_version) + ln(2, kind)
    return MAGIC + ln(1, type_meta) + ln(2, raw) + ln(3, encoding) + ln(4, content_type)


def refused(body: bytes) -> APIError:
    with pytest.raises(APIError) as e:
        decode_object(body)
    return e.value


# ------------------------------------------------------------------ the schema is Kubernetes 1.32's
def _json_names(d) -> set[str]:
    names: set[str] = set()
    for f in d.fields:
        if (d.full_name, f.name) in convert.INLINE:
            names |= _json_names(f.message_type)
        else:
            names.add(f.json_name)
    return names


def _reachable() -> dict[str, object]:
    seen: dict[str, object] = {}
    inline: set[str] = set()

    def walk(d) -> None:
        if d.full_name in seen:
            return
        seen[d.full_name] = d
        for f in d.fields:
            if f.message_type is not None:
                if (d.full_name, f.name) in convert.INLINE:
                    inline.add(f.message_type.full_name)
                walk(f.message_type)

    for name in sorted(set(schema.KINDS.values()) | {schema.DELETE_OPTIONS}):
        walk(schema.descriptor(name))
    return {k: v for k, v in seen.items() if k not in inline and not v.GetOptions().map_entry}


def test_every_served_kind_and_subresource_body_has_a_message():
    from apiserver.api.resources import RESOURCES
    for r in RESOURCES:
        assert schema.message_name(r.group_version, r.kind) == f"{schema.package_of(r.group_version)}.{r.kind}"
        schema.descriptor(schema.message_name(r.group_version, r.kind))  # KeyError if the .proto lacks it
        assert schema.message_name(r.group_version, "DeleteOptions") == schema.DELETE_OPTIONS
    for gv, kind in schema.SUBRESOURCE_KINDS:
        schema.descriptor(schema.message_name(gv, kind))
    assert schema.message_name("apps/v1", "Frobnicator") is None


def test_every_reachable_message_has_exactly_the_fields_of_the_v1_32_definition():
    """Field names (after Go embedding) equal the OpenAPI v1.32 properties: nothing missing, nothing newer."""
    definitions = json.loads((ROOT / "apiserver/api/data/definitions-v1.32.json").read_text())
    kinds = set(schema.KINDS.values()) | {schema.DELETE_OPTIONS}
    checked = 0
    for name, d in _reachable().items():
        if name in convert._SPECIAL:
            continue
        definition = definitions["io.k8s." + name[len("k8s.io."):]]
        want = set(definition.get("properties", {}))
        if name in kinds:
            want -= {"apiVersion", "kind"}  # TypeMeta travels in the envelope, not in the message
        assert _json_names(d) == want, name
        checked += 1
    assert checked > 250


def test_pointer_fields_are_optional_and_value_fields_are_not():
    """Spot checks of Go pointer-ness (types.go): `optional` exactly where zero is meaningful."""
    def presence(msg: str, field: str) -> bool:
        return schema.descriptor(msg).fields_by_name[field].has_presence
    core, apps = "k8s.io.api.core.v1", "k8s.io.api.apps.v1"
    for msg, field in [(f"{apps}.DeploymentSpec", "replicas"), (f"{core}.PodSpec", "terminationGracePeriodSeconds"),
                       (f"{core}.SecurityContext", "runAsUser"), (f"{core}.SecurityContext", "allowPrivilegeEscalation"),
                       (f"{core}.ServiceAccount", "automountServiceAccountToken"),
                       (f"{core}.PersistentVolumeClaimSpec", "storageClassName"),
                       (f"{core}.Toleration", "tolerationSeconds"), ("k8s.io.api.batch.v1.JobSpec", "backoffLimit"),
                       ("k8s.io.api.coordination.v1.LeaseSpec", "holderIdentity")]:
        assert presence(msg, field), (msg, field)
    for msg, field in [(f"{apps}.DeploymentSpec", "minReadySeconds"), (f"{apps}.DeploymentSpec", "paused"),
                       (f"{core}.ContainerPort", "hostPort"), (f"{core}.PodSpec", "hostNetwork"),
                       (f"{schema.META}.ObjectMeta", "namespace")]:
        assert not presence(msg, field), (msg, field)


def test_the_compiled_schema_is_current():
    """apiserver/k8sproto/k8s.binpb is what scripts/gen_k8s_proto.py makes from proto/k8s.io."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("gen_k8s_proto", ROOT / "scripts/gen_k8s_proto.py")
    assert spec and spec.loader
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert gen.compile_descriptors() == schema.DESCRIPTORS.read_bytes()


@pytest.mark.parametrize("path", ["apiserver/protobuf.py", "apiserver/k8sproto/convert.py"])
def test_decoder_is_pure(path):
    tree = ast.parse((ROOT / path).read_text())
    roots = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    roots |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not roots & {"asyncio", "grpc", "socket", "time", "random", "os", "threading", "aiohttp", "ssl"}


# ------------------------------------------------------------------ converter rules
def test_value_fields_drop_zeros_pointer_fields_keep_them_and_always_written_fields_stay():
    # ContainerStatus: name 1, ready 4 (value, always written), restartCount 5, image 6, imageID 7,
    # started 9 (pointer). Go writes ready=false and restartCount=0; JSON has them too.
    status = ln(1, "c") + vi(4, False) + vi(5, 0) + ln(6, "img") + ln(7, "") + ln(8, "") + vi(9, False)
    pod = ln(1, meta("p", "ns")) + ln(3, ln(1, "Pending") + ln(8, status))
    obj = decode_object(envelope("v1", "Pod", pod))
    assert obj["status"]["containerStatuses"] == [
        {"name": "c", "ready": False, "restartCount": 0, "image": "img", "imageID": "", "started": False}]
    assert obj["metadata"] == {"name": "p", "namespace": "ns"}  # empty value fields and zero Time left out


def test_deployment_scaled_to_zero_keeps_replicas_and_int_or_string_zero():
    # DeploymentSpec: replicas 1 (pointer) = 0, strategy 4 {type 1, rollingUpdate 2 {maxUnavailable 1 = 0,
    # maxSurge 2 = "25%"}}, minReadySeconds 5 = 0 (value), paused 7 = false (value)
    rolling = ln(1, int_or_str(0)) + ln(2, int_or_str("25%"))
    spec = vi(1, 0) + ln(4, ln(1, "RollingUpdate") + ln(2, rolling)) + vi(5, 0) + vi(7, False)
    obj = decode_object(envelope("apps/v1", "Deployment", ln(1, meta("d", "ns")) + ln(2, spec)))
    assert obj["spec"] == {"replicas": 0, "strategy": {"type": "RollingUpdate",
                                                       "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}}}


def test_times_micro_times_and_negative_numbers():
    # Lease spec: holderIdentity 1, leaseDurationSeconds 2, acquireTime 3 (MicroTime), renewTime 4, transitions 5
    spec = ln(1, "node-1") + vi(2, 40) + ln(3, time_(1700000000, 123456789)) + ln(4, time_(0)) + vi(5, -1)
    obj = decode_object(envelope("coordination.k8s.io/v1", "Lease", ln(1, meta("n", "kube-node-lease")) + ln(2, spec)))
    assert obj["spec"] == {"holderIdentity": "node-1", "leaseDurationSeconds": 40,
                           "acquireTime": "2023-11-14T22:13:20.123456Z", "leaseTransitions": -1}


@pytest.mark.parametrize("ns,text", [(0, "0s"), (1, "1ns"), (1500, "1.5µs"), (2_500_000, "2.5ms"),
                                     (1_000_000_000, "1s"), (90 * 10**9, "1m30s"), (3600 * 10**9, "1h0m0s"),
                                     (3723_500_000_000, "1h2m3.5s"), (-5 * 10**9, "-5s")])
def test_go_duration_strings(ns, text):
    assert convert.go_duration(ns) == text


# ------------------------------------------------------------------ refusals: 400 for bad bodies, 415 for kinds
@pytest.mark.parametrize("body,needle", [
    (b"{}", "magic"),
    (MAGIC + b"\x0a\x05", "field 1 at byte 0 claims 5 bytes but only 0 remain"),  # the envelope itself
    (MAGIC, "names no apiVersion and kind"),
    (envelope("v1", "", b""), "names no apiVersion and kind"),
    (envelope("v1", "ConfigMap", ln(1, ln(1, "x")) + b"\x10\xff\xff"), "truncated varint (field 2) at byte 6"),
    (envelope("v1", "ConfigMap", ln(1, ln(1, "x")) + b"\xff"), "truncated varint (a field tag) at byte 5"),
    (envelope("v1", "ConfigMap", b"\x0a\xff\xff\xff\xff\x0f" + b"x"), "claims 4294967295 bytes but only 1 remain"),
    (envelope("v1", "ConfigMap", ln(1, ln(13, b"\x0a\x09abc"))),
     "in field 1 (metadata): in field 13 (ownerReferences): field 1 at byte 0 claims 9 bytes but only 3 remain"),
    (envelope("v1", "ConfigMap", ln(1, ln(1, b"\xff\xfe"))), "UTF-8"),
    (envelope("v1", "ConfigMap", b"\x0f\x00"), "invalid wire type 7 (field 1) at byte 0"),
    (envelope("v1", "ConfigMap", varint(99 << 3 | 3) * 150 + varint(99 << 3 | 4) * 150),
     "nest deeper than 100 levels"),
])
def test_malformed_bodies_are_400(body, needle):
    err = refused(body)
    assert err.code == 400 and err.reason == "BadRequest"
    assert needle in err.message, err.message


def test_unknown_field_is_named_and_zero_valued_unknown_fields_are_ignored():
    cm = ln(1, meta("c", "ns")) + entry(2, "a", "b")
    err = refused(envelope("v1", "ConfigMap", cm + ln(99, "surprise")))
    assert err.code == 400 and "field 99 of k8s.io.api.core.v1.ConfigMap" in err.message
    nested = ln(1, meta("c", "ns", extra=vi(40, 7)))
    err = refused(envelope("v1", "ConfigMap", nested))
    assert "field 40 of k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta at metadata" in err.message
    # a newer Go client writes its zero-valued new fields; JSON would not carry them
    assert decode_object(envelope("v1", "ConfigMap", cm + vi(99, 0) + ln(98, b"")))["data"] == {"a": "b"}


def test_wrong_wire_type_for_a_known_field_is_named():
    # containerPort 3 is an int32 (varint); send it length-delimited
    port = ln(1, "http") + ln(3, "80")
    spec = ln(2, ln(1, "c") + ln(6, port))
    err = refused(envelope("v1", "Pod", ln(1, meta("p")) + ln(2, spec)))
    assert err.code == 400
    assert "field 3 (containerPort) of k8s.io.api.core.v1.ContainerPort at spec.containers[0].ports[0]" in err.message


def test_bad_embedded_values_are_400():
    rev = ln(1, meta("r", "ns")) + ln(2, ln(1, b"not json")) + vi(3, 1)
    assert "not JSON" in refused(envelope("apps/v1", "ControllerRevision", rev)).message
    port = ln(1, "p") + ln(4, vi(1, 2) + vi(2, 80))  # IntOrString type 2 does not exist
    svc = ln(1, meta("s", "ns")) + ln(2, ln(1, port))
    assert "type 2" in refused(envelope("v1", "Service", svc)).message


@pytest.mark.parametrize("body", [
    envelope("apps/v1", "Frobnicator", b""),
    envelope("networking.k8s.io/v1", "Ingress", b""),
    envelope("v1", "ConfigMap", b"", encoding="gzip"),
    envelope("v1", "ConfigMap", b"", content_type="application/cbor"),
])
def test_kinds_and_encodings_this_server_does_not_serve_are_415(body):
    err = refused(body)
    assert err.code == 415 and err.reason == "UnsupportedMediaType"


def test_json_inside_the_envelope_is_accepted():
    body = envelope("v1", "ConfigMap", b'{"metadata":{"name":"c"},"data":{"k":"v"}}', content_type="application/json")
    assert decode_object(body) == {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                                   "data": {"k": "v"}}
