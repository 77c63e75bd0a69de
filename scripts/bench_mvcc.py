"""Benchmark the MVCC store alone (no Raft, no gRPC): applied puts/s, range latency, restart time, RSS.

usage: .venv/bin/python scripts/bench_mvcc.py [--keys 1000000] [--value-size 256] [--dir DIR]
Prints one JSON line. Load and reads run in this process; restart is measured in a fresh child
process that reopens the on-disk store (the key index is rebuilt from the backend, as after a
crash) and reports its own time and RSS.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import pathlib
import random
import resource
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from raftkv._pb.etcdserverpb import rpc_pb2 as pb  # noqa: E402
from raftkv.lease import Lessor  # noqa: E402
from raftkv.mvcc import Applier, open_store  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def raw_backends(n: int, size: int, base: str) -> int:
    """Revision-keyed puts committed every 10,000 and random point reads, with no MVCC logic on top:
    the measurement behind the backend choice."""
    from raftkv.mvcc.backend import Backend
    from raftkv.mvcc.core.revision import rev_key

    value = b"v" * (size + 40)  # about a serialized KeyValue
    rng = random.Random(2)
    probes = [rev_key(rng.randrange(n) + 2, 0) for _ in range(5000)]
    out: dict[str, object] = {"keys": n, "value_size": size}
    b = Backend(os.path.join(base, "sqlite"))
    t = time.perf_counter()
    for i in range(n):
        b.put(rev_key(i + 2, 0), value)
        if i % 10_000 == 9_999:
            b.commit()
    b.commit()
    out["sqlite_puts_per_s"] = round(n / (time.perf_counter() - t))
    t = time.perf_counter()
    for k in probes:
        b.get(k)
    out["sqlite_get_us"] = round((time.perf_counter() - t) / len(probes) * 1e6, 1)
    b.close()
    try:
        import lmdb  # type: ignore[import-not-found]
    except ImportError:
        out["lmdb"] = "not installed"
    else:
        env = lmdb.open(os.path.join(base, "lmdb"), map_size=1 << 34, sync=False, metasync=False)
        t = time.perf_counter()
        for lo in range(0, n, 10_000):
            with env.begin(write=True) as txn:
                for i in range(lo, min(n, lo + 10_000)):
                    txn.put(rev_key(i + 2, 0), value)
        out["lmdb_puts_per_s"] = round(n / (time.perf_counter() - t))
        t = time.perf_counter()
        for k in probes:
            with env.begin() as txn:
                txn.get(k)
        out["lmdb_get_us"] = round((time.perf_counter() - t) / len(probes) * 1e6, 1)
        env.close()
    print(json.dumps(out))
    return 0


def reopen(base: str) -> int:
    t = time.perf_counter()
    store = open_store(base)
    Applier(store, Lessor())
    restart_s = time.perf_counter() - t
    print(json.dumps({"rev": store.rev, "restart_s": round(restart_s, 2), "rss_mb": round(rss_mb())}))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--keys", type=int, default=100_000)
    ap.add_argument("--value-size", type=int, default=256)
    ap.add_argument("--dir", default="")
    ap.add_argument("--reopen", action="store_true", help="only reopen --dir and print restart figures")
    ap.add_argument("--raw-backends", action="store_true",
                    help="compare the raw value stores (SQLite as used, and LMDB if installed) instead")
    a = ap.parse_args()
    if a.reopen:
        return reopen(a.dir)
    if a.raw_backends:
        return raw_backends(a.keys, a.value_size, a.dir or tempfile.mkdtemp(prefix="raftkv-raw-bench-"))
    base = a.dir or tempfile.mkdtemp(prefix="raftkv-mvcc-bench-")
    os.makedirs(base, exist_ok=True)
    value = b"v" * a.value_size
    store = open_store(base)
    applier = Applier(store, Lessor())
    t0 = time.perf_counter()
    for i in range(a.keys):
        applier.put(pb.PutRequest(key=b"key/%010d" % i, value=value))
        if i % 10_000 == 9_999:
            store.set_consistent_index(i + 1)
            store.commit()
    store.commit()
    put_s = time.perf_counter() - t0
    rss_loaded = rss_mb()
    rng = random.Random(1)
    lat = []
    for _ in range(5000):
        k = b"key/%010d" % rng.randrange(a.keys)
        t = time.perf_counter()
        applier.range(pb.RangeRequest(key=k))
        lat.append(time.perf_counter() - t)
    lat.sort()
    t = time.perf_counter()
    scan = applier.range(pb.RangeRequest(key=b"key/", range_end=b"key0", limit=1000))
    scan_ms = (time.perf_counter() - t) * 1000
    assert len(scan.kvs) == min(1000, a.keys)
    t = time.perf_counter()
    small = applier.range(pb.RangeRequest(key=b"key/0000000", range_end=b"key/0000001"))  # 1000 keys
    prefix_ms = (time.perf_counter() - t) * 1000
    assert len(small.kvs) == min(1000, a.keys)
    store.close()
    del store, applier, scan, small
    gc.collect()
    db_mb = sum(p.stat().st_size for p in pathlib.Path(base).glob("db.sqlite*")) / 1e6
    child = subprocess.run([sys.executable, __file__, "--reopen", "--dir", base], check=True,
                           capture_output=True, text=True)
    restart = json.loads(child.stdout)
    assert restart["rev"] == a.keys + 1
    print(json.dumps({"keys": a.keys, "value_size": a.value_size, "puts_per_s": round(a.keys / put_s),
                      "range_p50_us": round(lat[len(lat) // 2] * 1e6), "range_p99_us": round(lat[int(len(lat) * .99)] * 1e6),
                      "range_prefix_1000_keys_ms": round(prefix_ms, 1),
                      "range_all_limit_1000_ms": round(scan_ms, 1), "restart_s": restart["restart_s"],
                      "rss_mb_after_load": round(rss_loaded), "rss_mb_after_restart": restart["rss_mb"],
                      "db_mb": round(db_mb)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
