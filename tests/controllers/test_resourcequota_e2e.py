"""ResourceQuota controller end to end: `python -m controllers` against the real API server, quotas and pods
handled with real kubectl, pods run and completed by the fake nodes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.controllers.cluster import ControllerManager, ControlPlane
from tests.controllers.fakenodes import FakeNodes

pytestmark = pytest.mark.e2e
DEADLINE_S = 90.0

POD = """
apiVersion: v1
kind: Pod
metadata: {name: %s}
spec:
  containers: [{name: c, image: nginx, resources: {requests: {cpu: 250m, memory: 64Mi}, limits: {cpu: 500m}}}]
"""


@pytest.fixture(scope="module")
def manager(control_plane: ControlPlane) -> Iterator[ControllerManager]:
    m = control_plane.start_controller_manager("--controllers=resourcequota", "--use-service-account-credentials=true",
                                               "--leader-elect=false")
    yield m
    m.stop()


def used(cp: ControlPlane, ns: str) -> dict[str, str]:
    q = json.loads(cp.kubectl("-n", ns, "get", "resourcequota", "q", "-o", "json").stdout)
    return dict((q.get("status") or {}).get("used") or {})


def wait_used(cp: ControlPlane, m: ControllerManager, ns: str, want: dict[str, str]) -> None:
    seen: list[Any] = []

    def check() -> bool:
        seen[:] = [used(cp, ns)]
        return all(seen[0].get(k) == v for k, v in want.items())
    try:
        cp.wait(check, DEADLINE_S, f"status.used to reach {want}")
    except AssertionError as e:
        raise AssertionError(f"{e}; last {seen}\n--- manager log:\n{m.log()[-3000:]}") from None


def test_used_follows_pods_ending_and_being_deleted_and_is_recomputed(control_plane: ControlPlane,
                                                                      manager: ControllerManager) -> None:
    cp, ns = control_plane, "quota-e2e"
    cp.create_namespace(ns)
    with FakeNodes(cp.admin_kubeconfig, namespaces={ns}) as nodes:
        cp.kubectl("-n", ns, "create", "quota", "q",
                   "--hard=pods=5,count/pods=10,requests.cpu=2,requests.memory=1Gi,limits.cpu=4,configmaps=4,"
                   "count/roles.rbac.authorization.k8s.io=3")
        wait_used(cp, manager, ns, {"pods": "0", "count/pods": "0", "requests.cpu": "0", "configmaps": "0"})
        cp.kubectl("-n", ns, "create", "role", "reader", "--verb=get", "--resource=pods")
        for name in ("a", "b", "c"):
            cp.kubectl("-n", ns, "apply", "-f", "-", stdin=POD % name)
        cp.kubectl("-n", ns, "create", "configmap", "settings", "--from-literal=k=v")
        wait_used(cp, manager, ns, {"pods": "3", "count/pods": "3", "requests.cpu": "750m", "requests.memory": "192Mi",
                                    "limits.cpu": "1500m", "configmaps": "1"})
        cp.wait(lambda: all(json.loads(cp.kubectl("-n", ns, "get", "pod", p, "-o", "json").stdout)["status"].get(
            "phase") == "Running" for p in ("a", "b", "c")), DEADLINE_S, "the pods running")

        nodes.complete(ns, "c", "Succeeded")  # an ended pod holds no compute resources, but still counts in count/pods
        wait_used(cp, manager, ns, {"pods": "2", "count/pods": "3", "requests.cpu": "500m", "limits.cpu": "1"})

        cp.kubectl("-n", ns, "delete", "pod", "a", "--grace-period=0", "--force")
        wait_used(cp, manager, ns, {"pods": "1", "count/pods": "2", "requests.cpu": "250m", "requests.memory": "64Mi"})

        # whatever is written into status, the controller recomputes it from what exists
        cp.kubectl("-n", ns, "patch", "resourcequota", "q", "--subresource=status", "--type=merge",
                   "-p", '{"status":{"used":{"pods":"4","configmaps":"0","count/roles.rbac.authorization.k8s.io":"0"}}}')
        cp.kubectl("-n", ns, "patch", "resourcequota", "q", "--type=merge", "-p", '{"spec":{"hard":{"secrets":"3"}}}')
        # roles are no resource the machinery names: counted through discovery
        wait_used(cp, manager, ns, {"pods": "1", "configmaps": "1", "secrets": "0",
                                    "count/roles.rbac.authorization.k8s.io": "1"})
        q = json.loads(cp.kubectl("-n", ns, "get", "resourcequota", "q", "-o", "json").stdout)
        assert q["status"]["hard"] == q["spec"]["hard"] and q["status"]["hard"]["secrets"] == "3"
        assert set(q["status"]["used"]) == set(q["spec"]["hard"])


def test_periodic_resync_releases_a_pod_past_its_grace_period(control_plane: ControlPlane,
                                                              controller_manager: Any) -> None:
    """Nothing happens to a pod when its deletion grace period runs out (its kubelet is gone); only the full resync
    every --resource-quota-sync-period notices that it holds nothing any more (QuotaV1Pod)."""
    cp, ns = control_plane, "quota-resync"
    cp.create_namespace(ns)
    m = controller_manager("--controllers=resourcequota", "--resource-quota-sync-period=2s",
                           "--use-service-account-credentials=true", "--leader-elect=false")
    with FakeNodes(cp.admin_kubeconfig, ["quota-node"], namespaces={ns}) as nodes:
        cp.kubectl("-n", ns, "create", "quota", "q", "--hard=pods=5,count/pods=5")
        cp.kubectl("-n", ns, "apply", "-f", "-", stdin=POD % "p")
        cp.wait(lambda: json.loads(cp.kubectl("-n", ns, "get", "pod", "p", "-o", "json").stdout)["status"].get(
            "phase") == "Running", DEADLINE_S, "the pod running")
        wait_used(cp, m, ns, {"pods": "1", "count/pods": "1"})
        nodes.kill("quota-node")  # nothing will finish the deletion
        cp.kubectl("-n", ns, "delete", "pod", "p", "--grace-period=3", "--wait=false")
        wait_used(cp, m, ns, {"pods": "0", "count/pods": "1"})
        cp.kubectl("-n", ns, "delete", "pod", "p", "--grace-period=0", "--force")
