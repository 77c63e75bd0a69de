"""Passwords: bcrypt hashes as etcd stores them. Pure: salts are passed in. (Tokens: `raftkv.auth.tokens`.)

etcd 3.4 keeps `bcrypt.GenerateFromPassword(password, --bcrypt-cost)` (Go's `$2a$`, cost 10 by default) in its
auth bucket, and so does raftkv, so a user moved by snapshot between the two keeps its password. A hash is
made once, by the member that received the request, never inside the log's apply; checking one costs the same
(~50-100 ms at cost 10; etcd pays it per Authenticate too, and tokens avoid it afterwards). Hashes written by
earlier raftkv versions (PBKDF2-SHA256) are still checked.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

import bcrypt

DEFAULT_BCRYPT_COST = 10  # Go's bcrypt.DefaultCost, etcd's --bcrypt-cost default
MIN_BCRYPT_COST, MAX_BCRYPT_COST = 4, 31
MAX_PASSWORD_BYTES = 72  # bcrypt reads no further
PBKDF2_ITERATIONS = 20_000

_STANDARD = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_BCRYPT = b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def bcrypt_salt(salt: bytes, cost: int = DEFAULT_BCRYPT_COST) -> bytes:
    """`$2a$<cost>$` and 16 bytes in bcrypt's base64: what Go's bcrypt writes, from a salt the caller drew."""
    if len(salt) != 16:
        raise ValueError("a bcrypt salt is 16 bytes")
    encoded = base64.b64encode(salt).translate(bytes.maketrans(_STANDARD, _BCRYPT))[:22]
    return b"$2a$%02d$" % cost + encoded


def hash_password(password: str, salt: bytes, cost: int = DEFAULT_BCRYPT_COST) -> str:
    return bcrypt.hashpw(password.encode()[:MAX_PASSWORD_BYTES], bcrypt_salt(salt, cost)).decode()


def check_password(password: str, stored: str) -> bool:
    if stored.startswith("$2"):
        try:
            return bcrypt.checkpw(password.encode()[:MAX_PASSWORD_BYTES], stored.encode())
        except ValueError:  # not a hash bcrypt can read
            return False
    try:
        scheme, iterations, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "pbkdf2-sha256":
        return False
    try:
        got = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt), int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(got.hex(), digest)
