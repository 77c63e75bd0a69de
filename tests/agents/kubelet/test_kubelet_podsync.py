"""The pod worker's decisions (computePodActions) on plain runtime views."""

from __future__ import annotations

import pytest

from agents.kubelet.podsync import compute_actions, restart_count
from agents.kubelet.runtimeview import PodRuntime
from tests.agents.kubelet.podfixtures import exited, pod, running, runtime, sandbox

pytestmark = pytest.mark.unit
C = {"name": "c", "image": "busybox", "command": ["sleep", "3600"]}
D = {"name": "d", "image": "busybox"}
I1 = {"name": "i1", "image": "busybox"}
I2 = {"name": "i2", "image": "busybox"}


def test_a_new_pod_gets_a_sandbox_and_all_its_containers() -> None:
    a = compute_actions(pod(C, D), PodRuntime())
    assert a.create_sandbox and a.sandbox_attempt == 0 and not a.kill_pod
    assert a.start == ["c", "d"] and a.start_init is None


def test_init_containers_run_one_at_a_time_in_order() -> None:
    p = pod(C, inits=(I1, I2))
    assert compute_actions(p, PodRuntime()).start_init == "i1"
    a = compute_actions(p, runtime(running(I1)))
    assert a.empty
    a = compute_actions(p, runtime(exited(I1, 0)))
    assert a.start_init == "i2" and a.start == []
    a = compute_actions(p, runtime(exited(I1, 0), exited(I2, 0)))
    assert a.start_init is None and a.start == ["c"]


def test_a_failed_init_container_is_retried_unless_the_policy_is_never() -> None:
    assert compute_actions(pod(C, inits=(I1,)), runtime(exited(I1, 1))).start_init == "i1"
    a = compute_actions(pod(C, inits=(I1,), policy="Never"), runtime(exited(I1, 1)))
    assert a.kill_pod and a.start_init is None and a.start == []


@pytest.mark.parametrize(("policy", "code", "restart"), [
    ("Always", 0, True), ("Always", 1, True), ("OnFailure", 0, False), ("OnFailure", 2, True),
    ("Never", 0, False), ("Never", 1, False)])
def test_restart_policy_decides_whether_an_exited_container_starts_again(policy: str, code: int,
                                                                         restart: bool) -> None:
    a = compute_actions(pod(C, policy=policy), runtime(exited(C, code)))
    assert a.start == (["c"] if restart else [])
    assert not a.create_sandbox


def test_a_liveness_failure_kills_and_restarts_the_container() -> None:
    c = running(C, cid="abc")
    a = compute_actions(pod(C), runtime(c), liveness_failed=frozenset({"abc"}))
    assert [(k.container_id, k.message) for k in a.kill] == \
        [("abc", "Container c failed liveness probe, will be restarted")]
    assert a.start == ["c"]
    a = compute_actions(pod(C, policy="Never"), runtime(c), liveness_failed=frozenset({"abc"}))
    assert len(a.kill) == 1 and a.start == []


def test_a_startup_failure_restarts_too() -> None:
    a = compute_actions(pod(C), runtime(running(C, cid="x")), startup_failed=frozenset({"x"}))
    assert a.kill[0].message == "Container c failed startup probe, will be restarted"


def test_a_changed_container_definition_restarts_it() -> None:
    changed = {**C, "command": ["sleep", "1"]}
    a = compute_actions(pod(changed), runtime(running(C, cid="x")))
    assert a.kill[0].message == "Container c definition changed, will be restarted" and a.start == ["c"]


def test_a_running_healthy_container_is_left_alone() -> None:
    assert compute_actions(pod(C), runtime(running(C))).empty


def test_a_dead_sandbox_is_recreated_with_the_next_attempt_and_the_pod_killed_first() -> None:
    rt = runtime(running(C), sb=sandbox(ready=False, attempt=2))
    a = compute_actions(pod(C), rt)
    assert a.create_sandbox and a.sandbox_attempt == 3 and a.kill_pod and a.start == ["c"]


def test_a_never_pod_that_ran_does_not_get_a_new_sandbox() -> None:
    rt = runtime(exited(C, 0), sb=sandbox(ready=False))
    a = compute_actions(pod(C, policy="Never"), rt)
    assert not a.create_sandbox and a.start == []


def test_on_failure_pod_with_a_new_sandbox_skips_containers_that_succeeded() -> None:
    rt = runtime(exited(C, 0), exited(D, 1), sb=sandbox(ready=False))
    a = compute_actions(pod(C, D, policy="OnFailure"), rt)
    assert a.create_sandbox and a.start == ["d"]


def test_a_deleted_pod_starts_nothing() -> None:
    p = pod(C)
    p["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert compute_actions(p, runtime(exited(C, 1))).start == []


def test_restart_count_is_one_more_than_the_latest_container() -> None:
    assert restart_count(PodRuntime(), "c") == 0
    assert restart_count(runtime(exited(C, 1, restarts=0), exited(C, 1, restarts=1, started=200)), "c") == 2


SIDE = {"name": "side", "image": "busybox", "restartPolicy": "Always"}


def test_a_sidecar_starts_first_and_the_next_init_waits_only_for_it_to_start() -> None:
    p = pod(C, inits=(SIDE, I1))
    assert compute_actions(p, PodRuntime()).start_init == "side"
    side = running(SIDE, cid="s1")
    assert compute_actions(p, runtime(side), startup_pending=frozenset({"s1"})).empty
    assert compute_actions(p, runtime(side)).start_init == "i1"
    a = compute_actions(p, runtime(side, exited(I1, 0)))
    assert a.start == ["c"] and a.start_init is None


def test_a_sidecar_is_restarted_even_under_never_and_stopped_when_the_main_containers_are_done() -> None:
    p = pod(C, inits=(SIDE,), policy="Never")
    a = compute_actions(p, runtime(exited(SIDE, 1, cid="s0"), running(C)))
    assert a.start_init == "side"
    a = compute_actions(p, runtime(running(SIDE, cid="s1"), exited(C, 0)))
    assert [(k.container_id, k.message) for k in a.kill] == [("s1", "Stopping container side")]
    assert compute_actions(pod(C, inits=(SIDE,)), runtime(running(SIDE), exited(C, 0))).start == ["c"]
