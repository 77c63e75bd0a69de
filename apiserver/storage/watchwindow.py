"""The watch cache's memory: the recent events of one resource and the revisions it can replay from; pure.

kube-apiserver keeps a window of recent events per resource (the "watch cache") so thousands of watchers share one
etcd watch. A watcher starting at revision S can be served from the window only if the window holds every event
with revision >= S: `complete_from` is the first revision for which that is true. Events leave the window oldest
first when it is full; once an event of revision r has left, replays must start after r.
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
