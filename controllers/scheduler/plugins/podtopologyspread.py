"""PodTopologySpread: for each DoNotSchedule constraint, placing the pod in a node's domain must keep
(matching pods in that domain + the pod) - (fewest matching pods in any eligible domain) <= maxSkew; nodes missing
a constraint's topology key are out. ScheduleAnyway constraints score as kube's: per constraint, matching pods in the
node's domain × log(domains + 2) + maxSkew - 1, fewer is better. A pod without constraints that a ReplicaSet,
ReplicationController or StatefulSet controls gets the system defaults (hostname maxSkew 3, zone maxSkew 5, both
ScheduleAnyway) over its controller's pods — kube's DefaultSelector approximated by the controller owner (Services
are not consulted). Eligible nodes are those passing the pod's nodeSelector/required affinity (nodeAffinityPolicy
Honor, nodeTaintsPolicy Ignore, the 1.32 defaults)."""

from __future__ import annotations

import math
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
HOSTNAME, ZONE = "kubernetes.io/hostname", "topology.kubernetes.io/zone"
SYSTEM_DEFAULTS = ((HOSTNAME, 3), (ZONE, 5))  # (topologyKey, maxSkew), both ScheduleAnyway
IGNORED = -1  # the score of a feasible node missing a constraint's key (normalized to 0, left out of min/max)


@dataclass
class Constraint:
    key: str
    max_skew: int
    selector: Selector
    min_domains: int
    self_match: int
    owner: str = ""  # system default constraint: count the pods of this controller, not the selector's


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
    """Matching live pods of the pod's namespace on `node`."""
    in_ns = node.pods_by_namespace.get(pod.namespace)
    if not in_ns:
        return 0
    return sum(1 for p in in_ns.values() if not p.terminating and sel.matches(p.labels))


def soft_constraints(pod: PodInfo) -> list[Constraint]:
    """The pod's ScheduleAnyway constraints; the system defaults when it has no constraints at all and a
    controller to spread over."""
    if pod.spread_constraints:
        return constraints(pod, SOFT)
    if not pod.spread_owner:
        return []
    return [Constraint(key, skew, Selector(), 1, 1, pod.spread_owner) for key, skew in SYSTEM_DEFAULTS]


def _spread_count(node: NodeInfo, pod: PodInfo, c: Constraint) -> int:
    if c.owner:
        return node.owner_counts.get(c.owner, 0)
    return _count(node, pod, c.selector)


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
        """kube's PreScore: domains are those of the feasible nodes; counts come from every eligible node."""
        system = not pod.spread_constraints
        cons = soft_constraints(pod)
        if not cons:
            return SKIP
        ignored = set() if system else {n.name for n in nodes if not all(c.key in n.labels for c in cons)}
        counts: list[dict[str, int]] = [{} for _ in cons]
        for n in nodes:
            if n.name in ignored:
                continue
            for i, c in enumerate(cons):
                if c.key != HOSTNAME and c.key in n.labels:
                    counts[i][n.labels[c.key]] = 0
        weights = []
        for i, c in enumerate(cons):
            size = (len(nodes) - len(ignored)) if c.key == HOSTNAME else len(counts[i])
            weights.append(math.log(size + 2))
        selective = bool(pod.node_selector or pod.node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution"))
        if system:
            # only the nodes holding the controller's pods count, with their counts known from the cache
            held = snap.owner_nodes.get(pod.spread_owner, {})
            for i, c in enumerate(cons):
                domain = counts[i]
                if c.key == HOSTNAME or not domain:
                    continue
                for name, cnt in held.items():
                    holder = snap.by_name.get(name)
                    if holder is None:
                        continue
                    val = holder.labels.get(c.key)
                    if val is not None and val in domain and (not selective or required_matches(pod, holder)):
                        domain[val] += cnt
        else:
            for n in snap.nodes:
                if not all(c.key in n.labels for c in cons) or (selective and not required_matches(pod, n)):
                    continue
                for i, c in enumerate(cons):
                    val = n.labels[c.key]
                    if c.key != HOSTNAME and val in counts[i]:
                        counts[i][val] += _count(n, pod, c.selector)
        state[self.name + "/score"] = (cons, counts, weights, ignored)
        return None

    def score(self, pod: PodInfo, node: NodeInfo, state: CycleState) -> int:
        cons, counts, weights, ignored = state[self.name + "/score"]
        if node.name in ignored:
            return IGNORED
        total = 0.0
        for i, c in enumerate(cons):
            val = node.labels.get(c.key)
            if val is None:
                continue
            cnt = _spread_count(node, pod, c) if c.key == HOSTNAME else counts[i].get(val, 0)
            total += cnt * weights[i] + (c.max_skew - 1)
        return round(total)

    def normalize(self, scores: list[int], state: CycleState) -> None:
        """Fewer matching pods scores higher: 100 × (max + min - score) / max; ignored nodes get 0."""
        valid = [s for s in scores if s != IGNORED]
        if not valid:
            scores[:] = [0] * len(scores)
            return
        lo, hi = min(valid), max(valid)
        for i, s in enumerate(scores):
            if s == IGNORED:
                scores[i] = 0
            elif hi == 0:
                scores[i] = MAX_NODE_SCORE
            else:
                scores[i] = MAX_NODE_SCORE * (hi + lo - s) // hi
