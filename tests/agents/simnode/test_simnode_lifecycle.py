"""The pod state machine of a hollow node, on a fake clock: kubelet 1.32's states, timings and messages."""

from __future__ import annotations

from typing import Any

import pytest

from agents.simnode import lifecycle as L
from agents.simnode.clockfmt import go_duration, rfc3339

pytestmark = pytest.mark.unit
T0 = 1_765_000_000.0
TIMING = L.Timing(start_delay_s=2, job_run_s=5, crash_after_s=3, delete_delay_s=4)


def pod(annotations: dict[str, str] | None = None, restart: str = "Always", owner: str = "",
        grace: int | None = None, deleting: bool = False, containers: tuple[str, ...] = ("app",),
        resources: dict[str, Any] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "p", "namespace": "ns", "uid": "uid-1", "annotations": annotations or {}}
    if owner:
        meta["ownerReferences"] = [{"kind": owner, "name": "o", "uid": "o1", "controller": True}]
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
        meta["deletionGracePeriodSeconds"] = 30 if grace is None else grace
    return {"metadata": meta, "spec": {"restartPolicy": restart, "containers": [
        {"name": n, "image": "nginx:1.25", "resources": resources or {}} for n in containers]},
        "status": {"phase": "Pending", "qosClass": "BestEffort"}}


def run_for(p: dict[str, Any]) -> L.PodRun:
    return L.new_run(p, "node-1", "172.18.0.2", "10.244.0.2", T0)


def state_at(p: dict[str, Any], run: L.PodRun, now: float) -> tuple[dict[str, Any], float | None]:
    wake = L.advance(run, p, now, TIMING)
    status = L.desired_status(p, run, now)
    p["status"] = status  # what the API holds after the write, for the next step
    return status, wake


def cond(status: dict[str, Any], ctype: str) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == ctype)


def test_bound_pod_goes_container_creating_then_running_ready() -> None:
    p = pod()
    run = run_for(p)
    st, wake = state_at(p, run, T0)
    assert wake == T0 + 2
    assert st["phase"] == "Pending" and "podIP" not in st and st["hostIP"] == "172.18.0.2"
    assert st["startTime"] == rfc3339(T0)
    cs = st["containerStatuses"][0]
    assert cs["state"] == {"waiting": {"reason": "ContainerCreating"}} and cs["image"] == "nginx:1.25"
    assert cs["imageID"] == "" and "containerID" not in cs and not cs["ready"] and not cs["started"]
    assert cond(st, "PodReadyToStartContainers")["status"] == "False"
    assert (cond(st, "Ready")["reason"], cond(st, "Ready")["message"]) == (
        "ContainersNotReady", "containers with unready status: [app]")
    assert [c["type"] for c in st["conditions"]] == list(L.KUBELET_CONDITIONS)

    st, wake = state_at(p, run, T0 + 2.5)
    assert wake is None  # nothing more happens by itself
    assert st["phase"] == "Running" and st["podIP"] == "10.244.0.2" and st["podIPs"] == [{"ip": "10.244.0.2"}]
    cs = st["containerStatuses"][0]
    assert cs["state"] == {"running": {"startedAt": rfc3339(T0 + 2)}}  # when it started, not when we woke
    assert cs["ready"] and cs["started"] and cs["restartCount"] == 0 and cs["lastState"] == {}
    assert cs["image"] == "docker.io/library/nginx:1.25"
    assert cs["imageID"].startswith("docker.io/library/nginx@sha256:")
    assert cs["containerID"] == L.container_id("uid-1", "app", 0)
    for ctype in L.KUBELET_CONDITIONS:
        assert cond(st, ctype)["status"] == "True"
    assert cond(st, "Ready")["lastTransitionTime"] == rfc3339(T0 + 2.5)
    assert cond(st, "Initialized")["lastTransitionTime"] == rfc3339(T0)  # unchanged status keeps its time


def test_conditions_of_others_are_kept_and_a_foreign_overwrite_is_noticed() -> None:
    p = pod()
    run = run_for(p)
    st, _ = state_at(p, run, T0 + 3)
    observed = {**st, "conditions": [{"type": "DisruptionTarget", "status": "True"}] + [
        {**c, "status": "False"} if c["type"] == "Ready" else c for c in st["conditions"]]}
    assert L.differs(observed, st)  # the node lifecycle controller marked it not ready: write again
    p["status"] = observed
    again = L.desired_status(p, run, T0 + 4)
    assert [c["type"] for c in again["conditions"]][0] == "DisruptionTarget"
    assert not L.differs(again, L.desired_status({**p, "status": again}, run, T0 + 5))


def test_events_as_the_kubelet_records_them() -> None:
    p = pod({L.CRASH_LOOP: "true"})
    run = run_for(p)
    state_at(p, run, T0 + 2)
    path = "spec.containers{app}"
    assert run.events == [("Normal", "Pulled", 'Container image "nginx:1.25" already present on machine', path),
                          ("Normal", "Created", "Created container: app", path),
                          ("Normal", "Started", "Started container app", path)]
    run.events.clear()
    state_at(p, run, T0 + 5)  # first crash: restarted at once, no back-off yet
    assert [e[1] for e in run.events] == ["Pulled", "Created", "Started"]
    run.events.clear()
    state_at(p, run, T0 + 8)  # second crash: back-off
    assert run.events == [("Warning", "BackOff", "Back-off restarting failed container app in pod p_ns(uid-1)",
                           path)]
    run.events.clear()
    p["metadata"] = {**p["metadata"], "deletionTimestamp": "x", "deletionGracePeriodSeconds": 0}
    state_at(p, run, T0 + 20)  # restarted at +18, then stopped at once
    assert run.events[-1] == ("Normal", "Killing", "Stopping container app", path)


def test_job_pod_succeeds_after_its_run_time_with_exit_code_0() -> None:
    p = pod(owner="Job", restart="Never")
    run = run_for(p)
    _, wake = state_at(p, run, T0 + 2)
    assert wake == T0 + 2 + 5
    st, wake = state_at(p, run, T0 + 8)
    assert wake is None and st["phase"] == "Succeeded"
    term = st["containerStatuses"][0]["state"]["terminated"]
    assert term == {"exitCode": 0, "reason": "Completed", "startedAt": rfc3339(T0 + 2),
                    "finishedAt": rfc3339(T0 + 7), "containerID": L.container_id("uid-1", "app", 0)}
    assert (cond(st, "Ready")["status"], cond(st, "Ready")["reason"]) == ("False", "PodCompleted")
    assert cond(st, "ContainersReady")["reason"] == "PodCompleted"
    assert (cond(st, "Initialized")["status"], cond(st, "Initialized")["reason"]) == ("True", "PodCompleted")
    assert cond(st, "PodReadyToStartContainers")["status"] == "False"
    assert run.terminal() and not L.wants_delete(p, run)


def test_exit_code_annotation_fails_the_pod() -> None:
    p = pod({L.RUN_SECONDS: "1", L.EXIT_CODE: "3"}, restart="Never")
    run = run_for(p)
    st, _ = state_at(p, run, T0 + 10)
    assert st["phase"] == "Failed"
    assert st["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 3
    assert st["containerStatuses"][0]["state"]["terminated"]["reason"] == "Error"
    assert cond(st, "Ready")["reason"] == "PodFailed" and "reason" not in cond(st, "Initialized")


def test_on_failure_restarts_a_failed_container_but_not_a_succeeded_one() -> None:
    failing = pod({L.RUN_SECONDS: "1", L.EXIT_CODE: "1"}, restart="OnFailure")
    run = run_for(failing)
    st, _ = state_at(failing, run, T0 + 3)
    assert st["phase"] == "Running" and st["containerStatuses"][0]["restartCount"] == 1
    ok = pod({L.RUN_SECONDS: "1"}, restart="OnFailure")
    run = run_for(ok)
    st, _ = state_at(ok, run, T0 + 3)
    assert st["phase"] == "Succeeded"


def test_crash_loop_back_off_10s_doubling_to_5m() -> None:
    """First restart at once (Backoff.Next on a fresh entry), then 10 s, 20 s, 40 s ... capped at 5 min."""
    p = pod({L.CRASH_LOOP: "true"})
    run = run_for(p)
    t = T0 + 2  # containers start
    state_at(p, run, t)
    expected_waits = [0, 10, 20, 40, 80, 160, 300, 300]
    restarts = 0
    for wait in expected_waits:
        crash = t + 3
        st, wake = state_at(p, run, crash)
        cs = st["containerStatuses"][0]
        if wait == 0:
            assert cs["restartCount"] == restarts + 1 and "running" in cs["state"]
            assert cs["lastState"]["terminated"]["exitCode"] == 1
            assert cs["lastState"]["terminated"]["reason"] == "Error"
            t = crash
        else:
            assert wake == crash + wait
            waiting = cs["state"]["waiting"]
            assert waiting["reason"] == "CrashLoopBackOff" and cs["restartCount"] == restarts
            assert waiting["message"] == (f"back-off {go_duration(wait)} restarting failed container=app "
                                          f"pod=p_ns(uid-1)")
            assert not cs["ready"] and st["phase"] == "Running"
            assert cond(st, "Ready")["reason"] == "ContainersNotReady"
            assert cs["lastState"]["terminated"]["finishedAt"] == rfc3339(crash)
            st, _ = state_at(p, run, crash + wait - 0.5)
            assert "waiting" in st["containerStatuses"][0]["state"]
            st, _ = state_at(p, run, crash + wait)
            assert st["containerStatuses"][0]["restartCount"] == restarts + 1
            assert st["containerStatuses"][0]["state"] == {"running": {"startedAt": rfc3339(crash + wait)}}
            t = crash + wait
        restarts += 1
    assert go_duration(300) == "5m0s" and go_duration(80) == "1m20s"


def test_back_off_resets_after_ten_minutes_of_running() -> None:
    p = pod({L.CRASH_LOOP: "true", L.RUN_SECONDS: "700"})
    run = run_for(p)
    st, _ = state_at(p, run, T0 + 2 + 700 * 3 + 1)  # three crashes, each after 700 s of running
    cs = st["containerStatuses"][0]
    assert cs["restartCount"] == 3 and "running" in cs["state"]  # every restart immediate


def test_late_wake_up_replays_every_transition_in_order() -> None:
    p = pod({L.CRASH_LOOP: "true"})
    run = run_for(p)
    # starts at +2, crash +5 (restart at once), crash +8 (back-off 10 s), restart +18, crash +21 (20 s)
    st, wake = state_at(p, run, T0 + 30)
    cs = st["containerStatuses"][0]
    assert cs["restartCount"] == 2 and cs["state"]["waiting"]["message"].startswith("back-off 20s")
    assert wake == T0 + 41


def test_graceful_deletion_stops_after_the_delay_then_deletes() -> None:
    p = pod()
    run = run_for(p)
    state_at(p, run, T0 + 3)
    p = {**p, "metadata": {**p["metadata"], "deletionTimestamp": "x", "deletionGracePeriodSeconds": 30}}
    st, wake = state_at(p, run, T0 + 10)
    assert wake == T0 + 14 and st["phase"] == "Running" and not L.wants_delete(p, run)
    st, _ = state_at(p, run, T0 + 14)
    assert st["phase"] == "Succeeded" and L.wants_delete(p, run)
    assert st["containerStatuses"][0]["state"]["terminated"]["finishedAt"] == rfc3339(T0 + 14)


def test_grace_period_caps_the_delete_delay_and_an_unstarted_pod_is_just_deleted() -> None:
    p = pod(deleting=True, grace=1)
    run = run_for(p)
    st, wake = state_at(p, run, T0)
    assert wake == T0 + 1  # min(delay 4 s, grace 1 s), before the containers would have started
    st, _ = state_at(p, run, T0 + 1)
    assert st["phase"] == "Pending" and L.wants_delete(p, run)


def test_qos_classes() -> None:
    assert L.qos_class(pod()) == "BestEffort"
    same = {"cpu": "1", "memory": "1Gi"}
    assert L.qos_class(pod(resources={"requests": same, "limits": same})) == "Guaranteed"
    assert L.qos_class(pod(resources={"limits": same})) == "Guaranteed"  # requests default to limits
    assert L.qos_class(pod(resources={"requests": {"cpu": "1"}})) == "Burstable"


def test_images_as_containerd_reports_them() -> None:
    assert L.normalize_image("nginx") == "docker.io/library/nginx:latest"
    assert L.normalize_image("bitnami/redis:7") == "docker.io/bitnami/redis:7"
    assert L.normalize_image("registry.k8s.io/pause:3.10") == "registry.k8s.io/pause:3.10"
    assert L.normalize_image("localhost:5000/x") == "localhost:5000/x:latest"
    assert L.image_id("registry.k8s.io/pause:3.10").startswith("registry.k8s.io/pause@sha256:")
    assert L.image_id("nginx@sha256:abc") == "docker.io/library/nginx@sha256:abc"


def test_adopting_a_running_pod_keeps_its_ip_and_start_times() -> None:
    p = pod()
    run = run_for(p)
    st, _ = state_at(p, run, T0 + 3)
    adopted = L.adopt(p, "node-1", "172.18.0.2", T0 + 100)
    assert adopted is not None and adopted.pod_ip == "10.244.0.2"
    assert not L.differs(st, L.desired_status(p, adopted, T0 + 100))
