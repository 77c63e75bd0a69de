"""A pod's QoS class as kube-apiserver 1.32 computes it at creation (pkg/apis/core/helper/qos ComputePodQOS); pure.

Over every container and init container (ephemeral containers have no resources), only cpu and memory, only
quantities above zero: no request and no limit at all is BestEffort; every container limiting both cpu and memory,
with the summed requests equal to the summed limits for every resource, is Guaranteed; anything else Burstable.
Pod-level resources do not exist in 1.32. A pod whose requests are defaulted from its limits (SetDefaults_Pod) is
judged after that defaulting, as the real server decodes before its strategy runs."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from apiserver.validation.core import QuantityDecodeError, quantity

QOS_RESOURCES = ("cpu", "memory")


def _positive(values: Any) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for name, raw in (values or {}).items() if isinstance(values, dict) else ():
        if name not in QOS_RESOURCES:
            continue
        try:
            q = quantity(raw)
        except QuantityDecodeError:
            continue  # validation refuses the pod later
        if q > 0:
            out[name] = q
    return out


def pod_qos(pod: dict[str, Any]) -> str:
    spec = pod.get("spec") if isinstance(pod.get("spec"), dict) else {}
    assert isinstance(spec, dict)
    requests: dict[str, Decimal] = {}
    limits: dict[str, Decimal] = {}
    guaranteed = True
    for key in ("containers", "initContainers"):
        for c in spec.get(key) or []:
            if not isinstance(c, dict):
                continue
            res = c.get("resources") if isinstance(c.get("resources"), dict) else {}
            assert isinstance(res, dict)
            limits_given = res.get("limits")
            requests_given = dict(res.get("requests") or {}) if isinstance(res.get("requests"), dict) else {}
            if isinstance(limits_given, dict):
                for name, value in limits_given.items():
                    requests_given.setdefault(name, value)  # SetDefaults_Pod: requests default to the limits
            for name, q in _positive(requests_given).items():
                requests[name] = requests.get(name, Decimal(0)) + q
            found = _positive(limits_given)
            for name, q in found.items():
                limits[name] = limits.get(name, Decimal(0)) + q
            if not all(r in found for r in QOS_RESOURCES):
                guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    if guaranteed and any(limits.get(name) != q for name, q in requests.items()):
        guaranteed = False
    return "Guaranteed" if guaranteed and len(requests) == len(limits) else "Burstable"
