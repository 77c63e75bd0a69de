"""Decoding Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`); pure.

A body is the 4-byte magic `k8s\\0` followed by a `runtime.Unknown` whose `typeMeta` names the kind and
whose `raw` holds the object in the go-to-protobuf encoding of k8s.io/api. kubectl sends these for every
`kubectl create <generator>`, `auth can-i`, `create token` and drain; client-go programs (controllers,
kubelets, schedulers) send them for every create, update and DeleteOptions. Every served kind, the
subresource bodies (Binding, Scale, Eviction, TokenRequest) and DeleteOptions are decoded with the
wire schema in apiserver/k8sproto (our .proto files for Kubernetes 1.32) into the dict the JSON path
would produce. Malformed bodies and fields outside the schema are a 400; a kind this server does not
serve is a 415.
"""

from __future__ import annotations

import json
from typing import Any

from google.protobuf.descriptor import Descriptor
from google.protobuf.message import DecodeError

from apiserver.errors import APIError, bad_request
from apiserver.k8sproto import convert, schema

MAGIC = b"k8s\x00"
ENVELOPE = "k8s.io.apimachinery.pkg.runtime.Unknown"
PROTOBUF = "application/vnd.kubernetes.protobuf"
MAX_DEPTH = 100  # the protobuf runtime's recursion limit for messages and groups


def _varint(data: bytes, pos: int) -> tuple[int, int] | None:
    result = shift = 0
    while pos < len(data) and shift < 64:
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
    return None


def diagnose(data: bytes, d: Descriptor | None, depth: int = 1) -> str | None:
    """Why the parser refused `data` (read as message `d`, None when unknown), in words; None if no reason found.

    The runtime only says "wire format was corrupt"; a client deserves the byte offset and the cause.
    """
    if depth > MAX_DEPTH:
        return f"messages or groups nest deeper than {MAX_DEPTH} levels"
    pos, groups = 0, 0
    while pos < len(data):
        at = pos
        tag = _varint(data, pos)
        if tag is None:
            return f"truncated varint (a field tag) at byte {at}"
        pos, (num, wire) = tag[1], divmod(tag[0], 8)
        if num == 0:
            return f"field number 0 at byte {at}"
        if wire == 0:
            value = _varint(data, pos)
            if value is None:
                return f"truncated varint (field {num}) at byte {pos}"
            pos = value[1]
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
            if pos > len(data):
                return f"truncated fixed-width field {num} at byte {at}"
        elif wire == 2:
            size = _varint(data, pos)
            if size is None:
                return f"truncated length prefix (field {num}) at byte {pos}"
            length, pos = size
            if length > len(data) - pos:
                return (f"field {num} at byte {at} claims {length} bytes but only {len(data) - pos} remain "
                        "(truncated or a bad length prefix)")
            field = d.fields_by_number.get(num) if d is not None else None
            if field is not None and field.message_type is not None:
                inner = diagnose(data[pos:pos + length], field.message_type, depth + 1)
                if inner is not None:
                    return f"in field {num} ({field.json_name}): {inner}"
            pos += length
        elif wire == 3:
            groups += 1
            if depth + groups > MAX_DEPTH:
                return f"messages or groups nest deeper than {MAX_DEPTH} levels"
        elif wire == 4:
            if groups == 0:
                return f"unmatched end-group at byte {at}"
            groups -= 1
        else:
            return f"invalid wire type {wire} (field {num}) at byte {at}"
    return "unterminated group" if groups else None


def _parse(full_name: str, data: bytes, what: str) -> Any:
    try:
        return schema.message_class(full_name).FromString(data)
    except DecodeError as e:
        reason = diagnose(data, schema.descriptor(full_name)) or str(e)
        raise bad_request(f"{what} is not valid protobuf for {full_name}: {reason}") from e


def decode_object(body: bytes) -> dict[str, Any]:
    """The JSON form of a `k8s\\0`-framed object of any served kind."""
    if not body.startswith(MAGIC):
        raise bad_request("protobuf body does not start with the k8s\\0 magic")
    envelope = _parse(ENVELOPE, body[len(MAGIC):], "the protobuf envelope")
    convert.to_json(envelope)  # refuses unknown envelope fields
    type_meta = envelope.typeMeta
    api_version, kind = type_meta.apiVersion, type_meta.kind
    raw: bytes = envelope.raw
    encoding, content_type = envelope.contentEncoding, envelope.contentType
    if not kind or not api_version:
        raise bad_request("the protobuf envelope names no apiVersion and kind")
    if encoding:
        raise APIError(f"protobuf bodies with contentEncoding {encoding!r} are not supported",
                       "UnsupportedMediaType", 415)
    message = schema.message_name(api_version, kind)
    if message is None:
        raise APIError(f"protobuf bodies of {kind} ({api_version}) are not supported: this server does not "
                       "serve that kind", "UnsupportedMediaType", 415)
    obj: Any
    if content_type in ("", PROTOBUF):
        obj = convert.to_json(_parse(message, raw, f"the {kind} object"))
    elif content_type == "application/json":
        try:
            obj = json.loads(raw)
        except ValueError as e:
            raise bad_request(f"the JSON {kind} inside the protobuf envelope could not be decoded: {e}") from e
        if not isinstance(obj, dict):
            raise bad_request("the object inside the protobuf envelope must be a JSON object")
    else:
        raise APIError(f"protobuf envelopes carrying {content_type!r} are not supported",
                       "UnsupportedMediaType", 415)
    return {"apiVersion": api_version, "kind": kind, **obj}
