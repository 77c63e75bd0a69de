"""Which pods a replica controller deletes first: kube-controller-manager 1.32's ActivePodsWithRanks order.

Smaller sorts first and is deleted first:
  1. unassigned < assigned (spec.nodeName)
  2. Pending < Unknown < Running
  3. not ready < ready
  4. lower controller.kubernetes.io/pod-deletion-cost < higher (PodDeletionCost, on by default)
  5. more related active pods on the same node < fewer (spreading: "doubled up" pods go first)
  6. both ready: ready for less time < more time, compared on a log2 scale of the age (LogarithmicScaleDown,
     GA), ties within a bucket broken by UID
  7. higher max container restarts < lower (then the same for restartable init containers, i.e. sidecars)
  8. newer < older creationTimestamp, again on the log2 scale with UID ties; no timestamp sorts first
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import datetime
from functools import cmp_to_key
from typing import Any

from controllers.podcontrol import is_active, is_ready, meta, parse_datetime, ready_time

Object = dict[str, Any]
PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}
DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
_INT = re.compile(r"[+-]?[0-9]+")  # strconv.ParseInt(s, 10, 32)


def deletion_cost(pod: Object) -> int:
    """The pod-deletion-cost annotation; absent or not an int32 counts as 0, as the helper kube uses."""
    raw = (meta(pod).get("annotations") or {}).get(DELETION_COST)
    if raw is None:
        return 0
    if not _INT.fullmatch(raw):
        return 0
    value = int(raw)
    return value if INT32_MIN <= value <= INT32_MAX else 0


def _max_restarts(pod: Object) -> tuple[int, int]:
    status = pod.get("status") or {}
    regular = max((int(c.get("restartCount") or 0) for c in status.get("containerStatuses") or []), default=0)
    sidecars = {c.get("name") for c in (pod.get("spec") or {}).get("initContainers") or []
                if c.get("restartPolicy") == "Always"}
    sidecar = max((int(c.get("restartCount") or 0) for c in status.get("initContainerStatuses") or []
                   if c.get("name") in sidecars), default=0)
    return regular, sidecar


def _log_rank(t: datetime, now: datetime) -> int:
    """int64(math.Log2(float64(now - t))) on nanoseconds; -1 for a time not in the past."""
    nanos = (now - t).total_seconds() * 1e9
    return int(math.log2(nanos)) if nanos > 0 else -1


def _after_or_zero(t1: datetime | None, t2: datetime | None) -> bool:
    """afterOrZero: a missing time first, else the later one first."""
    if t1 is None or t2 is None:
        return t1 is None
    return t1 > t2


def _time_less(t1: datetime | None, t2: datetime | None, uid1: str, uid2: str, now: datetime) -> bool:
    if t1 is None or t2 is None:
        return _after_or_zero(t1, t2)
    diff = _log_rank(t1, now) - _log_rank(t2, now)
    if diff == 0:
        return uid1 < uid2
    return diff < 0


def _less(a: Object, b: Object, rank_a: int, rank_b: int, now: datetime) -> bool:
    node_a, node_b = (a.get("spec") or {}).get("nodeName") or "", (b.get("spec") or {}).get("nodeName") or ""
    if node_a != node_b and (not node_a or not node_b):
        return not node_a
    phase_a = PHASE_ORDINAL.get((a.get("status") or {}).get("phase") or "", 0)
    phase_b = PHASE_ORDINAL.get((b.get("status") or {}).get("phase") or "", 0)
    if phase_a != phase_b:
        return phase_a < phase_b
    ready_a, ready_b = is_ready(a), is_ready(b)
    if ready_a != ready_b:
        return not ready_a
    cost_a, cost_b = deletion_cost(a), deletion_cost(b)
    if cost_a != cost_b:
        return cost_a < cost_b
    if rank_a != rank_b:
        return rank_a > rank_b
    uid_a, uid_b = str(meta(a).get("uid") or ""), str(meta(b).get("uid") or "")
    if ready_a and ready_b:
        rt_a, rt_b = ready_time(a), ready_time(b)
        if rt_a != rt_b:
            return _time_less(rt_a, rt_b, uid_a, uid_b, now)
    restarts_a, restarts_b = _max_restarts(a), _max_restarts(b)
    if restarts_a[0] != restarts_b[0]:
        return restarts_a[0] > restarts_b[0]
    if restarts_a[1] != restarts_b[1]:
        return restarts_a[1] > restarts_b[1]
    ct_a, ct_b = parse_datetime(meta(a).get("creationTimestamp")), parse_datetime(meta(b).get("creationTimestamp"))
    if ct_a != ct_b:
        return _time_less(ct_a, ct_b, uid_a, uid_b, now)
    return False


def rank_by_related_on_same_node(pods: Sequence[Object], related: Sequence[Object]) -> list[int]:
    """getPodsRankedByRelatedPodsOnSameNode: per pod, how many active related pods share its node."""
    on_node: dict[str, int] = {}
    for pod in related:
        if is_active(pod):
            node = (pod.get("spec") or {}).get("nodeName") or ""
            on_node[node] = on_node.get(node, 0) + 1
    return [on_node.get((p.get("spec") or {}).get("nodeName") or "", 0) for p in pods]


def sort_for_deletion(pods: Sequence[Object], related: Sequence[Object], now: datetime) -> list[Object]:
    """`pods` in deletion order (first = first to go)."""
    ranks = rank_by_related_on_same_node(pods, related)
    indexed = list(zip(pods, ranks, strict=True))

    def cmp(x: tuple[Object, int], y: tuple[Object, int]) -> int:
        if _less(x[0], y[0], x[1], y[1], now):
            return -1
        if _less(y[0], x[0], y[1], x[1], now):
            return 1
        return 0
    return [p for p, _ in sorted(indexed, key=cmp_to_key(cmp))]


def pods_to_delete(pods: Sequence[Object], related: Sequence[Object], diff: int, now: datetime) -> list[Object]:
    """getPodsToDelete: the `diff` pods to delete (all of them, unranked, when every pod goes)."""
    if diff < len(pods):
        return sort_for_deletion(pods, related, now)[:diff]
    return list(pods)[:diff]
