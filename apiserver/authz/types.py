"""Authorization types in the shape of k8s.io/apiserver's authorizer package.

``Decision.DENY`` is deliberately the zero value: an authorizer that forgets to decide denies.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from apiserver.authn.types import UserInfo

READ_VERBS = frozenset({"get", "list", "watch"})


class Decision(enum.IntEnum):
    DENY = 0
    ALLOW = 1
    NO_OPINION = 2


@dataclass(frozen=True)
class Attributes:
    user: UserInfo
    verb: str
    api_group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    is_resource_request: bool = True
    path: str = ""
    api_version: str = "*"

    @property
    def is_read_only(self) -> bool:
        return self.verb in READ_VERBS


class Authorizer(Protocol):
    def authorize(self, attrs: Attributes) -> tuple[Decision, str]: ...


def forbidden_message(attrs: Attributes, reason: str = "") -> str:
    """The text of kube-apiserver's 403 for a denied request, e.g.
    ``pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "default"``."""
    user = attrs.user.name
    if not attrs.is_resource_request:
        msg = f'forbidden: User "{user}" cannot {attrs.verb} path "{attrs.path}"'
    else:
        resource = attrs.resource + (f"/{attrs.subresource}" if attrs.subresource else "")
        qualified = attrs.resource + (f".{attrs.api_group}" if attrs.api_group else "")
        head = f'{qualified} "{attrs.name}" is forbidden' if attrs.name else f"{qualified} is forbidden"
        where = f' in the namespace "{attrs.namespace}"' if attrs.namespace else " at the cluster scope"
        msg = (f'{head}: User "{user}" cannot {attrs.verb} resource "{resource}" in API group '
               f'"{attrs.api_group}"{where}')
    return f"{msg}: {reason}" if reason else msg
