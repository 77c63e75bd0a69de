"""The disruption controller's core (kube-controller-manager 1.32's pkg/controller/disruption), pure.

Per PodDisruptionBudget: the pods its (non-empty) selector picks in its namespace; the expected pod count and the
desired healthy count — an integer minAvailable counts the selected pods, a percentage minAvailable or any
maxUnavailable counts the replicas of the pods' controllers (ReplicationController, a Deployment through its
ReplicaSet, a ReplicaSet, a StatefulSet; percentages rounded up); the healthy pods (Ready, not terminating, not in
disruptedPods); disruptedPods entries kept for 2 minutes after the eviction while the pod is not deleted; then
disruptionsAllowed = healthy - desired (0 when negative or nothing is expected) and the DisruptionAllowed condition
(SufficientPods / InsufficientPods; SyncFailed with the error when a pod's controller is unknown).
"""

from __future__ import annotations

import copy
import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from controllers.machinery.actions import Action, Event, Update
from controllers.machinery.labels import SelectorError, from_label_selector
from controllers.machinery.resources import PODDISRUPTIONBUDGETS
from controllers.podcontrol import is_ready

Object = dict[str, Any]
PDBS = PODDISRUPTIONBUDGETS
DELETION_TIMEOUT_S = 120.0  # DeletionTimeout: an evicted pod not deleted by then counts again
# kind, namespace, name -> the object from the informer caches (or None)
Lookup = Callable[[str, str, str], Object | None]


class NoController(Exception):
    pass


@dataclass
class Result:
    actions: list[Action] = field(default_factory=list)
    recheck_after: float | None = None  # seconds until a disruptedPods entry expires


def _ts(now: dt.datetime) -> str:
    return now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(ts: str) -> dt.datetime:
    return dt.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


def pods_for_pdb(pdb: Object, pods: list[Object]) -> list[Object]:
    """getPodsForPdb: an empty (or invalid) selector selects nothing."""
    try:
        sel = from_label_selector((pdb.get("spec") or {}).get("selector"))
    except SelectorError:
        return []
    if sel.empty() or sel.nothing:
        return []
    ns = (pdb.get("metadata") or {}).get("namespace")
    return [p for p in pods if (p.get("metadata") or {}).get("namespace") == ns
            and sel.matches((p.get("metadata") or {}).get("labels") or {})]


def _controller_ref(obj: Object) -> Object | None:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return dict(ref)
    return None


def _uid_matches(obj: Object | None, ref: Object) -> bool:
    return obj is not None and (obj.get("metadata") or {}).get("uid") == ref.get("uid")


def _scale_of(ref: Object, ns: str, lookup: Lookup) -> tuple[str, int] | None:
    """The finders in kube's order: a ReplicaSet not run by a Deployment, a Deployment through its ReplicaSet, an
    RC, a StatefulSet. Returns (controller uid, replicas)."""
    kind, group = ref.get("kind"), str(ref.get("apiVersion", "")).rpartition("/")[0]
    if kind == "ReplicaSet" and group == "apps":
        rs = lookup("ReplicaSet", ns, ref.get("name", ""))
        if not _uid_matches(rs, ref):
            return None
        assert rs is not None
        owner = _controller_ref(rs)
        if owner and owner.get("kind") == "Deployment" and str(owner.get("apiVersion", "")).startswith("apps/"):
            deploy = lookup("Deployment", ns, owner.get("name", ""))
            if not _uid_matches(deploy, owner):
                return None
            assert deploy is not None
            return str(owner.get("uid")), int((deploy.get("spec") or {}).get("replicas", 1))
        return str(ref.get("uid")), int((rs.get("spec") or {}).get("replicas", 1))
    if kind in ("ReplicationController", "StatefulSet") and group == ("" if kind == "ReplicationController" else "apps"):
        obj = lookup(str(kind), ns, ref.get("name", ""))
        if not _uid_matches(obj, ref):
            return None
        assert obj is not None
        return str(ref.get("uid")), int((obj.get("spec") or {}).get("replicas", 1))
    return None


def expected_scale(pdb: Object, pods: list[Object], lookup: Lookup) -> tuple[int, list[str]]:
    """getExpectedScale: the summed replicas of the pods' controllers, each counted once, and the names of pods
    without a controller."""
    ns = (pdb.get("metadata") or {}).get("namespace", "")
    scales: dict[str, int] = {}
    unmanaged: list[str] = []
    for pod in pods:
        ref = _controller_ref(pod)
        if ref is None:
            unmanaged.append((pod.get("metadata") or {}).get("name", ""))
            continue
        if ref.get("uid") in scales:
            continue
        found = _scale_of(ref, ns, lookup)
        if found is None:
            raise NoController(f'found no controllers for pod "{(pod.get("metadata") or {}).get("name", "")}"')
        scales[found[0]] = found[1]
    return sum(scales.values()), unmanaged


def scaled_value(value: int | str, total: int) -> int:
    """intstr.GetScaledValueFromIntOrPercent rounding up."""
    if isinstance(value, int):
        return value
    return math.ceil(int(value.rstrip("%")) * total / 100)


def expected_counts(pdb: Object, pods: list[Object], lookup: Lookup) -> tuple[int, int, list[str]]:
    """getExpectedPodCount: (expectedCount, desiredHealthy, unmanaged pod names)."""
    spec = pdb.get("spec") or {}
    if spec.get("maxUnavailable") is not None:
        expected, unmanaged = expected_scale(pdb, pods, lookup)
        return expected, max(0, expected - scaled_value(spec["maxUnavailable"], expected)), unmanaged
    min_available = spec.get("minAvailable")
    if isinstance(min_available, int):
        return len(pods), min_available, []
    if isinstance(min_available, str):
        expected, unmanaged = expected_scale(pdb, pods, lookup)
        return expected, scaled_value(min_available, expected), unmanaged
    return 0, 0, []


def disrupted_pod_map(pdb: Object, pods: list[Object], now: dt.datetime) -> tuple[dict[str, str], list[Action],
                                                                               float | None]:
    """buildDisruptedPodMap: entries of pods still there and not yet terminating, until DeletionTimeout."""
    recorded = (pdb.get("status") or {}).get("disruptedPods") or {}
    out: dict[str, str] = {}
    events: list[Action] = []
    recheck: float | None = None
    for pod in pods:
        md = pod.get("metadata") or {}
        if md.get("deletionTimestamp"):
            continue
        when = recorded.get(md.get("name", ""))
        if not when:
            continue
        expected_deletion = _parse(when) + dt.timedelta(seconds=DELETION_TIMEOUT_S)
        if expected_deletion < now:
            events.append(Event(pdb, "Warning", "NotDeleted",
                                f"Pod {md.get('namespace')}/{md.get('name')} was expected to be deleted at "
                                f"{expected_deletion.strftime('%Y-%m-%d %H:%M:%S +0000 UTC')} but it wasn't, "
                                "updating pdb"))
            continue
        out[md["name"]] = when
        left = (expected_deletion - now).total_seconds()
        recheck = left if recheck is None else min(recheck, left)
    return out, events, recheck


def set_condition(status: Object, type_: str, value: str, reason: str, message: str, now: dt.datetime) -> None:
    """meta.SetStatusCondition."""
    conditions = [dict(c) for c in status.get("conditions") or []]
    want = {"type": type_, "status": value, "reason": reason, "message": message,
            "observedGeneration": int(status.get("observedGeneration") or 0)}
    for c in conditions:
        if c.get("type") == type_:
            if c.get("status") != value:
                c["lastTransitionTime"] = _ts(now)
            c.update({k: want[k] for k in ("status", "reason", "message", "observedGeneration")})
            break
    else:
        conditions.append({**want, "lastTransitionTime": _ts(now)})
    status["conditions"] = conditions


def update_disruption_allowed_condition(status: Object, now: dt.datetime) -> None:
    if int(status.get("disruptionsAllowed") or 0) > 0:
        set_condition(status, "DisruptionAllowed", "True", "SufficientPods", "", now)
    else:
        set_condition(status, "DisruptionAllowed", "False", "InsufficientPods", "", now)


def conditions_up_to_date(status: Object) -> bool:
    for c in status.get("conditions") or []:
        if c.get("type") == "DisruptionAllowed":
            if int(c.get("observedGeneration") or 0) != int(status.get("observedGeneration") or 0):
                return False
            return (c.get("status") == "True") == (int(status.get("disruptionsAllowed") or 0) > 0)
    return False


def go_selector(selector: Object | None) -> str:
    """%v of a *metav1.LabelSelector, as the UnmanagedPods event prints it."""
    if selector is None:
        return "nil"
    labels = ",".join(f"{k}: {v}" for k, v in sorted((selector.get("matchLabels") or {}).items()))
    exprs = ",".join(f"LabelSelectorRequirement{{Key:{e.get('key')},Operator:{e.get('operator')},"
                     f"Values:[]string{{{','.join(e.get('values') or [])}}},}}"
                     for e in selector.get("matchExpressions") or [])
    return (f"&LabelSelector{{MatchLabels:map[string]string{{{labels + ',' if labels else ''}}},"
            f"MatchExpressions:[]LabelSelectorRequirement{{{exprs + ',' if exprs else ''}}},}}")


def _update(pdb: Object, status: Object) -> Update:
    body = copy.deepcopy(pdb)
    body["status"] = status
    md = pdb.get("metadata") or {}
    return Update(PDBS, md.get("namespace"), md.get("name", ""), body, subresource="status")


def reconcile(pdb: Object, all_pods: list[Object], lookup: Lookup, now: dt.datetime) -> Result:
    """trySync, with failSafe on an error."""
    result = Result()
    pods = pods_for_pdb(pdb, all_pods)
    if not pods:
        result.actions.append(Event(pdb, "Normal", "NoPods", "No matching pods found"))
    old = pdb.get("status") or {}
    generation = int((pdb.get("metadata") or {}).get("generation") or 0)
    try:
        expected, desired, unmanaged = expected_counts(pdb, pods, lookup)
    except NoController as e:
        failed = copy.deepcopy(old)
        failed["disruptionsAllowed"] = 0
        set_condition(failed, "DisruptionAllowed", "False", "SyncFailed", str(e), now)
        if failed != old:
            result.actions.append(_update(pdb, failed))
        return result
    if unmanaged:
        result.actions.append(Event(
            pdb, "Warning", "UnmanagedPods",
            f"Pods selected by this PodDisruptionBudget (selector: {go_selector((pdb.get('spec') or {}).get('selector'))}"
            ") were found to be unmanaged. As a result, the status of the PDB cannot be calculated correctly, which "
            'may result in undefined behavior. To account for these pods please set ".spec.minAvailable" field of the '
            "PDB to an integer value."))
    disrupted, events, recheck = disrupted_pod_map(pdb, pods, now)
    result.actions += events
    result.recheck_after = recheck
    healthy = sum(1 for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")
                  and (p.get("metadata") or {}).get("name") not in disrupted and is_ready(p))
    allowed = healthy - desired
    if expected <= 0 or allowed <= 0:
        allowed = 0
    if (old.get("currentHealthy") == healthy and old.get("desiredHealthy") == desired
            and old.get("expectedPods") == expected and old.get("disruptionsAllowed") == allowed
            and (old.get("disruptedPods") or {}) == disrupted and int(old.get("observedGeneration") or 0) == generation
            and conditions_up_to_date(old)):
        return result
    status: Object = {"observedGeneration": generation, "disruptionsAllowed": allowed, "currentHealthy": healthy,
                      "desiredHealthy": desired, "expectedPods": expected}
    if disrupted:
        status["disruptedPods"] = disrupted
    if old.get("conditions"):
        status["conditions"] = copy.deepcopy(old["conditions"])
    update_disruption_allowed_condition(status, now)
    result.actions.append(_update(pdb, status))
    return result
