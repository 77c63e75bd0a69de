"""A host process as a streaming `Process` (exec and attach): pipes, or a pseudo-terminal when tty is asked.

The process runtime execs into a container by running `nsenter`/`unshare` on the host, and test doubles run
commands directly, so both hand the streaming server this one wrapper around asyncio's subprocess.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import struct
import termios
from collections.abc import Mapping
from typing import Protocol


class Process(Protocol):
    """A running exec or an attached container: its pipes (None when not asked for) and its end."""
    stdout: asyncio.StreamReader | None
    stderr: asyncio.StreamReader | None

    async def write_stdin(self, data: bytes) -> None: ...
    async def close_stdin(self) -> None: ...
    def resize(self, width: int, height: int) -> None: ...
    async def wait(self) -> int: ...
    def kill(self) -> None: ...


class HostProcess:
    """stdout/stderr are StreamReaders (None when not asked for); with a tty, stderr is merged into stdout."""

    def __init__(self, proc: asyncio.subprocess.Process, stdout: asyncio.StreamReader | None,
                 stderr: asyncio.StreamReader | None, master_fd: int | None, gate: int | None = None) -> None:
        self.proc = proc
        self.stdout = stdout
        self.stderr = stderr
        self._master = master_fd
        self._gate = gate

    @classmethod
    async def start(cls, argv: list[str], *, stdin: bool, stdout: bool, stderr: bool, tty: bool,
                    cwd: str | None = None, env: Mapping[str, str] | None = None) -> HostProcess:
        """Raises OSError (FileNotFoundError for a missing executable) as exec would."""
        if tty:
            return await cls._start_tty(argv, cwd=cwd, env=env)
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE if stdout else asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE if stderr else asyncio.subprocess.DEVNULL,
            cwd=cwd, env=dict(env) if env is not None else None, start_new_session=True)
        return cls(proc, proc.stdout, proc.stderr, None)

    @classmethod
    async def _start_tty(cls, argv: list[str], *, cwd: str | None, env: Mapping[str, str] | None) -> HostProcess:
        """With a terminal the command waits (in a host shell, before exec) until `release`: the client's first
        resize comes just after the upgrade, and a program reading its size at once must not see 0x0. Input that
        arrives first (kubectl sends stdin and the size concurrently) waits in the terminal, as typed ahead."""
        master, slave = os.openpty()
        gate_r, gate_w = os.pipe()
        wrapped = ["/bin/sh", "-c", f'read -r _ < /proc/self/fd/{gate_r}; exec "$@"', "sh", *argv]
        try:
            proc = await asyncio.create_subprocess_exec(
                *wrapped, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, pass_fds=(gate_r,),
                env=dict(env) if env is not None else None, start_new_session=True,
                preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
        except BaseException:
            os.close(master)
            os.close(gate_w)
            raise
        finally:
            os.close(slave)
            os.close(gate_r)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        reader_fd = os.dup(master)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(reader_fd, "rb", 0))
        return cls(proc, reader, None, master, gate_w)

    def release(self) -> None:
        """Let a terminal session's command start (once its size is set); a no-op otherwise or again."""
        if self._gate is not None:
            with contextlib.suppress(OSError):
                os.write(self._gate, b"\n")
            os.close(self._gate)
            self._gate = None

    async def write_stdin(self, data: bytes) -> None:
        if self._master is not None:
            await asyncio.get_running_loop().run_in_executor(None, os.write, self._master, data)
            return
        if self.proc.stdin is None or self.proc.stdin.is_closing():
            return
        self.proc.stdin.write(data)
        with contextlib.suppress(ConnectionError):
            await self.proc.stdin.drain()

    async def close_stdin(self) -> None:
        if self._master is not None:
            with contextlib.suppress(OSError):
                os.write(self._master, b"\x04")  # a terminal's end of input is ^D
            return
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()

    def resize(self, width: int, height: int) -> None:
        if self._master is not None:
            with contextlib.suppress(OSError):
                fcntl.ioctl(self._master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))

    async def wait(self) -> int:
        code = await self.proc.wait()
        if self._master is not None:
            with contextlib.suppress(OSError):
                os.close(self._master)
            self._master = None
        # a signal's death reads as 128+N, as a shell and the runtimes report it
        return 128 - code if code < 0 else code

    def kill(self) -> None:
        self.release()
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
