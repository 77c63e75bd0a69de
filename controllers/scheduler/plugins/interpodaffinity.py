"""InterPodAffinity: required pod affinity (each term needs a matching pod in the node's domain, unless no pod
matches anywhere and the pod matches its own terms), required anti-affinity (no matching pod in the domain), and
existing pods' required anti-affinity against the incoming pod; preferred terms score both ways (the incoming pod's
over existing pods, existing pods' over the incoming one) and existing pods' required affinity adds weight 1."""

from __future__ import annotations

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
from controllers.scheduler.podinfo import AffinityTerm, NamespaceLabels, PodInfo

AFFINITY = "node(s) didn't match pod affinity rules"
ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"

HARD_POD_AFFINITY_WEIGHT = 1  # InterPodAffinityArgs.hardPodAffinityWeight default

Counts = dict[tuple[str, str], int]


def _bump(counts: Counts, key: str, node: NodeInfo, delta: int) -> None:
    val = node.labels.get(key)
    if val is not None:
        counts[(key, val)] = counts.get((key, val), 0) + delta


def _existing_anti(pod: PodInfo, existing: PodInfo, node: NodeInfo, counts: Counts, delta: int,
                   ns: NamespaceLabels) -> None:
    for t in existing.required_anti_affinity:
        if t.matches(pod, ns):
            _bump(counts, t.topology_key, node, delta)


def _own(terms: list[AffinityTerm], other: PodInfo, node: NodeInfo, counts: list[Counts], delta: int,
         ns: NamespaceLabels) -> None:
    for i, t in enumerate(terms):
        if t.matches(other, ns):
            _bump(counts[i], t.topology_key, node, delta)


class InterPodAffinity(Plugin):
    name = "InterPodAffinity"
    filters = True
    scores = True

    def pre_filter(self, pod: PodInfo, snap: Snapshot, state: CycleState) -> Status | None:
        need_own = bool(pod.required_affinity or pod.required_anti_affinity)
        if not need_own and not snap.have_anti_affinity():
            return SKIP
        existing: Counts = {}
        aff: list[Counts] = [{} for _ in pod.required_affinity]
        anti: list[Counts] = [{} for _ in pod.required_anti_affinity]
        ns = snap.namespace_labels
        for node in snap.nodes:
            for e in node.anti_affinity_pods.values():
                _existing_anti(pod, e, node, existing, 1, ns)
            if need_own:
                for e in node.pods.values():
                    _own(pod.required_affinity, e, node, aff, 1, ns)
                    _own(pod.required_anti_affinity, e, node, anti, 1, ns)
        state[self.name] = (existing, aff, anti)
        state[self.name + "/namespaces"] = ns
        return None

    def filter(self, pod: PodInfo, node: NodeInfo, state: CycleState) -> Status | None:
        """kube's order: the pod's affinity, then its anti-affinity, then existing pods' anti-affinity."""
        existing, aff, anti = state[self.name]
        if pod.required_affinity and not self._affinity_ok(pod, node, aff, state[self.name + "/namespaces"]):
            return unresolvable(AFFINITY)
        for i, t in enumerate(pod.required_anti_affinity):
            val = node.labels.get(t.topology_key)
            if val is not None and anti[i].get((t.topology_key, val), 0) > 0:
                return unschedulable(ANTI_AFFINITY)
        for (key, val), n in existing.items():
            if n > 0 and node.labels.get(key) == val:
                return unschedulable(EXISTING_ANTI_AFFINITY)
        return None

    @staticmethod
    def _affinity_ok(pod: PodInfo, node: NodeInfo, aff: list[Counts], ns: NamespaceLabels) -> bool:
        for i, t in enumerate(pod.required_affinity):
            val = node.labels.get(t.topology_key)
            if val is None or aff[i].get((t.topology_key, val), 0) <= 0:
                break
        else:
            return True
        # no pod anywhere matches: the first pod of a group that matches its own terms may go anywhere with the keys
        nobody = all(not any(v > 0 for v in c.values()) for c in aff)
        return (nobody and all(t.matches(pod, ns) for t in pod.required_affinity)
                and all(t.topology_key in node.labels for t in pod.required_affinity))

    def _shift(self, pod: PodInfo, other: PodInfo, node: NodeInfo, state: CycleState, delta: int) -> None:
        if self.name not in state:
            return
        existing, aff, anti = state[self.name]
        existing, aff, anti = dict(existing), [dict(c) for c in aff], [dict(c) for c in anti]
        ns = state[self.name + "/namespaces"]
        _existing_anti(pod, other, node, existing, delta, ns)
        _own(pod.required_affinity, other, node, aff, delta, ns)
        _own(pod.required_anti_affinity, other, node, anti, delta, ns)
        state[self.name] = (existing, aff, anti)

    def add_pod(self, pod: PodInfo, added: PodInfo, node: NodeInfo, state: CycleState) -> None:
        self._shift(pod, added, node, state, 1)

    def remove_pod(self, pod: PodInfo, removed: PodInfo, node: NodeInfo, state: CycleState) -> None:
        self._shift(pod, removed, node, state, -1)

    def pre_score(self, pod: PodInfo, nodes: list[NodeInfo], snap: Snapshot, state: CycleState) -> Status | None:
        """Per topology domain: the pod's preferred terms over existing pods (+/- weight), and, symmetrically,
        existing pods' required affinity (hardPodAffinityWeight 1) and preferred terms over the pod."""
        own = bool(pod.preferred_affinity or pod.preferred_anti_affinity)
        if not own and not snap.have_affinity():
            return SKIP
        weights: Counts = {}
        ns = snap.namespace_labels
        for node in snap.nodes:
            for e in (node.pods if own else node.affinity_pods).values():
                for t in pod.preferred_affinity:
                    if t.matches(e, ns):
                        _bump(weights, t.topology_key, node, t.weight)
                for t in pod.preferred_anti_affinity:
                    if t.matches(e, ns):
                        _bump(weights, t.topology_key, node, -t.weight)
                if not e.has_affinity:
                    continue
                for t in e.required_affinity:
                    if t.matches(pod, ns):
                        _bump(weights, t.topology_key, node, HARD_POD_AFFINITY_WEIGHT)
                for t in e.preferred_affinity:
                    if t.matches(pod, ns):
                        _bump(weights, t.topology_key, node, t.weight)
                for t in e.preferred_anti_affinity:
                    if t.matches(pod, ns):
                        _bump(weights, t.topology_key, node, -t.weight)
        state[self.name + "/score"] = weights
        return None

    def score(self, pod: PodInfo, node: NodeInfo, state: CycleState) -> int:
        weights: Counts = state[self.name + "/score"]
        return sum(n for (key, val), n in weights.items() if node.labels.get(key) == val)

    def normalize(self, scores: list[int], state: CycleState) -> None:
        if not scores:
            return
        lo, hi = min(scores), max(scores)
        for i, s in enumerate(scores):
            scores[i] = 0 if hi == lo else MAX_NODE_SCORE * (s - lo) // (hi - lo)
