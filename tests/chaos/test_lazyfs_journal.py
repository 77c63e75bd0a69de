"""The lazyfs undo journal (pure): after any mix of writes, truncates and fsyncs, replaying the rollback plan
leaves a file byte-for-byte as it was at its last fsync. A model of the FUSE adapter's bookkeeping on a
bytearray, seeded; the FUSE side is exercised end to end by the kill-all-lazyfs scenario."""

from __future__ import annotations

import random

import pytest

from raftkv.chaos.nemesis.lazyfs import Journal, before_write, rollback_plan

pytestmark = pytest.mark.unit


def _apply(plan: list[tuple[str, int, bytes]], data: bytearray) -> bytearray:
    out = bytearray(data)
    for kind, off, chunk in plan:
        if kind == "write":
            if len(out) < off:
                out.extend(b"\0" * (off - len(out)))
            out[off:off + len(chunk)] = chunk
        else:
            del out[off:]
    return out


@pytest.mark.parametrize("seed", range(40))
def test_rollback_restores_the_file_as_of_its_last_fsync(seed: int) -> None:
    print(f"seed={seed}")
    rng = random.Random(seed)
    data = bytearray(rng.randbytes(rng.randrange(0, 50)))
    synced = bytes(data)
    journal: Journal | None = None
    for _ in range(rng.randrange(1, 60)):
        r = rng.random()
        if r < 0.6:  # write (maybe past the end, leaving a hole)
            off = rng.randrange(0, len(data) + 20)
            chunk = rng.randbytes(rng.randrange(1, 30))
            old = bytes(data[off:off + len(chunk)]) if off < len(data) else b""
            journal = before_write(journal, len(data), off, old)
            if len(data) < off:
                data.extend(b"\0" * (off - len(data)))
            data[off:off + len(chunk)] = chunk
        elif r < 0.8:  # truncate (down or up), as the adapter records it
            length = rng.randrange(0, len(data) + 20)
            journal = before_write(journal, len(data), length, bytes(data[length:]))
            if length < len(data):
                del data[length:]
            else:
                data.extend(b"\0" * (length - len(data)))
        else:  # fsync: this is now what survives a crash
            synced, journal = bytes(data), None
    after = data if journal is None else _apply(rollback_plan(journal), data)
    assert bytes(after) == synced


def test_a_clean_file_has_nothing_to_undo_and_new_bytes_are_not_saved() -> None:
    j = before_write(None, 5, 5, b"")  # an append: nothing old is overwritten
    assert j.synced_size == 5 and j.undo == [] and j.pending_bytes == 0
    j = before_write(j, 9, 1, b"ell")
    assert rollback_plan(j) == [("write", 1, b"ell"), ("truncate", 5, b"")]
