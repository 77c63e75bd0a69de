"""Lay out buckets of sorted key/value pairs as a bbolt file (bytes).

The layout is the one a freshly compacted bbolt file has: pages 0 and 1 are the two metas (both
valid, the second newer), then every bucket's pages, then the root bucket's; nothing is free,
and the free list is not stored (meta.freelist = NO_FREELIST, as etcd's backend runs bbolt with
NoFreelistSync): bbolt rebuilds it on open. Leaves are filled up to a page; an element larger
than a page gets a page of its own with overflow pages. A bucket small enough (a quarter page
or less, bbolt's own rule) is stored inline in its parent's leaf, as bbolt does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from raftkv.bbolt.layout import (
    BRANCH_ELEMENT,
    BRANCH_PAGE,
    BUCKET_HEADER,
    BUCKET_LEAF_FLAG,
    DEFAULT_PAGE_SIZE,
    LEAF_ELEMENT,
    LEAF_PAGE,
    MIN_PAGE_SIZE,
    NO_FREELIST,
    PAGE_HEADER,
    encode_meta,
)

_Element = tuple[int, bytes, bytes]  # (leaf flags, key, value)
_HDR = PAGE_HEADER.size
_EL = LEAF_ELEMENT.size


def _leaf_bytes(pid: int, elements: Sequence[_Element], page_size: int, pad: bool) -> tuple[bytes, int]:
    """A leaf page holding `elements` and the number of pages it spans (1 when not padded, inline)."""
    n = len(elements)
    size = _HDR + n * _EL + sum(len(k) + len(v) for _f, k, v in elements)
    pages = -(-size // page_size) if pad else 1
    buf = bytearray(pages * page_size if pad else size)
    PAGE_HEADER.pack_into(buf, 0, pid, LEAF_PAGE, n, pages - 1 if pad else 0)
    at = _HDR + n * _EL
    pack = LEAF_ELEMENT.pack_into
    for i, (flags, k, v) in enumerate(elements):
        el = _HDR + i * _EL
        pack(buf, el, flags, at - el, len(k), len(v))
        buf[at:at + len(k)] = k
        at += len(k)
        buf[at:at + len(v)] = v
        at += len(v)
    return bytes(buf), pages


def _branch_bytes(pid: int, children: Sequence[tuple[bytes, int]], page_size: int) -> tuple[bytes, int]:
    n = len(children)
    size = _HDR + n * BRANCH_ELEMENT.size + sum(len(k) for k, _p in children)
    pages = -(-size // page_size)
    buf = bytearray(pages * page_size)
    PAGE_HEADER.pack_into(buf, 0, pid, BRANCH_PAGE, n, pages - 1)
    at = _HDR + n * BRANCH_ELEMENT.size
    for i, (k, child) in enumerate(children):
        el = _HDR + i * BRANCH_ELEMENT.size
        BRANCH_ELEMENT.pack_into(buf, el, at - el, len(k), child)
        buf[at:at + len(k)] = k
        at += len(k)
    return bytes(buf), pages


def _groups(sizes: Iterable[int], page_size: int) -> list[tuple[int, int]]:
    """Split elements of these sizes (element header included) into runs [start, end) that fill a page."""
    runs: list[tuple[int, int]] = []
    start = 0
    used = _HDR
    i = 0
    for i, s in enumerate(sizes):
        if i > start and used + s > page_size:
            runs.append((start, i))
            start, used = i, _HDR
        used += s
    else:
        i += 1
    if i > start or not runs:
        runs.append((start, i if i > start else start))
    return runs


class _Writer:
    def __init__(self, page_size: int) -> None:
        self.ps = page_size
        self.next = 2  # pages 0 and 1 are the metas
        self.pages: list[bytes] = []

    def tree(self, elements: Sequence[_Element]) -> int:
        """Write `elements` (sorted) as a B+tree and return its root page id."""
        level: list[tuple[bytes, int]] = []
        for start, end in _groups((_EL + len(k) + len(v) for _f, k, v in elements), self.ps):
            part = elements[start:end]
            page, n = _leaf_bytes(self.next, part, self.ps, pad=True)
            level.append((part[0][1] if part else b"", self.next))
            self.pages.append(page)
            self.next += n
        while len(level) > 1:
            upper: list[tuple[bytes, int]] = []
            for start, end in _groups((BRANCH_ELEMENT.size + len(k) for k, _p in level), self.ps):
                children = level[start:end]
                page, n = _branch_bytes(self.next, children, self.ps)
                upper.append((children[0][0], self.next))
                self.pages.append(page)
                self.next += n
            level = upper
        return level[0][1]

    def bucket_value(self, pairs: Sequence[tuple[bytes, bytes]]) -> bytes:
        """The value a parent leaf stores for a bucket holding `pairs`: inline when small enough."""
        elements = [(0, k, v) for k, v in pairs]
        size = _HDR + sum(_EL + len(k) + len(v) for k, v in pairs)
        if size <= self.ps // 4:
            return BUCKET_HEADER.pack(0, 0) + _leaf_bytes(0, elements, self.ps, pad=False)[0]
        return BUCKET_HEADER.pack(self.tree(elements), 0)


def _check_sorted(name: bytes, pairs: Sequence[tuple[bytes, bytes]]) -> None:
    for i in range(1, len(pairs)):
        if pairs[i - 1][0] >= pairs[i][0]:
            raise ValueError(f"bucket {name!r}: keys must be unique and sorted ({pairs[i][0]!r} after "
                             f"{pairs[i - 1][0]!r})")


def write_db(buckets: Mapping[bytes, Sequence[tuple[bytes, bytes]]], page_size: int = DEFAULT_PAGE_SIZE,
             txid: int = 1) -> bytes:
    """A bbolt file whose root holds one bucket per name, each with its (key, value) pairs, which must be
    sorted by key without duplicates (bbolt's order: bytewise)."""
    if page_size < MIN_PAGE_SIZE or page_size & (page_size - 1):
        raise ValueError(f"page size {page_size} is not a power of two >= {MIN_PAGE_SIZE}")
    w = _Writer(page_size)
    root_elements: list[_Element] = []
    for name in sorted(buckets):
        pairs = buckets[name]
        _check_sorted(name, pairs)
        root_elements.append((BUCKET_LEAF_FLAG, name, w.bucket_value(pairs)))
    root = w.tree(root_elements)
    metas = [encode_meta(page_size, root, NO_FREELIST, w.next, txid + pid, pid) for pid in (0, 1)]
    return b"".join(metas + w.pages)
