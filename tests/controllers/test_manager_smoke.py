"""Smoke: the machinery end to end against a real API server — a toy controller in-process (informer → queue →
sync → executor → events), and `python -m controllers` taking the leader Lease."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import pytest

from controllers.machinery.actions import Create, Event
from controllers.machinery.client import RESTClient
from controllers.machinery.controller import Controller, ControllerContext
from controllers.machinery.executor import execute, first_error
from controllers.machinery.informer import SharedInformerFactory
from controllers.machinery.kubeconfig import load_kubeconfig
from controllers.machinery.resources import CONFIGMAPS, EVENTS, LEASES
from controllers.options import ControllerManagerOptions
from tests.controllers.cluster import ControlPlane

pytestmark = pytest.mark.e2e
DEADLINE_S = 30.0


class Mirror(Controller):
    """Toy: for each ConfigMap labelled mirror=yes, a copy named <name>-mirror, and an Event about it."""
    name = "mirror"
    resources = (CONFIGMAPS,)

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.cms = self.watch(CONFIGMAPS)
        self.recorder = ctx.recorder("mirror-controller")

    async def sync(self, key: str) -> None:
        cm = self.cms.store.get(key)
        if cm is None or (cm["metadata"].get("labels") or {}).get("mirror") != "yes":
            return
        ns, name = self.split_key(key)
        if self.cms.store.get_by(ns, name + "-mirror") is not None:
            return
        actions: list[Any] = [
            Create(CONFIGMAPS, ns, {"metadata": {"name": name + "-mirror"}, "data": cm.get("data") or {}}),
            Event(cm, "Normal", "Mirrored", f"Created mirror {name}-mirror")]
        err = first_error(await execute(self.ctx.client, actions, self.recorder))
        if err is not None:
            raise err


async def _wait(pred: Any, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def test_toy_controller_runs_on_the_machinery(control_plane: ControlPlane) -> None:
    control_plane.create_namespace("smoke")

    async def main() -> None:
        client = RESTClient(load_kubeconfig(control_plane.admin_kubeconfig))
        factory = SharedInformerFactory(client)
        ctl = Mirror(ControllerContext(client, factory, ControllerManagerOptions()))
        factory.start()
        runner = asyncio.ensure_future(ctl.run(2))
        try:
            await client.create(CONFIGMAPS, "smoke", {"metadata": {"name": "a", "labels": {"mirror": "yes"}},
                                                      "data": {"k": "v"}})
            await _wait(lambda: ctl.cms.store.get("smoke/a-mirror") is not None, "the mirror in the cache")
            mirror = await client.get(CONFIGMAPS, "smoke", "a-mirror")
            assert mirror["data"] == {"k": "v"}
            await ctl.recorder.flush()
            events = await client.list(EVENTS, "smoke", field_selector="involvedObject.name=a")
            [ev] = events["items"]
            assert (ev["reason"], ev["source"]["component"], ev["count"]) == ("Mirrored", "mirror-controller", 1)
            assert ev["involvedObject"]["kind"] == "ConfigMap" and ev["involvedObject"]["uid"]
        finally:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
            await factory.stop()
            await client.close()
    asyncio.run(main())


def test_controller_manager_takes_the_leader_lease(control_plane: ControlPlane, controller_manager: Any) -> None:
    m = controller_manager("--leader-elect=true", "--leader-elect-lease-duration=4s",
                           "--leader-elect-renew-deadline=3s", "--leader-elect-retry-period=1s")
    path = LEASES.path("kube-system", "kube-controller-manager")
    lease = control_plane.wait(lambda: control_plane.get(path), DEADLINE_S, "the leader Lease")
    spec = lease["spec"]
    assert re.fullmatch(r"[^_]+_[0-9a-f-]{36}", spec["holderIdentity"]), spec
    assert spec["leaseDurationSeconds"] == 4
    control_plane.wait_for_log(m, "successfully acquired lease kube-system/kube-controller-manager")
    assert m.stop() == 0
    # a graceful stop gives the lease up for the next candidate
    released = control_plane.get(path)["spec"]
    assert released["holderIdentity"] == ""


def test_kubectl_helper_reaches_the_api_server_as_admin(control_plane: ControlPlane) -> None:
    out = control_plane.kubectl("get", "namespaces", "-o", "name").stdout
    assert "namespace/kube-system" in out.split()


@pytest.mark.slow
def test_the_same_plane_on_a_three_member_raftkv(raftkv_control_plane: ControlPlane) -> None:
    """The raftkv-backed fixture works end to end: the manager takes its Lease through the API server on raftkv."""
    cp = raftkv_control_plane
    assert cp.store.kind == "raftkv"
    m = cp.start_controller_manager("--leader-elect=true", "--controllers=-replicaset,-deployment")
    try:
        cp.wait_for_log(m, "successfully acquired lease kube-system/kube-controller-manager", timeout=60)
        lease = cp.get(LEASES.path("kube-system", "kube-controller-manager"))
        assert lease["spec"]["leaseDurationSeconds"] == 15
    finally:
        m.stop()
