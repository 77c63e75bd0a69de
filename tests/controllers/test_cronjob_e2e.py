"""CronJob controller end to end: `python -m controllers` (cronjob, job, garbagecollector) against the real API
server with real kubectl. The cronjob controller's clock runs 2 minutes ahead (RAFTKV_CRONJOB_CLOCK_OFFSET_S), so
a `*/1` schedule is due at once instead of at the next minute."""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.controllers.cluster import ControllerManager, ControlPlane
from tests.controllers.fakenodes import FakeNodes
from tests.controllers.kwait import kubectl_until

pytestmark = pytest.mark.e2e
DEADLINE_S = 120.0

CRONJOB = """
apiVersion: batch/v1
kind: CronJob
metadata: {name: hello}
spec:
  schedule: "*/1 * * * *"
  concurrencyPolicy: Forbid
  jobTemplate:
    metadata: {labels: {team: a}}
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: c, image: busybox}]
"""


@pytest.fixture(scope="module")
def manager(control_plane: ControlPlane) -> Iterator[ControllerManager]:
    m = control_plane.start_controller_manager("--controllers=cronjob,job,garbagecollector",
                                               "--use-service-account-credentials=true", "--leader-elect=false",
                                               env={"RAFTKV_CRONJOB_CLOCK_OFFSET_S": "120"})
    yield m
    m.stop()


@pytest.fixture
def ns(control_plane: ControlPlane, request: pytest.FixtureRequest) -> str:
    name = request.node.name.replace("_", "-")[:50].strip("-")
    control_plane.create_namespace(name)
    return name


def kubectl_json(cp: ControlPlane, *args: str) -> Any:
    return json.loads(cp.kubectl(*args, "-o", "json").stdout)


def events(cp: ControlPlane, ns: str, name: str) -> list[tuple[str, str]]:
    items = kubectl_json(cp, "-n", ns, "get", "events", "--field-selector", f"involvedObject.name={name}")["items"]
    return [(e["reason"], e["message"]) for e in items]


def test_cronjob_starts_a_job_tracks_it_and_records_its_success(control_plane: ControlPlane,
                                                                manager: ControllerManager, ns: str) -> None:
    cp = control_plane
    cp.kubectl("-n", ns, "create", "-f", "-", stdin=CRONJOB)
    cj_uid = kubectl_json(cp, "-n", ns, "get", "cronjob", "hello")["metadata"]["uid"]
    jobs = cp.wait(lambda: kubectl_json(cp, "-n", ns, "get", "jobs")["items"], DEADLINE_S, "the first Job")
    job = jobs[0]
    name = job["metadata"]["name"]
    assert re.fullmatch(r"hello-\d+", name)
    minutes = int(name.split("-")[1])
    assert job["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"] == (
        datetime.datetime.fromtimestamp(minutes * 60, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert job["metadata"]["labels"]["team"] == "a"
    assert job["metadata"]["ownerReferences"] == [{"apiVersion": "batch/v1", "kind": "CronJob", "name": "hello",
                                                   "uid": cj_uid, "controller": True, "blockOwnerDeletion": True}]
    cj = cp.wait(lambda: (lambda c: c if c["status"].get("active") else None)(
        kubectl_json(cp, "-n", ns, "get", "cronjob", "hello")), DEADLINE_S, "status.active")
    assert [a["name"] for a in cj["status"]["active"]] == [name]
    assert cj["status"]["lastScheduleTime"] == job["metadata"]["annotations"][
        "batch.kubernetes.io/cronjob-scheduled-timestamp"]
    assert ("SuccessfulCreate", f"Created job {name}") in events(cp, ns, "hello")

    with FakeNodes(cp.admin_kubeconfig, namespaces={ns}) as nodes:
        pod = cp.wait(lambda: [p for p in kubectl_json(cp, "-n", ns, "get", "pods", "-l",
                                                       f"batch.kubernetes.io/job-name={name}")["items"]
                               if p["status"].get("phase") == "Running"], DEADLINE_S, "the Job's pod running")[0]
        nodes.complete(ns, pod["metadata"]["name"], "Succeeded")
        kubectl_until(cp, "-n", ns, "wait", "--for=condition=complete", f"job/{name}", deadline=DEADLINE_S)
        cj = cp.wait(lambda: (lambda c: c if c["status"].get("lastSuccessfulTime") else None)(
            kubectl_json(cp, "-n", ns, "get", "cronjob", "hello")), DEADLINE_S, "lastSuccessfulTime")
    assert name not in [a["name"] for a in cj["status"].get("active") or []]
    assert ("SawCompletedJob", f"Saw completed job: {name}, condition: Complete") in events(cp, ns, "hello")
    assert not [m for r, m in events(cp, ns, "hello") if r == "UnexpectedJob"]  # our own Jobs are never strays
    done = kubectl_json(cp, "-n", ns, "get", "job", name)
    assert cj["status"]["lastSuccessfulTime"] == done["status"]["completionTime"]
