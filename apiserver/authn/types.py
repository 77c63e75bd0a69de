"""Shared authentication types, in the shape of k8s.io/apiserver's authenticator package.

``authenticate`` returns a triple so that "this credential is not mine" (None, False, None) stays distinct from
"this credential is mine and it is bad" (None, False, error): the union tries the next authenticator on the first
and remembers the error of the second, so a 401 can say why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

ALL_AUTHENTICATED = "system:authenticated"
ALL_UNAUTHENTICATED = "system:unauthenticated"
ANONYMOUS_USER = "system:anonymous"
MAX_BEARER_TOKEN_BYTES = 16 * 1024
INVALID_BEARER_TOKEN = "invalid bearer token"


class AuthenticationError(Exception):
    """A credential was presented and rejected. The message never contains the credential itself."""

    http_code = 401
    reason = "Unauthorized"


@dataclass(frozen=True)
class UserInfo:
    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The authentication.k8s.io/v1 UserInfo shape (TokenReview, SelfSubjectReview)."""
        out: dict[str, Any] = {"username": self.name, "groups": list(self.groups)}
        if self.uid:
            out["uid"] = self.uid
        if self.extra:
            out["extra"] = {k: list(v) for k, v in self.extra.items()}
        return out


@dataclass(frozen=True)
class AuthRequest:
    """What authenticators may look at. Header names are matched case-insensitively.

    ``peer_certificate`` is the client certificate the TLS layer has ALREADY verified against the client CA
    (DER bytes or a ``cryptography.x509.Certificate``); authenticators here never verify chains themselves.
    """

    headers: Mapping[str, str] = field(default_factory=dict)
    peer_certificate: Any = None

    def header(self, name: str) -> str | None:
        lname = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lname:
                return value
        return None

    def bearer_token(self) -> str | None:
        """The token from ``Authorization: Bearer <token>``, or None when absent or not a bearer scheme."""
        value = self.header("authorization")
        if value is None:
            return None
        parts = value.strip().split(" ", 1)
        if len(parts) != 2 or parts[0].lower() != "bearer":
            return None
        token = parts[1].strip()
        if not token or len(token) > MAX_BEARER_TOKEN_BYTES:
            return None
        return token


Result = tuple[UserInfo | None, bool, AuthenticationError | None]


class Authenticator(Protocol):
    def authenticate(self, request: AuthRequest, now: float) -> Result: ...


class TokenAuthenticator(Protocol):
    def authenticate_token(self, token: str, now: float) -> Result: ...


class BearerToken:
    """Adapts a token authenticator to a request authenticator (reads ``Authorization: Bearer``)."""

    def __init__(self, inner: TokenAuthenticator) -> None:
        self.inner = inner

    def authenticate(self, request: AuthRequest, now: float) -> Result:
        token = request.bearer_token()
        if token is None:
            return None, False, None
        user, ok, err = self.inner.authenticate_token(token, now)
        if not ok and err is None:
            # A presented token nobody recognises is a failed login, not an anonymous request (as kube-apiserver).
            err = AuthenticationError(INVALID_BEARER_TOKEN)
        return user, ok, err
