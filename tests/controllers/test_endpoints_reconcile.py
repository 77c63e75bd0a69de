"""The Endpoints controller's pure core, table-driven: which pods land where, ports, headless Services, the
capacity cap, the trigger-time annotation and the writes (or their absence)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from controllers.endpoints import reconcile as ep
from controllers.endpoints import triggertime
from controllers.machinery.actions import Create, Delete, Update
from controllers.machinery.resources import ENDPOINTS
from tests.controllers.svcpods import T0, body, pod, ref, service

pytestmark = pytest.mark.unit

Obj = dict[str, Any]


def addr(name: str, ip: str, node: str = "node-1") -> Obj:
    return {"ip": ip, "nodeName": node, "targetRef": ref(name)}


HTTP = {"name": "http", "port": 8080, "protocol": "TCP"}

SUBSET_CASES = [
    ("ready and not-ready pods split",
     service(), [pod("a", "10.0.0.1"), pod("b", "10.0.0.2", ready=False)],
     [{"addresses": [addr("a", "10.0.0.1")], "notReadyAddresses": [addr("b", "10.0.0.2")], "ports": [HTTP]}]),
    ("pods without an IP are skipped",
     service(), [pod("a", "10.0.0.1"), pod("b", None)],
     [{"addresses": [addr("a", "10.0.0.1")], "ports": [HTTP]}]),
    ("terminal pods are skipped",
     service(), [pod("a", "10.0.0.1"), pod("b", "10.0.0.2", phase="Succeeded"), pod("c", "10.0.0.3", phase="Failed")],
     [{"addresses": [addr("a", "10.0.0.1")], "ports": [HTTP]}]),
    ("terminating pods are excluded",
     service(), [pod("a", "10.0.0.1"), pod("b", "10.0.0.2", deleting=True)],
     [{"addresses": [addr("a", "10.0.0.1")], "ports": [HTTP]}]),
    ("publishNotReadyAddresses: not-ready and terminating pods are addresses",
     service(publish=True), [pod("a", "10.0.0.1", ready=False), pod("b", "10.0.0.2", deleting=True)],
     [{"addresses": [addr("a", "10.0.0.1"), addr("b", "10.0.0.2")], "ports": [HTTP]}]),
    ("pods the selector does not pick, or of another namespace, are not considered",
     service(), [pod("a", "10.0.0.1"), pod("b", "10.0.0.2", labels={"app": "db"}), pod("c", "10.0.0.3", ns="other")],
     [{"addresses": [addr("a", "10.0.0.1")], "ports": [HTTP]}]),
    ("a named targetPort resolves per pod",
     service(ports=[{"name": "web", "port": 80, "targetPort": "http", "protocol": "TCP"}]),
     [pod("a", "10.0.0.1"), pod("b", "10.0.0.2", ports=[{"name": "http", "containerPort": 9090}])],
     [{"addresses": [addr("a", "10.0.0.1")], "ports": [{"name": "web", "port": 8080, "protocol": "TCP"}]},
      {"addresses": [addr("b", "10.0.0.2")], "ports": [{"name": "web", "port": 9090, "protocol": "TCP"}]}]),
    ("a pod without a named port is left out of that port only",
     service(ports=[{"name": "web", "port": 80, "targetPort": "http"},
                    {"name": "metrics", "port": 9100, "targetPort": "metrics"}]),
     [pod("a", "10.0.0.1", ports=[{"name": "http", "containerPort": 8080},
                                  {"name": "metrics", "containerPort": 9100}]),
      pod("b", "10.0.0.2", ports=[{"name": "http", "containerPort": 8080}])],
     [{"addresses": [addr("a", "10.0.0.1")], "ports": [{"name": "metrics", "port": 9100, "protocol": "TCP"}]},
      {"addresses": [addr("a", "10.0.0.1"), addr("b", "10.0.0.2")],
       "ports": [{"name": "web", "port": 8080, "protocol": "TCP"}]}]),
    ("a named port must match the protocol too",
     service(ports=[{"name": "dns", "port": 53, "targetPort": "dns", "protocol": "UDP"}]),
     [pod("a", "10.0.0.1", ports=[{"name": "dns", "containerPort": 5353, "protocol": "TCP"}]),
      pod("b", "10.0.0.2", ports=[{"name": "dns", "containerPort": 5353, "protocol": "UDP"}])],
     [{"addresses": [addr("b", "10.0.0.2")], "ports": [{"name": "dns", "port": 5353, "protocol": "UDP"}]}]),
    ("an unset targetPort is the port; several ports share one subset",
     service(ports=[{"name": "b", "port": 443, "protocol": "TCP"}, {"name": "a", "port": 80, "protocol": "TCP",
                                                                    "appProtocol": "http"}]),
     [pod("a", "10.0.0.1")],
     [{"addresses": [addr("a", "10.0.0.1")], "ports": [{"name": "a", "port": 80, "protocol": "TCP", "appProtocol": "http"},
                                                       {"name": "b", "port": 443, "protocol": "TCP"}]}]),
    ("a sidecar's named port counts, a plain init container's does not",
     service(ports=[{"name": "p", "port": 80, "targetPort": "side"}]),
     [pod("a", "10.0.0.1", initContainers=[{"name": "s", "restartPolicy": "Always",
                                             "ports": [{"name": "side", "containerPort": 7000}]}]),
      pod("b", "10.0.0.2", initContainers=[{"name": "i", "ports": [{"name": "side", "containerPort": 7000}]}])],
     [{"addresses": [addr("a", "10.0.0.1")], "ports": [{"name": "p", "port": 7000, "protocol": "TCP"}]}]),
    ("headless without ports: addresses alone",
     service(cluster_ip="None", ports=[]), [pod("a", "10.0.0.1"), pod("b", "10.0.0.2", ready=False)],
     [{"addresses": [addr("a", "10.0.0.1")], "notReadyAddresses": [addr("b", "10.0.0.2")]}]),
    ("a Service with a cluster IP and no ports gets no subsets",
     service(ports=[]), [pod("a", "10.0.0.1")], []),
    ("addresses sort by IP; the hostname is published for the Service's subdomain",
     service(cluster_ip="None"),
     [pod("z", "10.0.0.9", hostname="z", subdomain="web"), pod("y", "10.0.0.10", hostname="y", subdomain="other")],
     [{"addresses": [{**addr("y", "10.0.0.10")}, {"ip": "10.0.0.9", "hostname": "z", "nodeName": "node-1",
                                                   "targetRef": ref("z")}], "ports": [HTTP]}]),
    ("the address of the Service's family is used",
     service(ipFamilies=["IPv6"], cluster_ip="fd00::10"),
     [{**pod("a", "10.0.0.1"), "status": {**pod("a")["status"], "podIPs": [{"ip": "10.0.0.1"}, {"ip": "fd00::1"}]}},
      pod("b", "10.0.0.2")],
     [{"addresses": [addr("a", "fd00::1")], "ports": [HTTP]}]),
]


@pytest.mark.parametrize("svc,pods,want", [c[1:] for c in SUBSET_CASES], ids=[c[0] for c in SUBSET_CASES])
def test_desired_subsets(svc: Obj, pods: list[Obj], want: list[Obj]) -> None:
    actions = ep.reconcile("default", "web", svc, pods, None, None)
    assert len(actions) == 1 and isinstance(actions[0], Create)
    assert body(actions[0]).get("subsets", []) == want


def test_repack_not_ready_wins_and_groups_identical_address_sets() -> None:
    a, b = addr("a", "10.0.0.1"), addr("b", "10.0.0.2")
    p80 = {"name": "x", "port": 80, "protocol": "TCP"}
    p81 = {"name": "y", "port": 81, "protocol": "TCP"}
    got = ep.repack([{"addresses": [a], "ports": [p80]}, {"notReadyAddresses": [a], "ports": [p80]},
                     {"addresses": [a], "ports": [p81]}, {"addresses": [b], "ports": [p81]},
                     {"addresses": [b], "ports": [p80]}, {"addresses": [a, b], "ports": [p81]}])
    assert got == [{"addresses": [b], "notReadyAddresses": [a], "ports": [p80]},
                   {"addresses": [a, b], "ports": [p81]}]


def test_create_carries_labels_headless_label_and_trigger_time() -> None:
    svc = service(cluster_ip="None", labels={"tier": "front"})
    [action] = ep.reconcile("default", "web", svc, [pod("a", "10.0.0.1")], None, T0)
    assert action == Create(ENDPOINTS, "default", {
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": "web", "namespace": "default",
                     "labels": {"tier": "front", "service.kubernetes.io/headless": ""},
                     "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": T0}},
        "subsets": [{"addresses": [addr("a", "10.0.0.1")], "ports": [HTTP]}]})


def stored(svc: Obj, pods: list[Obj], trigger: str | None = T0) -> Obj:
    """What the API server holds after the controller's create (plus the server's own metadata)."""
    [action] = ep.reconcile("default", "web", svc, pods, None, trigger)
    assert isinstance(action, Create)
    obj = copy.deepcopy(body(action))
    obj["metadata"].update(uid="ep-uid", resourceVersion="9", creationTimestamp=T0)
    return obj


def test_no_write_when_nothing_changed_even_if_pod_resource_versions_moved() -> None:
    svc, pods = service(), [pod("a", "10.0.0.1"), pod("b", "10.0.0.2", ready=False)]
    current = stored(svc, pods)
    for address in current["subsets"][0]["addresses"]:
        address["targetRef"]["resourceVersion"] = "123"
    assert ep.reconcile("default", "web", svc, pods, current, None) == []


UPDATE_CASES = [
    ("a pod turning not ready moves to notReadyAddresses",
     lambda pods: [pods[0], pod("b", "10.0.0.2", ready=False)], lambda s: s,
     lambda body: body["subsets"] == [{"addresses": [addr("a", "10.0.0.1")],
                                       "notReadyAddresses": [addr("b", "10.0.0.2")], "ports": [HTTP]}]),
    ("the last pod going away empties the subsets",
     lambda pods: [], lambda s: s, lambda body: "subsets" not in body),
    ("the Service's labels are mirrored",
     lambda pods: pods, lambda s: {**s, "metadata": {**s["metadata"], "labels": {"team": "x"}}},
     lambda body: body["metadata"]["labels"] == {"team": "x"}),
]


@pytest.mark.parametrize("change_pods,change_svc,check", [c[1:] for c in UPDATE_CASES],
                         ids=[c[0] for c in UPDATE_CASES])
def test_updates(change_pods: Any, change_svc: Any, check: Any) -> None:
    svc, pods = service(), [pod("a", "10.0.0.1"), pod("b", "10.0.0.2")]
    current = stored(svc, pods)
    [action] = ep.reconcile("default", "web", change_svc(svc), change_pods(pods), current, "2026-12-01T10:01:00Z")
    assert isinstance(action, Update) and action.name == "web"
    assert body(action)["metadata"]["resourceVersion"] == "9"  # the precondition
    assert body(action)["metadata"]["annotations"] == {
        "endpoints.kubernetes.io/last-change-trigger-time": "2026-12-01T10:01:00Z"}
    assert check(body(action))


def test_headless_label_is_kept_and_not_compared_against_the_service() -> None:
    svc = service(cluster_ip="None", labels={"tier": "front"})
    current = stored(svc, [pod("a", "10.0.0.1")])
    assert ep.reconcile("default", "web", svc, [pod("a", "10.0.0.1")], current, None) == []
    [action] = ep.reconcile("default", "web", svc, [pod("a", "10.0.0.1", ready=False)], current, None)
    assert body(action)["metadata"]["labels"] == {"tier": "front", "service.kubernetes.io/headless": ""}


def test_update_without_trigger_time_clears_the_annotation() -> None:
    svc, pods = service(), [pod("a", "10.0.0.1")]
    current = stored(svc, pods)
    [action] = ep.reconcile("default", "web", svc, [], current, None)
    assert "annotations" not in body(action)["metadata"]


def test_left_alone_without_selector_or_as_external_name() -> None:
    pods = [pod("a", "10.0.0.1")]
    assert ep.reconcile("default", "web", service(selector={}), pods, None, None) == []
    assert ep.reconcile("default", "web", service(type="ExternalName"), pods, None, None) == []
    user_managed = {"metadata": {"name": "web", "namespace": "default", "resourceVersion": "3"},
                    "subsets": [{"addresses": [{"ip": "192.168.1.1"}]}]}
    assert ep.reconcile("default", "web", service(selector={}), pods, user_managed, None) == []


def test_deleted_service_deletes_its_endpoints_but_not_a_leader_record() -> None:
    current = stored(service(), [pod("a", "10.0.0.1")])
    assert ep.reconcile("default", "web", None, [], current, None) == [Delete(ENDPOINTS, "default", "web")]
    assert ep.reconcile("default", "web", None, [], None, None) == []
    leader = {"metadata": {"name": "web", "annotations": {ep.LEADER_ANNOTATION: "{}"}}}
    assert ep.reconcile("default", "web", None, [], leader, None) == []


def many(n: int, prefix: str, ready: bool = True, port: int = 8080) -> list[Obj]:
    return [pod(f"{prefix}{i}", f"10.{port % 256}.{i // 250}.{i % 250 + 1}", ready=ready,
                ports=[{"name": "http", "containerPort": port}]) for i in range(n)]


def count(subsets: list[Obj], field: str) -> list[int]:
    return [len(s.get(field) or []) for s in subsets]


def test_over_capacity_truncates_to_1000_and_annotates() -> None:
    svc = service(ports=[{"name": "http", "port": 80, "targetPort": "http"}])
    pods = many(600, "a", port=8080) + many(600, "b", port=9090)
    [action] = ep.reconcile("default", "web", svc, pods, None, None)
    assert body(action)["metadata"]["annotations"] == {"endpoints.kubernetes.io/over-capacity": "truncated"}
    assert count(body(action)["subsets"], "addresses") == [500, 500]


def test_over_capacity_keeps_ready_first_and_cuts_not_ready() -> None:
    svc = service()
    pods = many(900, "r") + many(300, "n", ready=False)
    [action] = ep.reconcile("default", "web", svc, pods, None, None)
    assert count(body(action)["subsets"], "addresses") == [900]
    assert count(body(action)["subsets"], "notReadyAddresses") == [100]


def test_back_under_capacity_drops_the_annotation() -> None:
    svc = service()
    current = stored(svc, many(1001, "r"), trigger=None)
    assert current["metadata"]["annotations"] == {"endpoints.kubernetes.io/over-capacity": "truncated"}
    [action] = ep.reconcile("default", "web", svc, many(1000, "r"), current, None)
    assert "annotations" not in body(action)["metadata"]
    assert count(body(action)["subsets"], "addresses") == [1000]


def test_stale_over_capacity_annotation_alone_is_rewritten() -> None:
    svc, pods = service(), [pod("a", "10.0.0.1")]
    current = stored(svc, pods, trigger=None)
    current["metadata"]["annotations"] = {"endpoints.kubernetes.io/over-capacity": "truncated"}
    [action] = ep.reconcile("default", "web", svc, pods, current, None)
    assert "annotations" not in body(action)["metadata"]


def at(minute: int) -> str:
    return f"2026-12-01T10:{minute:02d}:00Z"


TRIGGER_CASES = [
    ("a Service seen for the first time: its creation time", None, [pod("a", ready_at=at(3))], at(0)),
    ("nothing moved since the last sync: no annotation",
     triggertime.TriggerState(datetime(2026, 12, 1, 10, 0, tzinfo=UTC),
                              {"a": datetime(2026, 12, 1, 10, 3, tzinfo=UTC)}),
     [pod("a", ready_at=at(3))], None),
    ("the earliest pod change since the last sync",
     triggertime.TriggerState(datetime(2026, 12, 1, 10, 0, tzinfo=UTC),
                              {"a": datetime(2026, 12, 1, 10, 3, tzinfo=UTC),
                               "b": datetime(2026, 12, 1, 10, 1, tzinfo=UTC)}),
     [pod("a", ready_at=at(3)), pod("b", ready_at=at(7)), pod("c", ready_at=at(5))], at(5)),
]


@pytest.mark.parametrize("state,pods,want", [c[1:] for c in TRIGGER_CASES], ids=[c[0] for c in TRIGGER_CASES])
def test_trigger_time(state: triggertime.TriggerState | None, pods: list[Obj], want: str | None) -> None:
    got, new_state = triggertime.compute(service(created=at(0)), pods, state)
    assert got == want
    assert set(new_state.pod_times) == {p["metadata"]["name"] for p in pods}
    again, _ = triggertime.compute(service(created=at(0)), pods, new_state)
    assert again is None  # the next sync with nothing new exports nothing


def test_rfc3339nano_trims_fraction() -> None:
    assert triggertime.format_rfc3339nano(datetime(2026, 1, 2, 3, 4, 5, 120000, tzinfo=UTC)) == \
        "2026-01-02T03:04:05.12Z"
    assert triggertime.format_rfc3339nano(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05Z"
