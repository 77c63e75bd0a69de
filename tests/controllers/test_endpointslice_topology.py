"""Topology Aware Hints (topology-mode Auto), the pure allocator: zone CPU ratios from nodes, allocations with the
20 % overload threshold, same-zone hints then redistribution, and the events when hints cannot be given."""

from __future__ import annotations

from typing import Any

import pytest

from controllers.endpointslice import reconcile as es
from controllers.endpointslice import topology as tp
from tests.controllers.svcpods import body, pod, service

pytestmark = pytest.mark.unit
Obj = dict[str, Any]


def node(name: str, zone: str | None, cpu: str | None = "4", ready: bool = True, **labels: str) -> Obj:
    md: Obj = {"name": name, "labels": {**({"topology.kubernetes.io/zone": zone} if zone else {}), **labels}}
    status: Obj = {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    if cpu is not None:
        status["allocatable"] = {"cpu": cpu}
    return {"metadata": md, "status": status}


RATIO_CASES = [
    ("CPU shares per zone", [node("a1", "a", "2"), node("a2", "a", "2"), node("b1", "b", "4000m")],
     {"a": 0.5, "b": 0.5}),
    ("uneven shares", [node("a1", "a", "3"), node("b1", "b", "1")], {"a": 0.75, "b": 0.25}),
    ("a ready node without a zone: no ratios", [node("a1", "a"), node("x", None)], None),
    ("a ready node without CPU: no ratios", [node("a1", "a"), node("b1", "b", None)], None),
    ("not-ready and control-plane nodes do not count",
     [node("a1", "a"), node("b1", "b"), node("x", None, ready=False),
      node("cp", None, **{"node-role.kubernetes.io/control-plane": ""})], {"a": 0.5, "b": 0.5}),
    ("one zone only: no ratios", [node("a1", "a"), node("a2", "a")], None),
]


@pytest.mark.parametrize("nodes,want", [c[1:] for c in RATIO_CASES], ids=[c[0] for c in RATIO_CASES])
def test_zone_cpu_ratios(nodes: list[Obj], want: dict[str, float] | None) -> None:
    assert tp.zone_cpu_ratios(nodes) == want


ALLOC_CASES = [
    ("too few endpoints for the zones", {"a": 0.5, "b": 0.5}, 1, "Insufficient number of endpoints (1 endpoints, 2 zones)"),
    ("minimums beyond the overload threshold", {"a": 0.5, "b": 0.5}, 3,
     "Unable to allocate minimum required endpoints to each zone without exceeding overload threshold "
     "(3 endpoints, 2 zones)"),
    ("no node information", None, 4, "Insufficient Node information: allocatable CPU or zone not specified on one "
                                     "or more nodes"),
]


@pytest.mark.parametrize("ratios,n,message", [c[1:] for c in ALLOC_CASES], ids=[c[0] for c in ALLOC_CASES])
def test_allocations_refused(ratios: dict[str, float] | None, n: int, message: str) -> None:
    assert tp.allocations(ratios, n) == (None, message)


def test_allocations_bounds() -> None:
    allocs, problem = tp.allocations({"a": 0.5, "b": 0.5}, 4)
    assert problem is None and allocs == {"a": tp.Allocation(2, 2.0, 2), "b": tp.Allocation(2, 2.0, 2)}
    allocs, _ = tp.allocations({"a": 0.75, "b": 0.25}, 8)
    assert allocs == {"a": tp.Allocation(5, 6.0, 6), "b": tp.Allocation(2, 2.0, 3)}


def ep(name: str, zone: str | None, ready: bool = True) -> Obj:
    e: Obj = {"addresses": [f"10.0.0.{len(name)}"], "conditions": {"ready": ready, "serving": ready,
                                                                   "terminating": False},
              "targetRef": {"kind": "Pod", "namespace": "default", "name": name}}
    if zone:
        e["zone"] = zone
    return e


def hinted(slices: list[Obj]) -> dict[str, str | None]:
    return {e["targetRef"]["name"]: ((e.get("hints") or {}).get("forZones") or [{}])[0].get("name")
            for s in slices for e in s["endpoints"]}


def test_same_zone_then_redistributed_to_the_zone_short_of_endpoints() -> None:
    created = [{"endpoints": [ep("a1", "a"), ep("a2", "a"), ep("a3", "a"), ep("a4", "a"), ep("a5", "a"),
                              ep("b1", "b"), ep("n", "a", ready=False)]}]
    events, populated = tp.add_hints(created, [], [], {"a": 0.5, "b": 0.5}, "IPv4", False)
    got = hinted(created)
    assert got["n"] is None and got["b1"] == "b"
    assert sorted(v for k, v in got.items() if k != "n") == ["a", "a", "a", "b", "b", "b"]
    assert populated and [(e.type, e.reason, e.message) for e in events] == [
        ("Normal", "TopologyAwareHintsEnabled", "Topology Aware Hints has been enabled, addressType: IPv4")]
    again, _ = tp.add_hints([{"endpoints": [ep("a1", "a"), ep("b1", "b")]}], [], [], {"a": 0.5, "b": 0.5},
                            "IPv4", True)
    assert again == [], "enabled is announced once"


def test_an_endpoint_without_zone_disables_hints() -> None:
    created = [{"endpoints": [ep("a1", "a"), ep("aa2", "a"), ep("x", None), ep("b1", "b")]}]
    events, populated = tp.add_hints(created, [], [], {"a": 0.5, "b": 0.5}, "IPv6", True)
    assert not populated and hinted(created) == {"a1": None, "aa2": None, "x": None, "b1": None}
    assert [e.message for e in events] == ["One or more endpoints do not have a zone specified, addressType: IPv6"]


def test_unchanged_slices_keep_fitting_hints_and_rewrite_the_rest() -> None:
    good = {"metadata": {"name": "good"}, "endpoints": [{**ep("a1", "a"), "hints": {"forZones": [{"name": "a"}]}},
                                                        {**ep("b1", "b"), "hints": {"forZones": [{"name": "b"}]}}]}
    stale = {"metadata": {"name": "stale"}, "endpoints": [{**ep("a2", "a"), "hints": {"forZones": [{"name": "z"}]}},
                                                          {**ep("b2", "b")}]}
    updates: list[Obj] = []
    tp.add_hints([], updates, [good, stale], {"a": 0.5, "b": 0.5}, "IPv4", True)
    assert [u["metadata"]["name"] for u in updates] == ["stale"]
    assert hinted(updates) == {"a2": "a", "b2": "b"}
    assert stale["endpoints"][0]["hints"] == {"forZones": [{"name": "z"}]}, "the cached slice is not touched"


def test_reconcile_with_topology_mode_auto_and_switching_it_off() -> None:
    nodes = {"n1": node("n1", "a"), "n2": node("n2", "b")}
    svc = service()
    svc["metadata"]["annotations"] = {"service.kubernetes.io/topology-mode": "Auto"}
    pods = [pod(f"p{i}", f"10.0.1.{i}", node="n1" if i < 3 else "n2") for i in range(4)]
    result = es.reconcile(svc, pods, nodes, [], None)
    assert result.hints_populated and [e.reason for e in result.events] == ["TopologyAwareHintsEnabled"]
    assert sorted(e["hints"]["forZones"][0]["name"] for e in body(result.actions[0])["endpoints"]) == \
        ["a", "a", "b", "b"]
    off = es.reconcile(service(), pods, nodes, [], None, hints_populated=True)
    assert not off.hints_populated
    assert [(e.reason, e.message) for e in off.events] == [
        ("TopologyAwareHintsDisabled", "Topology Aware Hints has been disabled, addressType: IPv4")]
