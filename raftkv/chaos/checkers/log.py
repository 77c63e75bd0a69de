"""The log of record: every committed write by revision, as a whole-keyspace watch from revision 1 saw it.

Checkers compare what clients observed against this log. It can be rebuilt from a watch op (`from_watch`) or,
in tests and when no write is in doubt, from the acknowledged writes themselves (`from_writes`).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass

from raftkv.chaos.checkers.history import CAS, DELETE, OK, PUT, TXN, Event, HistoryError, Op


@dataclass(frozen=True)
class KeyState:
    """A key right after some revision: value None means deleted/absent."""

    value: str | None
    mod_revision: int
    create_revision: int
    version: int


ABSENT = KeyState(None, 0, 0, 0)


class Log:
    """Writes by revision, with per-key state lookup at any revision in O(log n)."""

    def __init__(self, entries: dict[int, list[tuple[str, str | None]]]) -> None:
        self.entries = {rev: tuple(ws) for rev, ws in sorted(entries.items())}
        self._revs: dict[str, list[int]] = {}
        self._states: dict[str, list[KeyState]] = {}
        self.values: dict[str, tuple[str, int]] = {}
        for rev, writes in self.entries.items():
            for key, value in writes:
                prev = self.state(key, rev - 1)
                if value is None:
                    st = KeyState(None, rev, 0, 0)
                else:
                    created = prev.create_revision if prev.value is not None else rev
                    version = prev.version + 1 if prev.value is not None else 1
                    st = KeyState(value, rev, created, version)
                    self.values[value] = (key, rev)
                self._revs.setdefault(key, []).append(rev)
                self._states.setdefault(key, []).append(st)

    @property
    def last_revision(self) -> int:
        return max(self.entries, default=1)

    def state(self, key: str, revision: int) -> KeyState:
        """The key's state as a read at `revision` must see it."""
        revs = self._revs.get(key)
        if not revs:
            return ABSENT
        i = bisect.bisect_right(revs, revision) - 1
        if i < 0:
            return ABSENT
        st = self._states[key][i]
        return ABSENT if st.value is None else st

    def events(self, start: int, end: int) -> list[Event]:
        """Events with start <= revision <= end, in log order, with create/version/prev filled from replay."""
        out: list[Event] = []
        for rev in range(max(start, 1), end + 1):
            for key, value in self.entries.get(rev, ()):
                prev = self.state(key, rev - 1)
                cur = self.state(key, rev)
                out.append(Event("delete" if value is None else "put", key, value, rev, cur.create_revision,
                                 cur.version, prev.value, prev.value is not None))
        return out

    @classmethod
    def from_watch(cls, watch: Op) -> Log:
        """Build from a whole-keyspace watcher started at revision 1 (its own validity is checked separately)."""
        entries: dict[int, list[tuple[str, str | None]]] = {}
        for resp in watch.responses:
            for ev in resp.events:
                entries.setdefault(ev.mod_revision, []).append((ev.key, ev.value if ev.type == "put" else None))
        return cls(entries)

    @classmethod
    def from_writes(cls, ops: Iterable[Op]) -> Log:
        """Build from acknowledged writes only; valid when no write is indeterminate."""
        entries: dict[int, list[tuple[str, str | None]]] = {}
        for op in ops:
            if op.outcome != OK:
                continue
            writes = written(op)
            if writes:
                if op.revision in entries:
                    raise HistoryError(f"two acknowledged writes claim revision {op.revision}")
                entries[op.revision] = list(writes)
        return cls(entries)


def written(op: Op) -> tuple[tuple[str, str | None], ...]:
    """What an op writes if it takes effect (and, for CAS/txn, takes its success branch)."""
    if op.kind == PUT:
        return ((op.keys[0], op.value),)
    if op.kind == DELETE:
        return ((op.keys[0], None),) if op.outcome != OK or op.deleted else ()
    if op.kind == CAS:
        return ((op.keys[0], op.value),) if op.outcome != OK or op.succeeded else ()
    if op.kind == TXN:
        return op.writes if op.outcome != OK or op.succeeded else ()
    return ()
