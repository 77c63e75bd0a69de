"""scheduling.k8s.io PriorityClass and policy PodDisruptionBudget validation (1.32's rules and messages); pure."""

from __future__ import annotations

from typing import Any

from apiserver.errors import Cause
from apiserver.validation.field import as_dict, forbidden, invalid, not_supported, required
from apiserver.validation.workloads import int_or_percent

SYSTEM_PREFIX = "system-"
HIGHEST_USER_DEFINABLE_PRIORITY = 1_000_000_000
# scheduling.SystemPriorityClasses(): name -> (value, description)
SYSTEM_PRIORITY_CLASSES: dict[str, tuple[int, str]] = {
    "system-node-critical": (2_000_001_000, "Used for system critical pods that must not be moved from their "
                                            "current node."),
    "system-cluster-critical": (2_000_000_000, "Used for system critical pods that must run in the cluster, but "
                                               "can be moved to another node if necessary."),
}
PREEMPTION_POLICIES = ("Never", "PreemptLowerPriority")
UNHEALTHY_POD_EVICTION_POLICIES = ("AlwaysAllow", "IfHealthyBudget")


def system_priority_class_objects() -> list[dict[str, Any]]:
    """What kube-apiserver's scheduling/bootstrap-system-priority-classes hook creates."""
    return [{"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name},
             "value": value, "description": description, "preemptionPolicy": "PreemptLowerPriority"}
            for name, (value, description) in SYSTEM_PRIORITY_CLASSES.items()]


def _known_system_class_error(name: str, value: Any, global_default: bool) -> str:
    if name not in SYSTEM_PRIORITY_CLASSES:
        return f"{name} is not a known system priority class"
    if value != SYSTEM_PRIORITY_CLASSES[name][0]:
        return f"value of {name} PriorityClass must be {SYSTEM_PRIORITY_CLASSES[name][0]}"
    if global_default:
        return f"globalDefault of {name} PriorityClass must be false"
    return ""


def preemption_policy(value: Any, path: str) -> list[Cause]:
    if value == "":
        return [required(path)]
    if value not in PREEMPTION_POLICIES:
        return [not_supported(path, value, ("PreemptLowerPriority", "Never"))]
    return []


def priority_class(obj: dict[str, Any]) -> list[Cause]:
    name = str(as_dict(obj.get("metadata")).get("name") or "")
    value = obj.get("value", 0)
    causes: list[Cause] = []
    if name.startswith(SYSTEM_PREFIX):
        err = _known_system_class_error(name, value, bool(obj.get("globalDefault")))
        if err:
            causes.append(forbidden("metadata.name", f"priority class names with '{SYSTEM_PREFIX}' prefix are "
                                                     f"reserved for system use only. error: {err}"))
    elif isinstance(value, int) and value > HIGHEST_USER_DEFINABLE_PRIORITY:
        causes.append(forbidden("value", f"maximum allowed value of a user defined priority is "
                                         f"{HIGHEST_USER_DEFINABLE_PRIORITY}"))
    if obj.get("preemptionPolicy") is not None:
        causes += preemption_policy(obj["preemptionPolicy"], "preemptionPolicy")
    return causes


def priority_class_update(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    if new.get("value", 0) != old.get("value", 0):
        causes.append(forbidden("value", "may not be changed in an update."))
    if new.get("preemptionPolicy") != old.get("preemptionPolicy"):
        causes.append(invalid("preemptionPolicy", new.get("preemptionPolicy"), "field is immutable"))
    return causes


def _positive_int_or_percent(value: Any, path: str) -> list[Cause]:
    causes, _ = int_or_percent(value, path)
    return causes


def pod_disruption_budget(obj: dict[str, Any]) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    causes: list[Cause] = []
    if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
        causes.append(invalid("spec", spec, "minAvailable and maxUnavailable cannot be both set"))
    for key in ("minAvailable", "maxUnavailable"):
        if spec.get(key) is not None:
            causes += _positive_int_or_percent(spec[key], f"spec.{key}")
    policy = spec.get("unhealthyPodEvictionPolicy")
    if policy is not None and policy not in UNHEALTHY_POD_EVICTION_POLICIES:
        causes.append(not_supported("spec.unhealthyPodEvictionPolicy", policy, UNHEALTHY_POD_EVICTION_POLICIES))
    selector = spec.get("selector")
    if isinstance(selector, dict):
        for i, expr in enumerate(selector.get("matchExpressions") or []):
            path = f"spec.selector.matchExpressions[{i}]"
            op = as_dict(expr).get("operator")
            values = as_dict(expr).get("values") or []
            if op in ("In", "NotIn") and not values:
                causes.append(required(f"{path}.values", "must be specified when `operator` is 'In' or 'NotIn'"))
            elif op in ("Exists", "DoesNotExist") and values:
                causes.append(forbidden(f"{path}.values", "may not be specified when `operator` is 'Exists' or "
                                                         "'DoesNotExist'"))
            elif op not in ("In", "NotIn", "Exists", "DoesNotExist"):
                causes.append(invalid(f"{path}.operator", op, "not a valid selector operator"))
    return causes


def pod_disruption_budget_status(obj: dict[str, Any]) -> list[Cause]:
    status = as_dict(obj.get("status"))
    causes: list[Cause] = []
    for key in ("disruptionsAllowed", "currentHealthy", "desiredHealthy", "expectedPods"):
        v = status.get(key, 0)
        if isinstance(v, int) and v < 0:
            causes.append(invalid(f"status.{key}", v, "must be greater than or equal to 0"))
    return causes
