"""Benchmark raftkv against a real etcd 3.4 on this machine, same load, same client, same run.

Starts a 3-member etcd (Debian's `etcd`), runs the reference load generator
(`../shared/bench/kvbench.py`) for each workload, stops it, then does the same with a
3-member raftkv; both with client and peer mutual TLS on loopback. Prints one table with
the ratios raftkv/etcd and writes every figure as JSON (--out).

With --floor it also runs the put and range loads against `bench_floor_server.py`, a do-nothing
server (a dict, same TLS, same event loop), twice: on raftkv's own HTTP/2 gRPC server (`floor`, the
ceiling for raftkv's client port) and on grpc.aio (`grpc.aio`, why raftkv does not use it), each
printed as its ratio to etcd.

usage: .venv/bin/python scripts/bench_vs_etcd.py [--quick] [--floor] [--out bench.json] [--only etcd|raftkv]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from raftkv.pki import create_local_pki  # noqa: E402
from raftkv.server.launcher import free_port, wait_ready  # noqa: E402

SHARED_BENCH = ROOT.parent / "shared" / "bench"

# (label, kvbench args, which figure matters, higher_is_better)
WORKLOADS = [
    ("put c256", ["--op", "put", "--conc", "256", "--conns", "8"], "ops_per_s", True),
    ("put c64 p99", ["--op", "put", "--conc", "64", "--conns", "4"], "p99", False),
    ("range c64 (linearizable)", ["--op", "range", "--conc", "64", "--conns", "4"], "ops_per_s", True),
    ("range c64 (serializable)", ["--op", "srange", "--conc", "64", "--conns", "4"], "ops_per_s", True),
    ("watch 100 watchers", ["--op", "watch", "--watchers", "100", "--conc", "16", "--conns", "4"],
     "events_per_s", True),
]
FLOORS = {"floor": "grpcwire", "grpc.aio": "grpc"}  # kind -> bench_floor_server.py's transport
TARGETS = {"put c256": 0.6, "range c64 (linearizable)": 0.6, "range c64 (serializable)": 0.8,
           "watch 100 watchers": 1.0, "put c64 p99": 2.0}


def start_cluster(kind: str, base: pathlib.Path, pki: pathlib.Path) -> tuple[list[subprocess.Popen[bytes]], list[str]]:
    if kind in FLOORS:
        port = free_port()
        proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "bench_floor_server.py"), str(port), str(pki),
                                 FLOORS[kind]],
                                stdout=open(base / f"{kind}.log", "wb"), stderr=subprocess.STDOUT, cwd=ROOT)
        wait_ready([f"127.0.0.1:{port}"], str(pki), 60)
        return [proc], [f"127.0.0.1:{port}"]
    names = ["m1", "m2", "m3"]
    ports = {n: (free_port(), free_port()) for n in names}
    cluster = ",".join(f"{n}=https://127.0.0.1:{ports[n][1]}" for n in names)
    procs = []
    for n in names:
        c, p = ports[n]
        flags = ["--name", n, "--data-dir", str(base / kind / n),
                 "--listen-client-urls", f"https://127.0.0.1:{c}", "--advertise-client-urls", f"https://127.0.0.1:{c}",
                 "--listen-peer-urls", f"https://127.0.0.1:{p}", "--initial-advertise-peer-urls",
                 f"https://127.0.0.1:{p}", "--initial-cluster", cluster, "--initial-cluster-state", "new",
                 "--initial-cluster-token", f"bench-{kind}", "--client-cert-auth", "--trusted-ca-file",
                 str(pki / "ca.crt"), "--cert-file", str(pki / "server.crt"), "--key-file", str(pki / "server.key"),
                 "--peer-client-cert-auth", "--peer-trusted-ca-file", str(pki / "ca.crt"), "--peer-cert-file",
                 str(pki / "peer.crt"), "--peer-key-file", str(pki / "peer.key"),
                 "--quota-backend-bytes", str(4 * 1024**3)]
        cmd = (["etcd"] if kind == "etcd" else [sys.executable, "-m", "raftkv", "serve"]) + flags
        log = open(base / f"{kind}-{n}.log", "wb")
        procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT))
    eps = [f"127.0.0.1:{ports[n][0]}" for n in names]
    wait_ready(eps, str(pki), 60)
    return procs, eps


def leader_first(eps: list[str], pki: pathlib.Path) -> list[str]:
    import grpc

    from raftkv._pb.etcdserverpb import rpc_pb2 as pb
    from raftkv._pb.etcdserverpb import rpc_pb2_grpc as pb_grpc

    creds = grpc.ssl_channel_credentials(*((pki / f).read_bytes() for f in ("ca.crt", "client.key", "client.crt")))
    for ep in eps:
        with grpc.secure_channel(ep, creds) as ch:
            st = pb_grpc.MaintenanceStub(ch).Status(pb.StatusRequest(), timeout=5)
            if st.leader == st.header.member_id:
                return [ep] + [e for e in eps if e != ep]
    return eps


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used (from /proc): load on the machine does not change it."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def run_kind(kind: str, base: pathlib.Path, pki: pathlib.Path, bench: pathlib.Path, n: int) -> dict[str, dict]:
    procs, eps = start_cluster(kind, base, pki)
    results: dict[str, dict] = {}
    try:
        eps = leader_first(eps, pki)
        warmup = [sys.executable, str(bench / "kvbench.py"), "--endpoints", ",".join(eps), "--pki", str(pki),
                  "--n", "2000", "--op", "put", "--conc", "64"]
        subprocess.run(warmup, capture_output=True, timeout=300)  # untimed: connections, caches, first segments
        for label, args, _, _ in WORKLOADS:
            if kind in FLOORS and "watch" in label:
                continue
            count = n if "watch" not in label else max(1000, n // 10)
            cmd = [sys.executable, str(bench / "kvbench.py"), "--endpoints", ",".join(eps), "--pki", str(pki),
                   "--n", str(count), *args]
            before = sum(cpu_seconds(p.pid) for p in procs)
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
            server_cpu = sum(cpu_seconds(p.pid) for p in procs) - before
            if out.returncode != 0:
                results[label] = {"error": out.stderr.strip().splitlines()[-1] if out.stderr else "failed"}
            else:
                r = results[label] = json.loads(out.stdout.strip().splitlines()[-1])
                ops = r.get("events_delivered") or r["n"]
                r["server_cpu_us_per_op"] = round(1e6 * server_cpu / ops, 1)
                if "client_cpu_share" in r:
                    r["client_cpu_us_per_op"] = round(1e6 * r["client_cpu_share"] * r["secs"] / ops, 1)
            print(f"  {kind:7s} {label:28s} {json.dumps(results[label])}", flush=True)
    finally:
        stop(procs)
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="5,000 ops per workload instead of 20,000")
    ap.add_argument("--only", choices=("etcd", "raftkv"))
    ap.add_argument("--floor", action="store_true", help="also measure do-nothing Python servers (grpcwire, grpc.aio)")
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    if shutil.which("etcd") is None and a.only != "raftkv":
        sys.exit("bench_vs_etcd: Debian's etcd is needed (apt-get install etcd-server)")
    n = 5000 if a.quick else 20000
    with tempfile.TemporaryDirectory(prefix="raftkv-bench-") as tmp:
        base = pathlib.Path(tmp)
        pki = base / "pki"
        create_local_pki(str(pki), ["127.0.0.1", "localhost"])
        bench = base / "kvbench"
        shutil.copytree(SHARED_BENCH, bench)  # kvbench generates its stubs beside itself
        for p in bench.rglob("*"):
            p.chmod(0o755 if p.is_dir() else 0o644)
        figures = {}
        for kind in ("etcd", "raftkv", *FLOORS):
            if (a.only and a.only != kind) or (kind in FLOORS and not a.floor):
                continue
            figures[kind] = run_kind(kind, base, pki, bench, n)
    floor_cols = "".join(f" {k:>10s} {'ratio':>7s}" for k in FLOORS) if a.floor else ""
    print(f"\n{'workload':28s} {'etcd':>10s} {'raftkv':>10s} {'ratio':>7s} {'target':>8s}{floor_cols}")
    for label, _, key, higher in WORKLOADS:
        e = figures.get("etcd", {}).get(label, {}).get(key)
        r = figures.get("raftkv", {}).get(label, {}).get(key)
        ratio = (r / e) if (e and r) else None
        tgt = TARGETS[label]
        tgt_s = f">={tgt}x" if higher else f"<={tgt}x"
        line = (f"{label:28s} {e if e is not None else '-':>10} {r if r is not None else '-':>10} "
                f"{(f'{ratio:.2f}' if ratio else '-'):>7s} {tgt_s:>8s}")
        for kind in FLOORS if a.floor else ():
            f = figures.get(kind, {}).get(label, {}).get(key)
            line += f" {f if f is not None else '-':>10} {(f'{f / e:.2f}' if (f and e) else '-'):>7s}"
        print(line)
    print("\nCPU per operation (us; all members' processes, then the load generator) -- less sensitive than ops/s to")
    print("other load on the machine, though not immune; 'ratio' = etcd's total / raftkv's total, the throughput")
    print("ratio two idle cores would give if every process could use them fully:")
    print(f"{'workload':28s} {'etcd srv':>9s} {'etcd cli':>9s} {'raftkv srv':>11s} {'raftkv cli':>11s} {'ratio':>7s}")
    for label, *_ in WORKLOADS:
        e = figures.get("etcd", {}).get(label, {})
        r = figures.get("raftkv", {}).get(label, {})
        if "server_cpu_us_per_op" not in e or "server_cpu_us_per_op" not in r:
            continue
        et = e["server_cpu_us_per_op"] + e.get("client_cpu_us_per_op", 0.0)
        rt = r["server_cpu_us_per_op"] + r.get("client_cpu_us_per_op", 0.0)
        print(f"{label:28s} {e['server_cpu_us_per_op']:9.1f} {e.get('client_cpu_us_per_op', 0.0):9.1f} "
              f"{r['server_cpu_us_per_op']:11.1f} {r.get('client_cpu_us_per_op', 0.0):11.1f} {et / rt:7.2f}")
    if a.out:
        pathlib.Path(a.out).write_text(json.dumps({"when": time.strftime("%Y-%m-%d %H:%M"), "n": n,
                                                   "figures": figures}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
