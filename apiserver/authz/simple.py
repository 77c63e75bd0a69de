"""The trivial authorizers: AlwaysAllow, AlwaysDeny, and the privileged-group shortcut for system:masters."""

from __future__ import annotations

from apiserver.authz.types import Attributes, Decision

SYSTEM_MASTERS = "system:masters"


class AlwaysAllow:
    def authorize(self, attrs: Attributes) -> tuple[Decision, str]:
        return Decision.ALLOW, ""


class AlwaysDeny:
    def authorize(self, attrs: Attributes) -> tuple[Decision, str]:
        return Decision.NO_OPINION, "Everything is forbidden."


class PrivilegedGroups:
    """Allows members of the given groups everything; placed first so that a broken RBAC policy can be repaired."""

    def __init__(self, groups: tuple[str, ...] = (SYSTEM_MASTERS,)) -> None:
        self.groups = frozenset(groups)

    def authorize(self, attrs: Attributes) -> tuple[Decision, str]:
        if self.groups.intersection(attrs.user.groups):
            return Decision.ALLOW, ""
        return Decision.NO_OPINION, ""
