"""The scheduling framework of kube-scheduler 1.32, pure: PreFilter → Filter (on a rotating window of nodes, up to
percentageOfNodesToScore feasible ones) → PostFilter (preemption) on failure → PreScore → Score → NormalizeScore
→ weighted sum → pick the best (ties broken by an injected RNG). Reserve/Bind are the adapter's (cache.assume,
pods/binding). A failure is a `FitError` whose `message()` is kube's FailedScheduling text."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Protocol

from controllers.scheduler.nodeinfo import NodeInfo, Snapshot
from controllers.scheduler.podinfo import PodInfo

MAX_NODE_SCORE = 100
MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5
DEFAULT_PERCENTAGE_OF_NODES_TO_SCORE = 0  # adaptive


class Code(enum.IntEnum):
    SUCCESS = 0
    ERROR = 1
    UNSCHEDULABLE = 2  # preemption may help
    UNRESOLVABLE = 3  # UnschedulableAndUnresolvable: preemption cannot help
    SKIP = 4


@dataclass(frozen=True)
class Status:
    code: Code
    reasons: tuple[str, ...] = ()
    plugin: str = ""

    @property
    def message(self) -> str:
        return ", ".join(self.reasons)


def unschedulable(*reasons: str) -> Status:
    return Status(Code.UNSCHEDULABLE, reasons)


def unresolvable(*reasons: str) -> Status:
    return Status(Code.UNRESOLVABLE, reasons)


SKIP = Status(Code.SKIP)


class RNG(Protocol):
    def random(self) -> float: ...


CycleState = dict[str, Any]


class Plugin:
    """A plugin implements any of the extension points; the defaults do nothing. Every method is pure."""

    name = "Plugin"

    def pre_filter(self, pod: PodInfo, snap: Snapshot, state: CycleState) -> Status | None:
        return None

    def filter(self, pod: PodInfo, node: NodeInfo, state: CycleState) -> Status | None:
        return None

    def pre_score(self, pod: PodInfo, nodes: list[NodeInfo], snap: Snapshot, state: CycleState) -> Status | None:
        return None

    def score(self, pod: PodInfo, node: NodeInfo, state: CycleState) -> int:
        return 0

    def normalize(self, scores: list[int], state: CycleState) -> None:
        """Scale raw scores to 0..100 in place (plugins whose scores already are leave it)."""

    # which extension points the plugin implements (the framework skips calling the others)
    filters = False
    scores = False

    def add_pod(self, pod: PodInfo, added: PodInfo, node: NodeInfo, state: CycleState) -> None:
        """PreFilterExtensions.AddPod: `added` now counts on `node` (preemption's what-if, nominated pods)."""

    def remove_pod(self, pod: PodInfo, removed: PodInfo, node: NodeInfo, state: CycleState) -> None:
        """PreFilterExtensions.RemovePod."""


def default_normalize(scores: list[int], reverse: bool = False) -> None:
    """helper.DefaultNormalizeScore: scale to 0..100 by the maximum (reversed: 100 - that)."""
    top = max(scores, default=0)
    if top == 0:
        if reverse:
            scores[:] = [MAX_NODE_SCORE] * len(scores)
        return
    for i, s in enumerate(scores):
        s = MAX_NODE_SCORE * s // top
        scores[i] = MAX_NODE_SCORE - s if reverse else s


@dataclass
class Profile:
    scheduler_name: str
    filter_plugins: list[Plugin]
    score_plugins: list[tuple[Plugin, int]]  # (plugin, weight)
    pre_filter_plugins: list[Plugin] = field(default_factory=list)
    percentage_of_nodes_to_score: int = DEFAULT_PERCENTAGE_OF_NODES_TO_SCORE

    def __post_init__(self) -> None:
        if not self.pre_filter_plugins:
            seen: list[Plugin] = []
            for p in [*self.filter_plugins, *(p for p, _ in self.score_plugins)]:
                if p not in seen:
                    seen.append(p)
            self.pre_filter_plugins = seen


@dataclass
class Diagnosis:
    node_status: dict[str, Status] = field(default_factory=dict)
    pre_filter_msg: str = ""
    post_filter_msg: str = ""
    unschedulable_plugins: set[str] = field(default_factory=set)


@dataclass
class FitError(Exception):
    pod: PodInfo
    num_nodes: int
    diagnosis: Diagnosis

    def message(self) -> str:
        """FitError.Error(): "0/N nodes are available: <prefilter msg | sorted histogram of reasons>.
        <post filter msg>."""
        msg = f"0/{self.num_nodes} nodes are available:"
        d = self.diagnosis
        if d.pre_filter_msg:
            msg += f" {d.pre_filter_msg}."
        else:
            hist = reason_histogram(d.node_status.values())
            if hist:
                msg += f" {', '.join(hist)}."
        if d.post_filter_msg:
            msg += f" {d.post_filter_msg}."
        return msg

    def __str__(self) -> str:
        return self.message()


def reason_histogram(statuses: Any) -> list[str]:
    counts: dict[str, int] = {}
    for st in statuses:
        for r in st.reasons:
            counts[r] = counts.get(r, 0) + 1
    return sorted(f"{n} {r}" for r, n in counts.items())


class SchedulingError(Exception):
    """A plugin error (not a fit failure): the pod gets reason SchedulerError with this message."""


class NoNodesError(SchedulingError):
    """An empty cluster: kube reports it as Unschedulable (the pod waits for a node), not as an error."""


@dataclass
class ScheduleResult:
    node: str
    evaluated: int
    feasible: int


def num_feasible_nodes_to_find(percentage: int, num_all: int) -> int:
    """kube's numFeasibleNodesToFind: all nodes under 100; else the percentage (adaptive when 0: 50% minus 1% per
    125 nodes, at least 5%), never fewer than 100 nodes."""
    if num_all < MIN_FEASIBLE_NODES_TO_FIND or percentage >= 100:
        return num_all
    adaptive = percentage
    if adaptive <= 0:
        adaptive = 50 - num_all // 125
        if adaptive < MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND:
            adaptive = MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND
    n = num_all * adaptive // 100
    return max(n, MIN_FEASIBLE_NODES_TO_FIND)


def run_pre_filter(profile: Profile, pod: PodInfo, snap: Snapshot,
                   state: CycleState) -> tuple[list[Plugin], Status | None]:
    """The filter plugins to run (those that did not Skip), or the first failing PreFilter status."""
    if pod.error:
        raise SchedulingError(pod.error)
    skipped: set[str] = set()
    for p in profile.pre_filter_plugins:
        st = p.pre_filter(pod, snap, state)
        if st is None:
            continue
        if st.code == Code.SKIP:
            skipped.add(p.name)
        elif st.code == Code.ERROR:
            raise SchedulingError(f'running PreFilter plugin "{p.name}": {st.message}')
        else:
            return [], Status(st.code, st.reasons, p.name)
    state["skip_filter"] = skipped
    return [p for p in profile.filter_plugins if p.name not in skipped], None


def run_filters(plugins: list[Plugin], pod: PodInfo, node: NodeInfo, state: CycleState) -> Status | None:
    for p in plugins:
        st = p.filter(pod, node, state)
        if st is not None:
            return st if st.plugin else Status(st.code, st.reasons, p.name)
    return None


def filter_with_nominated(plugins: list[Plugin], pod: PodInfo, node: NodeInfo, state: CycleState,
                          nominated: list[PodInfo]) -> Status | None:
    """RunFilterPluginsWithNominatedPods: when pods of equal or higher priority are nominated to `node`, the pod
    must fit with them counted too (and without them: they may not land)."""
    others = [n for n in nominated if n.uid != pod.uid and n.priority >= pod.priority]
    if others:
        clone = node.clone()
        st2 = dict(state)
        for o in others:
            clone.add_pod(o)
            for p in plugins:
                p.add_pod(pod, o, clone, st2)
        st = run_filters(plugins, pod, clone, st2)
        if st is not None:
            return st
    return run_filters(plugins, pod, node, state)


def find_nodes_that_fit(profile: Profile, pod: PodInfo, snap: Snapshot, state: CycleState, start: int,
                        nominated: dict[str, list[PodInfo]]) -> tuple[list[NodeInfo], Diagnosis, int]:
    """(feasible nodes, diagnosis, nodes evaluated) — filtering stops at numFeasibleNodesToFind, starting at
    `start` (round robin across cycles, as kube's nextStartNodeIndex)."""
    diag = Diagnosis()
    plugins, st = run_pre_filter(profile, pod, snap, state)
    n = len(snap.nodes)
    if st is not None:
        diag.pre_filter_msg = st.message
        diag.unschedulable_plugins.add(st.plugin)
        for node in snap.nodes:
            diag.node_status[node.name] = st
        return [], diag, 0
    if pod.nominated_node and pod.nominated_node in snap.by_name:
        node = snap.by_name[pod.nominated_node]
        if filter_with_nominated(plugins, pod, node, state, nominated.get(node.name, [])) is None:
            return [node], diag, 1
    want = num_feasible_nodes_to_find(profile.percentage_of_nodes_to_score, n)
    feasible: list[NodeInfo] = []
    evaluated = 0
    for i in range(n):
        node = snap.nodes[(start + i) % n]
        evaluated += 1
        noms = nominated.get(node.name)
        st = (filter_with_nominated(plugins, pod, node, state, noms) if noms
              else run_filters(plugins, pod, node, state))
        if st is None:
            feasible.append(node)
            if len(feasible) >= want:
                break
        elif st.code == Code.ERROR:
            raise SchedulingError(f'running "{st.plugin}" filter plugin: {st.message}')
        else:
            diag.node_status[node.name] = st
            diag.unschedulable_plugins.add(st.plugin)
    return feasible, diag, evaluated


def prioritize(profile: Profile, pod: PodInfo, nodes: list[NodeInfo], snap: Snapshot,
               state: CycleState) -> list[int]:
    totals = [0] * len(nodes)
    for plugin, weight in profile.score_plugins:
        st = plugin.pre_score(pod, nodes, snap, state)
        if st is not None and st.code == Code.SKIP:
            continue
        scores = [plugin.score(pod, node, state) for node in nodes]
        plugin.normalize(scores, state)
        for i, s in enumerate(scores):
            totals[i] += s * weight
    return totals


def select_host(nodes: list[NodeInfo], scores: list[int], rng: RNG) -> str:
    """The highest score; among equals each is equally likely (reservoir sampling, as kube's selectHost)."""
    best = -1
    chosen = ""
    ties = 0
    for node, s in zip(nodes, scores, strict=True):
        if s > best:
            best, chosen, ties = s, node.name, 1
        elif s == best:
            ties += 1
            if int(rng.random() * ties) == 0:
                chosen = node.name
    return chosen


def schedule_pod(profile: Profile, pod: PodInfo, snap: Snapshot, rng: RNG, start: int = 0,
                 nominated: dict[str, list[PodInfo]] | None = None,
                 state: CycleState | None = None) -> ScheduleResult:
    """One scheduling cycle's decision; raises FitError (unschedulable) or SchedulingError."""
    if not snap.nodes:
        raise NoNodesError("no nodes available to schedule pods")
    state = {} if state is None else state
    feasible, diag, evaluated = find_nodes_that_fit(profile, pod, snap, state, start, nominated or {})
    if not feasible:
        raise FitError(pod, len(snap.nodes), diag)
    if len(feasible) == 1:
        return ScheduleResult(feasible[0].name, evaluated, 1)
    scores = prioritize(profile, pod, feasible, snap, state)
    return ScheduleResult(select_host(feasible, scores, rng), evaluated, len(feasible))
