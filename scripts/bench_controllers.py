"""Controller manager throughput: how fast Deployments (or plain ReplicaSets, when the Deployment controller is not
built) get all their pods created, what it costs in API calls, CPU and memory.

    .venv/bin/python scripts/bench_controllers.py [--store etcd|raftkv] [--kube-api-qps 20 --kube-api-burst 30]
        [--scenarios big,many,cache] [--cache-pods 10000]

Scenarios: `big` one workload of 1,000 replicas; `many` 50 workloads of 20; `cache` more pods created directly until
the manager's pod informer holds --cache-pods, then its RSS. Time is from the create request until every ReplicaSet
reports status.replicas == spec.replicas (pods created; there is no scheduler or kubelet, so they stay Pending).
API calls and cache sizes come from the manager's /metrics; CPU and RSS from /proc. Prints figures; not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import re
import ssl
import sys
import time
import urllib.request
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from controllers.machinery.client import RESTClient  # noqa: E402
from controllers.machinery.kubeconfig import load_kubeconfig  # noqa: E402
from controllers.machinery.resources import DEPLOYMENTS, PODS, REPLICASETS  # noqa: E402
from tests.conftest import free_port, wait_for  # noqa: E402
from tests.controllers.cluster import ControllerManager, ControlPlane, control_plane  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
DEADLINE_S = 900.0


def has_deployment_controller() -> bool:
    return importlib.util.find_spec("controllers.deployment.controller") is not None


def template(app: str) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": app}},
            "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.9"}]}}


def workload(kind: str, name: str, replicas: int) -> dict[str, Any]:
    api = "apps/v1"
    return {"apiVersion": api, "kind": kind, "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}, "template": template(name)}}


class Probe:
    """The manager process seen from outside: /proc for CPU and RSS, /metrics for API calls and caches."""

    def __init__(self, m: ControllerManager, port: int) -> None:
        self.m = m
        self.port = port
        self.ctx = ssl.create_default_context()
        self.ctx.check_hostname = False
        self.ctx.verify_mode = ssl.CERT_NONE

    def cpu_s(self) -> float:
        with open(f"/proc/{self.m.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def rss_mb(self) -> float:
        with open(f"/proc/{self.m.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def metrics(self) -> dict[str, float]:
        with urllib.request.urlopen(f"https://127.0.0.1:{self.port}/metrics", context=self.ctx, timeout=10) as r:
            text = r.read().decode()
        out: dict[str, float] = {}
        for line in text.splitlines():
            m = re.match(r"(\w+)\{\w+=\"([^\"]+)\"\} (\S+)", line)
            if m:
                out[f"{m.group(1)}:{m.group(2)}"] = float(m.group(3))
        return out

    def api_calls(self) -> float:
        return sum(v for k, v in self.metrics().items() if k.startswith("rest_client_requests_total:"))


async def run_scenario(cp: ControlPlane, probe: Probe, client: RESTClient, label: str, count: int,
                       replicas: int, kind: str) -> dict[str, float]:
    ns = f"bench-{label}"
    cp.create_namespace(ns)
    calls0, cpu0, before = probe.api_calls(), probe.cpu_s(), probe.metrics()
    resource = DEPLOYMENTS if kind == "Deployment" else REPLICASETS
    t0 = time.monotonic()
    await asyncio.gather(*(client.create(resource, ns, workload(kind, f"w{i}", replicas)) for i in range(count)))
    first_pod = 0.0
    while True:
        rss = (await client.list(REPLICASETS, ns))["items"]
        created = sum((r.get("status") or {}).get("replicas", 0) for r in rss)
        if not first_pod and (await client.list(PODS, ns, limit=1))["items"]:
            first_pod = time.monotonic() - t0
        if len(rss) >= count and all((r.get("status") or {}).get("replicas", 0) == r["spec"]["replicas"]
                                     for r in rss) and created == count * replicas:
            break
        if time.monotonic() - t0 > DEADLINE_S:
            raise SystemExit(f"{label}: only {created}/{count * replicas} pods after {DEADLINE_S}s")
        await asyncio.sleep(0.1)
    took = time.monotonic() - t0
    pods = count * replicas
    calls = probe.api_calls() - calls0
    cpu = probe.cpu_s() - cpu0
    after = probe.metrics()
    syncs = {k.split(":")[1]: (after.get(f"workqueue_work_duration_seconds_sum:{k.split(':')[1]}", 0.0) -
                               before.get(f"workqueue_work_duration_seconds_sum:{k.split(':')[1]}", 0.0),
                               v - before.get(k, 0.0))
             for k, v in after.items() if k.startswith("workqueue_work_duration_seconds_count:")}
    print("  syncs: " + ", ".join(f"{n} {int(c)} x {1000 * t / c:.0f} ms" for n, (t, c) in syncs.items() if c))
    return {"workloads": count, "replicas": replicas, "seconds": took, "first_pod_s": first_pod,
            "pods_per_s": pods / took, "api_calls": calls, "calls_per_pod": calls / pods, "cpu_s": cpu,
            "cpu_ms_per_pod": cpu * 1000 / pods, "rss_mb": probe.rss_mb()}


async def fill_cache(cp: ControlPlane, probe: Probe, client: RESTClient, target: int) -> dict[str, float]:
    ns = "bench-cache"
    cp.create_namespace(ns)
    have = int(probe.metrics().get("informer_cached_objects:pods", 0))
    sem = asyncio.Semaphore(32)

    async def one(i: int) -> None:
        async with sem:
            await client.create(PODS, ns, {"metadata": {"name": f"p{i}", "labels": {"fill": "yes"}},
                                           "spec": template("fill")["spec"]})
    t0 = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(max(0, target - have))))
    wait_for(lambda: probe.metrics().get("informer_cached_objects:pods", 0) >= target, 300,
             f"{target} pods in the manager's cache", interval=0.5)
    return {"pods_cached": probe.metrics().get("informer_cached_objects:pods", 0),
            "fill_seconds": time.monotonic() - t0, "rss_mb": probe.rss_mb()}


async def bench(cp: ControlPlane, args: argparse.Namespace) -> None:
    kind = "Deployment" if has_deployment_controller() else "ReplicaSet"
    ctrls = "replicaset,deployment" if kind == "Deployment" else "replicaset"
    port = free_port()
    m = cp.start_controller_manager(f"--controllers={ctrls}", "--leader-elect=false", f"--secure-port={port}",
                                    "--bind-address=127.0.0.1", f"--kube-api-qps={args.kube_api_qps}",
                                    f"--kube-api-burst={args.kube_api_burst}")
    cp.wait_for_log(m, "Caches are synced for replicaset", timeout=60)
    probe = Probe(m, port)
    print(f"store={args.store} workload={kind} controllers={ctrls} kube-api-qps={args.kube_api_qps} "
          f"burst={args.kube_api_burst}; manager idle RSS {probe.rss_mb():.0f} MB")
    client = RESTClient(load_kubeconfig(cp.admin_kubeconfig), qps=0)
    try:
        plans = {"big": (1, 1000), "many": (50, 20)}
        for label in args.scenarios.split(","):
            if label in plans:
                count, replicas = plans[label]
                r = await run_scenario(cp, probe, client, label, count, replicas, kind)
                print(f"{label}: {count} x {replicas} {kind}: all pods created in {r['seconds']:.1f}s "
                      f"(first after {r['first_pod_s']:.2f}s) = {r['pods_per_s']:.0f} pods/s; "
                      f"{r['api_calls']:.0f} API calls = {r['calls_per_pod']:.2f}/pod; manager CPU "
                      f"{r['cpu_s']:.1f}s = {r['cpu_ms_per_pod']:.1f} ms/pod; RSS {r['rss_mb']:.0f} MB", flush=True)
            elif label == "cache":
                r = await fill_cache(cp, probe, client, args.cache_pods)
                print(f"cache: {r['pods_cached']:.0f} pods cached (filled in {r['fill_seconds']:.0f}s): manager "
                      f"RSS {r['rss_mb']:.0f} MB", flush=True)
        if args.show_errors:
            errors = [line for line in m.log().splitlines() if "error syncing" in line or "Traceback" in line]
            print(f"manager log: {len(errors)} sync errors", *errors[:5], sep="\n  ")
    finally:
        await client.close()
        cp.stop_managers()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--store", choices=["etcd", "raftkv"], default="etcd")
    p.add_argument("--kube-api-qps", type=float, default=20.0)
    p.add_argument("--kube-api-burst", type=int, default=30)
    p.add_argument("--scenarios", default="big,many,cache")
    p.add_argument("--cache-pods", type=int, default=10000)
    p.add_argument("--show-errors", action="store_true", help="count and quote the manager's sync errors")
    args = p.parse_args()
    with control_plane(args.store, extra_apiserver_args=["--max-requests-inflight", "0",
                                                         "--max-mutating-requests-inflight", "0"]) as cp:
        asyncio.run(bench(cp, args))


if __name__ == "__main__":
    main()
