"""PodTopologySpread: for each DoNotSchedule constraint, placing the pod in a node's domain must keep
(matching pods in that domain + the pod) - (fewest matching pods in any eligible domain) <= maxSkew; nodes missing
a constraint's topology key are out. ScheduleAnyway constraints score nodes by how few matching pods their domains
hold. Eligible nodes are those passing the pod's nodeSelector/required affinity (nodeAffinityPolicy Honor,
nodeTaintsPolicy Ignore, the 1.32 defaults)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from controllers.machinery.labels import Selector, from_label_selector
from controllers.scheduler.framework import (
    MAX_NODE_SCORE,
    SKIP,
    CycleState,
    Plugin,
    Status,
    unresolvable,
    unschedulable,
)
from controllers.scheduler.nodeinfo import NodeInfo, Snapshot
from controllers.scheduler.plugins.nodeaffinity import required_matches
from controllers.scheduler.podinfo import PodInfo

Object = dict[str, Any]
REASON = "node(s) didn't match pod topology spread constraints"
MISSING_LABEL = "node(s) didn't match pod topology spread constraints (missing required label)"
HARD, SOFT = "DoNotSchedule", "ScheduleAnyway"


@dataclass
class Constraint:
    key: str
    max_skew: int
    selector: Selector
    min_domains: int
    self_match: int


def constraints(pod: PodInfo, when: str) -> list[Constraint]:
    out = []
    for c in pod.spread_constraints:
        if (c.get("whenUnsatisfiable") or HARD) != when:
            continue
        sel = from_label_selector(c.get("labelSelector"))
        out.append(Constraint(c.get("topologyKey") or "", int(c.get("maxSkew") or 1), sel,
                              int(c.get("minDomains") or 1), 1 if sel.matches(pod.labels) else 0))
    return out


def _count(node: NodeInfo, pod: PodInfo, sel: Selector) -> int:
    in_ns = node.pods_by_namespace.get(pod.namespace)
    if not in_ns:
        return 0
    return sum(1 for p in in_ns.values() if not p.terminating and sel.matches(p.labels))


def domain_counts(pod: PodInfo, cons: list[Constraint], nodes: list[NodeInfo]) -> list[dict[str, int]]:
    """Per constraint, matching pods per domain value over the eligible nodes that carry every constraint key."""
    counts: list[dict[str, int]] = [{} for _ in cons]
    for node in nodes:
        if not all(c.key in node.labels for c in cons) or not required_matches(pod, node):
            continue
        for i, c in enumerate(cons):
            val = node.labels[c.key]
            counts[i][val] = counts[i].get(val, 0) + _count(node, pod, c.selector)
    return counts


class PodTopologySpread(Plugin):
    name = "PodTopologySpread"
    filters = True
    scores = True

    def pre_filter(self, pod: PodInfo, snap: Snapshot, state: CycleState) -> Status | None:
        cons = constraints(pod, HARD)
        if not cons:
            return SKIP
        state[self.name] = (cons, domain_counts(pod, cons, snap.nodes))
        return None

    def _min(self, c: Constraint, counts: dict[str, int]) -> int:
        if len(counts) < c.min_domains:
            return 0
        return min(counts.values(), default=0)

    def filter(self, pod: PodInfo, node: NodeInfo, state: CycleState) -> Status | None:
        cons, counts = state[self.name]
        for i, c in enumerate(cons):
            val = node.labels.get(c.key)
            if val is None:
                return unresolvable(MISSING_LABEL)
            skew = counts[i].get(val, 0) + c.self_match - self._min(c, counts[i])
            if skew > c.max_skew:
                return unschedulable(REASON)
        return None

    def _shift(self, pod: PodInfo, other: PodInfo, node: NodeInfo, state: CycleState, delta: int) -> None:
        if self.name not in state or other.namespace != pod.namespace:
            return
        cons, counts = state[self.name]
        counts = [dict(c) for c in counts]  # the state may be shared with the caller's copy
        for i, c in enumerate(cons):
            val = node.labels.get(c.key)
            if val is not None and val in counts[i] and c.selector.matches(other.labels):
                counts[i][val] += delta
        state[self.name] = (cons, counts)

    def add_pod(self, pod: PodInfo, added: PodInfo, node: NodeInfo, state: CycleState) -> None:
        self._shift(pod, added, node, state, 1)

    def remove_pod(self, pod: PodInfo, removed: PodInfo, node: NodeInfo, state: CycleState) -> None:
        self._shift(pod, removed, node, state, -1)

    def pre_score(self, pod: PodInfo, nodes: list[NodeInfo], snap: Snapshot, state: CycleState) -> Status | None:
        cons = constraints(pod, SOFT)
        if not cons:
            return SKIP
        state[self.name + "/score"] = (cons, domain_counts(pod, cons, snap.nodes))
        return None

    def score(self, pod: PodInfo, node: NodeInfo, state: CycleState) -> int:
        cons, counts = state[self.name + "/score"]
        total = 0
        for i, c in enumerate(cons):
            val = node.labels.get(c.key)
            if val is None:
                return -1  # scored lowest after normalizing
            total += counts[i].get(val, 0) + c.self_match
        return total

    def normalize(self, scores: list[int], state: CycleState) -> None:
        valid = [s for s in scores if s >= 0]
        if not valid:
            scores[:] = [0] * len(scores)
            return
        lo, hi = min(valid), max(valid)
        for i, s in enumerate(scores):
            if s < 0:
                scores[i] = 0
            elif hi == lo:
                scores[i] = MAX_NODE_SCORE
            else:
                scores[i] = MAX_NODE_SCORE * (hi - s) // (hi - lo)
