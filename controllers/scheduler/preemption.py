"""DefaultPreemption (PostFilter), pure: on nodes where the pod failed for reasons preemption can resolve, remove
every lower-priority pod, check the pod fits, then reprieve victims from the most important down (priority, then
start time) while it still fits. The node chosen has the lowest highest-victim priority, then the lowest priority
sum, then the fewest victims, then the latest start of its highest-priority victims.

PodDisruptionBudgets (the policy/v1 objects as the API server serves them) count as in kube: victims whose
eviction would take a matching budget's disruptionsAllowed below zero (pods already in its disruptedPods spend
nothing) are "violating"; they are reprieved first, and the node with the fewest violating victims wins before any
other criterion."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from controllers.machinery.labels import SelectorError, from_label_selector
from controllers.scheduler.framework import (
    Code,
    CycleState,
    Diagnosis,
    FitError,
    Plugin,
    Profile,
    Status,
    run_filters,
    run_pre_filter,
    unresolvable,
)
from controllers.scheduler.nodeinfo import NodeInfo, Snapshot
from controllers.scheduler.podinfo import PodInfo

NO_VICTIMS = "No preemption victims found for incoming pod"
NOT_HELPFUL = "Preemption is not helpful for scheduling"
NEVER = "not eligible due to preemptionPolicy=Never."
TERMINATING = "not eligible due to a terminating pod on the nominated node."


@dataclass
class Candidate:
    node: str
    victims: list[PodInfo]
    pdb_violations: int = 0


@dataclass
class PreemptionResult:
    candidate: Candidate | None
    message: str  # "preemption: ..." when no candidate (the FailedScheduling tail), "" on success
    clear_nomination: bool = False  # no candidate anywhere: a nominated node the pod had is given up (kube)


def _importance(p: PodInfo) -> tuple[int, str]:
    return (-p.priority, p.start_time or "~")  # higher priority, then earlier start: more important


def filter_pods_with_pdb_violation(pods: list[PodInfo], pdbs: Sequence[dict[str, Any]]
                                   ) -> tuple[list[PodInfo], list[PodInfo]]:
    """(violating, non-violating), each in the given order: a pod is violating when some budget selecting it
    has no disruption left for it once the pods before it are counted."""
    allowed = [int(((b.get("status") or {}).get("disruptionsAllowed")) or 0) for b in pdbs]
    violating: list[PodInfo] = []
    fine: list[PodInfo] = []
    for pod in pods:
        violated = False
        if pod.labels:
            for i, pdb in enumerate(pdbs):
                if (pdb.get("metadata") or {}).get("namespace") != pod.namespace:
                    continue
                try:
                    sel = from_label_selector((pdb.get("spec") or {}).get("selector"))
                except SelectorError:
                    continue
                if sel.empty() or not sel.matches(pod.labels):
                    continue
                if pod.name in ((pdb.get("status") or {}).get("disruptedPods") or {}):
                    continue
                allowed[i] -= 1
                if allowed[i] < 0:
                    violated = True
        (violating if violated else fine).append(pod)
    return violating, fine


def select_victims_on_node(plugins: list[Plugin], pod: PodInfo, node: NodeInfo, state: CycleState,
                           pdbs: Sequence[dict[str, Any]] = ()) -> tuple[list[PodInfo], int, Status | None]:
    potential = sorted((p for p in node.pods.values() if p.priority < pod.priority), key=_importance)
    if not potential:
        return [], 0, unresolvable(NO_VICTIMS)
    clone = node.clone()
    st = dict(state)
    for v in potential:
        clone.remove_pod(v.uid)
        for pl in plugins:
            pl.remove_pod(pod, v, clone, st)
    failed = run_filters(plugins, pod, clone, st)
    if failed is not None:
        return [], 0, failed
    victims: list[PodInfo] = []
    violating, fine = filter_pods_with_pdb_violation(potential, pdbs)

    def reprieve(v: PodInfo) -> bool:
        nonlocal st
        clone.add_pod(v)
        trial = dict(st)
        for pl in plugins:
            pl.add_pod(pod, v, clone, trial)
        if run_filters(plugins, pod, clone, trial) is None:
            st = trial
            return True
        clone.remove_pod(v.uid)
        victims.append(v)
        return False

    violations = sum(1 for v in violating if not reprieve(v))
    for v in fine:
        reprieve(v)
    return victims, violations, None


def pick_one(candidates: list[Candidate]) -> Candidate:
    def key(c: Candidate) -> tuple[int, int, int, int, str]:
        top = max(v.priority for v in c.victims)
        total = sum(v.priority + 2**31 for v in c.victims)  # kube shifts so negative priorities still add up
        earliest_top = min((v.start_time or "" for v in c.victims if v.priority == top), default="")
        # latest start wins: invert the string order by sorting on a negated key below
        return (c.pdb_violations, top, total, len(c.victims), earliest_top)

    best = candidates[0]
    for c in candidates[1:]:
        kc, kb = key(c), key(best)
        if kc[:4] < kb[:4] or (kc[:4] == kb[:4] and kc[4] > kb[4]):
            best = c
    return best


def preempt(profile: Profile, pod: PodInfo, snap: Snapshot, diag: Diagnosis,
            pdbs: Sequence[dict[str, Any]] = ()) -> PreemptionResult:
    if pod.preemption_policy == "Never":
        return PreemptionResult(None, f"preemption: {NEVER}")
    nominated = snap.by_name.get(pod.nominated_node) if pod.nominated_node else None
    if nominated is not None:
        st = diag.node_status.get(nominated.name)
        if not (st is not None and st.code == Code.UNRESOLVABLE):
            if any(p.terminating and p.priority < pod.priority for p in nominated.pods.values()):
                return PreemptionResult(None, f"preemption: {TERMINATING}")
    state: CycleState = {}
    plugins, failed = run_pre_filter(profile, pod, snap, state)
    statuses: dict[str, Status] = {}
    candidates: list[Candidate] = []
    for node in snap.nodes:
        st = diag.node_status.get(node.name)
        if failed is not None or st is None or st.code != Code.UNSCHEDULABLE:
            statuses[node.name] = unresolvable(NOT_HELPFUL)
            continue
        victims, violations, why = select_victims_on_node(plugins, pod, node, state, pdbs)
        if why is not None:
            statuses[node.name] = why
        elif victims:
            candidates.append(Candidate(node.name, victims, violations))
        else:
            statuses[node.name] = Status(Code.ERROR, (f'expected at least one victim pod on node "{node.name}"',))
    if not candidates:
        err = FitError(pod, len(snap.nodes), Diagnosis(node_status=statuses))
        return PreemptionResult(None, f"preemption: {err.message()}", clear_nomination=True)
    return PreemptionResult(pick_one(candidates), "")
