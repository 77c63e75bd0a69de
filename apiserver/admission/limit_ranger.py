"""LimitRanger: fills container requests/limits from LimitRange defaults, then enforces min/max and the
limit/request ratio, per Container and per Pod, with kube-apiserver's messages."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from apiserver.admission import quantity
from apiserver.admission.types import Attributes, Operation, Plugin, forbidden

Obj = dict[str, Any]


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
        for item in self._limit_items(attrs, "Container"):
            for c in _containers(attrs.object):  # type: ignore[arg-type]
                res = c.setdefault("resources", {})
                limits, requests = res.setdefault("limits", {}), res.setdefault("requests", {})
                for name, value in (item.get("default") or {}).items():
                    limits.setdefault(name, value)
                for name, value in (item.get("defaultRequest") or {}).items():
                    requests.setdefault(name, value)
                for name, value in limits.items():  # a request defaults to the limit
                    requests.setdefault(name, value)
                if not limits:
                    del res["limits"]
                if not requests:
                    del res["requests"]

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
