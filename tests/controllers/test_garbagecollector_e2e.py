"""The garbage collector in `python -m controllers` against the real API server, driven by kubectl.

The API server only records deletions and their finalizers; everything cascading here is the controller's work
(these scenarios ran against the API server's own collector before it moved out).
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator

import pytest

from tests.controllers.cluster import ControllerManager, ControlPlane
from tests.controllers.fakenodes import FakeNodes

pytestmark = pytest.mark.e2e
NS = "gc"
DEADLINE_S = 30.0
FLAGS = ("--controllers=garbagecollector", "--leader-elect=false", "--use-service-account-credentials=true")

OWNED = textwrap.dedent("""\
    apiVersion: apps/v1
    kind: ReplicaSet
    metadata:
      name: {name}
      namespace: gc
      labels: {{app: {name}}}
    spec:
      replicas: 0
      selector: {{matchLabels: {{app: {name}}}}}
      template:
        metadata: {{labels: {{app: {name}}}}}
        spec: {{containers: [{{name: c, image: nginx:1.25}}]}}
    """)


def pod(name: str, owners: list[dict[str, object]], finalizers: list[str] | None = None) -> str:
    md: dict[str, object] = {"name": name, "namespace": NS, "ownerReferences": owners}
    if finalizers:
        md["finalizers"] = finalizers
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": md,
                       "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]}})


@pytest.fixture(scope="module")
def gc(control_plane: ControlPlane) -> Iterator[ControllerManager]:
    control_plane.create_namespace(NS)
    m = control_plane.start_controller_manager(*FLAGS)
    control_plane.wait_for_log(m, "Caches are synced for garbagecollector", timeout=60)
    yield m
    m.stop()


def owner_ref(cp: ControlPlane, kind: str, name: str, block: bool = True) -> dict[str, object]:
    plural = {"ReplicaSet": "rs", "ConfigMap": "cm", "Pod": "pod"}[kind]
    uid = cp.kubectl("get", plural, name, "-n", NS, "-o", "jsonpath={.metadata.uid}").stdout
    return {"apiVersion": "apps/v1" if kind == "ReplicaSet" else "v1", "kind": kind, "name": name, "uid": uid,
            "controller": kind == "ReplicaSet", "blockOwnerDeletion": block}


def tree(cp: ControlPlane, name: str) -> None:
    """ReplicaSet <- two Pods <- a ConfigMap owned by the first pod (as the controllers would link them)."""
    cp.kubectl("create", "-f", "-", stdin=OWNED.format(name=name))
    rs = owner_ref(cp, "ReplicaSet", name)
    for i in (1, 2):
        cp.kubectl("create", "-f", "-", stdin=pod(f"{name}-p{i}", [rs]))
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": f"{name}-cm", "namespace": NS, "ownerReferences": [owner_ref(cp, "Pod", f"{name}-p1")]}}
    cp.kubectl("create", "-f", "-", stdin=json.dumps(cm))


def names(cp: ControlPlane, *kinds: str) -> list[str]:
    args = kinds if all("/" in k for k in kinds) else (",".join(kinds),)
    return cp.kubectl("get", *args, "-n", NS, "-o", "name", "--ignore-not-found").stdout.split()


def test_background_deletes_dependents_after_the_owner(control_plane, gc):
    cp = control_plane
    tree(cp, "bg")
    out = cp.kubectl("delete", "rs", "bg", "-n", NS, "--cascade=background").stdout.strip()
    assert out == 'replicaset.apps "bg" deleted'
    cp.kubectl("wait", "--for=delete", "pod/bg-p1", "pod/bg-p2", "cm/bg-cm", "-n", NS, f"--timeout={DEADLINE_S}s")


def test_foreground_deletes_dependents_first(control_plane, gc):
    cp = control_plane
    tree(cp, "fg")
    # Held by a finalizer of its own, one pod keeps the owner (blockOwnerDeletion) in deletion.
    cp.kubectl("patch", "pod", "fg-p2", "-n", NS, "--type=merge", "-p",
               '{"metadata":{"finalizers":["example.com/hold"]}}')
    cp.kubectl("delete", "rs", "fg", "-n", NS, "--cascade=foreground", "--wait=false")
    cp.wait(lambda: names(cp, "pod", "cm") == ["pod/fg-p2"], DEADLINE_S, "the other dependents deleted first")
    rs = json.loads(cp.kubectl("get", "rs", "fg", "-n", NS, "-o", "json").stdout)
    assert rs["metadata"]["finalizers"] == ["foregroundDeletion"] and rs["metadata"]["deletionTimestamp"]
    p2 = json.loads(cp.kubectl("get", "pod", "fg-p2", "-n", NS, "-o", "json").stdout)
    assert p2["metadata"]["deletionTimestamp"], "the blocking dependent is being deleted too"
    cp.kubectl("patch", "pod", "fg-p2", "-n", NS, "--type=merge", "-p", '{"metadata":{"finalizers":null}}')
    cp.kubectl("wait", "--for=delete", "rs/fg", "-n", NS, f"--timeout={DEADLINE_S}s")
    assert names(cp, "rs", "pod", "cm") == []


def test_foreground_with_kubectl_waiting(control_plane, gc):
    cp = control_plane
    tree(cp, "fw")
    out = cp.kubectl("delete", "rs", "fw", "-n", NS, "--cascade=foreground").stdout.strip()
    assert out == 'replicaset.apps "fw" deleted'  # kubectl waited for the owner, which waited for its dependents
    assert names(cp, "rs", "pod", "cm") == []


def test_orphan_strips_only_the_owners_references(control_plane, gc):
    cp = control_plane
    tree(cp, "or")
    cp.kubectl("delete", "rs", "or", "-n", NS, "--cascade=orphan")  # kubectl waits for the owner to go
    for p in ("or-p1", "or-p2"):
        got = json.loads(cp.kubectl("get", "pod", p, "-n", NS, "-o", "json").stdout)
        assert "ownerReferences" not in got["metadata"], "orphaned: the reference to the deleted owner is removed"
    cm = json.loads(cp.kubectl("get", "cm", "or-cm", "-n", NS, "-o", "json").stdout)
    assert cm["metadata"]["ownerReferences"][0]["name"] == "or-p1", "only the deleted owner's references go"
    cp.kubectl("delete", "pod", "or-p1", "or-p2", "-n", NS)
    cp.kubectl("wait", "--for=delete", "cm/or-cm", "-n", NS, f"--timeout={DEADLINE_S}s")


def test_a_surviving_owner_keeps_the_dependent_and_the_dangling_reference_goes(control_plane, gc):
    cp = control_plane
    for n in ("keep-a", "keep-b"):
        cp.kubectl("create", "cm", n, "-n", NS)
    refs = [owner_ref(cp, "ConfigMap", "keep-a", block=False), owner_ref(cp, "ConfigMap", "keep-b", block=False)]
    cp.kubectl("create", "-f", "-", stdin=pod("keep-p", refs))
    cp.kubectl("delete", "cm", "keep-a", "-n", NS)

    def only_b() -> bool:
        got = json.loads(cp.kubectl("get", "pod", "keep-p", "-n", NS, "-o", "json").stdout)
        return [r["name"] for r in got["metadata"].get("ownerReferences") or []] == ["keep-b"]
    cp.wait(only_b, DEADLINE_S, "the dangling reference to keep-a removed, the pod kept")


def test_a_reference_to_an_owner_that_never_existed_is_verified_then_collected(control_plane, gc):
    cp = control_plane
    cp.kubectl("create", "cm", "real", "-n", NS)
    ghost = {"apiVersion": "v1", "kind": "ConfigMap", "name": "real", "uid": "00000000-0000-0000-0000-00000000dead"}
    cp.kubectl("create", "-f", "-", stdin=pod("ghost-p", [ghost]))
    cp.kubectl("wait", "--for=delete", "pod/ghost-p", "-n", NS, f"--timeout={DEADLINE_S}s")
    assert names(cp, "cm/real") == ["configmap/real"], "a name match with another uid is not the owner"


def test_owner_in_another_namespace_is_reported(control_plane, gc):
    cp = control_plane
    cp.create_namespace("gc-other")
    cp.kubectl("create", "cm", "elsewhere", "-n", "gc-other")
    uid = cp.kubectl("get", "cm", "elsewhere", "-n", "gc-other", "-o", "jsonpath={.metadata.uid}").stdout
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "elsewhere", "uid": uid}
    cp.kubectl("create", "-f", "-", stdin=pod("cross-p", [ref]))
    cp.kubectl("wait", "--for=delete", "pod/cross-p", "-n", NS, f"--timeout={DEADLINE_S}s")

    def event() -> str:
        return cp.kubectl("get", "events", "-n", NS, "--field-selector", "reason=OwnerRefInvalidNamespace",
                          "-o", "jsonpath={.items[*].message}").stdout
    msg = cp.wait(event, DEADLINE_S, "an OwnerRefInvalidNamespace event")
    assert msg == (f"ownerRef [v1/ConfigMap, namespace: {NS}, name: elsewhere, uid: {uid}] does not exist in "
                   f'namespace "{NS}"')


def test_cascading_deletion_on_raftkv(raftkv_control_plane):
    """The three policies once more with raftkv (3 members, mTLS) as the store, as the API server's own suite
    ran them on both stores."""
    cp = raftkv_control_plane
    cp.create_namespace(NS)
    m = cp.start_controller_manager(*FLAGS)
    try:
        cp.wait_for_log(m, "Caches are synced for garbagecollector", timeout=60)
        for name in ("rbg", "rfg", "ror"):
            tree(cp, name)
        cp.kubectl("delete", "rs", "rbg", "-n", NS)
        cp.kubectl("delete", "rs", "rfg", "-n", NS, "--cascade=foreground")
        assert not [n for n in names(cp, "pod", "cm") if "/rfg-" in n], "foreground: dependents went first"
        cp.kubectl("delete", "rs", "ror", "-n", NS, "--cascade=orphan")
        cp.kubectl("wait", "--for=delete", "pod/rbg-p1", "pod/rbg-p2", "cm/rbg-cm", "-n", NS,
                   f"--timeout={DEADLINE_S}s")
        orphan = json.loads(cp.kubectl("get", "pod", "ror-p1", "-n", NS, "-o", "json").stdout)
        assert "ownerReferences" not in orphan["metadata"]
    finally:
        m.stop()


def test_with_the_replicaset_controller_and_running_pods(control_plane, gc):
    """Pods the ReplicaSet controller made, bound and running on fake nodes (deleted gracefully, finished by their
    "kubelet"): a background delete takes them all; an orphaned ReplicaSet's pods stay, unowned."""
    cp = control_plane
    rsm = cp.start_controller_manager("--controllers=replicaset", "--leader-elect=false",
                                      "--use-service-account-credentials=true")
    try:
        with FakeNodes(cp.admin_kubeconfig, ["gc-node-1"], namespaces={NS}):
            for name in ("web", "kept"):
                cp.kubectl("create", "-f", "-", stdin=OWNED.format(name=name).replace("replicas: 0", "replicas: 3"))
            def running(app: str) -> bool:
                items = cp.api("GET", f"/api/v1/namespaces/{NS}/pods?labelSelector=app%3D{app}")["items"]
                return len(items) == 3 and all(p["status"].get("phase") == "Running" for p in items)
            cp.wait(lambda: running("web") and running("kept"), DEADLINE_S, "3 running pods per ReplicaSet")
            cp.kubectl("delete", "rs", "web", "-n", NS)
            cp.wait(lambda: cp.api("GET", f"/api/v1/namespaces/{NS}/pods?labelSelector=app%3Dweb")["items"] == [],
                    DEADLINE_S, "the ReplicaSet's pods collected")
            cp.kubectl("delete", "rs", "kept", "-n", NS, "--cascade=orphan")
            kept = cp.api("GET", f"/api/v1/namespaces/{NS}/pods?labelSelector=app%3Dkept")["items"]
            assert len(kept) == 3 and not any(p["metadata"].get("ownerReferences") for p in kept)
            cp.kubectl("delete", "pod", "-l", "app=kept", "-n", NS)
    finally:
        rsm.stop()


def test_a_restart_mid_propagation_resumes_from_the_api(control_plane, gc):
    """Last in the module: it stops the module's collector."""
    cp = control_plane
    gc.stop()
    try:
        tree(cp, "rs1")
        cp.kubectl("delete", "rs", "rs1", "-n", NS, "--cascade=orphan", "--wait=false")
        tree(cp, "rs2")
        cp.kubectl("delete", "rs", "rs2", "-n", NS, "--cascade=foreground", "--wait=false")
        assert len(names(cp, "rs/rs1", "rs/rs2")) == 2, "nobody collects while the manager is down"
    finally:
        m = cp.start_controller_manager(*FLAGS)
        cp.wait_for_log(m, "Caches are synced for garbagecollector", timeout=60)
    cp.kubectl("wait", "--for=delete", "rs/rs1", "rs/rs2", "-n", NS, f"--timeout={DEADLINE_S}s")
    assert names(cp, "pod/rs1-p1", "pod/rs1-p2", "cm/rs1-cm") == ["pod/rs1-p1", "pod/rs1-p2", "configmap/rs1-cm"]
    assert not [n for n in names(cp, "pod", "cm") if n.startswith(("pod/rs2", "configmap/rs2"))]
    m.stop()
