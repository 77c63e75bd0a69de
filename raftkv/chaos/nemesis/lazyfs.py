"""A lazyfs-like FUSE layer: a member's data dir where un-fsynced writes can be lost and fsync can fail.

Why FUSE and not an LD_PRELOAD shim or libfiu: etcd is a Go binary that makes its system calls directly, so a
preloaded library reaches only raftkv; a filesystem reaches both, and so the power-failure and fsync-error
variants of `kill-all` run against etcd 3.4 too (Jepsen's lazyfs makes the same choice).

How it loses data: writes go through to a backing directory at once, but before a write (or truncate) changes
bytes that were there at the file's last fsync, the old bytes are kept in an in-memory undo journal (`Journal`,
pure). fsync of a file forgets its journal. A "crash" (asked for only while the member is dead) replays every
journal backwards, leaving each file exactly as it was at its last successful fsync. Directory operations
(create, rename, unlink) are kept, as lazyfs does: only file data is lazy.

How fsync fails: while `fail-fsync on`, fsync and fdatasync return EIO, the journal is kept (the data never
reached the disk), and the time of the first failure (CLOCK_MONOTONIC, the clock the workload stamps its ops
with) is remembered for the fail-stop checker.

Run as `python -m raftkv.chaos.nemesis.lazyfs BACKING MOUNT CONTROL_SOCKET` (root, libfuse2, fusepy); the
harness talks to it over the UNIX socket: one line per request (`crash`, `fail-fsync on|off`, `status`), one
JSON line back. `LazyFS` is the harness-side handle that starts, controls and unmounts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import pathlib
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

MOUNT_TIMEOUT_S = 10.0


class LazyFSError(RuntimeError):
    """The FUSE layer could not be mounted or did not answer its control socket."""


# ---------------------------------------------------------------------------------------------- pure core
@dataclass
class Journal:
    """What one file looked like at its last fsync, as the undo records needed to go back there.

    `synced_size` is the size at the last fsync; `undo` holds (offset, old bytes) in the order they were
    overwritten. Only bytes below the size at the time of the change are saved: bytes past it were new.
    """

    synced_size: int
    undo: list[tuple[int, bytes]] = field(default_factory=list)

    @property
    def pending_bytes(self) -> int:
        return sum(len(b) for _, b in self.undo)


def before_write(journal: Journal | None, size_now: int, offset: int, old: bytes) -> Journal:
    """The journal after saving `old` (the bytes at `offset` that a write is about to replace; the caller reads
    at most up to `size_now`). Starts a journal at `size_now` if the file had none (it was clean)."""
    j = journal if journal is not None else Journal(size_now)
    if old:
        j.undo.append((offset, old))
    return j


def rollback_plan(journal: Journal) -> list[tuple[str, int, bytes]]:
    """The writes (newest first) then the truncate that restore the file to its last fsync."""
    plan: list[tuple[str, int, bytes]] = [("write", off, old) for off, old in reversed(journal.undo)]
    plan.append(("truncate", journal.synced_size, b""))
    return plan


# ---------------------------------------------------------------------------------------------- FUSE adapter
def _serve(backing: str, mount: str, control: str) -> None:  # pragma: no cover - runs in its own process
    from fuse import FUSE, FuseOSError, Operations  # type: ignore[import-untyped]

    lock = threading.RLock()
    journals: dict[str, Journal] = {}
    state: dict[str, Any] = {"fail_fsync": False, "first_failure": None, "failed_fsyncs": 0, "dropped": 0}

    def real(path: str) -> str:
        return os.path.join(backing, path.lstrip("/"))

    def note_change(p: str, fh: int, offset: int, length: int) -> None:
        size = os.fstat(fh).st_size
        old = os.pread(fh, max(0, min(length, size - offset)), offset) if offset < size else b""
        journals[p] = before_write(journals.get(p), size, offset, old)

    def crash() -> dict[str, Any]:
        files, dropped = 0, 0
        for p, j in list(journals.items()):
            try:
                fd = os.open(p, os.O_WRONLY)
            except FileNotFoundError:
                continue
            try:
                dropped += j.pending_bytes + max(0, os.fstat(fd).st_size - j.synced_size)
                for kind, off, data in rollback_plan(j):
                    if kind == "write":
                        os.pwrite(fd, data, off)
                    else:
                        os.ftruncate(fd, off)
                os.fsync(fd)
            finally:
                os.close(fd)
            files += 1
        journals.clear()
        state["dropped"] += dropped
        return {"files": files, "bytes": dropped}

    class Lazy(Operations):  # type: ignore[misc]
        def __call__(self, op: str, *args: Any) -> Any:
            with lock:
                try:
                    return super().__call__(op, *args)
                except OSError as e:
                    if isinstance(e, FuseOSError):
                        raise
                    raise FuseOSError(e.errno or errno.EIO) from e

        def access(self, path: str, mode: int) -> None:
            if not os.access(real(path), mode):
                raise FuseOSError(errno.EACCES)

        def chmod(self, path: str, mode: int) -> None:
            os.chmod(real(path), mode)

        def chown(self, path: str, uid: int, gid: int) -> None:
            os.chown(real(path), uid, gid)

        def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
            st = os.lstat(real(path))
            return {k: getattr(st, k) for k in ("st_atime", "st_ctime", "st_gid", "st_mode", "st_mtime",
                                                "st_nlink", "st_size", "st_uid", "st_blocks")}

        def readdir(self, path: str, fh: int) -> list[str]:
            return [".", "..", *os.listdir(real(path))]

        def mkdir(self, path: str, mode: int) -> None:
            os.mkdir(real(path), mode)

        def rmdir(self, path: str) -> None:
            os.rmdir(real(path))

        def statfs(self, path: str) -> dict[str, Any]:
            sv = os.statvfs(real(path))
            return {k: getattr(sv, k) for k in ("f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail",
                                                "f_ffree", "f_files", "f_flag", "f_frsize", "f_namemax")}

        def unlink(self, path: str) -> None:
            os.unlink(real(path))
            journals.pop(real(path), None)

        def rename(self, old: str, new: str) -> None:
            os.rename(real(old), real(new))
            journals.pop(real(new), None)
            if real(old) in journals:
                journals[real(new)] = journals.pop(real(old))

        def link(self, target: str, source: str) -> None:
            os.link(real(source), real(target))

        def symlink(self, target: str, source: str) -> None:
            os.symlink(source, real(target))

        def readlink(self, path: str) -> str:
            return os.readlink(real(path))

        def utimens(self, path: str, times: tuple[float, float] | None = None) -> None:
            os.utime(real(path), times)

        def open(self, path: str, flags: int) -> int:
            # read-write whatever was asked: the journal reads the bytes a write replaces; no O_APPEND, the
            # kernel already turned appends into offsets (and pwrite on an O_APPEND fd ignores the offset)
            return os.open(real(path), (flags & ~(os.O_APPEND | os.O_ACCMODE)) | os.O_RDWR)

        def create(self, path: str, mode: int, fi: Any = None) -> int:
            return os.open(real(path), os.O_RDWR | os.O_CREAT | os.O_TRUNC, mode)

        def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
            return os.pread(fh, size, offset)

        def write(self, path: str, data: bytes, offset: int, fh: int) -> int:
            note_change(real(path), fh, offset, len(data))
            return os.pwrite(fh, data, offset)

        def truncate(self, path: str, length: int, fh: int | None = None) -> None:
            fd = os.open(real(path), os.O_RDWR) if fh is None else fh
            try:
                size = os.fstat(fd).st_size
                note_change(real(path), fd, length, max(0, size - length))
                os.ftruncate(fd, length)
            finally:
                if fh is None:
                    os.close(fd)

        def flush(self, path: str, fh: int) -> None:
            return None

        def release(self, path: str, fh: int) -> None:
            os.close(fh)

        def fsync(self, path: str, datasync: int, fh: int) -> None:
            if state["fail_fsync"]:
                state["failed_fsyncs"] += 1
                if state["first_failure"] is None:
                    state["first_failure"] = time.monotonic()
                raise FuseOSError(errno.EIO)
            os.fsync(fh)
            journals.pop(real(path), None)

        def fsyncdir(self, path: str, datasync: int, fh: int) -> None:
            if state["fail_fsync"]:
                raise FuseOSError(errno.EIO)

    def control_loop(srv: socket.socket) -> None:
        while True:
            conn, _ = srv.accept()
            with conn, conn.makefile("rw") as f:
                for line in f:
                    cmd = line.split()
                    with lock:
                        reply: dict[str, Any]
                        if cmd == ["crash"]:
                            reply = crash()
                        elif cmd[:1] == ["fail-fsync"] and len(cmd) == 2 and cmd[1] in ("on", "off"):
                            state["fail_fsync"] = cmd[1] == "on"
                            if state["fail_fsync"]:  # each injection has its own first failure
                                state["first_failure"] = None
                            reply = {"fail_fsync": state["fail_fsync"]}
                        elif cmd == ["status"]:
                            reply = {**state, "dirty_files": len(journals), "dirty": sorted(journals),
                                     "dirty_bytes": sum(j.pending_bytes for j in journals.values())}
                        else:
                            reply = {"error": f"unknown command {line.strip()!r}"}
                    f.write(json.dumps(reply) + "\n")
                    f.flush()

    with contextlib.suppress(FileNotFoundError):
        os.unlink(control)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(control)
    srv.listen(4)
    threading.Thread(target=control_loop, args=(srv,), daemon=True).start()
    FUSE(Lazy(), mount, foreground=True, nothreads=False, allow_other=True, default_permissions=True,
         attr_timeout=0, entry_timeout=0, negative_timeout=0)


# ---------------------------------------------------------------------------------------------- harness side
def available() -> str | None:
    """None when a lazyfs can be mounted here, else why not."""
    if os.geteuid() != 0:
        return "needs root (mounts a FUSE filesystem)"
    if not os.path.exists("/dev/fuse"):
        return "needs /dev/fuse"
    try:
        import fuse  # type: ignore[import-untyped]  # noqa: F401
    except (ImportError, OSError) as e:
        return f"needs fusepy and libfuse2 (apt install libfuse2): {e}"
    return None


@dataclass
class LazyFS:
    """One mounted lazyfs: `mount` is the member's data dir. Start with `start()`, end with `stop()`."""

    backing: pathlib.Path
    mount: pathlib.Path
    control: pathlib.Path
    log_path: pathlib.Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.backing.mkdir(parents=True, exist_ok=True)
        self.mount.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "raftkv.chaos.nemesis.lazyfs", str(self.backing),
                                          str(self.mount), str(self.control)], stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + MOUNT_TIMEOUT_S
        while not (os.path.ismount(self.mount) and self.control.exists()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise LazyFSError(f"lazyfs on {self.mount} did not mount: {self.log_path.read_text()[-400:]}")
            time.sleep(0.02)

    async def command(self, line: str, timeout: float = 30.0) -> dict[str, Any]:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(self.control)), timeout)
            try:
                writer.write((line + "\n").encode())
                await writer.drain()
                raw = await asyncio.wait_for(reader.readline(), timeout)
            finally:
                writer.close()
        except (OSError, TimeoutError) as e:
            raise LazyFSError(f"lazyfs {self.mount} did not answer {line!r}: {e!r}") from e
        reply: dict[str, Any] = json.loads(raw)
        if "error" in reply:
            raise LazyFSError(reply["error"])
        return reply

    def stop(self) -> None:
        subprocess.run(["umount", "-l", str(self.mount)], check=False, capture_output=True)
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


if __name__ == "__main__":  # pragma: no cover
    if len(sys.argv) != 4:
        sys.exit("usage: python -m raftkv.chaos.nemesis.lazyfs BACKING MOUNT CONTROL_SOCKET")
    _serve(os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3]))
