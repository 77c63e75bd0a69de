"""Passwords and tokens: the only secrets auth handles. Pure: salts, keys and clocks are passed in.

Passwords are stored as PBKDF2-SHA256 (stdlib, as etcd stores bcrypt: slow on purpose, hashed once by the
member that received the request, never inside the log's apply). Tokens are stateless and signed with the
cluster's token key (replicated through the log when auth is enabled), so any member accepts a token any
other member issued, and a token dies with its expiry or when the user is deleted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from raftkv import errors

PBKDF2_ITERATIONS = 20_000
TOKEN_TTL_S = 300  # etcd's --auth-token-ttl default


def hash_password(password: str, salt: bytes) -> str:
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, PBKDF2_ITERATIONS)
    return f"pbkdf2-sha256${PBKDF2_ITERATIONS}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, iterations, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "pbkdf2-sha256":
        return False
    got = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt), int(iterations))
    return hmac.compare_digest(got.hex(), digest)


def issue_token(key_hex: str, user: str, now: float, ttl_s: int = TOKEN_TTL_S) -> str:
    body = f"{base64.urlsafe_b64encode(user.encode()).decode()}.{int(now) + ttl_s}"
    return f"{body}.{_mac(key_hex, body)}"


def verify_token(key_hex: str, token: str, now: float) -> str:
    """The token's user; InvalidAuthToken if it is malformed, forged or expired."""
    try:
        user_b64, expiry, mac = token.split(".")
        body = f"{user_b64}.{expiry}"
        if not key_hex or not hmac.compare_digest(mac, _mac(key_hex, body)) or int(expiry) < now:
            raise errors.InvalidAuthToken()
        return base64.urlsafe_b64decode(user_b64.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        raise errors.InvalidAuthToken() from None


def _mac(key_hex: str, body: str) -> str:
    return hmac.new(bytes.fromhex(key_hex), body.encode(), hashlib.sha256).hexdigest()
