"""Node lifecycle in `python -m controllers` against the real API server: fake kubelets that renew their Leases,
one of which is killed, with short grace periods passed by flag."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.controllers.cluster import ControllerManager, ControlPlane, control_plane
from tests.controllers.fakenodes import FakeNodes

pytestmark = pytest.mark.e2e
NS = "nl"
DEADLINE_S = 30.0
FLAGS = ("--controllers=nodelifecycle", "--leader-elect=false", "--use-service-account-credentials=true",
         "--node-monitor-period=1s", "--node-monitor-grace-period=4s", "--node-startup-grace-period=3s")
UNREACHABLE = "node.kubernetes.io/unreachable"
NOT_READY = "node.kubernetes.io/not-ready"


@pytest.fixture(scope="module")
def cp() -> Iterator[ControlPlane]:
    # Without DefaultTolerationSeconds a pod with no toleration of its own is evicted at once (the plugin would
    # give it 300 s, as tests/apiserver_auth checks).
    with control_plane("etcd", ["--disable-admission-plugins", "DefaultTolerationSeconds"]) as plane:
        plane.create_namespace(NS)
        yield plane


@pytest.fixture(scope="module")
def nodes(cp: ControlPlane) -> Iterator[FakeNodes]:
    with FakeNodes(cp.admin_kubeconfig, ["nl-1", "nl-2"], namespaces={NS}, heartbeat=1.0) as fake:
        yield fake


@pytest.fixture(scope="module")
def manager(cp: ControlPlane, nodes: FakeNodes) -> Iterator[ControllerManager]:
    m = cp.start_controller_manager(*FLAGS)
    cp.wait_for_log(m, "Caches are synced for nodelifecycle", timeout=60)
    yield m
    m.stop()


def pod(name: str, node: str, tolerations: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS},
            "spec": {"nodeName": node, "tolerations": tolerations or [],
                     "containers": [{"name": "c", "image": "nginx:1.25"}]}}


def tolerate(seconds: int) -> list[dict[str, Any]]:
    return [{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": seconds}]


def node(cp: ControlPlane, name: str) -> dict[str, Any]:
    return cp.api("GET", f"/api/v1/nodes/{name}")


def ready(n: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in n["status"]["conditions"] if c["type"] == "Ready")


def taints(n: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted((t["key"], t["effect"]) for t in n["spec"].get("taints") or [])


def test_a_node_whose_kubelet_stops_becomes_unknown_tainted_and_its_pods_evicted(cp, nodes, manager):
    for p in (pod("goner", "nl-1"), pod("later", "nl-1", tolerate(3)), pod("stayer", "nl-1", tolerate(3600)),
              pod("elsewhere", "nl-2")):
        cp.api("POST", f"/api/v1/namespaces/{NS}/pods", p)
    cp.wait(lambda: all(ready(pp)["status"] == "True" for pp in cp.api("GET", f"/api/v1/namespaces/{NS}/pods")["items"]
                        if pp["status"].get("conditions")) and
            len([pp for pp in cp.api("GET", f"/api/v1/namespaces/{NS}/pods")["items"]
                 if pp["status"].get("phase") == "Running"]) == 4, DEADLINE_S, "the pods running")
    # Alive and renewing: nothing happens within several grace periods' worth of monitor passes.
    cp.wait(lambda: "Registered Node nl-1 in Controller" in cp.kubectl(
        "get", "events", "-A", "--field-selector", "reason=RegisteredNode", "-o",
        "jsonpath={.items[*].message}").stdout, DEADLINE_S, "RegisteredNode")
    assert ready(node(cp, "nl-1"))["status"] == "True" and taints(node(cp, "nl-1")) == []

    nodes.kill("nl-1")
    cp.wait(lambda: ready(node(cp, "nl-1"))["status"] == "Unknown", DEADLINE_S, "nl-1 Ready=Unknown")
    n1 = node(cp, "nl-1")
    r = ready(n1)
    assert (r["reason"], r["message"]) == ("NodeStatusUnknown", "Kubelet stopped posting node status.")
    cp.wait(lambda: taints(node(cp, "nl-1")) == [(UNREACHABLE, "NoExecute"), (UNREACHABLE, "NoSchedule")],
            DEADLINE_S, "the unreachable taints")
    assert all(t.get("timeAdded") for t in node(cp, "nl-1")["spec"]["taints"])
    table = cp.kubectl("get", "node", "nl-1").stdout.split("\n")[1].split()
    assert table[1] == "NotReady"

    def gone_or_terminating(name: str) -> dict[str, Any] | None:
        p = cp.get(f"/api/v1/namespaces/{NS}/pods/{name}")
        return p if p is None or p["metadata"].get("deletionTimestamp") else None
    cp.wait(lambda: gone_or_terminating("goner") or cp.get(f"/api/v1/namespaces/{NS}/pods/goner") is None,
            DEADLINE_S, "the pod without a toleration evicted")
    goner = cp.get(f"/api/v1/namespaces/{NS}/pods/goner")
    assert goner is not None, "a dead kubelet cannot finish the graceful deletion"
    conds = {c["type"]: c for c in goner["status"]["conditions"]}
    assert (conds["DisruptionTarget"]["status"], conds["DisruptionTarget"]["reason"],
            conds["DisruptionTarget"]["message"]) == ("True", "DeletionByTaintManager",
                                                      "Taint manager: deleting due to NoExecute taint")
    assert conds["Ready"]["status"] == "False", "MarkPodsNotReady"
    cp.wait(lambda: cp.get(f"/api/v1/namespaces/{NS}/pods/later")["metadata"].get("deletionTimestamp"),
            DEADLINE_S, "the pod tolerating for 3 s evicted after them")

    stayer = cp.get(f"/api/v1/namespaces/{NS}/pods/stayer")
    assert not stayer["metadata"].get("deletionTimestamp"), "tolerating for an hour, it stays"
    assert {c["type"]: c["status"] for c in stayer["status"]["conditions"]}["Ready"] == "False"
    elsewhere = cp.get(f"/api/v1/namespaces/{NS}/pods/elsewhere")
    assert not elsewhere["metadata"].get("deletionTimestamp") and ready(node(cp, "nl-2"))["status"] == "True"

    def reasons() -> str:
        return cp.kubectl("get", "events", "-A", "-o", "json").stdout
    events = json.loads(cp.wait(lambda: "TaintManagerEviction" in reasons() and reasons(), DEADLINE_S,
                                "the events"))["items"]
    got = {(e["reason"], e["type"], e["message"]) for e in events}
    assert ("NodeNotReady", "Normal", "Node nl-1 status is now: NodeNotReady") in got
    assert ("TaintManagerEviction", "Normal", f"Marking for deletion Pod {NS}/goner") in got
    assert ("NodeNotReady", "Warning", "Node is not ready") in got

    nodes.revive("nl-1")
    cp.wait(lambda: taints(node(cp, "nl-1")) == [], DEADLINE_S, "the taints removed once the node is back")
    assert ready(node(cp, "nl-1"))["status"] == "True"
    cp.wait(lambda: f"Cancelling deletion of Pod {NS}/stayer" in reasons(), DEADLINE_S,
            "the stayer's pending eviction cancelled")


def test_a_node_reporting_not_ready_gets_the_not_ready_taints(cp, nodes, manager):
    """Ready=False posted by the kubelet itself (fresh heartbeat): not-ready NoSchedule and NoExecute, and its pod
    without a toleration is evicted; Ready again removes them."""
    cp.api("POST", f"/api/v1/namespaces/{NS}/pods", pod("sick-pod", "nl-2"))
    cp.wait(lambda: (cp.get(f"/api/v1/namespaces/{NS}/pods/sick-pod") or {}).get("status", {}).get("phase")
            == "Running", DEADLINE_S, "the pod running on nl-2")

    def post(status: str) -> None:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        cp.api("PATCH", "/api/v1/nodes/nl-2/status", {"status": {"conditions": [
            {"type": "Ready", "status": status, "reason": "KubeletNotReady" if status == "False" else "KubeletReady",
             "message": "container runtime is down", "lastHeartbeatTime": now, "lastTransitionTime": now}]}},
            "application/strategic-merge-patch+json")
    post("False")
    cp.wait(lambda: taints(node(cp, "nl-2")) == [(NOT_READY, "NoExecute"), (NOT_READY, "NoSchedule")],
            DEADLINE_S, "the not-ready taints")
    assert ready(node(cp, "nl-2"))["reason"] == "KubeletNotReady", "a posted condition is not overwritten"
    cp.wait(lambda: (cp.get(f"/api/v1/namespaces/{NS}/pods/sick-pod") or {"metadata": {"deletionTimestamp": 1}})[
        "metadata"].get("deletionTimestamp"), DEADLINE_S, "the untolerating pod evicted")
    post("True")
    cp.wait(lambda: taints(node(cp, "nl-2")) == [], DEADLINE_S, "the taints removed")


def test_cordon_adds_the_unschedulable_taint_and_uncordon_removes_it(cp, nodes, manager):
    assert cp.kubectl("cordon", "nl-2").stdout.strip() == "node/nl-2 cordoned"
    cp.wait(lambda: taints(node(cp, "nl-2")) == [("node.kubernetes.io/unschedulable", "NoSchedule")], DEADLINE_S,
            "the unschedulable taint")
    assert cp.kubectl("uncordon", "nl-2").stdout.strip() == "node/nl-2 uncordoned"
    cp.wait(lambda: taints(node(cp, "nl-2")) == [], DEADLINE_S, "the taint removed")


def test_a_registered_node_that_never_posts_status_goes_unknown_after_the_startup_grace(cp, nodes, manager):
    cp.api("POST", "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "nl-silent"}})
    try:
        def conditions() -> dict[str, Any] | None:
            conds = {c["type"]: c for c in (node(cp, "nl-silent").get("status") or {}).get("conditions") or []}
            return conds if len(conds) == 4 else None
        conds = cp.wait(conditions, DEADLINE_S, "the never-updated conditions")
        assert sorted(conds) == ["DiskPressure", "MemoryPressure", "PIDPressure", "Ready"]
        created = node(cp, "nl-silent")["metadata"]["creationTimestamp"]
        for c in conds.values():
            assert (c["status"], c["reason"], c["message"], c["lastHeartbeatTime"]) == (
                "Unknown", "NodeStatusNeverUpdated", "Kubelet never posted node status.", created)
        cp.wait(lambda: (UNREACHABLE, "NoSchedule") in taints(node(cp, "nl-silent")), DEADLINE_S,
                "the unreachable NoSchedule taint")
    finally:
        cp.api("DELETE", "/api/v1/nodes/nl-silent")
