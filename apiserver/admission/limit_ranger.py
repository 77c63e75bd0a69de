"""LimitRanger: fills container requests/limits from LimitRange defaults, then enforces min/max and the
limit/request ratio, per Container and per Pod, with kube-apiserver's messages."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from apiserver.admission import quantity
from apiserver.admission.types import Attributes, Operation, Plugin, forbidden

Obj = dict[str, Any]
ANNOTATION = "kubernetes.io/limit-ranger"


def _containers(pod: Obj) -> list[Obj]:
    spec = pod.get("spec") or {}
    return list(spec.get("containers") or []) + list(spec.get("initContainers") or [])


class LimitRanger(Plugin):
    name = "LimitRanger"
    operations = frozenset({Operation.CREATE, Operation.UPDATE})
    mutating = True
    validating = True

    def _limit_items(self, attrs: Attributes, kind: str) -> list[Obj]:
        items = []
        for lr in self.state.list("limitranges", attrs.namespace):
            items += [i for i in (lr.get("spec") or {}).get("limits") or [] if i.get("type") == kind]
        return items

    def _applies(self, attrs: Attributes) -> bool:
        # Updates are checked only on create in kube-apiserver for pods (resources are immutable afterwards).
        return attrs.is_core("pods") and attrs.operation == Operation.CREATE and attrs.object is not None

    def admit(self, attrs: Attributes) -> None:
        if not self._applies(attrs):
            return
        pod = attrs.object or {}
        spec = pod.get("spec") or {}
        notes: list[str] = []
        for item in self._limit_items(attrs, "Container"):
            for label, key in (("init container", "initContainers"), ("container", "containers")):
                for c in spec.get(key) or []:
                    notes += _apply_defaults(item, c, f"{label} {c.get('name', '')}")
        if notes:
            annotations = pod.setdefault("metadata", {}).setdefault("annotations", {})
            annotations[ANNOTATION] = "LimitRanger plugin set: " + "; ".join(notes)

    def validate(self, attrs: Attributes) -> None:
        if not self._applies(attrs):
            return
        errors: list[str] = []
        pod = attrs.object or {}
        for item in self._limit_items(attrs, "Container"):
            for c in _containers(pod):
                res = c.get("resources") or {}
                errors += _check("Container", item, res.get("requests") or {}, res.get("limits") or {})
        for item in self._limit_items(attrs, "Pod"):
            req: dict[str, Decimal] = {}
            lim: dict[str, Decimal] = {}
            for c in (pod.get("spec") or {}).get("containers") or []:
                res = c.get("resources") or {}
                for name, v in (res.get("requests") or {}).items():
                    req[name] = req.get(name, Decimal(0)) + quantity.parse(v)
                for name, v in (res.get("limits") or {}).items():
                    lim[name] = lim.get(name, Decimal(0)) + quantity.parse(v)
            errors += _check("Pod", item, {k: _fmt(k, v) for k, v in req.items()},
                             {k: _fmt(k, v) for k, v in lim.items()})
        if errors:
            raise forbidden(attrs, errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]")


def _apply_defaults(item: Obj, container: Obj, who: str) -> list[str]:
    """Fills missing limits from ``default`` and missing requests from ``defaultRequest`` (else from the limit);
    returns the notes for the ``kubernetes.io/limit-ranger`` annotation."""
    res = container.setdefault("resources", {})
    limits, requests = dict(res.get("limits") or {}), dict(res.get("requests") or {})
    set_limits = [n for n in (item.get("default") or {}) if n not in limits]
    for n in set_limits:
        limits[n] = item["default"][n]
    set_requests = [n for n in (item.get("defaultRequest") or {}) if n not in requests]
    for n in set_requests:
        requests[n] = item["defaultRequest"][n]
    for n in set_limits:
        if n not in requests:
            requests[n] = limits[n]
            set_requests.append(n)
    if limits:
        res["limits"] = limits
    if requests:
        res["requests"] = requests
    if not res:
        del container["resources"]
    notes = []
    if set_requests:
        notes.append(f"{', '.join(sorted(set_requests))} request for {who}")
    if set_limits:
        notes.append(f"{', '.join(sorted(set_limits))} limit for {who}")
    return notes


def _fmt(name: str, value: Decimal) -> str:
    return quantity.format_quantity(value, binary=name in ("memory", "ephemeral-storage"))


def _check(kind: str, item: Obj, requests: Obj, limits: Obj) -> list[str]:
    errors = []
    for name, min_v in (item.get("min") or {}).items():
        if name not in requests:
            errors.append(f"minimum {name} usage per {kind} is {min_v}.  No request is specified")
        elif quantity.parse(requests[name]) < quantity.parse(min_v):
            errors.append(f"minimum {name} usage per {kind} is {min_v}, but request is {requests[name]}")
    for name, max_v in (item.get("max") or {}).items():
        if name not in limits:
            errors.append(f"maximum {name} usage per {kind} is {max_v}.  No limit is specified")
        elif quantity.parse(limits[name]) > quantity.parse(max_v):
            errors.append(f"maximum {name} usage per {kind} is {max_v}, but limit is {limits[name]}")
    for name, ratio in (item.get("maxLimitRequestRatio") or {}).items():
        if name not in requests or name not in limits:
            continue
        req = quantity.parse(requests[name])
        actual = quantity.parse(limits[name]) / req if req else Decimal("Infinity")
        if actual > quantity.parse(ratio):
            errors.append(f"{name} max limit to request ratio per {kind} is {ratio}, but provided ratio is "
                          f"{actual:.6f}")
    return errors
