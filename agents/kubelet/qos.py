"""Pod QoS class (kubelet/apiserver qos.GetPodQOS, pure): Guaranteed, Burstable or BestEffort."""

from __future__ import annotations

from typing import Any

from agents.kubelet.quantity import parse

Obj = dict[str, Any]
_TRACKED = ("cpu", "memory")


def pod_qos(pod: Obj) -> str:
    spec = pod.get("spec") or {}
    containers = list(spec.get("initContainers") or []) + list(spec.get("containers") or [])
    requests: dict[str, object] = {}
    limits: dict[str, object] = {}
    guaranteed = True
    for c in containers:
        res = c.get("resources") or {}
        req = {k: v for k, v in (res.get("requests") or {}).items() if k in _TRACKED and parse(v) != 0}
        lim = {k: v for k, v in (res.get("limits") or {}).items() if k in _TRACKED and parse(v) != 0}
        requests.update(req)
        limits.update(lim)
        if set(lim) != set(_TRACKED):
            guaranteed = False
        # requests default to limits: only an explicit, different request breaks Guaranteed
        for k, v in req.items():
            if k in lim and parse(lim[k]) != parse(v):
                guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"
