"""The Job controller's decisions (kube-controller-manager 1.32 `syncJob`), pure.

A sync has two halves, as kube's has, because pod counting must survive crashes: finished pods keep the
`batch.kubernetes.io/job-tracking` finalizer until their UIDs are written to `status.uncountedTerminatedPods`;
only then are the finalizers removed, and only pods whose finalizer is gone move from the uncounted lists into
`succeeded`/`failed`. So:

- `plan(job, pods, now, backoff)` decides pod deletions and creations, the first status write (new uncounted UIDs,
  active/ready/terminating, startTime, interim `FailureTarget`/`SuccessCriteriaMet` conditions) and which pods lose
  their finalizer;
- `finish(job_after_first_write, plan, removed_uids, now)` moves uncounted pods into the counters and, once none
  is uncounted or terminating, adds the terminal `Complete`/`Failed` condition and its event.

The adapter executes between the two and hands back what the API server answered. No I/O, no clock: `now` is
epoch seconds; the pod-failure back-off record (kube keeps it in memory) is passed in and returned.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from controllers import podcontrol as pc
from controllers.job import indexes as ix
from controllers.machinery import labels
from controllers.machinery.actions import Action, Create, Delete, Event, Patch, Update
from controllers.machinery.resources import JOBS, PODS

Obj = dict[str, Any]

TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
JOB_CONTROLLER_NAME = "kubernetes.io/job-controller"
COMPLETION_INDEX_ENV = "JOB_COMPLETION_INDEX"
MAX_UNCOUNTED_PODS = 500
MAX_POD_CREATE_DELETE_PER_SYNC = 500
DEFAULT_BACKOFF_S = 10.0
MAX_BACKOFF_S = 360.0
MAX_GENERATED_NAME = 63 - 5  # names.SimpleNameGenerator keeps room for its 5 random characters

REASON_BACKOFF = "BackoffLimitExceeded"
MESSAGE_BACKOFF = "Job has reached the specified backoff limit"
REASON_DEADLINE = "DeadlineExceeded"
MESSAGE_DEADLINE = "Job was active longer than specified deadline"
REASON_POD_FAILURE_POLICY = "PodFailurePolicy"
REASON_COMPLETIONS = "CompletionsReached"
MESSAGE_COMPLETIONS = "Reached expected number of succeeded pods"
REASON_SUCCESS_POLICY = "SuccessPolicy"
REASON_FAILED_INDEXES = "FailedIndexes"
MESSAGE_FAILED_INDEXES = "Job has failed indexes"
REASON_MAX_FAILED_INDEXES = "MaxFailedIndexesExceeded"
MESSAGE_MAX_FAILED_INDEXES = "Job has exceeded the specified maximal number of failed indexes"
INDEX_FAILURE_COUNT = "batch.kubernetes.io/job-index-failure-count"
INDEX_IGNORED_FAILURE_COUNT = "batch.kubernetes.io/job-index-ignored-failure-count"


@dataclass(frozen=True)
class Backoff:
    """kube's backoffRecord: failures since the last success and when the last of them finished."""
    failures_after_last_success: int = 0
    last_failure_time: float | None = None

    def remaining(self, now: float) -> float:
        """Seconds before a replacement pod may be created: 10 s doubling per failure, capped at 6 min."""
        if self.failures_after_last_success == 0 or self.last_failure_time is None:
            return 0.0
        delay = DEFAULT_BACKOFF_S
        for _ in range(1, self.failures_after_last_success):
            delay *= 2
            if delay >= MAX_BACKOFF_S:
                delay = MAX_BACKOFF_S
                break
        elapsed = now - self.last_failure_time
        return 0.0 if delay < elapsed else delay - elapsed


@dataclass
class Plan:
    """What `plan` decided. The adapter performs, in order: `deletes` and `creates`, the `status` write (if not
    None), then the finalizer `removals`; `events` go out with them; `requeue_after` re-syncs the key later."""
    job: Obj
    pre_delete_removals: list[Patch] = field(default_factory=list)  # surplus pods leave uncounted
    deletes: list[Delete] = field(default_factory=list)
    creates: list[Create] = field(default_factory=list)
    status: Obj | None = None
    removals: list[Patch] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    requeue_after: float | None = None
    backoff: Backoff | None = None  # None: forget the record (the Job is finished)
    finished: Obj | None = None  # the terminal condition to add once nothing is uncounted or terminating
    uids_with_finalizer: frozenset[str] = frozenset()
    reached_max_uncounted: bool = False
    terminating: int = 0
    next_status: Obj = field(default_factory=dict)  # the status as planned, written or not

    def actions(self) -> list[Action]:
        """The plan as one ordered list (the contract's form); a real sync interleaves `finish` after `status`."""
        out: list[Action] = [*self.pre_delete_removals, *self.deletes, *self.creates]
        if self.status is not None:
            out.append(status_update(self.job, self.status))
        return [*out, *self.removals, *self.events]


# ---------------------------------------------------------------- small readers

def conditions(job: Obj) -> list[Obj]:
    return list(pc.status(job).get("conditions") or [])


def find_condition(job: Obj, ctype: str) -> Obj | None:
    return next((c for c in conditions(job) if c.get("type") == ctype), None)


def is_finished(job: Obj) -> bool:
    """util.IsJobFinished: a Complete or Failed condition that is True."""
    return any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True" for c in conditions(job))


def is_suspended(job: Obj) -> bool:
    return bool(pc.spec(job).get("suspend"))


def is_indexed(job: Obj) -> bool:
    return pc.spec(job).get("completionMode") == "Indexed"


def completions(job: Obj) -> int | None:
    value = pc.spec(job).get("completions")
    return None if value is None else int(value)


def only_replace_failed_pods(job: Obj) -> bool:
    """podReplacementPolicy Failed, implied by a pod failure policy: terminating pods are not replaced yet."""
    return pc.spec(job).get("podReplacementPolicy") == "Failed" or pc.spec(job).get("podFailurePolicy") is not None


def has_finalizer(pod: Obj) -> bool:
    return TRACKING_FINALIZER in (pc.meta(pod).get("finalizers") or [])


def uid(obj: Obj) -> str:
    return str(pc.meta(obj).get("uid") or "")


def is_pod_failed(pod: Obj, job: Obj) -> bool:
    """Failed, or (unless only failed pods are replaced) deleted before finishing: an orphaned pod may never reach
    the Failed phase."""
    if pc.phase(pod) == "Failed":
        return True
    if only_replace_failed_pods(job):
        return False
    return pc.meta(pod).get("deletionTimestamp") is not None and pc.phase(pod) != "Succeeded"


def new_condition(ctype: str, reason: str, message: str, now: float, status: str = "True") -> Obj:
    t = pc.rfc3339(now)
    return {"type": ctype, "status": status, "lastProbeTime": t, "lastTransitionTime": t,
            "reason": reason, "message": message}


def ensure_condition(conds: list[Obj], ctype: str, status: str, reason: str, message: str, now: float) -> bool:
    """ensureJobConditionStatus: replace a differing condition of that type, or append one unless it is False."""
    for i, c in enumerate(conds):
        if c.get("type") == ctype:
            if c.get("status") != status or c.get("reason") != reason or c.get("message") != message:
                conds[i] = new_condition(ctype, reason, message, now, status)
                return True
            return False
    if status != "False":
        conds.append(new_condition(ctype, reason, message, now, status))
        return True
    return False


# ---------------------------------------------------------------- pod failure policy

def _terminated(cs: Obj) -> Obj | None:
    return (cs.get("state") or {}).get("terminated")


def _match_exit_codes(pod: Obj, req: Obj) -> Obj | None:
    st = pc.status(pod)
    for statuses in (st.get("containerStatuses") or [], st.get("initContainerStatuses") or []):
        for cs in statuses:
            term = _terminated(cs)
            if term is None:
                continue
            if req.get("containerName") not in (None, cs.get("name")):
                continue
            code = int(term.get("exitCode") or 0)
            if code == 0:
                continue
            values = [int(v) for v in req.get("values") or []]
            if (req.get("operator") == "In" and code in values) or (req.get("operator") == "NotIn"
                                                                      and code not in values):
                return cs
    return None


def _match_pod_conditions(pod: Obj, patterns: list[Obj]) -> Obj | None:
    for c in pc.status(pod).get("conditions") or []:
        for p in patterns:
            if c.get("type") == p.get("type") and c.get("status") == p.get("status", "True"):
                return c
    return None


def match_pod_failure_policy(policy: Obj | None, pod: Obj) -> tuple[str | None, bool, str | None]:
    """(FailJob message or None, whether the failure counts against backoffLimit, the matched action)."""
    if not policy:
        return None, True, None
    md = pc.meta(pod)
    for i, rule in enumerate(policy.get("rules") or []):
        action = rule.get("action")
        if rule.get("onExitCodes") is not None:
            cs = _match_exit_codes(pod, rule["onExitCodes"])
            if cs is None:
                continue
            code = (_terminated(cs) or {}).get("exitCode")
            message = (f"Container {cs.get('name')} for pod {md.get('namespace')}/{md.get('name')} failed with "
                       f"exit code {code} matching {action} rule at index {i}")
        elif rule.get("onPodConditions") is not None:
            cond = _match_pod_conditions(pod, rule["onPodConditions"])
            if cond is None:
                continue
            message = (f"Pod {md.get('namespace')}/{md.get('name')} has condition {cond.get('type')} matching "
                       f"{action} rule at index {i}")
        else:
            continue
        if action == "Ignore":
            return None, False, action
        if action == "Count":
            return None, True, action
        if action == "FailIndex":
            return None, True, action
        if action == "FailJob":
            return message, True, action
    return None, True, None


# ---------------------------------------------------------------- back-off

def finished_time(pod: Obj) -> float:
    """getFinishedTime: the last container's finish, else the Ready=False transition, else the deletion moment
    (deletionTimestamp minus the grace period), else creation."""
    finishes: list[float] = []
    statuses = pc.status(pod).get("containerStatuses") or []
    for cs in statuses:
        t = pc.parse_time((_terminated(cs) or {}).get("finishedAt"))
        if t is None:
            finishes = []
            break
        finishes.append(t)
    if statuses and finishes:
        return max(finishes)
    ready = pc.condition(pod, "Ready")
    if ready is not None and ready.get("status") == "False":
        t = pc.parse_time(ready.get("lastTransitionTime"))
        if t is not None:
            return t
    deleted = pc.parse_time(pc.meta(pod).get("deletionTimestamp"))
    if deleted is not None:
        return deleted - float(pc.meta(pod).get("deletionGracePeriodSeconds") or 0)
    return pc.parse_time(pc.meta(pod).get("creationTimestamp")) or 0.0


def next_backoff(old: Backoff, succeeded: list[Obj], failed: list[Obj]) -> Backoff:
    """newBackoffRecord: a success resets the count; failures after the last success add to it."""
    if not failed:
        return Backoff() if succeeded else old
    failed_times = sorted(finished_time(p) for p in failed)
    if not succeeded:
        return Backoff(old.failures_after_last_success + len(failed), failed_times[-1])
    last_success = max(finished_time(p) for p in succeeded)
    after = [t for t in failed_times if t > last_success]
    return Backoff(len(after), after[-1] if after else None)


# ---------------------------------------------------------------- pods

def owned_pods(job: Obj, pods: list[Obj]) -> list[Obj]:
    """The pods this Job controls and still selects (adoption of orphans is not done here)."""
    try:
        return pc.owned_pods(job, pods)
    except labels.SelectorError:
        return []


def generate_name_with_index(job_name: str, index: int) -> str:
    """podGenerateNameWithIndex: `<job>-<index>-`, the job name cut so the generated name stays valid."""
    appendix = f"-{index}-"
    if len(job_name) + len(appendix) > MAX_GENERATED_NAME:
        return job_name[:MAX_GENERATED_NAME - len(appendix)] + appendix
    return job_name + appendix


def _add_index_env(template: Obj) -> None:
    ref = {"fieldRef": {"fieldPath": f"metadata.labels['{ix.COMPLETION_INDEX_KEY}']"}}  # PodIndexLabel, GA
    tspec = template.setdefault("spec", {})
    for key in ("initContainers", "containers"):
        for c in tspec.get(key) or []:
            env = c.setdefault("env", [])
            if not any(e.get("name") == COMPLETION_INDEX_ENV for e in env):
                env.append({"name": COMPLETION_INDEX_ENV, "valueFrom": copy.deepcopy(ref)})


def new_pod(job: Obj, index: int | None) -> Obj:
    """The pod manageJob creates: the template with the tracking finalizer; for an Indexed Job also the index
    annotation and label, JOB_COMPLETION_INDEX from the annotation, hostname `<job>-<index>`."""
    template = copy.deepcopy(pc.spec(job).get("template") or {})
    tmeta = template.setdefault("metadata", {})
    finalizers = list(tmeta.get("finalizers") or [])
    if TRACKING_FINALIZER not in finalizers:
        finalizers.append(TRACKING_FINALIZER)
    tmeta["finalizers"] = finalizers
    name = str(pc.meta(job).get("name") or "")
    generate = None
    if index is not None:
        _add_index_env(template)
        tmeta.setdefault("annotations", {})[ix.COMPLETION_INDEX_KEY] = str(index)
        tmeta.setdefault("labels", {})[ix.COMPLETION_INDEX_KEY] = str(index)
        template["spec"]["hostname"] = f"{name}-{index}"
        generate = generate_name_with_index(name, index)
    return pc.pod_from_template(template, job, JOBS.api_version, JOBS.kind, generate_name=generate)


def removal_patch(pod: Obj) -> Patch:
    """removeTrackingFinalizerPatch: a strategic-merge directive that drops only our finalizer."""
    md = pc.meta(pod)
    return Patch(PODS, md.get("namespace"), str(md.get("name")),
                 {"metadata": {"$deleteFromPrimitiveList/finalizers": [TRACKING_FINALIZER]}}, "strategic")


def pod_delete(pod: Obj) -> Delete:
    md = pc.meta(pod)
    return Delete(PODS, md.get("namespace"), str(md.get("name")), uid=md.get("uid"))


def pods_for_removal(job: Obj, active: list[Obj], at_least: int) -> list[Obj]:
    """activePodsForRemoval: for an Indexed Job first pods with a bad or repeated index (keeping the most advanced
    of each index), then the least advanced pods."""
    remove: list[Obj] = []
    left = list(active)
    if is_indexed(job):
        total = completions(job) or 0
        by_index: dict[int, list[Obj]] = {}
        left = []
        for p in active:
            i = ix.of_pod(p)
            if i == ix.UNKNOWN or i >= total:
                remove.append(p)
            else:
                by_index.setdefault(i, []).append(p)
        for i in sorted(by_index):
            group = sorted(by_index[i], key=pc.deletion_rank)
            remove.extend(group[:-1])
            left.append(group[-1])
    if len(remove) < at_least:
        left.sort(key=pc.deletion_rank)
        remove.extend(left[:at_least - len(remove)])
    return remove


def past_backoff_limit_on_failure(job: Obj, pods: list[Obj]) -> bool:
    """restartPolicy OnFailure: container restarts of running and pending pods count as failures."""
    tspec = (pc.spec(job).get("template") or {}).get("spec") or {}
    if tspec.get("restartPolicy") != "OnFailure":
        return False
    total = 0
    for p in pods:
        if pc.phase(p) in ("Running", "Pending"):
            st = pc.status(p)
            for cs in (st.get("initContainerStatuses") or []) + (st.get("containerStatuses") or []):
                total += int(cs.get("restartCount") or 0)
    limit = int(pc.spec(job).get("backoffLimit", 6))
    return total > 0 if limit == 0 else total >= limit


def match_success_policy(policy: Obj | None, total: int, succeeded: set[int]) -> str | None:
    """The message of the first successPolicy rule the succeeded indexes satisfy, or None."""
    if not policy or not succeeded:
        return None
    for i, rule in enumerate(policy.get("rules") or []):
        count = rule.get("succeededCount")
        if rule.get("succeededIndexes") is not None:
            required = ix.parse(rule["succeededIndexes"], total)
            if not required:
                continue
            hit = len(required & succeeded)
            if hit == len(required) or (count is not None and hit >= int(count)):
                return f"Matched rules at index {i}"
        elif count is not None and len(succeeded) >= int(count):
            return f"Matched rules at index {i}"
    return None


def status_update(job: Obj, status: Obj) -> Update:
    """PUT /status with the Job's resourceVersion: a stale cache gets a conflict and the key is retried."""
    return pc.status_put(JOBS, job, _wire_status(status))


def _wire_status(status: Obj) -> Obj:
    """omitempty as Go writes JobStatus: zero counters and empty lists vanish, pointers (ready, terminating) stay."""
    out = {k: v for k, v in status.items() if not (k in ("active", "succeeded", "failed") and not v)}
    unc = out.get("uncountedTerminatedPods") or {}
    out["uncountedTerminatedPods"] = {k: v for k, v in unc.items() if v}
    if not out.get("conditions"):
        out.pop("conditions", None)
    if not out.get("completedIndexes"):
        out.pop("completedIndexes", None)
    return out


# ---------------------------------------------------------------- backoffLimitPerIndex

def has_backoff_limit_per_index(job: Obj) -> bool:
    return is_indexed(job) and pc.spec(job).get("backoffLimitPerIndex") is not None


def _count_annotation(pod: Obj, key: str) -> int:
    """parseInt32 of an index failure-count annotation; missing, bad or negative values are 0."""
    try:
        value = int((pc.meta(pod).get("annotations") or {}).get(key, "0"))
    except ValueError:
        return 0
    return value if 0 <= value <= 2**31 - 1 else 0


def absolute_failures(pod: Obj) -> int:
    return _count_annotation(pod, INDEX_FAILURE_COUNT) + _count_annotation(pod, INDEX_IGNORED_FAILURE_COUNT)


def is_index_failed(job: Obj, pod: Obj) -> bool:
    """A FailIndex rule matched, or a counted failure of a pod that already used up backoffLimitPerIndex."""
    counted = False
    if is_pod_failed(pod, job):
        _, counts, action = match_pod_failure_policy(pc.spec(job).get("podFailurePolicy"), pod)
        if action == "FailIndex":
            return True
        counted = counts
    return counted and _count_annotation(pod, INDEX_FAILURE_COUNT) >= int(pc.spec(job)["backoffLimitPerIndex"])


def delayed_deletions(job: Obj, pods: list[Obj], active: list[Obj], succeeded: set[int],
                      failed: set[int], valid: Any) -> dict[int, Obj]:
    """getPodsWithDelayedDeletionPerIndex: per pending index, the last failed pod, kept (finalizer and all) until
    its replacement carries the failure count forward."""
    busy = {ix.of_pod(p) for p in active}
    out: dict[int, Obj] = {}
    for p in pods:
        if not valid(p) or not is_pod_failed(p, job):
            continue
        i = ix.of_pod(p)
        if i in succeeded or i in failed or i in busy:
            continue
        last = out.get(i)
        if last is None or (absolute_failures(last) <= absolute_failures(p)
                            and finished_time(p) >= finished_time(last)):
            out[i] = p
    return out


def replacement_counts(job: Obj, replaced: Obj | None) -> tuple[int, int]:
    """getNewIndexFailureCounts: the failure counts a replacement pod starts with."""
    if replaced is None:
        return 0, 0
    count = _count_annotation(replaced, INDEX_FAILURE_COUNT)
    ignored = _count_annotation(replaced, INDEX_IGNORED_FAILURE_COUNT)
    if match_pod_failure_policy(pc.spec(job).get("podFailurePolicy"), replaced)[1]:
        count += 1
    else:
        ignored += 1
    return count, ignored


@dataclass
class PerIndex:
    failed: set[int] = field(default_factory=set)
    delayed: dict[int, Obj] = field(default_factory=dict)


# ---------------------------------------------------------------- the sync

def plan(job: Obj, pods: list[Obj], now: float, backoff: Backoff | None = None, *,
         satisfied_expectations: bool = True, expected_removals: frozenset[str] = frozenset()) -> Plan:
    """syncJob up to the first status write. `pods` may be every pod of the namespace; `expected_removals` are
    UIDs whose finalizer removal was sent but not yet seen in the cache."""
    backoff = backoff or Backoff()
    out = Plan(job=job, backoff=backoff)
    if pc.spec(job).get("managedBy") not in (None, JOB_CONTROLLER_NAME):
        return out  # another controller owns this Job's status (JobManagedBy)
    if is_finished(job):
        out.backoff = None
        return out
    spec = pc.spec(job)
    if spec.get("completionMode", "NonIndexed") not in ("NonIndexed", "Indexed"):
        out.events.append(Event(job, "Warning", "UnknownCompletionMode",
                                "Skipped Job sync because completion mode is unknown"))
        return out

    status = copy.deepcopy(pc.status(job))
    uncounted = status.setdefault("uncountedTerminatedPods", {})
    unc_succeeded = set(uncounted.get("succeeded") or [])
    unc_failed = set(uncounted.get("failed") or [])
    pods = owned_pods(job, pods)
    active_pods = [p for p in pods if pc.is_active(p)]
    ready = sum(1 for p in active_pods if pc.is_ready(p))
    terminating = sum(1 for p in pods if pc.is_terminating(p))
    total = completions(job)
    indexed = is_indexed(job)
    policy = spec.get("podFailurePolicy")

    def valid(p: Obj) -> bool:
        u = uid(p)
        if not has_finalizer(p) or u in expected_removals:
            return False
        return not indexed or 0 <= ix.of_pod(p) < (total or 0)

    new_succeeded = [p for p in pods if valid(p) and uid(p) not in unc_succeeded and pc.phase(p) == "Succeeded"]
    new_failed = [p for p in pods if valid(p) and uid(p) not in unc_failed and is_pod_failed(p, job)]
    succeeded = int(status.get("succeeded") or 0) + len(new_succeeded) + len(unc_succeeded)
    failed = (int(status.get("failed") or 0) + len(unc_failed)
              + sum(1 for p in new_failed if match_pod_failure_policy(policy, p)[1]))

    if status.get("startTime") is None and not is_suspended(job):
        status["startTime"] = pc.rfc3339(now)
    out.backoff = next_backoff(backoff, new_succeeded, new_failed)

    finished: Obj | None = None
    met = find_condition(job, "SuccessCriteriaMet")
    if met is not None and met.get("status") == "True":
        finished = met
    if finished is None:
        target = find_condition(job, "FailureTarget")
        if target is not None and target.get("status") == "True":
            finished = new_condition("Failed", target.get("reason", ""), target.get("message", ""), now)
        else:
            for p in pods:
                if is_pod_failed(p, job):
                    message = match_pod_failure_policy(policy, p)[0]
                    if message is not None:
                        finished = new_condition("FailureTarget", REASON_POD_FAILURE_POLICY, message, now)
                        break
    if finished is None:
        deadline = spec.get("activeDeadlineSeconds")
        start = pc.parse_time(status.get("startTime"))
        if failed > int(spec.get("backoffLimit", 6)) or past_backoff_limit_on_failure(job, pods):
            finished = new_condition("FailureTarget", REASON_BACKOFF, MESSAGE_BACKOFF, now)
        elif deadline is not None and start is not None and not is_suspended(job) and now - start >= deadline:
            finished = new_condition("FailureTarget", REASON_DEADLINE, MESSAGE_DEADLINE, now)
        elif deadline is not None and start is not None and not is_suspended(job):
            out.requeue_after = float(deadline) - (now - start)

    prev_indexes: set[int] = set()
    succeeded_indexes: set[int] = set()
    per_index = PerIndex()
    if indexed:
        prev_indexes = ix.parse(status.get("completedIndexes"), total or 0)
        succeeded_indexes = prev_indexes | {ix.of_pod(p) for p in pods if pc.phase(p) == "Succeeded"
                                            and has_finalizer(p) and 0 <= ix.of_pod(p) < (total or 0)}
        succeeded = len(succeeded_indexes)
        if has_backoff_limit_per_index(job):
            per_index.failed = ix.parse(status.get("failedIndexes"), total or 0) | {
                ix.of_pod(p) for p in pods if valid(p) and is_index_failed(job, p)}
            max_failed = spec.get("maxFailedIndexes")
            if finished is None:
                if max_failed is not None and len(per_index.failed) > int(max_failed):
                    finished = new_condition("FailureTarget", REASON_MAX_FAILED_INDEXES, MESSAGE_MAX_FAILED_INDEXES,
                                             now)
                elif per_index.failed and len(per_index.failed) + len(succeeded_indexes) >= (total or 0):
                    finished = new_condition("FailureTarget", REASON_FAILED_INDEXES, MESSAGE_FAILED_INDEXES, now)
            per_index.delayed = delayed_deletions(job, pods, active_pods, succeeded_indexes, per_index.failed, valid)
        if finished is None:
            message = match_success_policy(spec.get("successPolicy"), total or 0, succeeded_indexes)
            if message is not None:
                finished = new_condition("SuccessCriteriaMet", REASON_SUCCESS_POLICY, message, now)

    active = len(active_pods)
    suspend_changed = False
    if finished is not None:
        # Every active pod goes; the terminal condition waits for them (and for expectations) to be seen.
        out.deletes = [pod_delete(p) for p in active_pods]
        if not satisfied_expectations:
            finished = None
        terminating += active
        ready -= sum(1 for p in active_pods if pc.is_ready(p))
        active = 0
    else:
        manage_called = False
        if satisfied_expectations and pc.meta(job).get("deletionTimestamp") is None:
            active, ready, terminating = _manage(job, out, active_pods, ready, terminating, succeeded,
                                                 succeeded_indexes, pods, now, per_index)
            manage_called = True
        complete = (succeeded > 0 if total is None else succeeded >= total) and active == 0
        if complete:
            finished = new_condition("SuccessCriteriaMet", REASON_COMPLETIONS, MESSAGE_COMPLETIONS, now)
        elif manage_called:
            conds = status.setdefault("conditions", [])
            if is_suspended(job):
                if ensure_condition(conds, "Suspended", "True", "JobSuspended", "Job suspended", now):
                    suspend_changed = True
                    out.events.append(Event(job, "Normal", "Suspended", "Job suspended"))
            elif ensure_condition(conds, "Suspended", "False", "JobResumed", "Job resumed", now):
                suspend_changed = True
                out.events.append(Event(job, "Normal", "Resumed", "Job resumed"))
                status["startTime"] = pc.rfc3339(now)  # activeDeadlineSeconds counts from the resume

    needs_flush = (suspend_changed or active != int(status.get("active") or 0)
                   or status.get("ready") != ready or status.get("terminating") != terminating)
    status["active"], status["ready"], status["terminating"] = active, ready, terminating
    out.terminating = terminating
    if pc.status(job).get("startTime") != status.get("startTime"):
        needs_flush = True

    # trackJobStatusAndRemoveFinalizers, first half
    if indexed:
        pods = sorted(pods, key=ix.of_pod)
    with_finalizer = {uid(p) for p in pods if has_finalizer(p) and uid(p) not in expected_removals}
    if _count_removed(status, with_finalizer):
        needs_flush = True
    unc_succeeded = set(uncounted.get("succeeded") or [])
    unc_failed = set(uncounted.get("failed") or [])
    new_indexes: list[int] = []
    removing: list[Obj] = []
    for p in pods:
        if not has_finalizer(p) or uid(p) in expected_removals:
            continue
        failed_pod = is_pod_failed(p, job)
        if not (pc.meta(job).get("deletionTimestamp") is not None or finished is not None
                or pc.phase(p) == "Succeeded" or failed_pod):
            continue
        if (failed_pod and pc.meta(job).get("deletionTimestamp") is None and finished is None
                and per_index.delayed.get(ix.of_pod(p)) is p):
            continue  # kept until its replacement exists (backoffLimitPerIndex)
        removing.append(p)
        if pc.phase(p) == "Succeeded" and uid(p) not in unc_failed:
            if indexed:
                i = ix.of_pod(p)
                if i != ix.UNKNOWN and i < (total or 0) and i not in prev_indexes:
                    new_indexes.append(i)
                    needs_flush = True
            elif uid(p) not in unc_succeeded:
                uncounted.setdefault("succeeded", []).append(uid(p))
                unc_succeeded.add(uid(p))
                needs_flush = True
        elif failed_pod or (finished is not None and finished["type"] != "SuccessCriteriaMet"):
            i = ix.of_pod(p)
            if uid(p) not in unc_failed and (not indexed or (i != ix.UNKNOWN and i < (total or 0))):
                if match_pod_failure_policy(policy, p)[1]:
                    uncounted.setdefault("failed", []).append(uid(p))
                    unc_failed.add(uid(p))
                    needs_flush = True
        if (len(new_indexes) + len(uncounted.get("succeeded") or []) + len(uncounted.get("failed") or [])
                >= MAX_UNCOUNTED_PODS):
            out.reached_max_uncounted = True
            break
    if indexed:
        all_indexes = succeeded_indexes | set(new_indexes)
        text = ix.format_indexes(all_indexes)
        if text != (status.get("completedIndexes") or ""):
            needs_flush = True
        status["succeeded"] = len(all_indexes)
        status["completedIndexes"] = text
        if has_backoff_limit_per_index(job):
            failed_text = ix.format_indexes(per_index.failed)
            if status.get("failedIndexes") != failed_text:
                status["failedIndexes"] = failed_text
                needs_flush = True
    if finished is not None and finished["type"] == "FailureTarget":
        status.setdefault("conditions", []).append(finished)
        needs_flush = True
        finished = new_condition("Failed", finished["reason"], finished["message"], now)
    if finished is not None and finished["type"] == "SuccessCriteriaMet" and finished.get("status") == "True":
        if find_condition(job, "SuccessCriteriaMet") is None:
            status.setdefault("conditions", []).append(finished)
            needs_flush = True
        finished = new_condition("Complete", finished["reason"], finished["message"], now)

    out.finished = finished
    out.uids_with_finalizer = frozenset(with_finalizer)
    out.removals = [removal_patch(p) for p in removing]
    out.next_status = status
    out.status = status if needs_flush else None
    return out


def _manage(job: Obj, out: Plan, active_pods: list[Obj], ready: int, terminating: int, succeeded: int,
            succeeded_indexes: set[int], pods: list[Obj], now: float,
            per_index: PerIndex | None = None) -> tuple[int, int, int]:
    """manageJob: delete the surplus or create what is missing (never both in one sync), respecting back-off.
    Returns the new (active, ready, terminating) as the status will report them."""
    spec = pc.spec(job)
    active = len(active_pods)
    total = completions(job)
    parallelism = int(spec.get("parallelism", 1))
    if is_suspended(job):
        doomed = pods_for_removal(job, active_pods, active)
        _remove_and_delete(out, doomed)
        gone_ready = sum(1 for p in doomed if pc.is_ready(p))
        return active - len(doomed), ready - gone_ready, terminating + len(doomed)
    if total is None:
        want = active if succeeded > 0 else parallelism
    else:
        want = max(0, min(total - succeeded, parallelism))
    doomed = pods_for_removal(job, active_pods, max(0, active - want))[:MAX_POD_CREATE_DELETE_PER_SYNC]
    if doomed:
        _remove_and_delete(out, doomed)
        gone_ready = sum(1 for p in doomed if pc.is_ready(p))
        return active - len(doomed), ready - gone_ready, terminating + len(doomed)
    replacing = terminating if only_replace_failed_pods(job) else 0
    diff = want - replacing - active
    if diff <= 0:
        return active, ready, terminating
    per_index = per_index or PerIndex()
    independent = has_backoff_limit_per_index(job)
    wait = 0.0 if independent else (out.backoff or Backoff()).remaining(now)
    if wait > 0:
        out.requeue_after = wait if out.requeue_after is None else min(out.requeue_after, wait)
        return 0, ready, terminating  # kube reports active 0 while waiting out the back-off
    diff = min(diff, MAX_POD_CREATE_DELETE_PER_SYNC)
    if is_indexed(job):
        taken = set(succeeded_indexes) | per_index.failed
        for p in active_pods:
            taken.add(ix.of_pod(p))
        if only_replace_failed_pods(job):
            taken.update(ix.of_pod(p) for p in pods if pc.is_terminating(p))
        todo = [i for i in range(total or 0) if i not in taken][:diff]
        if independent:
            todo, wait = _ready_indexes(todo, per_index.delayed, now)
            if wait > 0:
                out.requeue_after = wait if out.requeue_after is None else min(out.requeue_after, wait)
                return 0, ready, terminating
        out.creates = []
        for i in todo:
            pod = new_pod(job, i)
            if independent:
                count, ignored = replacement_counts(job, per_index.delayed.get(i))
                notes = pod["metadata"].setdefault("annotations", {})
                notes[INDEX_FAILURE_COUNT] = str(count)
                if ignored:
                    notes[INDEX_IGNORED_FAILURE_COUNT] = str(ignored)
            out.creates.append(Create(PODS, pc.meta(job).get("namespace"), pod))
    else:
        out.creates = [Create(PODS, pc.meta(job).get("namespace"), new_pod(job, None)) for _ in range(diff)]
    return active + len(out.creates), ready, terminating


def _ready_indexes(todo: list[int], delayed: dict[int, Obj], now: float) -> tuple[list[int], float]:
    """getPodCreationInfoForIndependentIndexes: the indexes whose own back-off has passed, else the shortest wait."""
    ready: list[int] = []
    waits: list[float] = []
    for i in todo:
        last = delayed.get(i)
        left = 0.0 if last is None else Backoff(absolute_failures(last) + 1, finished_time(last)).remaining(now)
        if left == 0:
            ready.append(i)
        else:
            waits.append(left)
    return (ready, 0.0) if ready else ([], min(waits, default=0.0))


def _remove_and_delete(out: Plan, pods: list[Obj]) -> None:
    """deleteJobPods: surplus pods lose the finalizer first, so they are never counted as failures."""
    out.pre_delete_removals.extend(removal_patch(p) for p in pods if has_finalizer(p))
    out.deletes.extend(pod_delete(p) for p in pods)


def _count_removed(status: Obj, with_finalizer: set[str]) -> bool:
    """cleanUncountedPodsWithoutFinalizers: uncounted UIDs whose pod lost its finalizer (or is gone) move into
    the counters."""
    changed = False
    unc = status.setdefault("uncountedTerminatedPods", {})
    for key, counter in (("succeeded", "succeeded"), ("failed", "failed")):
        listed = list(unc.get(key) or [])
        keep = [u for u in listed if u in with_finalizer]
        if len(keep) != len(listed):
            changed = True
            status[counter] = int(status.get(counter) or 0) + len(listed) - len(keep)
            unc[key] = keep
    return changed


def finish(job: Obj, planned: Plan, removed: set[str], now: float) -> tuple[Obj | None, list[Event]]:
    """The second half of trackJobStatusAndRemoveFinalizers on the Job the first write returned (or the planned
    one when nothing was written): count the pods whose finalizer is gone and, when nothing is uncounted or
    terminating, add the terminal condition. Returns the status to write (None: nothing changed) and the events
    to record once it is written."""
    status = copy.deepcopy(pc.status(job) if planned.status is not None else planned.next_status)
    changed = False
    if _count_removed(status, set(planned.uids_with_finalizer) - removed):
        changed = True
    events: list[Event] = []
    cond = planned.finished
    unc = status.get("uncountedTerminatedPods") or {}
    if (cond is not None and not planned.reached_max_uncounted and not unc.get("succeeded") and not unc.get("failed")
            and planned.terminating == 0):
        conds = status.setdefault("conditions", [])
        ensure_condition(conds, cond["type"], cond["status"], cond["reason"], cond["message"], now)
        if cond["type"] == "Complete":
            status["completionTime"] = pc.rfc3339(now)
            total = completions(job)
            if total is not None and int(status.get("succeeded") or 0) > total:
                events.append(Event(job, "Warning", "TooManySucceededPods",
                                    "Too many succeeded pods running after completion count reached"))
            events.append(Event(job, "Normal", "Completed", "Job completed"))
        else:
            events.append(Event(job, "Warning", cond["reason"], cond["message"]))
        changed = True
    return (status if changed else None), events


def with_status(job: Obj, status: Obj) -> Obj:
    """The Job as it will read once `status` is written (for an adapter that wrote nothing yet)."""
    return {**job, "status": status}

