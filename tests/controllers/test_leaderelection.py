"""Two `python -m controllers --leader-elect` processes: one leads, the other waits; kill -9 the leader and the
other takes the Lease within the lease duration (plus its retry period). Short durations keep it fast."""

from __future__ import annotations

import time
from typing import Any

import pytest

from controllers.machinery.resources import LEASES
from tests.controllers.cluster import ControlPlane

pytestmark = pytest.mark.e2e

LEASE_S, RENEW_S, RETRY_S = 3.0, 2.0, 0.5
FLAGS = ("--leader-elect=true", f"--leader-elect-lease-duration={LEASE_S:g}s",
         f"--leader-elect-renew-deadline={RENEW_S:g}s", f"--leader-elect-retry-period={RETRY_S:g}s",
         "--leader-elect-resource-namespace=kcm-failover")
# the Lease keeps kube-controller-manager's name (its RBAC role names it); each test has its own namespace
PATH = LEASES.path("kcm-failover", "kube-controller-manager")
ACQUIRED = "successfully acquired lease kcm-failover/kube-controller-manager"


def holder(cp: ControlPlane) -> dict[str, Any]:
    lease = cp.get(PATH)
    return lease["spec"] if lease else {}


def test_kill_9_of_the_leader_hands_the_lease_to_the_standby(control_plane: ControlPlane,
                                                            controller_manager: Any) -> None:
    cp = control_plane
    cp.create_namespace("kcm-failover")
    first = controller_manager(*FLAGS)
    cp.wait_for_log(first, ACQUIRED)
    second = controller_manager(*FLAGS)
    cp.wait_for_log(second, "attempting to acquire leader lease kcm-failover/kube-controller-manager")
    spec = holder(cp)
    leader_id = spec["holderIdentity"]
    assert spec["leaseDurationSeconds"] == int(LEASE_S) and spec["leaseTransitions"] == 0

    # The standby keeps waiting while the leader renews: renewTime moves, the holder does not.
    renewed = cp.wait(lambda: holder(cp)["renewTime"] != spec["renewTime"] and holder(cp), 10, "a renewal")
    assert renewed["holderIdentity"] == leader_id and ACQUIRED not in second.log()

    first.kill()
    killed_at = time.monotonic()
    cp.wait_for_log(second, ACQUIRED, timeout=LEASE_S * 4)
    took = time.monotonic() - killed_at
    print(f"standby took the lease {took:.2f}s after kill -9 (lease {LEASE_S:g}s, retry {RETRY_S:g}s)")
    new = holder(cp)
    assert new["holderIdentity"] != leader_id and new["leaseTransitions"] == 1
    # observed expiry = lease duration after the standby last saw a change; plus one jittered retry period
    assert took <= LEASE_S + RETRY_S * 1.2 + 1.5, f"took {took:.1f}s"


def test_a_leader_that_cannot_renew_exits(control_plane: ControlPlane, controller_manager: Any) -> None:
    """Another holder overwrites the Lease (as after a partition): the old leader's renewals fail, and it exits
    with status 1 after the renew deadline, as kube-controller-manager does ("leaderelection lost")."""
    cp = control_plane
    cp.create_namespace("kcm-lost")
    flags = [f.replace("kcm-failover", "kcm-lost") for f in FLAGS]
    m = controller_manager(*flags)
    cp.wait_for_log(m, "successfully acquired lease kcm-lost/kube-controller-manager")
    path = LEASES.path("kcm-lost", "kube-controller-manager")

    def steal() -> bool:
        lease = cp.get(path)
        lease["spec"]["holderIdentity"] = "thief"
        lease["spec"]["leaseDurationSeconds"] = 3600
        return cp.request("PUT", path, lease).code == 200
    cp.wait(steal, 10, "the Lease taken over by someone else")
    assert m.wait_exit(RENEW_S * 4 + 10) == 1
    assert "leaderelection lost" in m.log()


def test_the_leader_rides_out_an_api_server_restart_shorter_than_its_renew_deadline(
        control_plane: ControlPlane, controller_manager: Any) -> None:
    cp = control_plane
    cp.create_namespace("kcm-outage")
    flags = ["--leader-elect=true", "--leader-elect-lease-duration=15s", "--leader-elect-renew-deadline=10s",
             "--leader-elect-retry-period=0.5s", "--leader-elect-resource-namespace=kcm-outage"]
    m = controller_manager(*flags)
    cp.wait_for_log(m, "successfully acquired lease kcm-outage/kube-controller-manager")
    path = LEASES.path("kcm-outage", "kube-controller-manager")
    before = cp.get(path)["spec"]
    cp.restart_apiserver()
    after = cp.wait(lambda: (s := cp.get(path)["spec"])["renewTime"] != before["renewTime"] and s, 20,
                    "a renewal after the restart")
    assert m.alive(), m.log()[-2000:]
    assert after["holderIdentity"] == before["holderIdentity"] and after["leaseTransitions"] == 0
    assert "leaderelection lost" not in m.log()
