"""The controller manager's command line and start-up: kube's --controllers syntax, durations, concurrency flags,
controllers not built yet, --use-service-account-credentials identities, /healthz."""

from __future__ import annotations

import asyncio
import importlib.util
import ssl
import subprocess
import sys
import urllib.request
from typing import Any

import pytest

from controllers.machinery.resources import SERVICEACCOUNTS, Resource
from controllers.manager import Manager, client_config
from controllers.options import (
    CONCURRENCY_FLAGS,
    SERVICE_ACCOUNTS,
    ControllerSelectionError,
    parse_controllers,
    parse_duration,
    parse_options,
)
from controllers.registry import CONTROLLERS
from tests.conftest import free_port, wait_for
from tests.controllers.cluster import ROOT, ControlPlane

SELF_SUBJECT_REVIEWS = Resource("authentication.k8s.io", "v1", "selfsubjectreviews", "SelfSubjectReview",
                                namespaced=False)


@pytest.mark.unit
def test_controllers_flag_follows_kube_syntax() -> None:
    default = parse_controllers(["*"])
    assert all(default.is_enabled(n) for n in CONTROLLERS) and not default.explicit("replicaset")
    sel = parse_controllers(["*,-job", "deployment"])
    assert not sel.is_enabled("job") and sel.is_enabled("cronjob") and sel.explicit("deployment")
    only = parse_controllers(["replicaset,deployment"])
    assert only.is_enabled("replicaset") and not only.is_enabled("job")
    with pytest.raises(ControllerSelectionError, match="'nope' is not in the list of known controllers"):
        parse_controllers(["*,nope"])


@pytest.mark.unit
def test_durations_and_leader_election_defaults() -> None:
    assert [parse_duration(t) for t in ("15s", "1m30s", "500ms", "2h", "3")] == [15, 90, 0.5, 7200, 3]
    o = parse_options(["--kubeconfig", "k"])
    assert (o.leader_elect, o.leader_elect_lease_duration, o.leader_elect_renew_deadline,
            o.leader_elect_retry_period) == (True, 15, 10, 2)
    assert (o.leader_elect_resource_namespace, o.leader_elect_resource_name) == ("kube-system",
                                                                                   "kube-controller-manager")
    assert (o.kube_api_qps, o.kube_api_burst, o.node_monitor_grace_period) == (20, 30, 40)
    assert o.workers("replicaset") == 5 and o.workers("daemonset") == 2 and o.workers("podgc") == 1
    o = parse_options(["--kubeconfig", "k", "--concurrent-replicaset-syncs", "9", "--leader-elect=false",
                       "--node-monitor-grace-period", "1m"])
    assert o.workers("replicaset") == 9 and o.concurrent_replicaset_syncs == 9 and not o.leader_elect
    assert o.node_monitor_grace_period == 60
    assert set(CONCURRENCY_FLAGS) <= set(CONTROLLERS) and set(SERVICE_ACCOUNTS) == set(CONTROLLERS)


@pytest.mark.unit
@pytest.mark.parametrize("argv, message", [
    (["--kubeconfig", "k", "--controllers", "bogus"], "'bogus' is not in the list of known controllers"),
    (["--kubeconfig", "k", "--leader-elect-lease-duration", "5s", "--leader-elect-renew-deadline", "5s"],
     "leaseDuration must be greater than renewDeadline"),
    (["--kubeconfig", "k", "--leader-elect-renew-deadline", "2s", "--leader-elect-retry-period", "2s"],
     "renewDeadline must be greater than retryPeriod"),
    (["--leader-elect-lease-duration", "xyz"], "invalid duration"),
    (["--kubeconfig", "/nonexistent/kubeconfig", "--secure-port=0"], "cannot read kubeconfig /nonexistent/kubeconfig"),
])
def test_bad_flags_are_refused_at_start(argv: list[str], message: str) -> None:
    p = subprocess.run([sys.executable, "-m", "controllers", *argv], cwd=ROOT, capture_output=True, text=True,
                       timeout=60)
    assert p.returncode in (1, 2) and message in p.stderr, p.stderr


def _unbuilt() -> str | None:
    for name, target in CONTROLLERS.items():
        module = target.partition(":")[0]
        try:
            if importlib.util.find_spec(module) is None:
                return name
        except ModuleNotFoundError:
            return name
    return None


@pytest.mark.e2e
def test_a_controller_named_explicitly_must_exist(control_plane: ControlPlane, controller_manager: Any) -> None:
    name = _unbuilt()
    if name is None:
        pytest.skip("every registered controller is built")
    m = controller_manager(f"--controllers={name}", "--leader-elect=false")
    assert m.wait_exit(60) == 2
    assert f"controller {name} is not built yet" in m.log()


@pytest.mark.e2e
def test_service_account_credentials_give_each_controller_its_own_identity(control_plane: ControlPlane) -> None:
    async def main() -> None:
        o = parse_options(["--kubeconfig", control_plane.kcm_kubeconfig, "--use-service-account-credentials"])
        mgr = Manager(o, client_config(o))
        try:
            for ctrl in ("replicaset", "nodelifecycle"):
                client = mgr.client_for(ctrl)
                review = await client.create(SELF_SUBJECT_REVIEWS, None,
                                             {"apiVersion": "authentication.k8s.io/v1",
                                              "kind": "SelfSubjectReview"})
                user = review["status"]["userInfo"]
                assert user["username"] == f"system:serviceaccount:kube-system:{SERVICE_ACCOUNTS[ctrl]}"
                assert "system:serviceaccounts:kube-system" in user["groups"]
                sa = await mgr.root.get(SERVICEACCOUNTS, "kube-system", SERVICE_ACCOUNTS[ctrl])
                assert sa["metadata"]["name"] == SERVICE_ACCOUNTS[ctrl]
            # The service account is deleted and made again: its old token is refused (401) and renewed once.
            client = mgr.client_for("replicaset")
            await client.create(SELF_SUBJECT_REVIEWS, None, {"kind": "SelfSubjectReview",
                                                             "apiVersion": "authentication.k8s.io/v1"})
            control_plane.api("DELETE", f"/api/v1/namespaces/kube-system/serviceaccounts/{SERVICE_ACCOUNTS['replicaset']}")
            review = await client.create(SELF_SUBJECT_REVIEWS, None, {"kind": "SelfSubjectReview",
                                                                      "apiVersion": "authentication.k8s.io/v1"})
            assert review["status"]["userInfo"]["username"].endswith(":replicaset-controller")
            assert client.token_source is not None and client.token_source.fetches == 2  # type: ignore[attr-defined]
            plain = Manager(parse_options(["--kubeconfig", control_plane.kcm_kubeconfig]), mgr.config)
            review = await plain.client_for("replicaset").create(SELF_SUBJECT_REVIEWS, None,
                                                                 {"kind": "SelfSubjectReview",
                                                                  "apiVersion": "authentication.k8s.io/v1"})
            assert review["status"]["userInfo"]["username"] == "system:kube-controller-manager"
            await plain.close()
        finally:
            await mgr.close()
    asyncio.run(main())


@pytest.mark.e2e
def test_healthz_is_served_on_the_secure_port(control_plane: ControlPlane, controller_manager: Any) -> None:
    port = free_port()
    m = controller_manager("--leader-elect=false", f"--secure-port={port}", "--bind-address=127.0.0.1",
                           "--controllers=*")
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # a self-signed serving certificate, as kube-controller-manager makes

    def healthy() -> bool:
        assert m.alive(), m.log()
        with urllib.request.urlopen(f"https://127.0.0.1:{port}/healthz", context=ctx, timeout=2) as r:
            return r.read() == b"ok"
    wait_for(healthy, 30, "/healthz")


@pytest.mark.e2e
def test_the_manager_runs_a_built_controller_under_rbac(control_plane: ControlPlane, controller_manager: Any) -> None:
    """With the kubeadm flags (leader election, service account credentials) a ReplicaSet gets its pods: the whole
    chain — lease, per-controller tokens, RBAC, informers, queue, executor — works in one process."""
    if importlib.util.find_spec("controllers.replicaset.controller") is None:
        pytest.skip("the replicaset controller is not built yet")
    cp = control_plane
    cp.create_namespace("mgr-rs")
    m = controller_manager("--controllers=replicaset", "--leader-elect=true",
                           "--leader-elect-resource-namespace=mgr-rs")
    cp.wait_for_log(m, "Caches are synced for replicaset", timeout=60)
    cp.api("POST", "/apis/apps/v1/namespaces/mgr-rs/replicasets", {
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})
    cp.wait(lambda: (cp.get("/apis/apps/v1/namespaces/mgr-rs/replicasets/web").get("status") or {})
            .get("replicas") == 3, 30, "status.replicas == 3")
    pods = cp.get("/api/v1/namespaces/mgr-rs/pods")["items"]
    assert len(pods) == 3 and all(p["metadata"]["ownerReferences"][0]["name"] == "web" for p in pods)
    assert "error syncing" not in m.log()


@pytest.mark.unit
def test_unbuilt_controllers_are_skipped_under_star_and_fatal_when_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from controllers import manager as manager_module
    from controllers.machinery.kubeconfig import ClientConfig
    from controllers.manager import ControllerStartError
    fake = {"replicaset": "controllers.does_not_exist.controller:new_controller",
            "broken": "controllers.machinery.resources:no_such_function"}
    monkeypatch.setattr(manager_module, "CONTROLLERS", fake)
    known = frozenset(fake)

    def build(*names: str) -> Manager:
        o = parse_options(["--kubeconfig", "k"])
        o.controllers = parse_controllers(list(names), known)
        mgr = Manager(o, ClientConfig(server="https://127.0.0.1:1"))
        mgr.build_controllers()
        return mgr
    assert build("*").skipped == ["replicaset", "broken"]
    assert build("*", "-replicaset").skipped == ["broken"]
    with pytest.raises(ControllerStartError, match="controller replicaset is not built yet"):
        build("replicaset")
