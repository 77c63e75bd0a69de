"""kube-scheduler's PriorityQueue, pure (the clock is passed in): an active queue ordered by priority then the time
the pod entered it, a back-off queue (1 s doubling per attempt up to 10 s), and the unschedulable pods, which
return on the cluster events that can make them schedulable (or after 5 minutes). An event that arrives
while a pod is being scheduled and may cure what failed it sends that pod to back-off rather than to the
unschedulable pods, so the event is not lost (kube's moveRequestCycle, per event kind)."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from controllers.scheduler.podinfo import PodInfo

INITIAL_BACKOFF_S = 1.0
MAX_BACKOFF_S = 10.0
MAX_IN_UNSCHEDULABLE_S = 300.0

# cluster events -> the plugins whose failures they may cure (kube's EventsToRegister, coarsely)
NODE_ADD = "NodeAdd"
NODE_UPDATE = "NodeUpdate"
ASSIGNED_POD_DELETE = "AssignedPodDelete"
ASSIGNED_POD_ADD = "AssignedPodAdd"
PVC_CHANGE = "PvcChange"
NAMESPACE_CHANGE = "NamespaceChange"
EVERY_PLUGIN = None
EVENT_PLUGINS: dict[str, frozenset[str] | None] = {
    NODE_ADD: EVERY_PLUGIN,
    NODE_UPDATE: EVERY_PLUGIN,
    ASSIGNED_POD_DELETE: frozenset({"NodeResourcesFit", "NodePorts", "InterPodAffinity", "PodTopologySpread",
                                    "DefaultPreemption"}),
    ASSIGNED_POD_ADD: frozenset({"InterPodAffinity", "PodTopologySpread"}),
    PVC_CHANGE: frozenset({"VolumeBinding"}),
    NAMESPACE_CHANGE: frozenset({"InterPodAffinity"}),
}


@dataclass
class QueuedPod:
    info: PodInfo
    timestamp: float  # when it last entered the active queue (ordering among equal priorities)
    attempts: int = 0
    initial_attempt: float = 0.0
    unschedulable_plugins: set[str] = field(default_factory=set)
    last_failure: float = 0.0

    @property
    def key(self) -> str:
        return self.info.key


def backoff_duration(attempts: int) -> float:
    d = INITIAL_BACKOFF_S
    for _ in range(1, attempts):
        d *= 2
        if d >= MAX_BACKOFF_S:
            return MAX_BACKOFF_S
    return d


class SchedulingQueue:
    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._active: list[tuple[int, float, int, str]] = []
        self._backoff: list[tuple[float, int, str]] = []
        self._pods: dict[str, QueuedPod] = {}  # every pod the queue holds, by key
        self._where: dict[str, str] = {}  # key -> "active" | "backoff" | "unschedulable" | "inflight"
        self._unschedulable: dict[str, None] = {}  # the parked keys (events scan only these), in arrival order
        self._seq = itertools.count()
        self.scheduling_cycle = 0
        self.move_request_cycle = -1
        self._event_cycle: dict[str, int] = {}  # event -> the scheduling cycle current when it last happened

    # ------------------------------------------------------------- inspection
    def __len__(self) -> int:
        return sum(1 for w in self._where.values() if w != "inflight")

    def where(self, key: str) -> str | None:
        return self._where.get(key)

    def pending(self) -> dict[str, int]:
        out = {"active": 0, "backoff": 0, "unschedulable": 0}
        for w in self._where.values():
            if w in out:
                out[w] += 1
        return out

    # ------------------------------------------------------------- placement
    def _place(self, key: str, where: str) -> None:
        self._where[key] = where
        if where == "unschedulable":
            self._unschedulable[key] = None
        else:
            self._unschedulable.pop(key, None)

    def _push_active(self, qp: QueuedPod) -> None:
        qp.timestamp = self.clock()
        self._place(qp.key, "active")
        heapq.heappush(self._active, (-qp.info.priority, qp.timestamp, next(self._seq), qp.key))

    def _backoff_expiry(self, qp: QueuedPod) -> float:
        return qp.last_failure + backoff_duration(qp.attempts)

    def _push_backoff(self, qp: QueuedPod) -> None:
        self._place(qp.key, "backoff")
        heapq.heappush(self._backoff, (self._backoff_expiry(qp), next(self._seq), qp.key))

    def _is_backing_off(self, qp: QueuedPod) -> bool:
        return qp.attempts > 0 and self._backoff_expiry(qp) > self.clock()

    def add(self, info: PodInfo) -> None:
        """A new pending pod (or one seen again): straight to the active queue."""
        qp = self._pods.get(info.key)
        if qp is not None:
            qp.info = info
            if self._where.get(info.key) in ("active", "backoff", "inflight"):
                return
        else:
            now = self.clock()
            qp = self._pods[info.key] = QueuedPod(info, now, initial_attempt=now)
        self._push_active(qp)

    def update(self, info: PodInfo, spec_changed: bool) -> None:
        """A pending pod changed; one parked as unschedulable is retried when its spec changed (it may fit now)."""
        qp = self._pods.get(info.key)
        if qp is None:
            self.add(info)
            return
        qp.info = info
        if self._where.get(info.key) == "unschedulable" and spec_changed:
            qp.unschedulable_plugins.clear()
            if self._is_backing_off(qp):
                self._push_backoff(qp)
            else:
                self._push_active(qp)

    def delete(self, key: str) -> None:
        self._pods.pop(key, None)
        self._where.pop(key, None)  # stale heap entries are skipped when popped
        self._unschedulable.pop(key, None)

    def pop(self) -> QueuedPod | None:
        """The most important active pod, now in flight; None when the active queue is empty."""
        while self._active:
            _, _, _, key = heapq.heappop(self._active)
            if self._where.get(key) != "active":
                continue
            qp = self._pods[key]
            self._place(key, "inflight")
            qp.attempts += 1
            self.scheduling_cycle += 1
            return qp
        return None

    def done(self, key: str) -> None:
        """The pod was scheduled (assumed): the queue forgets it."""
        if self._where.get(key) == "inflight":
            self.delete(key)

    def add_unschedulable(self, qp: QueuedPod, cycle: int, plugins: set[str] | None = None) -> None:
        """After a failed attempt of cycle `cycle`: park it, unless a move request came in meanwhile or the failure
        was an error (then back-off)."""
        if self._pods.get(qp.key) is not qp:
            return  # deleted (or replaced) while in flight
        qp.last_failure = self.clock()
        qp.unschedulable_plugins = set(plugins or ())
        if plugins is None or self._missed_event(cycle, qp.unschedulable_plugins):
            self._push_backoff(qp)
        else:
            self._place(qp.key, "unschedulable")

    def _missed_event(self, cycle: int, plugins: set[str]) -> bool:
        """An event that may cure `plugins` came while the pod was in flight (it would have moved the pod)."""
        for event, at in self._event_cycle.items():
            if at < cycle:
                continue
            helps = EVENT_PLUGINS.get(event, EVERY_PLUGIN)
            if helps is None or not plugins or plugins & helps:
                return True
        return False

    def add_backoff(self, qp: QueuedPod) -> None:
        """A pod whose binding failed comes back, backing off (the queue let it go when it was assumed)."""
        self._pods[qp.key] = qp
        qp.last_failure = self.clock()
        qp.unschedulable_plugins = set()
        self._push_backoff(qp)

    # ------------------------------------------------------------- events and flushes
    def move_all(self, event: str) -> int:
        """A cluster event: every unschedulable pod that failed on a plugin the event may cure goes to back-off
        (still backing off) or active. Returns how many moved."""
        helps = EVENT_PLUGINS.get(event, EVERY_PLUGIN)
        moved = 0
        for key in list(self._unschedulable):
            qp = self._pods[key]
            if helps is not None and qp.unschedulable_plugins and not (qp.unschedulable_plugins & helps):
                continue
            if self._is_backing_off(qp):
                self._push_backoff(qp)
            else:
                self._push_active(qp)
            moved += 1
        self.move_request_cycle = self.scheduling_cycle
        self._event_cycle[event] = self.scheduling_cycle
        return moved

    def flush_backoff(self) -> int:
        now = self.clock()
        moved = 0
        while self._backoff and self._backoff[0][0] <= now:
            _, _, key = heapq.heappop(self._backoff)
            if self._where.get(key) != "backoff":
                continue
            qp = self._pods[key]
            if self._backoff_expiry(qp) > now:
                self._push_backoff(qp)
                continue
            self._push_active(qp)
            moved += 1
        return moved

    def flush_unschedulable_leftover(self) -> int:
        now = self.clock()
        moved = 0
        for key in list(self._unschedulable):
            if now - self._pods[key].last_failure > MAX_IN_UNSCHEDULABLE_S:
                qp = self._pods[key]
                if self._is_backing_off(qp):
                    self._push_backoff(qp)
                else:
                    self._push_active(qp)
                moved += 1
        return moved

    def next_backoff_expiry(self) -> float | None:
        while self._backoff and self._where.get(self._backoff[0][2]) != "backoff":
            heapq.heappop(self._backoff)
        return self._backoff[0][0] if self._backoff else None
