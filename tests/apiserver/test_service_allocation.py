"""ClusterIP / NodePort allocation (apiserver/registry/allocation.py) and the kubernetes Service's objects
(apiserver/registry/kubernetes_service.py), as pure functions with a seeded RNG."""

from __future__ import annotations

import json
import random

import pytest

from apiserver.errors import APIError
from apiserver.registry import allocation as al
from apiserver.registry import kubernetes_service as ks
from apiserver.registry.strategies import strategy_for

pytestmark = pytest.mark.unit
IPS, PORTS = al.IPRange.parse("10.0.0.0/24"), al.PortRange.parse("30000-32767")


def svc(name: str = "s", type_: str = "ClusterIP", **spec: object) -> dict:
    obj = {"metadata": {"name": name}, "spec": {"type": type_, "selector": {"app": name},
                                                "ports": [{"name": "http", "port": 80}], **spec}}
    strategy_for("services").default(obj)
    return obj


def ranges(ip_bits: int = 0, port_bits: int = 0) -> al.Ranges:
    return al.Ranges(IPS, PORTS, ip_bits, port_bits)


def test_ranges_skip_network_and_broadcast_and_keep_a_static_band():
    assert (IPS.first, IPS.size, IPS.band, IPS.ip(253)) == ("10.0.0.1", 254, 16, "10.0.0.254")
    assert IPS.offset("10.0.0.0") is None and IPS.offset("10.0.0.255") is None and IPS.offset("10.0.1.1") is None
    assert (PORTS.base, PORTS.size, PORTS.band) == (30000, 2768, 86)
    assert al.PortRange.parse("20000+100").spec == "20000-20100"
    for bad in ("10.0.0.1/24", "fd00::/64", "nonsense", "10.0.0.0/31"):
        with pytest.raises(ValueError):
            al.IPRange.parse(bad)
    with pytest.raises(ValueError):
        al.PortRange.parse("32767-30000")


def test_bitmap_is_stored_as_go_big_int_bytes():
    bits = (1 << 0) | (1 << 9)
    raw = al.range_object("10.0.0.0/24", bits)
    obj = json.loads(raw)
    assert (obj["kind"], obj["range"], obj["data"]) == ("RangeAllocation", "10.0.0.0/24", "AgE=")  # 0x0201
    assert al.read_range(raw, "10.0.0.0/24") == bits
    assert al.read_range(raw, "10.1.0.0/24") == 0  # another range (flag changed): rebuilt by the repair
    assert al.encode_bits(0) == "" and al.decode_bits("") == 0


def test_dynamic_picks_prefer_the_upper_range_then_fall_back_to_the_band():
    rng = random.Random(1)
    picks = {al.pick(0, IPS.size, IPS.band, rng) for _ in range(200)}
    assert all(p is not None and p >= IPS.band for p in picks)
    upper_full = sum(1 << i for i in range(IPS.band, IPS.size))
    assert al.pick(upper_full, IPS.size, IPS.band, rng) < IPS.band
    assert al.pick((1 << IPS.size) - 1, IPS.size, IPS.band, rng) is None


def test_create_allocates_a_cluster_ip_and_sets_single_stack_fields():
    s = svc()
    plan = al.plan_create(s, ranges(), random.Random(7))
    ip = s["spec"]["clusterIP"]
    off = IPS.offset(ip)
    assert off is not None and plan.ip_bits == 1 << off and plan.changed_ips and not plan.changed_ports
    assert (s["spec"]["clusterIPs"], s["spec"]["ipFamilies"], s["spec"]["ipFamilyPolicy"]) == (
        [ip], ["IPv4"], "SingleStack")


def test_explicit_cluster_ip_taken_or_out_of_range_is_kube_apiservers_error():
    taken = ranges(ip_bits=1 << IPS.offset("10.0.0.5"))
    with pytest.raises(APIError) as e:
        al.plan_create(svc(clusterIP="10.0.0.5"), taken, random.Random(1))
    assert (e.value.code, e.value.message) == (422, 'Service "s" is invalid: spec.clusterIPs: Invalid value: '
                                               '[]string{"10.0.0.5"}: failed to allocate IP 10.0.0.5: provided IP is '
                                               'already allocated')
    with pytest.raises(APIError) as e:
        al.plan_create(svc(clusterIP="192.168.0.1"), ranges(), random.Random(1))
    assert e.value.message.endswith("failed to allocate IP 192.168.0.1: provided IP is not in the valid range. "
                                    "The range of valid IPs is 10.0.0.0/24")
    ok = svc(clusterIP="10.0.0.6")
    assert al.plan_create(ok, taken, random.Random(1)).ip_bits == taken.ip_bits | 1 << IPS.offset("10.0.0.6")


def test_headless_and_external_name_get_no_address():
    headless = svc(clusterIP="None")
    assert not al.plan_create(headless, ranges(), random.Random(1)).changed_ips
    assert (headless["spec"]["clusterIPs"], headless["spec"]["ipFamilies"],
            headless["spec"]["ipFamilyPolicy"]) == (["None"], ["IPv4"], "SingleStack")
    selectorless = {"metadata": {"name": "h"}, "spec": {"type": "ClusterIP", "clusterIP": "None"}}
    al.plan_create(selectorless, ranges(), random.Random(1))
    assert (selectorless["spec"]["ipFamilyPolicy"], selectorless["spec"]["ipFamilies"]) == (
        "RequireDualStack", ["IPv4", "IPv6"])
    ext = svc(type_="ExternalName", externalName="db.example.com")
    plan = al.plan_create(ext, ranges(), random.Random(1))
    assert not plan.changed_ips and "clusterIP" not in ext["spec"] and "ipFamilies" not in ext["spec"]


def test_node_ports_allocated_checked_and_shared_by_one_port_number():
    s = svc(type_="NodePort", ports=[{"name": "a", "port": 53, "protocol": "UDP"},
                                     {"name": "b", "port": 53, "protocol": "TCP"}])
    plan = al.plan_create(s, ranges(), random.Random(3))
    a, b = (p["nodePort"] for p in s["spec"]["ports"])
    assert a == b and 30000 + PORTS.band <= a <= 32767 and plan.port_bits == 1 << (a - 30000)
    with pytest.raises(APIError) as e:
        al.plan_create(svc("t", "NodePort", ports=[{"port": 80, "nodePort": a}]), ranges(port_bits=plan.port_bits),
                       random.Random(1))
    assert e.value.message == ('Service "t" is invalid: spec.ports[0].nodePort: Invalid value: '
                               f'{a}: provided port is already allocated')
    with pytest.raises(APIError) as e:
        al.plan_create(svc("u", "NodePort", ports=[{"port": 80, "nodePort": 8080}]), ranges(), random.Random(1))
    assert e.value.message.endswith("spec.ports[0].nodePort: Invalid value: 8080: provided port is not in the valid "
                                    "range. The range of valid ports is 30000-32767")
    lb = svc("lb", "LoadBalancer", allocateLoadBalancerNodePorts=False)
    assert not al.plan_create(lb, ranges(), random.Random(1)).changed_ports
    assert "nodePort" not in lb["spec"]["ports"][0]


def test_type_changes_and_delete_release_what_was_held():
    rng = random.Random(5)
    old = svc(type_="NodePort", ports=[{"name": "http", "port": 80, "nodePort": 30100}])
    plan = al.plan_create(old, ranges(), rng)
    held = ranges(plan.ip_bits, plan.port_bits)
    to_cluster_ip = json.loads(json.dumps(old))
    to_cluster_ip["spec"]["type"] = "ClusterIP"
    strategy_for("services").prepare_for_update(to_cluster_ip, old)
    down = al.plan_update(to_cluster_ip, old, held, rng)
    assert down.port_bits == 0 and down.ip_bits == plan.ip_bits and "nodePort" not in to_cluster_ip["spec"]["ports"][0]
    moved = json.loads(json.dumps(old))
    moved["spec"]["ports"][0]["nodePort"] = 30200
    up = al.plan_update(moved, old, held, rng)
    assert up.port_bits == 1 << 200
    ext = json.loads(json.dumps(old))
    ext["spec"].update(type="ExternalName", externalName="x.example")
    strategy_for("services").prepare_for_update(ext, old)
    gone = al.plan_update(ext, old, held, rng)
    assert (gone.ip_bits, gone.port_bits) == (0, 0)
    assert not {"clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy", "externalTrafficPolicy"} & set(ext["spec"])
    released = al.plan_release(old, held)
    assert (released.ip_bits, released.port_bits) == (0, 0)


def test_update_without_node_ports_keeps_the_allocated_ones_by_port_name():
    old = svc(type_="NodePort", ports=[{"name": "http", "port": 80, "nodePort": 30100}])
    new = svc(type_="NodePort", ports=[{"name": "http", "port": 8080}])
    strategy_for("services").prepare_for_update(new, old)
    assert new["spec"]["ports"][0]["nodePort"] == 30100


def test_repair_rebuilds_the_bitmaps_from_the_stored_services():
    stored = [svc(clusterIP="10.0.0.9", clusterIPs=["10.0.0.9"]),
              svc("n", "NodePort", clusterIP="10.0.0.10", ports=[{"port": 1, "nodePort": 30001}]),
              svc("far", clusterIP="10.9.0.1")]  # outside the range (the flag changed): not representable
    plan = al.rebuilt(stored, ranges(ip_bits=1 << 100))  # offset 100: held by no Service, reclaimed
    assert (plan.ip_bits, plan.port_bits) == ((1 << 8) | (1 << 9), 1 << 1)
    assert plan.changed_ips and plan.changed_ports
    assert not al.rebuilt(stored, ranges(plan.ip_bits, plan.port_bits)).changed_ips


def test_kubernetes_service_and_its_endpoints():
    s = ks.service("10.0.0.1", 6443)
    assert s["spec"]["ports"] == [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]
    assert s["metadata"]["labels"] == {"component": "apiserver", "provider": "kubernetes"}
    ep = ks.endpoints(None, "127.0.0.1", 6443)
    assert ep["subsets"] == [{"addresses": [{"ip": "127.0.0.1"}],
                              "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]}]
    assert ks.endpoints(ep, "127.0.0.1", 6443) is None
    two = ks.endpoints(ep, "10.1.1.1", 6443)
    assert [a["ip"] for a in two["subsets"][0]["addresses"]] == ["10.1.1.1", "127.0.0.1"]
    sl = ks.endpoint_slice(None, "127.0.0.1", 6443)
    assert (sl["addressType"], sl["endpoints"], sl["metadata"]["labels"]) == (
        "IPv4", [{"addresses": ["127.0.0.1"], "conditions": {"ready": True}}],
        {"kubernetes.io/service-name": "kubernetes"})
    assert ks.endpoint_slice(sl, "127.0.0.1", 6443) is None
    assert ks.advertise_address("", "0.0.0.0") == "127.0.0.1"
    assert ks.advertise_address("", "127.0.0.2") == "127.0.0.2"
    assert ks.advertise_address("192.0.2.1", "0.0.0.0") == "192.0.2.1"


def test_dual_stack_requests_are_refused_on_this_single_stack_cluster():
    with pytest.raises(APIError) as e:
        al.plan_create(svc(ipFamilyPolicy="RequireDualStack"), ranges(), random.Random(1))
    assert e.value.message == ('Service "s" is invalid: spec.ipFamilyPolicy: Invalid value: "RequireDualStack": '
                               'this cluster is not configured for dual-stack services')
    with pytest.raises(APIError) as e:
        al.plan_create(svc(ipFamilies=["IPv6"]), ranges(), random.Random(1))
    assert e.value.message.endswith('spec.ipFamilies[0]: Invalid value: "IPv6": not configured on this cluster')
    with pytest.raises(APIError) as e:
        al.plan_create(svc(clusterIPs=["10.0.0.5", "fd00::5"]), ranges(), random.Random(1))
    assert e.value.message.endswith('spec.ipFamilyPolicy: Invalid value: "SingleStack": must be \'RequireDualStack\' '
                                    "or 'PreferDualStack' when multiple cluster IPs are specified")
    with pytest.raises(APIError) as e:
        al.plan_create(svc(ipFamilyPolicy="Both"), ranges(), random.Random(1))
    assert e.value.message.endswith('spec.ipFamilyPolicy: Unsupported value: "Both": supported values: '
                                    '"PreferDualStack", "RequireDualStack", "SingleStack"')
    prefer = svc(ipFamilyPolicy="PreferDualStack")
    al.plan_create(prefer, ranges(), random.Random(1))
    assert (prefer["spec"]["ipFamilies"], prefer["spec"]["ipFamilyPolicy"]) == (["IPv4"], "PreferDualStack")


def test_local_load_balancers_get_a_health_check_node_port_released_with_them():
    rng = random.Random(2)
    lb = svc("lb", "LoadBalancer", externalTrafficPolicy="Local")
    plan = al.plan_create(lb, ranges(), rng)
    hc, np = lb["spec"]["healthCheckNodePort"], lb["spec"]["ports"][0]["nodePort"]
    assert hc != np and plan.port_bits == (1 << (hc - 30000)) | (1 << (np - 30000))
    held = ranges(plan.ip_bits, plan.port_bits)
    cluster = json.loads(json.dumps(lb))
    cluster["spec"]["externalTrafficPolicy"] = "Cluster"
    assert al.plan_update(cluster, lb, held, rng).port_bits == 1 << (np - 30000)
    assert "healthCheckNodePort" not in cluster["spec"]
    assert al.plan_release(lb, held).port_bits == 0
    with pytest.raises(APIError) as e:
        al.plan_create(svc("lb2", "LoadBalancer", externalTrafficPolicy="Local", healthCheckNodePort=hc), held, rng)
    assert (e.value.code, e.value.message) == (500, "Internal error occurred: failed to allocate requested "
                                               f"HealthCheck NodePort {hc}: provided port is already allocated")


def test_pick_scans_forward_and_wraps_even_in_a_nearly_full_large_range():
    big = al.IPRange.parse("10.96.0.0/12")  # kubeadm's default: a million addresses, a 256-address band
    assert (big.size, big.band, big.first) == (1048574, 256, "10.96.0.1")
    full = (1 << big.size) - 1
    for hole in (3, 5000, big.size - 1):
        assert al.pick(full & ~(1 << hole), big.size, big.band, random.Random(hole)) == hole
    assert al.pick(full, big.size, big.band, random.Random(1)) is None
