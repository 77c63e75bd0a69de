"""Kubelet benchmark (issue #16): pods/s to Running on one node with raftkv-cri, pod startup p50/p99 (create
sent -> Running seen by a 0.1 s poll), kubelet CPU and RSS with 0 pods and with N pods idle.

    sudo .venv/bin/python -m tests.agents.kubelet.bench_kubelet [--pods 100]
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import tempfile
import time

from tests.agents.kubelet.harness import KubeletProcess, Pods, container, pod_manifest, start_cri, stop_cri
from tests.controllers.cluster import control_plane
from tests.cri.conftest import missing_tools

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def idle_cpu(pid: int, seconds: float) -> float:
    start = cpu_seconds(pid)
    time.sleep(seconds)
    return 100 * (cpu_seconds(pid) - start) / seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pods", type=int, default=100)
    ap.add_argument("--idle-seconds", type=float, default=10.0)
    args = ap.parse_args()
    reason = missing_tools()
    if reason:
        raise SystemExit(f"bench_kubelet: {reason}")
    tmp = tempfile.mkdtemp(prefix="kubelet-bench-")
    with control_plane("etcd", background=("serviceaccount", "root-ca-cert-publisher")) as cp:
        cri = start_cri(os.path.join(tmp, "cri"))
        kubelet = KubeletProcess(cp, cri, tmp, "kb-" + secrets.token_hex(3), max_pods=args.pods + 10)
        try:
            kubelet.start()
            assert kubelet.proc is not None
            pid = kubelet.proc.pid
            ns = "kb-" + secrets.token_hex(3)
            cp.create_namespace(ns)
            cp.wait(lambda: cp.get(f"/api/v1/namespaces/{ns}/serviceaccounts/default"), 30, "the default SA")
            cp.wait(lambda: cp.get(f"/api/v1/namespaces/{ns}/configmaps/kube-root-ca.crt"), 30, "root CA")
            cpu0, rss0 = idle_cpu(pid, args.idle_seconds), rss_mb(pid)
            pods = Pods(cp, ns)
            sent: dict[str, float] = {}
            running: dict[str, float] = {}
            t0 = time.monotonic()
            for i in range(args.pods):
                name = f"p{i}"
                sent[name] = time.monotonic()
                pods.create(pod_manifest(name, kubelet.node, container("c", cri.image, "sleep", "3600")))
            deadline = time.monotonic() + 600
            while len(running) < args.pods and time.monotonic() < deadline:
                items = cp.api("GET", f"/api/v1/namespaces/{ns}/pods")["items"]
                now = time.monotonic()
                for p in items:
                    if (p.get("status") or {}).get("phase") == "Running":
                        running.setdefault(p["metadata"]["name"], now)
                time.sleep(0.1)
            total = max(running.values()) - t0 if running else float("nan")
            lat = sorted(running[n] - sent[n] for n in running)
            cpu_n, rss_n = idle_cpu(pid, args.idle_seconds), rss_mb(pid)
            print(f"pods Running: {len(running)}/{args.pods} in {total:.1f} s = {len(running) / total:.1f} pods/s")
            if lat:
                p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
                print(f"startup p50 {statistics.median(lat):.2f} s, p99 {p99:.2f} s")
            print(f"kubelet idle CPU: {cpu0:.1f}% of a core at 0 pods, {cpu_n:.1f}% at {len(running)} pods")
            print(f"kubelet RSS: {rss0:.0f} MB at 0 pods, {rss_n:.0f} MB at {len(running)} pods")
        finally:
            kubelet.stop()
            stop_cri(cri)
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
