"""DefaultPreemption (PostFilter), pure: on nodes where the pod failed for reasons preemption can resolve, remove
every lower-priority pod, check the pod fits, then reprieve victims from the most important down (priority, then
start time) while it still fits. The node chosen has the lowest highest-victim priority, then the lowest priority
sum, then the fewest victims, then the latest start of its highest-priority victims. PodDisruptionBudgets are not
served by this API server, so none is ever violated (kube's first criterion is moot)."""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass
class PreemptionResult:
    candidate: Candidate | None
    message: str  # "preemption: ..." when no candidate (the FailedScheduling tail), "" on success
    clear_nomination: bool = False  # no candidate anywhere: a nominated node the pod had is given up (kube)


def _importance(p: PodInfo) -> tuple[int, str]:
    return (-p.priority, p.start_time or "~")  # higher priority, then earlier start: more important


def select_victims_on_node(plugins: list[Plugin], pod: PodInfo, node: NodeInfo,
                           state: CycleState) -> tuple[list[PodInfo], Status | None]:
    potential = sorted((p for p in node.pods.values() if p.priority < pod.priority), key=_importance)
    if not potential:
        return [], unresolvable(NO_VICTIMS)
    clone = node.clone()
    st = dict(state)
    for v in potential:
        clone.remove_pod(v.uid)
        for pl in plugins:
            pl.remove_pod(pod, v, clone, st)
    failed = run_filters(plugins, pod, clone, st)
    if failed is not None:
        return [], failed
    victims = []
    for v in potential:
        clone.add_pod(v)
        trial = dict(st)
        for pl in plugins:
            pl.add_pod(pod, v, clone, trial)
        if run_filters(plugins, pod, clone, trial) is None:
            st = trial  # reprieved
        else:
            clone.remove_pod(v.uid)
            victims.append(v)
    return victims, None


def pick_one(candidates: list[Candidate]) -> Candidate:
    def key(c: Candidate) -> tuple[int, int, int, str]:
        top = max(v.priority for v in c.victims)
        total = sum(v.priority + 2**31 for v in c.victims)  # kube shifts so negative priorities still add up
        earliest_top = min((v.start_time or "" for v in c.victims if v.priority == top), default="")
        # latest start wins: invert the string order by sorting on a negated key below
        return (top, total, len(c.victims), earliest_top)

    best = candidates[0]
    for c in candidates[1:]:
        kc, kb = key(c), key(best)
        if kc[:3] < kb[:3] or (kc[:3] == kb[:3] and kc[3] > kb[3]):
            best = c
    return best


def preempt(profile: Profile, pod: PodInfo, snap: Snapshot, diag: Diagnosis) -> PreemptionResult:
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
        victims, why = select_victims_on_node(plugins, pod, node, state)
        if why is not None:
            statuses[node.name] = why
        elif victims:
            candidates.append(Candidate(node.name, victims))
        else:
            statuses[node.name] = Status(Code.ERROR, (f'expected at least one victim pod on node "{node.name}"',))
    if not candidates:
        err = FitError(pod, len(snap.nodes), Diagnosis(node_status=statuses))
        return PreemptionResult(None, f"preemption: {err.message()}", clear_nomination=True)
    return PreemptionResult(pick_one(candidates), "")
