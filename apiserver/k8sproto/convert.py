"""A parsed Kubernetes protobuf message -> the JSON-shaped dict the JSON path produces; pure.

Schema-aware rules, all read from the message descriptors except the few Go facts that a .proto
file cannot say (INLINE embedding and the special JSON forms of apimachinery types):
- presence: a plain proto3 scalar is a Go value field, written by Go even when zero; its zero value is
  left out (Go's `omitempty`) unless the field is one Go's JSON always writes (schema.REQUIRED: no
  `omitempty`, e.g. a container status's `ready: false`). An `optional` scalar is a Go pointer: present
  means set, even to 0/""/false. Messages are emitted whenever present (Go writes value structs always).
- Time -> RFC 3339 seconds, MicroTime -> RFC 3339 with microseconds, zero -> left out;
  Duration -> Go's duration string; IntOrString -> number or string; Quantity -> its string;
  RawExtension / FieldsV1 raw bytes -> the embedded JSON value; ExtraValue -> a list;
  other `bytes` -> base64; maps -> objects; Go-embedded structs (INLINE) merge into their parent.
- Unknown fields: a field number the schema lacks, or a known number with the wrong wire type, is refused
  with a 400 naming the message, the field and where it sits; a zero-valued unknown field is ignored
  (Go writes zero value fields of types newer than ours).
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import json
from collections.abc import Callable
from typing import Any

from google.protobuf import unknown_fields
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from apiserver.errors import APIError, bad_request
from apiserver.k8sproto.schema import REQUIRED

META = "k8s.io.apimachinery.pkg.apis.meta.v1"
CORE = "k8s.io.api.core.v1"

# Go struct embedding (`json:",inline"`): go-to-protobuf gives the embedded struct a field of its own,
# JSON flattens its fields into the parent object.
INLINE: frozenset[tuple[str, str]] = frozenset({
    (f"{CORE}.EphemeralContainer", "ephemeralContainerCommon"),
    (f"{CORE}.Probe", "handler"),
    (f"{CORE}.Volume", "volumeSource"),
    *((f"{CORE}.{m}", "localObjectReference") for m in (
        "ConfigMapEnvSource", "ConfigMapKeySelector", "ConfigMapProjection", "ConfigMapVolumeSource",
        "SecretEnvSource", "SecretKeySelector", "SecretProjection")),
    ("k8s.io.api.admissionregistration.v1.RuleWithOperations", "rule"),
})

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# Wire types: what a field of each descriptor type must arrive as (repeated scalars may also be packed).
_LEN = 2
_WIRE = {FieldDescriptor.TYPE_STRING: _LEN, FieldDescriptor.TYPE_BYTES: _LEN, FieldDescriptor.TYPE_MESSAGE: _LEN,
         FieldDescriptor.TYPE_DOUBLE: 1, FieldDescriptor.TYPE_FLOAT: 5}


def _instant(msg: Any, path: str) -> dt.datetime | None:
    seconds, nanos = msg.seconds, msg.nanos
    if seconds == 0 and nanos == 0:
        return None  # metav1.Time's zero value: JSON null, left out like an unset field
    try:
        return _EPOCH + dt.timedelta(seconds=seconds, microseconds=nanos // 1000)
    except OverflowError as e:
        raise bad_request(f"protobuf time at {path or 'the top level'} is out of range: {seconds}s") from e


def _rfc3339(d: dt.datetime, micros: bool) -> str:
    if not 0 <= d.year <= 9999:  # pragma: no cover - datetime itself stops at 9999
        raise bad_request("protobuf time is outside the years 0-9999")
    base = f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d.hour:02d}:{d.minute:02d}:{d.second:02d}"
    return f"{base}.{d.microsecond:06d}Z" if micros else f"{base}Z"


def _time(msg: Any, path: str) -> str | None:
    d = _instant(msg, path)
    return None if d is None else _rfc3339(d, micros=False)


def _micro_time(msg: Any, path: str) -> str | None:
    d = _instant(msg, path)
    return None if d is None else _rfc3339(d, micros=True)


def _decimal(value: int, digits: int) -> str:
    whole, frac = divmod(value, 10 ** digits)
    tail = f"{frac:0{digits}d}".rstrip("0")
    return f"{whole}.{tail}" if tail else str(whole)


def go_duration(ns: int) -> str:
    """Go's time.Duration.String(): `1h2m3.5s`, `1.5ms`, `0s`."""
    if ns == 0:
        return "0s"
    sign, u = ("-" if ns < 0 else ""), abs(ns)
    if u < 1000:
        return f"{sign}{u}ns"
    if u < 1_000_000:
        return f"{sign}{_decimal(u, 3)}µs"
    if u < 1_000_000_000:
        return f"{sign}{_decimal(u, 6)}ms"
    secs, frac = divmod(u, 1_000_000_000)
    hours, rest = divmod(secs, 3600)
    minutes, seconds = divmod(rest, 60)
    s = _decimal(seconds * 1_000_000_000 + frac, 9) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{s}"
    return f"{sign}{minutes}m{s}" if minutes else f"{sign}{s}"


def _embedded_json(raw: bytes, path: str) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError as e:
        raise bad_request(f"protobuf field {path}: the embedded object is not JSON ({e})") from e


def _int_or_string(msg: Any, path: str) -> Any:
    kind = msg.type
    if kind == 0:
        return msg.intVal
    if kind == 1:
        return msg.strVal
    raise bad_request(f"protobuf IntOrString at {path} has type {kind}; it must be 0 (int) or 1 (string)")


_SPECIAL: dict[str, Callable[[Any, str], Any]] = {
    f"{META}.Time": _time,
    f"{META}.MicroTime": _micro_time,
    f"{META}.Duration": lambda m, p: go_duration(m.duration),
    f"{META}.FieldsV1": lambda m, p: _embedded_json(m.Raw, p),
    "k8s.io.apimachinery.pkg.runtime.RawExtension": lambda m, p: _embedded_json(m.raw, p),
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString": _int_or_string,
    "k8s.io.apimachinery.pkg.api.resource.Quantity": lambda m, p: m.string,
    "k8s.io.api.authorization.v1.ExtraValue": lambda m, p: list(m.items),
    "k8s.io.api.authentication.v1.ExtraValue": lambda m, p: list(m.items),
}


def _check_unknown(msg: Message, d: Descriptor, path: str) -> None:
    for f in unknown_fields.UnknownFieldSet(msg):
        num, wire, data = f.field_number, f.wire_type, f.data
        where = f" at {path}" if path else ""
        known = d.fields_by_number.get(num)
        if known is not None:
            want = _WIRE.get(known.type, 0)
            raise bad_request(f"protobuf field {num} ({known.json_name}) of {d.full_name}{where} has wire type "
                              f"{wire}; {known.type_name if known.message_type else 'this type'} needs wire "
                              f"type {want}")
        if (wire == 0 and data == 0) or (wire == _LEN and data == b""):
            continue  # a zero value of a Go field newer than this schema: JSON would omit it
        raise bad_request(f"protobuf field {num} of {d.full_name}{where} is not in the Kubernetes 1.32 "
                          "schema this server decodes")


# How each field of a message turns into JSON, worked out once per message type.
_MAP, _LIST, _INLINE, _ONE = range(4)
_Plan = tuple[dict[str, tuple[int, str, bool, bool]], tuple[tuple[str, Any], ...]]


def _zero(field: FieldDescriptor) -> Any:
    if field.type in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES):
        return ""
    return False if field.type == FieldDescriptor.TYPE_BOOL else 0


@functools.cache
def _plan(d: Descriptor, required: frozenset[str]) -> _Plan:
    """Per field name: (shape, JSON key, value is a message, value is bytes); and the zero values to write for
    always-written scalar fields (REQUIRED of this message, plus `required` of a parent that embeds it)."""
    fields: dict[str, tuple[int, str, bool, bool]] = {}
    for f in d.fields:
        if f.message_type is not None and f.message_type.GetOptions().map_entry:
            value = f.message_type.fields_by_name["value"]
            fields[f.name] = (_MAP, f.json_name, value.message_type is not None,
                              value.type == FieldDescriptor.TYPE_BYTES)
            continue
        shape = _LIST if f.is_repeated else _INLINE if (d.full_name, f.name) in INLINE else _ONE
        fields[f.name] = (shape, f.json_name, f.message_type is not None, f.type == FieldDescriptor.TYPE_BYTES)
    always = REQUIRED.get(d.full_name, frozenset()) | required
    zeros = tuple((f.json_name, _zero(f)) for f in d.fields
                  if f.json_name in always and f.message_type is None and not f.is_repeated and not f.has_presence)
    return fields, zeros


def _one(value: Any, is_message: bool, is_bytes: bool, path: str) -> Any:
    if is_message:
        return to_json(value, path)
    return base64.b64encode(value).decode() if is_bytes else value


def to_json(msg: Any, path: str = "", required: frozenset[str] = frozenset()) -> Any:
    """The JSON form of one parsed message (a dict, or a scalar for the special apimachinery types).

    `required` adds the always-written JSON names of a parent that embeds this message (INLINE).
    """
    d = msg.DESCRIPTOR
    _check_unknown(msg, d, path)
    special = _SPECIAL.get(d.full_name)
    if special is not None:
        return special(msg, path)
    fields, zeros = _plan(d, required)
    out: dict[str, Any] = {}
    for field, value in msg.ListFields():
        shape, key, is_message, is_bytes = fields[field.name]
        at = f"{path}.{key}" if path else key
        if shape == _MAP:
            out[key] = {k: _one(v, is_message, is_bytes, f"{at}[{k}]") for k, v in value.items()}
        elif shape == _LIST:
            if is_message:
                out[key] = [to_json(v, f"{at}[{i}]") for i, v in enumerate(value)]
            else:
                out[key] = [base64.b64encode(v).decode() for v in value] if is_bytes else list(value)
        elif shape == _INLINE:
            inner = to_json(value, path, REQUIRED.get(d.full_name, frozenset()) | required)
            if not isinstance(inner, dict):  # pragma: no cover - INLINE names plain messages only
                raise APIError(f"inline field {field.name} of {d.full_name} is not an object", "InternalError", 500)
            out.update(inner)
        else:
            converted = _one(value, is_message, is_bytes, at)
            if converted is not None:
                out[key] = converted
    for key, zero in zeros:
        out.setdefault(key, zero)
    return out
