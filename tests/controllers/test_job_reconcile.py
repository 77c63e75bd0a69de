"""The Job core against kube-controller-manager 1.32's behaviour, on fake times (tests/controllers/jobworld.py
applies each plan as the API server would)."""

from __future__ import annotations

import pytest

from controllers import podcontrol as pc
from controllers.job import indexes as ix
from controllers.job import reconcile as jr
from tests.controllers.jobworld import World, make_job

pytestmark = pytest.mark.unit


def conds(w: World) -> list[tuple[str, str, str]]:
    return [(c["type"], c.get("reason", ""), c.get("message", "")) for c in w.status().get("conditions") or []]


def test_first_sync_creates_pods_with_finalizer_owner_and_generate_name() -> None:
    w = World(make_job(parallelism=2, completions=4))
    planned = w.sync()
    assert len(planned.creates) == 2
    body = planned.creates[0].body
    md = body["metadata"]
    assert md["generateName"] == "pi-"
    assert md["finalizers"] == [jr.TRACKING_FINALIZER]
    assert md["ownerReferences"] == [{"apiVersion": "batch/v1", "kind": "Job", "name": "pi", "uid": "uid-pi",
                                      "controller": True, "blockOwnerDeletion": True}]
    assert md["labels"]["batch.kubernetes.io/controller-uid"] == "uid-pi"
    st = w.status()
    assert st["startTime"] == pc.rfc3339(1000)
    assert st["active"] == 2 and st["ready"] == 0 and st["terminating"] == 0
    assert st["uncountedTerminatedPods"] == {}
    assert ("Normal", "SuccessfulCreate", f"Created pod: {w.names()[0]}") in w.events


def test_job_runs_to_completion_counting_through_uncounted_and_finalizers() -> None:
    w = World(make_job(parallelism=2, completions=3))
    w.sync()
    first, second = w.names()
    w.run_pod(first)
    w.sync()
    assert w.status()["ready"] == 1
    w.finish_pod(first, "Succeeded")
    planned = w.sync()
    # the UID is written as uncounted before its finalizer goes, then counted
    assert planned.status is not None and planned.status["uncountedTerminatedPods"]["succeeded"] == ["pod-1"]
    assert w.status()["succeeded"] == 1 and w.status()["uncountedTerminatedPods"] == {}
    assert jr.TRACKING_FINALIZER not in w.pods[first]["metadata"]["finalizers"]
    assert len(w.pods) == 3 and w.status()["active"] == 2  # one replacement for the succeeded one
    for name in w.names():
        if w.pods[name]["status"]["phase"] != "Succeeded":
            w.finish_pod(name, "Succeeded")
    w.sync()
    assert w.status()["succeeded"] == 3 and w.status().get("active") is None
    assert conds(w) == [("SuccessCriteriaMet", "CompletionsReached", "Reached expected number of succeeded pods"),
                        ("Complete", "CompletionsReached", "Reached expected number of succeeded pods")]
    assert w.status()["completionTime"] == pc.rfc3339(w.now)
    assert ("Normal", "Completed", "Job completed") in w.events
    writes = w.writes
    assert w.sync().status is None and w.writes == writes  # a finished Job is left alone


def test_backoff_limit_exceeded_sets_failure_target_then_failed() -> None:
    w = World(make_job(backoffLimit=1))
    w.sync()
    w.finish_pod(w.names()[0], "Failed", 1)
    w.now += 100
    w.sync()
    assert w.status()["failed"] == 1 and len(w.pods) == 2  # back-off of 10 s already passed: replaced
    second = [n for n in w.names() if w.pods[n]["status"]["phase"] == "Pending"][0]
    w.finish_pod(second, "Failed", 1)
    w.sync()
    assert w.status()["failed"] == 2
    assert conds(w) == [("FailureTarget", "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
                        ("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")]
    assert ("Warning", "BackoffLimitExceeded", "Job has reached the specified backoff limit") in w.events
    assert "completionTime" not in w.status()


def test_failed_pod_is_replaced_only_after_exponential_backoff() -> None:
    w = World(make_job(backoffLimit=6))
    w.sync()
    w.finish_pod(w.names()[0], "Failed", 1, at=w.now)
    w.now += 4
    planned = w.sync()
    assert planned.creates == [] and planned.requeue_after == pytest.approx(6)
    assert w.status().get("active") is None  # kube reports 0 active while waiting
    assert w.backoff == jr.Backoff(1, 1000.0)
    w.now += 6
    assert len(w.sync().creates) == 1


@pytest.mark.parametrize("failures,elapsed,remaining", [
    (0, 0, 0), (1, 0, 10), (1, 4, 6), (2, 0, 20), (3, 0, 40), (4, 5, 75), (6, 0, 320), (7, 0, 360), (30, 0, 360),
    (1, 11, 0),
])
def test_backoff_doubles_from_10s_to_a_6_minute_cap(failures: int, elapsed: float, remaining: float) -> None:
    assert jr.Backoff(failures, 100.0 if failures else None).remaining(100.0 + elapsed) == remaining


def test_a_success_resets_the_backoff_and_later_failures_count_again() -> None:
    ok = {"status": {"phase": "Succeeded", "containerStatuses": [
        {"name": "c", "state": {"terminated": {"exitCode": 0, "finishedAt": pc.rfc3339(50)}}}]}, "metadata": {}}
    bad = {"status": {"phase": "Failed", "containerStatuses": [
        {"name": "c", "state": {"terminated": {"exitCode": 1, "finishedAt": pc.rfc3339(60)}}}]}, "metadata": {}}
    older_bad = {"status": {"phase": "Failed", "conditions": [
        {"type": "Ready", "status": "False", "lastTransitionTime": pc.rfc3339(40)}]}, "metadata": {}}
    assert jr.next_backoff(jr.Backoff(5, 10), [ok], []) == jr.Backoff()
    assert jr.next_backoff(jr.Backoff(5, 10), [ok], [bad, older_bad]) == jr.Backoff(1, 60)
    assert jr.next_backoff(jr.Backoff(2, 10), [], [older_bad, bad]) == jr.Backoff(4, 60)


def test_active_deadline_fails_the_job_and_deletes_active_pods() -> None:
    w = World(make_job(activeDeadlineSeconds=30, parallelism=2, completions=2))
    planned = w.sync()
    assert planned.requeue_after == 30
    w.now += 10
    assert w.sync().requeue_after == 20
    for n in w.names():
        w.run_pod(n)
    w.now += 20
    planned = w.sync()
    assert len(planned.deletes) == 2 and planned.pre_delete_removals == []
    assert conds(w) == [("FailureTarget", "DeadlineExceeded", "Job was active longer than specified deadline")]
    # deleted pods are counted as failed at once; Failed waits until they are gone
    assert w.status()["failed"] == 2 and w.status()["terminating"] == 2 and w.status().get("active") is None
    for n in w.names():
        w.gone(n)
    w.sync()
    assert conds(w)[-1] == ("Failed", "DeadlineExceeded", "Job was active longer than specified deadline")
    assert w.status()["terminating"] == 0
    assert ("Warning", "DeadlineExceeded", "Job was active longer than specified deadline") in w.events


def test_indexed_job_pods_carry_index_annotation_label_hostname_and_env() -> None:
    w = World(make_job(completionMode="Indexed", completions=3, parallelism=2))
    planned = w.sync()
    indexes = [c.body["metadata"]["annotations"][ix.COMPLETION_INDEX_KEY] for c in planned.creates]
    assert indexes == ["0", "1"]
    pod = planned.creates[1].body
    assert pod["metadata"]["labels"][ix.COMPLETION_INDEX_KEY] == "1"
    assert pod["metadata"]["generateName"] == "pi-1-"
    assert pod["spec"]["hostname"] == "pi-1"
    assert pod["spec"]["containers"][0]["env"] == [{"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {
        "fieldPath": "metadata.labels['batch.kubernetes.io/job-completion-index']"}}}]
    by_index = {w.pods[n]["metadata"]["annotations"][ix.COMPLETION_INDEX_KEY]: n for n in w.names()}
    w.finish_pod(by_index["1"], "Succeeded")
    planned = w.sync()
    assert [c.body["metadata"]["annotations"][ix.COMPLETION_INDEX_KEY] for c in planned.creates] == ["2"]
    assert w.status()["completedIndexes"] == "1" and w.status()["succeeded"] == 1
    for n in w.names():
        if w.pods[n]["status"]["phase"] != "Succeeded":
            w.finish_pod(n, "Succeeded")
    w.sync()
    assert w.status()["completedIndexes"] == "0-2" and conds(w)[-1][0] == "Complete"


def test_indexed_job_deletes_duplicate_indexes_keeping_the_most_advanced() -> None:
    w = World(make_job(completionMode="Indexed", completions=2, parallelism=2))
    w.sync()
    a, b = w.names()
    w.pods[b]["metadata"]["annotations"][ix.COMPLETION_INDEX_KEY] = "0"
    w.run_pod(a)
    planned = w.sync()
    assert [d.name for d in planned.deletes] == [b] and planned.creates == []


@pytest.mark.parametrize("text,total,expected,back", [
    ("", 5, set(), ""), ("0-2,4", 5, {0, 1, 2, 4}, "0-2,4"), ("1,3-4", 4, {1, 3}, "1,3"),
    ("0-1", 3, {0, 1}, "0,1"), ("x,2", 3, {2}, "2"), ("0-2,5-6", 9, {0, 1, 2, 5, 6}, "0-2,5,6"),
])
def test_completed_indexes_text(text: str, total: int, expected: set[int], back: str) -> None:
    assert ix.parse(text, total) == expected and ix.format_indexes(expected) == back


def test_pod_failure_policy_fail_job_on_exit_code() -> None:
    policy = {"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
                        {"action": "FailJob", "onExitCodes": {"containerName": "c", "operator": "In",
                                                              "values": [42]}}]}
    w = World(make_job(podFailurePolicy=policy, podReplacementPolicy="Failed"))
    w.sync()
    name = w.names()[0]
    w.finish_pod(name, "Failed", 42)
    w.sync()
    message = f"Container c for pod ns/{name} failed with exit code 42 matching FailJob rule at index 1"
    assert conds(w) == [("FailureTarget", "PodFailurePolicy", message), ("Failed", "PodFailurePolicy", message)]
    assert w.status()["failed"] == 1


def test_pod_failure_policy_ignore_does_not_count_and_replaces_the_pod() -> None:
    policy = {"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]}
    w = World(make_job(podFailurePolicy=policy, backoffLimit=0))
    w.sync()
    name = w.names()[0]
    w.finish_pod(name, "Failed", 137)
    w.pods[name]["status"]["conditions"].append({"type": "DisruptionTarget", "status": "True"})
    w.sync()
    assert w.status().get("failed") is None and conds(w) == []
    assert jr.TRACKING_FINALIZER not in w.pods[name]["metadata"]["finalizers"]
    assert len(w.pods) == 1 and w.backoff == jr.Backoff(1, 1000.0)  # ignored, but still backed off
    w.now += 10
    w.sync()
    assert len(w.pods) == 2 and w.status().get("failed") is None and conds(w) == []


@pytest.mark.parametrize("rule,code,expected", [
    ({"operator": "In", "values": [1, 2]}, 2, "Count"), ({"operator": "In", "values": [1]}, 3, None),
    ({"operator": "NotIn", "values": [1]}, 3, "Count"), ({"operator": "NotIn", "values": [3]}, 3, None),
    ({"containerName": "other", "operator": "In", "values": [3]}, 3, None),
])
def test_on_exit_codes_operators(rule: dict[str, object], code: int, expected: str | None) -> None:
    pod = {"metadata": {"name": "p", "namespace": "ns"}, "status": {"phase": "Failed", "containerStatuses": [
        {"name": "c", "state": {"terminated": {"exitCode": code}}}]}}
    assert jr.match_pod_failure_policy({"rules": [{"action": "Count", "onExitCodes": rule}]}, pod)[2] == expected


def test_suspend_deletes_pods_without_counting_them_and_resume_resets_start_time() -> None:
    w = World(make_job(parallelism=2, completions=2))
    w.sync()
    w.job["spec"]["suspend"] = True
    w.now += 50
    planned = w.sync()
    assert len(planned.deletes) == 2 and len(planned.pre_delete_removals) == 2
    assert w.pods == {} and w.status().get("failed") is None
    assert conds(w) == [("Suspended", "JobSuspended", "Job suspended")]
    assert ("Normal", "Suspended", "Job suspended") in w.events
    w.job["spec"]["suspend"] = False
    w.now += 50
    w.sync()
    assert conds(w) == [("Suspended", "JobResumed", "Job resumed")]
    assert w.job["status"]["conditions"][0]["status"] == "False"
    assert w.status()["startTime"] == pc.rfc3339(w.now) and len(w.pods) == 2


def test_job_created_suspended_has_no_start_time() -> None:
    w = World(make_job(suspend=True))
    planned = w.sync()
    assert planned.creates == [] and "startTime" not in w.status()
    assert conds(w) == [("Suspended", "JobSuspended", "Job suspended")]


def test_surplus_pods_after_lowering_parallelism_go_least_advanced_first() -> None:
    w = World(make_job(parallelism=3, completions=10))
    w.sync()
    a, b, c = w.names()
    w.run_pod(a)
    w.run_pod(c, ready=False)
    w.job["spec"]["parallelism"] = 1
    planned = w.sync()
    assert [d.name for d in planned.deletes] == [b, c]
    assert w.status()["active"] == 1


def test_unsatisfied_expectations_create_nothing() -> None:
    w = World(make_job(parallelism=2))
    planned = jr.plan(w.job, [], 1000.0, None, satisfied_expectations=False)
    assert planned.creates == []


def test_no_completions_job_completes_when_one_pod_succeeds_and_the_rest_end() -> None:
    w = World(make_job(parallelism=2, completions=None))
    w.sync()
    a, b = w.names()
    w.finish_pod(a, "Succeeded")
    w.sync()
    assert conds(w) == [] and len(w.pods) == 2  # b still runs: left alone, nothing new
    w.finish_pod(b, "Succeeded")
    w.sync()
    assert conds(w)[-1][0] == "Complete" and w.status()["succeeded"] == 2


def test_restart_policy_on_failure_counts_restarts_against_the_limit() -> None:
    job = make_job(backoffLimit=2)
    job["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure"
    w = World(job)
    w.sync()
    name = w.names()[0]
    w.run_pod(name)
    w.pods[name]["status"]["containerStatuses"] = [{"name": "c", "restartCount": 2, "state": {"running": {}}}]
    w.sync()
    assert conds(w)[0][:2] == ("FailureTarget", "BackoffLimitExceeded")


def test_success_policy_met_deletes_the_rest_and_completes() -> None:
    policy = {"rules": [{"succeededIndexes": "0", "succeededCount": 1}]}
    w = World(make_job(completionMode="Indexed", completions=3, parallelism=3, successPolicy=policy))
    w.sync()
    by_index = {w.pods[n]["metadata"]["annotations"][ix.COMPLETION_INDEX_KEY]: n for n in w.names()}
    w.finish_pod(by_index["0"], "Succeeded")
    planned = w.sync()
    assert sorted(d.name for d in planned.deletes) == sorted([by_index["1"], by_index["2"]])
    assert conds(w) == [("SuccessCriteriaMet", "SuccessPolicy", "Matched rules at index 0")]
    for n in list(w.pods):
        if w.pods[n]["metadata"].get("deletionTimestamp"):
            w.gone(n)
    w.sync()
    for n in list(w.pods):
        if w.pods[n]["metadata"].get("deletionTimestamp"):
            w.gone(n)
    w.sync()
    assert conds(w)[-1] == ("Complete", "SuccessPolicy", "Matched rules at index 0")
    assert w.status().get("failed") is None  # pods removed after success are not failures


def test_unknown_completion_mode_is_skipped_with_a_warning() -> None:
    planned = jr.plan(make_job(completionMode="Bogus"), [], 0.0)
    assert [(e.reason, e.message) for e in planned.events] == [
        ("UnknownCompletionMode", "Skipped Job sync because completion mode is unknown")]
    assert planned.creates == [] and planned.status is None


def test_pods_of_other_owners_or_unselected_are_ignored() -> None:
    w = World(make_job())
    w.sync()
    stranger = {"metadata": {"name": "x", "namespace": "ns", "uid": "x", "labels": {
        "batch.kubernetes.io/controller-uid": "uid-pi"}, "finalizers": [jr.TRACKING_FINALIZER]},
        "status": {"phase": "Succeeded"}}
    w.pods["x"] = stranger
    planned = w.sync()
    assert planned.status is None and planned.removals == []


def test_indexed_pods_lost_with_the_job_failing_are_counted_once() -> None:
    w = World(make_job(completionMode="Indexed", completions=2, parallelism=2, backoffLimit=0))
    w.sync()
    a, _ = w.names()
    w.finish_pod(a, "Failed", 1)
    w.sync()
    assert w.status()["failed"] == 2 and conds(w)[0][0] == "FailureTarget"
    w.sync()
    assert w.status()["failed"] == 2


def test_a_job_managed_by_another_controller_is_left_alone() -> None:
    assert jr.plan(make_job(managedBy="example.com/other"), [], 0.0).actions() == []
    assert jr.plan(make_job(managedBy="kubernetes.io/job-controller"), [], 0.0).creates != []


def by_index(w: World) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for n in w.names():
        out.setdefault(w.pods[n]["metadata"]["annotations"][ix.COMPLETION_INDEX_KEY], []).append(n)
    return out


def test_backoff_limit_per_index_counts_failures_per_index_and_fails_the_index() -> None:
    w = World(make_job(completionMode="Indexed", completions=2, parallelism=2, backoffLimitPerIndex=1,
                       backoffLimit=2**31 - 1))
    w.sync()
    assert all(w.pods[n]["metadata"]["annotations"][jr.INDEX_FAILURE_COUNT] == "0" for n in w.names())
    first = by_index(w)["0"][0]
    w.finish_pod(first, "Failed", 1)
    planned = w.sync()
    # the failed pod keeps its finalizer until its replacement exists; the index waits out its own back-off
    assert planned.creates == [] and planned.requeue_after == pytest.approx(10)
    assert jr.TRACKING_FINALIZER in w.pods[first]["metadata"]["finalizers"]
    assert w.status()["failedIndexes"] == "" and w.status().get("failed") is None
    w.now += 10
    planned = w.sync()
    (replacement,) = planned.creates
    assert replacement.body["metadata"]["annotations"][jr.INDEX_FAILURE_COUNT] == "1"
    w.sync()
    assert jr.TRACKING_FINALIZER not in w.pods[first]["metadata"]["finalizers"] and w.status()["failed"] == 1
    second = [n for n in by_index(w)["0"] if n != first][0]
    w.finish_pod(second, "Failed", 1)
    w.sync()
    assert w.status()["failedIndexes"] == "0" and not conds(w)
    w.finish_pod(by_index(w)["1"][0], "Succeeded")
    w.sync()
    assert conds(w) == [("FailureTarget", "FailedIndexes", "Job has failed indexes"),
                        ("Failed", "FailedIndexes", "Job has failed indexes")]
    assert w.status()["completedIndexes"] == "1" and w.status()["failed"] == 2


def test_max_failed_indexes_exceeded() -> None:
    policy = {"rules": [{"action": "FailIndex", "onExitCodes": {"operator": "In", "values": [7]}}]}
    w = World(make_job(completionMode="Indexed", completions=3, parallelism=3, backoffLimitPerIndex=5,
                       maxFailedIndexes=0, podFailurePolicy=policy, podReplacementPolicy="Failed"))
    w.sync()
    w.finish_pod(by_index(w)["2"][0], "Failed", 7)  # FailIndex: the index fails at once
    w.sync()
    assert conds(w)[0] == ("FailureTarget", "MaxFailedIndexesExceeded",
                           "Job has exceeded the specified maximal number of failed indexes")
    assert w.status()["failedIndexes"] == "2"
