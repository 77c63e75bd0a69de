"""WAL record encoding, pure: bytes in, records (with their offsets) or a precise error out.

Record layout (all integers big-endian):

    u32 length of (type + payload) | u32 crc32 of (type + payload) | u8 type | payload

Types and payloads:
    METADATA    opaque bytes (the member's identity, written first in every segment)
    HARD_STATE  u64 term | u64 vote | u64 commit
    ENTRIES     u32 count, then per entry: u64 term | u64 index | u8 type | u32 len | data
    SNAPSHOT    u64 index | u64 term | conf state (4 length-prefixed u64 lists, u8 auto_leave)

One Ready's entries form one ENTRIES record (several if they exceed SPLIT_RECORD_BYTES);
the whole batch is one write, and a torn write only ever loses unacknowledged entries.

Damage classification: a record that cannot be read (short header, impossible length,
body past the end, CRC mismatch, unknown type) is a *torn* write only when no intact
record starts anywhere after it; otherwise it is *corruption*. A record whose CRC holds
but whose payload does not decode raises `PayloadError` (a `ValueError`).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum

from raftkv.raft.types import ConfState, Entry, EntryType, HardState, SnapshotMetadata

HEADER = struct.Struct(">IIB")
HEADER_SIZE = HEADER.size
_HS = struct.Struct(">QQQ")
_ENTRY = struct.Struct(">QQBI")
_U32 = struct.Struct(">I")
_SNAP = struct.Struct(">QQ")
MAX_RECORD_BYTES = 256 * 1024 * 1024
"""Largest record the decoder accepts; a length above it is damage, not data."""
SPLIT_RECORD_BYTES = 32 * 1024 * 1024
"""A batch whose entries exceed this is written as several ENTRIES records (still one write)."""


class RecordType(IntEnum):
    METADATA = 1
    HARD_STATE = 2
    ENTRIES = 3
    SNAPSHOT = 4


class DecodeError(Exception):
    """A record that cannot be read at `offset`; `torn` says whether it may be an interrupted write
    at the end of the data (nothing valid can follow it)."""

    def __init__(self, offset: int, reason: str, torn: bool) -> None:
        super().__init__(f"offset {offset}: {reason}")
        self.offset = offset
        self.reason = reason
        self.torn = torn


@dataclass(slots=True)
class Record:
    offset: int
    type: RecordType
    payload: bytes


def frame(rtype: RecordType, payload: bytes) -> bytes:
    body = bytes((rtype,)) + payload
    return _U32.pack(len(body)) + _U32.pack(zlib.crc32(body)) + body


def encode_hard_state(hs: HardState) -> bytes:
    return frame(RecordType.HARD_STATE, _HS.pack(hs.term, hs.vote, hs.commit))


def encode_entries(entries: list[Entry]) -> bytes:
    parts = [_U32.pack(len(entries))]
    pack = _ENTRY.pack
    for e in entries:
        parts.append(pack(e.term, e.index, e.type, len(e.data)))
        parts.append(e.data)
    return frame(RecordType.ENTRIES, b"".join(parts))


def split_for_records(entries: list[Entry]) -> list[list[Entry]]:
    """`entries` cut into runs that each encode to at most `SPLIT_RECORD_BYTES` (one run if small)."""
    if not entries:
        return []
    runs: list[list[Entry]] = []
    start = 0
    size = 0
    for i, e in enumerate(entries):
        n = _ENTRY.size + len(e.data)
        if n + 64 > MAX_RECORD_BYTES:
            raise ValueError(f"wal: entry {e.index} of {len(e.data)} bytes exceeds the record limit")
        if size + n > SPLIT_RECORD_BYTES and i > start:
            runs.append(entries[start:i])
            start, size = i, 0
        size += n
    runs.append(entries[start:])
    return runs


def _u64_list(xs: list[int]) -> bytes:
    return _U32.pack(len(xs)) + b"".join(struct.pack(">Q", x) for x in xs)


def encode_snapshot(meta: SnapshotMetadata) -> bytes:
    cs = meta.conf_state
    payload = (_SNAP.pack(meta.index, meta.term) + _u64_list(cs.voters) + _u64_list(cs.learners)
               + _u64_list(cs.voters_outgoing) + _u64_list(cs.learners_next) + bytes((1 if cs.auto_leave else 0,)))
    return frame(RecordType.SNAPSHOT, payload)


class PayloadError(ValueError):
    """A record whose CRC is intact but whose payload does not decode (a bug or a forged file)."""


def decode_hard_state(p: bytes) -> HardState:
    if len(p) != _HS.size:
        raise PayloadError(f"hard state payload of {len(p)} bytes")
    return HardState(*_HS.unpack(p))


def decode_entries(p: bytes) -> list[Entry]:
    try:
        return _decode_entries(p)
    except (struct.error, ValueError) as exc:
        raise PayloadError(f"entries: {exc}") from None


def _decode_entries(p: bytes) -> list[Entry]:
    (count,) = _U32.unpack_from(p, 0)
    pos = 4
    out = []
    unpack = _ENTRY.unpack_from
    for _ in range(count):
        term, index, etype, n = unpack(p, pos)
        pos += _ENTRY.size
        if pos + n > len(p):
            raise ValueError("entry data runs past the record")
        out.append(Entry(term, index, EntryType(etype), p[pos:pos + n]))
        pos += n
    if pos != len(p):
        raise ValueError("trailing bytes after the last entry")
    return out


def decode_snapshot(p: bytes) -> SnapshotMetadata:
    try:
        return _decode_snapshot(p)
    except (struct.error, IndexError) as exc:
        raise PayloadError(f"snapshot marker: {exc}") from None


def _decode_snapshot(p: bytes) -> SnapshotMetadata:
    index, term = _SNAP.unpack_from(p, 0)
    pos = _SNAP.size
    lists = []
    for _ in range(4):
        (n,) = _U32.unpack_from(p, pos)
        pos += 4
        lists.append(list(struct.unpack_from(">" + "Q" * n, p, pos)))
        pos += 8 * n
    auto_leave = p[pos] == 1
    if pos + 1 != len(p):
        raise PayloadError("trailing bytes after the snapshot marker")
    return SnapshotMetadata(ConfState(lists[0], lists[1], lists[2], lists[3], auto_leave), index, term)


def iter_records(data: bytes, base_offset: int = 0) -> Iterator[Record]:
    """Yield records in order; raise DecodeError at the first unreadable one.

    The error is `torn` (an interrupted final write) only if no valid record can be found
    anywhere after the damaged one: a bit flip in a length field can make a record look
    as if it ran past the end of the file, and calling that "torn" would silently drop the
    committed records behind it.
    """
    view = memoryview(data)
    pos = 0
    end = len(data)
    while pos < end:
        reason = _check_record(view, pos, end)
        if reason is not None:
            raise DecodeError(base_offset + pos, reason, torn=not _valid_record_after(view, pos + 1))
        length, _crc, rtype = HEADER.unpack_from(view, pos)
        body_end = pos + 8 + length
        yield Record(base_offset + pos, RecordType(rtype), bytes(view[pos + 9:body_end]))
        pos = body_end


_VALID_TYPES = frozenset(int(t) for t in RecordType)


def _check_record(data: memoryview, pos: int, end: int) -> str | None:
    """Why the record at `pos` is unreadable, or None if it is intact."""
    if end - pos < HEADER_SIZE:
        return "incomplete record header"
    length, crc, rtype = HEADER.unpack_from(data, pos)
    if length < 1 or length > MAX_RECORD_BYTES:
        return f"impossible record length {length}"
    body_end = pos + 8 + length
    if body_end > end:
        return "record runs past the end of the file"
    if zlib.crc32(data[pos + 8:body_end]) != crc:
        return "crc mismatch"
    if rtype not in _VALID_TYPES:
        return f"unknown record type {rtype}"
    return None


def _valid_record_after(data: memoryview, start: int) -> bool:
    """Whether an intact record begins anywhere at or after `start` (slow; only on the error path)."""
    end = len(data)
    if not bytes(data[start:]).strip(b"\0"):
        return False
    unpack = HEADER.unpack_from
    for p in range(start, end - HEADER_SIZE + 1):
        length, crc, rtype = unpack(data, p)
        if rtype in _VALID_TYPES and 1 <= length <= end - p - 8 and zlib.crc32(data[p + 8:p + 8 + length]) == crc:
            return True
    return False
