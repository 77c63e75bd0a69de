"""The MVCC key-value store: an in-memory key index over values kept in the backend by revision.

Semantics are etcd v3's: the store starts at revision 1; every write transaction that
changes something gets the next main revision, its writes sub-revisions 0, 1, ...; a key
carries create_revision, mod_revision, version (1 on creation, +1 per put, reset by a
delete) and lease. Reads name a revision (0 = current) and fail below the compaction
revision. `consistent_index` (the last Raft index applied) is stored in the backend in the
same commit as the data it covers.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from sortedcontainers import SortedDict, SortedList

from raftkv import errors
from raftkv._pb.mvccpb import kv_pb2
from raftkv.mvcc.backend import Backend
from raftkv.mvcc.core.key_index import KeyIndex, Write
from raftkv.mvcc.core.ranges import in_range
from raftkv.mvcc.core.revision import PUT, TOMBSTONE, parse_rev_key, rev_key

if TYPE_CHECKING:
    from raftkv.mvcc.watch import Watchers, WatchStream

_U64 = struct.Struct(">Q")
_I64 = struct.Struct(">q")
NEVER_COMPACTED = -1  # etcd's compact revision before the first compaction (so compacting at 0 works once)
KeyValue = kv_pb2.KeyValue
Event = kv_pb2.Event


class KVStore:
    def __init__(self, backend: Backend) -> None:
        self.b = backend
        self.index: SortedDict = SortedDict()
        # keys whose latest write is a put, in order: a page of a large range and its count come from
        # here in O(log n + limit) instead of a walk over every key in the range
        self.live: SortedList = SortedList()
        self.latest_write = 0  # main revision of the newest write in the index (the open txn's, if any)
        self.rev = 1
        self.compact_rev = NEVER_COMPACTED
        self.consistent_index = 0
        self._committed_index = -1
        self.restore_listeners: list[Callable[[], None]] = []  # called after restore_from (the Applier's reload)
        from raftkv.mvcc.watch import Watchers

        self.watchers: Watchers = Watchers(self)
        self._load()

    # ------------------------------------------------------------------ open / restore
    @classmethod
    def open(cls, data_dir: str | None) -> KVStore:
        """The store kept in `data_dir` (created if missing); None gives a private in-memory one."""
        return cls(Backend(data_dir))

    def _load(self) -> None:
        self.index = SortedDict()
        rev = 1
        for rk, value in self.b.scan():
            main, sub, tomb = parse_rev_key(rk)
            kv = KeyValue.FromString(value)
            ki = self.index.get(kv.key)
            if ki is None:
                ki = self.index[kv.key] = KeyIndex()
            if tomb:
                ki.writes.append((main, sub, 0, 0, 0))
            else:
                ki.writes.append((main, sub, kv.create_revision, kv.version, kv.lease))
            rev = max(rev, main)
        self.live = SortedList(k for k, ki in self.index.items() if ki.live())
        self.latest_write = rev
        meta_rev = self.b.get_meta("rev")
        self.rev = max(rev, _U64.unpack(meta_rev)[0] if meta_rev else 1)
        cr = self.b.get_meta("compact_rev")
        self.compact_rev = _I64.unpack(cr)[0] if cr else NEVER_COMPACTED
        ci = self.b.get_meta("consistent_index")
        self.consistent_index = _U64.unpack(ci)[0] if ci else 0
        self._committed_index = self.consistent_index

    def live_leases(self) -> Iterator[tuple[int, bytes]]:
        """(lease, key) for every live key attached to a lease (to rebuild the lessor)."""
        for k, ki in self.index.items():
            w = ki.latest()
            if w is not None and w[3] != 0 and w[4]:
                yield w[4], k

    def restore_from(self, path: str) -> None:
        self.b.restore_from(path)
        self._load()
        self.watchers.on_restore()
        for listener in self.restore_listeners:
            listener()

    def snapshot_to(self, path: str) -> None:
        self.commit()
        self.b.snapshot_to(path)

    # ------------------------------------------------------------------ persistence
    def set_consistent_index(self, i: int) -> None:
        self.consistent_index = i

    def commit(self) -> None:
        if self.consistent_index != self._committed_index or self.b.dirty:
            self.b.set_meta("consistent_index", _U64.pack(self.consistent_index))
            self.b.set_meta("rev", _U64.pack(self.rev))
            self._committed_index = self.consistent_index
        self.b.commit()

    def checkpoint(self) -> None:
        self.commit()
        self.b.checkpoint()

    def close(self, commit: bool = True) -> None:
        """`commit=False` drops what was applied since the last commit (a member that failed: the WAL
        replays it above `consistent_index` on the next start)."""
        if commit:
            self.commit()
        self.b.close(commit)

    def db_size(self) -> int:
        return self.b.size()

    def db_size_in_use(self) -> int:
        return self.b.size_in_use()

    def defragment(self) -> None:
        self.commit()
        self.b.defragment()

    # ------------------------------------------------------------------ reads
    def check_read_rev(self, rev: int) -> int:
        if rev <= 0:
            return self.rev
        if rev > self.rev:
            raise errors.FutureRevision()
        if rev < self.compact_rev:
            raise errors.Compacted(self.compact_rev)
        return rev

    def keys_in_range(self, key: bytes, end: bytes) -> Iterator[tuple[bytes, KeyIndex]]:
        if not end:
            ki = self.index.get(key)
            if ki is not None:
                yield key, ki
            return
        if end == b"\0":
            it = self.index.irange(minimum=key)
        else:
            it = self.index.irange(minimum=key, maximum=end, inclusive=(True, False))
        idx = self.index
        for k in it:
            yield k, idx[k]

    def visible(self, key: bytes, end: bytes, rev: int) -> list[tuple[bytes, Write]]:
        """(key, write) of every key in [key, end) that exists at `rev`, in key order (a walk over the range)."""
        out = []
        if rev >= self.rev:  # the common case: the latest write of each key, no search
            for k, ki in self.keys_in_range(key, end):
                w: Write | None = ki.writes[-1]
                if w[0] > rev:  # type: ignore[index]  # written by the open txn after `rev`
                    w = ki.at(rev)
                if w is not None and w[3]:
                    out.append((k, w))
            return out
        for k, ki in self.keys_in_range(key, end):
            w = ki.at(rev)
            if w is not None:
                out.append((k, w))
        return out

    def visible_page(self, key: bytes, end: bytes, rev: int, limit: int, count_only: bool = False
                     ) -> tuple[int, list[tuple[bytes, Write]]] | None:
        """How many keys in [key, end) exist at `rev`, and the first `limit` + 1 of them (all for 0), in key
        order; None unless `rev` sees the newest writes (older revisions need `visible`)."""
        if rev < self.latest_write or rev < self.rev:
            return None
        live = self.live
        lo = live.bisect_left(key)
        hi = len(live) if end == b"\0" else live.bisect_left(end)
        count = max(0, hi - lo)
        if count_only or count == 0:
            return count, []
        n = count if limit <= 0 else min(count, limit + 1)
        idx = self.index
        return count, [(k, idx[k].writes[-1]) for k in live.islice(lo, lo + n)]

    def _fetch(self, key: bytes, w: Write) -> KeyValue:
        raw = self.b.get(rev_key(w[0], w[1], PUT))
        if raw is None:
            raise errors.Corrupt(f"etcdserver: mvcc: value of {key!r} at revision {w[0]} is missing")
        return KeyValue.FromString(raw)

    def fetch(self, key: bytes, w: Write) -> KeyValue:
        return self._fetch(key, w)

    def get_write(self, key: bytes, rev: int) -> Write | None:
        ki = self.index.get(key)
        return ki.at(rev) if ki is not None else None

    def get(self, key: bytes, rev: int = 0) -> KeyValue | None:
        ki = self.index.get(key)
        if ki is None:
            return None
        w = ki.at(rev or self.rev)
        return self._fetch(key, w) if w is not None else None

    # ------------------------------------------------------------------ writes
    def write_txn(self) -> WriteTxn:
        return WriteTxn(self)

    def compact(self, rev: int) -> None:
        if rev > self.rev:
            raise errors.FutureRevision()
        if rev <= self.compact_rev:
            raise errors.Compacted(self.compact_rev)
        doomed: list[bytes] = []
        empty: list[bytes] = []
        for k, ki in self.index.items():
            for w in ki.compact(rev):
                doomed.append(rev_key(w[0], w[1], TOMBSTONE if w[3] == 0 else PUT))
            if ki.empty():
                empty.append(k)
        for k in empty:
            del self.index[k]
        self.b.delete_revs(doomed)
        self.compact_rev = rev
        self.b.set_meta("compact_rev", _I64.pack(rev))
        self.watchers.on_compact(rev)

    # ------------------------------------------------------------------ history
    def events_since(self, key: bytes, end: bytes, from_rev: int, to_rev: int, max_rows: int
                     ) -> tuple[list[tuple[int, list[Event]]], int, int]:
        """Events of revisions [from_rev, to_rev] on keys in range, grouped by revision, whole revisions
        only, reading about `max_rows` history rows at most (matching or not, so a narrow watcher far
        behind costs bounded work per call); returns (groups, next revision to read, rows read)."""
        groups: list[tuple[int, list[Event]]] = []
        rows = 0
        cur_rev = -1
        cur: list[Event] = []
        lo = _U64.pack(from_rev)
        hi = _U64.pack(to_rev + 1)
        for rk, value in self.b.scan(lo, hi):
            main, _sub, tomb = parse_rev_key(rk)
            if main != cur_rev:
                if cur:
                    groups.append((cur_rev, cur))
                    cur = []
                if rows >= max_rows:
                    return groups, main, rows
                cur_rev = main
            rows += 1
            kv = KeyValue.FromString(value)
            if not in_range(kv.key, key, end):
                continue
            cur.append(Event(type=Event.DELETE if tomb else Event.PUT, kv=kv))
        if cur:
            groups.append((cur_rev, cur))
        return groups, to_rev + 1, rows

    def prev_kv(self, key: bytes, rev: int) -> KeyValue | None:
        """The key as it was just before revision `rev` (for watchers asking prev_kv)."""
        ki = self.index.get(key)
        if ki is None:
            return None
        w = ki.at(rev - 1)
        if w is None:
            return None
        try:
            return self._fetch(key, w)
        except errors.Corrupt:
            return None  # compacted away meanwhile

    def hash(self) -> int:
        h = 0
        for rk, value in self.b.scan():
            h = zlib.crc32(value, zlib.crc32(rk, h))
        return h

    def hash_kv(self, rev: int) -> tuple[int, int, int]:
        if rev > 0 and rev <= self.compact_rev:
            raise errors.Compacted(self.compact_rev)  # as etcd's HashByRev: the compact revision itself too
        rev = self.check_read_rev(rev)
        h = zlib.crc32(_I64.pack(self.compact_rev))
        for rk, value in self.b.scan(b"", _U64.pack(rev + 1)):
            h = zlib.crc32(value, zlib.crc32(rk, h))
        return h, self.compact_rev, rev

    def watch_stream(self) -> WatchStream:
        from raftkv.mvcc.watch import WatchStream

        return WatchStream(self)

    def sync_watchers(self, max_events: int = 10_000) -> bool:
        """Catch unsynced watchers up from history, reading about `max_events` history rows in all."""
        return self.watchers.sync(max_events)


class WriteTxn:
    """One write transaction: every change gets revision (store.rev + 1, sub); `end` publishes it."""

    def __init__(self, store: KVStore) -> None:
        self.s = store
        self.main = store.rev + 1
        self.sub = 0
        self.events: list[Event] = []

    @property
    def read_rev(self) -> int:
        """Reads inside the transaction see its own writes."""
        return self.main if self.sub else self.s.rev

    def put(self, key: bytes, value: bytes, lease: int) -> KeyValue:
        s = self.s
        ki = s.index.get(key)
        if ki is None:
            ki = s.index[key] = KeyIndex()
        if not ki.live():
            s.live.add(key)
        s.latest_write = self.main
        w = ki.put(self.main, self.sub, lease)
        kv = KeyValue(key=key, create_revision=w[2], mod_revision=self.main, version=w[3], value=value, lease=lease)
        s.b.put(rev_key(self.main, self.sub, PUT), kv.SerializeToString())
        self.sub += 1
        self.events.append(Event(type=Event.PUT, kv=kv))
        return kv

    def delete(self, key: bytes) -> None:
        ki = self.s.index[key]
        if ki.live():
            self.s.live.remove(key)
        self.s.latest_write = self.main
        ki.tombstone(self.main, self.sub)
        kv = KeyValue(key=key, mod_revision=self.main)
        self.s.b.put(rev_key(self.main, self.sub, TOMBSTONE), kv.SerializeToString())
        self.sub += 1
        self.events.append(Event(type=Event.DELETE, kv=kv))

    def end(self) -> int:
        if self.sub:
            self.s.rev = self.main
            self.s.watchers.notify(self.main, self.events)
        return self.s.rev
