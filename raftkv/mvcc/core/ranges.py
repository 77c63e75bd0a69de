"""etcd's key-range conventions, in one place.

`range_end` empty means the single key; `b"\\0"` means every key >= `key`; otherwise the
half-open interval [key, range_end). A prefix's range end is the prefix with its last
byte below 0xff incremented (and the rest dropped); a prefix of only 0xff bytes means "to
the end" (`b"\\0"`).
"""

from __future__ import annotations


def prefix_end(prefix: bytes) -> bytes:
    b = bytearray(prefix)
    for i in range(len(b) - 1, -1, -1):
        if b[i] < 0xFF:
            b[i] += 1
            return bytes(b[: i + 1])
    return b"\0"


def in_range(k: bytes, key: bytes, end: bytes) -> bool:
    if not end:
        return k == key
    if end == b"\0":
        return k >= key
    return key <= k < end


def overlaps(a_key: bytes, a_end: bytes, b_key: bytes, b_end: bytes) -> bool:
    """Whether two etcd ranges share a key."""
    def bounds(k: bytes, e: bytes) -> tuple[bytes, bytes | None]:
        if not e:
            return k, k + b"\0"
        if e == b"\0":
            return k, None
        return k, e

    alo, ahi = bounds(a_key, a_end)
    blo, bhi = bounds(b_key, b_end)
    return (bhi is None or alo < bhi) and (ahi is None or blo < ahi)
