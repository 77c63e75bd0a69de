"""The sha256 trailer etcd appends to a snapshot, checked as `etcdctl snapshot restore` checks it.

A bbolt file is a whole number of pages (a multiple of 512 bytes), so a file whose size is 32
more than such a multiple carries a trailer: the sha256 of everything before it.
"""

from __future__ import annotations

import hashlib

SHA_SIZE = 32


class HashError(Exception):
    """The snapshot's trailer is missing or does not match (etcdctl's wording)."""


def has_trailer(size: int) -> bool:
    return size % 512 == SHA_SIZE


def _go_bytes(b: bytes) -> str:
    """A byte slice as Go's %v prints it: [1 2 3]."""
    return "[" + " ".join(str(x) for x in b) + "]"


def check(data: bytes, skip_hash_check: bool) -> bytes:
    """The database without its trailer; raises HashError where etcdctl refuses the file."""
    hashed = has_trailer(len(data))
    if not hashed:
        if not skip_hash_check:
            raise HashError("snapshot missing hash but --skip-hash-check=false")
        return data
    db, stored = data[:-SHA_SIZE], data[-SHA_SIZE:]
    if not skip_hash_check:
        computed = hashlib.sha256(db).digest()
        if computed != stored:
            raise HashError(f"expected sha256 {_go_bytes(stored)}, got {_go_bytes(computed)}")
    return db


def append(db: bytes) -> bytes:
    """`db` followed by its trailer, as etcd's Snapshot RPC ends its stream."""
    return db + hashlib.sha256(db).digest()
