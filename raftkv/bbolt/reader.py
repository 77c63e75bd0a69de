"""Read a whole bbolt file (bytes) into its buckets, checking every page it follows.

bbolt trusts its file: a truncated or garbled one makes it panic or fault. This reader checks
what it touches (meta magic, version and checksum; page ids, flags and bounds; element bounds;
cycles), so damage surfaces as `BoltError` naming the page, never as an IndexError.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from raftkv.bbolt.layout import (
    BRANCH_ELEMENT,
    BRANCH_PAGE,
    BUCKET_HEADER,
    BUCKET_LEAF_FLAG,
    CHECKSUM,
    DEFAULT_PAGE_SIZE,
    LEAF_ELEMENT,
    LEAF_PAGE,
    MAGIC,
    META,
    MIN_PAGE_SIZE,
    PAGE_HEADER,
    VERSION,
    BoltError,
    fnv64a,
)

_MAX_DEPTH = 64  # a B+tree of 4 KiB pages is a handful of levels deep; more is a loop in damaged pages


@dataclass
class Bucket:
    """A bucket's entries in key order: `items` holds (key, value) with value None for a nested bucket,
    whose contents are in `buckets`."""

    items: list[tuple[bytes, bytes | None]] = field(default_factory=list)
    buckets: dict[bytes, Bucket] = field(default_factory=dict)
    sequence: int = 0

    def pairs(self) -> list[tuple[bytes, bytes]]:
        """The plain key/value pairs (nested buckets left out)."""
        return [(k, v) for k, v in self.items if v is not None]


@dataclass
class Database:
    page_size: int
    txid: int
    pgid: int  # pages in use (the high-water mark): the database size is pgid * page_size
    root: Bucket

    @property
    def size(self) -> int:
        return self.pgid * self.page_size

    def bucket(self, name: bytes) -> Bucket | None:
        return self.root.buckets.get(name)


@dataclass
class _Meta:
    page_size: int
    root: int
    freelist: int
    pgid: int
    txid: int


def _meta_at(data: bytes, offset: int) -> _Meta:
    """The meta stored at `offset` (a meta page's header start), validated as bbolt validates it."""
    start = offset + PAGE_HEADER.size
    if len(data) < start + META.size + CHECKSUM.size:
        raise BoltError("invalid database")
    magic, version, page_size, _flags, root, _seq, freelist, pgid, txid = META.unpack_from(data, start)
    if magic != MAGIC:
        raise BoltError("invalid database")
    if version != VERSION:
        raise BoltError("version mismatch")
    (checksum,) = CHECKSUM.unpack_from(data, start + META.size)
    if checksum != 0 and checksum != fnv64a(data[start:start + META.size]):
        raise BoltError("checksum error")
    return _Meta(page_size, root, freelist, pgid, txid)


def _choose_meta(data: bytes) -> _Meta:
    """bbolt keeps two metas and uses the valid one with the higher txid."""
    try:
        m0: _Meta | None = _meta_at(data, 0)
        err0: BoltError | None = None
    except BoltError as exc:
        m0, err0 = None, exc
    sizes = [m0.page_size] if m0 is not None else [1 << n for n in range(9, 17)]
    m1 = None
    for ps in sizes:
        try:
            m1 = _meta_at(data, ps)
            break
        except BoltError:
            continue
    best = max((m for m in (m0, m1) if m is not None), key=lambda m: m.txid, default=None)
    if best is None:
        assert err0 is not None
        raise err0
    if best.page_size < MIN_PAGE_SIZE or best.page_size & (best.page_size - 1):
        raise BoltError(f"invalid database: page size {best.page_size} is not a power of two >= {MIN_PAGE_SIZE}")
    return best


class _Walker:
    def __init__(self, data: bytes, meta: _Meta) -> None:
        self.data = data
        self.ps = meta.page_size
        self.hwm = meta.pgid
        self.seen: set[int] = set()

    def page(self, pgid: int) -> tuple[memoryview, int, int]:
        """(the bytes of page `pgid` with its overflow, flags, count), bounds checked."""
        if pgid < 2 or pgid >= self.hwm:
            raise BoltError(f"invalid database: page {pgid} is out of range (pages 2..{self.hwm - 1})")
        if pgid in self.seen:
            raise BoltError(f"invalid database: page {pgid} is reachable twice (damaged tree)")
        self.seen.add(pgid)
        off = pgid * self.ps
        if off + PAGE_HEADER.size > len(self.data):
            raise BoltError(f"invalid database: page {pgid} is beyond the end of the file "
                            f"({len(self.data)} bytes; truncated?)")
        pid, flags, count, overflow = PAGE_HEADER.unpack_from(self.data, off)
        if pid != pgid:
            raise BoltError(f"invalid database: page {pgid} carries id {pid}")
        end = off + (overflow + 1) * self.ps
        if end > len(self.data) or pgid + overflow >= self.hwm:
            raise BoltError(f"invalid database: page {pgid} (+{overflow} overflow) runs past the end of the "
                            f"database ({len(self.data)} bytes; truncated?)")
        return memoryview(self.data)[off:end], flags, count

    def tree(self, pgid: int, out: Bucket, depth: int) -> None:
        if depth > _MAX_DEPTH:
            raise BoltError(f"invalid database: tree deeper than {_MAX_DEPTH} levels at page {pgid}")
        buf, flags, count = self.page(pgid)
        if flags & BRANCH_PAGE:
            for child in _branch_children(buf, count, pgid):
                self.tree(child, out, depth + 1)
        elif flags & LEAF_PAGE:
            self.leaf(buf, count, pgid, out, depth)
        else:
            raise BoltError(f"invalid database: page {pgid} has flags {flags:#x}, not a branch or leaf page")

    def leaf(self, buf: memoryview, count: int, pgid: int, out: Bucket, depth: int) -> None:
        for flags, key, value in _leaf_elements(buf, count, pgid):
            if flags & BUCKET_LEAF_FLAG:
                out.items.append((key, None))
                out.buckets[key] = self.bucket(value, key, pgid, depth)
            else:
                out.items.append((key, value))

    def bucket(self, value: bytes, name: bytes, pgid: int, depth: int) -> Bucket:
        if len(value) < BUCKET_HEADER.size:
            raise BoltError(f"invalid database: bucket {name!r} on page {pgid} has a {len(value)}-byte header")
        root, seq = BUCKET_HEADER.unpack_from(value, 0)
        b = Bucket(sequence=seq)
        if root != 0:
            self.tree(root, b, depth + 1)
            return b
        inline = memoryview(value)[BUCKET_HEADER.size:]
        if len(inline) < PAGE_HEADER.size:
            raise BoltError(f"invalid database: inline bucket {name!r} on page {pgid} is truncated")
        _pid, flags, count, _overflow = PAGE_HEADER.unpack_from(inline, 0)
        if not flags & LEAF_PAGE:
            raise BoltError(f"invalid database: inline bucket {name!r} on page {pgid} is not a leaf page")
        self.leaf(inline, count, pgid, b, depth + 1)
        return b


def _branch_children(buf: memoryview, count: int, pgid: int) -> list[int]:
    base = PAGE_HEADER.size
    if base + count * BRANCH_ELEMENT.size > len(buf):
        raise BoltError(f"invalid database: branch page {pgid} claims {count} elements, more than fit")
    return [BRANCH_ELEMENT.unpack_from(buf, base + i * BRANCH_ELEMENT.size)[2] for i in range(count)]


def _leaf_elements(buf: memoryview, count: int, pgid: int) -> list[tuple[int, bytes, bytes]]:
    base = PAGE_HEADER.size
    size = len(buf)
    if base + count * LEAF_ELEMENT.size > size:
        raise BoltError(f"invalid database: leaf page {pgid} claims {count} elements, more than fit")
    out = []
    unpack = LEAF_ELEMENT.unpack_from
    for i in range(count):
        at = base + i * LEAF_ELEMENT.size
        flags, pos, ksize, vsize = unpack(buf, at)
        k0 = at + pos
        v1 = k0 + ksize + vsize
        if v1 > size:
            raise BoltError(f"invalid database: element {i} of leaf page {pgid} points past the page")
        out.append((flags, bytes(buf[k0:k0 + ksize]), bytes(buf[k0 + ksize:v1])))
    return out


def read_db(data: bytes) -> Database:
    """Every bucket of the database in `data` (a whole file; anything after the last page, such as
    etcd's sha256 trailer, is ignored). Raises BoltError on anything unreadable."""
    if len(data) < DEFAULT_PAGE_SIZE:  # bbolt cannot read its first page: it says no more than this
        raise BoltError("invalid database")
    meta = _choose_meta(data)
    if len(data) < 2 * meta.page_size:
        raise BoltError("file size too small")
    if meta.pgid < 3:
        raise BoltError(f"invalid database: high-water mark {meta.pgid} leaves no room for a root page")
    root = Bucket()
    walker = _Walker(data, meta)
    walker.tree(meta.root, root, 0)
    return Database(page_size=meta.page_size, txid=meta.txid, pgid=meta.pgid, root=root)
