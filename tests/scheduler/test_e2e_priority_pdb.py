"""raftkv-scheduler with served PriorityClasses and PodDisruptionBudgets, driven with kubectl: priorities and
preemptionPolicy come from the classes through the API server's Priority plugin, a Never class does not preempt,
and preemption takes the victim no budget protects even when a lower-priority victim is elsewhere."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.controllers.cluster import ControllerManager, ControlPlane
from tests.scheduler.cluster import (
    add_node,
    apply,
    delete_nodes,
    events,
    node_of,
    pod,
    pod_manifest,
    start_scheduler,
)

pytestmark = pytest.mark.e2e
DEADLINE_S = 60
CLASSES = ("pe-never", "pe-high", "pe-mid")


@pytest.fixture(scope="module")
def scheduler(control_plane: ControlPlane) -> Iterator[ControllerManager]:
    m = start_scheduler(control_plane, "--leader-elect=false")
    control_plane.wait_for_log(m, "caches synced", 60)
    yield m
    m.stop()


def _failed(cp: ControlPlane, ns: str, name: str) -> str:
    def msg() -> str:
        return next((e["message"] for e in events(cp, ns, name) if e["reason"] == "FailedScheduling"), "")
    return str(cp.wait(msg, DEADLINE_S, f"FailedScheduling for {ns}/{name}"))


def test_never_class_and_budget_aware_preemption(control_plane: ControlPlane, scheduler: ControllerManager) -> None:
    cp, ns = control_plane, "sched-pc"
    cp.create_namespace(ns)
    cp.kubectl("create", "priorityclass", "pe-never", "--value=1000", "--preemption-policy=Never")
    cp.kubectl("create", "priorityclass", "pe-high", "--value=1000")
    cp.kubectl("create", "priorityclass", "pe-mid", "--value=100")
    add_node(cp, "pc-a", cpu="1")
    add_node(cp, "pc-b", cpu="1")
    try:
        # pc-a holds the lowest-priority victim, protected by a budget that allows no disruption; pc-b a higher one
        apply(cp, ns, pod_manifest("guarded", cpu="800m", labels={"app": "db"}, nodeName="pc-a"),
              pod_manifest("free", cpu="800m", nodeName="pc-b", priorityClassName="pe-mid"))
        cp.kubectl("-n", ns, "apply", "-f", "-", stdin=json.dumps({
            "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "db"},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "db"}}}}))
        apply(cp, ns, pod_manifest("polite", cpu="800m", priorityClassName="pe-never"))
        spec = pod(cp, ns, "polite")["spec"]
        assert (spec["priority"], spec["preemptionPolicy"]) == (1000, "Never")
        assert _failed(cp, ns, "polite") == ("0/2 nodes are available: 2 Insufficient cpu. preemption: not eligible "
                                             "due to preemptionPolicy=Never..")  # kube's double period
        cp.kubectl("-n", ns, "delete", "pod", "polite", "--grace-period=0", "--force")
        apply(cp, ns, pod_manifest("urgent", cpu="800m", priorityClassName="pe-high"))
        assert cp.wait(lambda: node_of(cp, ns, "urgent"), DEADLINE_S, "urgent bound") == "pc-b"
        assert cp.get(f"/api/v1/namespaces/{ns}/pods/free") is None
        assert cp.get(f"/api/v1/namespaces/{ns}/pods/guarded") is not None
    finally:
        delete_nodes(cp, ["pc-a", "pc-b"])
        cp.kubectl("delete", "priorityclass", *CLASSES, check=False)
