"""Passwords: PBKDF2-SHA256 hashes. Pure: salts are passed in. (Tokens: `raftkv.auth.tokens`.)

Passwords are stored as PBKDF2-SHA256 (stdlib, as etcd stores bcrypt: slow on purpose, hashed once by the
member that received the request, never inside the log's apply).
"""

from __future__ import annotations

import hashlib
import hmac

PBKDF2_ITERATIONS = 20_000


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
