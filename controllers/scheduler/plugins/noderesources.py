"""NodeResourcesFit (filter: pod count and every requested resource against allocatable minus what is counted;
score: LeastAllocated, MostAllocated or RequestedToCapacityRatio over weighted resources) and
NodeResourcesBalancedAllocation (prefer nodes whose cpu and memory fractions stay close)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from controllers.scheduler.framework import MAX_NODE_SCORE, CycleState, Plugin, Status, unschedulable
from controllers.scheduler.nodeinfo import NodeInfo
from controllers.scheduler.podinfo import PodInfo

TOO_MANY_PODS = "Too many pods"
LEAST, MOST, RATIO = "LeastAllocated", "MostAllocated", "RequestedToCapacityRatio"
FIRST = ("cpu", "memory", "ephemeral-storage")


def insufficient(pod: PodInfo, node: NodeInfo) -> list[str]:
    """Every reason the pod does not fit (kube keeps them all): pods first, then cpu, memory, storage, others."""
    reasons = []
    max_pods = node.allocatable.get("pods")
    if max_pods is not None and len(node.pods) + 1 > max_pods:
        reasons.append(TOO_MANY_PODS)
    reqs = pod.requests
    if not reqs:
        return reasons
    alloc, used = node.allocatable, node.requested
    for name in FIRST:
        want = reqs.get(name, 0)
        if want > 0 and want > alloc.get(name, 0) - used.get(name, 0):
            reasons.append(f"Insufficient {name}")
    for name in sorted(reqs):
        if name in FIRST or name == "pods":
            continue
        want = reqs[name]
        if want > 0 and want > alloc.get(name, 0) - used.get(name, 0):
            reasons.append(f"Insufficient {name}")
    return reasons


def _requested(pod: PodInfo, node: NodeInfo, name: str) -> int:
    """What `name` would be at on `node` with the pod (non-zero defaults for cpu and memory, as kube scores)."""
    if name == "cpu":
        return node.nonzero_cpu + pod.nonzero_cpu
    if name == "memory":
        return node.nonzero_memory + pod.nonzero_memory
    return node.requested.get(name, 0) + pod.requests.get(name, 0)


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
        for name, weight in st.resources:
            capacity = node.allocatable.get(name, 0)
            if capacity == 0:
                continue
            requested = _requested(pod, node, name)
            if st.type == MOST:
                s = MAX_NODE_SCORE * min(requested, capacity) // capacity
            elif st.type == RATIO:
                s = _shape_score(st.shape, MAX_NODE_SCORE * min(requested, capacity) // capacity)
            else:
                s = 0 if requested > capacity else MAX_NODE_SCORE * (capacity - requested) // capacity
            total += s * weight
            weights += weight
        return total // weights if weights else 0


class BalancedAllocation(Plugin):
    name = "NodeResourcesBalancedAllocation"
    scores = True

    def score(self, pod: PodInfo, node: NodeInfo, state: CycleState) -> int:
        fractions = []
        for name in ("cpu", "memory"):
            capacity = node.allocatable.get(name, 0)
            if capacity == 0:
                continue
            fractions.append(min(1.0, _requested(pod, node, name) / capacity))
        if len(fractions) < 2:
            return MAX_NODE_SCORE
        mean = sum(fractions) / len(fractions)
        std = math.sqrt(sum((f - mean) ** 2 for f in fractions) / len(fractions))
        return int((1 - std) * MAX_NODE_SCORE)
