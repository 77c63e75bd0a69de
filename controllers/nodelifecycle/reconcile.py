"""Node lifecycle decisions (kube-controller-manager 1.32's node lifecycle and taint eviction controllers), pure.

Per node, on every monitor pass:
1. `observe`: when was the node last heard from? The probe time moves (to the controller's `now`, not to a time the
   node wrote) whenever the Ready condition's lastHeartbeatTime changes or its kube-node-lease Lease is renewed.
2. `unknown_conditions`: after `node-monitor-grace-period` (or `node-startup-grace-period` for a node that never
   posted Ready) of silence, Ready, MemoryPressure, DiskPressure and PIDPressure become Unknown.
3. `desired_taints`: NoSchedule taints from the conditions (TaintNodesByCondition) and the NoExecute `not-ready` or
   `unreachable` taint from Ready (unless every node is down: 1.32's full-disruption mode stops taint evictions).
4. `mark_pods_not_ready`: once Ready leaves True, the node's pods get Ready=False.
Per pod on a NoExecute-tainted node, `eviction_time` says when its tolerations run out and `evict` what to write.

Simplified (documented): the NoExecute taints are applied at once rather than through the per-zone rate limiter
(`--node-eviction-rate` 0.1/s), and a pod's toleration clock starts at the taint's `timeAdded` instead of at the
moment this process first saw the taint, so a restarted controller neither forgets nor restarts it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from controllers.machinery.actions import Action, Delete, Event, Patch, Update
from controllers.machinery.resources import NODES, PODS

NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"
UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
CONDITION_TAINTS: dict[tuple[str, str], str] = {  # (condition type, status) -> NoSchedule taint key
    ("Ready", "False"): NOT_READY,
    ("Ready", "Unknown"): UNREACHABLE,
    ("MemoryPressure", "True"): "node.kubernetes.io/memory-pressure",
    ("DiskPressure", "True"): "node.kubernetes.io/disk-pressure",
    ("NetworkUnavailable", "True"): "node.kubernetes.io/network-unavailable",
    ("PIDPressure", "True"): "node.kubernetes.io/pid-pressure",
}
MANAGED_NO_SCHEDULE = frozenset(CONDITION_TAINTS.values()) | {UNSCHEDULABLE}
MANAGED_NO_EXECUTE = frozenset({NOT_READY, UNREACHABLE})
MONITORED_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")  # not NetworkUnavailable


@dataclass(frozen=True)
class Options:
    monitor_grace_seconds: float = 40.0  # --node-monitor-grace-period
    startup_grace_seconds: float = 60.0  # --node-startup-grace-period


@dataclass(frozen=True)
class Health:
    """What the controller remembers of a node between passes (1.32's nodeHealthData)."""
    probe: float  # epoch seconds, on the controller's clock, of the last sign of life
    ready_heartbeat: str | None  # the Ready condition's lastHeartbeatTime when last seen
    lease_renew: str | None  # the Lease's spec.renewTime when last seen


def rfc3339(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(s: Any) -> float | None:
    if not isinstance(s, str) or not s:
        return None
    try:
        return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def condition(node: dict[str, Any], ctype: str) -> dict[str, Any] | None:
    for c in (node.get("status") or {}).get("conditions") or []:
        if isinstance(c, dict) and c.get("type") == ctype:
            return c
    return None


def ready_status(node: dict[str, Any]) -> str:
    c = condition(node, "Ready")
    return str(c.get("status")) if c else "Unknown"


def observe(node: dict[str, Any], lease: dict[str, Any] | None, prev: Health | None, now: datetime) -> Health:
    ready = condition(node, "Ready")
    heartbeat = ready.get("lastHeartbeatTime") if ready else None
    renew = (lease.get("spec") or {}).get("renewTime") if lease else None
    t = now.timestamp()
    if prev is None:
        return Health(t, heartbeat, renew)
    probe = prev.probe
    if heartbeat != prev.ready_heartbeat:
        probe = t
    if renew is not None and (prev.lease_renew is None or _later(renew, prev.lease_renew)):
        probe = t
    return Health(probe, heartbeat, renew if renew is not None else prev.lease_renew)


def unknown_conditions(node: dict[str, Any], health: Health, now: datetime, opts: Options) -> dict[str, Any] | None:
    """The node with its monitored conditions set to Unknown once its grace period has passed, or None when there
    is nothing to write."""
    grace = opts.monitor_grace_seconds if condition(node, "Ready") else opts.startup_grace_seconds
    if now.timestamp() <= health.probe + grace:
        return None
    ts = rfc3339(now)
    status = dict(node.get("status") or {})
    conds = [dict(c) for c in status.get("conditions") or [] if isinstance(c, dict)]
    changed = False
    for ctype in MONITORED_CONDITIONS:
        cur = next((c for c in conds if c.get("type") == ctype), None)
        if cur is None:
            conds.append({"type": ctype, "status": "Unknown", "lastHeartbeatTime": (node.get("metadata") or {}).get(
                "creationTimestamp"), "lastTransitionTime": ts, "reason": "NodeStatusNeverUpdated",
                "message": "Kubelet never posted node status."})
            changed = True
        elif cur.get("status") != "Unknown":
            cur.update(status="Unknown", reason="NodeStatusUnknown", message="Kubelet stopped posting node status.",
                       lastTransitionTime=ts)
            changed = True
    if not changed:
        return None
    return {**node, "status": {**status, "conditions": conds}}


def status_update(node: dict[str, Any]) -> Update:
    return Update(NODES, None, node["metadata"]["name"], node, subresource="status")


def fully_disrupted(ready_statuses: Sequence[str]) -> bool:
    """No node Ready and at least one not: 1.32 takes this for a control-plane network problem and stops
    NoExecute tainting everywhere."""
    return bool(ready_statuses) and all(s != "True" for s in ready_statuses)


def desired_taints(node: dict[str, Any], now: datetime, *, no_execute: bool = True) -> list[dict[str, Any]] | None:
    """The node's taints with the controller-managed ones brought in line with its conditions (kept taints keep
    their timeAdded; new ones get `now`), or None when they already are."""
    taints = [t for t in (node.get("spec") or {}).get("taints") or [] if isinstance(t, dict)]
    want: set[tuple[str, str]] = set()
    for (ctype, st), key in CONDITION_TAINTS.items():
        c = condition(node, ctype)
        if c and c.get("status") == st:
            want.add((key, "NoSchedule"))
    if (node.get("spec") or {}).get("unschedulable"):
        want.add((UNSCHEDULABLE, "NoSchedule"))
    ready = ready_status(node) if condition(node, "Ready") else None
    if no_execute and ready == "False":
        want.add((NOT_READY, "NoExecute"))
    elif no_execute and ready == "Unknown":
        want.add((UNREACHABLE, "NoExecute"))

    def managed(t: dict[str, Any]) -> bool:
        return (t.get("effect") == "NoSchedule" and t.get("key") in MANAGED_NO_SCHEDULE) or (
            t.get("effect") == "NoExecute" and t.get("key") in MANAGED_NO_EXECUTE)
    kept = [t for t in taints if not managed(t) or (t.get("key"), t.get("effect")) in want]
    have = {(t.get("key"), t.get("effect")) for t in kept}
    added = [{"key": k, "effect": e, "timeAdded": rfc3339(now)} for k, e in sorted(want - have)]
    if not added and len(kept) == len(taints):
        return None
    return kept + added


def taint_patch(node: dict[str, Any], taints: list[dict[str, Any]]) -> Patch:
    md = node["metadata"]
    return Patch(NODES, None, md["name"], {"metadata": {"resourceVersion": md.get("resourceVersion")},
                                           "spec": {"taints": taints or None}})


def node_not_ready_event(node: dict[str, Any]) -> Event:
    name = node["metadata"]["name"]
    return Event(node, "Normal", "NodeNotReady", f"Node {name} status is now: NodeNotReady")


def registered_event(node: dict[str, Any]) -> Event:
    name = node["metadata"]["name"]
    return Event(node, "Normal", "RegisteredNode", f"Node {name} event: Registered Node {name} in Controller")


def mark_pods_not_ready(pods: Sequence[dict[str, Any]], node_name: str, now: datetime) -> list[Action]:
    """Ready=False on the node's pods whose Ready condition says otherwise (1.32's MarkPodsNotReady)."""
    out: list[Action] = []
    for pod in pods:
        if (pod.get("spec") or {}).get("nodeName") != node_name:
            continue
        status = dict(pod.get("status") or {})
        conds = [dict(c) for c in status.get("conditions") or [] if isinstance(c, dict)]
        ready = next((c for c in conds if c.get("type") == "Ready"), None)
        if ready is None or ready.get("status") == "False":
            continue
        ready.update(status="False", lastTransitionTime=rfc3339(now))
        body = {**pod, "status": {**status, "conditions": conds}}
        md = pod["metadata"]
        out.append(Update(PODS, md.get("namespace"), md["name"], body, subresource="status"))
        out.append(Event(pod, "Warning", "NodeNotReady", "Node is not ready"))
    return out


def tolerates(toleration: dict[str, Any], taint: dict[str, Any]) -> bool:
    """corev1 Toleration.ToleratesTaint."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    if key and key != taint.get("key"):
        return False
    op = toleration.get("operator") or "Equal"
    if op == "Exists":
        return True
    return op == "Equal" and (toleration.get("value") or "") == (taint.get("value") or "")


def eviction_time(pod: dict[str, Any], node: dict[str, Any], now: datetime) -> float | None:
    """Epoch seconds at which the pod must be evicted for the node's NoExecute taints (possibly already past), or
    None if it may stay (no such taint, a toleration without tolerationSeconds, or already being deleted)."""
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return None
    taints = [t for t in (node.get("spec") or {}).get("taints") or []
              if isinstance(t, dict) and t.get("effect") == "NoExecute"]
    if not taints:
        return None
    tolerations = [t for t in (pod.get("spec") or {}).get("tolerations") or [] if isinstance(t, dict)]
    used: list[dict[str, Any]] = []
    for taint in taints:
        matching = [t for t in tolerations if tolerates(t, taint)]
        if not matching:
            return now.timestamp()
        used.extend(m for m in matching if m not in used)
    seconds = [max(0, int(t["tolerationSeconds"])) for t in used if t.get("tolerationSeconds") is not None]
    if not seconds:
        return None
    added = [a for a in (parse_time(t.get("timeAdded")) for t in taints) if a is not None]
    start = min(added) if added else now.timestamp()
    return start + min(seconds)


def evict(pod: dict[str, Any], now: datetime) -> list[Action]:
    """Mark the pod with the DisruptionTarget condition, say so, and delete it (the taint eviction controller)."""
    md = pod["metadata"]
    ns, name = md.get("namespace"), md["name"]
    cond = {"type": "DisruptionTarget", "status": "True", "lastTransitionTime": rfc3339(now),
            "reason": "DeletionByTaintManager", "message": "Taint manager: deleting due to NoExecute taint"}
    return [Event(pod, "Normal", "TaintManagerEviction", f"Marking for deletion Pod {ns}/{name}"),
            Patch(PODS, ns, name, {"metadata": {"uid": md.get("uid")}, "status": {"conditions": [cond]}},
                  patch_type="strategic", subresource="status"),
            Delete(PODS, ns, name, uid=md.get("uid"))]


def _later(a: str, b: str) -> bool:
    ta, tb = parse_time(a), parse_time(b)
    if ta is None or tb is None:
        return a != b
    return ta > tb
