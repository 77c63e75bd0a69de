"""Job and ttl-after-finished controllers end to end: `python -m controllers` against the real API server, driven
with real kubectl, pods run and finished by the fake nodes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.controllers.cluster import ControllerManager, ControlPlane
from tests.controllers.fakenodes import FakeNodes
from tests.controllers.kwait import kubectl_until

pytestmark = pytest.mark.e2e
DEADLINE_S = 120.0
FINALIZER = "batch.kubernetes.io/job-tracking"

JOB = """
apiVersion: batch/v1
kind: Job
metadata: {name: %(name)s}
spec:
  completions: %(completions)d
  parallelism: %(parallelism)d
  backoffLimit: %(backoff)d
  %(extra)s
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox}]
"""


def job_yaml(name: str, completions: int = 1, parallelism: int = 1, backoff: int = 6, extra: str = "") -> str:
    return JOB % {"name": name, "completions": completions, "parallelism": parallelism, "backoff": backoff,
                  "extra": extra or "suspend: false"}


@pytest.fixture(scope="module")
def manager(control_plane: ControlPlane) -> Iterator[ControllerManager]:
    m = control_plane.start_controller_manager("--controllers=job,ttl-after-finished,garbagecollector",
                                               "--use-service-account-credentials=true", "--leader-elect=false")
    yield m
    m.stop()


@pytest.fixture
def ns(control_plane: ControlPlane, request: pytest.FixtureRequest) -> str:
    name = request.node.name.replace("_", "-")[:50].strip("-")
    control_plane.create_namespace(name)
    return name


@pytest.fixture
def nodes(control_plane: ControlPlane, ns: str) -> Iterator[FakeNodes]:
    with FakeNodes(control_plane.admin_kubeconfig, namespaces={ns}) as fake:
        yield fake


def kubectl_json(cp: ControlPlane, *args: str) -> Any:
    return json.loads(cp.kubectl(*args, "-o", "json").stdout)


def job_pods(cp: ControlPlane, ns: str, job: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = kubectl_json(cp, "-n", ns, "get", "pods", "-l",
                                               f"batch.kubernetes.io/job-name={job}")["items"]
    return items


def running(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for p in pods if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")]


def wait_running(cp: ControlPlane, ns: str, job: str, n: int) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = cp.wait(lambda: (lambda r: r if len(r) == n else None)(
        running(job_pods(cp, ns, job))), DEADLINE_S, f"{n} running pods of job {job}")
    return result


def events(cp: ControlPlane, ns: str, name: str) -> list[tuple[str, str, str]]:
    items = kubectl_json(cp, "-n", ns, "get", "events", "--field-selector", f"involvedObject.name={name}")["items"]
    return [(e["type"], e["reason"], e["message"]) for e in items]


def test_job_completes_and_pods_lose_the_tracking_finalizer(control_plane: ControlPlane,
                                                            manager: ControllerManager, ns: str,
                                                            nodes: FakeNodes) -> None:
    cp = control_plane
    cp.kubectl("-n", ns, "create", "-f", "-", stdin=job_yaml("pi", completions=3, parallelism=2))
    first = wait_running(cp, ns, "pi", 2)
    for p in first:
        assert p["metadata"]["finalizers"] == [FINALIZER]
        assert p["metadata"]["generateName"] == "pi-"
        assert p["metadata"]["ownerReferences"][0]["kind"] == "Job"
    job = kubectl_json(cp, "-n", ns, "get", "job", "pi")
    assert job["status"]["active"] == 2 and job["status"]["ready"] == 2 and job["status"].get("startTime")
    for p in first:
        nodes.complete(ns, p["metadata"]["name"], "Succeeded")
    third = cp.wait(lambda: [p for p in running(job_pods(cp, ns, "pi"))
                             if p["metadata"]["name"] not in {q["metadata"]["name"] for q in first}],
                    DEADLINE_S, "the third pod")
    nodes.complete(ns, third[0]["metadata"]["name"], "Succeeded")
    kubectl_until(cp, "-n", ns, "wait", "--for=condition=complete", "job/pi", deadline=DEADLINE_S)
    job = kubectl_json(cp, "-n", ns, "get", "job", "pi")
    st = job["status"]
    assert st["succeeded"] == 3 and st.get("active") is None and st["uncountedTerminatedPods"] == {}
    assert [(c["type"], c["reason"]) for c in st["conditions"]] == [
        ("SuccessCriteriaMet", "CompletionsReached"), ("Complete", "CompletionsReached")]
    assert st["completionTime"]
    for p in job_pods(cp, ns, "pi"):
        assert FINALIZER not in (p["metadata"].get("finalizers") or [])
    seen = events(cp, ns, "pi")
    assert ("Normal", "Completed", "Job completed") in seen
    created = {m for _, r, m in seen if r == "SuccessfulCreate"}
    assert created == {f"Created pod: {p['metadata']['name']}" for p in job_pods(cp, ns, "pi")}
    assert "pi" in cp.kubectl("-n", ns, "get", "jobs").stdout and "3/3" in cp.kubectl("-n", ns, "get", "jobs").stdout


def test_backoff_limit_exceeded_fails_the_job(control_plane: ControlPlane, manager: ControllerManager, ns: str,
                                              nodes: FakeNodes) -> None:
    cp = control_plane
    cp.kubectl("-n", ns, "create", "-f", "-", stdin=job_yaml("flaky", completions=4, parallelism=2, backoff=1))
    for p in wait_running(cp, ns, "flaky", 2):
        nodes.complete(ns, p["metadata"]["name"], "Failed", exit_code=3)
    kubectl_until(cp, "-n", ns, "wait", "--for=condition=failed", "job/flaky", deadline=DEADLINE_S)
    st = kubectl_json(cp, "-n", ns, "get", "job", "flaky")["status"]
    message = "Job has reached the specified backoff limit"
    assert [(c["type"], c["reason"], c["message"]) for c in st["conditions"]] == [
        ("FailureTarget", "BackoffLimitExceeded", message), ("Failed", "BackoffLimitExceeded", message)]
    assert st["failed"] == 2 and st.get("active") is None and "completionTime" not in st
    assert ("Warning", "BackoffLimitExceeded", message) in events(cp, ns, "flaky")
    assert len(job_pods(cp, ns, "flaky")) == 2  # no replacement after the limit


def test_indexed_job_and_ttl_after_finished(control_plane: ControlPlane, manager: ControllerManager, ns: str,
                                            nodes: FakeNodes) -> None:
    cp = control_plane
    extra = "completionMode: Indexed\n  ttlSecondsAfterFinished: 1"
    cp.kubectl("-n", ns, "create", "-f", "-", stdin=job_yaml("idx", completions=2, parallelism=2, extra=extra))
    pods = wait_running(cp, ns, "idx", 2)
    key = "batch.kubernetes.io/job-completion-index"
    assert sorted(p["metadata"]["annotations"][key] for p in pods) == ["0", "1"]
    for p in pods:
        index = p["metadata"]["annotations"][key]
        assert p["metadata"]["labels"][key] == index
        assert p["spec"]["hostname"] == f"idx-{index}"
        assert p["metadata"]["generateName"] == f"idx-{index}-"
        (env,) = p["spec"]["containers"][0]["env"]
        assert env["name"] == "JOB_COMPLETION_INDEX"
        assert env["valueFrom"]["fieldRef"]["fieldPath"] == f"metadata.labels['{key}']"
        nodes.complete(ns, p["metadata"]["name"], "Succeeded")
    uid = cp.wait(lambda: (lambda j: j["metadata"]["uid"] if j["status"].get("completedIndexes") == "0,1" else None)(
        kubectl_json(cp, "-n", ns, "get", "job", "idx")), DEADLINE_S, "completedIndexes 0,1")
    assert uid
    # ttl-after-finished deletes it (Foreground: the garbage collector removes the pods first) a second after it
    # completed
    kubectl_until(cp, "-n", ns, "wait", "--for=delete", "job/idx", deadline=DEADLINE_S)
    cp.wait(lambda: not job_pods(cp, ns, "idx"), DEADLINE_S, "the Job's pods to be deleted with it")


def test_active_deadline_and_pod_failure_policy(control_plane: ControlPlane, manager: ControllerManager, ns: str,
                                                nodes: FakeNodes) -> None:
    cp = control_plane
    cp.kubectl("-n", ns, "create", "-f", "-", stdin=job_yaml("slow", extra="activeDeadlineSeconds: 2"))
    wait_running(cp, ns, "slow", 1)
    kubectl_until(cp, "-n", ns, "wait", "--for=condition=failed", "job/slow", deadline=DEADLINE_S)
    st = kubectl_json(cp, "-n", ns, "get", "job", "slow")["status"]
    message = "Job was active longer than specified deadline"
    assert [(c["type"], c["reason"], c["message"]) for c in st["conditions"]] == [
        ("FailureTarget", "DeadlineExceeded", message), ("Failed", "DeadlineExceeded", message)]
    assert st["failed"] == 1 and st["terminating"] == 0
    assert ("Warning", "DeadlineExceeded", message) in events(cp, ns, "slow")

    policy = ("podFailurePolicy: {rules: [{action: FailJob, onExitCodes: {containerName: c, operator: In, "
              "values: [42]}}]}")
    cp.kubectl("-n", ns, "create", "-f", "-", stdin=job_yaml("strict", backoff=6, extra=policy))
    (pod,) = wait_running(cp, ns, "strict", 1)
    name = pod["metadata"]["name"]
    nodes.complete(ns, name, "Failed", exit_code=42)
    kubectl_until(cp, "-n", ns, "wait", "--for=condition=failed", "job/strict", deadline=DEADLINE_S)
    conds = kubectl_json(cp, "-n", ns, "get", "job", "strict")["status"]["conditions"]
    message = f"Container c for pod {ns}/{name} failed with exit code 42 matching FailJob rule at index 0"
    assert [(c["type"], c["reason"], c["message"]) for c in conds] == [
        ("FailureTarget", "PodFailurePolicy", message), ("Failed", "PodFailurePolicy", message)]


@pytest.mark.parametrize("cascade", ["background", "foreground"])
def test_deleting_a_running_job_releases_its_pods_finalizers(control_plane: ControlPlane,
                                                             manager: ControllerManager, ns: str,
                                                             nodes: FakeNodes, cascade: str) -> None:
    cp = control_plane
    cp.kubectl("-n", ns, "create", "-f", "-", stdin=job_yaml("gone", completions=2, parallelism=2))
    wait_running(cp, ns, "gone", 2)
    cp.kubectl("-n", ns, "delete", "job", "gone", f"--cascade={cascade}", "--wait=false")
    cp.wait(lambda: not job_pods(cp, ns, "gone"), DEADLINE_S, "the pods to be deleted (tracking finalizer removed)")
    kubectl_until(cp, "-n", ns, "wait", "--for=delete", "job/gone", deadline=DEADLINE_S)


ORPHAN_POD = """
apiVersion: v1
kind: Pod
metadata: {name: stray, labels: {app: adopt-me}}
spec:
  restartPolicy: Never
  containers: [{name: c, image: busybox}]
"""

MANUAL_JOB = """
apiVersion: batch/v1
kind: Job
metadata: {name: manual}
spec:
  manualSelector: true
  selector: {matchLabels: {app: adopt-me}}
  template:
    metadata: {labels: {app: adopt-me}}
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox}]
"""


def test_a_manual_selector_job_adopts_a_matching_orphan_pod(control_plane: ControlPlane,
                                                            manager: ControllerManager, ns: str,
                                                            nodes: FakeNodes) -> None:
    cp = control_plane
    cp.kubectl("-n", ns, "create", "-f", "-", stdin=ORPHAN_POD)
    cp.wait(lambda: kubectl_json(cp, "-n", ns, "get", "pod", "stray")["status"].get("phase") == "Running",
            DEADLINE_S, "the orphan running (and long in the controller's cache)")
    cp.kubectl("-n", ns, "create", "-f", "-", stdin=MANUAL_JOB)
    uid = kubectl_json(cp, "-n", ns, "get", "job", "manual")["metadata"]["uid"]
    pod = cp.wait(lambda: (lambda p: p if p["metadata"].get("ownerReferences") else None)(
        kubectl_json(cp, "-n", ns, "get", "pod", "stray")), DEADLINE_S, "the orphan adopted")
    assert [(r["kind"], r["uid"], r["controller"]) for r in pod["metadata"]["ownerReferences"]] == [
        ("Job", uid, True)]
    assert FINALIZER in pod["metadata"]["finalizers"]
    nodes.complete(ns, "stray", "Succeeded")
    kubectl_until(cp, "-n", ns, "wait", "--for=condition=complete", "job/manual", deadline=DEADLINE_S)
    pods = kubectl_json(cp, "-n", ns, "get", "pods", "-l", "app=adopt-me")["items"]
    assert [p["metadata"]["name"] for p in pods] == ["stray"]  # adopted, never replaced
