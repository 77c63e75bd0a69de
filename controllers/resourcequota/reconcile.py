"""The ResourceQuota controller's decision, pure: a quota's `status.hard` (its spec) and `status.used` recomputed
from every object present in its namespace, written only when either changed.

As kube-controller-manager 1.32 (pkg/controller/resourcequota syncResourceQuota): usage is counted with the same
per-object evaluation the API server's ResourceQuota admission charges (`apiserver.admission.resource_quota.
usage_delta`, imported, not rewritten), restricted to the resources the quota limits; a pod that is terminal, or
terminating and past its grace period, counts only toward `count/pods` (QuotaV1Pod); a scoped quota counts only the
pods its scopes select (Terminating, NotTerminating, BestEffort, NotBestEffort, and PriorityClass through
scopeSelector). Quantities compare by value, so "1000m" and "1" are no change.
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from apiserver.admission import quantity
from apiserver.admission.resource_quota import BINARY, tracked_resources, usage_delta
from controllers.machinery.actions import Action, Update
from controllers.machinery.resources import RESOURCEQUOTAS

Obj = dict[str, Any]
ObjectsByResource = dict[tuple[str, str], list[Obj]]

__all__ = ["reconcile", "compute_used", "tracked_resources", "pod_in_scopes"]


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def pod_counts_compute(pod: Obj, now: datetime) -> bool:
    """QuotaV1Pod: terminal pods, and pods whose deletion grace period has run out, no longer hold resources."""
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return False
    md = pod.get("metadata") or {}
    if md.get("deletionTimestamp") and md.get("deletionGracePeriodSeconds") is not None:
        deadline = _parse_time(md["deletionTimestamp"]) + timedelta(seconds=int(md["deletionGracePeriodSeconds"]))
        if now > deadline:
            return False
    return True


def _is_best_effort(pod: Obj) -> bool:
    containers = list((pod.get("spec") or {}).get("containers") or [])
    containers += (pod.get("spec") or {}).get("initContainers") or []
    for c in containers:
        resources = c.get("resources") or {}
        for kind in ("requests", "limits"):
            if any(name in ("cpu", "memory") for name in resources.get(kind) or {}):
                return False
    return True


def _scope_matches(scope: str, operator: str, values: list[str], pod: Obj) -> bool:
    spec = pod.get("spec") or {}
    if scope == "PriorityClass":
        pc = spec.get("priorityClassName") or ""
        return {"In": pc in values, "NotIn": pc not in values, "Exists": bool(pc),
                "DoesNotExist": not pc}.get(operator, False)
    has = {"Terminating": spec.get("activeDeadlineSeconds") is not None,
           "NotTerminating": spec.get("activeDeadlineSeconds") is None,
           "BestEffort": _is_best_effort(pod), "NotBestEffort": not _is_best_effort(pod),
           "CrossNamespacePodAffinity": False}.get(scope, False)
    return has if operator in ("Exists", "In", "") else not has


def pod_in_scopes(quota: Obj, pod: Obj) -> bool:
    """Whether every scope of the quota (spec.scopes and spec.scopeSelector) selects the pod."""
    spec = quota.get("spec") or {}
    for scope in spec.get("scopes") or []:
        if not _scope_matches(scope, "Exists", [], pod):
            return False
    for expr in (spec.get("scopeSelector") or {}).get("matchExpressions") or []:
        if not _scope_matches(expr.get("scopeName", ""), expr.get("operator", ""), expr.get("values") or [], pod):
            return False
    return True


def _scoped(quota: Obj) -> bool:
    spec = quota.get("spec") or {}
    return bool(spec.get("scopes") or (spec.get("scopeSelector") or {}).get("matchExpressions"))


def compute_used(quota: Obj, objects: ObjectsByResource, now: datetime) -> dict[str, str]:
    """`status.used` for the quota: every resource of spec.hard, summed over `objects` (by (group, plural)). A
    resource whose objects were not given (not served, so not listable) keeps its previous usage, as kube keeps
    what no evaluator computed."""
    hard = (quota.get("spec") or {}).get("hard") or {}
    previous = (quota.get("status") or {}).get("used") or {}
    uncounted = {name for name in hard if not tracked_resources({name: hard[name]}) & set(objects)}
    totals: dict[str, Decimal] = {name: Decimal(0) for name in hard if name not in uncounted}
    for (group, plural), objs in objects.items():
        is_pods = group == "" and plural == "pods"
        for obj in objs:
            if is_pods and _scoped(quota) and not pod_in_scopes(quota, obj):
                continue
            usage = usage_delta(plural, group, obj)
            if is_pods and not pod_counts_compute(obj, now):
                usage = {k: v for k, v in usage.items() if k == "count/pods"}
            for name, value in usage.items():
                if name in totals:
                    totals[name] += value
    used = {name: quantity.format_quantity(v, binary=name in BINARY) for name, v in totals.items()}
    used.update({name: previous[name] for name in uncounted if name in previous})
    return {name: used[name] for name in hard if name in used}


def _same_quantities(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    a, b = a or {}, b or {}
    if set(a) != set(b):
        return False
    try:
        return all(quantity.parse(a[k]) == quantity.parse(b[k]) for k in a)
    except quantity.QuantityError:
        return a == b


def reconcile(quota: Obj, objects: ObjectsByResource, now: datetime) -> list[Action]:
    """The status update (if any) that makes the quota report its limits and the usage of `objects` (every
    object of its namespace of each resource in `tracked_resources(spec.hard)`)."""
    hard = dict((quota.get("spec") or {}).get("hard") or {})
    status = quota.get("status") or {}
    used = compute_used(quota, objects, now)
    first_sync = status.get("hard") is None or status.get("used") is None
    if not first_sync and _same_quantities(status.get("hard"), hard) and _same_quantities(status.get("used"), used):
        return []
    body = copy.deepcopy(quota)
    body.setdefault("apiVersion", "v1")
    body.setdefault("kind", "ResourceQuota")
    body["status"] = {"hard": hard, "used": used}
    md = body["metadata"]
    return [Update(RESOURCEQUOTAS, md.get("namespace"), md["name"], body, subresource="status")]
