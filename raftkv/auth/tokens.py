"""etcd's two token providers, chosen by `--auth-token`, and the auth-revision rule. Pure: clocks are passed in.

* `simple` (etcd's default): an opaque token valid for `--auth-token-ttl` seconds after its last use on a
  member. etcd keeps random tokens in each member's memory (assigned on every member through the log);
  raftkv signs `user.issue-revision.expiry` with the cluster's token key (replicated when auth is enabled),
  so every member accepts it without a log entry, and each member slides the expiry of tokens it has seen
  used, as etcd's TTL keeper does. Like etcd, a simple token dies with its user, a password change or
  `auth disable`, and it is not refused for an old auth revision (etcd checks it against the store's
  current revision).
* `jwt,pub-key=...,priv-key=...,sign-method=...,ttl=5m`: a signed JWT with etcd's claims `username`,
  `revision` (the auth store's revision when issued) and `exp`; any member with the public key verifies it.
  A request whose token carries a revision older than the store's is refused with etcd's
  `etcdserver: revision of auth store is old`; clients then authenticate again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from raftkv import errors
from raftkv.auth.jwt import METHODS, BadKey, JwtError, JwtSigner, load_signer
from raftkv.auth.store import AuthStore

DEFAULT_SIMPLE_TTL_S = 300  # etcd's --auth-token-ttl
DEFAULT_JWT_TTL_S = 300  # etcd's jwt ttl option default: 5m
_JWT_OPTIONS = ("pub-key", "priv-key", "sign-method", "ttl")


class AuthOldRevision(errors.InvalidArgument):
    """etcd's ErrGRPCAuthOldRevision (codes.InvalidArgument): the token predates an auth change."""

    message = "etcdserver: revision of auth store is old"


class VerifyOnly(errors.RaftKVError):
    """etcd's ErrVerifyOnly: a member holding only the public key cannot issue tokens."""

    message = "auth: token signing attempted with verify-only key"


class TokenConfigError(ValueError):
    """A bad `--auth-token` value or key file; the message is etcd's reason."""


@dataclass(frozen=True)
class Identity:
    user: str
    revision: int  # the auth revision the request is judged at (etcd's AuthInfo.Revision)


class TokenProvider(Protocol):
    def assign(self, store: AuthStore, user: str, now: float) -> str:
        """A token for `user`, who has just proved their password."""

    def identify(self, store: AuthStore, token: str, now: float) -> Identity:
        """Who a token speaks for; InvalidAuthToken if it is malformed, forged, expired or revoked."""


def check_revision(store: AuthStore, who: Identity) -> None:
    """etcd's isOpPermitted rule: a request judged at an older auth revision than the store's is refused."""
    if who.revision < store.revision:
        raise AuthOldRevision()


# ---- simple
@dataclass
class SimpleTokens:
    """Stateless signed tokens with etcd's simple-token lifetime (see the module docstring)."""

    ttl_s: int = DEFAULT_SIMPLE_TTL_S
    _last_use: dict[str, float] = field(default_factory=dict)  # token -> expiry slid on this member

    def assign(self, store: AuthStore, user: str, now: float) -> str:
        body = f"{_b64(user)}.{store.revision}.{int(now) + self.ttl_s}"
        return f"{body}.{_mac(store.token_key, body)}"

    def identify(self, store: AuthStore, token: str, now: float) -> Identity:
        try:
            user_b64, issued, expiry, mac = token.split(".")
            body = f"{user_b64}.{issued}.{expiry}"
            if not store.token_key or not hmac.compare_digest(mac, _mac(store.token_key, body)):
                raise errors.InvalidAuthToken()
            user = base64.urlsafe_b64decode(user_b64.encode()).decode()
            issued_rev, expires = int(issued), max(int(expiry), self._last_use.get(token, 0.0))
        except (ValueError, UnicodeDecodeError):
            raise errors.InvalidAuthToken() from None
        if expires < now or issued_rev < store.tokens_valid_from(user):
            self._last_use.pop(token, None)
            raise errors.InvalidAuthToken()
        self._slide(token, now)
        return Identity(user, store.revision)

    def _slide(self, token: str, now: float) -> None:
        """etcd's TTL keeper: each use pushes the expiry out by the TTL (on this member)."""
        if len(self._last_use) >= 10_000:  # bounded: drop what has expired anyway
            self._last_use = {t: e for t, e in self._last_use.items() if e >= now}
        self._last_use[token] = now + self.ttl_s


# ---- jwt
@dataclass
class JwtTokens:
    signer: JwtSigner
    ttl_s: float = DEFAULT_JWT_TTL_S

    def assign(self, store: AuthStore, user: str, now: float) -> str:
        if self.signer.verify_only:
            raise VerifyOnly()
        return self.signer.sign({"username": user, "revision": store.revision, "exp": int(now + self.ttl_s)})

    def identify(self, store: AuthStore, token: str, now: float) -> Identity:
        try:
            claims = self.signer.verify(token)
        except JwtError:
            raise errors.InvalidAuthToken() from None
        user, revision, exp = claims.get("username"), claims.get("revision"), claims.get("exp")
        if not isinstance(user, str) or not _is_number(revision):
            raise errors.InvalidAuthToken()
        if exp is not None and (not _is_number(exp) or now > exp):  # golang-jwt checks exp only when present
            raise errors.InvalidAuthToken()
        return Identity(user, int(revision))  # type: ignore[arg-type]


# ---- --auth-token
def parse_options(spec: str) -> tuple[str, dict[str, str]]:
    """`type,k=v,...` into its type and options (etcd's decomposeOpts)."""
    kind, *rest = spec.split(",")
    opts: dict[str, str] = {}
    for item in rest:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise TokenConfigError(f"invalid auth options: {item!r} is not key=value")
        if key in opts:
            raise TokenConfigError(f"invalid auth options: {key!r} given twice")
        opts[key] = value
    return kind, opts


def parse_duration(text: str) -> float:
    """A Go duration (`5m`, `90s`, `1h30m`, `500ms`) in seconds."""
    parts = re.fullmatch(r"((\d+(\.\d+)?)(h|m|s|ms|us|µs|ns))+", text)
    if not parts:
        raise TokenConfigError(f"invalid duration {text!r}")
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
    return sum(float(n) * scale[u] for n, _, u in re.findall(r"(\d+(\.\d+)?)(h|ms|us|µs|ns|m|s)", text))


def build_provider(spec: str, simple_ttl_s: int, read: Callable[[str], bytes]) -> tuple[TokenProvider, list[str]]:
    """The provider `--auth-token` names and the unknown jwt options (etcd warns about them); every
    refusal etcd makes at start is a TokenConfigError. `read` reads a key file (the only I/O)."""
    kind, opts = parse_options(spec)
    if kind == "simple":
        if opts:
            raise TokenConfigError("invalid auth options: simple takes no options")
        if simple_ttl_s <= 0:
            raise TokenConfigError("--auth-token-ttl must be positive")
        return SimpleTokens(simple_ttl_s), []
    if kind != "jwt":
        raise TokenConfigError(f"invalid auth options: unknown token type {kind!r} (expected simple or jwt)")
    ttl = parse_duration(opts["ttl"]) if opts.get("ttl") else DEFAULT_JWT_TTL_S
    if ttl <= 0:
        raise TokenConfigError("invalid auth options: ttl must be positive")
    keys: dict[str, bytes | None] = {}
    for name in ("priv-key", "pub-key"):
        path = opts.get(name)
        try:
            keys[name] = read(path) if path else None
        except OSError as exc:
            raise TokenConfigError(f"{name}: cannot read {path}: {exc.strerror}") from exc
    method = opts.get("sign-method", "")
    if method not in METHODS:
        raise TokenConfigError(f"invalid auth signature method {method!r} (one of {', '.join(METHODS)})")
    try:
        signer = load_signer(method, keys["priv-key"], keys["pub-key"])
    except BadKey as exc:
        raise TokenConfigError(f"jwt {method}: {exc}") from exc
    return JwtTokens(signer, ttl), sorted(k for k in opts if k not in _JWT_OPTIONS)


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


def _mac(key_hex: str, body: str) -> str:
    return hmac.new(bytes.fromhex(key_hex), body.encode(), hashlib.sha256).hexdigest()
