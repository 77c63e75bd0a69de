"""Union of authorizers: the first ALLOW or DENY decides; NO_OPINION passes on; reasons are joined."""

from __future__ import annotations

from collections.abc import Sequence

from apiserver.authz.types import Attributes, Authorizer, Decision


class UnionAuthorizer:
    def __init__(self, authorizers: Sequence[Authorizer]) -> None:
        self.authorizers = list(authorizers)

    def authorize(self, attrs: Attributes) -> tuple[Decision, str]:
        reasons: list[str] = []
        for authz in self.authorizers:
            decision, reason = authz.authorize(attrs)
            if decision in (Decision.ALLOW, Decision.DENY):
                return decision, reason
            if reason:
                reasons.append(reason)
        return Decision.NO_OPINION, "\n".join(reasons)
