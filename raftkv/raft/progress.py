"""What a leader knows about each follower's log, and how fast it may send to it.

    PROBE      ── append accepted ──►  REPLICATE   (pipelined: many appends in flight, bounded)
      ▲  ◄── rejected / unreachable ──┘
      └──── snapshot applied ──── SNAPSHOT  ◄── follower behind the first index

In PROBE at most one append is in flight per heartbeat interval; in REPLICATE `next` moves
optimistically ahead of `match` and `inflights` bounds how many appends are unacknowledged.
"""

from __future__ import annotations

from collections import deque
from enum import IntEnum


class ProgressState(IntEnum):
    PROBE = 0
    REPLICATE = 1
    SNAPSHOT = 2


class Progress:
    __slots__ = ("match", "next", "state", "probe_sent", "pending_snapshot", "recent_active", "inflights",
                 "max_inflight", "is_learner")

    def __init__(self, next_index: int, max_inflight: int, is_learner: bool = False) -> None:
        self.match = 0
        self.next = next_index
        self.state = ProgressState.PROBE
        self.probe_sent = False
        self.pending_snapshot = 0
        self.recent_active = False
        self.inflights: deque[int] = deque()
        self.max_inflight = max_inflight
        self.is_learner = is_learner

    def _reset(self, state: ProgressState) -> None:
        self.probe_sent = False
        self.pending_snapshot = 0
        self.state = state
        self.inflights.clear()

    def become_probe(self) -> None:
        if self.state == ProgressState.SNAPSHOT:
            pending = self.pending_snapshot
            self._reset(ProgressState.PROBE)
            self.next = max(self.match + 1, pending + 1)
        else:
            self._reset(ProgressState.PROBE)
            self.next = self.match + 1

    def become_replicate(self) -> None:
        self._reset(ProgressState.REPLICATE)
        self.next = self.match + 1

    def become_snapshot(self, snapshot_index: int) -> None:
        self._reset(ProgressState.SNAPSHOT)
        self.pending_snapshot = snapshot_index

    def maybe_update(self, n: int) -> bool:
        """An append up to n was acknowledged; True if that moved `match`."""
        updated = False
        if self.match < n:
            self.match = n
            updated = True
            self.probe_sent = False
        self.next = max(self.next, n + 1)
        return updated

    def maybe_decr_to(self, rejected: int, match_hint: int) -> bool:
        """An append at `rejected` was refused; back off `next` using the follower's hint."""
        if self.state == ProgressState.REPLICATE:
            if rejected <= self.match:
                return False  # stale rejection
            self.next = self.match + 1
            return True
        if self.next - 1 != rejected:
            return False  # stale rejection
        self.next = max(min(rejected, match_hint + 1), 1)
        if self.next <= self.match:
            # The answer to our latest probe says the follower's log ends below what it acknowledged: its disk
            # lost entries (a cut WAL tail). Forget the lost match and replicate them again rather than probe
            # forever above its log; commit never moves back, and the entries are re-sent from ours.
            self.match = self.next - 1
        self.probe_sent = False
        return True

    def is_paused(self) -> bool:
        if self.state == ProgressState.PROBE:
            return self.probe_sent
        if self.state == ProgressState.REPLICATE:
            return len(self.inflights) >= self.max_inflight
        return True

    def sent_entries(self, last: int) -> None:
        if self.state == ProgressState.REPLICATE:
            self.next = last + 1
            self.inflights.append(last)
        elif self.state == ProgressState.PROBE:
            self.probe_sent = True

    def free_le(self, index: int) -> None:
        q = self.inflights
        while q and q[0] <= index:
            q.popleft()

    def __repr__(self) -> str:
        return (f"Progress(match={self.match}, next={self.next}, {self.state.name}"
                f"{', learner' if self.is_learner else ''})")
