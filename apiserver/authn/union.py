"""Union of authenticators: first success wins; failures are collected only when nobody succeeds."""

from __future__ import annotations

from collections.abc import Sequence

from apiserver.authn.types import (
    ALL_AUTHENTICATED,
    AuthenticationError,
    Authenticator,
    AuthRequest,
    Result,
    UserInfo,
)


class UnionAuthenticator:
    """Tries each authenticator in order. Adds ``system:authenticated`` to every user that is not anonymous
    (as kube-apiserver's group adder does) so RBAC bindings to that group work for every identity."""

    def __init__(self, authenticators: Sequence[Authenticator], add_authenticated_group: bool = True,
                 fail_on_error: bool = False) -> None:
        self.authenticators = list(authenticators)
        self.add_authenticated_group = add_authenticated_group
        self.fail_on_error = fail_on_error

    def authenticate(self, request: AuthRequest, now: float) -> Result:
        errors: list[str] = []
        for auth in self.authenticators:
            user, ok, err = auth.authenticate(request, now)
            if ok and user is not None:
                return self._with_group(user), True, None
            if err is not None:
                if self.fail_on_error:
                    return None, False, err
                if str(err) not in errors:
                    errors.append(str(err))
        if errors:
            return None, False, AuthenticationError("; ".join(errors))
        return None, False, None

    def _with_group(self, user: UserInfo) -> UserInfo:
        if not self.add_authenticated_group or "system:unauthenticated" in user.groups:
            return user
        if ALL_AUTHENTICATED in user.groups:
            return user
        return UserInfo(user.name, user.uid, user.groups + (ALL_AUTHENTICATED,), user.extra)


def build_authenticator(authenticators: Sequence[Authenticator], anonymous: bool) -> UnionAuthenticator:
    """kube-apiserver's composition: the credential authenticators in a union; anonymous, when enabled, only after
    that union found no credential at all, so a bad token is a 401 rather than a silent anonymous request."""
    from apiserver.authn.anonymous import AnonymousAuthenticator

    inner = UnionAuthenticator(authenticators)
    if not anonymous:
        return inner
    return UnionAuthenticator([inner, AnonymousAuthenticator()], fail_on_error=True)
