"""The pod status as kubelet 1.32 writes it, from runtime views (pure)."""

from __future__ import annotations

import pytest

from agents.kubelet.qos import pod_qos
from agents.kubelet.runtimeview import PodRuntime
from agents.kubelet.status import StatusInputs, pod_status
from tests.agents.kubelet.podfixtures import exited, pod, running, runtime

pytestmark = pytest.mark.unit
C = {"name": "c", "image": "busybox"}
R = {"name": "r", "image": "busybox", "readinessProbe": {"httpGet": {"path": "/", "port": 80}}}
I1 = {"name": "i1", "image": "busybox"}
NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def inputs(**kw: object) -> StatusInputs:
    return StatusInputs(node_ip="10.0.0.5", now=NOW + 60, **kw)  # type: ignore[arg-type]


def conds(status: dict) -> dict[str, tuple]:
    return {c["type"]: (c["status"], c.get("reason"), c.get("message")) for c in status["conditions"]}


def test_a_pod_being_created_is_pending_with_container_creating() -> None:
    s = pod_status(pod(C), PodRuntime(), inputs())
    assert s["phase"] == "Pending" and s["qosClass"] == "BestEffort"
    assert s["hostIP"] == "10.0.0.5" and s["hostIPs"] == [{"ip": "10.0.0.5"}] and "podIP" not in s
    assert s["containerStatuses"] == [{"image": "busybox", "imageID": "", "lastState": {}, "name": "c",
                                       "ready": False, "restartCount": 0, "started": False,
                                       "state": {"waiting": {"reason": "ContainerCreating"}}}]
    assert [c["type"] for c in s["conditions"]] == ["PodReadyToStartContainers", "Initialized", "Ready",
                                                    "ContainersReady", "PodScheduled"]
    assert conds(s)["Ready"] == ("False", "ContainersNotReady", "containers with unready status: [c]")
    assert conds(s)["PodReadyToStartContainers"][0] == "False"
    sched = next(c for c in s["conditions"] if c["type"] == "PodScheduled")
    assert sched["lastTransitionTime"] == "2026-01-01T00:00:00Z"  # the scheduler's, kept
    assert s["startTime"] == "2026-01-01T00:01:00Z"


def test_a_running_pod_is_ready_with_ips_and_the_runtime_prefix() -> None:
    s = pod_status(pod(C), runtime(running(C, cid="abc", started=NOW)), inputs())
    assert s["phase"] == "Running" and s["podIP"] == "10.88.0.2" and s["podIPs"] == [{"ip": "10.88.0.2"}]
    cs = s["containerStatuses"][0]
    assert cs["containerID"] == "containerd://abc" and cs["imageID"] == "sha256:abc"
    assert cs["state"] == {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
    assert cs["ready"] is True and cs["started"] is True
    assert all(v[0] == "True" for v in conds(s).values())


def test_readiness_probe_result_decides_ready() -> None:
    c = running(R, cid="r1")
    s = pod_status(pod(R), runtime(c), inputs())
    assert conds(s)["ContainersReady"] == ("False", "ContainersNotReady", "containers with unready status: [r]")
    s = pod_status(pod(R), runtime(c), inputs(ready={"r1": True}))
    assert conds(s)["Ready"] == ("True", None, None)


def test_crash_loop_back_off_is_waiting_with_the_last_termination() -> None:
    rt = runtime(exited(C, 1, cid="x0", restarts=0), exited(C, 2, cid="x1", started=200, finished=201, restarts=1))
    msg = "back-off 10s restarting failed container=c pod=p_ns(u1)"
    s = pod_status(pod(C), rt, inputs(waiting={"c": ("CrashLoopBackOff", msg)}))
    cs = s["containerStatuses"][0]
    assert cs["state"] == {"waiting": {"reason": "CrashLoopBackOff", "message": msg}}
    assert cs["lastState"]["terminated"]["exitCode"] == 2 and cs["lastState"]["terminated"]["reason"] == "Error"
    assert cs["restartCount"] == 1 and s["phase"] == "Running"


def test_a_restarted_container_shows_the_previous_run_as_last_state() -> None:
    rt = runtime(exited(C, 137, cid="x0", reason="OOMKilled"), running(C, cid="x1", started=300, restarts=1))
    cs = pod_status(pod(C), rt, inputs())["containerStatuses"][0]
    assert cs["restartCount"] == 1 and "running" in cs["state"]
    assert cs["lastState"]["terminated"]["reason"] == "OOMKilled"
    assert cs["lastState"]["terminated"]["containerID"] == "containerd://x0"


@pytest.mark.parametrize(("policy", "code", "phase"), [("Never", 0, "Succeeded"), ("Never", 1, "Failed"),
                                                       ("OnFailure", 0, "Succeeded"), ("Always", 0, "Running")])
def test_phase_of_exited_containers_follows_the_restart_policy(policy: str, code: int, phase: str) -> None:
    s = pod_status(pod(C, policy=policy), runtime(exited(C, code)), inputs())
    assert s["phase"] == phase
    if phase == "Succeeded":
        assert conds(s)["Ready"] == ("False", "PodCompleted", None)
        assert conds(s)["Initialized"] == ("True", "PodCompleted", None)
    term = s["containerStatuses"][0]["state"]["terminated"]
    assert term["reason"] == ("Completed" if code == 0 else "Error") and term["exitCode"] == code


def test_a_deleted_always_pod_whose_containers_stopped_is_failed() -> None:
    s = pod_status(pod(C), runtime(exited(C, 137)), inputs(terminal=True))
    assert s["phase"] == "Failed"


def test_init_containers_pending() -> None:
    s = pod_status(pod(C, inits=(I1,)), runtime(running(I1)), inputs())
    assert s["phase"] == "Pending"
    assert conds(s)["Initialized"] == ("False", "ContainersNotInitialized", "containers with incomplete status: [i1]")
    assert s["containerStatuses"][0]["state"] == {"waiting": {"reason": "PodInitializing"}}
    assert s["initContainerStatuses"][0]["ready"] is False
    s = pod_status(pod(C, inits=(I1,)), runtime(exited(I1, 0), running(C, started=NOW)), inputs())
    assert s["phase"] == "Running" and s["initContainerStatuses"][0]["ready"] is True
    assert conds(s)["Initialized"][0] == "True"


def test_a_failed_init_container_under_never_fails_the_pod() -> None:
    s = pod_status(pod(C, inits=(I1,), policy="Never"), runtime(exited(I1, 1)), inputs())
    assert s["phase"] == "Failed"


def test_config_errors_and_pull_errors_show_as_waiting_reasons() -> None:
    s = pod_status(pod(C), runtime(), inputs(waiting={"c": ("CreateContainerConfigError",
                                                            'configmap "cm" not found')}))
    assert s["containerStatuses"][0]["state"] == {"waiting": {"reason": "CreateContainerConfigError",
                                                              "message": 'configmap "cm" not found'}}


def test_transition_times_are_kept_while_a_condition_holds() -> None:
    p = pod(C)
    p["status"] = pod_status(p, runtime(running(C)), inputs())
    first = {c["type"]: c["lastTransitionTime"] for c in p["status"]["conditions"]}
    later = StatusInputs(node_ip="10.0.0.5", now=NOW + 3600)
    s2 = pod_status(p, runtime(running(C)), later)
    assert {c["type"]: c["lastTransitionTime"] for c in s2["conditions"]} == first
    assert s2["startTime"] == p["status"]["startTime"]


def test_qos_classes() -> None:
    def q(*res: dict) -> str:
        return pod_qos(pod(*({"name": f"c{i}", "image": "b", "resources": r} for i, r in enumerate(res))))
    assert q({}) == "BestEffort"
    assert q({"limits": {"cpu": "1", "memory": "1Gi"}}) == "Guaranteed"
    assert q({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1000m", "memory": "1Gi"}}) == "Guaranteed"
    assert q({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}}) == "Burstable"
    assert q({"requests": {"memory": "10Mi"}}) == "Burstable"
    assert q({"limits": {"cpu": "1", "memory": "1Gi"}}, {}) == "Burstable"


SIDE = {"name": "side", "image": "busybox", "restartPolicy": "Always"}


def test_a_running_sidecar_counts_as_initialized_and_in_readiness() -> None:
    s = pod_status(pod(C, inits=(SIDE,)), runtime(running(SIDE), running(C)), inputs())
    assert s["phase"] == "Running" and conds(s)["Initialized"][0] == "True" and conds(s)["Ready"][0] == "True"
    side = s["initContainerStatuses"][0]
    assert side["started"] is True and side["ready"] is True and "running" in side["state"]
    probe_side = {**SIDE, "readinessProbe": {"exec": {"command": ["true"]}}}
    s = pod_status(pod(C, inits=(probe_side,)), runtime(running(probe_side, cid="s1"), running(C)), inputs())
    assert conds(s)["Ready"] == ("False", "ContainersNotReady", "containers with unready status: [side]")


def test_a_pod_whose_main_container_finished_succeeds_with_its_sidecar_stopped() -> None:
    s = pod_status(pod(C, inits=(SIDE,), policy="Never"), runtime(exited(SIDE, 137), exited(C, 0)), inputs())
    assert s["phase"] == "Succeeded"
