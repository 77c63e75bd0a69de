"""What the workload controllers (Job, DaemonSet, StatefulSet, ...) ask of pods, written once and pure.

Mirrors kube-controller-manager's `controller_utils.go`: the pod a controller creates from its template
(GetPodFromTemplate + the controller reference), which pods count as active, terminating or ready, the order in
which surplus pods are deleted (ActivePods), and RFC 3339 times. Every controller that asks these of a pod (the
ReplicaSet, Deployment, Endpoints, EndpointSlice and disruption cores too) imports them from here. Pure: times are
epoch seconds passed in, or timezone-aware datetimes for the cores that take `now` as one (ReplicaSet, Deployment).
"""

from __future__ import annotations

import copy
import datetime
from typing import Any

from controllers.machinery import labels
from controllers.machinery.actions import Update
from controllers.machinery.resources import Resource

Obj = dict[str, Any]
EPOCH = datetime.datetime(1, 1, 1, tzinfo=datetime.UTC)  # Go's zero time: "no timestamp" sorts as the oldest possible


def meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def spec(obj: Obj) -> Obj:
    return obj.get("spec") or {}


def status(obj: Obj) -> Obj:
    return obj.get("status") or {}


def rfc3339(t: float) -> str:
    """metav1.Time's wire form: second precision, UTC, 'Z'."""
    return datetime.datetime.fromtimestamp(int(t), datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_datetime(t: datetime.datetime) -> str:
    """metav1.Time's wire form of a datetime: second precision, UTC, 'Z'."""
    return t.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_datetime(s: str | None) -> datetime.datetime | None:
    """An RFC 3339 timestamp as the API server writes it (seconds, or fractional for MicroTime); None stays None."""
    if not s:
        return None
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))


def parse_time(s: str | None) -> float | None:
    """An RFC 3339 timestamp (as the API server writes them) to epoch seconds; None stays None."""
    t = parse_datetime(s)
    return None if t is None else t.timestamp()


def controller_ref(owner: Obj, api_version: str, kind: str) -> Obj:
    """metav1.NewControllerRef: the owner reference a controller puts on what it creates (apiVersion and kind are
    the controller's own: list items from an informer need not carry them)."""
    return {"apiVersion": api_version, "kind": kind,
            "name": meta(owner).get("name", ""), "uid": meta(owner).get("uid", ""),
            "controller": True, "blockOwnerDeletion": True}


def controller_of(obj: Obj) -> Obj | None:
    """The owner reference with controller=true (metav1.GetControllerOf)."""
    return next((r for r in meta(obj).get("ownerReferences") or [] if r.get("controller")), None)


def is_controlled_by(obj: Obj, owner: Obj) -> bool:
    ref = controller_of(obj)
    return ref is not None and ref.get("uid") == meta(owner).get("uid")


def status_put(resource: Resource, owner: Obj, status: Obj) -> Update:
    """PUT /status of a workload object with its resourceVersion (a stale cache gets a conflict and is retried)."""
    md = meta(owner)
    body = {"apiVersion": resource.api_version, "kind": resource.kind, "metadata": copy.deepcopy(md),
            "spec": spec(owner), "status": status}
    return Update(resource, md.get("namespace"), str(md.get("name")), body, "status")


def owned_pods(owner: Obj, pods: list[Obj]) -> list[Obj]:
    """The pods of the owner's namespace it controls and its label selector still selects (a selector that does not
    parse raises `labels.SelectorError`)."""
    selector = labels.from_label_selector(spec(owner).get("selector"))
    ns = meta(owner).get("namespace")
    return [p for p in pods if meta(p).get("namespace") == ns and is_controlled_by(p, owner)
            and selector.matches(meta(p).get("labels"))]


def pod_from_template(template: Obj, owner: Obj, api_version: str, kind: str, *, generate_name: str | None = None,
                      name: str | None = None, namespace: str | None = None) -> Obj:
    """GetPodFromTemplate: labels, annotations, finalizers and spec from the template, the owner's controller
    reference, and either a fixed `name` (StatefulSet) or `generateName` (the owner's name and a dash by default)."""
    tmeta = template.get("metadata") or {}
    md: Obj = {"namespace": namespace if namespace is not None else meta(owner).get("namespace", "")}
    if name is not None:
        md["name"] = name
    else:
        # getPodsPrefix; the API server's name generator shortens a long base itself
        md["generateName"] = generate_name if generate_name is not None else f"{meta(owner).get('name', '')}-"
    for key in ("labels", "annotations"):
        if tmeta.get(key):
            md[key] = dict(tmeta[key])
    if tmeta.get("finalizers"):
        md["finalizers"] = list(tmeta["finalizers"])
    md["ownerReferences"] = [controller_ref(owner, api_version, kind)]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": copy.deepcopy(template.get("spec") or {})}


def phase(pod: Obj) -> str:
    return str(status(pod).get("phase") or "")


def is_terminal(pod: Obj) -> bool:
    return phase(pod) in ("Succeeded", "Failed")


def is_active(pod: Obj) -> bool:
    """FilterActivePods: not Succeeded, not Failed, not being deleted."""
    return not is_terminal(pod) and meta(pod).get("deletionTimestamp") is None


def is_terminating(pod: Obj) -> bool:
    """CountTerminatingPods' test: being deleted but not yet terminal."""
    return meta(pod).get("deletionTimestamp") is not None and not is_terminal(pod)


def condition(pod: Obj, ctype: str) -> Obj | None:
    return next((c for c in status(pod).get("conditions") or [] if c.get("type") == ctype), None)


def is_ready(pod: Obj) -> bool:
    c = condition(pod, "Ready")
    return c is not None and c.get("status") == "True"


def ready_time(pod: Obj) -> datetime.datetime | None:
    """When the pod last became Ready (the Ready condition's lastTransitionTime), None if not ready or unknown."""
    c = condition(pod, "Ready")
    if c is None or c.get("status") != "True":
        return None
    return parse_datetime(c.get("lastTransitionTime"))


def is_available(pod: Obj, min_ready_seconds: int, now: float | datetime.datetime) -> bool:
    """podutil.IsPodAvailable: Ready, and Ready for longer than minReadySeconds (strictly, as Time.Before)."""
    if not is_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = ready_time(pod)
    if since is None:
        return False
    if isinstance(now, datetime.datetime):
        return since + datetime.timedelta(seconds=min_ready_seconds) < now
    return since.timestamp() + min_ready_seconds < now


def restart_count(pod: Obj) -> int:
    return sum(int(cs.get("restartCount") or 0) for cs in status(pod).get("containerStatuses") or [])


_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


def deletion_rank(pod: Obj) -> tuple[Any, ...]:
    """controller.ActivePods' order, smallest first = deleted first: unscheduled < scheduled, Pending < Unknown <
    Running, not ready < ready, ready for less time, more restarts, newer."""
    ready_c = condition(pod, "Ready") or {}
    ready_since = parse_time(ready_c.get("lastTransitionTime")) or 0.0
    created = parse_time(meta(pod).get("creationTimestamp")) or 0.0
    return (bool(spec(pod).get("nodeName")), _PHASE_RANK.get(phase(pod), 0), is_ready(pod),
            -ready_since if is_ready(pod) else 0.0, -restart_count(pod), -created)
