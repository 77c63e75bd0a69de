"""Issue #14: "an API server restart or a watch expiry (410) relists without losing or duplicating work". The
controller manager runs an RC of 5; while the API server is down two of its pods are deleted in the store (etcdctl,
as another API server would), and the RC must end with exactly 5 pods: the two replaced once, nothing doubled.
Once with the history kept (the manager's watches resume from their resourceVersion and see the deletes), once
with the store compacted during the outage so that the restarted API server's watch cache answers 410 Expired and
the manager relists."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.controllers.cluster import ControllerManager, ControlPlane
from tests.controllers.fakenodes import FakeNodes
from tests.controllers.podledger import PodLedger

pytestmark = pytest.mark.e2e
DEADLINE_S = 90.0
REPLICAS, DELETED = 5, 2

RC = f"""
apiVersion: v1
kind: ReplicationController
metadata: {{name: rc}}
spec:
  replicas: {REPLICAS}
  selector: {{app: rc}}
  template:
    metadata: {{labels: {{app: rc}}}}
    spec: {{containers: [{{name: c, image: nginx}}]}}
"""


def rc_ready(cp: ControlPlane, ns: str, ledger: PodLedger) -> Any:
    rc = cp.get(f"/api/v1/namespaces/{ns}/replicationcontrollers/rc") or {}
    st = rc.get("status") or {}
    ok = rc and st.get("observedGeneration") == rc["metadata"]["generation"] and st.get("replicas") == REPLICAS \
        and st.get("readyReplicas") == REPLICAS and len(ledger.live()) == REPLICAS
    return rc if ok else None


def store_revision(cp: ControlPlane) -> int:
    out = cp.store.etcdctl("get", "/registry/", "--prefix", "--keys-only", "--limit=1", "-w", "json").stdout
    return int(json.loads(out)["header"]["revision"])


def outage(cp: ControlPlane, ns: str, ledger: PodLedger, *, compact: bool) -> list[str]:
    """Stops the API server, deletes DELETED of the RC's pods straight in the store (and compacts its history),
    starts the API server again; returns the deleted pods' names."""
    victims = sorted(p["metadata"]["name"] for p in ledger.live())[:DELETED]
    assert cp.apiserver_process is not None
    cp.apiserver_process.stop()
    for name in victims:
        assert cp.store.etcdctl("del", f"/registry/pods/{ns}/{name}").stdout.strip() == "1"
    if compact:
        cp.store.etcdctl("compact", str(store_revision(cp)))
    cp.apiserver_process.start()
    return victims


def converge_exactly(cp: ControlPlane, m: ControllerManager, ns: str, ledger: PodLedger, rc_uid: str,
                     victims: list[str]) -> None:
    def replaced() -> Any:
        live = {p["metadata"]["name"] for p in ledger.live()}
        return rc_ready(cp, ns, ledger) if not live & set(victims) else None
    try:
        cp.wait(replaced, DEADLINE_S, f"{REPLICAS} ready pods again, the deleted ones replaced")
    except AssertionError as e:
        raise AssertionError(f"{e}\n--- manager log:\n{m.log()[-3000:]}") from None
    ever = ledger.uids_by_owner()
    # each deleted pod replaced once, never more than REPLICAS at a time, no name twice
    assert ever[rc_uid] == REPLICAS + DELETED, ever
    assert ledger.max_live_total == REPLICAS and ledger.names_reused() == []
    listed = cp.get(f"/api/v1/namespaces/{ns}/pods") or {}
    assert len([p for p in listed["items"] if not p["metadata"].get("deletionTimestamp")]) == REPLICAS


@pytest.mark.parametrize("compact", [False, True], ids=["restart", "restart-410"])
def test_rc_stays_exact_across_an_api_server_restart_with_deletes_during_the_outage(
        control_plane: ControlPlane, controller_manager: Any, compact: bool) -> None:
    cp = control_plane
    ns = "relist-410" if compact else "relist-restart"
    cp.create_namespace(ns)
    m = controller_manager("--controllers=replicationcontroller", "--leader-elect=false")
    with FakeNodes(cp.admin_kubeconfig, namespaces={ns}), PodLedger(cp.admin_kubeconfig, ns) as ledger:
        cp.kubectl("-n", ns, "apply", "-f", "-", stdin=RC)
        rc = cp.wait(lambda: rc_ready(cp, ns, ledger), DEADLINE_S, f"{REPLICAS} ready pods")
        victims = outage(cp, ns, ledger, compact=compact)
        converge_exactly(cp, m, ns, ledger, rc["metadata"]["uid"], victims)
    expired = [line for line in m.log().splitlines() if "pods: watch of" in line and "expired" in line]
    if compact:
        assert expired, "the manager's pod watch was not answered 410 Expired:\n" + m.log()[-3000:]
    else:
        assert not expired, "the history was kept: the watch resumes without a relist\n" + "\n".join(expired)
