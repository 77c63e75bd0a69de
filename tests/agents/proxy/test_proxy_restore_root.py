"""Every rule shape the core writes is accepted by the kernel: a rich rule set restored with iptables-restore
--noflush into a network namespace made for the test (root only), read back with iptables-save, then a partial
sync and the cleanup. The namespace is deleted afterwards, whatever happens."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Iterator

import pytest

from agents.proxy import model, rules
from agents.proxy.iptables import IPTables
from tests.agents.proxy.netlab import skip_reason
from tests.agents.proxy.test_proxy_rules import P80, ep, eps, svc

pytestmark = pytest.mark.skipif(bool(skip_reason()), reason=skip_reason() or "-")


@pytest.fixture
def netns() -> Iterator[str]:
    name = f"rkprs{os.getpid() % 100000}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def test_rich_rule_set_restores_and_cleans_up(netns: str) -> None:
    np80 = {**P80, "nodePort": 30080}
    services = [
        svc("plain", "172.30.0.41", P80),
        svc("sticky", "172.30.0.42", P80, sessionAffinity="ClientIP"),
        svc("np", "172.30.0.43", np80, type="NodePort", externalIPs=["192.0.2.9"]),
        svc("etp", "172.30.0.44", {**np80, "nodePort": 30081}, type="NodePort", externalTrafficPolicy="Local"),
        svc("itp", "172.30.0.45", P80, internalTrafficPolicy="Local"),
        svc("empty", "172.30.0.46", {**np80, "nodePort": 30082}, type="NodePort"),
        svc("udp", "172.30.0.47", {"name": "dns", "port": 53, "protocol": "UDP"}),
    ]
    slices = [eps(n, P80, ep("10.180.0.1"), ep("10.180.1.2", node="node2")) for n in ("plain", "sticky", "np", "etp")]
    slices += [eps("itp", P80, ep("10.180.1.3", node="node2")),
               eps("udp", {"name": "dns", "port": 5353, "protocol": "UDP"}, ep("10.180.0.4"))]
    cfg = rules.Config("node1", cluster_cidr="10.180.0.0/16")
    ports = model.build(services, slices)
    ipt = IPTables(netns)

    async def main() -> None:
        await ipt.ensure_base(True)
        rs = rules.compute(ports, cfg)
        await ipt.restore(rs.text)
        assert await ipt.service_chains() == set(rs.nat_chains)
        _, nat = await ipt.run("iptables-save", "-t", "nat")
        _, filt = await ipt.run("iptables-save", "-t", "filter")
        assert "--probability 0.50000000000" in nat and "--rcheck --seconds 10800 --reap" in nat
        assert "-j DNAT --to-destination 10.180.0.4:5353" in nat
        assert '"ns1/empty:p80 has no endpoints"' in filt and '"ns1/itp:p80 has no local endpoints"' in filt
        # partial: one endpoint goes; its SEP chain is deleted, the others stay
        slices2 = [s for s in slices if s["metadata"]["name"] != "plain-abc"] + [eps("plain", P80, ep("10.180.0.1"))]
        ports2 = model.build(services, slices2)
        rs2 = rules.compute(ports2, cfg, stale=rs.nat_chains, unchanged=frozenset(ports) & frozenset(ports2))
        await ipt.restore(rs2.text)
        assert await ipt.service_chains() == set(rs2.nat_chains) and len(rs2.nat_chains) < len(rs.nat_chains)
        await ipt.cleanup()
        _, after = await ipt.run("iptables-save")
        assert "KUBE-" not in after, after
    asyncio.run(main())
