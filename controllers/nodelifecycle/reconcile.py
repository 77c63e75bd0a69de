"""Node lifecycle decisions (kube-controller-manager 1.32's node lifecycle and taint eviction controllers), pure.

Per node, on every monitor pass:
1. `observe`: when was the node last heard from? The probe time moves (to the controller's `now`, not to a time the
   node wrote) whenever the Ready condition's lastHeartbeatTime changes or its kube-node-lease Lease is renewed.
2. `unknown_conditions`: after `node-monitor-grace-period` (or `node-startup-grace-period` for a node that never
   posted Ready) of silence, Ready, MemoryPressure, DiskPressure and PIDPressure become Unknown.
3. `desired_taints`: NoSchedule taints from the conditions (TaintNodesByCondition) and the NoExecute `not-ready` or
   `unreachable` taint from Ready (unless every zone is fully down: 1.32 then takes it for a control-plane network
   problem and stops taint evictions everywhere).
4. `mark_pods_not_ready`: once Ready leaves True, the node's pods get Ready=False.
Per pod on a NoExecute-tainted node, `eviction_time` says when its tolerations run out and `evict` what to write.

New NoExecute taints are paced per zone (`zone_state`, `zone_rate`, `ZoneLimiter`): `--node-eviction-rate` nodes
per second (burst 1) in a healthy zone, `--secondary-node-eviction-rate` in a partially disrupted large zone and
none in a small one; swapping not-ready for unreachable and removing taints are never paced.

Simplified (documented): a pod's toleration clock starts at the taint's `timeAdded` instead of at the moment this
process first saw the taint, so a restarted controller neither forgets nor restarts it.
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
    eviction_rate: float = 0.1  # --node-eviction-rate (nodes/s)
    secondary_eviction_rate: float = 0.01  # --secondary-node-eviction-rate
    large_cluster_threshold: int = 50  # --large-cluster-size-threshold
    unhealthy_zone_threshold: float = 0.55  # --unhealthy-zone-threshold


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


def zone_key(node: dict[str, Any]) -> str:
    """component-helpers' GetZoneKey: region and zone from the topology labels (or their beta names)."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    region = labels.get("topology.kubernetes.io/region") or labels.get("failure-domain.beta.kubernetes.io/region", "")
    zone = labels.get("topology.kubernetes.io/zone") or labels.get("failure-domain.beta.kubernetes.io/zone", "")
    return "" if not region and not zone else f"{region}:\x00:{zone}"


def zone_state(ready_statuses: Sequence[str], unhealthy_threshold: float) -> str:
    """1.32's ComputeZoneState: "FullDisruption" (none Ready), "PartialDisruption" (more than 2 and at least the
    threshold not Ready) or "Normal"."""
    ready = sum(1 for s in ready_statuses if s == "True")
    not_ready = len(ready_statuses) - ready
    if ready == 0 and not_ready > 0:
        return "FullDisruption"
    if not_ready > 2 and not_ready / (not_ready + ready) >= unhealthy_threshold:
        return "PartialDisruption"
    return "Normal"


def zone_rate(state: str, zone_size: int, opts: Options) -> float:
    """Nodes per second that may get a new NoExecute taint in a zone (1.32's setLimiterInZone)."""
    if state == "PartialDisruption":
        return opts.secondary_eviction_rate if zone_size > opts.large_cluster_threshold else 0.0
    return opts.eviction_rate  # Normal, and FullDisruption of one zone among others


class ZoneLimiter:
    """client-go's token bucket (burst 1) as used by the zone taint queues; time is passed in. A rate of 0 accepts
    nothing; changing the rate starts a fresh bucket, as SwapLimiter does."""

    def __init__(self, qps: float, now: float) -> None:
        self.qps = qps
        self.tokens = 1.0
        self.last = now

    def set_rate(self, qps: float, now: float) -> None:
        if qps != self.qps:
            self.qps, self.tokens, self.last = qps, 1.0, now

    def try_accept(self, now: float) -> bool:
        if self.qps <= 0:
            return False
        self.tokens = min(1.0, self.tokens + max(0.0, now - self.last) * self.qps)
        self.last = max(self.last, now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def wait(self) -> float:
        """Seconds until the next token (infinite at rate 0)."""
        return float("inf") if self.qps <= 0 else max(0.0, (1.0 - self.tokens) / self.qps)


def needs_new_no_execute(node: dict[str, Any]) -> bool:
    """Ready is False or Unknown and neither NoExecute taint is there yet: the case the zone limiter paces."""
    ready = condition(node, "Ready")
    if not ready or ready.get("status") == "True":
        return False
    return not any(t.get("effect") == "NoExecute" and t.get("key") in MANAGED_NO_EXECUTE
                   for t in (node.get("spec") or {}).get("taints") or [] if isinstance(t, dict))


def desired_taints(node: dict[str, Any], now: datetime, *, no_execute: bool = True,
                   may_add_no_execute: bool = True) -> list[dict[str, Any]] | None:
    """The node's taints with the controller-managed ones brought in line with its conditions (kept taints keep
    their timeAdded; new ones get `now`), or None when they already are. `no_execute=False` removes the managed
    NoExecute taints (full disruption); `may_add_no_execute=False` holds back a first one (the zone limiter said
    not yet) but still swaps not-ready and unreachable."""
    if not may_add_no_execute and needs_new_no_execute(node):
        no_execute = False
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


def cancelled_evictions(pods: Sequence[dict[str, Any]], before: dict[str, Any], after: dict[str, Any],
                        now: datetime) -> list[Action]:
    """Pods whose eviction was scheduled under the node's old taints and is off under the new ones (the taint was
    removed): the taint eviction controller says so once."""
    out: list[Action] = []
    for pod in pods:
        was = eviction_time(pod, before, now)
        if was is not None and was > now.timestamp() and eviction_time(pod, after, now) is None:
            md = pod.get("metadata") or {}
            out.append(Event(pod, "Normal", "TaintManagerEviction",
                             f"Cancelling deletion of Pod {md.get('namespace')}/{md.get('name')}"))
    return out


def _later(a: str, b: str) -> bool:
    ta, tb = parse_time(a), parse_time(b)
    if ta is None or tb is None:
        return a != b
    return ta > tb
