"""Benchmark raftkv-proxy's rule sync for S services x E endpoints (default 1,000 x 10).

    .venv/bin/python scripts/bench_proxy.py [--services 1000] [--endpoints 10] [--rounds 5]

Measures, with the code the proxy runs: building the service ports from Service/EndpointSlice JSON, computing the
full restore text, a partial sync's text after one endpoint changed, and — as root with iptables — applying both
with `iptables-restore --noflush` inside a network namespace this script creates and deletes (never the host's
tables). Memory: the process's peak RSS. Anchor: kube-proxy's sync_proxy_rules_duration_seconds histogram for the
iptables mode (not measurable here: no kube-proxy binary on this machine).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from agents.proxy import model, rules  # noqa: E402
from agents.proxy.iptables import IPTables  # noqa: E402


def objects(n: int, eps: int, bump: int = -1) -> tuple[list[dict], list[dict]]:
    services, slices = [], []
    for i in range(n):
        ns, name = f"ns{i % 20}", f"svc{i}"
        spec: dict = {"clusterIP": f"10.{96 + i // 65536}.{i // 256 % 256}.{i % 256}",
                      "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]}
        if i % 10 == 0:
            spec.update(type="NodePort")
            spec["ports"][0]["nodePort"] = 30000 + i
        services.append({"metadata": {"namespace": ns, "name": name}, "spec": spec})
        slices.append({"metadata": {"namespace": ns, "name": f"{name}-x", "labels": {"kubernetes.io/service-name": name}},
                       "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                       "endpoints": [{"addresses": [f"10.{128 + i // 250}.{i % 250}.{j + 1 + (100 if i == bump and j == 0 else 0)}"],
                                      "conditions": {"ready": True}, "nodeName": f"node{j % 3}"} for j in range(eps)]})
    return services, slices


def ms(xs: list[float]) -> dict[str, float]:
    return {"median_ms": round(statistics.median(xs) * 1000, 1), "max_ms": round(max(xs) * 1000, 1)}


async def apply_in_netns(texts: tuple[str, str], rounds: int) -> dict[str, object]:
    ns = f"rkpbench{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        ipt = IPTables(ns)
        await ipt.ensure_base(True)
        full, partial = [], []
        for _ in range(rounds):
            t = time.perf_counter()
            await ipt.restore(texts[0])
            full.append(time.perf_counter() - t)
            t = time.perf_counter()
            await ipt.restore(texts[1])
            partial.append(time.perf_counter() - t)
        _, saved = await ipt.run("iptables-save", "-t", "nat")
        return {"restore_full": ms(full), "restore_partial": ms(partial),
                "nat_rules_in_kernel": sum(1 for line in saved.splitlines() if line.startswith("-A "))}
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--services", type=int, default=1000)
    p.add_argument("--endpoints", type=int, default=10)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    cfg = rules.Config("node0", cluster_cidr="10.128.0.0/9")
    svcs, slices = objects(args.services, args.endpoints)
    svcs2, slices2 = objects(args.services, args.endpoints, bump=7)
    build_t, full_t, part_t = [], [], []
    for _ in range(args.rounds):
        t = time.perf_counter()
        ports = model.build(svcs, slices)
        build_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        full = rules.compute(ports, cfg)
        full_t.append(time.perf_counter() - t)
        ports2 = model.build(svcs2, slices2)
        memo: rules.Memo = {}
        rules.compute(ports, cfg, memo=memo)  # the proxy's memo after the previous sync
        t = time.perf_counter()
        part = rules.compute(ports2, cfg, stale=full.nat_chains, unchanged=frozenset(ports) & frozenset(ports2),
                             memo=memo)
        part_t.append(time.perf_counter() - t)
    out: dict[str, object] = {
        "services": args.services, "endpoints_per_service": args.endpoints,
        "build_ports": ms(build_t), "compute_full": ms(full_t), "compute_partial_one_endpoint_changed": ms(part_t),
        "full_text_kb": len(full.text) // 1024, "partial_text_kb": len(part.text) // 1024,
        "filter_rules": full.filter_rules, "nat_rules": full.nat_rules, "cores": os.cpu_count()}
    if os.geteuid() == 0 and shutil.which("iptables-restore") and shutil.which("ip"):
        out["iptables"] = asyncio.run(apply_in_netns((full.text, part.text), args.rounds))
    else:
        out["iptables"] = "skipped: needs root and iptables"
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
