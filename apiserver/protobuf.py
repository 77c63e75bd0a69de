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

from google.protobuf.message import DecodeError

from apiserver.errors import APIError, bad_request
from apiserver.k8sproto import convert, schema

MAGIC = b"k8s\x00"
ENVELOPE = "k8s.io.apimachinery.pkg.runtime.Unknown"
PROTOBUF = "application/vnd.kubernetes.protobuf"


def _parse(full_name: str, data: bytes, what: str) -> Any:
    try:
        return schema.message_class(full_name).FromString(data)
    except DecodeError as e:
        raise bad_request(f"{what} is not valid protobuf for {full_name} (truncated, corrupt, or nested "
                          f"too deeply): {e}") from e


def decode_object(body: bytes) -> dict[str, Any]:
    """The JSON form of a `k8s\\0`-framed object of any served kind."""
    if not body.startswith(MAGIC):
        raise bad_request("protobuf body does not start with the k8s\\0 magic")
    envelope = _parse(ENVELOPE, body[len(MAGIC):], "the protobuf envelope")
    convert.to_json(envelope)  # refuses unknown envelope fields
    type_meta = getattr(envelope, "typeMeta")
    api_version, kind = type_meta.apiVersion, type_meta.kind
    raw: bytes = getattr(envelope, "raw")
    encoding, content_type = getattr(envelope, "contentEncoding"), getattr(envelope, "contentType")
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
