"""apps/v1 and batch/v1 validation (pkg/apis/apps/validation, pkg/apis/batch/validation); pure."""

from __future__ import annotations

import re
from typing import Any

from apiserver import cron
from apiserver.errors import Cause
from apiserver.validation import core, names
from apiserver.validation.field import (
    as_dict,
    forbidden,
    invalid,
    nonnegative,
    one_of,
    required,
)

_PERCENT = re.compile(r"^[0-9]+%$")
PERCENT_MSG = ("a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', "
               "regex used for validation is '[0-9]+%')")


def int_or_percent(value: Any, path: str) -> tuple[list[Cause], int | None]:
    """A maxSurge/maxUnavailable-like field: a non-negative int or a percent <= 100%; also returns its number."""
    if value is None:
        return [], None
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            return [invalid(path, value, "must be greater than or equal to 0")], value
        return [], value
    if isinstance(value, str):
        if not _PERCENT.match(value):
            return [invalid(path, value, PERCENT_MSG)], None
        n = int(value[:-1])
        return ([invalid(path, value, "must not be greater than 100%")] if n > 100 else []), n
    return [invalid(path, value, "must be an integer or percentage (e.g '5%')")], None


def _template_spec(spec: dict[str, Any], path: str, restart: tuple[str, ...]) -> list[Cause]:
    tpl = spec.get("template")
    if not isinstance(tpl, dict):
        return []  # reported as Required by the selector/template check
    causes = core.labels(as_dict(tpl.get("metadata")).get("labels"), f"{path}.template.metadata.labels")
    return causes + core.pod_spec(tpl.get("spec"), f"{path}.template.spec", restart_policies=restart)


ALWAYS = ("Always",)


def deployment(obj: dict[str, Any]) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    causes = _template_spec(spec, "spec", ALWAYS)
    for key in ("revisionHistoryLimit", "minReadySeconds", "progressDeadlineSeconds"):
        causes += nonnegative(spec, key, "spec")
    pds, mrs = spec.get("progressDeadlineSeconds"), spec.get("minReadySeconds") or 0
    if isinstance(pds, int) and pds >= 0 and isinstance(mrs, int) and pds <= mrs:
        causes.append(invalid("spec.progressDeadlineSeconds", pds, "must be greater than minReadySeconds"))
    strategy = as_dict(spec.get("strategy"))
    causes += one_of(strategy, "type", "spec.strategy", ("Recreate", "RollingUpdate"))
    rolling = strategy.get("rollingUpdate")
    if strategy.get("type") == "Recreate" and rolling is not None:
        causes.append(forbidden("spec.strategy.rollingUpdate", "may not be specified when strategy `type` is "
                                "'Recreate'"))
    elif strategy.get("type") == "RollingUpdate":
        causes += rolling_update(as_dict(rolling), "spec.strategy.rollingUpdate")
    return causes


def rolling_update(rolling: dict[str, Any], path: str) -> list[Cause]:
    unavailable = rolling.get("maxUnavailable")
    causes, u = int_or_percent(unavailable, f"{path}.maxUnavailable")
    surge_causes, s = int_or_percent(rolling.get("maxSurge"), f"{path}.maxSurge")
    causes += surge_causes
    if u == 0 and s == 0:
        causes.append(invalid(f"{path}.maxUnavailable", unavailable, "may not be 0 when `maxSurge` is 0"))
    return causes


def replica_set(obj: dict[str, Any]) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    return _template_spec(spec, "spec", ALWAYS) + nonnegative(spec, "minReadySeconds", "spec")


def stateful_set(obj: dict[str, Any]) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    causes = _template_spec(spec, "spec", ALWAYS)
    if spec.get("serviceName"):
        causes += [invalid("spec.serviceName", spec["serviceName"], m)
                   for m in names.dns1123_label(str(spec["serviceName"]))]
    causes += one_of(spec, "podManagementPolicy", "spec", ("OrderedReady", "Parallel"))
    for key in ("revisionHistoryLimit", "minReadySeconds"):
        causes += nonnegative(spec, key, "spec")
    causes += nonnegative(as_dict(spec.get("ordinals")), "start", "spec.ordinals")
    strategy = as_dict(spec.get("updateStrategy"))
    causes += one_of(strategy, "type", "spec.updateStrategy", ("OnDelete", "RollingUpdate"))
    rolling = strategy.get("rollingUpdate")
    if strategy.get("type") == "OnDelete" and rolling is not None:
        causes.append(forbidden("spec.updateStrategy.rollingUpdate", "only allowed for updateStrategy "
                                "'RollingUpdate'"))
    elif rolling is not None:
        causes += nonnegative(as_dict(rolling), "partition", "spec.updateStrategy.rollingUpdate")
    retention = as_dict(spec.get("persistentVolumeClaimRetentionPolicy"))
    for key in ("whenDeleted", "whenScaled"):
        causes += one_of(retention, key, "spec.persistentVolumeClaimRetentionPolicy", ("Delete", "Retain"))
    return causes


STS_UPDATABLE = ("replicas", "ordinals", "template", "updateStrategy", "revisionHistoryLimit",
                 "persistentVolumeClaimRetentionPolicy", "minReadySeconds")


def stateful_set_update(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    def rest(obj: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in as_dict(obj.get("spec")).items() if k not in STS_UPDATABLE}
    if rest(new) != rest(old):
        return [forbidden("spec", "updates to statefulset spec for fields other than 'replicas', 'ordinals', "
                          "'template', 'updateStrategy', 'revisionHistoryLimit', "
                          "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden")]
    return []


def daemon_set(obj: dict[str, Any]) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    causes = _template_spec(spec, "spec", ALWAYS)
    for key in ("revisionHistoryLimit", "minReadySeconds"):
        causes += nonnegative(spec, key, "spec")
    strategy = as_dict(spec.get("updateStrategy"))
    causes += one_of(strategy, "type", "spec.updateStrategy", ("OnDelete", "RollingUpdate"))
    if strategy.get("type") == "RollingUpdate":
        causes += rolling_update(as_dict(strategy.get("rollingUpdate")), "spec.updateStrategy.rollingUpdate")
    return causes


# ---------------------------------------------------------------------------------------------- batch

JOB_RESTART = ("OnFailure", "Never")


def job_spec(spec: Any, path: str) -> list[Cause]:
    spec = as_dict(spec)
    causes: list[Cause] = []
    for key in ("parallelism", "completions", "backoffLimit", "activeDeadlineSeconds", "ttlSecondsAfterFinished",
                "backoffLimitPerIndex", "maxFailedIndexes"):
        causes += nonnegative(spec, key, path)
    causes += one_of(spec, "completionMode", path, ("Indexed", "NonIndexed"))
    if spec.get("completionMode") == "Indexed" and spec.get("completions") is None:
        causes.append(required(f"{path}.completions", "when completion mode is Indexed"))
    causes += one_of(spec, "podReplacementPolicy", path, ("Failed", "TerminatingOrFailed"))
    return causes + _template_spec(spec, path, JOB_RESTART)


def job(obj: dict[str, Any]) -> list[Cause]:
    return job_spec(obj.get("spec"), "spec")


def cron_error(schedule: str) -> str:
    """robfig/cron ParseStandard's error for `schedule` (the parser the CronJob controller runs too), or "" when it
    parses."""
    try:
        cron.parse(schedule)
    except cron.ScheduleError as e:
        return str(e)
    return ""


def cron_job(obj: dict[str, Any]) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    causes: list[Cause] = []
    schedule = spec.get("schedule")
    if not isinstance(schedule, str) or not schedule.strip():
        causes.append(required("spec.schedule"))
    else:
        err = cron_error(schedule)
        if err:
            causes.append(invalid("spec.schedule", schedule, err))
        if "TZ" in schedule:
            causes.append(invalid("spec.schedule", schedule, "cannot use TZ or CRON_TZ in schedule, use timeZone "
                                  "field instead"))
    causes += one_of(spec, "concurrencyPolicy", "spec", ("Allow", "Forbid", "Replace"))
    for key in ("startingDeadlineSeconds", "successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
        causes += nonnegative(spec, key, "spec")
    job_template = spec.get("jobTemplate")
    if not isinstance(job_template, dict) or not isinstance(job_template.get("spec"), dict):
        return causes + [required("spec.jobTemplate.spec")]
    tpl = as_dict(job_template["spec"].get("template"))
    if not isinstance(tpl.get("spec"), dict):
        causes.append(required("spec.jobTemplate.spec.template.spec"))
    return causes + job_spec(job_template["spec"], "spec.jobTemplate.spec")


def _immutable(new: Any, old: Any, path: str) -> list[Cause]:
    return [] if new == old else [invalid(path, new, "field is immutable")]


def job_update(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """A Job's selector, completions (outside the elastic Indexed case) and pod template are immutable."""
    n, o = as_dict(new.get("spec")), as_dict(old.get("spec"))
    causes = _immutable(n.get("selector"), o.get("selector"), "spec.selector")
    elastic = n.get("completionMode") == "Indexed" and n.get("completions") == n.get("parallelism")
    if not elastic:
        causes += _immutable(n.get("completions"), o.get("completions"), "spec.completions")
    causes += _immutable(n.get("completionMode"), o.get("completionMode"), "spec.completionMode")
    causes += _immutable(n.get("template"), o.get("template"), "spec.template")
    return causes


def _condition_true(status: dict[str, Any], kind: str) -> bool:
    return any(isinstance(c, dict) and c.get("type") == kind and c.get("status") == "True"
               for c in status.get("conditions") or [])


def _count(status: dict[str, Any], key: str) -> int:
    v = status.get(key)
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def job_status_update(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """1.32's jobStatusStrategy checks (JobManagedBy is beta and on): terminal conditions stay, counters do not
    go down, and a finished Job is consistent (completionTime, startTime, no active pods) where that changed."""
    s, o = as_dict(new.get("status")), as_dict(old.get("status"))
    spec = as_dict(new.get("spec"))
    causes: list[Cause] = []
    for key in ("active", "succeeded", "failed", "ready", "terminating"):
        causes += nonnegative(s, key, "status")
    complete, failed = _condition_true(s, "Complete"), _condition_true(s, "Failed")
    finished = complete or failed
    was_complete, was_failed = _condition_true(o, "Complete"), _condition_true(o, "Failed")
    target, was_target = _condition_true(s, "FailureTarget"), _condition_true(o, "FailureTarget")
    complete_changed, failed_changed = complete != was_complete, failed != was_failed
    finished_changed = finished != (was_complete or was_failed)
    start_changed = s.get("startTime") != o.get("startTime")
    completion_changed = s.get("completionTime") != o.get("completionTime")
    if (complete_changed or failed_changed) and complete and failed:
        causes.append(invalid_omitted("status.conditions", "cannot set Complete=True and Failed=true conditions"))
    if (complete_changed or target != was_target) and complete and target:
        causes.append(invalid_omitted("status.conditions",
                                      "cannot set Complete=True and FailureTarget=true conditions"))
    if (complete_changed or completion_changed) and s.get("completionTime") and not complete:
        causes.append(invalid("status.completionTime", s["completionTime"],
                              "cannot set completionTime when there is no Complete=True condition"))
    if (complete_changed or completion_changed) and not s.get("completionTime") and complete:
        causes.append(required("status.completionTime", "completionTime is required for Complete jobs"))
    if (start_changed or completion_changed) and s.get("startTime") and s.get("completionTime") \
            and str(s["completionTime"]) < str(s["startTime"]):
        causes.append(invalid("status.completionTime", s["completionTime"],
                              "completionTime cannot be set before startTime"))
    if (finished_changed or s.get("active") != o.get("active")) and _count(s, "active") > 0 and finished:
        causes.append(invalid("status.active", s["active"], "active>0 is invalid for finished job"))
    if (finished_changed or start_changed) and not s.get("startTime") and finished:
        causes.append(required("status.startTime", "startTime is required for finished job"))
    for kind in ("Failed", "Complete", "FailureTarget"):
        if _condition_true(o, kind) and not _condition_true(s, kind):
            causes.append(invalid_omitted("status.conditions", f"cannot disable the terminal {kind}=True condition"))
    if _count(s, "failed") < _count(o, "failed"):
        causes.append(invalid("status.failed", _count(s, "failed"), "cannot decrease the failed counter"))
    elastic = spec.get("completionMode") == "Indexed" and spec.get("completions") == spec.get("parallelism")
    if not elastic and _count(s, "succeeded") < _count(o, "succeeded"):
        causes.append(invalid("status.succeeded", _count(s, "succeeded"), "cannot decrease the succeeded counter"))
    if s.get("completionTime") and o.get("completionTime") and completion_changed:
        causes.append(invalid("status.completionTime", s["completionTime"], "completionTime cannot be mutated"))
    if o.get("startTime") and start_changed and not spec.get("suspend"):
        causes.append(required("status.startTime", "startTime cannot be removed for unsuspended job"))
    return causes


def invalid_omitted(path: str, detail: str) -> Cause:
    """field.Invalid with field.OmitValueType{}: the value is left out of the message."""
    return Cause("FieldValueInvalid", f"Invalid value: {detail}", path)
