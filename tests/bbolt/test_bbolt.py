"""bbolt's format: what we write reads back, etcd 3.4's own file reads, and damage is a BoltError.

`testdata/etcd-3.4.snap` is `etcdctl snapshot save` from a real etcd 3.4.23 (history, a deletion,
a lease, a compaction, 300 small keys); `etcdctl snapshot status` printed 81a4a30b, 307, 310, 66 kB.
"""

from __future__ import annotations

import pathlib
import random

import pytest

from raftkv.bbolt import BoltError, read_db, write_db
from raftkv.bbolt.layout import LEAF_PAGE, META, PAGE_HEADER, fnv64a

pytestmark = pytest.mark.unit

ETCD_SNAP = (pathlib.Path(__file__).parent / "testdata" / "etcd-3.4.snap").read_bytes()
ETCD_BUCKETS = [b"alarm", b"auth", b"authRoles", b"authUsers", b"cluster", b"key", b"lease", b"members",
                b"members_removed", b"meta"]


def contents(data: bytes) -> dict[bytes, list[tuple[bytes, bytes]]]:
    db = read_db(data)
    return {name: b.pairs() for name, b in db.root.buckets.items()}


def test_reads_etcds_own_snapshot() -> None:
    db = read_db(ETCD_SNAP)  # the sha256 trailer after the last page is ignored
    assert sorted(db.root.buckets) == ETCD_BUCKETS
    assert db.page_size == 4096 and db.size == 65536
    assert len(db.root.buckets[b"key"].items) == 303  # several leaf pages under a branch page
    assert db.root.buckets[b"cluster"].pairs() == [(b"clusterVersion", b"3.4.0")]  # an inline bucket
    assert dict(db.root.buckets[b"meta"].pairs())[b"consistent_index"] == (311).to_bytes(8, "big")


def test_rewriting_etcds_snapshot_keeps_every_bucket() -> None:
    original = contents(ETCD_SNAP)
    assert contents(write_db(original)) == original


@pytest.mark.parametrize("seed", range(12))
def test_write_then_read_round_trips(seed: int) -> None:
    rng = random.Random(seed)
    buckets: dict[bytes, list[tuple[bytes, bytes]]] = {b"empty": []}
    for n in range(rng.randrange(1, 6)):
        count = rng.choice([1, 5, 200, 3000])
        keys = sorted({rng.randbytes(rng.randrange(1, 40)) for _ in range(count)})
        size = rng.choice([0, 10, 300, 5000, 70_000])  # up to values spanning many overflow pages
        buckets[f"b{n}".encode()] = [(k, rng.randbytes(rng.randrange(size + 1))) for k in keys]
    page_size = rng.choice([512, 4096, 16384])
    data = write_db(buckets, page_size=page_size)
    assert len(data) % page_size == 0
    db = read_db(data)
    assert db.page_size == page_size and db.size == len(data)
    assert {name: b.pairs() for name, b in db.root.buckets.items()} == buckets


def test_small_buckets_are_inline_and_large_ones_are_trees() -> None:
    data = write_db({b"small": [(b"k", b"v")], b"large": [(b"%06d" % i, b"x" * 100) for i in range(500)]})
    # pages: 2 metas, the large bucket's leaves and branch, one root leaf holding both bucket headers
    root = read_db(data)
    assert root.root.buckets[b"small"].pairs() == [(b"k", b"v")]
    assert len(root.root.buckets[b"large"].items) == 500
    assert root.pgid == len(data) // 4096 > 10


def test_keys_must_be_sorted_and_unique() -> None:
    with pytest.raises(ValueError, match="sorted"):
        write_db({b"b": [(b"2", b""), (b"1", b"")]})
    with pytest.raises(ValueError, match="unique"):
        write_db({b"b": [(b"1", b""), (b"1", b"")]})


def _with_meta_field(data: bytes, offset: int, value: bytes, fix_checksum: bool) -> bytes:
    """`data` with bytes at `offset` inside both metas replaced (and the checksums recomputed if asked)."""
    out = bytearray(data)
    for pid in (0, 1):
        start = pid * 4096 + PAGE_HEADER.size
        out[start + offset:start + offset + len(value)] = value
        if fix_checksum:
            out[start + META.size:start + META.size + 8] = fnv64a(bytes(out[start:start + META.size])).to_bytes(8, "little")
    return bytes(out)


@pytest.mark.parametrize(("offset", "value", "fix", "message"), [
    (0, b"\0\0\0\0", True, "invalid database"),
    (4, b"\x03\0\0\0", True, "version mismatch"),
    (40, b"\x07", False, "checksum error"),
])
def test_meta_damage_uses_bbolts_words(offset: int, value: bytes, fix: bool, message: str) -> None:
    with pytest.raises(BoltError) as err:
        read_db(_with_meta_field(ETCD_SNAP, offset, value, fix))
    assert str(err.value) == message


def test_one_damaged_meta_falls_back_to_the_other() -> None:
    out = bytearray(ETCD_SNAP)
    out[PAGE_HEADER.size + 40] ^= 0xFF  # meta 0's checksum no longer matches; meta 1 is intact
    assert contents(bytes(out)) == contents(ETCD_SNAP)


@pytest.mark.parametrize(("data", "message"), [
    (b"", "invalid database"), (b"not a database\n", "invalid database"), (ETCD_SNAP[:5000], "file size too small"),
    (ETCD_SNAP[:12000], "beyond the end of the file"),
])
def test_short_files(data: bytes, message: str) -> None:
    with pytest.raises(BoltError, match=message):
        read_db(data)


def test_a_page_pointing_at_itself_is_damage_not_a_hang() -> None:
    data = bytearray(write_db({b"b": [(b"%04d" % i, b"v" * 50) for i in range(400)]}))
    db = read_db(bytes(data))
    # point the root leaf's first bucket header (a sub-tree root) at the root page itself
    root = next(p for p in range(2, db.pgid) if int.from_bytes(data[p * 4096 + 8:p * 4096 + 10], "little") == LEAF_PAGE
                and data[p * 4096 + 16] == 1)
    el = root * 4096 + PAGE_HEADER.size
    pos = int.from_bytes(data[el + 4:el + 8], "little")
    ksize = int.from_bytes(data[el + 8:el + 12], "little")
    data[el + pos + ksize:el + pos + ksize + 8] = root.to_bytes(8, "little")
    with pytest.raises(BoltError, match="reachable twice"):
        read_db(bytes(data))


@pytest.mark.parametrize("seed", range(6))
def test_damaged_files_raise_bolterror_or_read(seed: int) -> None:
    """Truncations, flipped bytes and garbage pages: a clear BoltError or a result, never another exception."""
    rng = random.Random(seed)
    for i in range(150):
        b = bytearray(ETCD_SNAP)
        if i % 3 == 0:
            b = b[:rng.randrange(len(b))]
        elif i % 3 == 1:
            for _ in range(rng.randrange(1, 20)):
                b[rng.randrange(len(b))] = rng.randrange(256)
        else:
            start, length = rng.randrange(2, 16) * 4096, rng.choice([16, 64, 4096])
            b[start:start + length] = rng.randbytes(length)
        try:
            read_db(bytes(b))
        except BoltError as exc:
            assert str(exc).startswith(("invalid database", "file size too small", "checksum error",
                                        "version mismatch"))
