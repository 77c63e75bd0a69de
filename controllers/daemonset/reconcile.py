"""The DaemonSet controller's decisions (kube-controller-manager 1.32 `daemon_controller.go`, `update.go`), pure.

`sync(ds, nodes, pods, revisions, now)` returns, in the order the adapter performs them: the ControllerRevision
writes for the current template, the pod deletions and creations (one pod per eligible node, pinned to it with a
required node affinity on `metadata.name`, not `nodeName`), then the status. An eligible node passes the pod's
nodeSelector and required node affinity and has no untolerated NoSchedule/NoExecute taint once the tolerations
the controller always adds are counted; a pod keeps running on a node whose new taints are only NoSchedule.
Failed pods are replaced with a per-node back-off (1 s doubling to 15 min) whose records the adapter keeps.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

from controllers import history
from controllers import podcontrol as pc
from controllers.machinery.actions import Create, Delete, Event, Update
from controllers.machinery.resources import CONTROLLERREVISIONS, DAEMONSETS, PODS

Obj = dict[str, Any]

GENERATION_LABEL = "pod-template-generation"
BACKOFF_INITIAL_S = 1.0
BACKOFF_MAX_S = 15 * 60.0
# AddOrUpdateDaemonPodTolerations: what every daemon pod tolerates, whatever its template says.
AUTO_TOLERATIONS = [
    ("node.kubernetes.io/not-ready", "NoExecute"), ("node.kubernetes.io/unreachable", "NoExecute"),
    ("node.kubernetes.io/disk-pressure", "NoSchedule"), ("node.kubernetes.io/memory-pressure", "NoSchedule"),
    ("node.kubernetes.io/pid-pressure", "NoSchedule"), ("node.kubernetes.io/unschedulable", "NoSchedule"),
]
NETWORK_UNAVAILABLE = ("node.kubernetes.io/network-unavailable", "NoSchedule")


@dataclass(frozen=True)
class Backoff:
    """flowcontrol.Backoff for one (DaemonSet, node): the current delay and when it was last bumped."""
    delay: float
    updated: float

    def blocking(self, now: float) -> bool:
        return now - self.updated < self.delay

    @staticmethod
    def bump(old: Backoff | None, now: float) -> Backoff:
        if old is None or now - old.updated > 2 * BACKOFF_MAX_S:
            return Backoff(BACKOFF_INITIAL_S, now)
        return Backoff(min(old.delay * 2, BACKOFF_MAX_S), now)


@dataclass
class Result:
    revisions: list[Create | Update] = field(default_factory=list)
    hash: str = ""
    deletes: list[Delete] = field(default_factory=list)
    creates: list[Create] = field(default_factory=list)
    status: Obj | None = None
    events: list[Event] = field(default_factory=list)
    requeue_after: float | None = None
    backoff: dict[str, Backoff] = field(default_factory=dict)  # the records to keep, by node name


# ---------------------------------------------------------------- scheduling predicates

def tolerates(toleration: Obj, taint: Obj) -> bool:
    """v1 Toleration.ToleratesTaint."""
    if toleration.get("effect") and toleration.get("effect") != taint.get("effect"):
        return False
    if toleration.get("key") and toleration.get("key") != taint.get("key"):
        return False
    op = toleration.get("operator") or "Equal"
    if op == "Exists":
        return True
    return op == "Equal" and (toleration.get("value") or "") == (taint.get("value") or "")


def untolerated(taints: list[Obj], tolerations: list[Obj], effects: tuple[str, ...]) -> Obj | None:
    for taint in taints:
        if taint.get("effect") in effects and not any(tolerates(t, taint) for t in tolerations):
            return taint
    return None


def _expression_matches(expr: Obj, value: str | None) -> bool:
    op, values = expr.get("operator"), [str(v) for v in expr.get("values") or []]
    if op == "In":
        return value is not None and value in values
    if op == "NotIn":
        return value is None or value not in values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    if op in ("Gt", "Lt") and value is not None and len(values) == 1:
        try:
            a, b = int(value), int(values[0])
        except ValueError:
            return False
        return a > b if op == "Gt" else a < b
    return False


def term_matches(term: Obj, node: Obj) -> bool:
    """A NodeSelectorTerm: every expression on labels and every field (metadata.name) matches; empty matches none."""
    exprs, fields = term.get("matchExpressions") or [], term.get("matchFields") or []
    if not exprs and not fields:
        return False
    node_labels = pc.meta(node).get("labels") or {}
    if not all(_expression_matches(e, node_labels.get(e.get("key"))) for e in exprs):
        return False
    for f in fields:
        value = pc.meta(node).get("name") if f.get("key") == "metadata.name" else None
        if not _expression_matches(f, value):
            return False
    return True


def fits_affinity(pod_spec: Obj, node: Obj) -> bool:
    """nodeSelector and required node affinity (terms OR'ed)."""
    node_labels = pc.meta(node).get("labels") or {}
    if any(node_labels.get(k) != v for k, v in (pod_spec.get("nodeSelector") or {}).items()):
        return False
    required = (((pod_spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution"))
    if required is None:
        return True
    return any(term_matches(t, node) for t in required.get("nodeSelectorTerms") or [])


def with_tolerations(pod_spec: Obj) -> Obj:
    """AddOrUpdateDaemonPodTolerations (on a copy)."""
    spec = copy.deepcopy(pod_spec)
    tolerations = list(spec.get("tolerations") or [])
    wanted = list(AUTO_TOLERATIONS) + ([NETWORK_UNAVAILABLE] if spec.get("hostNetwork") else [])
    for key, effect in wanted:
        tolerations = [t for t in tolerations if not (t.get("key") == key and t.get("effect") == effect)]
        tolerations.append({"key": key, "operator": "Exists", "effect": effect})
    spec["tolerations"] = tolerations
    return spec


def should_run(ds: Obj, node: Obj) -> tuple[bool, bool]:
    """NodeShouldRunDaemonPod: (a pod should be created here, an existing pod may keep running)."""
    tspec = with_tolerations(((pc.spec(ds).get("template") or {}).get("spec")) or {})
    name = tspec.get("nodeName")
    if name and name != pc.meta(node).get("name"):
        return False, False
    if not fits_affinity(tspec, node):
        return False, False
    taints = pc.spec(node).get("taints") or []
    tolerations = tspec.get("tolerations") or []
    if untolerated(taints, tolerations, ("NoSchedule", "NoExecute")) is not None:
        return False, untolerated(taints, tolerations, ("NoExecute",)) is None
    return True, True


def target_node(pod: Obj) -> str | None:
    """GetTargetNodeName: spec.nodeName, or the node a daemon pod's affinity pins it to."""
    if pc.spec(pod).get("nodeName"):
        return str(pc.spec(pod)["nodeName"])
    required = ((((pc.spec(pod).get("affinity") or {}).get("nodeAffinity") or {})
                 .get("requiredDuringSchedulingIgnoredDuringExecution")) or {})
    for term in required.get("nodeSelectorTerms") or []:
        for f in term.get("matchFields") or []:
            if f.get("key") == "metadata.name" and f.get("operator") == "In" and len(f.get("values") or []) == 1:
                return str(f["values"][0])
    return None


def pinned_affinity(affinity: Obj | None, node_name: str) -> Obj:
    """ReplaceDaemonSetPodNodeNameNodeAffinity: the required terms become the one matchFields term."""
    out = copy.deepcopy(affinity or {})
    node_affinity = out.setdefault("nodeAffinity", {})
    node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": [{"matchFields": [
        {"key": "metadata.name", "operator": "In", "values": [node_name]}]}]}
    return out


# ---------------------------------------------------------------- pods

def pod_template(ds: Obj, hash_: str) -> Obj:
    """CreatePodTemplate: the auto tolerations and the generation and revision-hash labels."""
    template = copy.deepcopy(pc.spec(ds).get("template") or {})
    template["spec"] = with_tolerations(template.get("spec") or {})
    tlabels = template.setdefault("metadata", {}).setdefault("labels", {})
    if pc.meta(ds).get("generation") is not None:
        tlabels[GENERATION_LABEL] = str(pc.meta(ds)["generation"])
    tlabels[history.REVISION_HASH_LABEL] = hash_
    return template


def new_pod(ds: Obj, hash_: str, node_name: str) -> Obj:
    template = pod_template(ds, hash_)
    template["spec"]["affinity"] = pinned_affinity(template["spec"].get("affinity"), node_name)
    return pc.pod_from_template(template, ds, DAEMONSETS.api_version, DAEMONSETS.kind)


def is_updated(pod: Obj, hash_: str, generation: Any) -> bool:
    """util.IsPodUpdated: the pod carries the current revision hash (or template generation)."""
    plabels = pc.meta(pod).get("labels") or {}
    by_generation = generation is not None and plabels.get(GENERATION_LABEL) == str(generation)
    return (bool(hash_) and plabels.get(history.REVISION_HASH_LABEL) == hash_) or by_generation


def _oldest_first(pod: Obj) -> tuple[Any, ...]:
    """podByCreationTimestampAndPhase: scheduled first, then oldest, then by name."""
    return (not pc.spec(pod).get("nodeName"), pc.parse_time(pc.meta(pod).get("creationTimestamp")) or 0.0,
            str(pc.meta(pod).get("name")))


def _delete(pod: Obj) -> Delete:
    md = pc.meta(pod)
    return Delete(PODS, md.get("namespace"), str(md.get("name")), uid=md.get("uid"))


def scaled(value: Any, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent."""
    if isinstance(value, str) and value.endswith("%"):
        v = int(value[:-1]) * total / 100
        return int(math.ceil(v)) if round_up else int(math.floor(v))
    return int(value or 0)


# ---------------------------------------------------------------- history

def _history(ds: Obj, revisions: list[Obj], out: Result) -> str:
    """constructHistory: the revision of the current template (created, or renumbered when it is an old one)."""
    owned = history.owned(ds, revisions)
    data = history.template_patch(ds)
    hash_ = history.template_hash(ds)
    top = history.max_revision(owned)
    same = [r for r in owned if history.equal(r, data)]
    if same:
        current = max(same, key=history.revision_number)
        hash_ = str((pc.meta(current).get("labels") or {}).get(history.REVISION_HASH_LABEL) or hash_)
        if history.revision_number(current) < top:
            body = {**copy.deepcopy(current), "revision": top + 1}
            md = pc.meta(current)
            out.revisions.append(Update(CONTROLLERREVISIONS, md.get("namespace"), str(md.get("name")), body))
        return hash_
    name = f"{pc.meta(ds).get('name')}-{hash_}"
    out.revisions.append(Create(CONTROLLERREVISIONS, pc.meta(ds).get("namespace"), history.new_revision(
        ds, DAEMONSETS.api_version, DAEMONSETS.kind, name, hash_, data, top + 1)))
    return hash_


def _cleanup_history(ds: Obj, revisions: list[Obj], pods: list[Obj], current_hash: str, out: Result) -> None:
    """cleanupHistory: beyond revisionHistoryLimit, delete the oldest revisions no live pod still uses."""
    limit = int(pc.spec(ds).get("revisionHistoryLimit", 10))
    owned = history.owned(ds, revisions)
    used = {(pc.meta(p).get("labels") or {}).get(history.REVISION_HASH_LABEL) for p in pods}
    used.add(current_hash)
    old = [r for r in owned if (pc.meta(r).get("labels") or {}).get(history.REVISION_HASH_LABEL) not in used]
    excess = len(old) - limit
    for r in sorted(old, key=history.revision_number)[:max(0, excess)]:
        md = pc.meta(r)
        out.deletes.append(Delete(CONTROLLERREVISIONS, md.get("namespace"), str(md.get("name")), uid=md.get("uid")))


# ---------------------------------------------------------------- the sync

def sync(ds: Obj, nodes: list[Obj], pods: list[Obj], revisions: list[Obj], now: float, *,
         satisfied_expectations: bool = True, backoff: dict[str, Backoff] | None = None) -> Result:
    out = Result(backoff=dict(backoff or {}))
    if pc.meta(ds).get("deletionTimestamp"):
        return out
    if pc.spec(ds).get("selector") == {}:
        out.events.append(Event(ds, "Warning", "SelectingAll",
                                "This daemon set is selecting all pods. A non-empty selector is required."))
        return out
    out.hash = hash_ = _history(ds, revisions, out)
    generation = pc.meta(ds).get("generation")
    pods = pc.owned_pods(ds, pods)
    node_names = {pc.meta(n).get("name") for n in nodes}
    by_node: dict[str, list[Obj]] = {}
    for p in pods:
        target = target_node(p)
        if target is not None:
            by_node.setdefault(target, []).append(p)
    verdicts = {str(pc.meta(n).get("name")): should_run(ds, n) for n in nodes}

    surge = allows_surge(ds)
    if satisfied_expectations:
        doomed: list[Obj] = []
        needing: list[str] = []
        for node in sorted(verdicts):
            run, keep = verdicts[node]
            on_node = by_node.get(node, [])
            if run and not on_node:
                needing.append(node)
            elif keep:
                alive = []
                for p in on_node:
                    if pc.meta(p).get("deletionTimestamp"):
                        continue
                    if pc.phase(p) in ("Failed", "Succeeded"):
                        if pc.phase(p) == "Failed":
                            record = out.backoff.get(node)
                            if record is not None and record.blocking(now):
                                wait = record.delay - (now - record.updated)
                                out.requeue_after = wait if out.requeue_after is None else min(out.requeue_after,
                                                                                               wait)
                                continue
                            out.backoff[node] = Backoff.bump(record, now)
                            message = (f"Found failed daemon pod {pc.meta(p).get('namespace')}/"
                                       f"{pc.meta(p).get('name')} on node {node}, will try to kill it")
                            out.events.append(Event(ds, "Warning", "FailedDaemonPod", message))
                        else:
                            message = (f"Found succeeded daemon pod {pc.meta(p).get('namespace')}/"
                                       f"{pc.meta(p).get('name')} on node {node}, will try to delete it")
                            out.events.append(Event(ds, "Warning", "SucceededDaemonPod", message))
                        doomed.append(p)
                    else:
                        alive.append(p)
                if not surge:
                    if len(alive) > 1:
                        doomed.extend(sorted(alive, key=_oldest_first)[1:])
                elif not alive:
                    if run:
                        needing.append(node)
                elif len(alive) > 1:
                    doomed.extend(_prune_surged(ds, alive, hash_, now))
            elif on_node:
                doomed.extend(p for p in on_node if not pc.meta(p).get("deletionTimestamp"))
        for node, on_node in by_node.items():
            if node not in node_names:  # unscheduled pods pinned to a node that is gone
                doomed.extend(p for p in on_node if not pc.spec(p).get("nodeName")
                              and not pc.meta(p).get("deletionTimestamp"))
        strategy = pc.spec(ds).get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") == "RollingUpdate":
            doomed_names = {pc.meta(p).get("name") for p in doomed}
            if surge:
                extra, surge_nodes = _surge_update(ds, verdicts, by_node, hash_, now)
                needing.extend(n for n in surge_nodes if n not in needing)
            else:
                extra = _rolling_update(ds, verdicts, by_node, hash_, now)
            doomed.extend(p for p in extra if pc.meta(p).get("name") not in doomed_names)
        out.deletes.extend(_delete(p) for p in doomed)
        ns = pc.meta(ds).get("namespace")
        out.creates = [Create(PODS, ns, new_pod(ds, hash_, n)) for n in needing]
        _cleanup_history(ds, revisions, pods, hash_, out)

    out.status, ready_gap = _status(ds, verdicts, by_node, hash_, generation, now)
    min_ready = int(pc.spec(ds).get("minReadySeconds") or 0)
    if min_ready > 0 and ready_gap:
        out.requeue_after = float(min_ready) if out.requeue_after is None else min(out.requeue_after, min_ready)
    return out


def allows_surge(ds: Obj) -> bool:
    """util.AllowsSurge: a RollingUpdate whose maxSurge is above zero (scaled against one node)."""
    strategy = pc.spec(ds).get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return False
    return scaled((strategy.get("rollingUpdate") or {}).get("maxSurge", 0), 1, True) > 0


def _prune_surged(ds: Obj, alive: list[Obj], hash_: str, now: float) -> list[Obj]:
    """With surge a node may hold the oldest new pod and the oldest old pod; the old one goes once it is not
    ready or the new one is available. Anything beyond those two goes at once."""
    min_ready = int(pc.spec(ds).get("minReadySeconds") or 0)
    newest: Obj | None = None
    oldest: Obj | None = None
    doomed = []
    for p in sorted(alive, key=_oldest_first):
        if revision_label(p) == hash_ and newest is None:
            newest = p
        elif revision_label(p) != hash_ and oldest is None:
            oldest = p
        else:
            doomed.append(p)
    if newest is not None and oldest is not None and (
            not pc.is_ready(oldest) or pc.is_available(newest, min_ready, now)):
        doomed.append(oldest)
    return doomed


def revision_label(pod: Obj) -> str:
    return str((pc.meta(pod).get("labels") or {}).get(history.REVISION_HASH_LABEL) or "")


def _surge_update(ds: Obj, verdicts: dict[str, tuple[bool, bool]], by_node: dict[str, list[Obj]], hash_: str,
                  now: float) -> tuple[list[Obj], list[str]]:
    """rollingUpdate with maxSurge: a new pod goes next to an old one (at once where the old one is unavailable,
    on up to maxSurge more nodes otherwise), and the old pod is deleted once the new one is available."""
    rolling = (pc.spec(ds).get("updateStrategy") or {}).get("rollingUpdate") or {}
    desired = sum(1 for run, _ in verdicts.values() if run)
    max_surge = scaled(rolling.get("maxSurge", 0), desired, True)
    min_ready = int(pc.spec(ds).get("minReadySeconds") or 0)
    generation = pc.meta(ds).get("generation")
    doomed: list[Obj] = []
    sunset: list[Obj] = []
    allowed: list[str] = []
    candidates: list[str] = []
    surging = available = 0
    nodes = sorted(set(by_node) | {n for n, (run, _) in verdicts.items() if run})
    for node in nodes:
        live = [p for p in by_node.get(node, []) if not pc.meta(p).get("deletionTimestamp")
                and not pc.is_terminal(p)]
        new = [p for p in live if is_updated(p, hash_, generation)]
        old = [p for p in live if not is_updated(p, hash_, generation)]
        if len(new) > 1 or len(old) > 1:
            surging += 1  # the manage pass prunes this node first
            continue
        old_pod, new_pod_ = (old[0] if old else None), (new[0] if new else None)
        if (old_pod or new_pod_) is not None and pc.is_available(old_pod or new_pod_ or {}, min_ready, now):
            available += 1
        run = verdicts.get(node, (False, False))[0]
        if old_pod is None:
            continue
        if new_pod_ is None:
            if not pc.is_available(old_pod, min_ready, now):
                if not run:
                    doomed.append(old_pod)
                else:
                    allowed.append(node)
            elif not run:
                sunset.append(old_pod)
            elif surging < max_surge:
                candidates.append(node)
        elif not pc.is_available(new_pod_, min_ready, now):
            surging += 1
        else:
            doomed.append(old_pod)
    deletable = min(max(0, available - desired), len(sunset))
    doomed.extend(sunset[:deletable])
    room = max(0, min(max_surge - surging, len(candidates)))
    return doomed, allowed + candidates[:room]


def _rolling_update(ds: Obj, verdicts: dict[str, tuple[bool, bool]], by_node: dict[str, list[Obj]], hash_: str,
                    now: float) -> list[Obj]:
    """rollingUpdate without surge: old pods that are unavailable always go; available ones go while fewer than
    maxUnavailable nodes lack an available up-to-date pod."""
    rolling = (pc.spec(ds).get("updateStrategy") or {}).get("rollingUpdate") or {}
    desired = sum(1 for run, _ in verdicts.values() if run)
    max_unavailable = scaled(rolling.get("maxUnavailable", 1), desired, True)
    if scaled(rolling.get("maxSurge", 0), desired, True) == 0 and max_unavailable == 0:
        max_unavailable = 1
    min_ready = int(pc.spec(ds).get("minReadySeconds") or 0)
    generation = pc.meta(ds).get("generation")
    unavailable = 0
    always: list[Obj] = []
    candidates: list[Obj] = []
    for node in sorted(n for n, (run, _) in verdicts.items() if run):
        live = [p for p in by_node.get(node, []) if not pc.meta(p).get("deletionTimestamp")
                and not pc.is_terminal(p)]
        new = [p for p in live if is_updated(p, hash_, generation)]
        old = [p for p in live if not is_updated(p, hash_, generation)]
        if len(new) > 1 or len(old) > 1 or (new and old) or not live:
            unavailable += 1  # the manage pass creates or prunes here
        elif new:
            if not pc.is_available(new[0], min_ready, now):
                unavailable += 1
        elif not pc.is_available(old[0], min_ready, now):
            always.append(old[0])
        elif unavailable < max_unavailable:
            candidates.append(old[0])
    room = max(0, min(max_unavailable - unavailable, len(candidates)))
    return always + candidates[:room]


def _status(ds: Obj, verdicts: dict[str, tuple[bool, bool]], by_node: dict[str, list[Obj]], hash_: str,
            generation: Any, now: float) -> tuple[Obj, bool]:
    """updateDaemonSetStatus; also whether some pod is ready but not yet available (minReadySeconds)."""
    min_ready = int(pc.spec(ds).get("minReadySeconds") or 0)
    desired = scheduled = misscheduled = ready = available = updated = 0
    for node, (run, _) in verdicts.items():
        on_node = sorted(by_node.get(node, []), key=_oldest_first)
        if run:
            desired += 1
            if on_node:
                scheduled += 1
                first = on_node[0]
                if pc.is_ready(first):
                    ready += 1
                    if pc.is_available(first, min_ready, now):
                        available += 1
                if is_updated(first, hash_, generation):
                    updated += 1
        elif on_node:
            misscheduled += 1
    status: Obj = {**pc.status(ds), "desiredNumberScheduled": desired, "currentNumberScheduled": scheduled,
                   "numberMisscheduled": misscheduled, "numberReady": ready, "numberAvailable": available,
                   "updatedNumberScheduled": updated, "numberUnavailable": desired - available,
                   "observedGeneration": generation}
    for key in ("numberAvailable", "numberUnavailable", "updatedNumberScheduled"):
        if not status[key]:
            status.pop(key)
    return status, ready != available


def status_update(ds: Obj, status: Obj) -> Update | None:
    """UpdateStatus only when something changed."""
    if status == pc.status(ds):
        return None
    return pc.status_put(DAEMONSETS, ds, status)
