"""Request info: what a URL + method means, as a pure function (k8s `RequestInfoFactory`).

`parse_request_info("GET", "/api/v1/namespaces/ns/pods", {"watch": "true"})` gives verb "watch",
resource "pods", namespace "ns". Everything that is not under /api or /apis is a non-resource request
(discovery documents, /version, health). The result is what authorization and routing both read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from apiserver.errors import bad_request

NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})
_METHOD_VERBS = {"POST": "create", "GET": "get", "HEAD": "get", "PUT": "update", "PATCH": "patch",
                 "DELETE": "delete"}


@dataclass(frozen=True)
class RequestInfo:
    is_resource_request: bool
    path: str
    verb: str
    api_prefix: str = ""
    group: str = ""
    version: str = ""
    namespace: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""


def _truthy(value: str | None) -> bool:
    return value is not None and value.lower() in ("true", "1")


def parse_request_info(method: str, path: str, query: Mapping[str, str]) -> RequestInfo:
    """Parse like kube-apiserver: /api/v1/... (core) or /apis/<group>/<version>/...; `..` is refused."""
    parts = [p for p in path.strip("/").split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise bad_request(f"invalid path element in {path!r}")
    lower_verb = method.lower()
    if not parts or parts[0] not in ("api", "apis"):
        return RequestInfo(False, path, lower_verb)
    prefix = parts[0]
    rest = parts[1:]
    if prefix == "api":
        group = ""
        if not rest:
            return RequestInfo(False, path, lower_verb)
    else:
        if len(rest) < 2:
            return RequestInfo(False, path, lower_verb)
        group, rest = rest[0], rest[1:]
    version, rest = rest[0], rest[1:]
    if not rest:
        return RequestInfo(False, path, lower_verb)
    if method not in _METHOD_VERBS:
        raise bad_request(f"unsupported method {method}")
    verb = _METHOD_VERBS[method]
    if rest[0] == "watch":
        verb, rest = "watch", rest[1:]
        if not rest:
            raise bad_request("watch needs a resource")
    namespace = ""
    # /namespaces/{ns}/{resource}... addresses namespaced content; /namespaces/{name}[/status|/finalize]
    # addresses the Namespace object itself.
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    if len(rest) > 3:
        raise bad_request(f"path too deep: {path!r}")
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if not name:
        if verb == "get":
            verb = "watch" if _truthy(query.get("watch")) else "list"
        elif verb == "delete":
            verb = "deletecollection"
    elif verb == "get" and _truthy(query.get("watch")):
        verb = "watch"
    return RequestInfo(True, path, verb, prefix, group, version, namespace, resource, subresource, name)
