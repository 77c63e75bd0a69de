"""The `/openapi/v2` document as gnostic's `openapi.v2.Document` protobuf; pure.

kubectl asks for `/openapi/v2` with `Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf` only
(for `explain --output=plaintext-openapiv2` and as apply's fallback for patch metadata) and cannot read JSON there.
kube-apiserver builds this protobuf by parsing its JSON Swagger with gnostic (`openapi_v2.ParseDocument`); this
module does the same mapping for the subset our documents use, writing the wire format by hand (message and field
numbers from gnostic-models `openapiv2/OpenAPIv2.proto`). Values of vendor extensions, `default`, `enum` and
`example` are gnostic `Any`s carrying YAML text: JSON is YAML, and kube-openapi reads them back with a YAML parser.
"""

from __future__ import annotations

import json
import struct
from typing import Any


def _varint(n: int) -> bytes:
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


class _Msg:
    """Accumulates one message's fields; proto3 zero values are not written, as Go's proto.Marshal omits them."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def raw(self, num: int, payload: bytes) -> _Msg:
        self.buf += _varint(num << 3 | 2) + _varint(len(payload)) + payload
        return self

    def message(self, num: int, m: _Msg | None) -> _Msg:
        return self.raw(num, bytes(m.buf)) if m is not None else self

    def string(self, num: int, s: Any) -> _Msg:
        return self.raw(num, str(s).encode()) if s not in (None, "") else self

    def strings(self, num: int, items: Any) -> _Msg:
        for s in items or []:
            self.raw(num, str(s).encode())
        return self

    def boolean(self, num: int, b: Any) -> _Msg:
        if b:
            self.buf += _varint(num << 3) + b"\x01"
        return self

    def integer(self, num: int, n: Any) -> _Msg:
        if isinstance(n, int) and not isinstance(n, bool) and n:
            self.buf += _varint(num << 3) + _varint(n)
        return self

    def double(self, num: int, x: Any) -> _Msg:
        if isinstance(x, (int, float)) and not isinstance(x, bool) and x:
            self.buf += _varint(num << 3 | 1) + struct.pack("<d", float(x))
        return self


def _any(value: Any) -> _Msg:
    return _Msg().string(2, json.dumps(value, separators=(",", ":")) + "\n")  # Any{yaml = 2}


def _extensions(m: _Msg, num: int, obj: dict[str, Any]) -> _Msg:
    for k, v in obj.items():
        if k.startswith("x-"):
            m.message(num, _Msg().string(1, k).message(2, _any(v)))  # NamedAny{name = 1, value = 2}
    return m


def schema(s: dict[str, Any]) -> _Msg:
    m = _Msg().string(1, s.get("$ref")).string(2, s.get("format")).string(3, s.get("title")).string(4, s.get("description"))
    if "default" in s:
        m.message(5, _any(s["default"]))
    m.double(6, s.get("multipleOf")).double(7, s.get("maximum")).boolean(8, s.get("exclusiveMaximum"))
    m.double(9, s.get("minimum")).boolean(10, s.get("exclusiveMinimum")).integer(11, s.get("maxLength"))
    m.integer(12, s.get("minLength")).string(13, s.get("pattern")).integer(14, s.get("maxItems")).integer(15, s.get("minItems"))
    m.boolean(16, s.get("uniqueItems")).integer(17, s.get("maxProperties")).integer(18, s.get("minProperties"))
    m.strings(19, s.get("required"))
    for e in s.get("enum") or []:
        m.message(20, _any(e))
    ap = s.get("additionalProperties")
    if isinstance(ap, dict):
        m.message(21, _Msg().message(1, schema(ap)))  # AdditionalPropertiesItem{schema = 1}
    elif isinstance(ap, bool):
        m.message(21, _Msg().boolean(2, True) if ap else _bool_false())
    if "type" in s:
        m.message(22, _Msg().strings(1, s["type"] if isinstance(s["type"], list) else [s["type"]]))  # TypeItem
    items = s.get("items")
    if isinstance(items, dict):
        m.message(23, _Msg().message(1, schema(items)))  # ItemsItem{repeated Schema schema = 1}
    for sub in s.get("allOf") or []:
        m.message(24, schema(sub))
    if isinstance(s.get("properties"), dict):
        props = _Msg()
        for name, sub in s["properties"].items():
            props.message(1, _Msg().string(1, name).message(2, schema(sub)))  # NamedSchema
        m.message(25, props)
    m.string(26, s.get("discriminator")).boolean(27, s.get("readOnly"))
    if "example" in s:
        m.message(30, _any(s["example"]))
    return _extensions(m, 31, s)


def _bool_false() -> _Msg:
    """AdditionalPropertiesItem{boolean = false}: the oneof is set, so the zero value is written."""
    m = _Msg()
    m.buf += _varint(2 << 3) + b"\x00"
    return m


def _parameter(p: dict[str, Any]) -> _Msg:
    if "$ref" in p:
        return _Msg().message(2, _Msg().string(1, p["$ref"]).string(2, p.get("description")))  # JsonReference
    if p.get("in") == "body":
        body = (_Msg().string(1, p.get("description")).string(2, p.get("name")).string(3, "body")
                .boolean(4, p.get("required")).message(5, schema(p.get("schema") or {})))
        return _Msg().message(1, _Msg().message(1, _extensions(body, 6, p)))  # ParametersItem{Parameter{body = 1}}
    where = p.get("in")
    sub = _Msg().boolean(1, p.get("required")).string(2, where).string(3, p.get("description")).string(4, p.get("name"))
    if where == "path":  # PathParameterSubSchema
        sub.string(5, p.get("type")).string(6, p.get("format")).boolean(19, p.get("uniqueItems"))
        _extensions(sub, 22, p)
        slot = 4
    else:  # QueryParameterSubSchema (the only other kind our documents use)
        sub.string(6, p.get("type")).string(7, p.get("format")).boolean(20, p.get("uniqueItems"))
        _extensions(sub, 23, p)
        slot = 3
    return _Msg().message(1, _Msg().message(2, _Msg().message(slot, sub)))  # ParametersItem{Parameter{NonBodyParameter}}


def _operation(op: dict[str, Any]) -> _Msg:
    m = (_Msg().strings(1, op.get("tags")).string(2, op.get("summary")).string(3, op.get("description"))
         .string(5, op.get("operationId")).strings(6, op.get("produces")).strings(7, op.get("consumes")))
    for p in op.get("parameters") or []:
        m.message(8, _parameter(p))
    responses = _Msg()
    for code, r in (op.get("responses") or {}).items():
        resp = _Msg().string(1, r.get("description"))
        if isinstance(r.get("schema"), dict):
            resp.message(2, _Msg().message(1, schema(r["schema"])))  # SchemaItem{schema = 1}
        responses.message(1, _Msg().string(1, code).message(2, _Msg().message(1, resp)))  # NamedResponseValue{ResponseValue}
    m.message(9, responses).strings(10, op.get("schemes")).boolean(11, op.get("deprecated"))
    return _extensions(m, 13, op)


METHODS = {"get": 2, "put": 3, "post": 4, "delete": 5, "options": 6, "head": 7, "patch": 8}


def encode_document(doc: dict[str, Any]) -> bytes:
    """A Swagger 2.0 JSON document -> gnostic `openapi.v2.Document` wire bytes."""
    info = doc.get("info") or {}
    m = (_Msg().string(1, doc.get("swagger")).message(2, _extensions(_Msg().string(1, info.get("title"))
                                                              .string(2, info.get("version"))
                                                              .string(3, info.get("description")), 7, info))
         .string(3, doc.get("host")).string(4, doc.get("basePath")).strings(5, doc.get("schemes"))
         .strings(6, doc.get("consumes")).strings(7, doc.get("produces")))
    paths = _Msg()
    for path, item in (doc.get("paths") or {}).items():
        pi = _Msg()
        for method, num in METHODS.items():
            if isinstance(item.get(method), dict):
                pi.message(num, _operation(item[method]))
        for p in item.get("parameters") or []:
            pi.message(9, _parameter(p))
        paths.message(2, _Msg().string(1, path).message(2, _extensions(pi, 10, item)))  # NamedPathItem
    m.message(8, paths)
    defs = _Msg()
    for name, s in (doc.get("definitions") or {}).items():
        defs.message(1, _Msg().string(1, name).message(2, schema(s)))
    m.message(9, defs)
    for req in doc.get("security") or []:
        sr = _Msg()
        for name, scopes in req.items():
            sr.message(1, _Msg().string(1, name).message(2, _Msg().strings(1, scopes)))  # NamedStringArray{StringArray}
        m.message(12, sr)
    sec_defs = _Msg()
    for name, sd in (doc.get("securityDefinitions") or {}).items():
        if sd.get("type") == "apiKey":
            key = (_Msg().string(1, "apiKey").string(2, sd.get("name")).string(3, sd.get("in"))
                   .string(4, sd.get("description")))
            sec_defs.message(1, _Msg().string(1, name).message(2, _Msg().message(2, key)))  # SecurityDefinitionsItem{api_key = 2}
    m.message(13, sec_defs)
    return bytes(_extensions(m, 16, doc).buf)
