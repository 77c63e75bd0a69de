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

    def msg(self, num: int, m: _Msg | None) -> _Msg:
        return self.raw(num, bytes(m.buf)) if m is not None else self

    def str(self, num: int, s: Any) -> _Msg:
        return self.raw(num, str(s).encode()) if s not in (None, "") else self

    def strs(self, num: int, items: Any) -> _Msg:
        for s in items or []:
            self.raw(num, str(s).encode())
        return self

    def bool(self, num: int, b: Any) -> _Msg:
        if b:
            self.buf += _varint(num << 3) + b"\x01"
        return self

    def int(self, num: int, n: Any) -> _Msg:
        if isinstance(n, int) and not isinstance(n, bool) and n:
            self.buf += _varint(num << 3) + _varint(n)
        return self

    def double(self, num: int, x: Any) -> _Msg:
        if isinstance(x, (int, float)) and not isinstance(x, bool) and x:
            self.buf += _varint(num << 3 | 1) + struct.pack("<d", float(x))
        return self


def _any(value: Any) -> _Msg:
    return _Msg().str(2, json.dumps(value, separators=(",", ":")) + "\n")  # Any{yaml = 2}


def _extensions(m: _Msg, num: int, obj: dict[str, Any]) -> _Msg:
    for k, v in obj.items():
        if k.startswith("x-"):
            m.msg(num, _Msg().str(1, k).msg(2, _any(v)))  # NamedAny{name = 1, value = 2}
    return m


def schema(s: dict[str, Any]) -> _Msg:
    m = _Msg().str(1, s.get("$ref")).str(2, s.get("format")).str(3, s.get("title")).str(4, s.get("description"))
    if "default" in s:
        m.msg(5, _any(s["default"]))
    m.double(6, s.get("multipleOf")).double(7, s.get("maximum")).bool(8, s.get("exclusiveMaximum"))
    m.double(9, s.get("minimum")).bool(10, s.get("exclusiveMinimum")).int(11, s.get("maxLength"))
    m.int(12, s.get("minLength")).str(13, s.get("pattern")).int(14, s.get("maxItems")).int(15, s.get("minItems"))
    m.bool(16, s.get("uniqueItems")).int(17, s.get("maxProperties")).int(18, s.get("minProperties"))
    m.strs(19, s.get("required"))
    for e in s.get("enum") or []:
        m.msg(20, _any(e))
    ap = s.get("additionalProperties")
    if isinstance(ap, dict):
        m.msg(21, _Msg().msg(1, schema(ap)))  # AdditionalPropertiesItem{schema = 1}
    elif isinstance(ap, bool):
        m.msg(21, _Msg().bool(2, True) if ap else _bool_false())
    if "type" in s:
        m.msg(22, _Msg().strs(1, s["type"] if isinstance(s["type"], list) else [s["type"]]))  # TypeItem
    items = s.get("items")
    if isinstance(items, dict):
        m.msg(23, _Msg().msg(1, schema(items)))  # ItemsItem{repeated Schema schema = 1}
    for sub in s.get("allOf") or []:
        m.msg(24, schema(sub))
    if isinstance(s.get("properties"), dict):
        props = _Msg()
        for name, sub in s["properties"].items():
            props.msg(1, _Msg().str(1, name).msg(2, schema(sub)))  # NamedSchema
        m.msg(25, props)
    m.str(26, s.get("discriminator")).bool(27, s.get("readOnly"))
    if "example" in s:
        m.msg(30, _any(s["example"]))
    return _extensions(m, 31, s)


def _bool_false() -> _Msg:
    """AdditionalPropertiesItem{boolean = false}: the oneof is set, so the zero value is written."""
    m = _Msg()
    m.buf += _varint(2 << 3) + b"\x00"
    return m


def _parameter(p: dict[str, Any]) -> _Msg:
    if "$ref" in p:
        return _Msg().msg(2, _Msg().str(1, p["$ref"]).str(2, p.get("description")))  # JsonReference
    if p.get("in") == "body":
        body = (_Msg().str(1, p.get("description")).str(2, p.get("name")).str(3, "body")
                .bool(4, p.get("required")).msg(5, schema(p.get("schema") or {})))
        return _Msg().msg(1, _Msg().msg(1, _extensions(body, 6, p)))  # ParametersItem{Parameter{body = 1}}
    where = p.get("in")
    sub = _Msg().bool(1, p.get("required")).str(2, where).str(3, p.get("description")).str(4, p.get("name"))
    if where == "path":  # PathParameterSubSchema
        sub.str(5, p.get("type")).str(6, p.get("format")).bool(19, p.get("uniqueItems"))
        _extensions(sub, 22, p)
        slot = 4
    else:  # QueryParameterSubSchema (the only other kind our documents use)
        sub.str(6, p.get("type")).str(7, p.get("format")).bool(20, p.get("uniqueItems"))
        _extensions(sub, 23, p)
        slot = 3
    return _Msg().msg(1, _Msg().msg(2, _Msg().msg(slot, sub)))  # ParametersItem{Parameter{NonBodyParameter}}


def _operation(op: dict[str, Any]) -> _Msg:
    m = (_Msg().strs(1, op.get("tags")).str(2, op.get("summary")).str(3, op.get("description"))
         .str(5, op.get("operationId")).strs(6, op.get("produces")).strs(7, op.get("consumes")))
    for p in op.get("parameters") or []:
        m.msg(8, _parameter(p))
    responses = _Msg()
    for code, r in (op.get("responses") or {}).items():
        resp = _Msg().str(1, r.get("description"))
        if isinstance(r.get("schema"), dict):
            resp.msg(2, _Msg().msg(1, schema(r["schema"])))  # SchemaItem{schema = 1}
        responses.msg(1, _Msg().str(1, code).msg(2, _Msg().msg(1, resp)))  # NamedResponseValue{ResponseValue}
    m.msg(9, responses).strs(10, op.get("schemes")).bool(11, op.get("deprecated"))
    return _extensions(m, 13, op)


METHODS = {"get": 2, "put": 3, "post": 4, "delete": 5, "options": 6, "head": 7, "patch": 8}


def encode_document(doc: dict[str, Any]) -> bytes:
    """A Swagger 2.0 JSON document -> gnostic `openapi.v2.Document` wire bytes."""
    info = doc.get("info") or {}
    m = (_Msg().str(1, doc.get("swagger")).msg(2, _extensions(_Msg().str(1, info.get("title"))
                                                              .str(2, info.get("version"))
                                                              .str(3, info.get("description")), 7, info))
         .str(3, doc.get("host")).str(4, doc.get("basePath")).strs(5, doc.get("schemes"))
         .strs(6, doc.get("consumes")).strs(7, doc.get("produces")))
    paths = _Msg()
    for path, item in (doc.get("paths") or {}).items():
        pi = _Msg()
        for method, num in METHODS.items():
            if isinstance(item.get(method), dict):
                pi.msg(num, _operation(item[method]))
        for p in item.get("parameters") or []:
            pi.msg(9, _parameter(p))
        paths.msg(2, _Msg().str(1, path).msg(2, _extensions(pi, 10, item)))  # NamedPathItem
    m.msg(8, paths)
    defs = _Msg()
    for name, s in (doc.get("definitions") or {}).items():
        defs.msg(1, _Msg().str(1, name).msg(2, schema(s)))
    m.msg(9, defs)
    for req in doc.get("security") or []:
        sr = _Msg()
        for name, scopes in req.items():
            sr.msg(1, _Msg().str(1, name).msg(2, _Msg().strs(1, scopes)))  # NamedStringArray{StringArray}
        m.msg(12, sr)
    sec_defs = _Msg()
    for name, sd in (doc.get("securityDefinitions") or {}).items():
        if sd.get("type") == "apiKey":
            key = (_Msg().str(1, "apiKey").str(2, sd.get("name")).str(3, sd.get("in"))
                   .str(4, sd.get("description")))
            sec_defs.msg(1, _Msg().str(1, name).msg(2, _Msg().msg(2, key)))  # SecurityDefinitionsItem{api_key = 2}
    m.msg(13, sec_defs)
    return bytes(_extensions(m, 16, doc).buf)
