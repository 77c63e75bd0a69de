"""The CronJob core and its schedule parser against kube-controller-manager 1.32 / robfig cron v3, on fake times."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from apiserver import cron
from controllers import podcontrol as pc
from controllers.cronjob import reconcile as cr

pytestmark = pytest.mark.unit
Obj = dict[str, Any]


def ts(text: str) -> float:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.UTC).timestamp()


def iso(t: float | None) -> str | None:
    return None if t is None else datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S")


@pytest.mark.parametrize("spec,after,expected", [
    ("*/1 * * * *", "2026-12-08T00:25:30", "2026-12-08T00:26:00"),
    ("*/1 * * * *", "2026-12-08T00:26:00", "2026-12-08T00:27:00"),  # strictly after
    ("*/15 * * * *", "2026-12-08T00:25:00", "2026-12-08T00:30:00"),
    ("5/20 * * * *", "2026-12-08T00:26:00", "2026-12-08T00:45:00"),
    ("0 9 * * mon-fri", "2026-12-11T10:00:00", "2026-12-14T09:00:00"),  # Friday evening -> Monday
    ("0 0 1 JAN,jul *", "2026-02-01T00:00:00", "2026-07-01T00:00:00"),
    ("0 0 13 * 5", "2026-01-01T00:00:00", "2026-01-02T00:00:00"),  # dom OR dow when both are restricted
    ("0 0 13 * *", "2026-01-01T00:00:00", "2026-01-13T00:00:00"),
    ("0 0 * * */2", "2026-12-08T01:00:00", "2026-12-10T00:00:00"),  # a step clears the star: dow only
    ("0 0 ? * 0", "2026-12-08T00:00:00", "2026-12-13T00:00:00"),
    ("@yearly", "2026-12-08T00:00:00", "2027-01-01T00:00:00"),
    ("@annually", "2026-12-08T00:00:00", "2027-01-01T00:00:00"),
    ("@monthly", "2026-12-08T00:00:00", "2027-01-01T00:00:00"),
    ("@weekly", "2026-12-08T00:00:00", "2026-12-13T00:00:00"),
    ("@daily", "2026-12-08T00:00:00", "2026-12-09T00:00:00"),
    ("@midnight", "2026-12-08T23:59:59", "2026-12-09T00:00:00"),
    ("@hourly", "2026-12-08T00:25:00", "2026-12-08T01:00:00"),
    ("@every 1h30m", "2026-12-08T00:00:00", "2026-12-08T01:30:00"),
    ("0 0 29 2 *", "2026-03-01T00:00:00", "2028-02-29T00:00:00"),
    ("0 0 31 2 *", "2026-03-01T00:00:00", None),
    ("CRON_TZ=Asia/Tokyo 0 9 * * *", "2026-12-08T00:00:00", "2026-12-09T00:00:00"),
    ("TZ=UTC 0 9 * * *", "2026-12-08T00:00:00", "2026-12-08T09:00:00"),
])
def test_next_activation(spec: str, after: str, expected: str | None) -> None:
    assert iso(cron.parse(spec).next(ts(after))) == expected


def test_time_zone_field_and_a_dst_gap_skip_the_missing_wall_clock_time() -> None:
    berlin = cron.load_zone("Europe/Berlin")
    assert iso(cron.parse("30 2 * * *", berlin).next(ts("2026-03-28T12:00:00"))) == "2026-03-30T00:30:00"
    assert iso(cron.parse("0 9 * * *", berlin).next(ts("2026-12-08T00:00:00"))) == "2026-12-08T08:00:00"


@pytest.mark.parametrize("spec,message", [
    ("", "empty spec string"),
    ("* * * *", "expected exactly 5 fields, found 4: [* * * *]"),
    ("* * * * * *", "expected exactly 5 fields, found 6: [* * * * * *]"),
    ("60 * * * *", "end of range (60) above maximum (59): 60"),
    ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
    ("* * * * 7", "end of range (7) above maximum (6): 7"),
    ("a * * * *", 'failed to parse int from a: strconv.Atoi: parsing "a": invalid syntax'),
    ("5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"),
    ("*/0 * * * *", "step of range should be a positive number: */0"),
    ("1/2/3 * * * *", "too many slashes: 1/2/3"),
    ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
    ("@fortnightly", "unrecognized descriptor: @fortnightly"),
    ("@every soon", 'failed to parse duration @every soon: time: invalid duration "soon"'),
    ("TZ=Mars/Base * * * * *", "provided bad location Mars/Base: unknown time zone Mars/Base"),
])
def test_parse_errors_are_robfigs(spec: str, message: str) -> None:
    with pytest.raises(cron.ScheduleError) as e:
        cron.parse(spec)
    assert str(e.value) == message


# ---------------------------------------------------------------- the controller core

T0 = ts("2026-12-08T00:00:00")


def cronjob(**spec: Any) -> Obj:
    base: Obj = {"schedule": "*/1 * * * *", "concurrencyPolicy": "Allow", "suspend": False,
                 "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1,
                 "jobTemplate": {"metadata": {"labels": {"team": "a"}},
                                 "spec": {"template": {"spec": {"restartPolicy": "OnFailure",
                                                                "containers": [{"name": "c", "image": "i"}]}}}}}
    base.update(spec)
    return {"apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": "hello", "namespace": "ns", "uid": "cj-uid", "creationTimestamp": pc.rfc3339(T0)},
            "spec": base, "status": {}}


def job(name: str, *, finished: str | None = None, start: float = T0, done: float | None = None,
        owner: str = "hello") -> Obj:
    st: Obj = {"startTime": pc.rfc3339(start)}
    if finished:
        st["conditions"] = [{"type": finished, "status": "True"}]
    if done is not None:
        st["completionTime"] = pc.rfc3339(done)
    return {"metadata": {"name": name, "namespace": "ns", "uid": f"u-{name}", "resourceVersion": "5",
                         "ownerReferences": [{"kind": "CronJob", "name": owner, "uid": "cj-uid", "controller": True}]},
            "status": st}


def reasons(r: cr.Result) -> list[str]:
    return [e.reason for e in r.events]


def test_nothing_due_requeues_for_the_next_minute_plus_100ms() -> None:
    r = cr.sync(cronjob(), [], T0 + 10)
    assert r.create is None and r.status is None and r.requeue_after == pytest.approx(50.1)


def test_due_schedule_creates_the_job_with_minute_name_annotation_labels_and_owner() -> None:
    now = T0 + 61
    r = cr.sync(cronjob(), [], now)
    assert r.create is not None and r.scheduled_time == T0 + 60
    body = r.create.body
    assert body["metadata"]["name"] == f"hello-{int(T0 + 60) // 60}"
    assert body["metadata"]["annotations"] == {cr.SCHEDULED_TIMESTAMP: "2026-12-08T00:01:00Z"}
    assert body["metadata"]["labels"] == {"team": "a"}
    assert body["metadata"]["ownerReferences"] == [{"apiVersion": "batch/v1", "kind": "CronJob", "name": "hello",
                                                    "uid": "cj-uid", "controller": True, "blockOwnerDeletion": True}]
    assert body["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"
    assert r.status == {"lastScheduleTime": "2026-12-08T00:01:00Z"}
    assert r.requeue_after == pytest.approx(59.1)
    created = {**body, "metadata": {**body["metadata"], "uid": "new", "resourceVersion": "9"}}
    assert cr.with_created(r.status, created)["active"] == [
        {"kind": "Job", "namespace": "ns", "name": body["metadata"]["name"], "uid": "new", "apiVersion": "batch/v1",
         "resourceVersion": "9"}]


def test_scheduled_timestamp_annotation_uses_the_time_zone() -> None:
    r = cr.sync(cronjob(timeZone="Europe/Berlin"), [], T0 + 61)
    assert r.create is not None
    assert r.create.body["metadata"]["annotations"][cr.SCHEDULED_TIMESTAMP] == "2026-12-08T01:01:00+01:00"


def test_an_already_processed_time_is_not_started_twice() -> None:
    cj = cronjob()
    cj["status"] = {"lastScheduleTime": pc.rfc3339(T0 + 60)}
    r = cr.sync(cj, [], T0 + 90)
    assert r.create is None and r.requeue_after == pytest.approx(30.1)


def test_only_the_most_recent_missed_time_is_started() -> None:
    cj = cronjob()
    cj["status"] = {"lastScheduleTime": pc.rfc3339(T0)}
    r = cr.sync(cj, [], T0 + 600 + 5)
    assert r.scheduled_time == T0 + 600 and "TooManyMissedTimes" not in reasons(r)


def test_more_than_100_missed_times_warns_but_still_starts() -> None:
    r = cr.sync(cronjob(), [], T0 + 60 * 200 + 1)
    assert "TooManyMissedTimes" in reasons(r) and r.scheduled_time == T0 + 60 * 200
    assert r.events[0].message == ("too many missed start times. Set or decrease .spec.startingDeadlineSeconds or "
                                   "check clock skew")


def test_starting_deadline_limits_the_look_back_and_misses_late_starts() -> None:
    cj = cronjob(schedule="0 * * * *", startingDeadlineSeconds=30)
    r = cr.sync(cj, [], T0 + 3600 + 45)
    # the deadline window (15 s.. 45 s after the hour) holds no activation: nothing to start, nothing missed
    assert r.create is None and reasons(r) == []
    cj = cronjob(schedule="0 * * * *", startingDeadlineSeconds=30)
    r = cr.sync(cj, [], T0 + 3600 + 20)
    assert r.create is not None
    cj = cronjob(schedule="*/1 * * * *", startingDeadlineSeconds=200)
    cj["status"] = {"lastScheduleTime": pc.rfc3339(T0)}
    assert cr.sync(cj, [], T0 + 600 + 5).scheduled_time == T0 + 600


def test_a_zero_starting_deadline_never_finds_a_due_time() -> None:
    # the look-back starts at now - deadline, so the latest activation found is never older than the deadline
    # (kube's MissSchedule branch is unreachable for the same reason)
    r = cr.sync(cronjob(schedule="0 * * * *", startingDeadlineSeconds=0), [], T0 + 3600 + 1)
    assert r.create is None and reasons(r) == [] and r.requeue_after == pytest.approx(3599.1)


def test_suspended_cronjob_starts_nothing() -> None:
    r = cr.sync(cronjob(suspend=True), [], T0 + 61)
    assert r.create is None and r.requeue_after is None


def test_forbid_with_an_active_job_records_job_already_active() -> None:
    cj = cronjob(concurrencyPolicy="Forbid")
    running = job("hello-1")
    cj["status"] = {"active": [cr.job_ref(running)], "lastScheduleTime": pc.rfc3339(T0)}
    r = cr.sync(cj, [running], T0 + 61)
    assert r.create is None
    assert [(e.reason, e.message) for e in r.events] == [
        ("JobAlreadyActive", "Not starting job because prior execution is running and concurrency policy is Forbid")]


def test_replace_deletes_the_running_job_then_creates() -> None:
    cj = cronjob(concurrencyPolicy="Replace")
    running = job("hello-1")
    cj["status"] = {"active": [cr.job_ref(running)], "lastScheduleTime": pc.rfc3339(T0)}
    r = cr.sync(cj, [running], T0 + 61)
    assert [(d.name, d.propagation) for d in r.deletes] == [("hello-1", "Background")]
    assert r.create is not None and r.status is not None and "active" not in r.status
    assert ("SuccessfulDelete", "Deleted job hello-1") in [(e.reason, e.message) for e in r.events]


def test_allow_starts_beside_a_running_job() -> None:
    cj = cronjob()
    running = job("hello-1")
    cj["status"] = {"active": [cr.job_ref(running)], "lastScheduleTime": pc.rfc3339(T0)}
    r = cr.sync(cj, [running], T0 + 61)
    assert r.create is not None and r.status is not None and len(r.status["active"]) == 1


def test_finished_active_job_leaves_active_and_later_sets_last_successful_time() -> None:
    cj = cronjob()
    done = job("hello-1", finished="Complete", done=T0 + 30)
    cj["status"] = {"active": [cr.job_ref(done)], "lastScheduleTime": pc.rfc3339(T0 + 60)}
    r = cr.sync(cj, [done], T0 + 70)
    assert [(e.reason, e.message) for e in r.events] == [
        ("SawCompletedJob", "Saw completed job: hello-1, condition: Complete")]
    assert r.status == {"lastScheduleTime": pc.rfc3339(T0 + 60)}
    cj["status"] = r.status
    r = cr.sync(cj, [done], T0 + 71)
    assert r.status is not None and r.status["lastSuccessfulTime"] == pc.rfc3339(T0 + 30)


def test_history_limits_delete_the_oldest_finished_jobs() -> None:
    jobs = [job(f"ok-{i}", finished="Complete", start=T0 + i) for i in range(5)]
    jobs += [job(f"bad-{i}", finished="Failed", start=T0 + i) for i in range(3)]
    r = cr.sync(cronjob(suspend=True), jobs, T0 + 10)
    assert [d.name for d in r.deletes] == ["ok-0", "ok-1", "bad-0", "bad-1"]
    assert all(d.propagation == "Background" for d in r.deletes)
    assert reasons(r) == ["SuccessfulDelete"] * 4


def test_unexpected_job_and_missing_active_job() -> None:
    cj = cronjob(suspend=True)
    stray = job("stray")
    lost = job("lost")
    cj["status"] = {"active": [cr.job_ref(lost)]}
    r = cr.sync(cj, [stray], T0)
    assert reasons(r) == ["UnexpectedJob"] and r.missing == [cr.job_ref(lost)]
    r = cr.sync(cj, [stray], T0, gone=frozenset({"u-lost"}))
    assert ("MissingJob", "Active job went missing: lost") in [(e.reason, e.message) for e in r.events]
    assert r.status == {}


def test_jobs_of_other_cronjobs_are_not_touched() -> None:
    others = [job(f"x-{i}", finished="Complete", owner="other") for i in range(5)]
    assert cr.sync(cronjob(suspend=True), others, T0).deletes == []


def test_bad_time_zone_and_tz_in_schedule_events() -> None:
    r = cr.sync(cronjob(timeZone="Mars/Base"), [], T0 + 61)
    assert [(e.reason, e.message) for e in r.events] == [
        ("UnknownTimeZone", 'invalid timeZone: "Mars/Base": unknown time zone Mars/Base')]
    assert r.create is None
    r = cr.sync(cronjob(schedule="TZ=UTC */1 * * * *"), [], T0 + 61)
    assert reasons(r) == ["UnsupportedSchedule"] and r.create is not None
    r = cr.sync(cronjob(schedule="61 * * * *"), [], T0 + 61)
    assert [(e.reason, e.message) for e in r.events] == [
        ("UnparseableSchedule", 'unparseable schedule: "61 * * * *" : end of range (61) above maximum (59): 61')]


def test_impossible_schedule_is_an_invalid_schedule() -> None:
    r = cr.sync(cronjob(schedule="0 0 31 2 *"), [], T0 + 61)
    assert [(e.reason, e.message) for e in r.events] == [
        ("InvalidSchedule", "invalid schedule: 0 0 31 2 * : time difference between two schedules is less than "
                            "1 second")]
    assert r.create is None and r.requeue_after is None


def test_deleted_cronjob_only_reconciles_status() -> None:
    cj = cronjob()
    cj["metadata"]["deletionTimestamp"] = pc.rfc3339(T0)
    assert cr.sync(cj, [], T0 + 61).create is None
