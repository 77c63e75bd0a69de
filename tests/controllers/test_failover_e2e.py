"""Issue #14's "done when": two controller managers with leader election on a 3-member raftkv; kill -9 of the
leader during a rollout, the other finishes it, and nothing is created twice. Every pod of the namespace is
recorded from a watch for the whole test (tests/controllers/podledger.py): at no revision were there more live
pods than replicas + maxSurge, and each ReplicaSet (or the RC) had exactly as many pods, ever, as it needed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from controllers.machinery.resources import LEASES
from tests.controllers.cluster import ControllerManager, ControlPlane
from tests.controllers.fakenodes import FakeNodes
from tests.controllers.podledger import PodLedger

pytestmark = pytest.mark.e2e
DEADLINE_S = 120.0
LEASE_S, RENEW_S, RETRY_S = 3.0, 2.0, 0.5
REPLICAS, SURGE = 6, 1

DEPLOY = f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: {REPLICAS}
  minReadySeconds: 2
  strategy: {{type: RollingUpdate, rollingUpdate: {{maxSurge: {SURGE}, maxUnavailable: 0}}}}
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec: {{containers: [{{name: c, image: "nginx:1.25"}}]}}
"""

RC = """
apiVersion: v1
kind: ReplicationController
metadata: {name: rc}
spec:
  replicas: 5
  selector: {app: rc}
  template:
    metadata: {labels: {app: rc}}
    spec: {containers: [{name: c, image: nginx}]}
"""


def flags(lease_ns: str) -> list[str]:
    return ["--controllers=replicaset,deployment,replicationcontroller", "--leader-elect=true",
            f"--leader-elect-lease-duration={LEASE_S:g}s", f"--leader-elect-renew-deadline={RENEW_S:g}s",
            f"--leader-elect-retry-period={RETRY_S:g}s", f"--leader-elect-resource-namespace={lease_ns}"]


def acquired(lease_ns: str) -> str:
    return f"successfully acquired lease {lease_ns}/kube-controller-manager"


@pytest.fixture
def pair(raftkv_control_plane: ControlPlane, request: pytest.FixtureRequest) -> Iterator[list[ControllerManager]]:
    """Two managers on one Lease: the first leads (it is started first and waited for), the second waits."""
    cp = raftkv_control_plane
    lease_ns = "lease-" + request.node.name.replace("_", "-")[5:30].strip("-")
    cp.create_namespace(lease_ns)
    started: list[ControllerManager] = []
    try:
        started.append(cp.start_controller_manager(*flags(lease_ns)))
        cp.wait_for_log(started[0], acquired(lease_ns), timeout=60)
        started.append(cp.start_controller_manager(*flags(lease_ns)))
        cp.wait_for_log(started[1], f"attempting to acquire leader lease {lease_ns}/kube-controller-manager",
                        timeout=60)
        yield started
    finally:
        for m in started:
            m.stop()


def lease_holder(cp: ControlPlane, lease_ns: str) -> str:
    lease = cp.get(LEASES.path(lease_ns, "kube-controller-manager")) or {}
    return str((lease.get("spec") or {}).get("holderIdentity") or "")


def take_over(cp: ControlPlane, leader: ControllerManager, standby: ControllerManager, lease_ns: str) -> None:
    before = lease_holder(cp, lease_ns)
    leader.kill()
    cp.wait_for_log(standby, acquired(lease_ns), timeout=60)
    assert lease_holder(cp, lease_ns) not in ("", before)


def kubectl_json(cp: ControlPlane, ns: str, *what: str) -> Any:
    return json.loads(cp.kubectl("-n", ns, "get", *what, "-o", "json").stdout)


def test_kill_9_of_the_leader_mid_rollout_the_standby_finishes_it_without_extra_pods(
        raftkv_control_plane: ControlPlane, pair: list[ControllerManager]) -> None:
    cp, (leader, standby) = raftkv_control_plane, pair
    lease_ns = next(a for a in leader.args if "resource-namespace" in a).split("=", 1)[1]
    ns = "rollout"
    cp.create_namespace(ns)
    with FakeNodes(cp.admin_kubeconfig, namespaces={ns}), PodLedger(cp.admin_kubeconfig, ns) as ledger:
        cp.kubectl("-n", ns, "apply", "-f", "-", stdin=DEPLOY)
        first = cp.kubectl("-n", ns, "rollout", "status", "deploy/web", f"--timeout={int(DEADLINE_S)}s")
        assert 'deployment "web" successfully rolled out' in first.stdout
        cp.kubectl("-n", ns, "set", "image", "deploy/web", "c=nginx:1.26")

        def new_rs_partly_scaled() -> dict[str, Any] | None:
            for rs in (cp.get(f"/apis/apps/v1/namespaces/{ns}/replicasets") or {}).get("items", []):
                image = rs["spec"]["template"]["spec"]["containers"][0]["image"]
                if image == "nginx:1.26" and 2 <= rs["spec"]["replicas"] < REPLICAS:
                    return dict(rs)
            return None
        mid = cp.wait(new_rs_partly_scaled, DEADLINE_S, "the new ReplicaSet partly scaled up")
        take_over(cp, leader, standby, lease_ns)
        print(f"leader killed with the new ReplicaSet at {mid['spec']['replicas']}/{REPLICAS}")

        done = cp.kubectl("-n", ns, "rollout", "status", "deploy/web", f"--timeout={int(DEADLINE_S)}s")
        assert 'deployment "web" successfully rolled out' in done.stdout
        sets = {rs["spec"]["template"]["spec"]["containers"][0]["image"]: rs
                for rs in kubectl_json(cp, ns, "rs")["items"]}
        old, new = sets["nginx:1.25"], sets["nginx:1.26"]
        assert (old["spec"]["replicas"], new["spec"]["replicas"]) == (0, REPLICAS)

        def settled() -> bool:
            live = ledger.live()
            return len(live) == REPLICAS and all(p["metadata"]["labels"]["pod-template-hash"]
                                                 == new["metadata"]["labels"]["pod-template-hash"] for p in live)
        cp.wait(settled, DEADLINE_S, f"{REPLICAS} live pods, all of the new template")
    ever = ledger.uids_by_owner()
    assert ledger.max_live_total <= REPLICAS + SURGE, ledger.max_live_total
    assert ledger.max_live_by_owner[old["metadata"]["uid"]] == REPLICAS
    assert ledger.max_live_by_owner[new["metadata"]["uid"]] == REPLICAS
    # nothing created twice: each ReplicaSet had exactly its replicas, ever, and no name came back
    assert (ever[old["metadata"]["uid"]], ever[new["metadata"]["uid"]]) == (REPLICAS, REPLICAS), ever
    assert sum(ever.values()) == 2 * REPLICAS and ledger.names_reused() == []


def test_kill_9_of_the_leader_while_an_rc_scales_up_creates_no_duplicates(
        raftkv_control_plane: ControlPlane, pair: list[ControllerManager]) -> None:
    cp, (leader, standby) = raftkv_control_plane, pair
    lease_ns = next(a for a in leader.args if "resource-namespace" in a).split("=", 1)[1]
    ns = "rc-failover"
    cp.create_namespace(ns)
    with FakeNodes(cp.admin_kubeconfig, namespaces={ns}), PodLedger(cp.admin_kubeconfig, ns) as ledger:
        cp.kubectl("-n", ns, "apply", "-f", "-", stdin=RC)

        def ready(n: int) -> Any:
            rc = cp.get(f"/api/v1/namespaces/{ns}/replicationcontrollers/rc") or {}
            st = rc.get("status") or {}
            ok = rc and st.get("observedGeneration") == rc["metadata"]["generation"] \
                and st.get("replicas") == n and st.get("readyReplicas") == n and len(ledger.live()) == n
            return rc if ok else None
        rc = cp.wait(lambda: ready(5), DEADLINE_S, "5 ready pods")
        cp.kubectl("-n", ns, "scale", "rc/rc", "--replicas=10")
        take_over(cp, leader, standby, lease_ns)  # at once: the old leader was in the middle of the scale-up
        cp.wait(lambda: ready(10), DEADLINE_S, "10 ready pods after the failover")
    ever = ledger.uids_by_owner()
    assert ledger.max_live_total == 10 and ever[rc["metadata"]["uid"]] == 10, (ledger.max_live_total, ever)
    assert ledger.names_reused() == []
