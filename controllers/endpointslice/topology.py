"""Topology Aware Hints (`service.kubernetes.io/topology-mode: Auto`), pure: kube 1.32's topologycache.

Ready endpoints are hinted to zones in proportion to the zones' allocatable CPU: every endpoint starts hinted to its
own zone, then zones holding more than their share give endpoints (hints pointing elsewhere) to zones holding less.
Hints are refused — and removed, with a TopologyAwareHintsDisabled event — when the nodes do not say enough (a ready
node without zone or CPU, fewer than two zones), when there are fewer endpoints than zones, when a zone could not get
its minimum without overloading another by more than 20 %, or when an endpoint has no zone. Unchanged slices keep
their hints when they still fit the allocation. Go's map order is replaced by zone order, so the result is a
function of the input.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from apiserver.admission import quantity

Obj = dict[str, Any]
OVERLOAD_THRESHOLD = 0.2
ZONE_LABEL = "topology.kubernetes.io/zone"
EXCLUDED_NODE_LABELS = ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master")

NO_ZONE_SPECIFIED = "One or more endpoints do not have a zone specified"
NO_ALLOCATED_HINTS = "No hints allocated for zones"
ENABLED = "Topology Aware Hints has been enabled"
DISABLED = "Topology Aware Hints has been disabled"
INSUFFICIENT_NODE_INFO = "Insufficient Node information: allocatable CPU or zone not specified on one or more nodes"
ONE_ZONE_ONLY = "Nodes only ready in one zone"
INSUFFICIENT_ENDPOINTS = "Insufficient number of endpoints"
MIN_EXCEEDS_OVERLOAD = ("Unable to allocate minimum required endpoints to each zone without exceeding overload "
                        "threshold")


@dataclass(frozen=True)
class Allocation:
    minimum: int
    desired: float
    maximum: int


@dataclass
class HintEvent:
    type: Literal["Normal", "Warning"]
    reason: str
    message: str


def with_address_type(message: str, address_type: str) -> str:
    return f"{message}, addressType: {address_type}"


def _ready_node(node: Obj) -> bool:
    for c in (node.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return bool(c.get("status") == "True")
    return False


def zone_cpu_ratios(nodes: list[Obj]) -> dict[str, float] | None:
    """SetNodes: each zone's share of the ready nodes' allocatable CPU; None when any ready node lacks a zone or CPU,
    or fewer than two zones remain (control-plane nodes do not count)."""
    by_zone: dict[str, Decimal] = {}
    for node in nodes:
        labels = (node.get("metadata") or {}).get("labels") or {}
        if any(k in labels for k in EXCLUDED_NODE_LABELS) or not _ready_node(node):
            continue
        zone = labels.get(ZONE_LABEL) or ""
        cpu_text = ((node.get("status") or {}).get("allocatable") or {}).get("cpu")
        try:
            cpu = quantity.parse(cpu_text) if cpu_text is not None else Decimal(0)
        except quantity.QuantityError:
            cpu = Decimal(0)
        if not zone or cpu == 0:
            return None
        by_zone[zone] = by_zone.get(zone, Decimal(0)) + cpu
    total = sum(by_zone.values(), Decimal(0))
    if total == 0 or len(by_zone) < 2:
        return None
    return {zone: float(int(cpu * 1000)) / float(int(total * 1000)) for zone, cpu in by_zone.items()}


def allocations(ratios: dict[str, float] | None, endpoints: int) -> tuple[dict[str, Allocation] | None, str | None]:
    if ratios is None:
        return None, INSUFFICIENT_NODE_INFO
    if len(ratios) < 2:
        return None, ONE_ZONE_ONLY
    if len(ratios) > endpoints:
        return None, f"{INSUFFICIENT_ENDPOINTS} ({endpoints} endpoints, {len(ratios)} zones)"
    remaining, min_total = endpoints, 0
    partial: dict[str, tuple[int, float]] = {}
    for zone in sorted(ratios):
        desired = ratios[zone] * endpoints
        minimum = int(math.ceil(desired * (1 / (1 + OVERLOAD_THRESHOLD))))
        partial[zone] = (minimum, max(desired, float(minimum)))
        min_total += minimum
        remaining -= minimum
        if remaining < 0:
            return None, f"{MIN_EXCEEDS_OVERLOAD} ({endpoints} endpoints, {len(ratios)} zones)"
    return {z: Allocation(m, d, m + endpoints - min_total) for z, (m, d) in partial.items()}, None


def _ready(endpoint: Obj) -> bool:
    return bool((endpoint.get("conditions") or {}).get("ready"))


def _hints_by_zone(slice_: Obj, allocated: dict[str, int], allocs: dict[str, Allocation]) -> dict[str, int] | None:
    """The hints an unchanged slice holds per zone, or None when it must be rewritten (a ready endpoint without
    hints, a hint for a zone not allocated, or more hints than a zone's maximum)."""
    by_zone: dict[str, int] = {}
    for e in slice_.get("endpoints") or []:
        if not _ready(e):
            continue
        zones = (e.get("hints") or {}).get("forZones") or []
        if not zones:
            return None
        for z in zones:
            name = z.get("name", "")
            if name not in allocs:
                return None
            by_zone[name] = by_zone.get(name, 0) + 1
    for zone, n in by_zone.items():
        if n + allocated.get(zone, 0) > allocs[zone].maximum:
            return None
    return by_zone


def _most(values: dict[str, float]) -> tuple[str, float]:
    zone, best = "", 0.0
    for z in sorted(values):
        if values[z] > best:
            zone, best = z, values[z]
    return zone, best


def giving_and_receiving(allocs: dict[str, Allocation], allocated: dict[str, int]) -> tuple[dict[str, int],
                                                                                            dict[str, int]]:
    giving_f: dict[str, float] = {}
    receiving_f: dict[str, float] = {}
    for zone, a in allocs.items():
        have = float(allocated.get(zone, 0))
        if have > a.desired:
            giving_f[zone] = have - a.desired
        elif have < a.desired:
            receiving_f[zone] = a.desired - have
    giving: dict[str, int] = {}
    receiving: dict[str, int] = {}
    while True:
        g, n_give = _most(giving_f)
        r, n_receive = _most(receiving_f)
        if not g or not r or (n_give < 1.0 and n_receive < 1.0) or n_give < 0.5 or n_receive < 0.5:
            break
        giving[g] = giving.get(g, 0) + 1
        giving_f[g] -= 1
        receiving[r] = receiving.get(r, 0) + 1
        receiving_f[r] -= 1
    return giving, receiving


def _redistribute(slices: list[Obj], giving: dict[str, int], receiving: dict[str, int]) -> dict[str, int]:
    moved: dict[str, int] = {}
    for s in slices:
        for e in s.get("endpoints") or []:
            if not _ready(e):
                e.pop("hints", None)
                continue
            if not giving or not receiving:
                return moved
            zone = e.get("zone") or ""
            if not zone or giving.get(zone, 0) <= 0:
                continue
            target = next((z for z in sorted(receiving) if receiving[z] > 0), None)
            if target is None:
                continue
            e["hints"] = {"forZones": [{"name": target}]}
            giving[zone] -= 1
            if giving[zone] == 0:
                del giving[zone]
            receiving[target] -= 1
            if receiving[target] == 0:
                del receiving[target]
            moved[target] = moved.get(target, 0) + 1
            moved[zone] = moved.get(zone, 0) - 1
    return moved


def remove_hints(creates: list[Obj], updates: list[Obj], unchanged: list[Obj]) -> None:
    """RemoveHintsFromSlices: no hints on what is written; unchanged slices holding hints are rewritten without."""
    for s in creates + updates:
        for e in s.get("endpoints") or []:
            e.pop("hints", None)
    for s in unchanged:
        if any(e.get("hints") is not None for e in s.get("endpoints") or []):
            copied = copy.deepcopy(s)
            for e in copied.get("endpoints") or []:
                e.pop("hints", None)
            updates.append(copied)


def add_hints(creates: list[Obj], updates: list[Obj], unchanged: list[Obj], ratios: dict[str, float] | None,
              address_type: str, populated: bool) -> tuple[list[HintEvent], bool]:
    """AddHints, in place on `creates`/`updates` (an unchanged slice that no longer fits is appended to
    `updates`). Returns the events to record on the Service and whether hints are now populated for it."""
    total = sum(1 for s in creates + updates + unchanged for e in s.get("endpoints") or [] if _ready(e))
    allocs, problem = allocations(ratios, total)
    if allocs is None:
        remove_hints(creates, updates, unchanged)
        return [HintEvent("Warning", "TopologyAwareHintsDisabled", with_address_type(str(problem), address_type))], \
            False
    allocated: dict[str, int] = {}
    still_unchanged: list[Obj] = []
    for s in unchanged:
        by_zone = _hints_by_zone(s, allocated, allocs)
        if by_zone is None:
            updates.append(copy.deepcopy(s))
        else:
            still_unchanged.append(s)
            for z, n in by_zone.items():
                allocated[z] = allocated.get(z, 0) + n
    writable = creates + updates
    for s in writable:
        for e in s.get("endpoints") or []:
            if not _ready(e):
                e.pop("hints", None)
                continue
            zone = e.get("zone") or ""
            if not zone:
                remove_hints(creates, updates, still_unchanged)
                return [HintEvent("Warning", "TopologyAwareHintsDisabled",
                                  with_address_type(NO_ZONE_SPECIFIED, address_type))], False
            allocated[zone] = allocated.get(zone, 0) + 1
            e["hints"] = {"forZones": [{"name": zone}]}
    giving, receiving = giving_and_receiving(allocs, allocated)
    for zone, diff in _redistribute(writable, giving, receiving).items():
        allocated[zone] = allocated.get(zone, 0) + diff
    if not allocated:
        remove_hints(creates, updates, still_unchanged)
        return [HintEvent("Warning", "TopologyAwareHintsDisabled",
                          with_address_type(NO_ALLOCATED_HINTS, address_type))], False
    events = [] if populated else [HintEvent("Normal", "TopologyAwareHintsEnabled",
                                             with_address_type(ENABLED, address_type))]
    return events, True
