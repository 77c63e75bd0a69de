"""The disruption controller and the API server's PDB-aware eviction end to end: `python -m controllers
--controllers=disruption` keeps a PodDisruptionBudget's status, and the real `kubectl drain` of a (fake) node is held
by it exactly as on a real cluster — it evicts what the budget allows and retries the rest with kube's text."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.controllers.cluster import ControlPlane
from tests.controllers.fakenodes import FakeNodes

pytestmark = pytest.mark.e2e
DEADLINE_S = 60.0
NS = "drain"
NODE = "drain-node"
RETRY = '-n "drain" (will retry after 5s): Cannot evict pod as it would violate the pod\'s disruption budget.'


def pod(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}], "terminationGracePeriodSeconds": 0}}


def pdb(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec}}


def status(cp: ControlPlane, name: str) -> dict[str, Any]:
    return json.loads(cp.kubectl("-n", NS, "get", "pdb", name, "-o", "json").stdout).get("status") or {}


def live_pods(cp: ControlPlane) -> set[str]:
    items = json.loads(cp.kubectl("-n", NS, "get", "pods", "-o", "json").stdout)["items"]
    return {p["metadata"]["name"] for p in items if not p["metadata"].get("deletionTimestamp")}


def test_drain_is_held_by_the_budget(control_plane: ControlPlane, controller_manager: Callable[..., Any]) -> None:
    cp = control_plane
    cp.create_namespace(NS)
    with FakeNodes(cp.admin_kubeconfig, [NODE], namespaces={NS}):
        for name in ("web-0", "web-1", "web-2"):
            cp.kubectl("-n", NS, "apply", "-f", "-", stdin=json.dumps(pod(name)))
        cp.kubectl("-n", NS, "apply", "-f", "-", stdin=json.dumps(pdb("web", minAvailable=2)))
        m = controller_manager("--controllers=disruption", "--leader-elect=false")
        try:
            cp.wait(lambda: status(cp, "web").get("disruptionsAllowed") == 1, DEADLINE_S, "one disruption allowed")
        except AssertionError as e:
            raise AssertionError(f"{e}: {status(cp, 'web')}\n{m.log()[-3000:]}") from None
        st = status(cp, "web")
        assert (st["currentHealthy"], st["desiredHealthy"], st["expectedPods"], st["observedGeneration"]) == (3, 2, 3,
                                                                                                              1)
        assert [(c["type"], c["status"], c["reason"]) for c in st["conditions"]] == [
            ("DisruptionAllowed", "True", "SufficientPods")]
        header, row = cp.kubectl("-n", NS, "get", "pdb").stdout.splitlines()
        assert header.split() == ["NAME", "MIN", "AVAILABLE", "MAX", "UNAVAILABLE", "ALLOWED", "DISRUPTIONS", "AGE"]
        assert row.split()[:4] == ["web", "2", "N/A", "1"]

        drain = cp.kubectl("drain", NODE, "--force", "--timeout=8s", "--pod-selector=app=web", check=False)
        assert drain.returncode != 0, drain.stdout
        assert f"node/{NODE} cordoned" in drain.stdout
        assert drain.stdout.count("evicted") == 1, drain.stdout
        refused = [line for line in drain.stderr.splitlines() if "will retry" in line]
        assert refused and f'error: unable to drain node "{NODE}"' in drain.stderr, drain.stderr
        assert all(line.startswith('error when evicting pods/"web-') and line.endswith(RETRY) for line in refused), \
            refused
        assert len(live_pods(cp)) == 2
        cp.wait(lambda: status(cp, "web").get("currentHealthy") == 2 and "disruptedPods" not in status(cp, "web"),
                DEADLINE_S, "the evicted pod gone from the budget")
        assert status(cp, "web")["disruptionsAllowed"] == 0
        assert [(c["status"], c["reason"]) for c in status(cp, "web")["conditions"]] == [("False", "InsufficientPods")]

        # a second budget over the same pods: the eviction subresource refuses with kube's 500
        cp.kubectl("-n", NS, "apply", "-f", "-", stdin=json.dumps(pdb("web-too", maxUnavailable="50%")))
        victim = sorted(live_pods(cp))[0]
        r = cp.request("POST", f"/api/v1/namespaces/{NS}/pods/{victim}/eviction",
                       {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": victim, "namespace": NS}})
        assert r.code == 500, r.body
        assert r.body["message"] == ("This pod has more than one PodDisruptionBudget, which the eviction "
                                                 "subresource does not support.")
        cp.kubectl("-n", NS, "delete", "pdb", "web-too")
        # a looser budget lets the drain finish
        cp.kubectl("-n", NS, "patch", "pdb", "web", "--type=merge", "-p", '{"spec": {"minAvailable": 0}}')
        cp.wait(lambda: status(cp, "web").get("observedGeneration") == 2
                and status(cp, "web").get("disruptionsAllowed") == 2, DEADLINE_S, "two disruptions allowed")
        done = cp.kubectl("drain", NODE, "--force", "--timeout=30s", "--pod-selector=app=web", check=False)
        assert done.returncode == 0, done.stderr
        assert f"node/{NODE} drained" in done.stdout
        cp.wait(lambda: not live_pods(cp), DEADLINE_S, "every pod evicted")
