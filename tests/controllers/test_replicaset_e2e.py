"""ReplicationController and ReplicaSet controllers end to end: `python -m controllers` against the real API
server, driven with real kubectl, pods made Running/Ready by the fake nodes."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.controllers.cluster import ControllerManager, ControlPlane
from tests.controllers.fakenodes import FakeNodes

pytestmark = pytest.mark.e2e
# a quota is enforced once the resourcequota controller has written its status
BACKGROUND_CONTROLLERS = ("serviceaccount", "resourcequota")
DEADLINE_S = 45.0

RC = """
apiVersion: v1
kind: ReplicationController
metadata: {name: web}
spec:
  replicas: 3
  selector: {app: web}
  template:
    metadata: {labels: {app: web}, annotations: {note: from-template}}
    spec: {containers: [{name: c, image: nginx}]}
"""

RS = """
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: %(name)s}
spec:
  replicas: %(replicas)d
  selector:
    matchExpressions: [{key: app, operator: In, values: [%(app)s]}]
  template:
    metadata: {labels: {app: %(app)s}}
    spec: {containers: [{name: c, image: nginx}]}
"""


@pytest.fixture(scope="module")
def manager(control_plane: ControlPlane) -> Iterator[ControllerManager]:
    m = control_plane.start_controller_manager("--controllers=replicaset,replicationcontroller",
                                               "--use-service-account-credentials=true",
                                               "--leader-elect=false")
    yield m
    m.stop()


@pytest.fixture
def ns(control_plane: ControlPlane, request: pytest.FixtureRequest) -> str:
    name = request.node.name.replace("_", "-")[:50].strip("-")
    control_plane.create_namespace(name)
    return name


@pytest.fixture
def nodes(control_plane: ControlPlane, ns: str) -> Iterator[FakeNodes]:
    with FakeNodes(control_plane.admin_kubeconfig, namespaces={ns}) as fake:
        yield fake


def kubectl_json(cp: ControlPlane, *args: str) -> Any:
    return json.loads(cp.kubectl(*args, "-o", "json").stdout)


def pods_of(cp: ControlPlane, ns: str, selector: str) -> list[dict[str, Any]]:
    items = kubectl_json(cp, "-n", ns, "get", "pods", "-l", selector)["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def running_ready(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for p in pods if p["status"].get("phase") == "Running"
            and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))]


def wait_status(cp: ControlPlane, ns: str, what: str, pred: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        obj = kubectl_json(cp, "-n", ns, "get", what)
        return obj if pred(obj) else None
    result: dict[str, Any] = cp.wait(check, DEADLINE_S, f"{what} to satisfy the condition")
    return result


def events(cp: ControlPlane, ns: str, name: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = kubectl_json(cp, "-n", ns, "get", "events",
                                               "--field-selector", f"involvedObject.name={name}")["items"]
    return items


def full(replicas: int) -> Callable[[dict[str, Any]], bool]:
    def pred(obj: dict[str, Any]) -> bool:
        s = obj.get("status") or {}
        return (s.get("replicas") == replicas and s.get("readyReplicas") == replicas
                and s.get("availableReplicas") == replicas and s.get("fullyLabeledReplicas") == replicas
                and s.get("observedGeneration") == obj["metadata"]["generation"])
    return pred


def test_rc_self_heals_scales_and_releases_a_relabelled_pod(control_plane: ControlPlane, manager: ControllerManager,
                                                            ns: str, nodes: FakeNodes) -> None:
    cp = control_plane
    cp.kubectl("-n", ns, "apply", "-f", "-", stdin=RC)
    rc = wait_status(cp, ns, "rc/web", full(3))
    pods = pods_of(cp, ns, "app=web")
    assert len(running_ready(pods)) == 3
    for p in pods:
        assert p["metadata"]["generateName"] == "web-" and p["metadata"]["name"].startswith("web-")
        assert p["metadata"]["annotations"] == {"note": "from-template"}
        assert p["metadata"]["ownerReferences"] == [{
            "apiVersion": "v1", "kind": "ReplicationController", "name": "web", "uid": rc["metadata"]["uid"],
            "controller": True, "blockOwnerDeletion": True}]
    created = {e["message"] for e in events(cp, ns, "web") if e["reason"] == "SuccessfulCreate"}
    assert created == {f"Created pod: {p['metadata']['name']}" for p in pods}

    victim = pods[0]["metadata"]["name"]
    cp.kubectl("-n", ns, "delete", "pod", victim)
    wait_status(cp, ns, "rc/web", full(3))
    names = {p["metadata"]["name"] for p in pods_of(cp, ns, "app=web")}
    assert victim not in names and len(names) == 3

    cp.kubectl("-n", ns, "scale", "rc", "web", "--replicas=5")
    wait_status(cp, ns, "rc/web", full(5))
    assert len(running_ready(pods_of(cp, ns, "app=web"))) == 5

    stray = sorted(names)[0]
    cp.kubectl("-n", ns, "label", "pod", stray, "app=other", "--overwrite")
    cp.wait(lambda: not kubectl_json(cp, "-n", ns, "get", "pod", stray)["metadata"].get("ownerReferences"),
            DEADLINE_S, "the relabelled pod to be released")
    wait_status(cp, ns, "rc/web", full(5))
    assert stray not in {p["metadata"]["name"] for p in pods_of(cp, ns, "app=web")}
    assert kubectl_json(cp, "-n", ns, "get", "pod", stray)["status"]["phase"] == "Running"  # released, not deleted

    cp.kubectl("-n", ns, "scale", "rc", "web", "--replicas=2")
    wait_status(cp, ns, "rc/web", full(2))
    deleted = [e for e in events(cp, ns, "web") if e["reason"] == "SuccessfulDelete"]
    assert len(deleted) >= 3 and all(e["message"].startswith("Deleted pod: web-") for e in deleted)
    assert {e["source"]["component"] for e in events(cp, ns, "web")} == {"replication-controller"}


def test_rs_adopts_a_matching_orphan_and_serves_set_based_selectors(
        control_plane: ControlPlane, manager: ControllerManager, ns: str, nodes: FakeNodes) -> None:
    cp = control_plane
    orphan = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "orphan", "labels": {"app": "api"}},
              "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
    cp.kubectl("-n", ns, "apply", "-f", "-", stdin=json.dumps(orphan))
    cp.kubectl("-n", ns, "apply", "-f", "-", stdin=RS % {"name": "api", "replicas": 2, "app": "api"})
    rs = wait_status(cp, ns, "rs/api", full(2))
    adopted = kubectl_json(cp, "-n", ns, "get", "pod", "orphan")
    assert adopted["metadata"]["ownerReferences"][0]["uid"] == rs["metadata"]["uid"]
    assert len(pods_of(cp, ns, "app=api")) == 2  # the orphan counts: only one pod was created
    assert [e["message"] for e in events(cp, ns, "api") if e["reason"] == "SuccessfulCreate"] != []
    assert len([e for e in events(cp, ns, "api") if e["reason"] == "SuccessfulCreate"]) == 1


QUOTA = """
apiVersion: v1
kind: ResourceQuota
metadata: {name: two-pods}
spec: {hard: {pods: "2"}}
"""


def test_a_refused_pod_gives_failed_create_and_replica_failure_while_other_sets_are_served(
        control_plane: ControlPlane, manager: ControllerManager, ns: str, nodes: FakeNodes) -> None:
    cp = control_plane
    cp.kubectl("-n", ns, "apply", "-f", "-", stdin=QUOTA)
    cp.wait(lambda: ((cp.get(f"/api/v1/namespaces/{ns}/resourcequotas/two-pods") or {}).get("status") or {}).get("hard"),
            DEADLINE_S, "the quota controller's first status (kube-apiserver enforces nothing before it)")
    cp.kubectl("-n", ns, "apply", "-f", "-", stdin=RS % {"name": "capped", "replicas": 4, "app": "capped"})

    def refused() -> list[dict[str, Any]]:
        return [e for e in events(cp, ns, "capped") if e["reason"] == "FailedCreate"]
    [failed, *_] = cp.wait(refused, DEADLINE_S, "a FailedCreate event")
    assert failed["type"] == "Warning"
    assert failed["message"].startswith('Error creating: pods "capped-'), failed["message"]
    assert "exceeded quota: two-pods" in failed["message"]
    rs = wait_status(cp, ns, "rs/capped", lambda o: any(
        c["type"] == "ReplicaFailure" for c in (o.get("status") or {}).get("conditions", [])))
    [cond] = rs["status"]["conditions"]
    assert (cond["status"], cond["reason"]) == ("True", "FailedCreate")
    assert "exceeded quota: two-pods" in cond["message"] and not cond["message"].startswith("Error creating")
    assert rs["status"]["replicas"] == 2

    # the controller keeps serving other keys: a ReplicaSet in another namespace comes up fully
    cp.create_namespace(ns + "-b")
    with FakeNodes(cp.admin_kubeconfig, namespaces={ns + "-b"}):
        cp.kubectl("-n", ns + "-b", "apply", "-f", "-", stdin=RS % {"name": "fine", "replicas": 2, "app": "fine"})
        wait_status(cp, ns + "-b", "rs/fine", full(2))

    # once the quota allows it, the failure clears
    cp.kubectl("-n", ns, "delete", "resourcequota", "two-pods")
    rs = wait_status(cp, ns, "rs/capped", full(4))
    assert not rs["status"].get("conditions")


def test_min_ready_seconds_delays_availability(control_plane: ControlPlane, manager: ControllerManager, ns: str,
                                               nodes: FakeNodes) -> None:
    cp = control_plane
    manifest = RS % {"name": "slow", "replicas": 2, "app": "slow"}
    manifest = manifest.replace("  replicas: 2\n", "  replicas: 2\n  minReadySeconds: 3\n")
    cp.kubectl("-n", ns, "apply", "-f", "-", stdin=manifest)
    ready = wait_status(cp, ns, "rs/slow", lambda o: (o.get("status") or {}).get("readyReplicas") == 2)
    assert ready["status"].get("availableReplicas", 0) < 2  # ready, but not for 3 seconds yet
    # nothing changes about the pods any more: only the controller's own requeue can make them available
    rs = wait_status(cp, ns, "rs/slow", full(2))
    assert rs["status"]["availableReplicas"] == 2


@pytest.mark.slow
def test_rc_self_heals_on_raftkv(raftkv_control_plane: ControlPlane) -> None:
    """The same control loop with the API server on a 3-member raftkv cluster over mTLS instead of etcd."""
    cp = raftkv_control_plane
    m = cp.start_controller_manager("--controllers=replicationcontroller", "--leader-elect=false",
                                    "--use-service-account-credentials=true")
    try:
        cp.create_namespace("rk")
        with FakeNodes(cp.admin_kubeconfig, namespaces={"rk"}):
            cp.kubectl("-n", "rk", "apply", "-f", "-", stdin=RC)
            wait_status(cp, "rk", "rc/web", full(3))
            victim = pods_of(cp, "rk", "app=web")[0]["metadata"]["name"]
            cp.kubectl("-n", "rk", "delete", "pod", victim)
            wait_status(cp, "rk", "rc/web", full(3))
            assert victim not in {p["metadata"]["name"] for p in pods_of(cp, "rk", "app=web")}
    finally:
        m.stop()
