"""The image a member streams for Maintenance.Snapshot: its state as etcd 3.4's bbolt database.

Consistency: the store is copied with SQLite's online backup in one synchronous step on the
member's loop (nothing is applied meanwhile), and the alarms are read in the same step, so the
image is the state at one revision and one applied index. Reading the copy and laying out the
bbolt pages (pure: raftkv.snapshot.schema, raftkv.bbolt) then runs in a worker thread, so the
member keeps serving while a large image is built.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import struct
import tempfile
from collections.abc import Generator
from typing import TYPE_CHECKING

from raftkv.auth import AuthStore
from raftkv.bbolt import write_db
from raftkv.mvcc.backend import DB_FILE, Backend
from raftkv.mvcc.core.revision import parse_rev_key
from raftkv.server.membership import Membership
from raftkv.snapshot.schema import State, to_buckets

if TYPE_CHECKING:
    from raftkv.server.member import RaftMember

MEMBERSHIP_META = "membership"  # the names raftkv.server.member stores them under
AUTH_META = "auth"
CHUNK = 1 << 20
_U64 = struct.Struct(">Q")
_I64 = struct.Struct(">q")


def state_of(b: Backend, alarms: set[tuple[int, int]]) -> State:
    """The snapshot state held in a raftkv backend."""
    kvs = [(*parse_rev_key(rk), value) for rk, value in b.scan()]
    ci = b.get_meta("consistent_index")
    cr = b.get_meta("compact_rev")
    ms = b.get_meta(MEMBERSHIP_META)
    membership = Membership.from_json(ms) if ms else Membership()
    return State(kvs=[(main, sub, tomb, v) for main, sub, tomb, v in kvs],
                 consistent_index=_U64.unpack(ci)[0] if ci else 0,
                 compact_rev=_I64.unpack(cr)[0] if cr else -1,
                 leases=b.leases(), members=membership.sorted(), removed=sorted(membership.removed),
                 auth=AuthStore.from_json(b.get_meta(AUTH_META)), alarms=sorted(alarms))


def _build(copy_dir: str, alarms: set[tuple[int, int]]) -> bytes:
    """In the worker thread; removes the copy when done (here, so a cancelled RPC cannot pull it away)."""
    try:
        b = Backend(copy_dir)
        try:
            return write_db(to_buckets(state_of(b, alarms)))
        finally:
            b.close(commit=False)
    finally:
        shutil.rmtree(copy_dir, ignore_errors=True)


async def image_chunks(member: RaftMember) -> tuple[int, Generator[bytes, None, None]]:
    """(size, chunks) of the member's state as a bbolt file (without etcd's sha256 trailer)."""
    copy_dir = tempfile.mkdtemp(dir=member.snap_dir, suffix=".export")
    try:
        member.store.snapshot_to(os.path.join(copy_dir, DB_FILE))  # commits first; one step on the loop
    except BaseException:
        shutil.rmtree(copy_dir, ignore_errors=True)
        raise
    image = await asyncio.to_thread(_build, copy_dir, set(member.alarms))

    def chunks() -> Generator[bytes, None, None]:
        view = memoryview(image)
        for start in range(0, len(image), CHUNK):
            yield bytes(view[start:start + CHUNK])

    return len(image), chunks()
