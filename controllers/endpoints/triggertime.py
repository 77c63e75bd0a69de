"""The `endpoints.kubernetes.io/last-change-trigger-time` annotation: when the change that an Endpoints (or
EndpointSlice) write reflects happened, so latency from a pod turning ready to the proxies can be measured.

kube-controller-manager keeps, per Service, the trigger times it saw at its last sync (each selected pod's Ready
condition lastTransitionTime and the Service's creationTimestamp) and exports the earliest one that moved since; a
Service seen for the first time exports its creationTimestamp. That memory is passed in and returned here, so the
computation stays pure and the adapter owns the state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from controllers.endpoints.podutil import ready_transition_time
from controllers.podcontrol import meta, parse_datetime

Obj = dict[str, Any]


@dataclass(frozen=True)
class TriggerState:
    """What one Service's last sync saw: its trigger time and each selected pod's (by pod name)."""
    service_time: datetime | None = None
    pod_times: dict[str, datetime] = field(default_factory=dict)


def format_rfc3339nano(t: datetime) -> str:
    """Go's time.RFC3339Nano in UTC: fractional seconds only when non-zero, trailing zeros trimmed, `Z`."""
    t = t.astimezone(UTC)
    text = t.strftime("%Y-%m-%dT%H:%M:%S")
    if t.microsecond:
        text += "." + f"{t.microsecond:06d}".rstrip("0")
    return text + "Z"


def compute(service: Obj, pods: list[Obj], state: TriggerState | None) -> tuple[str | None, TriggerState]:
    """(the annotation value or None to clear it, the state to remember for the next sync).

    `pods` are the pods the Service selects; `state` is None when this Service was not seen before."""
    changed: datetime | None = None
    previous = state or TriggerState()
    pod_times: dict[str, datetime] = {}
    for pod in pods:
        t = parse_datetime(ready_transition_time(pod))
        if t is None:
            continue
        name = meta(pod).get("name", "")
        pod_times[name] = t
        last = previous.pod_times.get(name)
        if last is None or t > last:
            changed = t if changed is None or t < changed else changed
    service_time = parse_datetime(meta(service).get("creationTimestamp"))
    if service_time is not None and (previous.service_time is None or service_time > previous.service_time):
        changed = service_time if changed is None or service_time < changed else changed
    new_state = TriggerState(service_time=service_time, pod_times=pod_times)
    if state is None:
        return (format_rfc3339nano(service_time) if service_time else None), new_state
    return (format_rfc3339nano(changed) if changed else None), new_state
