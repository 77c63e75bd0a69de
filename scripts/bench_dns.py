"""Benchmark raftkv-dns's serving path: queries/s, latency p50/p99 and memory, on loopback.

    .venv/bin/python scripts/bench_dns.py [--services 1000] [--endpoints 10] [--seconds 10] [--load dnsperf|python]

A server process holds an index of N ClusterIP services plus N/10 headless ones (10 ready endpoints each) built by
the same code the real server uses (agents.dns.records.build from Service/EndpointSlice JSON), and serves it with
agents.dns.server on a free 127.0.0.1 port; the load is Debian's dnsperf when installed (`--load dnsperf`), else
an asyncio UDP client with 64 queries in flight. Query mix: service A, headless A, SRV, NXDOMAIN (the ndots:5 search
path's misses). Anchor: CoreDNS's published scaling notes (coredns/deployment Scaling_CoreDNS.md: ~30K QPS for one
replica in their tests; memory (pods + services)/1000 + 54 MB with the default 30 MB cache).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def objects(n: int, eps: int) -> tuple[list[dict], list[dict]]:
    services, slices = [], []
    for i in range(n):
        services.append({"metadata": {"namespace": f"ns{i % 20}", "name": f"svc{i}"},
                         "spec": {"clusterIP": f"10.{96 + i // 65536}.{i // 256 % 256}.{i % 256}",
                                  "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}})
    for i in range(n // 10):
        services.append({"metadata": {"namespace": f"ns{i % 20}", "name": f"hl{i}"},
                         "spec": {"clusterIP": "None", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}})
        slices.append({"metadata": {"namespace": f"ns{i % 20}", "name": f"hl{i}-x",
                                    "labels": {"kubernetes.io/service-name": f"hl{i}"}},
                       "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                       "endpoints": [{"addresses": [f"10.244.{i % 250}.{j + 1}"], "conditions": {"ready": True},
                                      "hostname": f"hl{i}-{j}"} for j in range(eps)]})
    return services, slices


def names(n: int) -> list[tuple[str, str]]:
    out = []
    for i in range(0, n, 7):
        out.append((f"svc{i}.ns{i % 20}.svc.cluster.local.", "A"))
        out.append((f"hl{i // 10}.ns{(i // 10) % 20}.svc.cluster.local.", "A"))
        out.append((f"_http._tcp.svc{i}.ns{i % 20}.svc.cluster.local.", "SRV"))
        out.append((f"svc{i}.ns{i % 20}.svc.cluster.local.ns{i % 20}.svc.cluster.local.", "A"))
    return out


def serve(args: argparse.Namespace) -> None:
    from agents.dns import records, resolver, server
    services, slices = objects(args.services, args.endpoints)
    t0 = time.perf_counter()
    idx = records.build(services, slices)
    build_s = time.perf_counter() - t0
    del services, slices

    async def main() -> None:
        h = server.Handler(lambda: idx, resolver.Settings(), lambda: 1, [], cache=not args.no_cache)
        listeners = await server.listen(h, "127.0.0.1", 0)
        print(json.dumps({"port": listeners.port, "index_build_s": build_s}), flush=True)
        await asyncio.Event().wait()
    try:
        import uvloop
        uvloop.run(main())
    except ImportError:
        asyncio.run(main())


async def python_load(port: int, queries: list[bytes], seconds: float, inflight: int) -> tuple[int, list[float]]:
    loop = asyncio.get_running_loop()
    lat: list[float] = []
    sent: dict[int, float] = {}
    done = asyncio.Event()

    class C(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: object) -> None:
            qid = int.from_bytes(data[:2], "big")
            t = sent.pop(qid, None)
            if t is not None:
                lat.append(time.perf_counter() - t)
                fire()

    transport, _ = await loop.create_datagram_endpoint(C, remote_addr=("127.0.0.1", port))
    nxt = [0]
    end = time.perf_counter() + seconds

    def fire() -> None:
        if time.perf_counter() >= end:
            if not sent:
                done.set()
            return
        nxt[0] += 1
        qid = nxt[0] % 65536
        q = queries[nxt[0] % len(queries)]
        sent[qid] = time.perf_counter()
        transport.sendto(qid.to_bytes(2, "big") + q[2:])

    for _ in range(inflight):
        fire()
    while not done.is_set() and time.perf_counter() < end + 2:
        await asyncio.sleep(0.1)
        now = time.perf_counter()
        for qid, t in list(sent.items()):  # lost datagrams: refill
            if now - t > 1.0:
                sent.pop(qid, None)
                fire()
    transport.close()
    return len(lat), lat


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--services", type=int, default=1000)
    p.add_argument("--endpoints", type=int, default=10)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--load", choices=("auto", "dnsperf", "python"), default="auto")
    p.add_argument("--no-cache", action="store_true", help="every answer computed (the answer cache off)")
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve:
        serve(args)
        return
    proc = subprocess.Popen([sys.executable, __file__, "--serve", "--services", str(args.services),
                             "--endpoints", str(args.endpoints)] + (["--no-cache"] if args.no_cache else []), stdout=subprocess.PIPE, text=True)
    try:
        info = json.loads(proc.stdout.readline())  # type: ignore[union-attr]
        port = info["port"]
        import dns.message
        qs = names(args.services)
        load = args.load if args.load != "auto" else ("dnsperf" if shutil.which("dnsperf") else "python")
        rss_idle = rss_mb(proc.pid)
        if load == "dnsperf":
            with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
                f.write("".join(f"{n} {t}\n" for n, t in qs))
            out = subprocess.run(["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", f.name, "-l",
                                  str(int(args.seconds)), "-Q", "100000", "-q", "64", "-S", "0"],
                                 capture_output=True, text=True).stdout
            os.unlink(f.name)
            keep = [line.strip() for line in out.splitlines()
                    if any(k in line for k in ("Queries per second", "Average Latency", "Latency StdDev",
                                               "Queries lost", "Response codes"))]
            result = {"load": "dnsperf -q 64", "dnsperf": keep}
        else:
            wires = [dns.message.make_query(n, t).to_wire() for n, t in qs]
            count, lat = asyncio.run(python_load(port, wires, args.seconds, 64))
            lat.sort()
            result = {"load": "python asyncio, 64 in flight", "qps": round(count / args.seconds),
                      "p50_ms": round(statistics.median(lat) * 1000, 2),
                      "p99_ms": round(lat[int(len(lat) * 0.99)] * 1000, 2)}
        result.update({"answer_cache": not args.no_cache, "services": args.services, "headless": args.services // 10,
                       "index_build_s": round(info["index_build_s"], 3), "rss_idle_mb": round(rss_idle, 1),
                       "rss_after_load_mb": round(rss_mb(proc.pid), 1), "cores": os.cpu_count()})
        print(json.dumps(result, indent=1))
    finally:
        proc.terminate()
        proc.wait(5)


if __name__ == "__main__":
    main()
