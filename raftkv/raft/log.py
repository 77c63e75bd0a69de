"""The Raft log as the core sees it: stable entries in `MemoryStorage`, unstable ones here.

Rules of this file: no I/O. `MemoryStorage` holds what the caller has persisted (it appends
there after the WAL write); `RaftLog` adds the entries and snapshot not yet persisted, the
commit index and the applied index.

    storage: [snap|first ... stable_last]   unstable: [offset ... last]
                                   committed ^          applied <= committed

Invariants: applied <= committed <= last_index; an entry at or below `committed` is never
rewritten (a conflicting append there is a broken invariant, raised as `InvariantViolation`).
"""

from __future__ import annotations

from raftkv.raft.types import ConfState, Entry, HardState, Snapshot, SnapshotMetadata


class InvariantViolation(Exception):
    """A broken safety invariant: the member must stop rather than continue with corrupt state."""


class Compacted(Exception):
    """The requested index is below the first available one (it is in a snapshot)."""


class Unavailable(Exception):
    """The requested index is beyond the last one."""


class SnapshotOutOfDate(Exception):
    """A snapshot older than the one already held."""


class MemoryStorage:
    """Entries the caller has persisted, kept in memory for the core to read. entries[0] is a dummy
    entry carrying the index and term of the last snapshot (or 0, 0)."""

    def __init__(self, conf_state: ConfState | None = None) -> None:
        """`conf_state` seeds the membership of a log that has no snapshot yet (tests, scenarios)."""
        self.hard_state = HardState()
        self._snapshot = Snapshot(metadata=SnapshotMetadata(conf_state=conf_state or ConfState()))
        self._ents: list[Entry] = [Entry(0, 0)]

    def initial_state(self) -> tuple[HardState, ConfState]:
        return self.hard_state, self._snapshot.metadata.conf_state

    def set_hard_state(self, hs: HardState) -> None:
        self.hard_state = HardState(hs.term, hs.vote, hs.commit)

    def first_index(self) -> int:
        return self._ents[0].index + 1

    def last_index(self) -> int:
        return self._ents[0].index + len(self._ents) - 1

    def term(self, i: int) -> int:
        offset = self._ents[0].index
        if i < offset:
            raise Compacted()
        if i - offset >= len(self._ents):
            raise Unavailable()
        return self._ents[i - offset].term

    def entries(self, lo: int, hi: int, max_size: int | None = None) -> list[Entry]:
        """Entries in [lo, hi), at least one if any, at most max_size bytes of data beyond the first."""
        offset = self._ents[0].index
        if lo <= offset:
            raise Compacted()
        if hi > self.last_index() + 1:
            raise Unavailable()
        ents = self._ents[lo - offset:hi - offset]
        return _limit_size(ents, max_size)

    def snapshot(self) -> Snapshot:
        return self._snapshot

    def apply_snapshot(self, snap: Snapshot) -> None:
        if snap.metadata.index <= self._snapshot.metadata.index:
            raise SnapshotOutOfDate()
        self._snapshot = snap
        self._ents = [Entry(snap.metadata.term, snap.metadata.index)]

    def create_snapshot(self, index: int, conf_state: ConfState | None, data: bytes) -> Snapshot:
        if index <= self._snapshot.metadata.index:
            raise SnapshotOutOfDate()
        if index > self.last_index():
            raise InvariantViolation(f"snapshot {index} is out of bound lastindex({self.last_index()})")
        meta = SnapshotMetadata(conf_state=conf_state or self._snapshot.metadata.conf_state, index=index,
                                term=self.term(index))
        self._snapshot = Snapshot(data=data, metadata=meta)
        return self._snapshot

    def compact(self, index: int) -> None:
        """Discard entries before `index` (index becomes the dummy entry)."""
        offset = self._ents[0].index
        if index <= offset:
            raise Compacted()
        if index > self.last_index():
            raise InvariantViolation(f"compact {index} is out of bound lastindex({self.last_index()})")
        i = index - offset
        self._ents = [Entry(self._ents[i].term, index)] + self._ents[i + 1:]

    def append(self, entries: list[Entry]) -> None:
        if not entries:
            return
        first = self.first_index()
        last = entries[0].index + len(entries) - 1
        if last < first:
            return
        if first > entries[0].index:
            entries = entries[first - entries[0].index:]
        offset = entries[0].index - self._ents[0].index
        if offset > len(self._ents):
            raise InvariantViolation(f"missing log entry [last: {self.last_index()}, append at: {entries[0].index}]")
        del self._ents[offset:]
        self._ents.extend(entries)


def _limit_size(ents: list[Entry], max_size: int | None) -> list[Entry]:
    if max_size is None or not ents:
        return list(ents)
    size = len(ents[0].data)
    n = 1
    while n < len(ents):
        size += len(ents[n].data)
        if size > max_size:
            break
        n += 1
    return ents[:n]


class RaftLog:
    def __init__(self, storage: MemoryStorage, applied: int = 0) -> None:
        self.storage = storage
        first = storage.first_index()
        last = storage.last_index()
        self.unstable: list[Entry] = []
        self.offset = last + 1  # index of unstable[0]
        self.unstable_snapshot: Snapshot | None = None
        self.committed = first - 1
        self.applied = first - 1
        hs, _ = storage.initial_state()
        if hs.commit:
            self.committed = max(self.committed, min(hs.commit, last))
        if applied:
            self.applied = max(self.applied, min(applied, self.committed))

    # ---- indexes and terms
    def first_index(self) -> int:
        if self.unstable_snapshot is not None:
            return self.unstable_snapshot.metadata.index + 1
        return self.storage.first_index()

    def last_index(self) -> int:
        if self.unstable:
            return self.offset + len(self.unstable) - 1
        if self.unstable_snapshot is not None:
            return self.unstable_snapshot.metadata.index
        return self.storage.last_index()

    def term(self, i: int) -> int:
        """Term of entry i; raises Compacted/Unavailable."""
        if self.unstable and i >= self.offset:
            if i - self.offset < len(self.unstable):
                return self.unstable[i - self.offset].term
            raise Unavailable()
        snap = self.unstable_snapshot
        if snap is not None:
            if i == snap.metadata.index:
                return snap.metadata.term
            if i < snap.metadata.index:
                raise Compacted()
        dummy = self.first_index() - 1
        if i < dummy:
            raise Compacted()
        if i > self.last_index():
            raise Unavailable()
        return self.storage.term(i)

    def term_or_zero(self, i: int) -> int:
        try:
            return self.term(i)
        except (Compacted, Unavailable):
            return 0

    def last_term(self) -> int:
        return self.term(self.last_index())

    def match_term(self, i: int, t: int) -> bool:
        try:
            return self.term(i) == t
        except (Compacted, Unavailable):
            return False

    def is_up_to_date(self, lasti: int, term: int) -> bool:
        lt = self.last_term()
        return term > lt or (term == lt and lasti >= self.last_index())

    # ---- appending
    def append(self, ents: list[Entry]) -> int:
        if not ents:
            return self.last_index()
        after = ents[0].index - 1
        if after < self.committed:
            raise InvariantViolation(f"after({after}) is out of range [committed({self.committed})]")
        self._truncate_and_append(ents)
        return self.last_index()

    def _truncate_and_append(self, ents: list[Entry]) -> None:
        first = ents[0].index
        if first == self.offset + len(self.unstable):
            self.unstable.extend(ents)
        elif first <= self.offset:
            # replace everything unstable; the stable part after first-1 is superseded too
            self.offset = first
            self.unstable = list(ents)
        else:
            del self.unstable[first - self.offset:]
            self.unstable.extend(ents)

    def find_conflict(self, ents: list[Entry]) -> int:
        for e in ents:
            if not self.match_term(e.index, e.term):
                return e.index
        return 0

    def find_conflict_by_term(self, index: int, term: int) -> tuple[int, int]:
        """The largest index <= `index` whose term is <= `term` (fast back-off hint)."""
        while index > 0:
            try:
                t = self.term(index)
            except (Compacted, Unavailable):
                return index, 0
            if t <= term:
                return index, t
            index -= 1
        return 0, 0

    def maybe_append(self, index: int, log_term: int, committed: int, ents: list[Entry]) -> int | None:
        """Follower side of AppendEntries; returns the last new index, or None on a mismatch."""
        if not self.match_term(index, log_term):
            return None
        lastnewi = index + len(ents)
        ci = self.find_conflict(ents)
        if ci:
            if ci <= self.committed:
                raise InvariantViolation(f"entry {ci} conflict with committed entry [committed({self.committed})]")
            self.append(ents[ci - (index + 1):])
        self.commit_to(min(committed, lastnewi))
        return lastnewi

    # ---- commit / apply
    def commit_to(self, tocommit: int) -> None:
        if tocommit > self.committed:
            if self.last_index() < tocommit:
                raise InvariantViolation(f"tocommit({tocommit}) is out of range [lastIndex({self.last_index()})]")
            self.committed = tocommit

    def maybe_commit(self, max_index: int, term: int) -> bool:
        if max_index > self.committed and self.term_or_zero(max_index) == term:
            self.commit_to(max_index)
            return True
        return False

    def applied_to(self, i: int) -> None:
        if i:
            self.applied = i

    def has_next_committed(self) -> bool:
        return self.committed > max(self.applied, self.first_index() - 1)

    def next_committed_entries(self, max_size: int | None = None) -> list[Entry]:
        lo = max(self.applied + 1, self.first_index())
        if self.committed + 1 > lo:
            return self.slice(lo, self.committed + 1, max_size)
        return []

    # ---- reading
    def slice(self, lo: int, hi: int, max_size: int | None = None) -> list[Entry]:
        if lo >= hi:
            return []
        if lo < self.first_index():
            raise Compacted()
        if hi > self.last_index() + 1:
            raise InvariantViolation(f"slice[{lo},{hi}) out of bound [{self.first_index()},{self.last_index()}]")
        ents: list[Entry] = []
        if lo < self.offset:
            ents = self.storage.entries(lo, min(hi, self.offset), max_size)
            if len(ents) < min(hi, self.offset) - lo:
                return ents  # size-limited
        if hi > self.offset:
            ents = ents + self.unstable[max(lo, self.offset) - self.offset:hi - self.offset]
        return _limit_size(ents, max_size)

    def entries_from(self, i: int, max_size: int | None) -> list[Entry]:
        if i > self.last_index():
            return []
        return self.slice(i, self.last_index() + 1, max_size)

    def snapshot(self) -> Snapshot:
        if self.unstable_snapshot is not None:
            return self.unstable_snapshot
        return self.storage.snapshot()

    # ---- stability
    def unstable_entries(self) -> list[Entry]:
        return list(self.unstable)

    def stable_to(self, i: int, t: int) -> None:
        if not self.unstable or i < self.offset:
            return
        pos = i - self.offset
        if pos < len(self.unstable) and self.unstable[pos].term == t:
            del self.unstable[:pos + 1]
            self.offset = i + 1

    def stable_snap_to(self, i: int) -> None:
        if self.unstable_snapshot is not None and self.unstable_snapshot.metadata.index == i:
            self.unstable_snapshot = None

    def restore(self, snap: Snapshot) -> None:
        self.committed = snap.metadata.index
        self.applied = snap.metadata.index
        self.unstable = []
        self.offset = snap.metadata.index + 1
        self.unstable_snapshot = snap
