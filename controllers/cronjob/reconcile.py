"""The CronJob controller's decisions (kube-controller-manager 1.32 `cronjob_controllerv2.go`), pure.

`sync(cronjob, jobs, now)` is kube's `sync`: clean up finished Jobs beyond the history limits, reconcile
`status.active` with the Jobs that exist, then start the most recent unmet schedule if it is not too late, not
already started and the concurrency policy allows. It returns the writes in order, the CronJob status to write (if
it changed) and when to look again (the next schedule plus 100 ms): the adapter's `add_after`, so the clock stays
there. Two things need the API server's answer and are therefore left to the adapter: the Job's creation (409
AlreadyExists means it was started already) and whether an active Job missing from the cache is really gone.
"""

from __future__ import annotations

import copy
import datetime
from dataclasses import dataclass, field
from typing import Any

from apiserver import cron
from controllers import podcontrol as pc
from controllers.machinery.actions import Create, Delete, Event
from controllers.machinery.resources import CRONJOBS, JOBS

Obj = dict[str, Any]

SCHEDULED_TIMESTAMP = "batch.kubernetes.io/cronjob-scheduled-timestamp"
NEXT_SCHEDULE_DELTA = 0.1
MANY_MISSED = 100


@dataclass
class Result:
    """What to do, in order: `deletes` (history and Replace), then `create` (at most one Job), then write
    `status` (the adapter appends the created Job's reference to status.active); `events` as they happen."""
    deletes: list[Delete] = field(default_factory=list)
    create: Create | None = None
    scheduled_time: float | None = None
    status: Obj | None = None
    events: list[Event] = field(default_factory=list)
    requeue_after: float | None = None
    missing: list[Obj] = field(default_factory=list)  # active refs absent from the cache: the adapter GETs them


def job_name(cronjob: Obj, scheduled: float) -> str:
    """getJobName: `<cronjob>-<scheduled time in minutes since the epoch>`, the same for every try of one time."""
    return f"{pc.meta(cronjob).get('name')}-{int(scheduled) // 60}"


def finished_condition(job: Obj) -> str | None:
    for c in pc.status(job).get("conditions") or []:
        if c.get("type") in ("Complete", "Failed") and c.get("status") == "True":
            return str(c["type"])
    return None


def owned_jobs(cronjob: Obj, jobs: list[Obj]) -> list[Obj]:
    """getJobsToBeReconciled: Jobs of the namespace whose controller is a CronJob of this name."""
    ns, name = pc.meta(cronjob).get("namespace"), pc.meta(cronjob).get("name")
    out = []
    for j in jobs:
        ref = pc.controller_of(j)
        if pc.meta(j).get("namespace") == ns and ref and ref.get("kind") == "CronJob" and ref.get("name") == name:
            out.append(j)
    return out


def job_ref(job: Obj) -> Obj:
    """ref.GetReference: what status.active lists."""
    md = pc.meta(job)
    return {"kind": "Job", "namespace": md.get("namespace"), "name": md.get("name"), "uid": md.get("uid"),
            "apiVersion": JOBS.api_version, "resourceVersion": md.get("resourceVersion")}


def schedule_of(cronjob: Obj) -> tuple[cron.Schedule | None, list[Event]]:
    """formatSchedule + ParseStandard, with the warnings kube records: a TZ in the schedule is unsupported, a bad
    timeZone or schedule stops scheduling until the spec changes."""
    spec = pc.spec(cronjob)
    text = str(spec.get("schedule") or "")
    events: list[Event] = []
    zone: datetime.tzinfo = cron.UTC
    if spec.get("timeZone") is not None:
        try:
            zone = cron.load_zone(str(spec["timeZone"]))
        except cron.ScheduleError as e:
            return None, [Event(cronjob, "Warning", "UnknownTimeZone",
                                f'invalid timeZone: "{spec["timeZone"]}": {e}')]
    if "TZ" in text:
        events.append(Event(cronjob, "Warning", "UnsupportedSchedule",
                            f'CRON_TZ or TZ used in schedule "{text}" is not officially supported, see '
                            "https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details"))
    try:
        return cron.parse(text, zone), events
    except cron.ScheduleError as e:
        return None, [*events, Event(cronjob, "Warning", "UnparseableSchedule",
                                     f'unparseable schedule: "{text}" : {e}')]


def most_recent(cronjob: Obj, now: float, sched: cron.Schedule,
                include_deadline: bool) -> tuple[float, float | None, int]:
    """mostRecentScheduleTime: (earliest time considered, the latest unmet schedule <= now or None, number of
    missed schedules as kube estimates it). Raises ScheduleError when two activations are < 1 s apart."""
    earliest = pc.parse_time(pc.meta(cronjob).get("creationTimestamp")) or 0.0
    last = pc.parse_time(pc.status(cronjob).get("lastScheduleTime"))
    if last is not None:
        earliest = last
    deadline = pc.spec(cronjob).get("startingDeadlineSeconds")
    if include_deadline and deadline is not None:
        earliest = max(earliest, now - float(deadline))
    t1 = sched.next(earliest)
    t2 = sched.next(t1) if t1 is not None else None
    if t1 is not None and now < t1:
        return earliest, None, 0
    if t1 is not None and t2 is not None and now < t2:
        return earliest, t1, 0
    between = round(t2 - t1) if t1 is not None and t2 is not None else 0
    if between < 1:
        raise cron.ScheduleError("time difference between two schedules is less than 1 second")
    assert t1 is not None
    missed = int(now - t1) // between + 1
    recent: float | None = None
    t = sched.next(t1 + (missed - 2) * between)
    while t is not None and t <= now:
        recent = t
        t = sched.next(t)
    return earliest, recent, missed


def next_schedule_delay(cronjob: Obj, now: float, sched: cron.Schedule) -> float | None:
    """nextScheduleTimeDuration: from the latest activation (or the earliest time) to the next one, + 100 ms."""
    try:
        earliest, recent, _ = most_recent(cronjob, now, sched, include_deadline=False)
        base = recent if recent is not None else earliest
    except cron.ScheduleError:
        base = now
    nxt = sched.next(base)
    return None if nxt is None else nxt + NEXT_SCHEDULE_DELTA - now


def new_job(cronjob: Obj, scheduled: float, zone: datetime.tzinfo) -> Obj:
    """getJobFromTemplate2: the template's labels, annotations and spec, the deterministic name, the scheduled
    time annotation (RFC 3339 in the CronJob's time zone) and the controller reference."""
    template = pc.spec(cronjob).get("jobTemplate") or {}
    tmeta = template.get("metadata") or {}
    annotations = dict(tmeta.get("annotations") or {})
    when = datetime.datetime.fromtimestamp(int(scheduled), datetime.UTC).astimezone(zone)
    annotations[SCHEDULED_TIMESTAMP] = when.isoformat().replace("+00:00", "Z")
    md: Obj = {"name": job_name(cronjob, scheduled), "namespace": pc.meta(cronjob).get("namespace"),
               "annotations": annotations,
               "ownerReferences": [pc.controller_ref(cronjob, CRONJOBS.api_version, CRONJOBS.kind)]}
    if tmeta.get("labels"):
        md["labels"] = dict(tmeta["labels"])
    return {"apiVersion": JOBS.api_version, "kind": JOBS.kind, "metadata": md,
            "spec": copy.deepcopy(template.get("spec") or {})}


def _start_time(job: Obj) -> tuple[int, float, str]:
    """byJobStartTime: by status.startTime (Jobs without one last), then by name."""
    t = pc.parse_time(pc.status(job).get("startTime"))
    return (1 if t is None else 0, t or 0.0, str(pc.meta(job).get("name")))


def _cleanup(cronjob: Obj, status: Obj, jobs: list[Obj], out: Result) -> bool:
    """cleanupFinishedJobs: keep the newest successfulJobsHistoryLimit Complete and failedJobsHistoryLimit Failed
    Jobs, delete the rest (Background) with a SuccessfulDelete event each."""
    spec = pc.spec(cronjob)
    changed = False
    for kind, key in (("Complete", "successfulJobsHistoryLimit"), ("Failed", "failedJobsHistoryLimit")):
        limit = spec.get(key)
        if limit is None:
            continue
        done = sorted((j for j in jobs if finished_condition(j) == kind), key=_start_time)
        for j in done[:max(0, len(done) - int(limit))]:
            _delete_job(cronjob, status, j, out)
            changed = True
    return changed


def _delete_job(cronjob: Obj, status: Obj, job: Obj, out: Result) -> None:
    md = pc.meta(job)
    out.deletes.append(Delete(JOBS, md.get("namespace"), str(md.get("name")), uid=md.get("uid"),
                              propagation="Background"))
    status["active"] = [r for r in status.get("active") or [] if r.get("uid") != md.get("uid")]
    out.events.append(Event(cronjob, "Normal", "SuccessfulDelete", f"Deleted job {md.get('name')}"))


def sync(cronjob: Obj, jobs: list[Obj], now: float, *, gone: frozenset[str] = frozenset()) -> Result:
    """One sync of a CronJob. `jobs` may be every Job of the namespace; `gone` are UIDs of active refs the adapter
    confirmed missing from the API server (the cache alone is not trusted for that)."""
    out = Result()
    status = copy.deepcopy(pc.status(cronjob))
    before = copy.deepcopy(status)
    jobs = owned_jobs(cronjob, jobs)
    changed = _cleanup(cronjob, status, jobs, out)
    deleted = {d.uid for d in out.deletes}

    active_uids = {r.get("uid") for r in status.get("active") or []}
    children = set()
    for j in jobs:
        u = pc.meta(j).get("uid")
        children.add(u)
        if u in deleted:
            continue
        finished = finished_condition(j)
        if u not in active_uids and finished is None:
            out.events.append(Event(cronjob, "Warning", "UnexpectedJob",
                                    f"Saw a job that the controller did not create or forgot: {pc.meta(j).get('name')}"))
        elif u in active_uids and finished is not None:
            status["active"] = [r for r in status.get("active") or [] if r.get("uid") != u]
            out.events.append(Event(cronjob, "Normal", "SawCompletedJob",
                                    f"Saw completed job: {pc.meta(j).get('name')}, condition: {finished}"))
            changed = True
        elif finished == "Complete":
            done = pc.status(j).get("completionTime")
            last = status.get("lastSuccessfulTime")
            if last is None or (done is not None and (pc.parse_time(done) or 0) > (pc.parse_time(last) or 0)):
                status["lastSuccessfulTime"] = done
                changed = True
    for ref in list(status.get("active") or []):
        if ref.get("uid") in children:
            continue
        if ref.get("uid") in gone:
            out.events.append(Event(cronjob, "Normal", "MissingJob", f"Active job went missing: {ref.get('name')}"))
            status["active"] = [r for r in status.get("active") or [] if r.get("uid") != ref.get("uid")]
            changed = True
        else:
            out.missing.append(ref)

    def finish(requeue: float | None = None) -> Result:
        if not status.get("active"):
            status.pop("active", None)
        out.status = status if changed or status != before else None
        out.requeue_after = requeue
        return out

    if pc.meta(cronjob).get("deletionTimestamp") is not None:
        return finish()
    sched, events = schedule_of(cronjob)
    out.events.extend(events)
    if sched is None:
        return finish()
    if pc.spec(cronjob).get("suspend"):
        return finish()
    try:
        _, scheduled, missed = most_recent(cronjob, now, sched, include_deadline=True)
    except cron.ScheduleError as e:
        out.events.append(Event(cronjob, "Warning", "InvalidSchedule",
                                f"invalid schedule: {pc.spec(cronjob).get('schedule')} : {e}"))
        return finish()
    if scheduled is None or scheduled > now:
        return finish(next_schedule_delay(cronjob, now, sched))
    if missed > MANY_MISSED:
        out.events.append(Event(cronjob, "Warning", "TooManyMissedTimes",
                                "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or "
                                "check clock skew"))
    deadline = pc.spec(cronjob).get("startingDeadlineSeconds")
    if deadline is not None and scheduled + float(deadline) < now:
        when = datetime.datetime.fromtimestamp(int(scheduled), datetime.UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
        out.events.append(Event(cronjob, "Warning", "MissSchedule", f"Missed scheduled time to start a job: {when}"))
        return finish(next_schedule_delay(cronjob, now, sched))
    name = job_name(cronjob, scheduled)
    already = any(r.get("name") == name for r in status.get("active") or [])
    if already or pc.parse_time(status.get("lastScheduleTime")) == scheduled:
        return finish(next_schedule_delay(cronjob, now, sched))
    policy = pc.spec(cronjob).get("concurrencyPolicy", "Allow")
    if policy == "Forbid" and status.get("active"):
        out.events.append(Event(cronjob, "Normal", "JobAlreadyActive",
                                "Not starting job because prior execution is running and concurrency policy is "
                                "Forbid"))
        return finish(next_schedule_delay(cronjob, now, sched))
    if policy == "Replace":
        by_uid = {pc.meta(j).get("uid"): j for j in jobs}
        for ref in list(status.get("active") or []):
            job = by_uid.get(ref.get("uid")) or {"metadata": {"name": ref.get("name"),
                                                               "namespace": ref.get("namespace"),
                                                               "uid": ref.get("uid")}}
            _delete_job(cronjob, status, job, out)
            changed = True
    out.create = Create(JOBS, pc.meta(cronjob).get("namespace"), new_job(cronjob, scheduled, sched.tz))
    out.scheduled_time = scheduled
    status["lastScheduleTime"] = pc.rfc3339(scheduled)
    changed = True
    # status.active gains the created Job's reference once the adapter knows its uid
    after = copy.deepcopy(cronjob)
    after["status"] = status
    return finish(next_schedule_delay(after, now, sched))


def with_created(status: Obj, created: Obj) -> Obj:
    """status.active after the Job was created (or found already there and ours)."""
    out = copy.deepcopy(status)
    out["active"] = [*(out.get("active") or []), job_ref(created)]
    return out
