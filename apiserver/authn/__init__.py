"""Authentication: who is making this request. Pure decision cores; the HTTP layer supplies headers and the
verified peer certificate, storage lookups arrive as functions, time arrives as ``now``."""

from apiserver.authn.types import (
    ALL_AUTHENTICATED,
    ALL_UNAUTHENTICATED,
    ANONYMOUS_USER,
    AuthenticationError,
    Authenticator,
    AuthRequest,
    Result,
    UserInfo,
)
from apiserver.authn.union import UnionAuthenticator, build_authenticator

__all__ = ["ALL_AUTHENTICATED", "ALL_UNAUTHENTICATED", "ANONYMOUS_USER", "AuthRequest", "AuthenticationError",
           "Authenticator", "Result", "UnionAuthenticator", "UserInfo",
           "build_authenticator"]
