"""The pod garbage collector's pure core on a fake clock: the terminated-pod threshold and its order, orphans after
quarantine with the DisruptionTarget condition, out-of-service nodes, unscheduled terminating pods."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from controllers.machinery.actions import Delete, Patch
from controllers.machinery.resources import PODS
from controllers.podgc import reconcile as gc

pytestmark = pytest.mark.unit

Obj = dict[str, Any]
T0 = datetime(2026, 12, 1, 10, 0, 0, tzinfo=UTC)


def pod(name: str, phase: str = "Running", node: str | None = "n1", created: int = 0, deleting: bool = False,
        reason: str | None = None, conditions: list[Obj] | None = None) -> Obj:
    md: Obj = {"name": name, "namespace": "ns", "uid": f"uid-{name}",
               "creationTimestamp": f"2026-12-01T09:{created:02d}:00Z"}
    if deleting:
        md["deletionTimestamp"] = "2026-12-01T09:59:00Z"
    status: Obj = {"phase": phase}
    if reason:
        status["reason"] = reason
    if conditions:
        status["conditions"] = conditions
    return {"metadata": md, "spec": {"nodeName": node} if node else {}, "status": status}


def node(name: str, ready: bool = True, taints: list[Obj] | None = None) -> Obj:
    return {"metadata": {"name": name}, "spec": {"taints": taints or []},
            "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def deleted(actions: list[Any]) -> list[str]:
    return [a.name for a in actions if isinstance(a, Delete)]


THRESHOLD_CASES = [
    ("under the threshold: nothing", [pod("a", "Succeeded"), pod("b", "Failed")], 2, []),
    ("threshold 0 disables", [pod("a", "Succeeded")], 0, []),
    ("the oldest beyond the threshold", [pod("new", "Succeeded", created=5), pod("old", "Failed", created=1),
                                         pod("mid", "Succeeded", created=3), pod("run", "Running")], 1,
     ["old", "mid"]),
    ("evicted pods go first, then by age, then by name",
     [pod("b", "Failed", created=1), pod("a", "Failed", created=1), pod("ev", "Failed", created=9, reason="Evicted")],
     1, ["ev", "a"]),
    ("a pod without a phase counts as terminated", [pod("x", ""), pod("y", "Pending")], 1, []),
]


@pytest.mark.parametrize("pods,threshold,want", [c[1:] for c in THRESHOLD_CASES], ids=[c[0] for c in THRESHOLD_CASES])
def test_terminated_threshold(pods: list[Obj], threshold: int, want: list[str]) -> None:
    actions = gc.gc_pass(pods, {"n1": node("n1")}, set(), threshold, T0)
    assert deleted(actions) == want
    assert not [a for a in actions if isinstance(a, Patch)], "terminated pods need no status patch"
    for a in actions:
        assert isinstance(a, Delete) and a.grace_period_seconds == 0 and a.uid == f"uid-{a.name}"


def test_phaseless_pods_are_terminated_pods() -> None:
    assert [p["metadata"]["name"] for p in gc.terminated_to_delete([pod("x", ""), pod("y", "Pending"),
                                                                    pod("z", "Unknown")], 1)] == []
    assert [p["metadata"]["name"] for p in gc.terminated_to_delete(
        [pod("x", "", created=1), pod("w", "Succeeded", created=2)], 1)] == ["x"]


def test_orphans_wait_out_the_quarantine_then_are_marked_and_force_deleted() -> None:
    pods = [pod("a", node="gone"), pod("b", node="n1"), pod("c", "Succeeded", node="gone")]
    names = {"n1"}
    due, state = gc.quarantine(pods, names, gc.Quarantine(), T0)
    assert due == set() and set(state.missing_since) == {"gone"}
    due, state = gc.quarantine(pods, names, state, T0 + timedelta(seconds=39))
    assert due == set()
    due, state = gc.quarantine(pods, names, state, T0 + timedelta(seconds=40))
    assert due == {"gone"} and state.missing_since == {}
    now = T0 + timedelta(seconds=40)
    actions = gc.gc_pass(pods, {"n1": node("n1")}, due, 12500, now)
    assert actions == [
        Patch(PODS, "ns", "a", {"metadata": {"uid": "uid-a"}, "status": {"phase": "Failed", "conditions": [
            {"type": "DisruptionTarget", "status": "True", "reason": "DeletionByPodGC",
             "message": "PodGC: node no longer exists", "lastTransitionTime": "2026-12-01T10:00:40Z"}]}},
              "strategic", subresource="status"),
        Delete(PODS, "ns", "a", uid="uid-a", grace_period_seconds=0),
        Delete(PODS, "ns", "c", uid="uid-c", grace_period_seconds=0)]


def test_a_node_that_shows_up_during_quarantine_saves_its_pods() -> None:
    pods = [pod("a", node="late")]
    _, state = gc.quarantine(pods, set(), gc.Quarantine(), T0)
    due, state = gc.quarantine(pods, {"late"}, state, T0 + timedelta(seconds=45))
    assert due == set() and state.missing_since == {}


def test_existing_disruption_condition_keeps_its_transition_time() -> None:
    p = pod("a", node="gone", conditions=[{**gc.ORPHAN_CONDITION, "lastTransitionTime": "2026-12-01T09:00:00Z"}])
    [patch, _] = gc.mark_failed_and_delete(p, T0, gc.ORPHAN_CONDITION)
    assert isinstance(patch, Patch)
    assert patch.patch["status"]["conditions"][0]["lastTransitionTime"] == "2026-12-01T09:00:00Z"


def test_terminating_pods_on_out_of_service_not_ready_nodes() -> None:
    taint = [{"key": "node.kubernetes.io/out-of-service", "effect": "NoExecute"}]
    nodes = {"oos": node("oos", ready=False, taints=taint), "ready-oos": node("ready-oos", taints=taint),
             "down": node("down", ready=False)}
    pods = [pod("a", node="oos", deleting=True), pod("b", node="oos"), pod("c", node="ready-oos", deleting=True),
            pod("d", node="down", deleting=True)]
    actions = gc.gc_pass(pods, nodes, set(), 12500, T0)
    assert deleted(actions) == ["a"]
    assert isinstance(actions[0], Patch) and actions[0].patch["status"] == {"phase": "Failed"}


def test_unscheduled_terminating_pods_go() -> None:
    pods = [pod("a", "Pending", node=None, deleting=True), pod("b", "Pending", node=None)]
    actions = gc.gc_pass(pods, {}, set(), 12500, T0)
    assert deleted(actions) == ["a"]
    assert [a.patch for a in actions if isinstance(a, Patch)] == [
        {"metadata": {"uid": "uid-a"}, "status": {"phase": "Failed"}}]


def test_a_pod_chosen_twice_is_deleted_once() -> None:
    pods = [pod("a", "Succeeded", node="gone", created=1), pod("b", "Succeeded", node="n1", created=2)]
    assert deleted(gc.gc_pass(pods, {"n1": node("n1")}, {"gone"}, 1, T0)) == ["a"]
