"""The Deployment controller end to end: `python -m controllers` (deployment + replicaset) against the real API
server, driven with real kubectl (apply, set image, rollout status|history|undo|pause|resume|restart), pods made
Ready by the fake nodes."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from controllers.deployment.util import DESIRED_REPLICAS, MAX_REPLICAS, REVISION, REVISION_HISTORY
from tests.controllers.cluster import ControllerManager, ControlPlane
from tests.controllers.fakenodes import Decision, FakeNodes

pytestmark = pytest.mark.e2e
# a quota is enforced once the resourcequota controller has written its status
BACKGROUND_CONTROLLERS = ("serviceaccount", "resourcequota")
DEADLINE_S = 60.0
HASH = re.compile(r"[bcdfghjklmnpqrstvwxz2456789]{1,10}")

DEPLOY = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  revisionHistoryLimit: %(history)d
  progressDeadlineSeconds: %(deadline)d
  strategy: %(strategy)s
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: "nginx:1.25"}]}
"""


def manifest(strategy: str = "{type: RollingUpdate}", history: int = 10, deadline: int = 600) -> str:
    return DEPLOY % {"strategy": strategy, "history": history, "deadline": deadline}


@pytest.fixture(scope="module")
def manager(control_plane: ControlPlane) -> Iterator[ControllerManager]:
    m = control_plane.start_controller_manager("--controllers=replicaset,deployment", "--leader-elect=false",
                                               "--use-service-account-credentials=true")
    yield m
    m.stop()


@pytest.fixture
def ns(control_plane: ControlPlane, request: pytest.FixtureRequest) -> str:
    name = "d-" + request.node.name.replace("_", "-")[5:45].strip("-")
    control_plane.create_namespace(name)
    return name


def broken_image_unready(pod: dict[str, Any]) -> Decision:
    images = {c.get("image") for c in pod.get("spec", {}).get("containers", [])}
    return "unready" if "nginx:broken" in images else "run"


@pytest.fixture
def nodes(control_plane: ControlPlane, ns: str) -> Iterator[FakeNodes]:
    with FakeNodes(control_plane.admin_kubeconfig, namespaces={ns}, policy=broken_image_unready) as fake:
        yield fake


def get(cp: ControlPlane, ns: str, *what: str) -> Any:
    return json.loads(cp.kubectl("-n", ns, "get", *what, "-o", "json").stdout)


def replicasets(cp: ControlPlane, ns: str) -> dict[str, dict[str, Any]]:
    return {rs["metadata"]["name"]: rs for rs in get(cp, ns, "rs")["items"]}


def rollout_status(cp: ControlPlane, ns: str) -> str:
    p = cp.kubectl("-n", ns, "rollout", "status", "deploy/web", f"--timeout={int(DEADLINE_S)}s")
    return p.stdout


def condition(d: dict[str, Any], ctype: str) -> dict[str, Any]:
    [c] = [c for c in d["status"].get("conditions", []) if c["type"] == ctype]
    return c


def messages(cp: ControlPlane, ns: str) -> list[str]:
    items = get(cp, ns, "events", "--field-selector", "involvedObject.kind=Deployment")["items"]
    items.sort(key=lambda e: int(e["metadata"]["resourceVersion"]))  # creation order, for events never combined
    return [e["message"] for e in items if e["reason"] == "ScalingReplicaSet"]


def wait(cp: ControlPlane, pred: Callable[[], Any], what: str) -> Any:
    return cp.wait(pred, DEADLINE_S, what)


def test_rollout_set_image_history_and_undo(control_plane: ControlPlane, manager: ControllerManager, ns: str,
                                            nodes: FakeNodes) -> None:
    cp = control_plane
    cp.kubectl("-n", ns, "apply", "-f", "-", stdin=manifest())
    assert 'deployment "web" successfully rolled out' in rollout_status(cp, ns)
    d = get(cp, ns, "deploy", "web")
    [first] = replicasets(cp, ns).values()
    name = first["metadata"]["name"]
    pod_hash = name.removeprefix("web-")
    assert HASH.fullmatch(pod_hash), name
    assert first["metadata"]["labels"] == {"app": "web", "pod-template-hash": pod_hash}
    assert first["spec"]["selector"] == {"matchLabels": {"app": "web", "pod-template-hash": pod_hash}}
    assert first["spec"]["template"]["metadata"]["labels"] == {"app": "web", "pod-template-hash": pod_hash}
    ann = first["metadata"]["annotations"]
    assert (ann[REVISION], ann[DESIRED_REPLICAS], ann[MAX_REPLICAS]) == ("1", "3", "4")
    [ref] = first["metadata"]["ownerReferences"]
    assert ref == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": d["metadata"]["uid"],
                   "controller": True, "blockOwnerDeletion": True}
    assert d["metadata"]["annotations"][REVISION] == "1"
    status = d["status"]
    assert (status["replicas"], status["updatedReplicas"], status["readyReplicas"], status["availableReplicas"],
            status["observedGeneration"]) == (3, 3, 3, 3, d["metadata"]["generation"])
    assert "unavailableReplicas" not in status
    available, progressing = condition(d, "Available"), condition(d, "Progressing")
    assert (available["status"], available["reason"], available["message"]) == (
        "True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
    assert (progressing["status"], progressing["reason"], progressing["message"]) == (
        "True", "NewReplicaSetAvailable", f'ReplicaSet "{name}" has successfully progressed.')
    pods = get(cp, ns, "pods", "-l", f"pod-template-hash={pod_hash}")["items"]
    assert len(pods) == 3

    cp.kubectl("-n", ns, "set", "image", "deploy/web", "c=nginx:1.26")
    assert 'deployment "web" successfully rolled out' in rollout_status(cp, ns)
    # annotations of the Deployment are copied to its new set only (the old one keeps its history)
    cp.kubectl("-n", ns, "annotate", "deploy/web", "kubernetes.io/change-cause=image 1.26")
    wait(cp, lambda: any(rs["metadata"]["annotations"].get("kubernetes.io/change-cause")
                         for rs in replicasets(cp, ns).values()), "the change-cause copied")
    sets = replicasets(cp, ns)
    [second] = [rs for n, rs in sets.items() if n != name]
    second_name = second["metadata"]["name"]
    assert second["metadata"]["annotations"][REVISION] == "2"
    assert second["metadata"]["annotations"]["kubernetes.io/change-cause"] == "image 1.26"
    assert sets[name]["spec"]["replicas"] == 0 and second["spec"]["replicas"] == 3
    msgs = messages(cp, ns)
    assert f"Scaled up replica set {name} from 0 to 3" in msgs
    assert f"Scaled up replica set {second_name} from 0 to 1" in msgs
    assert any(re.fullmatch(rf"(\(combined from similar events\): )?Scaled down replica set {name} from 1 to 0", m)
               for m in msgs), msgs
    history = cp.kubectl("-n", ns, "rollout", "history", "deploy/web").stdout
    assert re.search(r"^1\s+<none>$", history, re.M) and re.search(r"^2\s+image 1\.26$", history, re.M), history

    cp.kubectl("-n", ns, "rollout", "undo", "deploy/web")
    assert 'deployment "web" successfully rolled out' in rollout_status(cp, ns)
    sets = replicasets(cp, ns)
    assert set(sets) == {name, second_name}  # the first set is reused, not a third one made
    assert sets[name]["spec"]["replicas"] == 3 and sets[second_name]["spec"]["replicas"] == 0
    assert sets[name]["metadata"]["annotations"][REVISION] == "3"
    assert sets[name]["metadata"]["annotations"][REVISION_HISTORY] == "1"
    d = get(cp, ns, "deploy", "web")
    assert d["metadata"]["annotations"][REVISION] == "3"
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.25"
    history = cp.kubectl("-n", ns, "rollout", "history", "deploy/web").stdout
    assert re.search(r"^2\s+image 1\.26$", history, re.M) and re.search(r"^3\s+<none>$", history, re.M), history


def test_pause_resume_restart_and_scale(control_plane: ControlPlane, manager: ControllerManager, ns: str,
                                        nodes: FakeNodes) -> None:
    cp = control_plane
    cp.kubectl("-n", ns, "apply", "-f", "-", stdin=manifest())
    rollout_status(cp, ns)
    cp.kubectl("-n", ns, "rollout", "pause", "deploy/web")
    wait(cp, lambda: condition(get(cp, ns, "deploy", "web"), "Progressing")["reason"] == "DeploymentPaused",
         "the paused condition")
    c = condition(get(cp, ns, "deploy", "web"), "Progressing")
    assert (c["status"], c["message"]) == ("Unknown", "Deployment is paused")
    cp.kubectl("-n", ns, "set", "image", "deploy/web", "c=nginx:1.26")
    cp.kubectl("-n", ns, "scale", "deploy/web", "--replicas=4")  # a paused Deployment still scales
    wait(cp, lambda: get(cp, ns, "deploy", "web")["status"].get("availableReplicas") == 4, "4 available")
    assert len(replicasets(cp, ns)) == 1  # no rollout while paused
    d = get(cp, ns, "deploy", "web")
    assert d["status"]["observedGeneration"] == d["metadata"]["generation"]

    cp.kubectl("-n", ns, "rollout", "resume", "deploy/web")
    assert 'deployment "web" successfully rolled out' in rollout_status(cp, ns)
    assert len(replicasets(cp, ns)) == 2

    cp.kubectl("-n", ns, "rollout", "restart", "deploy/web")
    assert 'deployment "web" successfully rolled out' in rollout_status(cp, ns)
    sets = sorted(replicasets(cp, ns).values(), key=lambda rs: int(rs["metadata"]["annotations"][REVISION]))
    assert len(sets) == 3 and [rs["spec"]["replicas"] for rs in sets] == [0, 0, 4]
    assert "kubectl.kubernetes.io/restartedAt" in sets[-1]["spec"]["template"]["metadata"]["annotations"]


def test_recreate_scales_old_to_zero_first_and_history_limit_deletes_old_sets(
        control_plane: ControlPlane, manager: ControllerManager, ns: str, nodes: FakeNodes) -> None:
    cp = control_plane
    cp.kubectl("-n", ns, "apply", "-f", "-", stdin=manifest(strategy="{type: Recreate}", history=1))
    rollout_status(cp, ns)
    [first] = replicasets(cp, ns)
    cp.kubectl("-n", ns, "set", "image", "deploy/web", "c=nginx:1.26")
    rollout_status(cp, ns)
    [second] = [n for n in replicasets(cp, ns) if n != first]
    msgs = messages(cp, ns)
    assert msgs.index(f"Scaled down replica set {first} from 3 to 0") < \
        msgs.index(f"Scaled up replica set {second} from 0 to 3"), msgs
    cp.kubectl("-n", ns, "set", "image", "deploy/web", "c=nginx:1.27")
    rollout_status(cp, ns)
    # revisionHistoryLimit 1: only the newest old set is kept
    wait(cp, lambda: first not in replicasets(cp, ns) and len(replicasets(cp, ns)) == 2, "the oldest set deleted")
    assert second in replicasets(cp, ns)


def test_progress_deadline_exceeded(control_plane: ControlPlane, manager: ControllerManager, ns: str,
                                    nodes: FakeNodes) -> None:
    cp = control_plane
    cp.kubectl("-n", ns, "apply", "-f", "-", stdin=manifest(deadline=3))
    rollout_status(cp, ns)
    cp.kubectl("-n", ns, "set", "image", "deploy/web", "c=nginx:broken")  # its pods never become Ready
    d = wait(cp, lambda: (lambda d: d if condition(d, "Progressing")["reason"] == "ProgressDeadlineExceeded"
                          else None)(get(cp, ns, "deploy", "web")), "ProgressDeadlineExceeded")
    new = [rs for rs in replicasets(cp, ns).values() if rs["metadata"]["annotations"][REVISION] == "2"][0]
    c = condition(d, "Progressing")
    assert (c["status"], c["message"]) == ("False", f'ReplicaSet "{new["metadata"]["name"]}" has timed out '
                                                    "progressing.")
    assert condition(d, "Available")["status"] == "True"  # maxUnavailable keeps the old pods serving
    p = cp.kubectl("-n", ns, "rollout", "status", "deploy/web", "--timeout=20s", check=False)
    assert p.returncode != 0 and 'deployment "web" exceeded its progress deadline' in p.stderr, p.stderr


def test_scaling_in_the_middle_of_a_rollout_is_proportional(control_plane: ControlPlane, manager: ControllerManager,
                                                             ns: str, nodes: FakeNodes) -> None:
    cp = control_plane
    cp.kubectl("-n", ns, "apply", "-f", "-", stdin=manifest())
    rollout_status(cp, ns)
    [first] = replicasets(cp, ns)
    cp.kubectl("-n", ns, "set", "image", "deploy/web", "c=nginx:broken")  # the rollout stalls: 3 old + 1 new

    def stalled() -> bool:
        sizes = {n: rs["spec"]["replicas"] for n, rs in replicasets(cp, ns).items()}
        return len(sizes) == 2 and sizes[first] == 3 and sum(sizes.values()) == 4
    wait(cp, stalled, "the rollout to stall at 3 old + 1 new")
    cp.kubectl("-n", ns, "scale", "deploy/web", "--replicas=8")

    [second] = [n for n in replicasets(cp, ns) if n != first]

    def proportional() -> list[str] | None:
        msgs = messages(cp, ns)
        # 8 + maxSurge ceil(25% of 8) = 10 pods shared as 3:1 — round(3*10/4) = 8 (7.5 rounds up), the rest 2
        ok = any(m.endswith(f"Scaled up replica set {first} from 3 to 8") for m in msgs) and \
            any(m.endswith(f"Scaled up replica set {second} from 1 to 2") for m in msgs)
        return msgs if ok else None
    wait(cp, proportional, "both sets scaled proportionally")
    # (later syncs may go on with the rollout: 2 unhealthy old pods may go at once, as maxUnavailable is now 2)
    for rs in replicasets(cp, ns).values():
        assert rs["metadata"]["annotations"][DESIRED_REPLICAS] == "8"
        assert rs["metadata"]["annotations"][MAX_REPLICAS] == "10"


RS_QUOTA = """
apiVersion: v1
kind: ResourceQuota
metadata: {name: one-rs}
spec: {hard: {count/replicasets.apps: "1"}}
"""


def test_a_refused_replicaset_gives_replicaset_create_error_until_it_can_be_created(
        control_plane: ControlPlane, manager: ControllerManager, ns: str, nodes: FakeNodes) -> None:
    cp = control_plane
    cp.kubectl("-n", ns, "apply", "-f", "-", stdin=manifest())
    rollout_status(cp, ns)
    cp.kubectl("-n", ns, "apply", "-f", "-", stdin=RS_QUOTA)
    cp.wait(lambda: ((cp.get(f"/api/v1/namespaces/{ns}/resourcequotas/one-rs") or {}).get("status") or {}).get("hard"),
            DEADLINE_S, "the quota controller's first status (kube-apiserver enforces nothing before it)")
    cp.kubectl("-n", ns, "set", "image", "deploy/web", "c=nginx:1.26")

    def refused() -> dict[str, Any] | None:
        d = get(cp, ns, "deploy", "web")
        return d if condition(d, "Progressing")["reason"] == "ReplicaSetCreateError" else None
    d = wait(cp, refused, "ReplicaSetCreateError")
    c = condition(d, "Progressing")
    assert c["status"] == "False"
    assert re.fullmatch(r'Failed to create new replica set "web-[bcdfghjklmnpqrstvwxz2456789]+": .*exceeded quota: '
                        r"one-rs.*", c["message"]), c["message"]
    warnings = [e for e in get(cp, ns, "events", "--field-selector", "involvedObject.kind=Deployment")["items"]
                if e["reason"] == "ReplicaSetCreateError"]
    assert warnings and warnings[0]["type"] == "Warning" and warnings[0]["message"] == c["message"]
    assert len(replicasets(cp, ns)) == 1

    cp.kubectl("-n", ns, "delete", "resourcequota", "one-rs")
    assert 'deployment "web" successfully rolled out' in rollout_status(cp, ns)
    assert len(replicasets(cp, ns)) == 2


def test_an_orphan_replicaset_with_the_template_is_adopted_as_the_new_one(
        control_plane: ControlPlane, manager: ControllerManager, ns: str, nodes: FakeNodes) -> None:
    cp = control_plane
    orphan = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web-orphan",
                                                                         "labels": {"app": "web"}},
              "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                       "template": {"metadata": {"labels": {"app": "web"}},
                                    "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]}}}}
    cp.kubectl("-n", ns, "apply", "-f", "-", stdin=json.dumps(orphan))
    cp.kubectl("-n", ns, "apply", "-f", "-", stdin=manifest())
    assert 'deployment "web" successfully rolled out' in rollout_status(cp, ns)
    assert set(replicasets(cp, ns)) == {"web-orphan"}  # adopted and used, no second set
    rs = replicasets(cp, ns)["web-orphan"]
    d = get(cp, ns, "deploy", "web")
    assert rs["metadata"]["ownerReferences"][0]["uid"] == d["metadata"]["uid"]
    assert rs["spec"]["replicas"] == 3 and rs["metadata"]["annotations"][REVISION] == "1"


def test_a_name_taken_by_a_foreign_replicaset_is_a_hash_collision(
        control_plane: ControlPlane, manager: ControllerManager, ns: str, nodes: FakeNodes) -> None:
    cp = control_plane
    cp.kubectl("-n", ns, "apply", "-f", "-", stdin=manifest())
    rollout_status(cp, ns)
    [taken] = replicasets(cp, ns)  # the name this template hashes to
    other = ns + "-b"
    cp.create_namespace(other)
    foreign = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": taken, "labels": {"app": "x"}},
               "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "x"}},
                        "template": {"metadata": {"labels": {"app": "x"}},
                                     "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}
    cp.kubectl("-n", other, "apply", "-f", "-", stdin=json.dumps(foreign))
    with FakeNodes(cp.admin_kubeconfig, namespaces={other}):
        cp.kubectl("-n", other, "apply", "-f", "-", stdin=manifest())
        assert 'deployment "web" successfully rolled out' in rollout_status(cp, other)
    d = get(cp, other, "deploy", "web")
    assert d["status"]["collisionCount"] == 1
    owned = [n for n, rs in replicasets(cp, other).items() if rs["metadata"].get("ownerReferences")]
    assert len(owned) == 1 and owned[0] != taken and HASH.fullmatch(owned[0].removeprefix("web-"))
    assert replicasets(cp, other)[taken]["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox"
