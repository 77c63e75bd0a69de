"""Benchmarks of issue #6 against Kubernetes' SLOs (p99 <= 1 s for single-object mutating calls, list of 10k
objects p99 <= 5 s). A benchmark, not a test (pytest does not collect it): it prints figures and its command.

    .venv/bin/python -m tests.apiserver.bench_apiserver [--store etcd|raftkv] [--clients 16] [--creates 2000]
        [--pods 10000] [--lists 5] [--watchers 1000] [--updates 1000]

1. creates: `--creates` pod creates from `--clients` concurrent HTTPS clients: creates/s, p50/p99 latency.
2. list: pods topped up to `--pods` in one namespace, then `--lists` full lists (JSON, no limit) and one paged list
   (limit=500, as kubectl does): seconds per list, p50/p99.
3. watch: `--watchers` watches of the namespace's pods from one resourceVersion, then `--updates` label patches of
   one pod from `--clients` clients: events delivered per second over all watchers, and the lag from sending the
   patch to each watcher's event (p50/p99/max; it includes the patch's own latency, and the client process parsing
   every watcher's stream on the same two cores).
Stores: Debian etcd 3.4 (one member) or a 3-member raftkv cluster over mTLS (`tests/apiserver/fixtures.store`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import ssl
import sys
import tempfile
import time
from typing import Any

import aiohttp

from tests.apiserver.fixtures import apiserver, store

NAMESPACE = "bench"


def pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


def pod(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "bench"}},
            "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]}}


async def create_pods(session: aiohttp.ClientSession, url: str, names: list[str], clients: int) -> list[float]:
    todo = list(names)
    latencies: list[float] = []

    async def worker() -> None:
        while todo:
            name = todo.pop()
            t0 = time.perf_counter()
            async with session.post(f"{url}/api/v1/namespaces/{NAMESPACE}/pods", json=pod(name)) as r:
                await r.read()
                if r.status != 201:
                    raise RuntimeError(f"create {name}: {r.status}")
            latencies.append(time.perf_counter() - t0)
    await asyncio.gather(*(worker() for _ in range(clients)))
    return latencies


async def run(url: str, ctx: ssl.SSLContext, args: argparse.Namespace) -> None:
    conn = aiohttp.TCPConnector(ssl=ctx, limit=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
    async with aiohttp.ClientSession(connector=conn, timeout=timeout) as session:
        async with session.post(f"{url}/api/v1/namespaces", json={"metadata": {"name": NAMESPACE}}) as r:
            assert r.status == 201, await r.text()

        t0 = time.perf_counter()
        lat = await create_pods(session, url, [f"c-{i}" for i in range(args.creates)], args.clients)
        wall = time.perf_counter() - t0
        print(f"creates: {args.creates} pods, {args.clients} clients: {args.creates / wall:.0f} creates/s, "
              f"p50 {pct(lat, 0.5) * 1000:.1f} ms, p99 {pct(lat, 0.99) * 1000:.1f} ms (SLO p99 <= 1000 ms)")

        missing = max(0, args.pods - args.creates)
        if missing:
            await create_pods(session, url, [f"l-{i}" for i in range(missing)], args.clients)
        times = []
        for _ in range(args.lists):
            t0 = time.perf_counter()
            async with session.get(f"{url}/api/v1/namespaces/{NAMESPACE}/pods") as r:
                body = await r.read()
            times.append(time.perf_counter() - t0)
            count = len(json.loads(body)["items"])
        t0, token, paged = time.perf_counter(), "", 0
        while True:
            q = f"?limit=500&continue={token}" if token else "?limit=500"
            async with session.get(f"{url}/api/v1/namespaces/{NAMESPACE}/pods{q}") as r:
                page = json.loads(await r.read())
            paged += len(page["items"])
            token = page["metadata"].get("continue", "")
            if not token:
                break
        paged_s = time.perf_counter() - t0
        print(f"list: {count} pods, {args.lists} full lists: p50 {pct(times, 0.5):.2f} s, p99 {pct(times, 0.99):.2f} s"
              f" (SLO p99 <= 5 s); paged by 500: {paged} pods in {paged_s:.2f} s")

        async with session.get(f"{url}/api/v1/namespaces/{NAMESPACE}/pods?limit=1") as r:
            rv = json.loads(await r.read())["metadata"]["resourceVersion"]
        sent: dict[str, float] = {}
        arrivals: list[tuple[str, float]] = []
        received = 0
        ready = 0
        all_ready = asyncio.Event()

        async def watcher() -> None:
            nonlocal received, ready
            q = f"?watch=true&resourceVersion={rv}&fieldSelector=metadata.name%3Dc-0&timeoutSeconds=600"
            async with session.get(f"{url}/api/v1/namespaces/{NAMESPACE}/pods{q}") as r:
                ready += 1
                if ready == args.watchers:
                    all_ready.set()
                got = 0
                async for line in r.content:
                    ev = json.loads(line)
                    arrivals.append((ev["object"]["metadata"]["resourceVersion"], time.perf_counter()))
                    received += 1
                    got += 1
                    if got == args.updates:
                        return

        watchers = [asyncio.create_task(watcher()) for _ in range(args.watchers)]
        await asyncio.wait_for(all_ready.wait(), 120)
        await asyncio.sleep(0.5)  # the server has registered every watch once it has answered its headers
        todo = list(range(args.updates))
        t_start = time.perf_counter()

        async def patcher() -> None:
            while todo:
                i = todo.pop()
                t_sent = time.perf_counter()
                async with session.patch(f"{url}/api/v1/namespaces/{NAMESPACE}/pods/c-0",
                                         data=json.dumps({"metadata": {"labels": {"n": str(i)}}}),
                                         headers={"Content-Type": "application/merge-patch+json"}) as r:
                    body = json.loads(await r.read())
                    if r.status != 200:
                        raise RuntimeError(f"patch: {r.status} {body}")
                sent[body["metadata"]["resourceVersion"]] = t_sent
        await asyncio.gather(*(patcher() for _ in range(args.clients)))
        await asyncio.wait_for(asyncio.gather(*watchers), 600)
        wall = time.perf_counter() - t_start
        lags = [t - sent[v] for v, t in arrivals if v in sent]
        print(f"watch: {args.watchers} watchers x {args.updates} updates: {received} events in {wall:.1f} s = "
              f"{received / wall:.0f} events/s; lag p50 {pct(lags, 0.5) * 1000:.0f} ms, "
              f"p99 {pct(lags, 0.99) * 1000:.0f} ms, max {max(lags) * 1000:.0f} ms")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--store", choices=("etcd", "raftkv"), default="etcd")
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--creates", type=int, default=2000)
    p.add_argument("--pods", type=int, default=10_000)
    p.add_argument("--lists", type=int, default=5)
    p.add_argument("--watchers", type=int, default=1000)
    p.add_argument("--updates", type=int, default=1000)
    args = p.parse_args()
    print("command:", " ".join([sys.executable, "-m", "tests.apiserver.bench_apiserver", *sys.argv[1:]]))
    tmp = tempfile.mkdtemp(prefix="bench-apiserver-")
    try:
        with store(args.store, tmp) as st, apiserver(tmp, st.url, etcd_client=st.tls) as srv:
            print(f"store: {args.store}; apiserver {srv.url}")
            asyncio.run(run(srv.url, srv.ssl_context(), args))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
