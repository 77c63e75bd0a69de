"""Scheduler and pod startup on hollow nodes (issue #15): everything on loopback — 3 raftkv members (mTLS), the API
server, the scheduler (`python -m controllers.scheduler`; a trivial round-robin binder with `--binder builtin`) and
`python -m agents.simnode`. Prints figures; not a test.

    .venv/bin/python scripts/bench_scheduler.py [--scenarios a,b,c] [--soak-minutes 10]

(a) --nodes-a (1,000) nodes, --existing (1,000) pods Running first, then --pods (5,000) created by 32 clients:
    pods/s from the first create to the last binding seen by a watch, and p50/p99 scheduling latency (create sent
    → bound). (b) the same on --nodes-b (5,000) nodes. (c) pod startup latency as the SLO defines it (creation →
    Running seen by a watch) for pods created at --slo-rate (20/s) and at saturation (--sat-pods as fast as the
    API server takes them), on (a)'s cluster. `soak`: --soak-nodes (1,000) nodes and --soak-pods (10,000) pods
    held --soak-minutes: lease renewal lateness, mutating call latency (the hollow kubelets' lease updates and pod
    status writes, and a probe patching a ConfigMap twice a second), memory of every process.
CPU and RSS per process come from /proc; creation times are taken when the create request is sent (an upper
bound on the latency from creationTimestamp).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from controllers.machinery.client import APIError, RESTClient  # noqa: E402
from controllers.machinery.kubeconfig import load_kubeconfig  # noqa: E402
from controllers.machinery.resources import CONFIGMAPS, NODES, PODS  # noqa: E402
from tests.agents.simnode.harness import SimNodeProcess  # noqa: E402
from tests.conftest import register_process, stop_process, wait_for  # noqa: E402
from tests.controllers.cluster import ControlPlane, control_plane  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
NS = "bench"
CREATORS = 32
NODE_FLAGS = ["--cpu", "4", "--memory", "32Gi", "--pods", "110", "--zones", "zone-a,zone-b,zone-c",
              "--pod-start-delay", "0s", "--cluster-cidr", "10.128.0.0/9", "--node-ip-range", "172.16.0.0/12",
              "--kube-api-qps", "2000", "--kube-api-burst", "4000", "--events=false"]
SCHEDULER_QPS = "5000"


# ---------------------------------------------------------------- processes
def children() -> dict[str, int]:
    """Our child processes by role (raftkv members, apiserver, scheduler, simnode, binder), from /proc."""
    out: dict[str, int] = {}
    me = os.getpid()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        if ppid != me:
            continue
        args = [a.decode(errors="replace") for a in cmd]
        if "apiserver" in args:
            role = "apiserver"
        elif "controllers.scheduler" in args:
            role = "scheduler"
        elif "agents.simnode" in args:
            role = "simnode"
        elif "--binder-only" in args:
            role = "binder"
        elif "serve" in args and "--name" in args:
            role = "raftkv-" + args[args.index("--name") + 1]
        else:
            continue
        out[role] = int(pid)
    out["bench"] = me
    return dict(sorted(out.items()))


def cpu_s(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except OSError:
        return 0.0


def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_snapshot() -> dict[str, float]:
    return {role: cpu_s(pid) for role, pid in children().items()}


def print_processes(before: dict[str, float], seconds: float) -> None:
    now = cpu_snapshot()
    parts = []
    for role, pid in children().items():
        used = now.get(role, 0.0) - before.get(role, 0.0)
        parts.append(f"{role} {used:.1f}s CPU ({100 * used / max(seconds, 1e-9):.0f}%) {rss_mb(pid):.0f} MB")
    print("  processes: " + "; ".join(parts), flush=True)


@contextmanager
def scheduler(cp: ControlPlane, kind: str) -> Iterator[str]:
    """The scheduler (or the built-in binder) as a child process, stopped by PID afterwards."""
    log_path = os.path.join(cp.tmp, f"{kind}.log")
    if kind == "scheduler":
        kc = cp.kubeconfig_for("kube-scheduler", "system:kube-scheduler")
        cmd = [sys.executable, "-m", "controllers.scheduler", "--kubeconfig", kc, "--leader-elect=false",
               "--secure-port=0", f"--kube-api-qps={SCHEDULER_QPS}", f"--kube-api-burst={SCHEDULER_QPS}"]
    else:
        cmd = [sys.executable, os.path.abspath(__file__), "--binder-only", cp.admin_kubeconfig]
    with open(log_path, "wb") as out:
        proc = register_process(subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT))
    try:
        yield log_path
    finally:
        stop_process(proc)
        keep_log(log_path)


LOG_DIR = ""


def keep_log(path: str) -> None:
    """Copy a process log to --log-dir (the control plane's directory is removed at the end)."""
    if LOG_DIR and os.path.exists(path):
        os.makedirs(LOG_DIR, exist_ok=True)
        shutil.copy(path, os.path.join(LOG_DIR, os.path.basename(path)))


def simnode(cp: ControlPlane, nodes: int, *extra: str) -> SimNodeProcess:
    p = SimNodeProcess(cp.admin_kubeconfig, os.path.join(cp.tmp, f"simnode-{nodes}.log"), "--nodes", str(nodes),
                       *NODE_FLAGS, *extra)
    t0 = time.monotonic()
    wait_for(lambda: p.control("GET", "/healthz") == "ok", 1800, f"{nodes} simnodes to register", interval=1)
    print(f"  {nodes} nodes registered in {time.monotonic() - t0:.0f}s", flush=True)
    return p


def default_service_account(cp: ControlPlane, ns: str) -> None:
    """What the serviceaccount controller would create (no controller manager runs here); the ServiceAccount
    admission plugin refuses pods without it."""
    r = cp.request("POST", f"/api/v1/namespaces/{ns}/serviceaccounts",
                   {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}})
    assert r.code in (201, 409), r.body


# ---------------------------------------------------------------- the built-in binder (--binder builtin)
async def binder_only(kubeconfig: str) -> None:
    """Round-robin binder standing in for the scheduler: watch unbound pods, bind each to the next node."""
    client = RESTClient(load_kubeconfig(kubeconfig), qps=0)
    names = [n["metadata"]["name"] for n in (await client.list_all(NODES))[0]]
    nxt = 0
    sem = asyncio.Semaphore(32)

    async def bind(pod: dict[str, Any], node: str) -> None:
        async with sem:
            meta = pod["metadata"]
            try:
                await client.create(PODS, meta["namespace"], {
                    "apiVersion": "v1", "kind": "Binding", "metadata": {"name": meta["name"], "uid": meta["uid"]},
                    "target": {"apiVersion": "v1", "kind": "Node", "name": node}}, "binding", meta["name"])
            except APIError:
                pass
    rv = None
    tasks: set[asyncio.Task[None]] = set()
    while True:
        if rv is None:
            items, rv = await client.list_all(PODS, field_selector="spec.nodeName=")
            events = [("ADDED", p) for p in items]
        else:
            events = []
        for _, pod in events:
            nxt += 1
            t = asyncio.create_task(bind(pod, names[nxt % len(names)]))
            tasks.add(t)
            t.add_done_callback(tasks.discard)
        try:
            async for etype, pod in client.watch(PODS, resource_version=rv, field_selector="spec.nodeName=",
                                                 timeout_seconds=300):
                rv = (pod.get("metadata") or {}).get("resourceVersion") or rv
                if etype == "ADDED" and not (pod.get("metadata") or {}).get("deletionTimestamp"):
                    nxt += 1
                    t = asyncio.create_task(bind(pod, names[nxt % len(names)]))
                    tasks.add(t)
                    t.add_done_callback(tasks.discard)
        except APIError:
            rv = None


# ---------------------------------------------------------------- measuring
class Tracker:
    """One watch on the namespace's pods: when each pod was first seen bound and first seen Running."""

    def __init__(self, client: RESTClient) -> None:
        self.client = client
        self.bound: dict[str, float] = {}
        self.running: dict[str, float] = {}
        self.synced = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        rv = None
        while True:
            try:
                if rv is None:
                    items, rv = await self.client.list_all(PODS, NS)
                    for pod in items:
                        self._see(pod)
                    self.synced.set()
                async for etype, pod in self.client.watch(PODS, NS, resource_version=rv, timeout_seconds=300):
                    if etype == "ERROR":
                        raise APIError.from_status(pod)
                    rv = (pod.get("metadata") or {}).get("resourceVersion") or rv
                    if etype in ("ADDED", "MODIFIED"):
                        self._see(pod)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # 410 or a dropped connection: list again
                print(f"  (tracker: {e!r}; relisting)", flush=True)
                rv = None

    def _see(self, pod: dict[str, Any]) -> None:
        name = pod["metadata"]["name"]
        now = time.monotonic()
        if (pod.get("spec") or {}).get("nodeName"):
            self.bound.setdefault(name, now)
        if (pod.get("status") or {}).get("phase") == "Running":
            self.running.setdefault(name, now)


def pod_body(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"bench": "yes"}},
            "spec": {"containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10", "resources": {
                "requests": {"cpu": "100m", "memory": "500Mi"}}}]}}


async def create_pods(client: RESTClient, names: list[str], rate: float | None = None) -> dict[str, float]:
    """Create the pods with CREATORS concurrent clients (or paced at `rate`/s); name → time the create was sent."""
    sent: dict[str, float] = {}
    queue = list(reversed(names))
    t0 = time.monotonic()

    async def creator() -> None:
        while queue:
            name = queue.pop()
            if rate is not None:
                due = t0 + len(sent) / rate
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            sent[name] = time.monotonic()
            for attempt in range(6):
                try:
                    await client.create(PODS, NS, pod_body(name))
                    break
                except APIError as e:
                    if e.already_exists:
                        break
                    if attempt == 5:
                        raise SystemExit(f"creating pod {name} failed: {e}") from None
                    await asyncio.sleep(0.2 * (attempt + 1))
    await asyncio.gather(*(creator() for _ in range(CREATORS)))
    return sent


async def wait_all(seen: dict[str, float], names: list[str], what: str, timeout: float = 1800) -> None:
    deadline = time.monotonic() + timeout
    while not all(n in seen for n in names):
        if time.monotonic() > deadline:
            missing = sum(n not in seen for n in names)
            raise SystemExit(f"{what}: {missing} of {len(names)} pods still missing after {timeout:.0f}s")
        await asyncio.sleep(0.2)


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * (len(s) - 1) + 0.5))] if s else float("nan")


# ---------------------------------------------------------------- scenarios
async def schedule_scenario(label: str, client: RESTClient, tracker: Tracker, existing: int, pods: int,
                            prefix: str) -> None:
    pre = [f"{prefix}-existing-{i}" for i in range(existing)]
    await create_pods(client, pre)
    await wait_all(tracker.running, pre, f"{label} existing pods Running")
    names = [f"{prefix}-{i}" for i in range(pods)]
    cpu0, t0 = cpu_snapshot(), time.monotonic()
    sent = await create_pods(client, names)
    created_s = time.monotonic() - t0
    await wait_all(tracker.bound, names, f"{label} pods bound")
    took = max(tracker.bound[n] for n in names) - min(sent.values())
    lat = [tracker.bound[n] - sent[n] for n in names]
    sched_cpu = cpu_snapshot().get("scheduler", cpu_snapshot().get("binder", 0.0)) - cpu0.get(
        "scheduler", cpu0.get("binder", 0.0))
    print(f"{label}: {pods} pods on {existing} existing: {pods / took:.0f} pods/s created→bound "
          f"({took:.1f}s; the creates alone took {created_s:.1f}s = {pods / created_s:.0f}/s); scheduling "
          f"latency p50 {pct(lat, 0.5) * 1000:.0f} ms, p99 {pct(lat, 0.99) * 1000:.0f} ms; scheduler CPU "
          f"{1000 * sched_cpu / pods:.2f} ms/pod", flush=True)
    print_processes(cpu0, took)
    await wait_all(tracker.running, names, f"{label} pods Running")
    print(f"  all {pods} Running {max(tracker.running[n] for n in names) - min(sent.values()):.1f}s after the "
          f"first create", flush=True)


async def startup_scenario(label: str, client: RESTClient, tracker: Tracker, pods: int, rate: float | None,
                           prefix: str) -> None:
    names = [f"{prefix}-{i}" for i in range(pods)]
    cpu0, t0 = cpu_snapshot(), time.monotonic()
    sent = await create_pods(client, names, rate)
    await wait_all(tracker.running, names, f"{label} pods Running")
    took = time.monotonic() - t0
    lat = [tracker.running[n] - sent[n] for n in names]
    bound = [tracker.bound[n] - sent[n] for n in names]
    achieved = pods / (max(sent.values()) - min(sent.values()) or 1e-9)
    print(f"{label}: {pods} pods created at {achieved:.0f}/s: startup latency (create sent → Running seen) p50 "
          f"{pct(lat, 0.5) * 1000:.0f} ms, p90 {pct(lat, 0.9) * 1000:.0f} ms, p99 {pct(lat, 0.99) * 1000:.0f} ms, "
          f"max {max(lat) * 1000:.0f} ms (of which create → bound p50 {pct(bound, 0.5) * 1000:.0f} ms, p99 "
          f"{pct(bound, 0.99) * 1000:.0f} ms)", flush=True)
    print_processes(cpu0, took)


async def on_cluster(cp: ControlPlane, args: argparse.Namespace, nodes: int, work: list[str]) -> None:
    cp.create_namespace(NS)
    default_service_account(cp, NS)
    lease = args.lease_duration_b if "b" in work else 40
    print(f"  node leases: {lease} s, renewed every {lease / 4:g} s ({nodes * 4 / lease:.0f} renewals/s)",
          flush=True)
    sim = simnode(cp, nodes, "--node-lease-duration-seconds", str(lease))
    try:
        kind = args.binder
        if kind == "auto":
            kind = "scheduler" if importlib.util.find_spec("controllers.scheduler.__main__") else "builtin"
        with scheduler(cp, kind):
            print(f"  scheduler: {kind}", flush=True)
            client = RESTClient(load_kubeconfig(cp.admin_kubeconfig), qps=0)
            tracker = Tracker(client)
            tracker.start()
            await tracker.synced.wait()
            try:
                for w in work:
                    if w in ("a", "b"):
                        await schedule_scenario(f"({w}) {nodes} nodes", client, tracker, args.existing, args.pods, w)
                    elif w == "c20":
                        await startup_scenario(f"(c) {args.slo_rate:g} pods/s", client, tracker, args.slo_pods,
                                               args.slo_rate, "c20")
                    elif w == "csat":
                        await startup_scenario("(c) saturation", client, tracker, args.sat_pods, None, "csat")
                    elif w == "soak":
                        await soak(client, tracker, sim, args)
            finally:
                if tracker.task is not None:
                    tracker.task.cancel()
                await client.close()
        print("  simnode: " + json.dumps(sim.control("GET", "/status")), flush=True)
    finally:
        sim.stop()
        keep_log(sim.log_path)


async def soak(client: RESTClient, tracker: Tracker, sim: SimNodeProcess, args: argparse.Namespace) -> None:
    names = [f"soak-{i}" for i in range(args.soak_pods)]
    t0 = time.monotonic()
    await create_pods(client, names)
    await wait_all(tracker.running, names, "soak pods Running")
    print(f"soak: {args.soak_pods} pods Running after {time.monotonic() - t0:.0f}s; holding {args.soak_minutes:g} "
          f"min", flush=True)
    await client.create(CONFIGMAPS, NS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "probe"},
                                         "data": {"n": "0"}})
    probe: list[float] = []
    cpu0, start = cpu_snapshot(), time.monotonic()
    before = sim.control("GET", "/status")
    worst = {"lateness": 0.0, "lease": 0.0}  # the worst per-minute p99 (the simnode keeps the last 10,000)
    i = 0
    while time.monotonic() - start < args.soak_minutes * 60:
        i += 1
        s = time.monotonic()
        await client.patch(CONFIGMAPS, NS, "probe", {"data": {"n": str(i)}})
        probe.append(time.monotonic() - s)
        await asyncio.sleep(max(0.0, 0.5 - (time.monotonic() - s)))
        if i % 120 == 0:
            st = sim.control("GET", "/status")
            worst["lateness"] = max(worst["lateness"], st["lease_renew_lateness_p99_s"])
            worst["lease"] = max(worst["lease"], st["write_latency_s"].get("lease", {}).get("p99", 0.0))
            print(f"  {(time.monotonic() - start) / 60:.0f} min: lease lateness p99 "
                  f"{st['lease_renew_lateness_p99_s']:.2f}s max {st['lease_renew_lateness_max_s']:.2f}s, lease "
                  f"update p99 {st['write_latency_s'].get('lease', {}).get('p99', 0):.3f}s, probe patch p99 "
                  f"{pct(probe, 0.99):.3f}s, RSS " + ", ".join(f"{r} {rss_mb(p):.0f} MB"
                                                              for r, p in children().items()), flush=True)
    after = sim.control("GET", "/status")
    renewals = after["counters"].get("lease_renew", 0) - before["counters"].get("lease_renew", 0)
    expected = args.soak_nodes * args.soak_minutes * 60 / 10
    lease = after["write_latency_s"].get("lease", {})
    print(f"soak: {args.soak_nodes} nodes, {args.soak_pods} pods, {args.soak_minutes:g} min: {renewals} lease "
          f"renewals ({100 * renewals / expected:.1f}% of {expected:.0f} due), lateness p99 "
          f"{after['lease_renew_lateness_p99_s']:.2f}s max {after['lease_renew_lateness_max_s']:.2f}s, "
          f"lease errors {after['counters'].get('lease_errors', 0)}; mutating calls: lease updates p50 "
          f"{lease.get('p50', 0) * 1000:.0f} ms p99 {lease.get('p99', 0) * 1000:.0f} ms, probe patches p50 "
          f"{pct(probe, 0.5) * 1000:.0f} ms p99 {pct(probe, 0.99) * 1000:.0f} ms; worst minute: lateness p99 "
          f"{worst['lateness']:.2f}s, lease update p99 {worst['lease'] * 1000:.0f} ms", flush=True)
    print_processes(cpu0, time.monotonic() - start)


async def bench(args: argparse.Namespace) -> None:
    wanted = args.scenarios.split(",")
    print(f"bench_scheduler {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores; "
          f"store 3 raftkv members (mTLS)", flush=True)
    plans = []
    first = [w for w in ("a", "c") if w in wanted]
    if first:
        plans.append((args.nodes_a, ["a"] * ("a" in first) + ["c20", "csat"] * ("c" in first)))
    if "b" in wanted:
        plans.append((args.nodes_b, ["b"]))
    if "soak" in wanted:
        plans.append((args.soak_nodes, ["soak"]))
    for nodes, work in plans:
        print(f"cluster: {nodes} nodes for {', '.join(work)}", flush=True)
        with control_plane("raftkv") as cp:
            await on_cluster(cp, args, nodes, work)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenarios", default="a,b,c", help="a, b, c and/or soak")
    p.add_argument("--nodes-a", type=int, default=1000)
    p.add_argument("--nodes-b", type=int, default=5000)
    p.add_argument("--existing", type=int, default=1000)
    p.add_argument("--pods", type=int, default=5000)
    p.add_argument("--slo-rate", type=float, default=20.0)
    p.add_argument("--slo-pods", type=int, default=600)
    p.add_argument("--sat-pods", type=int, default=2000)
    p.add_argument("--soak-nodes", type=int, default=1000)
    p.add_argument("--soak-pods", type=int, default=10000)
    p.add_argument("--soak-minutes", type=float, default=10.0)
    p.add_argument("--lease-duration-b", type=int, default=200,
                   help="node lease duration for (b): 200 s keeps 5,000 nodes at 1,000 nodes' 100 renewals/s; "
                        "40 is the kubelet's")
    p.add_argument("--binder", choices=("auto", "scheduler", "builtin"), default="auto")
    p.add_argument("--binder-only", metavar="KUBECONFIG", help=argparse.SUPPRESS)
    p.add_argument("--log-dir", default="", help="keep the scheduler's and simnode's logs here")
    args = p.parse_args()
    global LOG_DIR
    LOG_DIR = args.log_dir
    if args.binder_only:
        asyncio.run(binder_only(args.binder_only))
        return
    asyncio.run(bench(args))


if __name__ == "__main__":
    main()
