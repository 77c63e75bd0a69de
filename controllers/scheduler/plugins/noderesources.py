"""NodeResourcesFit (filter: pod count and every requested resource against allocatable minus what is counted;
score: LeastAllocated, MostAllocated or RequestedToCapacityRatio over weighted resources) and
NodeResourcesBalancedAllocation (prefer nodes whose cpu and memory fractions stay close)."""

from __future__ import annotations

from dataclasses import dataclass, field

from controllers.scheduler.framework import MAX_NODE_SCORE, CycleState, Plugin, Status, unschedulable
from controllers.scheduler.nodeinfo import NodeInfo
from controllers.scheduler.podinfo import PodInfo

TOO_MANY_PODS = "Too many pods"
LEAST, MOST, RATIO = "LeastAllocated", "MostAllocated", "RequestedToCapacityRatio"


def insufficient(pod: PodInfo, node: NodeInfo) -> list[str]:
    """Every reason the pod does not fit (kube keeps them all): pods first, then cpu, memory, storage, others."""
    alloc, used = node.allocatable, node.requested
    reasons: list[str] = []
    max_pods = alloc.get("pods")
    if max_pods is not None and len(node.pods) >= max_pods:
        reasons.append(TOO_MANY_PODS)
    for name, want, reason in pod.fit_order:
        if want > alloc.get(name, 0) - used.get(name, 0):
            reasons.append(reason)
    return reasons


@dataclass
class ScoringStrategy:
    type: str = LEAST
    resources: list[tuple[str, int]] = field(default_factory=lambda: [("cpu", 1), ("memory", 1)])
    shape: list[tuple[int, int]] = field(default_factory=lambda: [(0, 10), (100, 0)])  # (utilization, score 0..10)


def _shape_score(shape: list[tuple[int, int]], utilization: int) -> int:
    """A broken-linear function through the shape points, scores scaled from 0..10 to 0..100."""
    pts = [(u, s * MAX_NODE_SCORE // 10) for u, s in shape]
    if utilization <= pts[0][0]:
        return pts[0][1]
    for (u0, s0), (u1, s1) in zip(pts, pts[1:], strict=False):
        if utilization <= u1:
            return s0 + (s1 - s0) * (utilization - u0) // (u1 - u0)
    return pts[-1][1]


class NodeResourcesFit(Plugin):
    name = "NodeResourcesFit"
    filters = True
    scores = True

    def __init__(self, strategy: ScoringStrategy | None = None) -> None:
        self.strategy = strategy or ScoringStrategy()

    def filter(self, pod: PodInfo, node: NodeInfo, state: CycleState) -> Status | None:
        reasons = insufficient(pod, node)
        return unschedulable(*reasons) if reasons else None

    def score(self, pod: PodInfo, node: NodeInfo, state: CycleState) -> int:
        total = weights = 0
        st = self.strategy
        alloc = node.allocatable
        for name, weight in st.resources:
            capacity = alloc.get(name, 0)
            if capacity == 0:
                continue
            if name == "cpu":
                requested = node.nonzero_cpu + pod.nonzero_cpu
            elif name == "memory":
                requested = node.nonzero_memory + pod.nonzero_memory
            else:
                requested = node.requested.get(name, 0) + pod.requests.get(name, 0)
            if st.type == LEAST:
                s = 0 if requested > capacity else MAX_NODE_SCORE * (capacity - requested) // capacity
            elif st.type == MOST:
                s = MAX_NODE_SCORE * min(requested, capacity) // capacity
            else:
                s = _shape_score(st.shape, MAX_NODE_SCORE * min(requested, capacity) // capacity)
            total += s * weight
            weights += weight
        return total // weights if weights else 0


class BalancedAllocation(Plugin):
    name = "NodeResourcesBalancedAllocation"
    scores = True

    def score(self, pod: PodInfo, node: NodeInfo, state: CycleState) -> int:
        alloc = node.allocatable
        cpu_cap, mem_cap = alloc.get("cpu", 0), alloc.get("memory", 0)
        if not cpu_cap or not mem_cap:
            return MAX_NODE_SCORE
        cpu = min(1.0, (node.nonzero_cpu + pod.nonzero_cpu) / cpu_cap)
        mem = min(1.0, (node.nonzero_memory + pod.nonzero_memory) / mem_cap)
        return int((1 - abs(cpu - mem) / 2) * MAX_NODE_SCORE)  # the std dev of two fractions is half their gap
