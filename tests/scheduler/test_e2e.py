"""raftkv-scheduler against a real API server, driven with kubectl: what `kubectl describe pod` shows must read as
on a kube-scheduler 1.32 cluster. Each test registers its own nodes and deletes them afterwards, so the node counts
in the messages are exact."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.controllers.cluster import ControllerManager, ControlPlane
from tests.scheduler.cluster import (
    add_node,
    apply,
    condition,
    delete_nodes,
    events,
    node_of,
    pod,
    pod_manifest,
    start_scheduler,
)

pytestmark = pytest.mark.e2e
DEADLINE_S = 60


@pytest.fixture(scope="module")
def scheduler(control_plane: ControlPlane) -> Iterator[ControllerManager]:
    m = start_scheduler(control_plane, "--leader-elect=false")
    control_plane.wait_for_log(m, "caches synced", 60)
    yield m
    m.stop()


@pytest.fixture
def nodes(control_plane: ControlPlane) -> Iterator[list[str]]:
    made: list[str] = []
    yield made
    delete_nodes(control_plane, made)


def _failed_message(cp: ControlPlane, ns: str, name: str) -> str:
    def msg() -> str:
        return next((e["message"] for e in events(cp, ns, name) if e["reason"] == "FailedScheduling"), "")
    return str(cp.wait(msg, DEADLINE_S, f"FailedScheduling for {ns}/{name}"))


def _bound(cp: ControlPlane, ns: str, name: str) -> str:
    return str(cp.wait(lambda: node_of(cp, ns, name), DEADLINE_S, f"{ns}/{name} bound"))


def test_taints_tolerations_node_selector_and_affinity(control_plane: ControlPlane, scheduler: ControllerManager,
                                                       nodes: list[str]) -> None:
    cp, ns = control_plane, "sched-taints"
    cp.create_namespace(ns)
    add_node(cp, "t-gpu", labels={"disk": "ssd"}, taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}])
    add_node(cp, "t-plain", labels={"disk": "hdd"})
    nodes += ["t-gpu", "t-plain"]
    tol = [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["hdd"]}]}]}}}
    apply(cp, ns, pod_manifest("tolerates", tolerations=tol, nodeSelector={"disk": "ssd"}),
          pod_manifest("affine", affinity=affinity),
          pod_manifest("untolerated", nodeSelector={"disk": "ssd"}))
    assert _bound(cp, ns, "tolerates") == "t-gpu"
    assert _bound(cp, ns, "affine") == "t-plain"
    msg = _failed_message(cp, ns, "untolerated")
    assert msg == ("0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had "
                   "untolerated taint {dedicated: gpu}. preemption: 0/2 nodes are available: 2 Preemption is not "
                   "helpful for scheduling..")
    cond = cp.wait(lambda: condition(pod(cp, ns, "untolerated"), "PodScheduled").get("reason"), DEADLINE_S,
                   "PodScheduled condition")
    assert cond == "Unschedulable"
    described = cp.kubectl("-n", ns, "describe", "pod", "untolerated").stdout
    assert "FailedScheduling" in described and "default-scheduler" in described
    assert "untolerated taint {dedicated: gpu}" in described
    scheduled = [e for e in events(cp, ns, "tolerates") if e["reason"] == "Scheduled"]
    assert [e["message"] for e in scheduled] == [f"Successfully assigned {ns}/tolerates to t-gpu"]
    assert scheduled[0]["source"]["component"] == "default-scheduler"


def test_insufficient_cpu_stays_pending_until_a_node_is_added(control_plane: ControlPlane,
                                                              scheduler: ControllerManager,
                                                              nodes: list[str]) -> None:
    cp, ns = control_plane, "sched-fit"
    cp.create_namespace(ns)
    add_node(cp, "f-small", cpu="1")
    nodes.append("f-small")
    apply(cp, ns, pod_manifest("big", cpu="2"))
    msg = _failed_message(cp, ns, "big")
    assert msg == ("0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No "
                   "preemption victims found for incoming pod..")
    p = pod(cp, ns, "big")
    assert p["status"]["phase"] == "Pending" and not p["spec"].get("nodeName")
    cond = condition(p, "PodScheduled")
    assert (cond.get("status"), cond.get("reason")) == ("False", "Unschedulable")
    add_node(cp, "f-big", cpu="8")
    nodes.append("f-big")
    assert _bound(cp, ns, "big") == "f-big"
    assert cp.wait(lambda: any(e["reason"] == "Scheduled" and e["message"] ==
                               f"Successfully assigned {ns}/big to f-big" for e in events(cp, ns, "big")),
                   DEADLINE_S, "Scheduled event")


def test_topology_spread_over_zones(control_plane: ControlPlane, scheduler: ControllerManager,
                                    nodes: list[str]) -> None:
    cp, ns = control_plane, "sched-spread"
    cp.create_namespace(ns)
    for i, zone in enumerate(["a", "a", "b", "c"]):
        add_node(cp, f"z-{i}", labels={"topology.kubernetes.io/zone": zone})
        nodes.append(f"z-{i}")
    spread = [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule",
               "labelSelector": {"matchLabels": {"app": "web"}}}]
    apply(cp, ns, *(pod_manifest(f"web-{i}", labels={"app": "web"}, topologySpreadConstraints=spread)
                    for i in range(6)))
    zones = {"z-0": "a", "z-1": "a", "z-2": "b", "z-3": "c"}
    placed = [zones[_bound(cp, ns, f"web-{i}")] for i in range(6)]
    assert sorted(placed) == ["a", "a", "b", "b", "c", "c"]


def test_preemption_of_a_lower_priority_pod(control_plane: ControlPlane, scheduler: ControllerManager,
                                            nodes: list[str]) -> None:
    cp, ns = control_plane, "sched-preempt"
    cp.create_namespace(ns)
    add_node(cp, "p-only", cpu="1")
    nodes.append("p-only")
    apply(cp, ns, pod_manifest("victim", cpu="800m"))
    assert _bound(cp, ns, "victim") == "p-only"
    victim_uid = pod(cp, ns, "victim")["metadata"]["uid"]
    apply(cp, "kube-system", pod_manifest("sched-preemptor", cpu="800m", priorityClassName="system-cluster-critical"))
    try:
        preemptor = pod(cp, "kube-system", "sched-preemptor")
        assert preemptor["spec"]["priority"] == 2000000000
        assert _bound(cp, "kube-system", "sched-preemptor") == "p-only"
        assert pod(cp, "kube-system", "sched-preemptor")["status"].get("nominatedNodeName") == "p-only"
        assert cp.get(f"/api/v1/namespaces/{ns}/pods/victim") is None
        preempted = cp.wait(lambda: [e for e in events(cp, ns, "victim") if e["reason"] == "Preempted"], DEADLINE_S,
                            "Preempted event")
        assert preempted[0]["message"] == f"Preempted by pod {preemptor['metadata']['uid']} on node p-only"
        assert preempted[0]["involvedObject"]["uid"] == victim_uid
        failed = [e["message"] for e in events(cp, "kube-system", "sched-preemptor")
                  if e["reason"] == "FailedScheduling"]
        assert failed == ["0/1 nodes are available: 1 Insufficient cpu."]
    finally:
        cp.kubectl("-n", "kube-system", "delete", "pod", "sched-preemptor", "--wait=false", check=False)


def test_bad_input_ends_in_the_real_messages_and_others_are_scheduled(control_plane: ControlPlane,
                                                                      scheduler: ControllerManager,
                                                                      nodes: list[str]) -> None:
    cp, ns = control_plane, "sched-bad"
    cp.create_namespace(ns)
    add_node(cp, "b-1")
    add_node(cp, "b-2")
    nodes += ["b-1", "b-2"]
    bad_affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "disk", "operator": "Sometimes", "values": ["x"]}]}]}}}
    pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
           "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}
    apply(cp, ns, pvc,
          pod_manifest("never-fits", cpu="64"),
          pod_manifest("other-scheduler", schedulerName="someone-else"),
          pod_manifest("malformed", affinity=bad_affinity),
          pod_manifest("unbound-pvc", volumes=[{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]),
          pod_manifest("fine"))
    assert _bound(cp, ns, "fine") in ("b-1", "b-2")
    assert _failed_message(cp, ns, "never-fits") == (
        "0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: 2 No preemption victims "
        "found for incoming pod..")
    assert _failed_message(cp, ns, "unbound-pvc") == (
        "0/2 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/2 nodes are "
        "available: 2 Preemption is not helpful for scheduling..")
    malformed = _failed_message(cp, ns, "malformed")
    assert malformed.startswith('running PreFilter plugin "NodeAffinity": spec.affinity.nodeAffinity.'
                                'requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].'
                                'matchExpressions[0].operator: Unsupported value: "Sometimes"'), malformed
    reason = cp.wait(lambda: condition(pod(cp, ns, "malformed"), "PodScheduled").get("reason"), DEADLINE_S,
                     "malformed pod's condition")
    assert reason == "SchedulerError"
    apply(cp, ns, pod_manifest("after-the-bad-ones"))
    assert _bound(cp, ns, "after-the-bad-ones") in ("b-1", "b-2")
    other = pod(cp, ns, "other-scheduler")
    assert not other["spec"].get("nodeName") and not condition(other, "PodScheduled")
    assert not list(events(cp, ns, "other-scheduler"))


def test_deployment_replicas_spread_by_anti_affinity(control_plane: ControlPlane, scheduler: ControllerManager,
                                                     nodes: list[str]) -> None:
    """The whole path: kubectl creates a Deployment, the controller manager makes its pods, the scheduler places
    them one per node by required anti-affinity; the replica with no node left gets kube's message."""
    cp, ns = control_plane, "sched-deploy"
    cp.create_namespace(ns)
    for n in ("d-1", "d-2"):
        add_node(cp, n)
        nodes.append(n)
    kcm = cp.start_controller_manager("--controllers=replicaset,deployment,serviceaccount", "--leader-elect=false")
    try:
        anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}]}}
        template = pod_manifest("web", labels={"app": "web"}, affinity=anti)
        deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                  "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                           "template": {"metadata": template["metadata"], "spec": template["spec"]}}}
        apply(cp, ns, deploy)

        def placement() -> dict[str, str] | None:
            pods = (cp.get(f"/api/v1/namespaces/{ns}/pods") or {}).get("items") or []
            if len(pods) < 3:
                return None
            out = {p["metadata"]["name"]: p["spec"].get("nodeName") or "" for p in pods}
            return out if sum(1 for v in out.values() if v) == 2 else None
        placed = cp.wait(placement, DEADLINE_S, "two replicas placed")
        assert sorted(v for v in placed.values() if v) == ["d-1", "d-2"]
        pending = next(name for name, v in placed.items() if not v)
        assert _failed_message(cp, ns, pending) == (
            "0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules. preemption: 0/2 nodes are "
            "available: 2 No preemption victims found for incoming pod..")
    finally:
        kcm.stop()


def test_scheduling_resumes_after_an_api_server_restart(control_plane: ControlPlane, scheduler: ControllerManager,
                                                        nodes: list[str]) -> None:
    """The informers relist after the restart; a pod created afterwards is bound, and the scheduler is still up."""
    cp, ns = control_plane, "sched-restart"
    cp.create_namespace(ns)
    add_node(cp, "r-1")
    nodes.append("r-1")
    apply(cp, ns, pod_manifest("before"))
    assert _bound(cp, ns, "before") == "r-1"
    cp.restart_apiserver()
    apply(cp, ns, pod_manifest("after"))
    assert _bound(cp, ns, "after") == "r-1"
    assert scheduler.alive()
    assert [e["reason"] for e in events(cp, ns, "after")] == ["Scheduled"]
