"""The watch cache's pure parts: the window of recent events, each watcher's bounded buffer, the watcher index.

kube-apiserver keeps a window of recent events per resource (the "watch cache") so thousands of watchers share one
etcd watch. A watcher starting at revision S can be served from the window only if the window holds every event
with revision >= S: `complete_from` is the first revision for which that is true. Events leave the window oldest
first when it is full; once an event of revision r has left, replays must start after r.

Fan-out to thousands of watchers must cost little per watcher: `WatcherIndex` finds only the watchers an event's key
can concern, and `WatcherBuffer` holds a watcher's pending events (references to events shared by all watchers) so
the watcher sends them in one write and a watcher that falls too far behind is ended instead of growing memory.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from typing import Generic, Protocol, TypeVar


class Event(Protocol):
    @property
    def revision(self) -> int: ...


E = TypeVar("E", bound=Event)


class WatchWindow(Generic[E]):
    def __init__(self, capacity: int, complete_from: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.complete_from = complete_from  # every event with revision >= this is (or will be) in the window
        self.revision = complete_from - 1  # the newest revision the window has heard of (events or progress)
        self.events: deque[E] = deque()

    def append(self, events: Iterable[E]) -> None:
        for ev in events:
            self.events.append(ev)
            self.revision = max(self.revision, ev.revision)
            while len(self.events) > self.capacity:
                dropped = self.events.popleft()
                self.complete_from = max(self.complete_from, dropped.revision + 1)

    def progress(self, revision: int) -> None:
        self.revision = max(self.revision, revision)

    def can_serve(self, start: int) -> bool:
        return start >= self.complete_from

    def replay(self, start: int) -> Iterator[E]:
        """The held events with revision >= start, oldest first (only meaningful when can_serve(start))."""
        for ev in self.events:
            if ev.revision >= start:
                yield ev


W = TypeVar("W")


class WatcherBuffer(Generic[E]):
    """The events waiting for one watcher: at most `limit` of them.

    The cache appends every event the watcher should see; the watcher takes all of them at once (one write for the
    batch). A watcher that lets `limit` events pile up is too slow: it is ended, as kube-apiserver's cacher ends a
    watcher whose buffer stays full, and the client re-watches from the last resourceVersion it received. The
    events already held are still delivered before the end (the delivered stream stays a gap-free prefix), and
    nothing more is kept, so a stalled client costs at most `limit` references to shared events.
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.events: deque[E] = deque()
        self.ended = False  # no more events will be added: deliver what is held, then end the stream
        self.overflowed = False  # ended because the watcher fell `limit` events behind

    def push(self, ev: E) -> bool:
        """Hold `ev` for the watcher; False if the watcher has ended (now or before) and takes no more."""
        if self.ended:
            return False
        if len(self.events) >= self.limit:
            self.ended = self.overflowed = True
            return False
        self.events.append(ev)
        return True

    def end(self) -> None:
        self.ended = True

    def take(self) -> list[E]:
        """Every held event, oldest first, leaving the buffer empty."""
        out = list(self.events)
        self.events.clear()
        return out

    @property
    def finished(self) -> bool:
        """Ended and fully delivered: the stream is over."""
        return self.ended and not self.events


class WatcherIndex(Generic[W]):
    """Which watchers an event's key concerns, so an event costs nothing for the watchers it cannot match.

    Like the cacher's "triggers" in kube-apiserver: a watcher of one object (a `metadata.name` field selector, as
    `kubectl wait`, `rollout status` and `delete --wait` use) is found by its exact key, a watcher of a namespace by
    that namespace's prefix, a watcher of the whole resource always. Iteration order is registration order.
    """

    def __init__(self, resource_prefix: str) -> None:
        self.resource_prefix = resource_prefix
        self.everything: dict[W, None] = {}
        self.by_namespace: dict[str, dict[W, None]] = {}  # "<resource_prefix><ns>/" -> watchers
        self.by_key: dict[str, dict[W, None]] = {}
        self.other: dict[W, str] = {}  # any other prefix, matched with startswith
        self._where: dict[W, tuple[dict[W, None], dict[str, dict[W, None]] | None, str]] = {}

    def add(self, watcher: W, prefix: str, key: str | None = None) -> None:
        """Register `watcher` for the keys under `prefix` (which must lie under the resource prefix), or only for
        `key` when it is given (it must lie under `prefix`)."""
        if not prefix.startswith(self.resource_prefix):
            raise ValueError(f"{prefix!r} is not under {self.resource_prefix!r}")
        if key is not None and not key.startswith(prefix):
            raise ValueError(f"{key!r} is not under {prefix!r}")
        if watcher in self._where:
            raise ValueError("watcher already registered")
        rest = prefix[len(self.resource_prefix):]
        index: dict[str, dict[W, None]] | None = None
        name = ""
        if key is not None:
            index, name = self.by_key, key
        elif rest.endswith("/") and rest.count("/") == 1:
            index, name = self.by_namespace, prefix
        elif rest:
            self.other[watcher] = prefix
        bucket = index.setdefault(name, {}) if index is not None else self.everything if not rest else {}
        bucket[watcher] = None
        self._where[watcher] = (bucket, index, name)

    def remove(self, watcher: W) -> None:
        where = self._where.pop(watcher, None)
        if where is None:
            return
        bucket, index, name = where
        bucket.pop(watcher, None)
        self.other.pop(watcher, None)
        if index is not None and not bucket:
            del index[name]

    def for_key(self, key: str) -> list[W]:
        """The watchers an event on `key` may concern (selectors are still checked by the caller)."""
        out = list(self.everything)
        rest = key[len(self.resource_prefix):]
        ns, slash, _ = rest.partition("/")
        if slash:
            out.extend(self.by_namespace.get(self.resource_prefix + ns + "/", ()))
        out.extend(self.by_key.get(key, ()))
        out.extend(w for w, prefix in self.other.items() if key.startswith(prefix))
        return out

    def all(self) -> list[W]:
        return list(self._where)

    def __len__(self) -> int:
        return len(self._where)
