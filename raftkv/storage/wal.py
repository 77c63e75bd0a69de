"""The write-ahead log: Raft hard state, entries and snapshot markers in CRC'd segment files.

Durability contract: `save(..., sync=True)` returns only after one `write` and one
`fdatasync` of the whole batch (group commit: one Ready = one write + one fsync), so the
caller may then send messages (votes, append responses) and acknowledge clients that
depend on it. A failed write or fsync raises OSError; the member must stop (after a failed
fsync the page cache can no longer be trusted).

Files: `<dir>/<seq:016x>-<first index:016x>.wal`, cut at `SEGMENT_BYTES` (per-instance
`segment_bytes` for tests). Each segment is created as a temp file holding the metadata
record, the current hard state and the newest snapshot marker, fsynced, renamed, and the
directory fsynced, so whole old segments can be deleted after a snapshot (`release_to`).
Record format: see `raftkv.storage.records`.

Replay (`WAL.open`) reads every segment in order. Entries are resolved as Raft wrote them:
a batch starting at index i replaces i and everything after it. A snapshot marker drops the
entries it covers. A record that cannot be read at the end of the LAST segment, with no
intact record after it, is a torn write: it is cut off with a logged warning. Any other bad
record (including a bad record followed by valid data, a segment without its header, a
missing segment) raises `WALCorrupt` naming the file and offset: committed data is never
dropped silently.
"""

from __future__ import annotations

import logging
import os
import struct
from dataclasses import dataclass, field

from raftkv.raft.types import Entry, HardState, SnapshotMetadata
from raftkv.storage import records as rec

log = logging.getLogger("raftkv.wal")

SEGMENT_BYTES = 64 * 1024 * 1024


class WALCorrupt(Exception):
    """Damage the WAL cannot repair: the member must not start (an operator restores or replaces it)."""

    def __init__(self, path: str, offset: int, reason: str) -> None:
        super().__init__(f"wal: corrupt record in {path} at offset {offset}: {reason}")
        self.path = path
        self.offset = offset
        self.reason = reason


@dataclass
class WALState:
    """Everything replayed by `WAL.open`: entries are those after `snapshot.index`, conflicts resolved."""

    metadata: bytes = b""
    hard_state: HardState = field(default_factory=HardState)
    entries: list[Entry] = field(default_factory=list)
    snapshot: SnapshotMetadata | None = None


@dataclass
class _Segment:
    path: str
    seq: int
    first_index: int
    last_index: int = 0


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _entries_after_snapshot(entries: list[Entry], snap: SnapshotMetadata) -> list[Entry]:
    """The replayed entries that survive a snapshot marker (`entries` is contiguous)."""
    if not entries or entries[-1].index <= snap.index:
        return []
    first = entries[0].index
    if first > snap.index + 1:
        # An older marker replayed after `release_to` removed the segments before `first`; a newer
        # marker must follow, and a real gap is caught once replay is complete.
        return entries[:]
    if first == snap.index + 1:
        return entries[:]
    if entries[snap.index - first].term != snap.term:
        return []
    return entries[snap.index - first + 1:]


def _segment_name(seq: int, first_index: int) -> str:
    return f"{seq:016x}-{first_index:016x}.wal"


def _list_segments(dirpath: str) -> list[_Segment]:
    segs = []
    for name in os.listdir(dirpath):
        if not name.endswith(".wal"):
            continue
        try:
            seq_s, idx_s = name[:-4].split("-")
            segs.append(_Segment(os.path.join(dirpath, name), int(seq_s, 16), int(idx_s, 16)))
        except ValueError:
            log.warning("wal: ignoring unexpected file %s", name)
    return sorted(segs, key=lambda s: s.seq)


class WAL:
    """One member's log directory. Single writer; `save` may run in a worker thread, one call at a time."""

    def __init__(self, dirpath: str, metadata: bytes, segments: list[_Segment], hard_state: HardState,
                 last_index: int) -> None:
        self.dir = dirpath
        self.metadata = metadata
        self.segments = segments
        self.hard_state = hard_state
        self.last_index = last_index
        self._fd = os.open(segments[-1].path, os.O_WRONLY | os.O_APPEND)
        self._size = os.fstat(self._fd).st_size
        self.segment_bytes = SEGMENT_BYTES
        self.snapshot: SnapshotMetadata | None = None
        self._failed: OSError | None = None

    # ---- creation and replay
    @staticmethod
    def exists(dirpath: str) -> bool:
        return os.path.isdir(dirpath) and any(n.endswith(".wal") for n in os.listdir(dirpath))

    @classmethod
    def create(cls, dirpath: str, metadata: bytes) -> WAL:
        if cls.exists(dirpath):
            raise FileExistsError(f"wal: {dirpath} already holds a write-ahead log")
        os.makedirs(dirpath, exist_ok=True)
        path = os.path.join(dirpath, _segment_name(0, 1))
        tmp = path + ".tmp"
        with open(tmp, "wb") as fh:
            fh.write(rec.frame(rec.RecordType.METADATA, metadata) + rec.encode_hard_state(HardState()))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(dirpath)
        return cls(dirpath, metadata, [_Segment(path, 0, 1)], HardState(), 0)

    @classmethod
    def open(cls, dirpath: str) -> tuple[WAL, WALState]:
        segs = _list_segments(dirpath)
        if not segs:
            raise FileNotFoundError(f"wal: no write-ahead log in {dirpath}")
        for name in os.listdir(dirpath):
            if name.endswith(".wal.tmp"):  # a segment cut interrupted before its rename
                os.unlink(os.path.join(dirpath, name))
        for prev, seg in zip(segs, segs[1:], strict=False):
            if seg.seq != prev.seq + 1:
                raise WALCorrupt(seg.path, 0, f"segment {prev.seq + 1:016x} is missing")
        state = WALState()
        entries: list[Entry] = []
        for i, seg in enumerate(segs):
            last_segment = i == len(segs) - 1
            with open(seg.path, "rb") as fh:
                data = fh.read()
            good_end = 0
            seen = 0
            try:
                for r in rec.iter_records(data):
                    good_end = r.offset
                    if seen == 0 and r.type != rec.RecordType.METADATA:
                        raise ValueError("segment does not start with a metadata record")
                    seen += 1
                    cls._replay(r, state, entries, seg)
            except rec.DecodeError as err:
                if not (last_segment and err.torn) or seen < 2:
                    raise WALCorrupt(seg.path, err.offset, err.reason) from None
                log.warning("wal: truncating torn write at the end of %s (offset %d: %s)", seg.path, err.offset,
                            err.reason)
                with open(seg.path, "r+b") as fh:
                    fh.truncate(err.offset)
                    fh.flush()
                    os.fsync(fh.fileno())
            except (ValueError, IndexError, struct.error) as err:
                raise WALCorrupt(seg.path, good_end, f"undecodable payload: {err}") from None
            if seen < 2:  # metadata and hard state are written atomically when a segment is made
                raise WALCorrupt(seg.path, 0, "segment lacks its metadata and hard state header")
        snap_index = state.snapshot.index if state.snapshot else 0
        state.entries = [e for e in entries if e.index > snap_index]
        if state.entries and state.entries[0].index != snap_index + 1:
            raise WALCorrupt(segs[0].path, 0, f"entries start at {state.entries[0].index} but the newest snapshot "
                                              f"marker is at {snap_index} (segments missing?)")
        last = entries[-1].index if entries else snap_index
        wal = cls(dirpath, state.metadata, segs, state.hard_state, max(last, snap_index))
        wal.snapshot = state.snapshot
        return wal, state

    @staticmethod
    def _replay(r: rec.Record, state: WALState, entries: list[Entry], seg: _Segment) -> None:
        if r.type == rec.RecordType.METADATA:
            if state.metadata and state.metadata != r.payload:
                raise ValueError("metadata differs between segments")
            state.metadata = r.payload
        elif r.type == rec.RecordType.HARD_STATE:
            state.hard_state = rec.decode_hard_state(r.payload)
        elif r.type == rec.RecordType.SNAPSHOT:
            snap = rec.decode_snapshot(r.payload)
            if state.snapshot is None or snap.index >= state.snapshot.index:
                state.snapshot = snap
                entries[:] = _entries_after_snapshot(entries, snap)
        elif r.type == rec.RecordType.ENTRIES:
            batch = rec.decode_entries(r.payload)
            if not batch:
                return
            first = batch[0].index
            if entries:
                start = entries[0].index
                if first < start:
                    entries.clear()
                else:
                    del entries[first - start:]
                    if entries and entries[-1].index != first - 1:
                        raise ValueError(f"gap in entries: {entries[-1].index} then {first}")
            entries.extend(batch)
            seg.last_index = batch[-1].index

    # ---- writing
    def save(self, hard_state: HardState | None, entries: list[Entry], sync: bool = True) -> None:
        """Append one batch with one write and (if `sync`) one fdatasync; raises OSError if either fails.

        `entries` must be contiguous and start at most one past `last_index` (a lower start is
        a conflicting rewrite: on replay it replaces that index and everything after it).
        """
        if entries:
            first = entries[0].index
            if first > self.last_index + 1 or first < 1:
                raise ValueError(f"wal: entries start at {first} but the log ends at {self.last_index}")
            if entries[-1].index - first != len(entries) - 1:
                raise ValueError("wal: entries in one batch are not contiguous")
        buf = [rec.encode_entries(part) for part in rec.split_for_records(entries)]
        if hard_state is not None:
            buf.append(rec.encode_hard_state(hard_state))
        if not buf:
            return
        data = b"".join(buf)
        if self._failed is not None:
            raise OSError(f"wal: an earlier write or fsync failed ({self._failed}); the log cannot be trusted")
        if self._size + len(data) > self.segment_bytes:
            try:
                self._cut(entries[0].index if entries else self.last_index + 1)
            except OSError as exc:
                self._failed = exc
                raise
        self._write(data, sync)
        if hard_state is not None:
            self.hard_state = hard_state
        if entries:
            self.last_index = entries[-1].index
            self.segments[-1].last_index = self.last_index

    def _write(self, data: bytes, sync: bool) -> None:
        if self._failed is not None:
            raise OSError(f"wal: an earlier write or fsync failed ({self._failed}); the log cannot be trusted")
        try:
            view = memoryview(data)
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
            self._size += len(data)
            if sync:
                os.fdatasync(self._fd)
        except OSError as exc:
            # Never retry: after a failed fsync the kernel may have dropped the dirty pages and a
            # second fsync can "succeed" without them reaching the disk.
            self._failed = exc
            raise

    def save_snapshot(self, meta: SnapshotMetadata) -> None:
        """Append a snapshot marker and fsync it: entries up to `meta.index` are no longer needed.

        After a marker, replay keeps the entries after `meta.index` only if the log's entry at
        `meta.index` has `meta.term` (a local compaction); otherwise the snapshot came from a
        leader whose log differs from ours and Raft has discarded our entries past it.
        """
        self._write(rec.encode_snapshot(meta), sync=True)
        if self.snapshot is None or meta.index >= self.snapshot.index:
            self.snapshot = meta
        if meta.index > self.last_index:
            self.last_index = meta.index

    def _cut(self, first_index: int) -> None:
        os.fdatasync(self._fd)
        os.close(self._fd)
        seq = self.segments[-1].seq + 1
        path = os.path.join(self.dir, _segment_name(seq, first_index))
        tmp = path + ".tmp"
        with open(tmp, "wb") as fh:
            head = rec.frame(rec.RecordType.METADATA, self.metadata) + rec.encode_hard_state(self.hard_state)
            if self.snapshot is not None:
                head += rec.encode_snapshot(self.snapshot)
            fh.write(head)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(self.dir)
        self.segments.append(_Segment(path, seq, first_index))
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        self._size = os.fstat(self._fd).st_size

    def release_to(self, index: int) -> None:
        """Delete whole segments whose entries are all at or below `index`.

        Clamped to the newest snapshot marker saved in this WAL: entries not covered by a
        snapshot are never released (without a marker, nothing is). The segment holding
        `index` and every later one are kept.
        """
        if self.snapshot is None:
            return
        index = min(index, self.snapshot.index)
        removed = False
        while len(self.segments) > 1:
            nxt = self.segments[1]
            if nxt.first_index - 1 <= index:
                os.unlink(self.segments[0].path)
                self.segments.pop(0)
                removed = True
            else:
                break
        if removed:
            _fsync_dir(self.dir)

    def close(self) -> None:
        if self._fd >= 0:
            try:
                os.fdatasync(self._fd)
            finally:
                os.close(self._fd)
                self._fd = -1
