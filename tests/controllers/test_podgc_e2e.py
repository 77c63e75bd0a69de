"""Pod garbage collector end to end against the real API server: the terminated-pod threshold through
`python -m controllers --terminated-pod-gc-threshold`, and — in process with short periods, as kube's integration
tests shorten them — orphaned pods of a deleted node and unscheduled terminating pods."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from controllers.machinery.client import RESTClient
from controllers.machinery.controller import ControllerContext
from controllers.machinery.informer import SharedInformerFactory
from controllers.machinery.kubeconfig import load_kubeconfig
from controllers.machinery.resources import NODES, PODS
from controllers.options import ControllerManagerOptions
from controllers.podgc.controller import PodGCController
from tests.controllers.cluster import ControlPlane
from tests.controllers.fakenodes import FakeNodes

pytestmark = pytest.mark.e2e
DEADLINE_S = 90.0
FINALIZER = "example.com/hold"


def pod(name: str, finalizer: bool = False) -> dict[str, Any]:
    md: dict[str, Any] = {"name": name}
    if finalizer:
        md["finalizers"] = [FINALIZER]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md,
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}}


def names(cp: ControlPlane, ns: str) -> set[str]:
    items = json.loads(cp.kubectl("-n", ns, "get", "pods", "-o", "json").stdout)["items"]
    return {p["metadata"]["name"] for p in items}


def test_terminated_pods_beyond_the_threshold_go_oldest_first(control_plane: ControlPlane,
                                                               controller_manager: Callable[..., Any]) -> None:
    cp, ns = control_plane, "podgc-threshold"
    cp.create_namespace(ns)
    with FakeNodes(cp.admin_kubeconfig, namespaces={ns}) as nodes:
        for name in ("b", "c", "a"):  # creation order differs from name order (the tie-break)
            cp.kubectl("-n", ns, "apply", "-f", "-", stdin=json.dumps(pod(name)))
            time.sleep(1.05)  # not a wait: creationTimestamps have whole seconds, so the order needs distinct ones
        cp.kubectl("-n", ns, "run", "live", "--image=nginx")
        cp.wait(lambda: all(json.loads(cp.kubectl("-n", ns, "get", "pod", p, "-o", "json").stdout)
                            ["status"].get("phase") == "Running" for p in ("a", "b", "c", "live")),
                DEADLINE_S, "the pods running")
        for name in ("c", "a", "b"):
            nodes.complete(ns, name, "Failed" if name == "b" else "Succeeded")
        m = controller_manager("--controllers=podgc", "--terminated-pod-gc-threshold=1",
                               "--use-service-account-credentials=true", "--leader-elect=false")
        try:
            cp.wait(lambda: names(cp, ns) == {"a", "live"}, DEADLINE_S, "the two oldest terminated pods deleted")
        except AssertionError as e:
            raise AssertionError(f"{e}: {names(cp, ns)}\n{m.log()[-3000:]}") from None


async def _until(pred: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        got = await pred()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


def test_orphans_of_a_deleted_node_and_unscheduled_terminating_pods(control_plane: ControlPlane) -> None:
    cp, ns = control_plane, "podgc-orphans"
    cp.create_namespace(ns)

    async def main() -> None:
        client = RESTClient(load_kubeconfig(cp.admin_kubeconfig))
        factory = SharedInformerFactory(client)
        ctl = PodGCController(ControllerContext(client, factory, ControllerManagerOptions()),
                              check_period_s=0.2, quarantine_s=1.0)
        factory.start()
        runner = asyncio.ensure_future(ctl.run(1))
        try:
            await client.create(NODES, None, {"metadata": {"name": "ghost"}})
            for name in ("orphan", "unscheduled", "kept"):
                await client.create(PODS, ns, pod(name, finalizer=True))
            for name in ("orphan", "kept"):
                await client.request("POST", PODS.path(ns, name, "binding"), body={
                    "apiVersion": "v1", "kind": "Binding", "metadata": {"name": name},
                    "target": {"apiVersion": "v1", "kind": "Node", "name": "ghost" if name == "orphan" else "real"}})
            await client.create(NODES, None, {"metadata": {"name": "real"}})
            await client.delete(PODS, ns, "unscheduled")  # stays Terminating: its finalizer holds it
            await client.delete(NODES, None, "ghost")
            started = time.monotonic()

            async def failed(name: str) -> dict[str, Any] | None:
                p = await client.get(PODS, ns, name)
                return p if p["status"].get("phase") == "Failed" and p["metadata"].get("deletionTimestamp") else None
            orphan = await _until(lambda: failed("orphan"), "the orphan marked Failed and deleted")
            assert time.monotonic() - started >= 1.0, "deleted before the quarantine ended"
            [cond] = [c for c in orphan["status"]["conditions"] if c["type"] == "DisruptionTarget"]
            assert (cond["status"], cond["reason"], cond["message"]) == (
                "True", "DeletionByPodGC", "PodGC: node no longer exists")
            assert orphan["metadata"]["deletionGracePeriodSeconds"] == 0
            unscheduled = await _until(lambda: failed("unscheduled"), "the unscheduled terminating pod failed")
            assert not [c for c in unscheduled["status"].get("conditions") or [] if c["type"] == "DisruptionTarget"]
            passes = ctl.passes
            await _until(lambda: _at_least(ctl, passes + 3), "three more passes")
            kept = await client.get(PODS, ns, "kept")
            assert kept["status"].get("phase") != "Failed" and not kept["metadata"].get("deletionTimestamp")
        finally:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
            for name in ("orphan", "unscheduled", "kept"):
                await client.patch(PODS, ns, name, {"metadata": {"finalizers": None}}, "merge")
            await factory.stop()
            await client.close()
    asyncio.run(main())


async def _at_least(ctl: PodGCController, n: int) -> bool:
    return ctl.passes >= n


@pytest.mark.slow
def test_manager_force_deletes_orphans_after_the_real_quarantine(control_plane: ControlPlane,
                                                                 controller_manager: Callable[..., Any]) -> None:
    """The same as the in-process orphan test but through `python -m controllers` with kube's 20 s period and 40 s
    quarantine, as the pod-garbage-collector service account (its RBAC: get nodes, patch pods/status, delete)."""
    cp, ns = control_plane, "podgc-slow"
    cp.create_namespace(ns)
    cp.api("POST", "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "doomed"}})
    cp.api("POST", f"/api/v1/namespaces/{ns}/pods", pod("orphan", finalizer=True))
    cp.api("POST", f"/api/v1/namespaces/{ns}/pods/orphan/binding", {
        "apiVersion": "v1", "kind": "Binding", "metadata": {"name": "orphan"},
        "target": {"apiVersion": "v1", "kind": "Node", "name": "doomed"}})
    cp.api("DELETE", "/api/v1/nodes/doomed")
    m = controller_manager("--controllers=podgc", "--use-service-account-credentials=true", "--leader-elect=false")
    started = time.monotonic()
    try:
        got = cp.wait(lambda: (lambda p: p if p["metadata"].get("deletionTimestamp") else None)(
            cp.get(f"/api/v1/namespaces/{ns}/pods/orphan")), 100, "the orphan force-deleted")
    except AssertionError as e:
        raise AssertionError(f"{e}\n{m.log()[-3000:]}") from None
    finally:
        cp.api("PATCH", f"/api/v1/namespaces/{ns}/pods/orphan", {"metadata": {"finalizers": None}},
               "application/merge-patch+json")
    assert time.monotonic() - started >= 40
    assert got["status"]["phase"] == "Failed"
    assert [c["reason"] for c in got["status"]["conditions"] if c["type"] == "DisruptionTarget"] == ["DeletionByPodGC"]
