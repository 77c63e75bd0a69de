"""DaemonSet controller end to end: `python -m controllers` against the real API server with real kubectl, three
fake nodes of which one is tainted."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.controllers.cluster import ControllerManager, ControlPlane
from tests.controllers.fakenodes import FakeNodes
from tests.controllers.kwait import kubectl_until

pytestmark = pytest.mark.e2e
DEADLINE_S = 120.0
NODES = ["ds-a", "ds-b", "ds-c"]

DS = """
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      nodeSelector: {fake-node: "true"}
      containers: [{name: c, image: "agent:1"}]
"""


@pytest.fixture(scope="module")
def manager(control_plane: ControlPlane) -> Iterator[ControllerManager]:
    m = control_plane.start_controller_manager("--controllers=daemonset", "--use-service-account-credentials=true",
                                               "--leader-elect=false")
    yield m
    m.stop()


@pytest.fixture
def ns(control_plane: ControlPlane) -> str:
    control_plane.create_namespace("ds-e2e")
    return "ds-e2e"


def kubectl_json(cp: ControlPlane, *args: str) -> Any:
    return json.loads(cp.kubectl(*args, "-o", "json").stdout)


def wait_ds(cp: ControlPlane, ns: str, pred: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
    result: dict[str, Any] = cp.wait(lambda: (lambda d: d if pred(d) else None)(
        kubectl_json(cp, "-n", ns, "get", "ds", "agent")), DEADLINE_S, what)
    return result


def settled(n: int) -> Callable[[dict[str, Any]], bool]:
    def pred(d: dict[str, Any]) -> bool:
        s = d.get("status") or {}
        return (s.get("observedGeneration") == d["metadata"]["generation"] and s.get("desiredNumberScheduled") == n
                and s.get("currentNumberScheduled") == n and s.get("numberReady") == n
                and s.get("updatedNumberScheduled") == n and s.get("numberAvailable") == n)
    return pred


def live_pods(cp: ControlPlane, ns: str) -> list[dict[str, Any]]:
    return [p for p in kubectl_json(cp, "-n", ns, "get", "pods", "-l", "app=agent")["items"]
            if not p["metadata"].get("deletionTimestamp")]


def test_one_pod_per_node_none_on_the_tainted_one_and_a_rolling_update(
        control_plane: ControlPlane, manager: ControllerManager, ns: str) -> None:
    cp = control_plane
    with FakeNodes(cp.admin_kubeconfig, NODES, namespaces={ns}):
        cp.kubectl("taint", "nodes", "ds-c", "dedicated=db:NoSchedule")
        cp.kubectl("-n", ns, "create", "-f", "-", stdin=DS)
        wait_ds(cp, ns, settled(2), "2 ready pods")
        pods = live_pods(cp, ns)
        assert sorted(p["spec"]["nodeName"] for p in pods) == ["ds-a", "ds-b"]
        for p in pods:
            assert p["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] == {
                "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In",
                                                        "values": [p["spec"]["nodeName"]]}]}]}
            assert p["metadata"]["labels"]["pod-template-generation"] == "1"
            assert {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"} in (
                p["spec"]["tolerations"])
        first_hash = pods[0]["metadata"]["labels"]["controller-revision-hash"]

        cp.kubectl("-n", ns, "set", "image", "ds/agent", "c=agent:2")
        kubectl_until(cp, "-n", ns, "rollout", "status", "ds/agent", deadline=DEADLINE_S)
        wait_ds(cp, ns, settled(2), "the update rolled out")
        pods = live_pods(cp, ns)
        assert {p["spec"]["containers"][0]["image"] for p in pods} == {"agent:2"}
        assert first_hash not in {p["metadata"]["labels"]["controller-revision-hash"] for p in pods}
        history = cp.kubectl("-n", ns, "rollout", "history", "ds/agent").stdout
        assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["1", "2"]
        revisions = kubectl_json(cp, "-n", ns, "get", "controllerrevisions")["items"]
        assert sorted(r["revision"] for r in revisions) == [1, 2]

        cp.kubectl("-n", ns, "rollout", "undo", "ds/agent")
        kubectl_until(cp, "-n", ns, "rollout", "status", "ds/agent", deadline=DEADLINE_S)
        wait_ds(cp, ns, settled(2), "the undo rolled out")
        assert {p["spec"]["containers"][0]["image"] for p in live_pods(cp, ns)} == {"agent:1"}
        assert {p["metadata"]["labels"]["controller-revision-hash"] for p in live_pods(cp, ns)} == {first_hash}
        revisions = kubectl_json(cp, "-n", ns, "get", "controllerrevisions")["items"]
        assert sorted(r["revision"] for r in revisions) == [2, 3]  # the old template's revision renumbered

        cp.kubectl("taint", "nodes", "ds-c", "dedicated-")
        wait_ds(cp, ns, settled(3), "a pod on the untainted node")
        assert sorted(p["spec"]["nodeName"] for p in live_pods(cp, ns)) == NODES
        assert "Created pod: agent-" in cp.kubectl("-n", ns, "get", "events").stdout
