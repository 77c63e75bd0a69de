"""WAL group-commit benchmark (not a test): entries/s and fsyncs/s per batch size.

Each `WAL.save` is one write and one fdatasync, so fsyncs/s is saves/s. Run:
    .venv/bin/python scripts/bench_wal.py [--seconds 2] [--dir /path/on/the/disk/to/measure]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from raftkv.raft.types import Entry, EntryType, HardState  # noqa: E402
from raftkv.storage import WAL  # noqa: E402

BATCH_SIZES = (1, 10, 100, 1000)
ENTRY_BYTES = 300


def run(dirpath: str, batch: int, seconds: float) -> tuple[int, int, float]:
    """(entries, fsyncs, elapsed) of saving `batch`-entry batches for about `seconds`."""
    wal = WAL.create(dirpath, b"bench")
    payload = os.urandom(ENTRY_BYTES)
    index = 0
    saves = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        entries = [Entry(1, index + k, EntryType.NORMAL, payload) for k in range(1, batch + 1)]
        wal.save(HardState(1, 1, index), entries, sync=True)
        index += batch
        saves += 1
    elapsed = time.perf_counter() - start
    wal.close()
    return index, saves, elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0, help="time per batch size")
    ap.add_argument("--dir", default=None, help="parent directory for the WAL (default: system temp dir)")
    args = ap.parse_args()
    print(f"entry size {ENTRY_BYTES} B, {args.seconds:g} s per batch size, one write + one fdatasync per batch")
    print(f"{'batch':>6} {'entries/s':>12} {'fsyncs/s':>10} {'MB/s':>8} {'ms/fsync':>9}")
    for batch in BATCH_SIZES:
        with tempfile.TemporaryDirectory(dir=args.dir) as d:
            entries, saves, elapsed = run(os.path.join(d, "wal"), batch, args.seconds)
        print(f"{batch:>6} {entries / elapsed:>12,.0f} {saves / elapsed:>10,.0f} "
              f"{entries * ENTRY_BYTES / elapsed / 1e6:>8.1f} {1000 * elapsed / saves:>9.3f}")


if __name__ == "__main__":
    main()
