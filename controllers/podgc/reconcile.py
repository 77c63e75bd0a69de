"""The pod garbage collector's decisions, pure: which pods to force-delete on one pass, and how.

As kube-controller-manager 1.32 (pkg/controller/podgc), a pass every 20 s does, in order:
- terminated pods (phase neither Pending, Running nor Unknown) beyond `--terminated-pod-gc-threshold` (12500; 0
  disables this step), evicted ones first, then oldest first, then by name;
- terminating pods on a node that is not Ready and carries the `node.kubernetes.io/out-of-service` taint;
- orphaned pods: bound to a node that has been missing for the 40 s quarantine (a node that only lags in the
  informer is not mistaken for a deleted one) and is confirmed gone by a live GET (the adapter's job); they first get
  the DisruptionTarget condition (reason DeletionByPodGC, "PodGC: node no longer exists");
- terminating pods that were never scheduled.
A pod is marked Failed first (a status patch, unless already terminal: without a kubelet nothing else would end it),
then deleted with grace period 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from controllers.machinery.actions import Action, Delete, Patch
from controllers.machinery.resources import PODS

Obj = dict[str, Any]
GC_CHECK_PERIOD_S = 20.0
QUARANTINE_S = 40.0
OUT_OF_SERVICE_TAINT = "node.kubernetes.io/out-of-service"
ORPHAN_CONDITION = {"type": "DisruptionTarget", "status": "True", "reason": "DeletionByPodGC",
                    "message": "PodGC: node no longer exists"}


def _md(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def _phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "")


def is_terminated(pod: Obj) -> bool:
    return _phase(pod) not in ("Pending", "Running", "Unknown")


def is_evicted(pod: Obj) -> bool:
    return _phase(pod) == "Failed" and (pod.get("status") or {}).get("reason") == "Evicted"


def _rfc3339(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def mark_failed_and_delete(pod: Obj, now: datetime, condition: Obj | None = None) -> list[Action]:
    """Failed phase (and `condition`) through pods/status unless the pod already ended, then a grace-0 delete;
    both guarded by the pod's UID so a new pod of the same name is never touched."""
    md = _md(pod)
    ns, name, uid = md.get("namespace"), md["name"], md.get("uid")
    actions: list[Action] = []
    if _phase(pod) not in ("Succeeded", "Failed"):
        status: Obj = {"phase": "Failed"}
        if condition is not None:
            existing = next((c for c in (pod.get("status") or {}).get("conditions") or []
                             if c.get("type") == condition["type"]), None)
            transition = _rfc3339(now)
            if existing is not None and existing.get("status") == condition["status"]:
                transition = existing.get("lastTransitionTime") or transition  # unchanged status keeps its time
            status["conditions"] = [{**condition, "lastTransitionTime": transition}]
        patch: Obj = {"metadata": {"uid": uid}, "status": status} if uid else {"status": status}
        actions.append(Patch(PODS, ns, name, patch, "strategic", subresource="status"))
    actions.append(Delete(PODS, ns, name, uid=uid, grace_period_seconds=0))
    return actions


def _created(pod: Obj) -> str:
    return str(_md(pod).get("creationTimestamp") or "")


def terminated_to_delete(pods: list[Obj], threshold: int) -> list[Obj]:
    """The terminated pods beyond `threshold`, in the order they go: evicted first, then oldest, then by name."""
    if threshold <= 0:
        return []
    terminated = [p for p in pods if is_terminated(p)]
    excess = len(terminated) - threshold
    if excess <= 0:
        return []
    terminated.sort(key=lambda p: (not is_evicted(p), _created(p), _md(p).get("name", "")))
    return terminated[:excess]


def _node_ready(node: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (node.get("status") or {}).get("conditions") or [])


def terminating_out_of_service(pods: list[Obj], nodes: dict[str, Obj]) -> list[Obj]:
    chosen = []
    for p in pods:
        if not _md(p).get("deletionTimestamp"):
            continue
        node = nodes.get((p.get("spec") or {}).get("nodeName") or "")
        if node is None or _node_ready(node):
            continue
        if any(t.get("key") == OUT_OF_SERVICE_TAINT for t in (node.get("spec") or {}).get("taints") or []):
            chosen.append(p)
    chosen.sort(key=lambda p: (not is_evicted(p), _created(p), _md(p).get("name", "")))
    return chosen


@dataclass(frozen=True)
class Quarantine:
    """Nodes pods are bound to but the node informer does not know, and since when (what the delaying queue
    holds in kube-controller-manager)."""
    missing_since: dict[str, datetime] = field(default_factory=dict)


def quarantine(pods: list[Obj], node_names: set[str], state: Quarantine, now: datetime,
               period_s: float = QUARANTINE_S) -> tuple[set[str], Quarantine]:
    """(the nodes whose quarantine is over and that are still missing — to be confirmed by a live GET —, the state
    to keep). A node leaves the state when its quarantine ends; if its pods remain, the next pass quarantines it
    again, as the queue re-adds it."""
    missing = dict(state.missing_since)
    for p in pods:
        node = (p.get("spec") or {}).get("nodeName") or ""
        if node and node not in node_names:
            missing.setdefault(node, now)
    due = {n for n, since in missing.items() if now - since >= timedelta(seconds=period_s)}
    for n in due:
        del missing[n]
    return {n for n in due if n not in node_names}, Quarantine(missing)


def orphaned(pods: list[Obj], deleted_nodes: set[str]) -> list[Obj]:
    return [p for p in pods if ((p.get("spec") or {}).get("nodeName") or "") in deleted_nodes]


def unscheduled_terminating(pods: list[Obj]) -> list[Obj]:
    return [p for p in pods if _md(p).get("deletionTimestamp") and not (p.get("spec") or {}).get("nodeName")]


def gc_pass(pods: list[Obj], nodes: dict[str, Obj], deleted_nodes: set[str], threshold: int,
            now: datetime) -> list[Action]:
    """One pass, given the nodes confirmed deleted after quarantine: every pod's mark-and-delete, in kube's order,
    each pod once."""
    plan: list[tuple[Obj, Obj | None]] = []
    plan += [(p, None) for p in terminated_to_delete(pods, threshold)]
    plan += [(p, None) for p in terminating_out_of_service(pods, nodes)]
    plan += [(p, ORPHAN_CONDITION) for p in orphaned(pods, deleted_nodes)]
    plan += [(p, None) for p in unscheduled_terminating(pods)]
    seen: set[tuple[str, str]] = set()
    actions: list[Action] = []
    for pod, condition in plan:
        key = (str(_md(pod).get("namespace")), str(_md(pod).get("name")))
        if key in seen:
            continue
        seen.add(key)
        actions += mark_failed_and_delete(pod, now, condition)
    return actions
