"""Pure parts of the hollow node: addresses (pod CIDRs, node IPs, pod IPs), the Node and Lease a kubelet writes,
renewals spread over the period, and the cores' purity."""

from __future__ import annotations

import ast
import pathlib

import pytest

from agents.simnode import ipam, nodes
from agents.simnode.clockfmt import micro, parse, rfc3339

pytestmark = pytest.mark.unit
ROOT = pathlib.Path(__file__).resolve().parents[3]
CORES = ["lifecycle", "ipam", "nodes", "clockfmt"]
FORBIDDEN = {"asyncio", "time", "random", "os", "socket", "aiohttp", "ssl", "threading", "subprocess", "signal"}


@pytest.mark.parametrize("core", CORES)
def test_cores_import_no_io_clock_or_randomness(core: str) -> None:
    tree = ast.parse((ROOT / "agents" / "simnode" / f"{core}.py").read_text())
    roots = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    roots |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not roots & FORBIDDEN
    assert not {f"agents.simnode.{m}" for m in ("agent", "client", "__main__")} & {
        n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}


def test_pod_cidrs_are_deterministic_and_bounded() -> None:
    assert ipam.pod_cidr("10.244.0.0/16", 24, 0) == "10.244.0.0/24"
    assert ipam.pod_cidr("10.244.0.0/16", 24, 255) == "10.244.255.0/24"
    assert ipam.pod_cidr("10.128.0.0/9", 24, 4999) == "10.147.135.0/24"
    with pytest.raises(ipam.AddressError, match="holds 256 /24 node CIDRs"):
        ipam.pod_cidr("10.244.0.0/16", 24, 256)
    assert ipam.node_ip("172.18.0.0/16", 0) == "172.18.0.1"
    assert ipam.node_ip("172.18.0.0/16", 999) == "172.18.3.232"


def test_pod_ips_lowest_free_from_dot_2_released_and_reserved() -> None:
    ips = ipam.PodIPs("10.244.7.0/24")
    assert [ips.allocate(u) for u in ("a", "b", "c")] == ["10.244.7.2", "10.244.7.3", "10.244.7.4"]
    assert ips.allocate("b") == "10.244.7.3"  # the same pod asks again: the same address
    ips.release("b")
    assert ips.allocate("d") == "10.244.7.3"
    assert not ips.reserve("e", "10.244.7.2")  # a's
    assert not ips.reserve("e", "10.244.8.9")  # not this node's
    assert ips.reserve("e", "10.244.7.200") and ips.allocate("e") == "10.244.7.200"
    small = ipam.PodIPs("10.0.0.0/30")  # .1 gateway, .2 the only pod address
    small.allocate("x")
    with pytest.raises(ipam.AddressError):
        small.allocate("y")


def test_node_object_as_kubelet_registers_it() -> None:
    profile = nodes.NodeProfile(cpu="8", memory="32Gi", zone="z1", instance_type="m5.large",
                                labels={"pool": "a"}, taints=({"key": "k", "value": "v", "effect": "NoSchedule"},))
    node = nodes.node_object("n-1", "172.18.0.2", "10.244.1.0/24", profile, 1_765_000_000.0)
    labels = node["metadata"]["labels"]
    assert labels == {"beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
                      "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": "n-1", "kubernetes.io/os": "linux",
                      "node.kubernetes.io/instance-type": "m5.large", "beta.kubernetes.io/instance-type": "m5.large",
                      "topology.kubernetes.io/zone": "z1", "failure-domain.beta.kubernetes.io/zone": "z1",
                      "pool": "a"}
    assert node["spec"] == {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"],
                            "taints": [{"key": "k", "value": "v", "effect": "NoSchedule"}]}
    st = node["status"]
    assert st["capacity"]["memory"] == "33554432Ki" and st["allocatable"]["memory"] == "33452032Ki"
    assert st["capacity"]["cpu"] == st["allocatable"]["cpu"] == "8"
    assert int(st["allocatable"]["ephemeral-storage"]) == int(100 * 2**30 * 0.9)
    assert [(c["type"], c["status"], c["reason"]) for c in st["conditions"]] == [
        ("MemoryPressure", "False", "KubeletHasSufficientMemory"), ("DiskPressure", "False", "KubeletHasNoDiskPressure"),
        ("PIDPressure", "False", "KubeletHasSufficientPID"), ("Ready", "True", "KubeletReady")]
    assert st["conditions"][3]["message"] == "kubelet is posting ready status"
    assert st["nodeInfo"]["kubeletVersion"] == "v1.32.0" and st["nodeInfo"]["operatingSystem"] == "linux"
    assert st["nodeInfo"]["systemUUID"] == nodes.node_object("n-1", "x", "y", profile, 0)["status"]["nodeInfo"][
        "systemUUID"]  # stable across restarts


def test_conditions_keep_transition_time_until_status_changes() -> None:
    first = nodes.node_conditions(1000.0)
    later = nodes.node_conditions(2000.0, first)
    assert all(c["lastTransitionTime"] == rfc3339(1000) and c["lastHeartbeatTime"] == rfc3339(2000) for c in later)
    unknown = [{**c, "status": "Unknown"} if c["type"] == "Ready" else c for c in later]
    back = {c["type"]: c for c in nodes.node_conditions(3000.0, unknown)}
    assert back["Ready"]["lastTransitionTime"] == rfc3339(3000)
    assert back["DiskPressure"]["lastTransitionTime"] == rfc3339(1000)


def test_lease_and_its_renewal() -> None:
    lease = nodes.lease_object("n-1", "uid-9", 40, 1000.5)
    assert lease["metadata"]["namespace"] == "kube-node-lease"
    assert lease["metadata"]["ownerReferences"] == [{"apiVersion": "v1", "kind": "Node", "name": "n-1",
                                                     "uid": "uid-9"}]
    assert lease["spec"] == {"holderIdentity": "n-1", "leaseDurationSeconds": 40, "renewTime": micro(1000.5)}
    stored = {**lease, "metadata": {**lease["metadata"], "resourceVersion": "17"}}
    again = nodes.renewed(stored, 1010.25)
    assert again["metadata"]["resourceVersion"] == "17" and parse(again["spec"]["renewTime"]) == 1010.25


def test_renewals_are_spread_evenly_over_the_period() -> None:
    offsets = [nodes.renew_offset(i, 1000, 10.0) for i in range(1000)]
    assert offsets[0] == 0 and offsets[500] == 5.0 and max(offsets) < 10.0
    assert len({round(o, 6) for o in offsets}) == 1000
