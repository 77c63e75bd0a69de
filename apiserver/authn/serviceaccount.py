"""Service account tokens: bound (TokenRequest / projected volume) and legacy (Secret-based) JWTs.

Validity is decided from the signature, the issuer, the audience, the time window at ``now`` and — because a
token must die with what it is bound to — a lookup of the ServiceAccount, the bound Pod or Secret, and their uids.
``lookup(resource, namespace, name)`` returns the stored object as a dict, or None when it does not exist.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from apiserver.authn import jwt
from apiserver.authn.types import AuthenticationError, AuthRequest, BearerToken, Result, UserInfo

LEGACY_ISSUER = "kubernetes/serviceaccount"
SA_PREFIX = "system:serviceaccount:"
ALL_SERVICE_ACCOUNTS = "system:serviceaccounts"
DEFAULT_EXPIRATION_SECONDS = 3600
MIN_EXPIRATION_SECONDS = 600
MAX_EXPIRATION_SECONDS = 2 ** 32
CLOCK_SKEW_SECONDS = 60
Lookup = Callable[[str, str, str], dict[str, Any] | None]


def service_account_username(namespace: str, name: str) -> str:
    return f"{SA_PREFIX}{namespace}:{name}"


def split_service_account_username(user: str) -> tuple[str, str] | None:
    """(namespace, name) for ``system:serviceaccount:<ns>:<name>``, else None."""
    if not user.startswith(SA_PREFIX):
        return None
    parts = user[len(SA_PREFIX):].split(":")
    if len(parts) != 2 or not parts[0] or not parts[1]:
        return None
    return parts[0], parts[1]


def service_account_groups(namespace: str) -> tuple[str, ...]:
    return (ALL_SERVICE_ACCOUNTS, f"{ALL_SERVICE_ACCOUNTS}:{namespace}")


@dataclass(frozen=True)
class BoundObject:
    kind: str  # "Pod" or "Secret"
    name: str
    uid: str


class TokenIssuer:
    """Mints tokens with the server's signing key (--service-account-signing-key-file, --service-account-issuer)."""

    def __init__(self, key: jwt.PrivateKey, issuer: str) -> None:
        self.key = key
        self.issuer = issuer

    def bound_token(self, namespace: str, sa_name: str, sa_uid: str, audiences: Sequence[str], now: float,
                    expiration_seconds: int = DEFAULT_EXPIRATION_SECONDS, bound: BoundObject | None = None,
                    node: tuple[str, str] | None = None) -> str:
        if not MIN_EXPIRATION_SECONDS <= expiration_seconds <= MAX_EXPIRATION_SECONDS:
            raise ValueError(f"expirationSeconds must be between {MIN_EXPIRATION_SECONDS} and "
                             f"{MAX_EXPIRATION_SECONDS}")
        if not audiences:
            raise ValueError("at least one audience is required")
        iat = int(now)
        k8s: dict[str, Any] = {"namespace": namespace, "serviceaccount": {"name": sa_name, "uid": sa_uid}}
        if bound is not None:
            if bound.kind not in ("Pod", "Secret"):
                raise ValueError(f"cannot bind a token to a {bound.kind}")
            k8s[bound.kind.lower()] = {"name": bound.name, "uid": bound.uid}
        if node is not None:
            k8s["node"] = {"name": node[0], "uid": node[1]}
        claims = {"iss": self.issuer, "sub": service_account_username(namespace, sa_name), "aud": list(audiences),
                  "iat": iat, "nbf": iat, "exp": iat + expiration_seconds, "kubernetes.io": k8s}
        return jwt.sign(claims, self.key)

    def legacy_token(self, namespace: str, sa_name: str, sa_uid: str, secret_name: str) -> str:
        claims = {"iss": LEGACY_ISSUER, "sub": service_account_username(namespace, sa_name),
                  "kubernetes.io/serviceaccount/namespace": namespace,
                  "kubernetes.io/serviceaccount/secret.name": secret_name,
                  "kubernetes.io/serviceaccount/service-account.name": sa_name,
                  "kubernetes.io/serviceaccount/service-account.uid": sa_uid}
        return jwt.sign(claims, self.key)


def _uid(obj: dict[str, Any] | None) -> str | None:
    if obj is None:
        return None
    meta = obj.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return None
    return str(meta.get("uid", ""))


class ServiceAccountAuthenticator:
    """Verifies tokens from the issuers in ``issuers`` (bound tokens) and, when ``legacy`` is on, the legacy issuer.

    Tokens from other issuers are "not mine" (None, False, None) so later authenticators can try them.
    """

    def __init__(self, keys: list[jwt.PublicKey], issuers: Sequence[str], audiences: Sequence[str],
                 lookup: Lookup, legacy: bool = True) -> None:
        self.keys = keys
        self.issuers = list(issuers)
        self.audiences = list(audiences) or list(issuers)
        self.lookup = lookup
        self.legacy = legacy
        self._bearer = BearerToken(self)

    def authenticate(self, request: AuthRequest, now: float) -> Result:
        return self._bearer.authenticate(request, now)

    def authenticate_token(self, token: str, now: float) -> Result:
        peek = jwt.peek_claims(token)
        if peek is None:
            return None, False, None
        iss = peek.get("iss")
        is_legacy = self.legacy and iss == LEGACY_ISSUER
        if not is_legacy and iss not in self.issuers:
            return None, False, None
        try:
            claims = jwt.verify(token, self.keys)
            user = self._legacy(claims) if is_legacy else self._bound(claims, now)
        except (jwt.JWTError, AuthenticationError) as exc:
            err = exc if isinstance(exc, AuthenticationError) else AuthenticationError(f"invalid bearer token, {exc}")
            return None, False, err
        return user, True, None

    def _check_sa(self, namespace: str, name: str, uid: str) -> None:
        sa_uid = _uid(self.lookup("serviceaccounts", namespace, name))
        if sa_uid is None:
            raise AuthenticationError(f"invalid bearer token, service account {namespace}/{name} has been deleted")
        if uid and sa_uid != uid:
            raise AuthenticationError(f"invalid bearer token, service account UID ({uid}) does not match "
                                      f"service account {namespace}/{name} UID ({sa_uid})")

    def _bound(self, claims: dict[str, Any], now: float) -> UserInfo:
        aud = claims.get("aud")
        auds = [aud] if isinstance(aud, str) else list(aud or [])
        if not any(a in self.audiences for a in auds):
            raise AuthenticationError("invalid bearer token, token audiences " + repr(auds)
                                      + " is invalid for the target audiences " + repr(self.audiences))
        exp, nbf = claims.get("exp"), claims.get("nbf", claims.get("iat"))
        if not isinstance(exp, (int, float)):
            raise AuthenticationError("invalid bearer token, token has no expiry")
        if now > exp + CLOCK_SKEW_SECONDS:
            raise AuthenticationError("invalid bearer token, service account token has expired")
        if isinstance(nbf, (int, float)) and now < nbf - CLOCK_SKEW_SECONDS:
            raise AuthenticationError("invalid bearer token, service account token is not valid yet")
        k8s = claims.get("kubernetes.io")
        if not isinstance(k8s, dict):
            raise AuthenticationError("invalid bearer token, missing kubernetes.io claim")
        ns = str(k8s.get("namespace", ""))
        sa = k8s.get("serviceaccount") or {}
        name, uid = str(sa.get("name", "")), str(sa.get("uid", ""))
        if not ns or not name or claims.get("sub") != service_account_username(ns, name):
            raise AuthenticationError("invalid bearer token, sub does not match the kubernetes.io claim")
        self._check_sa(ns, name, uid)
        extra: dict[str, tuple[str, ...]] = {}
        for kind, resource in (("pod", "pods"), ("secret", "secrets")):
            ref = k8s.get(kind)
            if not ref:
                continue
            obj_uid = _uid(self.lookup(resource, ns, str(ref.get("name", ""))))
            if obj_uid is None:
                raise AuthenticationError(f"invalid bearer token, {kind}: {ns}/{ref.get('name')} not found")
            if obj_uid != ref.get("uid"):
                raise AuthenticationError(f"invalid bearer token, the UID in the bound object reference "
                                          f"({ref.get('uid')}) does not match the UID in record. The object "
                                          f"might have been deleted and then recreated")
            if kind == "pod":
                extra["authentication.kubernetes.io/pod-name"] = (str(ref.get("name")),)
                extra["authentication.kubernetes.io/pod-uid"] = (str(ref.get("uid")),)
        node = k8s.get("node")
        if node:
            extra["authentication.kubernetes.io/node-name"] = (str(node.get("name")),)
        return UserInfo(service_account_username(ns, name), uid, service_account_groups(ns), extra)

    def _legacy(self, claims: dict[str, Any]) -> UserInfo:
        ns = str(claims.get("kubernetes.io/serviceaccount/namespace", ""))
        name = str(claims.get("kubernetes.io/serviceaccount/service-account.name", ""))
        uid = str(claims.get("kubernetes.io/serviceaccount/service-account.uid", ""))
        secret_name = str(claims.get("kubernetes.io/serviceaccount/secret.name", ""))
        if not ns or not name or not secret_name or claims.get("sub") != service_account_username(ns, name):
            raise AuthenticationError("invalid bearer token, malformed legacy service account token")
        secret = self.lookup("secrets", ns, secret_name)
        if secret is None or _uid(secret) is None:
            raise AuthenticationError(f"invalid bearer token, secret {ns}/{secret_name} has been deleted")
        ann = (secret.get("metadata") or {}).get("annotations") or {}
        if ann.get("kubernetes.io/service-account.name") != name or (
                uid and ann.get("kubernetes.io/service-account.uid") not in (None, uid)):
            raise AuthenticationError(f"invalid bearer token, secret {ns}/{secret_name} does not reference "
                                      f"service account {ns}/{name}")
        self._check_sa(ns, name, uid)
        return UserInfo(service_account_username(ns, name), uid, service_account_groups(ns))
