"""Watchers: who wants which events, and the per-stream queues the server drains.

As in etcd's watchable store, a watcher is either *synced* (it has seen everything up to
the current revision: new events are pushed to it as writes commit) or *unsynced* (it
starts in the past, or fell behind because its stream was not drained: `sync` catches it
up from history in bounded chunks, outside the write path). A slow consumer is moved to
unsynced instead of buffering without bound, so it never blocks writes or other watchers,
and it resumes from the first revision it has not been given: no event is lost or repeated.
All events of one revision reach a watcher in one batch.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from raftkv import errors
from raftkv._pb.mvccpb import kv_pb2
from raftkv.mvcc.core.ranges import in_range

if TYPE_CHECKING:
    from raftkv.mvcc.store import KVStore

Event = kv_pb2.Event
FILTER_NOPUT = 0
FILTER_NODELETE = 1
MAX_PENDING_EVENTS = 10_000


@dataclass
class WatchBatch:
    watch_id: int
    events: list[kv_pb2.Event]
    revision: int
    compact_revision: int = 0
    canceled: bool = False


@dataclass(eq=False)
class Watcher:
    id: int
    key: bytes
    end: bytes
    prev_kv: bool
    filters: frozenset[int]
    next_rev: int
    stream: WatchStream
    canceled: bool = False

    def select(self, events: list[kv_pb2.Event]) -> list[kv_pb2.Event]:
        out = []
        for e in events:
            if not in_range(e.kv.key, self.key, self.end):
                continue
            if e.type == Event.PUT and FILTER_NOPUT in self.filters:
                continue
            if e.type == Event.DELETE and FILTER_NODELETE in self.filters:
                continue
            out.append(e)
        return out


@dataclass
class Watchers:
    store: KVStore
    synced: set[Watcher] = field(default_factory=set)
    unsynced: set[Watcher] = field(default_factory=set)

    def add(self, w: Watcher) -> None:
        (self.synced if w.next_rev > self.store.rev else self.unsynced).add(w)

    def remove(self, w: Watcher) -> None:
        self.synced.discard(w)
        self.unsynced.discard(w)

    def notify(self, rev: int, events: list[kv_pb2.Event]) -> None:
        for w in list(self.synced):
            if w.stream.pending_events > MAX_PENDING_EVENTS:
                self.synced.discard(w)  # a slow consumer: catch up from history later
                self.unsynced.add(w)
                continue
            if rev < w.next_rev:
                continue  # it asked to start at a future revision
            evs = w.select(events)
            w.next_rev = rev + 1
            if evs:
                w.stream.push(w, evs, rev)

    def sync(self, max_events: int) -> bool:
        """Move unsynced watchers forward from history, reading about `max_events` history rows in
        all; True if work remains."""
        s = self.store
        budget = max_events
        for w in list(self.unsynced):
            if budget <= 0:
                break
            if w.stream.pending_events > MAX_PENDING_EVENTS:
                continue
            if w.next_rev < s.compact_rev:
                self.unsynced.discard(w)
                w.stream.cancel_compacted(w, s.compact_rev)
                continue
            groups, nxt, rows = s.events_since(w.key, w.end, w.next_rev, s.rev, budget)
            budget -= max(1, rows)
            for rev, events in groups:
                evs = w.select(events)
                if evs:
                    w.stream.push(w, evs, rev)
            w.next_rev = nxt
            if w.next_rev > s.rev:
                self.unsynced.discard(w)
                self.synced.add(w)
        return bool(self.unsynced) and any(w.stream.pending_events <= MAX_PENDING_EVENTS for w in self.unsynced)

    def on_compact(self, rev: int) -> None:
        """Nothing to do now: unsynced watchers below `rev` are cancelled at their next sync."""

    def on_restore(self) -> None:
        """After a snapshot replaced the state, every watcher resumes from its next revision via history."""
        for w in list(self.synced):
            self.synced.discard(w)
            self.unsynced.add(w)


class WatchStream:
    """The watchers of one client stream and their pending output."""

    def __init__(self, store: KVStore) -> None:
        self.store = store
        self.watchers: dict[int, Watcher] = {}
        self._ids = itertools.count(0)
        self._out: deque[WatchBatch] = deque()
        self.pending_events = 0
        self._notify: Callable[[], None] | None = None

    def set_notify(self, callback: Callable[[], None]) -> None:
        self._notify = callback

    def _wake(self) -> None:
        if self._notify is not None:
            self._notify()

    def watch(self, key: bytes, range_end: bytes, start_rev: int, prev_kv: bool, filters: set[int],
              watch_id: int = -1) -> int:
        if not key:
            key = b"\0"  # as etcd: the smallest key
        if range_end not in (b"", b"\0") and key >= range_end:
            raise errors.InvalidArgument("mvcc: watcher range is empty")
        if watch_id > 0:  # an id the client chose; 0 or negative asks for one
            if watch_id in self.watchers:
                raise errors.InvalidArgument("mvcc: duplicate watch ID provided on the WatchStream")
            wid = watch_id
        else:
            wid = next(self._ids)
            while wid in self.watchers:
                wid = next(self._ids)
        next_rev = start_rev if start_rev > 0 else self.store.rev + 1
        w = Watcher(wid, key, range_end, prev_kv, frozenset(filters), next_rev, self)
        self.watchers[wid] = w
        self.store.watchers.add(w)
        if next_rev <= self.store.rev:
            self._wake()  # history to deliver: let the server run a sync soon
        return wid

    def cancel(self, wid: int) -> bool:
        w = self.watchers.pop(wid, None)
        if w is None:
            return False
        w.canceled = True
        self.store.watchers.remove(w)
        return True

    def close(self) -> None:
        for wid in list(self.watchers):
            self.cancel(wid)
        self._out.clear()
        self.pending_events = 0

    def push(self, w: Watcher, events: list[kv_pb2.Event], rev: int) -> None:
        if w.canceled:
            return
        if w.prev_kv:
            with_prev = []
            for e in events:
                ev = Event()
                ev.CopyFrom(e)
                prev = self.store.prev_kv(e.kv.key, e.kv.mod_revision)
                if prev is not None:
                    ev.prev_kv.CopyFrom(prev)
                with_prev.append(ev)
            events = with_prev
        self._out.append(WatchBatch(w.id, events, max(rev, self.store.rev)))
        self.pending_events += len(events)
        self._wake()

    def cancel_compacted(self, w: Watcher, compact_rev: int) -> None:
        self.watchers.pop(w.id, None)
        w.canceled = True
        self._out.append(WatchBatch(w.id, [], self.store.rev, compact_revision=compact_rev, canceled=True))
        self._wake()

    def poll(self, max_events: int = 1000) -> list[WatchBatch]:
        """Drain pending output, merging consecutive batches of one watcher up to max_events."""
        out: list[WatchBatch] = []
        budget = max_events
        while self._out and budget > 0:
            b = self._out.popleft()
            self.pending_events -= len(b.events)
            budget -= max(1, len(b.events))
            last = out[-1] if out else None
            if (last is not None and last.watch_id == b.watch_id and not last.canceled and not b.canceled
                    and len(last.events) + len(b.events) <= max_events):
                last.events.extend(b.events)
                last.revision = max(last.revision, b.revision)
            else:
                out.append(b)
        return out

    def has_pending(self) -> bool:
        return bool(self._out)

    def request_progress(self) -> int:
        return self.store.rev
