"""The disruption controller's core: expected and desired counts (ints, percentages from the controllers' replicas),
healthy pods, disruptedPods expiry, the DisruptionAllowed condition and the fail-safe, with kube's texts."""

from __future__ import annotations

import datetime as dt

import pytest

from controllers.disruption import reconcile as core
from controllers.machinery.actions import Event, Update

pytestmark = pytest.mark.unit
NOW = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.UTC)


def pdb(spec: dict, status: dict | None = None, generation: int = 1) -> dict:
    return {"metadata": {"name": "web", "namespace": "ns", "generation": generation},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec}, "status": status or {}}


def pod(name: str, ready: bool = True, owner: tuple[str, str, str] | None = ("ReplicaSet", "rs", "rs-uid"),
        labels: dict | None = None, deleting: bool = False) -> dict:
    md: dict = {"name": name, "namespace": "ns", "labels": labels if labels is not None else {"app": "web"}}
    if owner:
        kind, oname, uid = owner
        md["ownerReferences"] = [{"apiVersion": "v1" if kind == "ReplicationController" else "apps/v1",
                                  "kind": kind, "name": oname, "uid": uid, "controller": True}]
    if deleting:
        md["deletionTimestamp"] = "2026-01-01T11:59:00Z"
    return {"metadata": md, "status": {"phase": "Running",
                                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


WORKLOADS = {
    ("ReplicaSet", "ns", "rs"): {"metadata": {"name": "rs", "uid": "rs-uid"}, "spec": {"replicas": 4}},
    ("ReplicaSet", "ns", "drs"): {"metadata": {"name": "drs", "uid": "drs-uid", "ownerReferences": [
        {"apiVersion": "apps/v1", "kind": "Deployment", "name": "d", "uid": "d-uid", "controller": True}]},
        "spec": {"replicas": 2}},
    ("Deployment", "ns", "d"): {"metadata": {"name": "d", "uid": "d-uid"}, "spec": {"replicas": 5}},
    ("StatefulSet", "ns", "db"): {"metadata": {"name": "db", "uid": "db-uid"}, "spec": {"replicas": 3}},
}


def lookup(kind: str, ns: str, name: str) -> dict | None:
    return WORKLOADS.get((kind, ns, name))


def status_of(result: core.Result) -> dict:
    [update] = [a for a in result.actions if isinstance(a, Update)]
    assert update.subresource == "status"
    return update.body["status"]


@pytest.mark.parametrize("spec,pods,expected,desired,healthy,allowed", [
    ({"minAvailable": 2}, [pod("a"), pod("b"), pod("c")], 3, 2, 3, 1),
    ({"minAvailable": 3}, [pod("a"), pod("b"), pod("c", ready=False)], 3, 3, 2, 0),
    # percentages and maxUnavailable count the controller's replicas (4), rounding up
    ({"minAvailable": "50%"}, [pod("a"), pod("b"), pod("c")], 4, 2, 3, 1),
    ({"maxUnavailable": 1}, [pod("a"), pod("b"), pod("c")], 4, 3, 3, 0),
    ({"maxUnavailable": "30%"}, [pod("a"), pod("b"), pod("c"), pod("d")], 4, 2, 4, 2),
    # a Deployment's replicas through its ReplicaSet; a StatefulSet's; each controller counted once
    ({"maxUnavailable": 1}, [pod("a", owner=("ReplicaSet", "drs", "drs-uid")),
                             pod("b", owner=("StatefulSet", "db", "db-uid"))], 8, 7, 2, 0),
    # terminating pods are not healthy
    ({"minAvailable": 1}, [pod("a"), pod("b", deleting=True)], 2, 1, 1, 0),
])
def test_counts(spec, pods, expected, desired, healthy, allowed):
    status = status_of(core.reconcile(pdb(spec), pods, lookup, NOW))
    assert (status["expectedPods"], status["desiredHealthy"], status["currentHealthy"],
            status["disruptionsAllowed"], status["observedGeneration"]) == (expected, desired, healthy, allowed, 1)
    [cond] = status["conditions"]
    assert (cond["type"], cond["status"], cond["reason"]) == (
        ("DisruptionAllowed", "True", "SufficientPods") if allowed else ("DisruptionAllowed", "False",
                                                                        "InsufficientPods"))


def test_no_pods_unmanaged_pods_and_unknown_controllers():
    result = core.reconcile(pdb({"minAvailable": 1}), [pod("x", labels={"app": "other"})], lookup, NOW)
    assert Event(result.actions[0].involved, "Normal", "NoPods", "No matching pods found") == result.actions[0]
    result = core.reconcile(pdb({"maxUnavailable": 1}), [pod("a", owner=None)], lookup, NOW)
    [event] = [a for a in result.actions if isinstance(a, Event)]
    assert (event.reason, event.type) == ("UnmanagedPods", "Warning")
    assert event.message.startswith("Pods selected by this PodDisruptionBudget (selector: &LabelSelector{MatchLabels:"
                                    "map[string]string{app: web,},MatchExpressions:[]LabelSelectorRequirement{},}) "
                                    "were found to be unmanaged.")
    result = core.reconcile(pdb({"maxUnavailable": 1}, {"disruptionsAllowed": 2}),
                            [pod("a", owner=("CronThing", "c", "c-uid"))], lookup, NOW)
    status = status_of(result)
    assert status["disruptionsAllowed"] == 0
    [cond] = status["conditions"]
    assert (cond["status"], cond["reason"], cond["message"]) == ("False", "SyncFailed",
                                                                 'found no controllers for pod "a"')


def test_an_empty_selector_selects_nothing():
    budget = pdb({"minAvailable": 1})
    budget["spec"]["selector"] = {}
    assert core.pods_for_pdb(budget, [pod("a")]) == []


def test_disrupted_pods_are_not_healthy_until_they_expire():
    recent = "2026-01-01T11:59:30Z"  # 30 s ago: kept for 90 s more
    old = "2026-01-01T11:57:00Z"  # 3 minutes ago: the pod was not deleted, it counts again
    budget = pdb({"minAvailable": 1}, {"disruptedPods": {"a": recent, "b": old}})
    result = core.reconcile(budget, [pod("a"), pod("b"), pod("c")], lookup, NOW)
    status = status_of(result)
    assert status["disruptedPods"] == {"a": recent}
    assert (status["currentHealthy"], status["disruptionsAllowed"]) == (2, 1)
    assert result.recheck_after == 90.0
    [event] = [a for a in result.actions if isinstance(a, Event)]
    assert (event.reason, event.message) == ("NotDeleted", "Pod ns/b was expected to be deleted at 2026-01-01 "
                                                           "11:59:00 +0000 UTC but it wasn't, updating pdb")


def test_no_write_when_status_is_current():
    first = status_of(core.reconcile(pdb({"minAvailable": 1}), [pod("a"), pod("b")], lookup, NOW))
    again = core.reconcile(pdb({"minAvailable": 1}, first), [pod("a"), pod("b")], lookup, NOW)
    assert again.actions == []
    # a new generation is observed
    bumped = core.reconcile(pdb({"minAvailable": 1}, first, generation=2), [pod("a"), pod("b")], lookup, NOW)
    assert status_of(bumped)["observedGeneration"] == 2
