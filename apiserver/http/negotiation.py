"""Content negotiation: which representation an Accept header asks for; pure.

kubectl lists what it takes in preference order, e.g.
`application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json`.
The first acceptable entry wins; protobuf-only requests get 406 (responses are always JSON here).
"""

from __future__ import annotations

from dataclasses import dataclass

from apiserver.errors import not_acceptable

DISCOVERY_VERSIONS = ("v2", "v2beta1")


@dataclass(frozen=True)
class MediaType:
    type: str
    params: dict[str, str]


def parse_accept(header: str) -> list[MediaType]:
    out = []
    for part in header.split(","):
        fields = [f.strip() for f in part.split(";")]
        if not fields[0]:
            continue
        params = {}
        for f in fields[1:]:
            if "=" in f:
                k, v = f.split("=", 1)
                params[k.strip().lower()] = v.strip().strip('"')
        out.append(MediaType(fields[0].lower(), params))
    return out or [MediaType("*/*", {})]


def _is_json(m: MediaType) -> bool:
    return m.type in ("application/json", "application/*", "*/*")


def discovery_version(header: str) -> str | None:
    """"v2"/"v2beta1" for aggregated discovery, None for the legacy documents."""
    for m in parse_accept(header):
        if not _is_json(m):
            continue
        if m.params.get("as") == "APIGroupDiscoveryList" and m.params.get("g") == "apidiscovery.k8s.io":
            if m.params.get("v") in DISCOVERY_VERSIONS:
                return m.params["v"]
            continue
        if "as" not in m.params:
            return None
    raise not_acceptable("only the following media types are accepted: application/json, "
                         "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList")


def object_format(header: str) -> str:
    """"json", "table-v1" or "table-v1beta1" for resource requests."""
    for m in parse_accept(header):
        if not _is_json(m):
            continue
        as_ = m.params.get("as")
        if as_ is None:
            return "json"
        if as_ == "Table" and m.params.get("g") == "meta.k8s.io" and m.params.get("v") in ("v1", "v1beta1"):
            return "table-" + m.params["v"]
        if as_ in ("PartialObjectMetadata", "PartialObjectMetadataList") and m.params.get("g") == "meta.k8s.io":
            continue
    raise not_acceptable("only the following media types are accepted: application/json, "
                         "application/json;as=Table;v=v1;g=meta.k8s.io")
