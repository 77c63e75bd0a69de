"""Anonymous access: the last authenticator in the union, present only when --anonymous-auth is on."""

from __future__ import annotations

from apiserver.authn.types import ALL_UNAUTHENTICATED, ANONYMOUS_USER, AuthRequest, Result, UserInfo


class AnonymousAuthenticator:
    def authenticate(self, request: AuthRequest, now: float) -> Result:
        return UserInfo(ANONYMOUS_USER, "", (ALL_UNAUTHENTICATED,)), True, None
