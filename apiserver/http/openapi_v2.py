"""`GET /openapi/v2`: content negotiation, ETag/If-None-Match and gzip as kube-openapi's handler does them.

The JSON (`openapi.swagger`) and its protobuf form (`openapi_v2_pb`) are built on the first request and kept:
the document never changes while the server runs, and building it costs a few hundred milliseconds that
every test server would otherwise pay at start-up.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

from aiohttp import web

from apiserver.api import openapi, openapi_v2_pb

PROTO = "com.github.proto-openapi.spec.v2.v1.0+protobuf"
PROTO_DEPRECATED = "com.github.proto-openapi.spec.v2@v1.0+protobuf"
# The order kube-openapi tries for each Accept clause; the deprecated subtype is answered with the new name.
OFFERS = (("json", "application/json"), (PROTO_DEPRECATED, "application/" + PROTO), (PROTO, "application/" + PROTO))


def _clauses(accept: str) -> list[tuple[str, str]]:
    """Accept clauses as (type, subtype), best first: by q, then the more specific (as goautoneg sorts them)."""
    parsed = []
    for i, part in enumerate(accept.split(",")):
        fields = [f.strip() for f in part.split(";")]
        if not fields[0]:
            continue
        q = 1.0
        for f in fields[1:]:
            if f.startswith("q="):
                try:
                    q = float(f[2:])
                except ValueError:
                    q = 0.0
        mtype, _, sub = fields[0].partition("/")
        specificity = (mtype != "*") + (sub != "*")
        if q > 0:
            parsed.append((-q, -specificity, i, mtype, sub or "*"))
    return [(t, s) for *_, t, s in sorted(parsed)]


def choose(accept: str) -> str | None:
    """The Content-Type to answer `accept` with, or None (406)."""
    for mtype, sub in _clauses(accept or "*/*"):
        for offer_sub, content_type in OFFERS:
            if mtype in ("application", "*") and sub in (offer_sub, "*"):
                return content_type
    return None


@dataclass
class _Encoded:
    body: bytes
    gzipped: bytes


class OpenAPIV2:
    def __init__(self, definitions: Mapping[str, Any] | None, now: float) -> None:
        self.definitions = definitions
        self.last_modified = formatdate(now, usegmt=True)
        self.etag = ""
        self.encoded: dict[str, _Encoded] = {}

    def _build(self) -> None:
        doc = openapi.swagger(self.definitions)
        body = json.dumps(doc, separators=(",", ":")).encode()
        pb = openapi_v2_pb.encode_document(doc)
        self.etag = openapi.etag(body)
        self.encoded = {"application/json": _Encoded(body, gzip.compress(body, 6)),
                        "application/" + PROTO: _Encoded(pb, gzip.compress(pb, 6))}

    def respond(self, request: web.Request) -> web.Response:
        content_type = choose(request.headers.get("Accept", ""))
        headers = {"Vary": "Accept, Accept-Encoding"}
        if content_type is None:
            return web.Response(status=406, headers=headers)
        if not self.encoded:
            self._build()
        headers |= {"Content-Type": content_type, "Etag": self.etag, "Last-Modified": self.last_modified}
        match = request.headers.get("If-None-Match", "")
        if match and (match.strip() == "*" or self.etag in [m.strip() for m in match.split(",")]):
            return web.Response(status=304, headers=headers)
        enc = self.encoded[content_type]
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            headers["Content-Encoding"] = "gzip"
            return web.Response(body=enc.gzipped, headers=headers)
        return web.Response(body=enc.body, headers=headers)
