"""The fixed layout of a bbolt file: page header, meta page, elements, the meta checksum.

All integers are little-endian (bbolt writes its structs in the machine's order, and every
platform etcd ships on is little-endian). A file is an array of pages of `page_size` bytes;
page n starts at n * page_size, and a page with `overflow` k spans k + 1 consecutive pages.

    page header (16 bytes): id u64, flags u16, count u16, overflow u32
    meta (64 bytes, after the header of pages 0 and 1): magic u32, version u32, page_size u32,
        flags u32, root bucket (root pgid u64, sequence u64), freelist pgid u64,
        high-water pgid u64, txid u64, checksum u64 (FNV-1a 64 of the 56 bytes before it)
    branch element (16 bytes): pos u32, ksize u32, pgid u64
    leaf element (16 bytes): flags u32, pos u32, ksize u32, vsize u32
`pos` counts from the element's own first byte to its key; a leaf's value follows its key.
A bucket is a leaf value with flag 1: its header (root pgid u64, sequence u64), and when the
root is 0 an inline page (header + elements + data) right after it.
"""

from __future__ import annotations

import struct

MAGIC = 0xED0CDAED
VERSION = 2
PAGE_HEADER = struct.Struct("<QHHI")
META = struct.Struct("<IIIIQQQQQ")  # everything up to the checksum
CHECKSUM = struct.Struct("<Q")
BRANCH_ELEMENT = struct.Struct("<IIQ")
LEAF_ELEMENT = struct.Struct("<IIII")
BUCKET_HEADER = struct.Struct("<QQ")

BRANCH_PAGE = 0x01
LEAF_PAGE = 0x02
META_PAGE = 0x04
FREELIST_PAGE = 0x10
BUCKET_LEAF_FLAG = 0x01
NO_FREELIST = 0xFFFFFFFFFFFFFFFF  # meta.freelist when the free list is not stored (etcd's NoFreelistSync)
DEFAULT_PAGE_SIZE = 4096
MIN_PAGE_SIZE = 512  # bbolt accepts any page size it can read a meta from; smaller ones are damage

_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_MASK = 0xFFFFFFFFFFFFFFFF


class BoltError(Exception):
    """The bytes are not a readable bbolt database. The message starts with bbolt's own wording
    ("invalid database", "version mismatch", "checksum error") where bbolt has one."""


def fnv64a(data: bytes) -> int:
    """FNV-1a, 64 bits: the meta page's checksum."""
    h = _FNV_OFFSET
    for b in data:
        h = ((h ^ b) * _FNV_PRIME) & _MASK
    return h


def encode_meta(page_size: int, root: int, freelist: int, pgid: int, txid: int, pid: int) -> bytes:
    """One whole meta page (`pid` 0 or 1), checksum included, padded to `page_size`."""
    body = META.pack(MAGIC, VERSION, page_size, 0, root, 0, freelist, pgid, txid)
    page = PAGE_HEADER.pack(pid, META_PAGE, 0, 0) + body + CHECKSUM.pack(fnv64a(body))
    return page + bytes(page_size - len(page))
