"""StatefulSet controller end to end: `python -m controllers` against the real API server with real kubectl,
pods run by the fake nodes (held back on demand to watch OrderedReady wait)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.controllers.cluster import ControllerManager, ControlPlane
from tests.controllers.fakenodes import FakeNodes
from tests.controllers.kwait import kubectl_until

pytestmark = pytest.mark.e2e
DEADLINE_S = 120.0

STS = """
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  replicas: 2
  serviceName: web
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: "nginx:1"}]}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
"""


@pytest.fixture(scope="module")
def manager(control_plane: ControlPlane) -> Iterator[ControllerManager]:
    m = control_plane.start_controller_manager("--controllers=statefulset,garbagecollector",
                                               "--use-service-account-credentials=true",
                                               "--leader-elect=false")
    yield m
    m.stop()


def kubectl_json(cp: ControlPlane, *args: str) -> Any:
    return json.loads(cp.kubectl(*args, "-o", "json").stdout)


def sts_status(cp: ControlPlane, ns: str) -> dict[str, Any]:
    obj = kubectl_json(cp, "-n", ns, "get", "sts", "web")
    return {**obj.get("status", {}), "generation": obj["metadata"]["generation"]}


def pod_names(cp: ControlPlane, ns: str) -> list[str]:
    return sorted(p["metadata"]["name"] for p in kubectl_json(cp, "-n", ns, "get", "pods", "-l", "app=web")["items"]
                  if not p["metadata"].get("deletionTimestamp"))


def test_ordered_ready_creates_web_0_then_web_1_with_claims(control_plane: ControlPlane,
                                                            manager: ControllerManager) -> None:
    cp, ns = control_plane, "sts-e2e"
    cp.create_namespace(ns)
    held = {"web-0"}
    with FakeNodes(cp.admin_kubeconfig, ["sts-a"], namespaces={ns},
                   policy=lambda pod: "pending" if pod["metadata"]["name"] in held else "run") as nodes:
        cp.kubectl("-n", ns, "create", "-f", "-", stdin=STS)
        cp.wait(lambda: (lambda s: s.get("replicas") == 1 and s.get("observedGeneration") == s["generation"])(
            sts_status(cp, ns)), DEADLINE_S, "web-0 created and the status written")
        assert pod_names(cp, ns) == ["web-0"]  # web-1 waits for web-0 to be Running and Ready
        pod = kubectl_json(cp, "-n", ns, "get", "pod", "web-0")
        assert pod["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] == "web-0"
        assert pod["metadata"]["labels"]["apps.kubernetes.io/pod-index"] == "0"
        assert pod["spec"]["hostname"] == "web-0" and pod["spec"]["subdomain"] == "web"
        assert {"name": "data", "persistentVolumeClaim": {"claimName": "data-web-0"}} in pod["spec"]["volumes"]
        assert kubectl_json(cp, "-n", ns, "get", "pvc", "data-web-0")["metadata"]["labels"] == {"app": "web"}

        held.clear()
        nodes.resync()
        cp.wait(lambda: (lambda s: s.get("readyReplicas") == 2 and s.get("availableReplicas") == 2)(
            sts_status(cp, ns)), DEADLINE_S, "2 ready replicas")
        assert pod_names(cp, ns) == ["web-0", "web-1"]
        st = sts_status(cp, ns)
        assert st["currentRevision"] == st["updateRevision"] and st["updateRevision"].startswith("web-")
        assert kubectl_json(cp, "-n", ns, "get", "pod", "web-1")["metadata"]["labels"][
            "controller-revision-hash"] == st["updateRevision"]
        events = [e["message"] for e in kubectl_json(cp, "-n", ns, "get", "events")["items"]
                  if e["involvedObject"]["name"] == "web"]
        assert {"create Pod web-0 in StatefulSet web successful",
                "create Pod web-1 in StatefulSet web successful"} <= set(events)
        assert "create Claim data-web-1 Pod web-1 in StatefulSet web success" in events

        cp.kubectl("-n", ns, "scale", "sts", "web", "--replicas=1")
        cp.wait(lambda: pod_names(cp, ns) == ["web-0"], DEADLINE_S, "web-1 removed on scale down")
        assert kubectl_json(cp, "-n", ns, "get", "pvc", "data-web-1")["metadata"]["name"] == "data-web-1"  # Retain


def test_a_set_recreated_after_an_orphaning_delete_adopts_its_pods(control_plane: ControlPlane,
                                                                   manager: ControllerManager) -> None:
    cp, ns = control_plane, "sts-adopt"
    cp.create_namespace(ns)
    with FakeNodes(cp.admin_kubeconfig, ["sts-b"], namespaces={ns}):
        cp.kubectl("-n", ns, "create", "-f", "-", stdin=STS)
        cp.wait(lambda: sts_status(cp, ns).get("readyReplicas") == 2, DEADLINE_S, "2 ready replicas")
        uids = {p["metadata"]["name"]: p["metadata"]["uid"]
                for p in kubectl_json(cp, "-n", ns, "get", "pods", "-l", "app=web")["items"]}
        cp.kubectl("-n", ns, "delete", "sts", "web", "--cascade=orphan")
        cp.wait(lambda: all(not p["metadata"].get("ownerReferences") for p in kubectl_json(
            cp, "-n", ns, "get", "pods", "-l", "app=web")["items"]), DEADLINE_S, "the pods orphaned")
        cp.kubectl("-n", ns, "create", "-f", "-", stdin=STS)
        new_uid = kubectl_json(cp, "-n", ns, "get", "sts", "web")["metadata"]["uid"]

        def adopted() -> bool:
            pods = kubectl_json(cp, "-n", ns, "get", "pods", "-l", "app=web")["items"]
            return len(pods) == 2 and all([r["uid"] for r in p["metadata"].get("ownerReferences") or []] == [new_uid]
                                          for p in pods)
        cp.wait(adopted, DEADLINE_S, "the recreated set to adopt both pods")
        assert {p["metadata"]["name"]: p["metadata"]["uid"]
                for p in kubectl_json(cp, "-n", ns, "get", "pods", "-l", "app=web")["items"]} == uids
        cp.wait(lambda: sts_status(cp, ns).get("readyReplicas") == 2, DEADLINE_S, "2 ready replicas again")


def test_rolling_update_replaces_pods_highest_ordinal_first_down_to_the_partition(
        control_plane: ControlPlane, manager: ControllerManager) -> None:
    cp, ns = control_plane, "sts-roll"
    cp.create_namespace(ns)
    with FakeNodes(cp.admin_kubeconfig, ["sts-c"], namespaces={ns}):
        cp.kubectl("-n", ns, "create", "-f", "-", stdin=STS.replace("replicas: 2", "replicas: 3"))
        cp.wait(lambda: sts_status(cp, ns).get("readyReplicas") == 3, DEADLINE_S, "3 ready replicas")
        old = sts_status(cp, ns)["currentRevision"]
        cp.kubectl("-n", ns, "patch", "sts", "web", "-p",
                   '{"spec":{"updateStrategy":{"rollingUpdate":{"partition":1}}}}')
        cp.kubectl("-n", ns, "set", "image", "sts/web", "c=nginx:2")

        def images() -> dict[str, str]:
            return {p["metadata"]["name"]: p["spec"]["containers"][0]["image"]
                    for p in kubectl_json(cp, "-n", ns, "get", "pods", "-l", "app=web")["items"]
                    if not p["metadata"].get("deletionTimestamp")}
        cp.wait(lambda: images() == {"web-0": "nginx:1", "web-1": "nginx:2", "web-2": "nginx:2"}
                and sts_status(cp, ns).get("readyReplicas") == 3, DEADLINE_S, "web-2 and web-1 updated")
        st = sts_status(cp, ns)
        assert st["currentRevision"] == old and st["updateRevision"] != old
        assert (st["updatedReplicas"], st["currentReplicas"]) == (2, 1)
        created = {p["metadata"]["name"]: p["metadata"]["creationTimestamp"]
                   for p in kubectl_json(cp, "-n", ns, "get", "pods", "-l", "app=web")["items"]}
        assert created["web-2"] <= created["web-1"]  # the highest ordinal went first

        cp.kubectl("-n", ns, "patch", "sts", "web", "-p",
                   '{"spec":{"updateStrategy":{"rollingUpdate":{"partition":0}}}}')
        kubectl_until(cp, "-n", ns, "rollout", "status", "sts/web", deadline=DEADLINE_S)
        cp.wait(lambda: sts_status(cp, ns).get("currentRevision") == sts_status(cp, ns).get("updateRevision"),
                DEADLINE_S, "the update revision current")
        assert set(images().values()) == {"nginx:2"}
        history = cp.kubectl("-n", ns, "rollout", "history", "sts/web").stdout
        assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["1", "2"]
