"""The image a member streams for Maintenance.Snapshot: its state as etcd 3.4's bbolt database.

Consistency: the store is copied with SQLite's online backup in one synchronous step on the
member's loop (nothing is applied meanwhile), and the alarms are read in the same step, so the
image is the state at one revision and one applied index. Reading the copy and laying out the
bbolt pages (pure: raftkv.snapshot.schema, raftkv.bbolt.writer.StreamWriter) then runs in a worker
thread, so the member keeps serving; pages go to a temporary file as they fill, so memory stays
small however large the store is.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import struct
import tempfile
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING

from raftkv.auth import AuthStore
from raftkv.bbolt.writer import StreamWriter
from raftkv.mvcc.backend import DB_FILE, Backend
from raftkv.mvcc.core.revision import parse_rev_key
from raftkv.server.membership import Membership
from raftkv.snapshot.schema import State, bucket_stream

if TYPE_CHECKING:
    from raftkv.server.member import RaftMember

MEMBERSHIP_META = "membership"  # the names raftkv.server.member stores them under
AUTH_META = "auth"
CHUNK = 1 << 20
_U64 = struct.Struct(">Q")
_I64 = struct.Struct(">q")


def state_of(b: Backend, alarms: set[tuple[int, int]]) -> State:
    """The snapshot state held in a raftkv backend, but its keys (read lazily by `key_rows`)."""
    ci = b.get_meta("consistent_index")
    cr = b.get_meta("compact_rev")
    ms = b.get_meta(MEMBERSHIP_META)
    membership = Membership.from_json(ms) if ms else Membership()
    return State(consistent_index=_U64.unpack(ci)[0] if ci else 0,
                 compact_rev=_I64.unpack(cr)[0] if cr else -1,
                 leases=b.leases(), members=membership.sorted(), removed=sorted(membership.removed),
                 auth=AuthStore.from_json(b.get_meta(AUTH_META)), alarms=sorted(alarms))


def key_rows(b: Backend) -> Iterator[tuple[int, int, bool, bytes]]:
    for rk, value in b.scan():
        main, sub, tomb = parse_rev_key(rk)
        yield main, sub, tomb, value


def _build(copy_dir: str, alarms: set[tuple[int, int]], image_path: str) -> int:
    """In the worker thread: the image written to `image_path` page by page (pages 2.. first, then the metas,
    which name the root); returns its size. Removes the copy when done (here, so a cancelled RPC cannot pull
    it away)."""
    try:
        b = Backend(copy_dir)
        try:
            writer = StreamWriter()
            with open(image_path, "r+b") as fh:
                fh.seek(2 * writer.ps)
                for page in writer.pages(bucket_stream(state_of(b, alarms), key_rows(b))):
                    fh.write(page)
                size = fh.tell()
                fh.seek(0)
                fh.write(writer.metas())
            return size
        finally:
            b.close(commit=False)
    finally:
        shutil.rmtree(copy_dir, ignore_errors=True)


async def image_chunks(member: RaftMember) -> tuple[int, Generator[bytes, None, None]]:
    """(size, chunks) of the member's state as a bbolt file (without etcd's sha256 trailer). The image is a
    temporary file, removed once the chunks are consumed or closed."""
    copy_dir = tempfile.mkdtemp(dir=member.snap_dir, suffix=".export")
    fd, image_path = tempfile.mkstemp(dir=member.snap_dir, suffix=".bbolt")
    os.close(fd)
    try:
        member.store.snapshot_to(os.path.join(copy_dir, DB_FILE))  # commits first; one step on the loop
    except BaseException:
        shutil.rmtree(copy_dir, ignore_errors=True)
        os.unlink(image_path)
        raise
    try:
        size = await asyncio.to_thread(_build, copy_dir, set(member.alarms), image_path)
    except BaseException:
        os.unlink(image_path)
        raise

    def chunks() -> Generator[bytes, None, None]:
        try:
            with open(image_path, "rb") as fh:
                while chunk := fh.read(CHUNK):
                    yield chunk
        finally:
            os.unlink(image_path)

    return size, chunks()
