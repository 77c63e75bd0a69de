"""Revisions and their byte encoding as backend keys.

A revision is (main, sub): `main` counts committed write transactions, `sub` the writes
inside one. The backend key is 17 bytes, big-endian so that byte order is revision order:
8 bytes main, 8 bytes sub, 1 byte kind (`p` put, `t` tombstone).
"""

from __future__ import annotations

import struct

_REV = struct.Struct(">QQc")
PUT = b"p"
TOMBSTONE = b"t"


def rev_key(main: int, sub: int, kind: bytes = PUT) -> bytes:
    return _REV.pack(main, sub, kind)


def parse_rev_key(k: bytes) -> tuple[int, int, bool]:
    main, sub, kind = _REV.unpack(k)
    return main, sub, kind == TOMBSTONE


def rev_prefix(main: int) -> bytes:
    return struct.pack(">Q", main)
