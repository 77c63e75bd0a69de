"""lazyfs end to end on a real FUSE mount: data written after the last fsync is gone after a "crash", data
fsynced stays, renames survive, and with fsync errors on, fsync fails with EIO and the failure time is kept."""

from __future__ import annotations

import asyncio
import errno
import os
import pathlib
import time

import pytest

from raftkv.chaos.nemesis import lazyfs

pytestmark = pytest.mark.e2e


@pytest.fixture
def mounted(tmp_path: pathlib.Path):  # type: ignore[no-untyped-def]
    why = lazyfs.available()
    if why is not None:
        if os.environ.get("CI"):
            pytest.fail(f"lazyfs must run in CI (scripts/test installs libfuse2, the test extra fusepy): {why}")
        pytest.skip(why)
    fs = lazyfs.LazyFS(tmp_path / "backing", tmp_path / "mnt", pathlib.Path(f"/tmp/lzt-{os.getpid()}.sock"),
                       tmp_path / "lazyfs.log")
    fs.start()
    try:
        yield fs
    finally:
        fs.stop()
        fs.control.unlink(missing_ok=True)
        print((tmp_path / "lazyfs.log").read_text())
    assert not os.path.ismount(tmp_path / "mnt")


def test_a_crash_drops_exactly_what_was_not_fsynced(mounted: lazyfs.LazyFS) -> None:
    wal, db = mounted.mount / "wal", mounted.mount / "db"
    with open(wal, "wb") as f:
        f.write(b"record-1;")
        f.flush()
        os.fsync(f.fileno())
        f.write(b"record-2;")  # never synced
        f.flush()
    with open(db, "wb") as f:
        f.write(b"A" * 100)
        f.flush()
        os.fsync(f.fileno())
    with open(db, "r+b") as f:
        f.seek(10)
        f.write(b"BBBB")  # overwrite, not synced
    tmp = mounted.mount / "snap.tmp"
    with open(tmp, "wb") as f:
        f.write(b"snapshot")
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, mounted.mount / "snap")

    async def crash() -> dict[str, int]:
        status = await mounted.command("status")
        assert status["dirty_files"] == 2 and status["dirty_bytes"] == 4  # the overwritten bytes are kept
        return await mounted.command("crash")

    dropped = asyncio.run(crash())
    assert dropped == {"files": 2, "bytes": 9 + 4}
    assert wal.read_bytes() == b"record-1;"
    assert db.read_bytes() == b"A" * 100
    assert (mounted.mount / "snap").read_bytes() == b"snapshot"


def test_fsync_errors_fail_with_eio_until_turned_off(mounted: lazyfs.LazyFS) -> None:
    path = mounted.mount / "wal"
    before = time.monotonic()
    asyncio.run(mounted.command("fail-fsync on"))
    with open(path, "wb") as f:
        f.write(b"x")
        f.flush()
        with pytest.raises(OSError) as e:
            os.fsync(f.fileno())
        assert e.value.errno == errno.EIO
        status = asyncio.run(mounted.command("status"))
        assert status["failed_fsyncs"] == 1 and before <= status["first_failure"] <= time.monotonic()
        asyncio.run(mounted.command("fail-fsync off"))
        os.fsync(f.fileno())
    assert asyncio.run(mounted.command("crash")) == {"files": 0, "bytes": 0}
    assert path.read_bytes() == b"x"
    with pytest.raises(lazyfs.LazyFSError):
        asyncio.run(mounted.command("format-disk"))
