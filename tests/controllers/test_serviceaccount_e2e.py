"""ServiceAccount controller and root-ca-cert-publisher end to end: `python -m controllers` against the real API
server, namespaces, accounts and ConfigMaps changed with real kubectl."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.controllers.cluster import ControllerManager, ControlPlane

pytestmark = pytest.mark.e2e
DEADLINE_S = 90.0
# The API server creates no ServiceAccount: here only the managers these tests start do.
BACKGROUND_CONTROLLERS: tuple[str, ...] = ()
BOOTSTRAP_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
DESCRIPTION = ("Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such "
               "as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across "
               "distributions of Kubernetes clusters.")


@pytest.fixture(scope="module")
def manager(control_plane: ControlPlane) -> Iterator[ControllerManager]:
    m = control_plane.start_controller_manager("--controllers=serviceaccount,root-ca-cert-publisher",
                                               f"--root-ca-file={control_plane.server.ca}",
                                               "--use-service-account-credentials=true", "--leader-elect=false")
    yield m
    m.stop()


def get_json(cp: ControlPlane, *args: str) -> Any:
    p = cp.kubectl(*args, "-o", "json", check=False)
    return json.loads(p.stdout) if p.returncode == 0 else None


def wait_for(cp: ControlPlane, m: ControllerManager, what: str, fn: Any) -> Any:
    try:
        return cp.wait(fn, DEADLINE_S, what)
    except AssertionError as e:
        raise AssertionError(f"{e}\n--- manager log:\n{m.log()[-3000:]}") from None


def test_pods_wait_for_the_controller_to_create_default(control_plane: ControlPlane,
                                                      controller_manager: Callable[..., ControllerManager]) -> None:
    """Runs first, before any manager: kube-apiserver creates no `default` account, neither in its bootstrap
    namespaces nor in new ones, and its ServiceAccount admission refuses pods until one exists (after retrying the
    lookup for a second or two); the controller manager's serviceaccount controller makes them."""
    cp = control_plane
    cp.create_namespace("no-sa-yet")
    for ns in (*BOOTSTRAP_NAMESPACES, "no-sa-yet"):
        assert cp.get(f"/api/v1/namespaces/{ns}/serviceaccounts/default") is None, ns
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
    r = cp.request("POST", "/api/v1/namespaces/no-sa-yet/pods", pod)
    assert (r.code, r.body["reason"]) == (403, "Forbidden"), r.body
    assert r.body["message"] == ('pods "p" is forbidden: error looking up service account no-sa-yet/default: '
                                 'serviceaccount "default" not found')
    m = controller_manager("--controllers=serviceaccount", "--leader-elect=false")
    for ns in (*BOOTSTRAP_NAMESPACES, "no-sa-yet"):
        wait_for(cp, m, f"the default ServiceAccount in {ns}",
                 lambda ns=ns: cp.get(f"/api/v1/namespaces/{ns}/serviceaccounts/default"))
    created = cp.api("POST", "/api/v1/namespaces/no-sa-yet/pods", pod)
    assert created["spec"]["serviceAccountName"] == "default"
    # a pod sent right after its namespace: the API server's retried lookup waits for the controller's account
    cp.create_namespace("sa-race")
    assert cp.api("POST", "/api/v1/namespaces/sa-race/pods", pod)["spec"]["serviceAccountName"] == "default"


def test_new_namespace_gets_default_account_and_root_ca_kept_correct(control_plane: ControlPlane,
                                                                     manager: ControllerManager) -> None:
    cp = control_plane
    with open(cp.server.ca) as f:
        bundle = f.read()
    cp.kubectl("create", "namespace", "team-a")
    sa = wait_for(cp, manager, "the default ServiceAccount", lambda: get_json(cp, "-n", "team-a", "get", "sa", "default"))
    cm = wait_for(cp, manager, "kube-root-ca.crt",
                  lambda: get_json(cp, "-n", "team-a", "get", "configmap", "kube-root-ca.crt"))
    assert cm["data"] == {"ca.crt": bundle}
    assert cm["metadata"]["annotations"]["kubernetes.io/description"] == DESCRIPTION

    cp.kubectl("-n", "team-a", "delete", "sa", "default")
    again = wait_for(cp, manager, "the default ServiceAccount recreated",
                     lambda: (lambda s: s if s and s["metadata"]["uid"] != sa["metadata"]["uid"] else None)(
                         get_json(cp, "-n", "team-a", "get", "sa", "default")))
    assert again["metadata"]["name"] == "default"

    cp.kubectl("-n", "team-a", "patch", "configmap", "kube-root-ca.crt", "--type=merge",
               "-p", '{"data":{"ca.crt":"forged","extra":"x"},"metadata":{"annotations":{"kubernetes.io/description":null,"mine":"kept"}}}')
    fixed = wait_for(cp, manager, "the bundle put back", lambda: (lambda c: c if c and c["data"] == {"ca.crt": bundle}
                                                                  else None)(
        get_json(cp, "-n", "team-a", "get", "configmap", "kube-root-ca.crt")))
    assert fixed["metadata"]["annotations"] == {"kubernetes.io/description": DESCRIPTION, "mine": "kept"}

    uid = fixed["metadata"]["uid"]
    cp.kubectl("-n", "team-a", "delete", "configmap", "kube-root-ca.crt")
    wait_for(cp, manager, "kube-root-ca.crt recreated",
             lambda: (lambda c: c if c and c["metadata"]["uid"] != uid and c["data"] == {"ca.crt": bundle} else None)(
                 get_json(cp, "-n", "team-a", "get", "configmap", "kube-root-ca.crt")))


def test_existing_namespaces_get_the_configmap_at_start(control_plane: ControlPlane,
                                                        manager: ControllerManager) -> None:
    cp = control_plane
    for ns in ("default", "kube-system", "kube-public"):
        wait_for(cp, manager, f"kube-root-ca.crt in {ns}",
                 lambda ns=ns: get_json(cp, "-n", ns, "get", "configmap", "kube-root-ca.crt"))


def test_no_default_account_in_a_terminating_namespace(control_plane: ControlPlane,
                                                       manager: ControllerManager) -> None:
    """The system's behaviour, two guards deep: the controller skips namespaces that are not Active (the core's
    tests pin that), and NamespaceLifecycle would refuse the create anyway — which the adapter must then take
    quietly rather than retry forever."""
    cp = control_plane
    for ns in ("doomed", "alive"):
        cp.kubectl("create", "namespace", ns)
        wait_for(cp, manager, f"the default ServiceAccount in {ns}",
                 lambda ns=ns: get_json(cp, "-n", ns, "get", "sa", "default"))
    # a finalizer no one removes keeps the namespace Terminating (no namespace controller runs here either)
    cp.kubectl("-n", "doomed", "create", "configmap", "held")
    cp.kubectl("-n", "doomed", "patch", "configmap", "held", "--type=merge",
               "-p", '{"metadata":{"finalizers":["example.com/hold"]}}')
    cp.kubectl("delete", "namespace", "doomed", "--wait=false")
    wait_for(cp, manager, "doomed Terminating",
             lambda: (get_json(cp, "get", "namespace", "doomed") or {}).get("status", {}).get("phase") == "Terminating")
    cp.kubectl("-n", "doomed", "delete", "sa", "default")
    old = get_json(cp, "-n", "alive", "get", "sa", "default")["metadata"]["uid"]
    cp.kubectl("-n", "alive", "delete", "sa", "default")
    # one worker, keys in event order: once alive's account is back, doomed's key was handled too
    wait_for(cp, manager, "alive's default ServiceAccount recreated",
             lambda: (lambda s: s and s["metadata"]["uid"] != old)(get_json(cp, "-n", "alive", "get", "sa", "default")))
    assert get_json(cp, "-n", "doomed", "get", "sa", "default") is None
    cp.kubectl("-n", "doomed", "patch", "configmap", "held", "--type=merge", "-p", '{"metadata":{"finalizers":null}}')
