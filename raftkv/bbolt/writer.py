"""Lay out buckets of sorted key/value pairs as a bbolt file (bytes).

The layout is the one a freshly compacted bbolt file has: pages 0 and 1 are the two metas (both
valid, the second newer), then every bucket's pages, then the root bucket's; nothing is free,
and the free list is not stored (meta.freelist = NO_FREELIST, as etcd's backend runs bbolt with
NoFreelistSync): bbolt rebuilds it on open. Leaves are filled up to a page; an element larger
than a page gets a page of its own with overflow pages. A bucket small enough (a quarter page
or less, bbolt's own rule) is stored inline in its parent's leaf, as bbolt does. `StreamWriter`
yields the pages as they fill (a store larger than memory can be written); `write_db` is the
in-memory form.
"""

from __future__ import annotations

import itertools
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence

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


def _runs(sizes: Iterable[int], page_size: int) -> list[tuple[int, int]]:
    """Split elements of these sizes (element header included) into runs [start, end) that fill a page."""
    runs: list[tuple[int, int]] = []
    start, used, n = 0, _HDR, 0
    for n, s in enumerate(sizes, 1):
        if n - 1 > start and used + s > page_size:
            runs.append((start, n - 1))
            start, used = n - 1, _HDR
        used += s
    if n > start or not runs:
        runs.append((start, n))
    return runs


def _sorted_pairs(name: bytes, pairs: Iterable[tuple[bytes, bytes]]) -> Iterator[tuple[bytes, bytes]]:
    prev: bytes | None = None
    for k, v in pairs:
        if prev is not None and prev >= k:
            raise ValueError(f"bucket {name!r}: keys must be unique and sorted ({k!r} after {prev!r})")
        prev = k
        yield k, v


class StreamWriter:
    """Writes a bbolt file page by page, so an image larger than memory can be built: `pages` yields the
    pages from page 2 on, in file order, as each fills; `metas` (after `pages` is exhausted) gives pages 0 and
    1, which name the root and so come last. Only one leaf's elements and the page ids of each tree level are
    held at a time."""

    def __init__(self, page_size: int = DEFAULT_PAGE_SIZE, txid: int = 1) -> None:
        if page_size < MIN_PAGE_SIZE or page_size & (page_size - 1):
            raise ValueError(f"page size {page_size} is not a power of two >= {MIN_PAGE_SIZE}")
        self.ps = page_size
        self.txid = txid
        self.next = 2  # pages 0 and 1 are the metas
        self.root = 0

    def pages(self, buckets: Iterable[tuple[bytes, Iterable[tuple[bytes, bytes]]]]) -> Iterator[bytes]:
        """`buckets`: (name, its (key, value) pairs), both in bytewise order without duplicates."""
        root_elements: list[_Element] = []
        for name, pairs in buckets:
            if root_elements and root_elements[-1][1] >= name:
                raise ValueError(f"bucket names must be unique and sorted ({name!r} after {root_elements[-1][1]!r})")
            value = yield from self._bucket(name, pairs)
            root_elements.append((BUCKET_LEAF_FLAG, name, value))
        self.root = yield from self._tree(iter(root_elements))

    def metas(self) -> bytes:
        if not self.root:
            raise RuntimeError("metas() before pages() was consumed")
        return b"".join(encode_meta(self.ps, self.root, NO_FREELIST, self.next, self.txid + pid, pid)
                        for pid in (0, 1))

    def _bucket(self, name: bytes, pairs: Iterable[tuple[bytes, bytes]]) -> Generator[bytes, None, bytes]:
        """The value a parent leaf stores for a bucket: inline when it fits a quarter page (bbolt's rule)."""
        it = _sorted_pairs(name, pairs)
        held: list[_Element] = []
        size = _HDR
        for k, v in it:
            held.append((0, k, v))
            size += _EL + len(k) + len(v)
            if size > self.ps // 4:
                root = yield from self._tree(itertools.chain(held, ((0, k2, v2) for k2, v2 in it)))
                return BUCKET_HEADER.pack(root, 0)
        return BUCKET_HEADER.pack(0, 0) + _leaf_bytes(0, held, self.ps, pad=False)[0]

    def _tree(self, elements: Iterator[_Element]) -> Generator[bytes, None, int]:
        """Write sorted `elements` as a B+tree, leaves first, then each branch level; returns the root's id."""
        level: list[tuple[bytes, int]] = []
        run: list[_Element] = []
        used = _HDR
        for el in elements:
            s = _EL + len(el[1]) + len(el[2])
            if run and used + s > self.ps:
                yield self._leaf(run, level)
                run, used = [], _HDR
            run.append(el)
            used += s
        if run or not level:
            yield self._leaf(run, level)
        while len(level) > 1:
            upper: list[tuple[bytes, int]] = []
            for start, end in _runs((BRANCH_ELEMENT.size + len(k) for k, _p in level), self.ps):
                children = level[start:end]
                page, n = _branch_bytes(self.next, children, self.ps)
                upper.append((children[0][0], self.next))
                self.next += n
                yield page
            level = upper
        return level[0][1]

    def _leaf(self, run: list[_Element], level: list[tuple[bytes, int]]) -> bytes:
        page, n = _leaf_bytes(self.next, run, self.ps, pad=True)
        level.append((run[0][1] if run else b"", self.next))
        self.next += n
        return page


def write_db(buckets: Mapping[bytes, Sequence[tuple[bytes, bytes]]], page_size: int = DEFAULT_PAGE_SIZE,
             txid: int = 1) -> bytes:
    """A bbolt file whose root holds one bucket per name, each with its (key, value) pairs, which must be
    sorted by key without duplicates (bbolt's order: bytewise). In memory; StreamWriter for large images."""
    w = StreamWriter(page_size, txid)
    pages = list(w.pages((name, buckets[name]) for name in sorted(buckets)))
    return w.metas() + b"".join(pages)
