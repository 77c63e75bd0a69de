"""Glue for the HTTP filter chain: a parsed request (anything shaped like ``apiserver.request_info.RequestInfo``)
plus the authenticated user → authorizer Attributes → (allowed, message for the 403 body)."""

from __future__ import annotations

from typing import Protocol

from apiserver.authn.types import UserInfo
from apiserver.authz.types import Attributes, Authorizer, Decision, forbidden_message


class RequestInfoLike(Protocol):
    @property
    def is_resource_request(self) -> bool: ...
    @property
    def path(self) -> str: ...
    @property
    def verb(self) -> str: ...
    @property
    def group(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def namespace(self) -> str: ...
    @property
    def resource(self) -> str: ...
    @property
    def subresource(self) -> str: ...
    @property
    def name(self) -> str: ...


def attributes_for(user: UserInfo, info: RequestInfoLike) -> Attributes:
    if not info.is_resource_request:
        return Attributes(user, info.verb, is_resource_request=False, path=info.path)
    return Attributes(user, info.verb, info.group, info.resource, info.subresource, info.namespace, info.name,
                      True, info.path, info.version or "*")


def authorize_request(authorizer: Authorizer, user: UserInfo, info: RequestInfoLike) -> tuple[bool, str]:
    """(True, "") when allowed; otherwise (False, the full 403 message kube-apiserver would send)."""
    attrs = attributes_for(user, info)
    decision, reason = authorizer.authorize(attrs)
    if decision == Decision.ALLOW:
        return True, ""
    return False, forbidden_message(attrs, reason)
