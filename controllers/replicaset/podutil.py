"""Pod predicates the replica controllers decide with (k8s.io/kubernetes pkg/api/v1/pod and controller_utils).

Pure: times are RFC 3339 strings in the objects and `now` is a timezone-aware datetime passed in.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

Object = dict[str, Any]
EPOCH = datetime(1, 1, 1, tzinfo=UTC)  # Go's zero time: "no timestamp" sorts as the oldest possible


def parse_time(value: str | None) -> datetime | None:
    """An RFC 3339 timestamp as the API server writes it (seconds, or fractional for MicroTime)."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def format_time(t: datetime) -> str:
    """metav1.Time's JSON form: second precision, UTC, trailing Z."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def meta(obj: Object) -> Object:
    return obj.get("metadata") or {}


def condition(pod: Object, ctype: str) -> Object | None:
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == ctype:
            return dict(c)
    return None


def is_active(pod: Object) -> bool:
    """controller.IsPodActive: not Succeeded, not Failed, not being deleted."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not meta(pod).get("deletionTimestamp")


def is_ready(pod: Object) -> bool:
    c = condition(pod, "Ready")
    return c is not None and c.get("status") == "True"


def ready_time(pod: Object) -> datetime | None:
    """When the pod last became Ready (the Ready condition's lastTransitionTime), None if not ready or unknown."""
    c = condition(pod, "Ready")
    if c is None or c.get("status") != "True":
        return None
    return parse_time(c.get("lastTransitionTime"))


def is_available(pod: Object, min_ready_seconds: int, now: datetime) -> bool:
    """podutil.IsPodAvailable: Ready, and Ready for longer than minReadySeconds (strictly, as Time.Before)."""
    if not is_ready(pod):
        return False
    if min_ready_seconds == 0:
        return True
    since = ready_time(pod)
    return since is not None and since + timedelta(seconds=min_ready_seconds) < now


def controller_ref(obj: Object) -> Object | None:
    """metav1.GetControllerOf: the ownerReference with controller: true."""
    for ref in meta(obj).get("ownerReferences") or []:
        if ref.get("controller"):
            return dict(ref)
    return None
