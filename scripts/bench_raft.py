"""Micro-benchmark of the Raft core alone: entries/s committed by a 3-member in-memory cluster.

No network, no disk: messages are handed over directly and persistence is MemoryStorage, so
the figure is the cost of the consensus logic itself (the member loop adds I/O around it).

usage: .venv/bin/python scripts/bench_raft.py [--entries 200000] [--batch 500] [--size 256]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import random
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from raftkv.raft import Config, MemoryStorage, RawNode  # noqa: E402
from raftkv.raft.types import StateType  # noqa: E402


def drive(nodes: dict[int, RawNode], storages: dict[int, MemoryStorage]) -> int:
    """Process every Ready and deliver every message until quiet; returns entries applied by node 1."""
    applied = 0
    busy = True
    while busy:
        busy = False
        outbox = []
        for i, n in nodes.items():
            while n.has_ready():
                busy = True
                rd = n.ready()
                st = storages[i]
                if rd.hard_state is not None:
                    st.set_hard_state(rd.hard_state)
                if rd.entries:
                    st.append(rd.entries)
                outbox.extend(rd.messages)
                if i == 1:
                    applied += len(rd.committed_entries)
                n.advance(rd)
        for m in outbox:
            nodes[m.to].step(m)
    return applied


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--entries", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=500, help="proposals per round (the member loop's batching)")
    ap.add_argument("--size", type=int, default=256)
    a = ap.parse_args()
    storages = {i: MemoryStorage() for i in (1, 2, 3)}
    nodes = {i: RawNode(Config(id=i, rng=random.Random(i), max_inflight_msgs=256), storages[i]) for i in (1, 2, 3)}
    for n in nodes.values():
        n.bootstrap([1, 2, 3])
    drive(nodes, storages)  # apply the bootstrap configuration first
    nodes[1].campaign()
    drive(nodes, storages)
    assert nodes[1].raft.state == StateType.LEADER
    payload = b"x" * a.size
    done = 0
    t0 = time.perf_counter()
    while done < a.entries:
        nodes[1].propose_many([payload] * a.batch)
        done += drive(nodes, storages)
        if done % 50_000 < a.batch:  # keep memory flat, as the member's snapshots do
            for i, st in storages.items():
                idx = nodes[i].raft.log.applied
                if idx > st.first_index():
                    st.compact(idx)
    el = time.perf_counter() - t0
    print(json.dumps({"members": 3, "batch": a.batch, "entry_bytes": a.size, "entries": done,
                      "seconds": round(el, 2), "entries_per_s": round(done / el)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
