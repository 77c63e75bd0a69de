"""How late do short leases expire under write load? raftkv against etcd 3.4, same run, same client.

For each backend (3 members, client and peer mutual TLS on loopback, etcd's default timing: 100 ms
heartbeat, 1000 ms election timeout) this starts the cluster, starts a concurrent put load (the reference
load generator `../shared/bench/kvbench.py` in its own process), watches the prefix `lease/` for DELETE
events, and grants N leases with short TTLs spread over a few seconds, each with one key attached.

A lease's lateness is the time from the end of its TTL until its key's DELETE event arrives on the watch.
The TTL is counted from the moment the grant's answer arrived: the leader starts the lease's clock when it
applies the grant, which is before that, so this under-states lateness by at most the grant's latency, the
same way for both backends. Prints p50/p99/max per backend and the raftkv/etcd ratios, JSON with --out.

usage: .venv/bin/python scripts/bench_lease.py [--leases 200] [--ttls 2,3] [--spread-s 4]
                                               [--load-conc 16] [--only etcd|raftkv] [--out lease.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pathlib
import random
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import grpc  # noqa: E402
from bench_vs_etcd import SHARED_BENCH, leader_first, start_cluster, stop  # noqa: E402

from raftkv._pb.etcdserverpb import rpc_pb2 as pb  # noqa: E402
from raftkv._pb.etcdserverpb import rpc_pb2_grpc as pb_grpc  # noqa: E402
from raftkv._pb.mvccpb import kv_pb2  # noqa: E402
from raftkv.pki import create_local_pki  # noqa: E402

PREFIX = b"lease/"
GONE_DEADLINE_S = 60.0
"""After the last TTL ends: a lease not revoked by then is reported as never expired."""


def percentile(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(len(s) * p))] if s else float("nan")


def credentials(pki: pathlib.Path) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(*((pki / f).read_bytes() for f in ("ca.crt", "client.key", "client.crt")))


async def measure(eps: list[str], pki: pathlib.Path, n: int, ttls: list[int], spread_s: float,
                  seed: int) -> dict[str, object]:
    """Grant the leases, attach a key each, wait for every DELETE; lateness in seconds per lease."""
    creds = credentials(pki)
    watch_ch = grpc.aio.secure_channel(eps[1 % len(eps)], creds)  # a follower: events must be replicated to it
    grant_ch = grpc.aio.secure_channel(eps[0], creds)
    deleted: dict[bytes, float] = {}
    all_gone = asyncio.Event()
    ready = asyncio.Event()

    async def requests() -> object:
        yield pb.WatchRequest(create_request=pb.WatchCreateRequest(key=PREFIX, range_end=PREFIX[:-1] + b"0"))
        await all_gone.wait()

    async def watcher() -> None:
        async for resp in pb_grpc.WatchStub(watch_ch).Watch(requests()):
            now = time.monotonic()
            if resp.created:
                ready.set()
            for ev in resp.events:
                if ev.type == kv_pb2.Event.DELETE:
                    deleted.setdefault(ev.kv.key, now)
            if len(deleted) >= n:
                all_gone.set()
                return

    watch_task = asyncio.create_task(watcher())
    await asyncio.wait_for(ready.wait(), 30)
    lease, kv = pb_grpc.LeaseStub(grant_ch), pb_grpc.KVStub(grant_ch)
    rng = random.Random(seed)
    ends: dict[bytes, float] = {}
    granted_ttls: set[int] = set()

    async def one(i: int, delay: float, ttl: int) -> None:
        await asyncio.sleep(delay)
        g = await lease.LeaseGrant(pb.LeaseGrantRequest(TTL=ttl), timeout=30)
        answered = time.monotonic()
        granted_ttls.add(g.TTL)
        key = PREFIX + b"%06d" % i
        ends[key] = answered + g.TTL
        await kv.Put(pb.PutRequest(key=key, value=b"x" * 64, lease=g.ID), timeout=30)

    await asyncio.gather(*(one(i, rng.uniform(0, spread_s), rng.choice(ttls)) for i in range(n)))
    try:
        await asyncio.wait_for(all_gone.wait(), max(ends.values()) - time.monotonic() + GONE_DEADLINE_S)
    except TimeoutError:
        pass
    watch_task.cancel()
    await asyncio.gather(watch_task, return_exceptions=True)
    await watch_ch.close()
    await grant_ch.close()
    late = [deleted[k] - ends[k] for k in ends if k in deleted]
    return {"leases": n, "expired": len(late), "granted_ttls": sorted(granted_ttls),
            "p50_ms": percentile(late, 0.50) * 1000, "p99_ms": percentile(late, 0.99) * 1000,
            "max_ms": max(late) * 1000 if late else float("nan"),
            "early": sum(1 for x in late if x < 0)}


def revision(ep: str, pki: pathlib.Path) -> int:
    with grpc.secure_channel(ep, credentials(pki)) as ch:
        return int(pb_grpc.KVStub(ch).Range(pb.RangeRequest(key=b"\0", serializable=True), timeout=10).header.revision)


def run_kind(kind: str, base: pathlib.Path, pki: pathlib.Path, a: argparse.Namespace) -> dict[str, object]:
    procs, eps = start_cluster(kind, base, pki)
    load: subprocess.Popen[bytes] | None = None
    try:
        eps = leader_first(eps, pki)
        rev0, t0 = revision(eps[0], pki), time.monotonic()
        if a.load_conc > 0:
            load = subprocess.Popen([sys.executable, str(SHARED_BENCH / "kvbench.py"), "--endpoints", ",".join(eps),
                                     "--pki", str(pki), "--op", "put", "--conc", str(a.load_conc), "--conns", "2",
                                     "--n", "100000000", "--spread"],
                                    stdout=subprocess.DEVNULL, stderr=open(base / f"{kind}-load.log", "wb"), cwd=ROOT)
        result = asyncio.run(measure(eps, pki, a.leases, a.ttls, a.spread_s, a.seed))
        rev1, t1 = revision(eps[0], pki), time.monotonic()
        result["writes_per_s_during"] = round((rev1 - rev0) / (t1 - t0))
        return result
    finally:
        if load is not None:
            load.terminate()
            load.wait(10)
        stop(procs)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--leases", type=int, default=200)
    p.add_argument("--ttls", type=lambda s: [int(x) for x in s.split(",")], default=[2, 3],
                   help="TTLs to pick from, seconds (default 2,3)")
    p.add_argument("--spread-s", type=float, default=4.0, help="grants are spread uniformly over this many seconds")
    p.add_argument("--load-conc", type=int, default=16, help="concurrent puts of the background load (0: none)")
    p.add_argument("--only", choices=["etcd", "raftkv"])
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out")
    a = p.parse_args()
    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-lease-") as tmp:
        base = pathlib.Path(tmp)
        pki = base / "pki"
        create_local_pki(str(pki), ["127.0.0.1", "localhost"])
        for kind in ("etcd", "raftkv"):
            if a.only in (None, kind):
                results[kind] = run_kind(kind, base, pki, a)
    print(f"{a.leases} leases, TTLs {a.ttls} s spread over {a.spread_s} s, {a.load_conc} concurrent puts "
          f"({time.strftime('%Y-%m-%d %H:%M')})")
    print(f"{'':8} {'expired':>8} {'granted':>8} {'writes/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for kind, r in results.items():
        print(f"{kind:8} {r['expired']:>8} {str(r['granted_ttls']):>8} {r['writes_per_s_during']:>9} "
              f"{r['p50_ms']:>8.0f} {r['p99_ms']:>8.0f} {r['max_ms']:>8.0f}")
    if len(results) == 2:
        e, r = results["etcd"], results["raftkv"]
        print("raftkv/etcd: " + ", ".join(f"{k[:-3]} {float(r[k]) / float(e[k]):.2f}"  # type: ignore[arg-type]
                                          for k in ("p50_ms", "p99_ms", "max_ms")))
    if a.out:
        pathlib.Path(a.out).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
