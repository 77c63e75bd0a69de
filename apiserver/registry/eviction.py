"""pods/eviction and PodDisruptionBudgets, as 1.32's EvictionREST decides; pure (the adapter in http/server.py
reads the pod and the budgets, writes the budget's status with a guarded update and deletes the pod).

1. A pod that is Pending, Succeeded, Failed or already terminating is deleted without looking at budgets.
2. Otherwise the budgets of its namespace whose (non-empty) selector matches its labels count: more than one is a
   500; none, the pod is deleted (guarded on its resourceVersion).
3. With one: an unready pod is deleted without spending the budget when the budget's unhealthyPodEvictionPolicy is
   AlwaysAllow or, by default (IfHealthyBudget), when the budget is healthy (currentHealthy >= desiredHealthy > 0);
   else the budget must have seen its generation and allow a disruption: disruptionsAllowed is decremented and the
   pod recorded in disruptedPods (time of the eviction) before the pod is deleted.
"""

from __future__ import annotations

import copy
from typing import Any

from apiserver import errors
from apiserver.registry.meta import rfc3339
from apiserver.selectors import selector_from_spec

Obj = dict[str, Any]
MAX_DISRUPTED_POD_SIZE = 2000
VIOLATION = "Cannot evict pod as it would violate the pod's disruption budget."
MORE_THAN_ONE = "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."


def can_ignore_pdb(pod: Obj) -> bool:
    phase = (pod.get("status") or {}).get("phase")
    return phase in ("Succeeded", "Failed", "Pending") or bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def should_enforce_resource_version(pod: Obj) -> bool:
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not (pod.get("metadata") or {}).get("deletionTimestamp")


def is_pod_ready(pod: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def matching_pdbs(pod: Obj, pdbs: list[Obj]) -> list[Obj]:
    """Budgets in the pod's namespace whose selector is valid, not empty, and matches the pod's labels."""
    ns = (pod.get("metadata") or {}).get("namespace", "")
    labels = (pod.get("metadata") or {}).get("labels") or {}
    out = []
    for pdb in pdbs:
        if (pdb.get("metadata") or {}).get("namespace", "") != ns:
            continue
        spec_selector = (pdb.get("spec") or {}).get("selector")
        try:
            selector = selector_from_spec(spec_selector)
        except (errors.APIError, KeyError, TypeError, AttributeError):
            continue
        if selector.empty or not selector.matches(labels):
            continue
        out.append(pdb)
    return out


def budget_cause_error(message: str, cause: str, retry_after: int = 0) -> errors.APIError:
    return errors.APIError(message, "TooManyRequests", 429, causes=[errors.Cause("DisruptionBudget", cause)],
                           retry_after=retry_after)


def still_processing(name: str) -> errors.APIError:
    return budget_cause_error(VIOLATION, f"The disruption budget {name} is still being processed by the server.", 10)


def unready_pod_skips_budget(pod: Obj, pdb: Obj) -> bool:
    if is_pod_ready(pod):
        return False
    if (pdb.get("spec") or {}).get("unhealthyPodEvictionPolicy") == "AlwaysAllow":
        return True
    status = pdb.get("status") or {}
    desired = int(status.get("desiredHealthy") or 0)
    return int(status.get("currentHealthy") or 0) >= desired > 0


def set_disruption_allowed_condition(status: Obj, now: float) -> None:
    """component-helpers' UpdateDisruptionAllowedCondition through meta.SetStatusCondition."""
    allowed = int(status.get("disruptionsAllowed") or 0) > 0
    want = {"type": "DisruptionAllowed", "status": "True" if allowed else "False",
            "reason": "SufficientPods" if allowed else "InsufficientPods", "message": "",
            "observedGeneration": int(status.get("observedGeneration") or 0)}
    conditions = [dict(c) for c in status.get("conditions") or []]
    for c in conditions:
        if c.get("type") == want["type"]:
            if c.get("status") != want["status"]:
                c["lastTransitionTime"] = rfc3339(now)
            c.update({k: want[k] for k in ("status", "reason", "message", "observedGeneration")})
            break
    else:
        conditions.append({**want, "lastTransitionTime": rfc3339(now)})
    status["conditions"] = conditions


def check_and_decrement(pdb: Obj, pod_name: str, now: float, dry_run: bool) -> Obj:
    """The budget with one disruption spent on `pod_name`, or the refusal (429 / 403)."""
    md, status = pdb.get("metadata") or {}, pdb.get("status") or {}
    name = md.get("name", "")
    if int(status.get("observedGeneration") or 0) < int(md.get("generation") or 0):
        raise still_processing(name)
    allowed = int(status.get("disruptionsAllowed") or 0)
    if allowed < 0:
        raise errors.APIError(f'poddisruptionbudget.policy "{name}" is forbidden: pdb disruptions allowed is negative',
                              "Forbidden", 403, name=name, group="policy", kind="poddisruptionbudget")
    if len(status.get("disruptedPods") or {}) > MAX_DISRUPTED_POD_SIZE:
        raise errors.APIError(f'poddisruptionbudget.policy "{name}" is forbidden: DisruptedPods map too big - too '
                              "many evictions not confirmed by PDB controller", "Forbidden", 403, name=name,
                              group="policy", kind="poddisruptionbudget")
    if allowed == 0:
        raise budget_cause_error(VIOLATION, f"The disruption budget {name} needs {status.get('desiredHealthy', 0)} "
                                            f"healthy pods and has {status.get('currentHealthy', 0)} currently")
    new = copy.deepcopy(pdb)
    new_status = new.setdefault("status", {})
    new_status["disruptionsAllowed"] = allowed - 1
    if allowed - 1 == 0:
        set_disruption_allowed_condition(new_status, now)
    if not dry_run:
        new_status["disruptedPods"] = {**(new_status.get("disruptedPods") or {}), pod_name: rfc3339(now)}
    return new
