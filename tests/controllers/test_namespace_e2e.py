"""The namespace controller in `python -m controllers` against the real API server, with kubectl."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.controllers.cluster import ControllerManager, ControlPlane

pytestmark = pytest.mark.e2e
DEADLINE_S = 30.0
FLAGS = ("--controllers=namespace", "--leader-elect=false", "--use-service-account-credentials=true")


@pytest.fixture(scope="module")
def nsc(control_plane: ControlPlane) -> Iterator[ControllerManager]:
    m = control_plane.start_controller_manager(*FLAGS)
    control_plane.wait_for_log(m, "Caches are synced for namespace", timeout=60)
    yield m
    m.stop()


def fill(cp: ControlPlane, ns: str, pod: bool = True) -> None:
    cp.kubectl("create", "ns", ns)
    cp.kubectl("create", "cm", "c1", "--from-literal=a=b", "-n", ns)
    cp.kubectl("create", "secret", "generic", "s1", "--from-literal=pw=hunter2", "-n", ns)
    cp.kubectl("create", "sa", "robot", "-n", ns)
    cp.kubectl("create", "deployment", "d1", "--image=nginx:1.25", "-n", ns)
    if pod:  # pods make the controller wait for their grace period once (1.32's estimate), which costs seconds
        cp.kubectl("run", "p1", "--image=nginx:1.25", "-n", ns)


def test_delete_namespace_removes_its_content_then_itself(control_plane, nsc):
    cp = control_plane
    fill(cp, "doomed")
    # kubectl waits for the namespace to disappear, which needs the controller to empty and finalize it.
    assert cp.kubectl("delete", "ns", "doomed").stdout.strip() == 'namespace "doomed" deleted'
    assert cp.get("/api/v1/namespaces/doomed") is None
    for path in ("configmaps", "secrets", "serviceaccounts", "pods"):
        assert cp.api("GET", f"/api/v1/namespaces/doomed/{path}")["items"] == [], path
    assert cp.api("GET", "/apis/apps/v1/namespaces/doomed/deployments")["items"] == []


def test_content_held_by_a_finalizer_keeps_the_namespace_with_1_32_conditions(control_plane, nsc):
    cp = control_plane
    cp.kubectl("create", "ns", "held")
    for n in ("h1", "h2"):
        cp.api("POST", "/api/v1/namespaces/held/configmaps",
               {"metadata": {"name": n, "finalizers": ["example.com/hold"]}})
    cp.kubectl("create", "secret", "generic", "gone", "--from-literal=a=b", "-n", "held")
    cp.kubectl("delete", "ns", "held", "--wait=false")

    def conditions() -> dict[str, tuple[str, str, str]] | None:
        ns = cp.get("/api/v1/namespaces/held") or {}
        got = {c["type"]: (c["status"], c["reason"], c["message"]) for c in ns.get("status", {}).get("conditions", [])}
        return got if got.get("NamespaceContentRemaining", ("",))[0] == "True" else None
    got = cp.wait(conditions, DEADLINE_S, "the namespace's deletion conditions")
    assert got == {
        "NamespaceDeletionDiscoveryFailure": ("False", "ResourcesDiscovered", "All resources successfully discovered"),
        "NamespaceDeletionGroupVersionParsingFailure": ("False", "ParsedGroupVersions",
                                                        "All legacy kube types successfully parsed"),
        "NamespaceDeletionContentFailure": ("False", "ContentDeleted",
                                            "All content successfully deleted, may be waiting on finalization"),
        "NamespaceContentRemaining": ("True", "SomeResourcesRemain",
                                      "Some resources are remaining: configmaps. has 2 resource instances"),
        "NamespaceFinalizersRemaining": ("True", "SomeFinalizersRemain", "Some content in the namespace has "
                                         "finalizers remaining: example.com/hold in 2 resource instances"),
    }
    ns = cp.get("/api/v1/namespaces/held")
    assert ns["status"]["phase"] == "Terminating" and ns["spec"]["finalizers"] == ["kubernetes"]
    assert cp.get("/api/v1/namespaces/held/secrets/gone") is None, "what could go, went"
    described = cp.kubectl("describe", "ns", "held").stdout
    assert "SomeResourcesRemain" in described and "Terminating" in described
    for n in ("h1", "h2"):
        cp.kubectl("patch", "cm", n, "-n", "held", "--type=merge", "-p", '{"metadata":{"finalizers":null}}')
    cp.wait(lambda: cp.get("/api/v1/namespaces/held") is None, DEADLINE_S, "the namespace gone once emptied")


def test_finalize_subresource_writes_only_the_finalizers(control_plane):
    """API-server side (no controller needed): /finalize writes spec.finalizers but not the status, the main
    endpoint cannot change them, and a deleted namespace whose finalizers are all gone is removed on that write."""
    cp = control_plane
    cp.kubectl("create", "ns", "fin")
    ns = cp.api("GET", "/api/v1/namespaces/fin")
    assert ns["spec"]["finalizers"] == ["kubernetes"]
    body = json.loads(json.dumps(ns))
    body["spec"]["finalizers"] = ["kubernetes", "example.com/x"]
    body["status"] = {"phase": "Terminating"}
    out = cp.api("PUT", "/api/v1/namespaces/fin/finalize", body)
    assert out["spec"]["finalizers"] == ["kubernetes", "example.com/x"] and out["status"]["phase"] == "Active"
    patched = cp.api("PATCH", "/api/v1/namespaces/fin", {"spec": {"finalizers": []}}, "application/merge-patch+json")
    assert patched["spec"]["finalizers"] == ["kubernetes", "example.com/x"], "the main endpoint cannot change them"
    cp.kubectl("delete", "ns", "fin", "--wait=false")
    held = cp.api("GET", "/api/v1/namespaces/fin")
    held["spec"]["finalizers"] = []
    cp.api("PUT", "/api/v1/namespaces/fin/finalize", held)
    assert cp.get("/api/v1/namespaces/fin") is None


def test_delete_namespace_on_raftkv(raftkv_control_plane):
    """Once more with raftkv (3 members, mTLS) as the store, as the API server's suite checked both stores."""
    cp = raftkv_control_plane
    m = cp.start_controller_manager(*FLAGS)
    try:
        cp.wait_for_log(m, "Caches are synced for namespace", timeout=60)
        fill(cp, "gen", pod=False)
        assert cp.kubectl("delete", "ns", "gen").stdout.strip() == 'namespace "gen" deleted'
        leftovers = cp.kubectl("get", "cm,secret,sa,deploy", "-n", "gen", "-o", "name").stdout.split()
        assert leftovers == [], "deleting a namespace deletes its contents"
        assert cp.get("/api/v1/namespaces/gen") is None
    finally:
        m.stop()
