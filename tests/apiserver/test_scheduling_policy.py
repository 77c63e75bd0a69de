"""scheduling.k8s.io/v1 PriorityClass and policy/v1 PodDisruptionBudget: resource table, validation with 1.32's
messages, system classes, tables; pure."""

from __future__ import annotations

import pytest

from apiserver.api import discovery, resources, tables
from apiserver.registry.strategies import strategy_for
from apiserver.validation.scheduling import system_priority_class_objects

pytestmark = pytest.mark.unit


def pc(name: str, value: int, **more: object) -> dict:
    return {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name},
            "value": value, **more}


def test_resources_are_served_with_kubes_names():
    p = resources.find("scheduling.k8s.io", "v1", "priorityclasses")
    assert p and not p.namespaced and p.short_names == ("pc",) and p.kind == "PriorityClass"
    b = resources.find("policy", "v1", "poddisruptionbudgets")
    assert b and b.namespaced and b.short_names == ("pdb",) and b.subresources == ("status",)
    agg = discovery.aggregated(False, "v2")
    groups = {g["metadata"]["name"] for g in agg["items"]}
    assert {"policy", "scheduling.k8s.io"} <= groups


@pytest.mark.parametrize("obj,field,message", [
    (pc("system-foo", 5), "metadata.name",
     "Forbidden: priority class names with 'system-' prefix are reserved for system use only. error: system-foo is "
     "not a known system priority class"),
    (pc("system-node-critical", 5), "metadata.name",
     "Forbidden: priority class names with 'system-' prefix are reserved for system use only. error: value of "
     "system-node-critical PriorityClass must be 2000001000"),
    (pc("system-node-critical", 2000001000, globalDefault=True), "metadata.name",
     "Forbidden: priority class names with 'system-' prefix are reserved for system use only. error: globalDefault "
     "of system-node-critical PriorityClass must be false"),
    (pc("huge", 1000000001), "value", "Forbidden: maximum allowed value of a user defined priority is 1000000000"),
    (pc("odd", 1, preemptionPolicy="Sometimes"), "preemptionPolicy",
     'Unsupported value: "Sometimes": supported values: "PreemptLowerPriority", "Never"'),
])
def test_priority_class_validation(obj, field, message):
    [cause] = strategy_for("priorityclasses", "scheduling.k8s.io").validate(obj)
    assert (cause.field, cause.message) == (field, message)


def test_priority_class_defaults_immutability_and_system_classes():
    s = strategy_for("priorityclasses", "scheduling.k8s.io")
    obj = pc("gold", 1000)
    s.default(obj)
    assert obj["preemptionPolicy"] == "PreemptLowerPriority" and s.validate(obj) == []
    assert [(c.field, c.message) for c in s.validate_update({**obj, "value": 5}, obj)] == [
        ("value", "Forbidden: may not be changed in an update.")]
    assert [c.field for c in s.validate_update({**obj, "preemptionPolicy": "Never"}, obj)] == ["preemptionPolicy"]
    assert s.validate_update({**obj, "description": "d"}, obj) == []
    system = system_priority_class_objects()
    assert [(o["metadata"]["name"], o["value"]) for o in system] == [("system-node-critical", 2000001000),
                                                                     ("system-cluster-critical", 2000000000)]
    assert all(s.validate(o) == [] for o in system)
    assert s.check_delete(system[0]) == "this is a system priority class and cannot be deleted"
    assert s.check_delete(obj) == ""
    # a system class's globalDefault may not be turned on
    assert [c.field for c in s.validate({**system[1], "globalDefault": True})] == ["metadata.name"]


def test_tables():
    t = tables.to_table("priorityclasses", [{**pc("gold", 1000, globalDefault=True, preemptionPolicy="Never"),
                                             "metadata": {"name": "gold", "creationTimestamp": "2026-01-01T00:00:00Z"}}],
                        {}, now=1767225660.0)
    assert [c["name"] for c in t["columnDefinitions"]] == ["Name", "Value", "Global-Default", "Age",
                                                           "PreemptionPolicy"]
    assert t["rows"][0]["cells"] == ["gold", 1000, True, "60s", "Never"]
    pdb = {"metadata": {"name": "web", "creationTimestamp": "2026-01-01T00:00:00Z"},
           "spec": {"minAvailable": "50%"}, "status": {"disruptionsAllowed": 2}}
    t = tables.to_table("poddisruptionbudgets", [pdb], {}, now=1767225660.0)
    assert [c["name"] for c in t["columnDefinitions"]] == ["Name", "Min Available", "Max Unavailable",
                                                           "Allowed Disruptions", "Age"]
    assert t["rows"][0]["cells"] == ["web", "50%", "N/A", 2, "60s"]


@pytest.mark.parametrize("spec,field,message", [
    ({"minAvailable": 1, "maxUnavailable": 1}, "spec", "minAvailable and maxUnavailable cannot be both set"),
    ({"minAvailable": -1}, "spec.minAvailable", "Invalid value: -1: must be greater than or equal to 0"),
    ({"maxUnavailable": "120%"}, "spec.maxUnavailable", 'Invalid value: "120%": must not be greater than 100%'),
    ({"minAvailable": 1, "unhealthyPodEvictionPolicy": "Sometimes"}, "spec.unhealthyPodEvictionPolicy",
     'Unsupported value: "Sometimes": supported values: "AlwaysAllow", "IfHealthyBudget"'),
])
def test_pdb_validation(spec, field, message):
    causes = strategy_for("poddisruptionbudgets", "policy").validate({"metadata": {"name": "b"}, "spec": spec})
    assert causes and causes[0].field == field and message in causes[0].message


def test_pdb_status_starts_empty_and_is_checked():
    s = strategy_for("poddisruptionbudgets", "policy")
    obj = {"metadata": {"name": "b"}, "spec": {"minAvailable": 1}, "status": {"disruptionsAllowed": 9}}
    s.prepare_for_create(obj)
    assert obj["status"] == {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0}
    assert s.tracks_generation and s.has_status
    [cause] = s.validate_status_update({**obj, "status": {"disruptionsAllowed": -1}}, obj)
    assert cause.field == "status.disruptionsAllowed"


# --- pods/eviction against budgets (registry/eviction.py) ---------------------------------------------------------

def _pod(phase: str = "Running", ready: bool = True, labels: dict | None = None, deleting: bool = False) -> dict:
    md: dict = {"name": "web-0", "namespace": "ns", "labels": labels if labels is not None else {"app": "web"}}
    if deleting:
        md["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": md, "status": {"phase": phase,
                                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def _pdb(name: str = "web", selector: dict | None = None, **status: object) -> dict:
    return {"metadata": {"name": name, "namespace": "ns", "generation": 1},
            "spec": {"selector": {"matchLabels": {"app": "web"}} if selector is None else selector},
            "status": {"observedGeneration": 1, **status}}


def test_eviction_ignores_budgets_for_pending_terminal_and_terminating_pods():
    from apiserver.registry import eviction
    assert all(eviction.can_ignore_pdb(p) for p in (_pod("Pending"), _pod("Succeeded"), _pod("Failed"),
                                                    _pod(deleting=True)))
    assert not eviction.can_ignore_pdb(_pod())
    assert eviction.should_enforce_resource_version(_pod("Pending"))
    assert not eviction.should_enforce_resource_version(_pod("Failed"))


def test_eviction_matches_budgets_by_non_empty_selector():
    from apiserver.registry import eviction
    budgets = [_pdb("a"), _pdb("empty", selector={}), _pdb("other", selector={"matchLabels": {"app": "x"}}),
               {**_pdb("elsewhere"), "metadata": {"name": "elsewhere", "namespace": "other"}}]
    assert [b["metadata"]["name"] for b in eviction.matching_pdbs(_pod(), budgets)] == ["a"]


def test_eviction_spends_one_disruption_or_refuses_with_kubes_status():
    from apiserver.registry import eviction
    spent = eviction.check_and_decrement(_pdb(disruptionsAllowed=1, currentHealthy=3, desiredHealthy=2,
                                              conditions=[{"type": "DisruptionAllowed", "status": "True",
                                                           "reason": "SufficientPods", "message": "",
                                                           "observedGeneration": 1,
                                                           "lastTransitionTime": "2026-01-01T00:00:00Z"}]),
                                         "web-0", 1767225600.0 + 60, False)
    assert spent["status"]["disruptionsAllowed"] == 0
    assert spent["status"]["disruptedPods"] == {"web-0": "2026-01-01T00:01:00Z"}
    [cond] = spent["status"]["conditions"]
    assert (cond["status"], cond["reason"], cond["lastTransitionTime"]) == ("False", "InsufficientPods",
                                                                            "2026-01-01T00:01:00Z")
    dry = eviction.check_and_decrement(_pdb(disruptionsAllowed=2), "web-0", 0.0, True)
    assert "disruptedPods" not in dry["status"]
    with pytest.raises(Exception) as exc:
        eviction.check_and_decrement(_pdb(disruptionsAllowed=0, currentHealthy=2, desiredHealthy=2), "web-0", 0.0,
                                     False)
    assert exc.value.to_status() == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "Cannot evict pod as it would violate the pod's disruption budget.", "reason": "TooManyRequests",
        "code": 429, "details": {"causes": [{"reason": "DisruptionBudget",
                                             "message": "The disruption budget web needs 2 healthy pods and has 2 "
                                                        "currently"}]}}
    stale = _pdb(disruptionsAllowed=1)
    stale["metadata"]["generation"] = 2
    with pytest.raises(Exception) as exc:
        eviction.check_and_decrement(stale, "web-0", 0.0, False)
    assert exc.value.to_status()["details"] == {"causes": [{"reason": "DisruptionBudget", "message": "The disruption "
                                                            "budget web is still being processed by the server."}],
                                                "retryAfterSeconds": 10}


def test_unready_pods_skip_a_healthy_budget_or_an_always_allow_one():
    from apiserver.registry import eviction
    assert eviction.unready_pod_skips_budget(_pod(ready=False), _pdb(currentHealthy=2, desiredHealthy=2))
    assert not eviction.unready_pod_skips_budget(_pod(ready=False), _pdb(currentHealthy=1, desiredHealthy=2))
    always = _pdb(currentHealthy=1, desiredHealthy=2)
    always["spec"]["unhealthyPodEvictionPolicy"] = "AlwaysAllow"
    assert eviction.unready_pod_skips_budget(_pod(ready=False), always)
    assert not eviction.unready_pod_skips_budget(_pod(), always)
