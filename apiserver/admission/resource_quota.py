"""ResourceQuota: the pure half. ``usage_delta`` says what an object would consume; ``check_quotas`` says whether
the request fits every quota in the namespace and what each quota's ``status.used`` becomes. Writing the new usage
with a compare-and-swap on the quota (so two concurrent creates cannot both squeeze in) is the registry's job."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from apiserver.admission import quantity
from apiserver.admission.types import Attributes, Operation, Plugin, forbidden

Obj = dict[str, Any]
BINARY = frozenset({"memory", "requests.memory", "limits.memory", "requests.storage", "ephemeral-storage",
                    "requests.ephemeral-storage", "limits.ephemeral-storage"})
LEGACY_COUNTS = {"pods": "pods", "services": "services", "secrets": "secrets", "configmaps": "configmaps",
                 "persistentvolumeclaims": "persistentvolumeclaims", "replicationcontrollers": "replicationcontrollers",
                 "resourcequotas": "resourcequotas"}


def _pod_compute(pod: Obj) -> dict[str, Decimal]:
    """Pod requests/limits: the sum over containers, or the largest init container when that is larger."""
    spec = pod.get("spec") or {}
    totals: dict[str, dict[str, Decimal]] = {"requests": {}, "limits": {}}
    for kind in ("requests", "limits"):
        for c in spec.get("containers") or []:
            for name, v in ((c.get("resources") or {}).get(kind) or {}).items():
                totals[kind][name] = totals[kind].get(name, Decimal(0)) + quantity.parse(v)
        for c in spec.get("initContainers") or []:
            for name, v in ((c.get("resources") or {}).get(kind) or {}).items():
                totals[kind][name] = max(totals[kind].get(name, Decimal(0)), quantity.parse(v))
    out: dict[str, Decimal] = {}
    for name, v in totals["requests"].items():
        out[f"requests.{name}"] = v
        if name in ("cpu", "memory", "ephemeral-storage"):
            out[name] = v
    for name, v in totals["limits"].items():
        out[f"limits.{name}"] = v
    return out


def usage_delta(resource: str, api_group: str, obj: Obj) -> dict[str, Decimal]:
    """What creating ``obj`` adds to a namespace's usage, keyed by quota resource name."""
    count_key = f"count/{resource}" + (f".{api_group}" if api_group else "")
    usage: dict[str, Decimal] = {count_key: Decimal(1)}
    if api_group == "" and resource in LEGACY_COUNTS:
        usage[LEGACY_COUNTS[resource]] = Decimal(1)
    if api_group == "" and resource == "pods":
        phase = (obj.get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed"):
            return {count_key: Decimal(1)}
        usage.update(_pod_compute(obj))
    if api_group == "" and resource == "persistentvolumeclaims":
        storage = (((obj.get("spec") or {}).get("resources") or {}).get("requests") or {}).get("storage")
        if storage is not None:
            usage["requests.storage"] = quantity.parse(storage)
    if api_group == "" and resource == "services":
        svc_spec = obj.get("spec") or {}
        stype = svc_spec.get("type", "ClusterIP")
        ports = Decimal(len(svc_spec.get("ports") or []))  # node ports are counted per port, as kube's evaluator
        if stype == "NodePort":
            usage["services.nodeports"] = ports
        if stype == "LoadBalancer":
            if svc_spec.get("allocateLoadBalancerNodePorts", True) is not False:
                usage["services.nodeports"] = ports
            usage["services.loadbalancers"] = Decimal(1)
    return usage


def _fmt(name: str, v: Decimal) -> str:
    return quantity.format_quantity(v, binary=name in BINARY)


class QuotaExceeded(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def check_quotas(quotas: list[Obj], delta: dict[str, Decimal],
                 require_usage_stats: bool = True) -> list[tuple[str, dict[str, str]]]:
    """For each quota that tracks something in ``delta``: (quota name, its new ``status.used``).
    Raises QuotaExceeded with kube-apiserver's text for the first quota (by name) the request would exceed, when a
    quota limits a compute resource the object does not declare, or when its status.hard names a tracked resource
    status.used does not have yet ("status unknown")."""
    updates = []
    for q in sorted(quotas, key=lambda q: q["metadata"]["name"]):
        # What is enforced is status.hard, written by the quota controller with status.used: a quota it has not
        # looked at yet (no status) constrains nothing, as in kube-apiserver.
        hard = (q.get("status") or {}).get("hard") or {}
        used = (q.get("status") or {}).get("used") or {}
        tracked = [r for r in hard if r in delta]
        missing = sorted(r for r in hard if r.startswith(("requests.", "limits.")) and r not in delta
                         and "pods" in delta and r != "requests.storage")
        if missing:
            raise QuotaExceeded(f"failed quota: {q['metadata']['name']}: must specify {','.join(missing)}")
        if not tracked:
            continue
        unknown = sorted(r for r in tracked if r not in used)
        if unknown and require_usage_stats:
            # kube-apiserver refuses until the quota controller has computed status.used for what it limits.
            raise QuotaExceeded(f"status unknown for quota: {q['metadata']['name']}, resources: {','.join(unknown)}")
        over = sorted(r for r in tracked
                      if quantity.parse(used.get(r, "0")) + delta[r] > quantity.parse(hard[r]))
        if over:
            requested = ",".join(f"{r}={_fmt(r, delta[r])}" for r in over)
            now_used = ",".join(f"{r}={_fmt(r, quantity.parse(used.get(r, '0')))}" for r in over)
            limited = ",".join(f"{r}={hard[r]}" for r in over)
            raise QuotaExceeded(f"exceeded quota: {q['metadata']['name']}, requested: {requested}, "
                                f"used: {now_used}, limited: {limited}")
        new_used = dict(used)
        for r in tracked:
            new_used[r] = _fmt(r, quantity.parse(used.get(r, "0")) + delta[r])
        updates.append((q["metadata"]["name"], new_used))
    return updates


class ResourceQuota(Plugin):
    """Validates creates against the namespace's quotas. The computed usage is left on ``last_updates`` for the
    registry to persist atomically; this plugin itself never writes."""

    name = "ResourceQuota"
    operations = frozenset({Operation.CREATE})
    validating = True

    def __init__(self, state: Any, require_usage_stats: bool = True) -> None:
        super().__init__(state)
        self.require_usage_stats = require_usage_stats
        self.last_updates: list[tuple[str, dict[str, str]]] = []

    def validate(self, attrs: Attributes) -> None:
        self.last_updates = []
        if attrs.subresource or attrs.object is None or not attrs.namespace:
            return
        quotas = self.state.list("resourcequotas", attrs.namespace)
        if not quotas:
            return
        try:
            delta = usage_delta(attrs.resource, attrs.api_group, attrs.object)
            self.last_updates = check_quotas(quotas, delta, self.require_usage_stats)
        except QuotaExceeded as exc:
            raise forbidden(attrs, exc.message) from exc
        except quantity.QuantityError as exc:
            raise forbidden(attrs, str(exc)) from exc


def tracked_resources(hard: Obj) -> set[tuple[str, str]]:
    """(api group, resource) whose objects a quota with these ``hard`` limits counts: what the quota controller
    must list to compute ``status.used``."""
    out: set[tuple[str, str]] = set()
    for name in hard:
        if name.startswith("count/"):
            res, _, group = name[len("count/"):].partition(".")
            out.add((group, res))
        elif name in LEGACY_COUNTS:
            out.add(("", LEGACY_COUNTS[name]))
        elif name.startswith(("requests.", "limits.")) or name in ("cpu", "memory", "ephemeral-storage"):
            out.add(("", "pods"))
            if name == "requests.storage":
                out.add(("", "persistentvolumeclaims"))
        elif name.startswith("services."):
            out.add(("", "services"))
    return out

