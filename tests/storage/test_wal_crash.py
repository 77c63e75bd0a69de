"""kill -9 a real process writing the WAL at random points: every acknowledged entry survives;
then the same with the tail damaged by hand (truncated, bit-flipped) and damage before the tail."""

from __future__ import annotations

import logging
import os
import pathlib
import random
import signal
import subprocess
import sys
import time

import pytest

from raftkv.storage import WAL, WALCorrupt
from raftkv.storage import records as rec

WRITER = pathlib.Path(__file__).with_name("wal_writer.py")
ROOT = pathlib.Path(__file__).resolve().parents[2]
ROUNDS = 3


def run_writer_and_kill(waldir: pathlib.Path, rng: random.Random) -> int:
    """Start the writer, let it acknowledge a random number of batches, kill -9 it mid-stream.

    Returns the highest index it acknowledged (printed only after its fsync returned)."""
    proc = subprocess.Popen([sys.executable, str(WRITER), str(waldir)], stdout=subprocess.PIPE, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout is not None
    acked = 0
    try:
        deadline = time.monotonic() + 60
        target = rng.randint(3, 60)
        for _ in range(target):
            line = proc.stdout.readline()
            if not line or time.monotonic() > deadline:
                break
            acked = max(acked, int(line))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    for line in proc.stdout.read().split():  # acknowledged before the kill landed
        acked = max(acked, int(line))
    proc.stdout.close()
    assert acked > 0, "the writer acknowledged nothing"
    return acked


def reopen(waldir: pathlib.Path) -> list[int]:
    wal, state = WAL.open(str(waldir))
    wal.close()
    indexes = [e.index for e in state.entries]
    assert indexes == list(range(1, len(indexes) + 1)), "replayed entries are not contiguous"
    return indexes


def last_segment(waldir: pathlib.Path) -> pathlib.Path:
    return max(waldir.glob("*.wal"))


@pytest.mark.e2e
@pytest.mark.parametrize("seed", range(5))
def test_acknowledged_entries_survive_kill_9(tmp_path: pathlib.Path, seed: int) -> None:
    kill_and_verify(tmp_path, seed, ROUNDS)


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.parametrize("seed", range(5, 25))
def test_acknowledged_entries_survive_many_kill_9(tmp_path: pathlib.Path, seed: int) -> None:
    kill_and_verify(tmp_path, seed, 10)


def kill_and_verify(tmp_path: pathlib.Path, seed: int, rounds: int) -> None:
    rng = random.Random(seed)
    print(f"seed={seed}")
    waldir = tmp_path / "wal"
    for _round in range(rounds):
        acked = run_writer_and_kill(waldir, rng)
        indexes = reopen(waldir)
        assert len(indexes) >= acked, f"acknowledged index {acked} lost (replayed up to {len(indexes)})"
    assert len(list(waldir.glob("*.wal"))) > 1, "the test never crossed a segment boundary"


@pytest.mark.e2e
@pytest.mark.parametrize("damage", ["truncate_tail", "flip_tail", "flip_before_tail"])
@pytest.mark.parametrize("seed", range(3))
def test_damaged_tail_after_kill_9(tmp_path: pathlib.Path, seed: int, damage: str,
                                   caplog: pytest.LogCaptureFixture) -> None:
    rng = random.Random(seed)
    print(f"seed={seed} damage={damage}")
    waldir = tmp_path / "wal"
    acked = run_writer_and_kill(waldir, rng)
    before = reopen(waldir)  # replays cleanly (and repairs a tail the kill itself tore)
    assert len(before) >= acked
    seg = last_segment(waldir)
    blob = seg.read_bytes()
    records = list(rec.iter_records(blob))
    entry_records = [r for r in records if r.type == rec.RecordType.ENTRIES]
    if len(entry_records) < 2:
        pytest.skip("the last segment holds fewer than two batches for this seed")
    ends = [r.offset for r in records[1:]] + [len(blob)]
    damaged = bytearray(blob)
    if damage == "truncate_tail":  # anywhere inside the last batch (its entries record, then its hard state)
        cut = rng.randint(entry_records[-1].offset + 1, len(blob) - 1)
        del damaged[cut:]
    elif damage == "flip_tail":  # a flip in the final record, with nothing valid after it
        cut = records[-1].offset
        damaged[rng.randint(cut, len(blob) - 1)] ^= 1 << rng.randint(0, 7)
    else:
        victim = rng.choice(entry_records[:-1])
        end = records[records.index(victim) + 1].offset
        damaged[rng.randint(victim.offset, end - 1)] ^= 1 << rng.randint(0, 7)
    seg.write_bytes(bytes(damaged))

    if damage == "flip_before_tail":
        with pytest.raises(WALCorrupt) as info:
            WAL.open(str(waldir))
        assert info.value.path == str(seg) and info.value.offset == victim.offset
        assert str(seg) in str(info.value) and f"offset {victim.offset}" in str(info.value)
        return
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="raftkv.wal"):
        after = reopen(waldir)
    assert "torn write" in caplog.text and str(seg) in caplog.text
    torn = next(i for i, end in enumerate(ends) if end > cut)  # the first record the damage reached
    lost = sum(len(rec.decode_entries(r.payload)) for r in records[torn:] if r.type == rec.RecordType.ENTRIES)
    assert after == before[: len(before) - lost]
    assert seg.stat().st_size == records[torn].offset, "the torn record was not cut off"
    acked = run_writer_and_kill(waldir, rng)  # the repaired log takes new writes
    assert len(reopen(waldir)) >= acked
