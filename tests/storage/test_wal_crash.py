"""kill -9 a real process writing the WAL at random points: every acknowledged entry survives."""

from __future__ import annotations

import pathlib
import random
import signal
import subprocess
import sys
import time

import pytest

from raftkv.storage import WAL

WRITER = pathlib.Path(__file__).with_name("wal_writer.py")
ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.e2e
@pytest.mark.parametrize("seed", range(5))
def test_acknowledged_entries_survive_kill_9(tmp_path: pathlib.Path, seed: int) -> None:
    rng = random.Random(seed)
    print(f"seed={seed}")
    acked = 0
    for _round in range(3):
        proc = subprocess.Popen([sys.executable, str(WRITER), str(tmp_path / "wal")], stdout=subprocess.PIPE,
                                cwd=ROOT, env={"PYTHONPATH": str(ROOT)})
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        target = rng.randint(5, 60)
        lines = 0
        while lines < target and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            acked = max(acked, int(line))
            lines += 1
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        for line in proc.stdout.read().split():
            acked = max(acked, int(line))
        wal, state = WAL.open(str(tmp_path / "wal"))
        wal.close()
        indexes = [e.index for e in state.entries]
        assert indexes == list(range(1, len(indexes) + 1)), "replayed entries are not contiguous"
        assert len(indexes) >= acked, f"acknowledged index {acked} lost (replayed up to {len(indexes)})"
