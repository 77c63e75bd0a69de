"""kube 1.32's deployment/util and the controller package helpers the Deployment controller decides with: surge and
unavailability arithmetic, revisions and the annotations copied to ReplicaSets, new/old ReplicaSet selection,
conditions, orderings. Pure: `now` is passed in."""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from controllers.podcontrol import EPOCH, format_datetime, parse_datetime

Object = dict[str, Any]

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
ROLLBACK_TO = "deprecated.deployment.rollback.to"
SKIPPED_ANNOTATIONS = frozenset({LAST_APPLIED, REVISION, REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS,
                                 ROLLBACK_TO})
MAX_REV_HISTORY_CHARS = 2000
MAX_INT32 = 2**31 - 1

# condition reasons (deployment/util)
REPLICASET_UPDATED = "ReplicaSetUpdated"
FAILED_RS_CREATE = "ReplicaSetCreateError"
NEW_RS_CREATED = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"
MIN_AVAILABLE = "MinimumReplicasAvailable"
MIN_UNAVAILABLE = "MinimumReplicasUnavailable"


def meta(obj: Object) -> Object:
    return obj.setdefault("metadata", {})


def spec(obj: Object) -> Object:
    return obj.setdefault("spec", {})


def replicas(obj: Object | None) -> int:
    """*(x.Spec.Replicas) (defaulted to 1 by the API server; 0 for no object)."""
    if obj is None:
        return 0
    value = (obj.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def status_int(obj: Object | None, key: str) -> int:
    if obj is None:
        return 0
    return int((obj.get("status") or {}).get(key) or 0)


# ------------------------------------------------------------------------------------------- surge arithmetic

def scaled_value(value: int | str | None, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    if not value.endswith("%"):
        raise ValueError("invalid value for IntOrString: invalid type: string is not a percentage")
    percent = int(value[:-1])
    exact = percent * total / 100
    return math.ceil(exact) if round_up else math.floor(exact)


def is_rolling_update(d: Object) -> bool:
    return ((d.get("spec") or {}).get("strategy") or {}).get("type", "RollingUpdate") == "RollingUpdate"


def resolve_fenceposts(d: Object) -> tuple[int, int]:
    """ResolveFenceposts: (maxSurge, maxUnavailable); both zero after rounding → maxUnavailable 1."""
    ru = ((d.get("spec") or {}).get("strategy") or {}).get("rollingUpdate") or {}
    desired = replicas(d)
    surge = scaled_value(ru.get("maxSurge", "25%"), desired, True)
    unavailable = scaled_value(ru.get("maxUnavailable", "25%"), desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def max_surge(d: Object) -> int:
    return resolve_fenceposts(d)[0] if is_rolling_update(d) else 0


def max_unavailable(d: Object) -> int:
    """MaxUnavailable: 0 for Recreate; never more than the desired replicas."""
    if not is_rolling_update(d) or replicas(d) == 0:
        return 0
    return min(resolve_fenceposts(d)[1], replicas(d))


def has_progress_deadline(d: Object) -> bool:
    pds = (d.get("spec") or {}).get("progressDeadlineSeconds")
    return pds is not None and int(pds) != MAX_INT32


def has_revision_history_limit(d: Object) -> bool:
    rhl = (d.get("spec") or {}).get("revisionHistoryLimit")
    return rhl is not None and int(rhl) != MAX_INT32


# ------------------------------------------------------------------------------------------- revisions

def revision(obj: Object) -> int | None:
    """Revision: 0 when absent, None when unparsable (such sets are skipped by MaxRevision)."""
    raw = ((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION)
    if raw is None:
        return 0
    try:
        return int(raw)
    except ValueError:
        return None


def max_revision(rss: Sequence[Object]) -> int:
    return max((r for r in (revision(rs) for rs in rss) if r is not None), default=0)


def set_replicas_annotations(rs: Object, desired: int, maximum: int) -> bool:
    ann = meta(rs).setdefault("annotations", {})
    changed = False
    for key, value in ((DESIRED_REPLICAS, str(desired)), (MAX_REPLICAS, str(maximum))):
        if ann.get(key) != value:
            ann[key] = value
            changed = True
    return changed


def replicas_annotations_need_update(rs: Object, desired: int, maximum: int) -> bool:
    ann = (rs.get("metadata") or {}).get("annotations") or {}
    return ann.get(DESIRED_REPLICAS) != str(desired) or ann.get(MAX_REPLICAS) != str(maximum)


def copy_deployment_annotations(d: Object, rs: Object) -> bool:
    """copyDeploymentAnnotationsToReplicaSet: all but the skipped ones (kubernetes.io/change-cause included)."""
    ann = meta(rs).setdefault("annotations", {})
    changed = False
    for k, v in ((d.get("metadata") or {}).get("annotations") or {}).items():
        if k in SKIPPED_ANNOTATIONS or ann.get(k) == v:
            continue
        ann[k] = v
        changed = True
    return changed


def set_new_replicaset_annotations(d: Object, rs: Object, new_revision: str, exists: bool) -> bool:
    """SetNewReplicaSetAnnotations: copy annotations, raise the revision (keeping the history of a set that is
    rolled back to), and on creation the desired/max replicas."""
    changed = copy_deployment_annotations(d, rs)
    ann = meta(rs).setdefault("annotations", {})
    old_raw = ann.get(REVISION)
    try:
        old = int(old_raw) if old_raw is not None and old_raw != "" else 0
    except ValueError:
        return False
    new = int(new_revision)
    if old < new:
        ann[REVISION] = new_revision
        changed = True
        if old_raw is not None:
            history = ann.get(REVISION_HISTORY, "")
            if not history:
                ann[REVISION_HISTORY] = old_raw
            else:
                parts = history.split(",")
                total = len(history) + len(old_raw) + 1
                start = 0
                while total > MAX_REV_HISTORY_CHARS and start < len(parts):
                    total -= len(parts[start]) + 1
                    start += 1
                if total <= MAX_REV_HISTORY_CHARS:
                    ann[REVISION_HISTORY] = ",".join(parts[start:] + [old_raw])
    if not exists and set_replicas_annotations(rs, replicas(d), replicas(d) + max_surge(d)):
        changed = True
    return changed


# ------------------------------------------------------------------------------------------- new and old sets

def _without_hash(template: Object | None) -> Object:
    t = copy.deepcopy(template or {})
    labels = (t.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    return _semantic(t)


def _semantic(value: Any) -> Any:
    """apiequality.Semantic: nil and empty maps/slices are equal (and so are absent and null fields)."""
    if isinstance(value, dict):
        out = {k: _semantic(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_semantic(v) for v in value]
    return value


def equal_ignore_hash(a: Object | None, b: Object | None) -> bool:
    return _without_hash(a) == _without_hash(b)


def by_creation(rss: Sequence[Object]) -> list[Object]:
    """ReplicaSetsByCreationTimestamp: oldest first, then by name."""
    return sorted(rss, key=lambda rs: (_created(rs), (rs.get("metadata") or {}).get("name", "")))


def _created(obj: Object) -> datetime:
    t = parse_datetime((obj.get("metadata") or {}).get("creationTimestamp"))
    return t if t is not None else EPOCH


def find_new(d: Object, rss: Sequence[Object]) -> Object | None:
    """FindNewReplicaSet: the oldest set whose template equals the Deployment's (ignoring the hash label)."""
    template = (d.get("spec") or {}).get("template")
    for rs in by_creation(rss):
        if equal_ignore_hash((rs.get("spec") or {}).get("template"), template):
            return rs
    return None


def find_old(d: Object, rss: Sequence[Object], new: Object | None) -> list[Object]:
    """FindOldReplicaSets' second result: every set but the new one."""
    new_uid = (new or {}).get("metadata", {}).get("uid") if new is not None else None
    return [rs for rs in rss if new is None or (rs.get("metadata") or {}).get("uid") != new_uid]


def active(rss: Sequence[Object | None]) -> list[Object]:
    """FilterActiveReplicaSets: sets with replicas > 0."""
    return [rs for rs in rss if rs is not None and replicas(rs) > 0]


def by_size_newer(rss: Sequence[Object]) -> list[Object]:
    """ReplicaSetsBySizeNewer: larger first; same size, newer first."""
    by_time = list(reversed(by_creation(rss)))
    return sorted(by_time, key=lambda rs: -replicas(rs))


def by_size_older(rss: Sequence[Object]) -> list[Object]:
    """ReplicaSetsBySizeOlder: larger first; same size, older first."""
    return sorted(by_creation(rss), key=lambda rs: -replicas(rs))


def by_revision(rss: Sequence[Object]) -> list[Object]:
    """ReplicaSetsByRevision: lower revision first, then older."""
    return sorted(by_creation(rss), key=lambda rs: revision(rs) or 0)


# ------------------------------------------------------------------------------------------- counts

def sum_spec(rss: Sequence[Object | None]) -> int:
    return sum(replicas(rs) for rs in rss if rs is not None)


def sum_status(rss: Sequence[Object | None], key: str) -> int:
    return sum(status_int(rs, key) for rs in rss if rs is not None)


def new_rs_new_replicas(d: Object, all_rss: Sequence[Object | None], new: Object) -> int:
    """NewRSNewReplicas: how far the new set may scale up now."""
    if not is_rolling_update(d):
        return replicas(d)
    surge = scaled_value(((d["spec"].get("strategy") or {}).get("rollingUpdate") or {}).get("maxSurge", "25%"),
                         replicas(d), True)
    current = sum_spec(all_rss)
    max_total = replicas(d) + surge
    if current >= max_total:
        return replicas(new)
    return replicas(new) + min(max_total - current, replicas(d) - replicas(new))


def is_saturated(d: Object, rs: Object | None) -> bool:
    if rs is None:
        return False
    raw = ((rs.get("metadata") or {}).get("annotations") or {}).get(DESIRED_REPLICAS)
    try:
        desired = int(raw) if raw is not None else None
    except ValueError:
        return False
    return desired is not None and replicas(rs) == replicas(d) and desired == replicas(d)


def _annotation_int(rs: Object, key: str) -> int | None:
    raw = ((rs.get("metadata") or {}).get("annotations") or {}).get(key)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        return None


def _round(x: float) -> int:
    """integer.RoundToInt32: half away from zero."""
    return int(x - 0.5) if x < 0 else int(x + 0.5)


def proportion(rs: Object, d: Object, to_add: int, added: int) -> int:
    """GetReplicaSetProportion: this set's share of a scaling event during a rollout."""
    if replicas(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    if replicas(d) == 0:
        fraction = -replicas(rs)
    else:
        deployment_replicas = replicas(d) + max_surge(d)
        annotated = _annotation_int(rs, MAX_REPLICAS)
        if not annotated:  # missing, tampered with or 0: the Deployment's current size instead
            annotated = status_int(d, "replicas")
        fraction = _round(replicas(rs) * deployment_replicas / annotated) - replicas(rs) if annotated else 0
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


def find_active_or_latest(new: Object | None, olds: Sequence[Object]) -> Object | None:
    if new is None and not olds:
        return None
    newest_first = list(reversed(by_creation(olds)))
    live = active([*newest_first, new])
    if not live:
        return new if new is not None else newest_first[0]
    return live[0] if len(live) == 1 else None


# ------------------------------------------------------------------------------------------- conditions

def get_condition(status: Object, ctype: str) -> Object | None:
    for c in status.get("conditions") or []:
        if c.get("type") == ctype:
            return c
    return None


def new_condition(ctype: str, status: str, reason: str, message: str, now: datetime) -> Object:
    t = format_datetime(now)
    return {"type": ctype, "status": status, "lastUpdateTime": t, "lastTransitionTime": t, "reason": reason,
            "message": message}


def set_condition(status: Object, cond: Object) -> None:
    """SetDeploymentCondition: same status and reason → unchanged; same status → keep lastTransitionTime."""
    current = get_condition(status, cond["type"])
    if current is not None and current.get("status") == cond["status"] and current.get("reason") == cond["reason"]:
        return
    cond = dict(cond)
    if current is not None and current.get("status") == cond["status"]:
        cond["lastTransitionTime"] = current.get("lastTransitionTime")
    status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != cond["type"]] + [cond]


def remove_condition(status: Object, ctype: str) -> None:
    kept = [c for c in status.get("conditions") or [] if c.get("type") != ctype]
    if kept:
        status["conditions"] = kept
    else:
        status.pop("conditions", None)


def deployment_complete(d: Object, status: Object) -> bool:
    want = replicas(d)
    return (int(status.get("updatedReplicas") or 0) == want and int(status.get("replicas") or 0) == want
            and int(status.get("availableReplicas") or 0) >= want - max_unavailable(d)
            and int(status.get("observedGeneration") or 0) >= int((d.get("metadata") or {}).get("generation") or 0))


def deployment_progressing(d: Object, new_status: Object) -> bool:
    old = d.get("status") or {}

    def g(s: Object, k: str) -> int:
        return int(s.get(k) or 0)
    old_old = g(old, "replicas") - g(old, "updatedReplicas")
    new_old = g(new_status, "replicas") - g(new_status, "updatedReplicas")
    return (g(new_status, "updatedReplicas") > g(old, "updatedReplicas") or new_old < old_old
            or g(new_status, "availableReplicas") > g(old, "availableReplicas"))


def deployment_timed_out(d: Object, new_status: Object, now: datetime) -> bool:
    if not has_progress_deadline(d):
        return False
    cond = get_condition(new_status, "Progressing")
    if cond is None:
        return False
    if cond.get("reason") == TIMED_OUT:
        return True
    last = parse_datetime(cond.get("lastUpdateTime"))
    if last is None:
        return False
    return last + timedelta(seconds=int(d["spec"]["progressDeadlineSeconds"])) < now
