"""Endpoints and EndpointSlice controllers end to end: `python -m controllers` against the real API server, Services
made with real kubectl over pods the fake nodes run."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.controllers.cluster import ControllerManager, ControlPlane
from tests.controllers.fakenodes import FakeNodes

pytestmark = pytest.mark.e2e
DEADLINE_S = 90.0

POD = """
apiVersion: v1
kind: Pod
metadata: {name: %(name)s, labels: {app: web}}
spec:
  containers:
  - name: c
    image: nginx
    ports: [{name: http, containerPort: %(port)d}]
"""


@pytest.fixture(scope="module")
def manager(control_plane: ControlPlane) -> Iterator[ControllerManager]:
    # the garbage collector too: EndpointSlices go with their Service through their ownerReference
    m = control_plane.start_controller_manager("--controllers=endpoint,endpointslice,garbagecollector",
                                               "--use-service-account-credentials=true", "--leader-elect=false")
    yield m
    m.stop()


@pytest.fixture
def ns(control_plane: ControlPlane, request: pytest.FixtureRequest) -> str:
    name = request.node.name.replace("_", "-")[:50].strip("-")
    control_plane.create_namespace(name)
    return name


@pytest.fixture
def nodes(control_plane: ControlPlane, ns: str) -> Iterator[FakeNodes]:
    with FakeNodes(control_plane.admin_kubeconfig, namespaces={ns}) as fake:
        yield fake


def get_json(cp: ControlPlane, *args: str) -> Any:
    p = cp.kubectl(*args, "-o", "json", check=False)
    return json.loads(p.stdout) if p.returncode == 0 else None


def wait_json(cp: ControlPlane, what: str, args: tuple[str, ...], pred: Callable[[Any], bool],
              m: ControllerManager) -> Any:
    seen: list[Any] = []

    def check() -> Any:
        obj = get_json(cp, *args)
        seen[:] = [obj]
        return obj if obj is not None and pred(obj) else None
    try:
        return cp.wait(check, DEADLINE_S, what)
    except AssertionError as e:
        raise AssertionError(f"{e}\nlast seen: {json.dumps(seen[-1] if seen else None)[:3000]}\n"
                             f"--- manager log:\n{m.log()[-3000:]}") from None


def pod_ips(cp: ControlPlane, ns: str) -> dict[str, str]:
    items = get_json(cp, "-n", ns, "get", "pods")["items"]
    return {p["metadata"]["name"]: p["status"].get("podIP", "") for p in items}


def start_pods(cp: ControlPlane, ns: str, ports: dict[str, int]) -> dict[str, str]:
    for name, port in ports.items():
        cp.kubectl("-n", ns, "apply", "-f", "-", stdin=POD % {"name": name, "port": port})
    return cp.wait(lambda: (lambda ips: ips if len(ips) == len(ports) and all(ips.values()) else None)(
        pod_ips(cp, ns)), DEADLINE_S, "the pods to get IPs")


def addresses(subsets: list[dict[str, Any]], field: str) -> set[str]:
    return {a["ip"] for s in subsets for a in s.get(field) or []}


def test_expose_lists_ready_pods_and_moves_an_unready_one(control_plane: ControlPlane, manager: ControllerManager,
                                                          nodes: FakeNodes, ns: str) -> None:
    cp = control_plane
    ips = start_pods(cp, ns, {"a": 8080, "b": 8080})
    cp.kubectl("-n", ns, "expose", "pod", "a", "--name=web", "--port=80", "--target-port=http",
               "--selector=app=web")
    ep = wait_json(cp, "Endpoints web with both pods", ("-n", ns, "get", "endpoints", "web"),
                   lambda e: addresses(e.get("subsets") or [], "addresses") == set(ips.values()), manager)
    [subset] = ep["subsets"]
    assert subset["ports"] == [{"port": 8080, "protocol": "TCP"}]
    by_ip = {a["ip"]: a for a in subset["addresses"]}
    for name, ip in ips.items():
        assert by_ip[ip]["targetRef"]["kind"] == "Pod" and by_ip[ip]["targetRef"]["name"] == name
        assert by_ip[ip]["nodeName"].startswith("node-")
    assert "endpoints.kubernetes.io/last-change-trigger-time" in ep["metadata"]["annotations"]
    table = cp.kubectl("-n", ns, "get", "endpoints", "web").stdout
    assert f"{ips['a']}:8080" in table and f"{ips['b']}:8080" in table, table

    nodes.set_policy(lambda pod: "unready" if pod["metadata"]["name"] == "b" else "run")
    ep = wait_json(cp, "pod b in notReadyAddresses", ("-n", ns, "get", "endpoints", "web"),
                   lambda e: addresses(e.get("subsets") or [], "notReadyAddresses") == {ips["b"]}, manager)
    assert addresses(ep["subsets"], "addresses") == {ips["a"]}

    slices = wait_json(cp, "an EndpointSlice with b not ready",
                       ("-n", ns, "get", "endpointslices", "-l", "kubernetes.io/service-name=web"),
                       lambda s: len(s["items"]) == 1 and {
                           e["targetRef"]["name"]: e["conditions"]["ready"] for e in s["items"][0]["endpoints"] or []}
                       == {"a": True, "b": False}, manager)
    [es] = slices["items"]
    assert es["metadata"]["name"].startswith("web-") and len(es["metadata"]["name"]) == len("web-") + 5
    assert es["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == "endpointslice-controller.k8s.io"
    assert es["addressType"] == "IPv4"
    assert es["ports"] == [{"name": "", "port": 8080, "protocol": "TCP"}]
    svc_uid = get_json(cp, "-n", ns, "get", "service", "web")["metadata"]["uid"]
    [owner] = es["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == ("Service", "web", svc_uid, True)
    assert {e["nodeName"] for e in es["endpoints"]} <= {"node-1", "node-2"}

    cp.kubectl("-n", ns, "delete", "service", "web")
    cp.wait(lambda: get_json(cp, "-n", ns, "get", "endpoints", "web") is None, DEADLINE_S,
            "the Endpoints to go with the Service")
    cp.wait(lambda: get_json(cp, "-n", ns, "get", "endpointslices", "-l", "kubernetes.io/service-name=web")["items"]
            == [], DEADLINE_S, "the garbage collector to delete the slice the Service owned")


def test_named_ports_per_pod_headless_label_and_selectorless_services(control_plane: ControlPlane,
                                                                      manager: ControllerManager,
                                                                      nodes: FakeNodes, ns: str) -> None:
    cp = control_plane
    ips = start_pods(cp, ns, {"a": 8080, "b": 9090})
    # a Service without a selector: its Endpoints are the user's, no controller writes them
    cp.kubectl("-n", ns, "apply", "-f", "-", stdin="""
apiVersion: v1
kind: Service
metadata: {name: external}
spec:
  ports: [{port: 5432}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: external}
subsets: [{addresses: [{ip: 192.168.10.1}], ports: [{port: 5432}]}]
""")
    cp.kubectl("-n", ns, "apply", "-f", "-", stdin="""
apiVersion: v1
kind: Service
metadata: {name: db, labels: {tier: data}}
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{name: web, port: 80, targetPort: http}]
""")
    ep = wait_json(cp, "two subsets, one port each", ("-n", ns, "get", "endpoints", "db"),
                   lambda e: len(e.get("subsets") or []) == 2, manager)
    ports = {s["addresses"][0]["ip"]: s["ports"] for s in ep["subsets"]}
    assert ports == {ips["a"]: [{"name": "web", "port": 8080, "protocol": "TCP"}],
                     ips["b"]: [{"name": "web", "port": 9090, "protocol": "TCP"}]}
    assert ep["metadata"]["labels"] == {"tier": "data", "service.kubernetes.io/headless": ""}
    slices = wait_json(cp, "one slice per port set", ("-n", ns, "get", "endpointslices",
                                                       "-l", "kubernetes.io/service-name=db"),
                       lambda s: len(s["items"]) == 2, manager)
    assert all(s["metadata"]["labels"]["service.kubernetes.io/headless"] == "" and
               s["metadata"]["labels"]["tier"] == "data" for s in slices["items"])
    user = get_json(cp, "-n", ns, "get", "endpoints", "external")
    assert addresses(user["subsets"], "addresses") == {"192.168.10.1"}
    assert "endpoints.kubernetes.io/last-change-trigger-time" not in (user["metadata"].get("annotations") or {})
    assert get_json(cp, "-n", ns, "get", "endpointslices", "-l", "kubernetes.io/service-name=external")["items"] == []


def test_a_terminating_pod_leaves_endpoints_and_is_terminating_in_its_slice(control_plane: ControlPlane,
                                                                             manager: ControllerManager,
                                                                             nodes: FakeNodes, ns: str) -> None:
    cp = control_plane
    ips = start_pods(cp, ns, {"a": 8080, "b": 8080})
    cp.kubectl("-n", ns, "create", "service", "clusterip", "web", "--tcp=80:8080")
    wait_json(cp, "both pods listed", ("-n", ns, "get", "endpoints", "web"),
              lambda e: addresses(e.get("subsets") or [], "addresses") == set(ips.values()), manager)
    # b's kubelet stops, so nothing finishes the deletion: the pod stays Terminating for its grace period
    b_node = get_json(cp, "-n", ns, "get", "pod", "b")["spec"]["nodeName"]
    assert get_json(cp, "-n", ns, "get", "pod", "a")["spec"]["nodeName"] != b_node
    nodes.kill(b_node)
    cp.kubectl("-n", ns, "delete", "pod", "b", "--wait=false")
    ep = wait_json(cp, "pod b gone from the Endpoints", ("-n", ns, "get", "endpoints", "web"),
                   lambda e: addresses(e.get("subsets") or [], "addresses") == {ips["a"]}, manager)
    assert addresses(ep["subsets"], "notReadyAddresses") == set()
    wait_json(cp, "pod b terminating in its slice",
              ("-n", ns, "get", "endpointslices", "-l", "kubernetes.io/service-name=web"),
              lambda s: len(s["items"]) == 1 and {e["targetRef"]["name"]: e["conditions"] for e in
                                                  s["items"][0]["endpoints"] or []}
              == {"a": {"ready": True, "serving": True, "terminating": False},
                  "b": {"ready": False, "serving": True, "terminating": True}}, manager)
    cp.kubectl("-n", ns, "delete", "pod", "b", "--grace-period=0", "--force")


def test_zones_from_nodes_and_prefer_close_hints(control_plane: ControlPlane, manager: ControllerManager,
                                                 nodes: FakeNodes, ns: str) -> None:
    cp = control_plane
    for node_name, zone in (("node-1", "zone-a"), ("node-2", "zone-b")):
        cp.kubectl("label", "node", node_name, f"topology.kubernetes.io/zone={zone}", "--overwrite")
    start_pods(cp, ns, {"a": 8080, "b": 8080})
    zone_of = {p["metadata"]["name"]: {"node-1": "zone-a", "node-2": "zone-b"}[p["spec"]["nodeName"]]
               for p in get_json(cp, "-n", ns, "get", "pods")["items"]}
    cp.kubectl("-n", ns, "apply", "-f", "-", stdin="""
apiVersion: v1
kind: Service
metadata: {name: near}
spec:
  selector: {app: web}
  trafficDistribution: PreferClose
  ports: [{name: http, port: 80, targetPort: http}]
""")
    slices = wait_json(cp, "zones and hints on the slice", ("-n", ns, "get", "endpointslices",
                                                            "-l", "kubernetes.io/service-name=near"),
                       lambda s: len(s["items"]) == 1 and len(s["items"][0].get("endpoints") or []) == 2, manager)
    got = {e["targetRef"]["name"]: (e.get("zone"), e.get("hints")) for e in slices["items"][0]["endpoints"]}
    assert got == {name: (zone, {"forZones": [{"name": zone}]}) for name, zone in zone_of.items()}
