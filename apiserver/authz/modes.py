"""--authorization-mode: builds the union from mode names in the given order, system:masters first."""

from __future__ import annotations

from collections.abc import Sequence

from apiserver.authz.node import NodeAuthorizer, PodsByNode
from apiserver.authz.rbac import RBACAuthorizer, RBACLister
from apiserver.authz.simple import AlwaysAllow, AlwaysDeny, PrivilegedGroups
from apiserver.authz.types import Authorizer
from apiserver.authz.union import UnionAuthorizer

MODES = ("AlwaysAllow", "AlwaysDeny", "Node", "RBAC")


def build_authorizer(modes: Sequence[str], rbac_lister: RBACLister | None = None,
                     pod_graph: PodsByNode | None = None) -> UnionAuthorizer:
    if len(set(modes)) != len(modes):
        raise ValueError("authorization-mode: each mode may be given only once")
    chain: list[Authorizer] = [PrivilegedGroups()]
    for mode in modes:
        if mode == "AlwaysAllow":
            chain.append(AlwaysAllow())
        elif mode == "AlwaysDeny":
            chain.append(AlwaysDeny())
        elif mode == "Node":
            if pod_graph is None:
                raise ValueError("authorization-mode Node needs a pod graph")
            chain.append(NodeAuthorizer(pod_graph))
        elif mode == "RBAC":
            if rbac_lister is None:
                raise ValueError("authorization-mode RBAC needs an RBAC lister")
            chain.append(RBACAuthorizer(rbac_lister))
        else:
            raise ValueError(f"unknown authorization mode {mode!r}; known modes: {', '.join(MODES)}")
    return UnionAuthorizer(chain)
