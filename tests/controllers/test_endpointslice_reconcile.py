"""The EndpointSlice controller's pure core, table-driven: endpoints and their conditions, labels and owner, the
per-slice cap, filling and in-place updates that keep churn low, the placeholder, and missing nodes."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest

from controllers.endpointslice import reconcile as es
from controllers.machinery.actions import Create, Delete, Update
from controllers.machinery.resources import ENDPOINTSLICES
from tests.controllers.svcpods import T0, body, node, pod, ref, service

pytestmark = pytest.mark.unit

Obj = dict[str, Any]
NODES = {"node-1": node("node-1", zone="zone-a"), "node-2": node("node-2")}
PORTS = [{"name": "http", "port": 8080, "protocol": "TCP"}]
LABELS = {"kubernetes.io/service-name": "web", "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}
OWNER = [{"apiVersion": "v1", "kind": "Service", "name": "web", "uid": "svc-uid", "controller": True,
          "blockOwnerDeletion": True}]


def endpoint(name: str, ip: str, ready: bool = True, serving: bool = True, terminating: bool = False,
             node_name: str = "node-1", zone: str | None = "zone-a") -> Obj:
    e: Obj = {"addresses": [ip], "conditions": {"ready": ready, "serving": serving, "terminating": terminating},
              "targetRef": ref(name), "nodeName": node_name}
    if zone:
        e["zone"] = zone
    return e


_names = itertools.count()


def persist(result: es.Result, existing: list[Obj] | None = None) -> list[Obj]:
    """Apply the actions as the API server would (generateName, resourceVersion) to the slices `existing`."""
    slices = {s["metadata"]["name"]: s for s in copy.deepcopy(existing or [])}
    for action in result.actions:
        if isinstance(action, Create):
            obj = copy.deepcopy(body(action))
            obj["metadata"]["name"] = obj["metadata"].pop("generateName") + f"x{next(_names):04d}"
            obj["metadata"]["resourceVersion"] = "1"
            slices[obj["metadata"]["name"]] = obj
        elif isinstance(action, Update):
            assert action.name in slices
            slices[action.name] = copy.deepcopy(body(action))
        elif isinstance(action, Delete):
            del slices[action.name]
    return list(slices.values())


def kinds(result: es.Result) -> list[str]:
    return [type(a).__name__ for a in result.actions]


def test_new_service_gets_one_slice_with_every_endpoint_and_its_conditions() -> None:
    pods = [pod("a", "10.0.0.1"), pod("b", "10.0.0.2", ready=False, node="node-2"),
            pod("c", "10.0.0.3", deleting=True), pod("d", None), pod("e", "10.0.0.5", phase="Succeeded")]
    result = es.reconcile(service(labels={"tier": "front"}), pods, NODES, [], T0)
    assert result.errors == []
    assert result.actions == [Create(ENDPOINTSLICES, "default", {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"generateName": "web-", "namespace": "default", "labels": {"tier": "front", **LABELS},
                     "ownerReferences": OWNER,
                     "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": T0}},
        "addressType": "IPv4", "ports": PORTS,
        "endpoints": [endpoint("a", "10.0.0.1"),
                      endpoint("b", "10.0.0.2", ready=False, serving=False, node_name="node-2", zone=None),
                      endpoint("c", "10.0.0.3", ready=False, serving=True, terminating=True)]})]


def test_publish_not_ready_makes_every_endpoint_ready() -> None:
    pods = [pod("a", "10.0.0.1", ready=False), pod("b", "10.0.0.2", deleting=True)]
    [action] = es.reconcile(service(publish=True), pods, NODES, [], None).actions
    assert [e["conditions"] for e in body(action)["endpoints"]] == [
        {"ready": True, "serving": False, "terminating": False}, {"ready": True, "serving": True, "terminating": True}]


def test_no_pods_gives_one_placeholder_and_keeps_it() -> None:
    result = es.reconcile(service(), [], NODES, [], None)
    [action] = result.actions
    assert isinstance(action, Create)
    assert body(action)["endpoints"] == [] and body(action)["ports"] == []
    assert es.reconcile(service(), [], NODES, persist(result), None).actions == []


def test_headless_service_slices_carry_the_headless_label() -> None:
    [action] = es.reconcile(service(cluster_ip="None", ipFamilies=["IPv4"]), [pod("a", "10.0.0.1")], NODES, [],
                            None).actions
    assert body(action)["metadata"]["labels"] == {**LABELS, "service.kubernetes.io/headless": ""}


def test_nothing_written_when_slices_match() -> None:
    pods = [pod("a", "10.0.0.1"), pod("b", "10.0.0.2")]
    slices = persist(es.reconcile(service(), pods, NODES, [], T0))
    for s in slices:
        for e in s["endpoints"]:
            e["targetRef"]["resourceVersion"] = "77"
    assert es.reconcile(service(), pods, NODES, slices, None).actions == []


def test_a_pod_turning_not_ready_updates_its_slice_in_place() -> None:
    pods = [pod("a", "10.0.0.1"), pod("b", "10.0.0.2")]
    slices = persist(es.reconcile(service(), pods, NODES, [], T0))
    result = es.reconcile(service(), [pods[0], pod("b", "10.0.0.2", ready=False)], NODES, slices,
                          "2026-12-01T10:02:00Z")
    [action] = result.actions
    assert isinstance(action, Update) and action.name == slices[0]["metadata"]["name"]
    assert body(action)["metadata"]["resourceVersion"] == "1"
    assert body(action)["endpoints"][1]["conditions"] == {"ready": False, "serving": False, "terminating": False}
    assert body(action)["metadata"]["annotations"] == {
        "endpoints.kubernetes.io/last-change-trigger-time": "2026-12-01T10:02:00Z"}


def many(n: int, start: int = 0) -> list[Obj]:
    return [pod(f"p{i:04d}", f"10.1.{i // 250}.{i % 250 + 1}") for i in range(start, start + n)]


CAP_CASES = [
    ("250 endpoints at 100 per slice: 100, 100, 50", [], 250, 100, ["Create"] * 3, [100, 100, 50]),
    ("a custom --max-endpoints-per-slice", [], 7, 3, ["Create"] * 3, [3, 3, 1]),
    ("one more endpoint than a full slice holds: a new slice", [100], 101, 100, ["Create"], [100, 1]),
    ("a few new endpoints fill the unchanged slice they fit", [50], 60, 100, ["Update"], [60]),
    ("new endpoints go to the slice they fill closest to full", [95, 60], 160, 100, ["Update"], [60, 100]),
]


@pytest.mark.parametrize("start,total,cap,want_kinds,want_sizes", [c[1:] for c in CAP_CASES],
                         ids=[c[0] for c in CAP_CASES])
def test_slice_capacity_and_filling(start: list[int], total: int, cap: int, want_kinds: list[str],
                                    want_sizes: list[int]) -> None:
    existing: list[Obj] = []
    offset = 0
    for size in start:  # build the starting slices one by one, as earlier syncs would have
        existing = persist(es.reconcile(service(), many(offset + size), NODES, existing, None, size), existing)
        offset += size
    result = es.reconcile(service(), many(total), NODES, existing, None, cap)
    assert kinds(result) == want_kinds
    after = persist(result, existing)
    assert sorted(len(s["endpoints"]) for s in after) == sorted(want_sizes)
    assert sum(len(s["endpoints"]) for s in after) == total
    assert es.reconcile(service(), many(total), NODES, after, None, cap).actions == []  # stable


def test_a_removed_and_an_added_endpoint_share_one_update() -> None:
    slices = persist(es.reconcile(service(), many(5), NODES, [], None))
    pods = many(4) + [pod("new", "10.9.9.9")]
    [action] = es.reconcile(service(), pods, NODES, slices, None).actions
    assert isinstance(action, Update)
    assert [e["targetRef"]["name"] for e in body(action)["endpoints"]] == ["p0000", "p0001", "p0002", "p0003", "new"]


def test_the_last_endpoint_leaving_turns_the_slice_into_the_placeholder() -> None:
    slices = persist(es.reconcile(service(), many(3), NODES, [], None))
    [action] = es.reconcile(service(), [], NODES, slices, None).actions
    assert isinstance(action, Update) and action.name == slices[0]["metadata"]["name"]
    assert body(action)["endpoints"] == [] and body(action)["ports"] == []
    assert "generateName" not in body(action)["metadata"]


def test_emptied_slice_is_deleted_when_others_remain() -> None:
    slices = persist(es.reconcile(service(), many(4), NODES, [], None, 2))
    assert sorted(len(s["endpoints"]) for s in slices) == [2, 2]
    result = es.reconcile(service(), many(2), NODES, slices, None, 2)
    assert kinds(result) == ["Delete"]


def test_pods_offering_different_ports_get_separate_slices() -> None:
    svc = service(ports=[{"name": "web", "port": 80, "targetPort": "http"}])
    pods = [pod("a", "10.0.0.1"), pod("b", "10.0.0.2", ports=[{"name": "http", "containerPort": 9090}])]
    actions = es.reconcile(svc, pods, NODES, [], None).actions
    assert sorted((body(a)["ports"][0]["port"], len(body(a)["endpoints"])) for a in actions) == [(8080, 1), (9090, 1)]


def test_unnamed_ports_carry_an_empty_name() -> None:
    svc = service(ports=[{"port": 80, "targetPort": 8080, "protocol": "TCP"}])
    [action] = es.reconcile(svc, [pod("a", "10.0.0.1")], NODES, [], None).actions
    assert body(action)["ports"] == [{"name": "", "port": 8080, "protocol": "TCP"}]


def test_a_pod_on_an_unknown_node_is_skipped_and_reported() -> None:
    pods = [pod("a", "10.0.0.1"), pod("b", "10.0.0.2", node="gone")]
    result = es.reconcile(service(), pods, NODES, [], None)
    assert result.errors == ["skipping Pod b for Service default/web: Node gone Not Found"]
    [action] = result.actions
    assert [e["targetRef"]["name"] for e in body(action)["endpoints"]] == ["a"]
    published = es.reconcile(service(publish=True), pods, NODES, [], None)
    assert published.errors == []
    assert body(published.actions[0])["endpoints"][1] == {
        "addresses": ["10.0.0.2"], "conditions": {"ready": True, "serving": True, "terminating": False},
        "targetRef": ref("b"), "nodeName": "gone"}


def test_service_label_change_relabels_slices_only() -> None:
    pods = [pod("a", "10.0.0.1")]
    slices = persist(es.reconcile(service(), pods, NODES, [], None))
    [action] = es.reconcile(service(labels={"team": "x"}), pods, NODES, slices, None).actions
    assert isinstance(action, Update)
    assert body(action)["metadata"]["labels"] == {"team": "x", **LABELS}
    assert body(action)["endpoints"] == slices[0]["endpoints"]


def test_slices_of_another_service_uid_or_manager_are_replaced_or_ignored() -> None:
    pods = [pod("a", "10.0.0.1")]
    slices = persist(es.reconcile(service(uid="old-uid"), pods, NODES, [], None))
    result = es.reconcile(service(), pods, NODES, slices, None)
    # a slice left by an earlier Service of the same name is not owned: delete it, create ours
    assert kinds(result) == ["Create", "Delete"]
    foreign = [{**slices[0], "metadata": {**slices[0]["metadata"],
                                          "labels": {**LABELS, "endpointslice.kubernetes.io/managed-by": "me"}}}]
    assert kinds(es.reconcile(service(), pods, NODES, foreign, None)) == ["Create"]


def test_left_alone() -> None:
    pods = [pod("a", "10.0.0.1")]
    assert es.reconcile(None, pods, NODES, [], None).actions == []
    assert es.reconcile(service(selector={}), pods, NODES, [], None).actions == []
    assert es.reconcile(service(type="ExternalName"), pods, NODES, [], None).actions == []


def test_a_service_being_deleted_gets_no_new_slices() -> None:
    svc = service()
    svc["metadata"]["deletionTimestamp"] = T0
    assert es.reconcile(svc, [pod("a", "10.0.0.1")], NODES, [], None).actions == []


def test_dual_stack_gets_one_slice_per_family() -> None:
    svc = service(ipFamilies=["IPv4", "IPv6"])
    p = pod("a", "10.0.0.1")
    p["status"]["podIPs"] = [{"ip": "10.0.0.1"}, {"ip": "fd00::1"}]
    actions = es.reconcile(svc, [p], NODES, [], None).actions
    assert sorted((body(a)["addressType"], body(a)["endpoints"][0]["addresses"][0]) for a in actions) == [
        ("IPv4", "10.0.0.1"), ("IPv6", "fd00::1")]


def test_prefer_close_hints_ready_endpoints_to_their_zone_and_removal_clears_them() -> None:
    nodes = {"node-1": node("node-1", zone="zone-a"), "node-2": node("node-2", zone="zone-b"),
             "node-3": node("node-3")}
    pods = [pod("a", "10.0.0.1"), pod("b", "10.0.0.2", node="node-2"), pod("c", "10.0.0.3", ready=False),
            pod("d", "10.0.0.4", node="node-3")]
    close = service(trafficDistribution="PreferClose")
    [action] = es.reconcile(close, pods, nodes, [], None).actions
    assert {e["targetRef"]["name"]: e.get("hints") for e in body(action)["endpoints"]} == {
        "a": {"forZones": [{"name": "zone-a"}]}, "b": {"forZones": [{"name": "zone-b"}]}, "c": None, "d": None}
    slices = persist(es.reconcile(close, pods, nodes, [], None))
    assert es.reconcile(close, pods, nodes, slices, None).actions == [], "hints are no reason to rewrite"
    # the Service stops asking: the unchanged slice is rewritten without hints
    [update] = es.reconcile(service(), pods, nodes, slices, None).actions
    assert isinstance(update, Update) and all("hints" not in e for e in body(update)["endpoints"])
    # the topology annotation wins over trafficDistribution: these nodes say nothing of CPU, so no hints at all
    auto = service(trafficDistribution="PreferClose")
    auto["metadata"]["annotations"] = {"service.kubernetes.io/topology-mode": "Auto"}
    result = es.reconcile(auto, pods, nodes, [], None)
    assert all("hints" not in e for e in body(result.actions[0])["endpoints"])
    assert [(e.type, e.reason, e.message) for e in result.events] == [
        ("Warning", "TopologyAwareHintsDisabled", "Insufficient Node information: allocatable CPU or zone not "
                                                  "specified on one or more nodes, addressType: IPv4")]


def test_unchanged_slice_with_a_wrong_hint_is_fixed_under_prefer_close() -> None:
    close = service(trafficDistribution="PreferClose")
    pods = [pod("a", "10.0.0.1")]
    slices = persist(es.reconcile(close, pods, NODES, [], None))
    slices[0]["endpoints"][0]["hints"] = {"forZones": [{"name": "elsewhere"}]}
    [update] = es.reconcile(close, pods, NODES, slices, None).actions
    assert body(update)["endpoints"][0]["hints"] == {"forZones": [{"name": "zone-a"}]}
