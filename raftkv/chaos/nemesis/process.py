"""kill -9, SIGSTOP and SIGCONT, only ever on PIDs the harness itself started and registered."""

from __future__ import annotations

import os
import signal
import subprocess


class NotOurProcessError(LookupError):
    """The nemesis was asked to signal a process the harness did not start (or that already exited)."""


class ProcessTable:
    """Named child processes; every signal goes to a PID from this table, never to a name pattern."""

    def __init__(self) -> None:
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self.paused: set[str] = set()

    def register(self, name: str, proc: subprocess.Popen[bytes]) -> None:
        self._procs[name] = proc
        self.paused.discard(name)

    def pid(self, name: str) -> int:
        proc = self._procs.get(name)
        if proc is None or proc.poll() is not None:
            raise NotOurProcessError(f"{name!r} is not a running process started by this harness")
        return proc.pid

    def alive(self, name: str) -> bool:
        proc = self._procs.get(name)
        return proc is not None and proc.poll() is None

    def pids(self) -> dict[str, int]:
        """name -> PID of every live child (for telling which member owns a socket)."""
        return {n: p.pid for n, p in self._procs.items() if p.poll() is None}

    def returncode(self, name: str) -> int | None:
        proc = self._procs.get(name)
        return None if proc is None else proc.poll()

    def sigterm(self, name: str) -> None:
        """Ask for a graceful stop (a paused process is resumed first so it can act on it)."""
        pid = self.pid(name)
        if name in self.paused:
            self.resume(name)
        os.kill(pid, signal.SIGTERM)

    def forget(self, name: str) -> None:
        """Drop a member that has exited (e.g. removed from the cluster) from the table."""
        proc = self._procs.pop(name, None)
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        self.paused.discard(name)

    def kill9(self, name: str) -> None:
        """SIGKILL and reap; a paused process is killed too (SIGKILL needs no SIGCONT)."""
        pid = self.pid(name)
        os.kill(pid, signal.SIGKILL)
        self._procs[name].wait()
        self.paused.discard(name)

    def pause(self, name: str) -> None:
        os.kill(self.pid(name), signal.SIGSTOP)
        self.paused.add(name)

    def resume(self, name: str) -> None:
        os.kill(self.pid(name), signal.SIGCONT)
        self.paused.discard(name)

    def stop_all(self) -> None:
        """Teardown: resume anything paused, then SIGKILL and reap every live child we own."""
        for name, proc in self._procs.items():
            if proc.poll() is None:
                if name in self.paused:
                    os.kill(proc.pid, signal.SIGCONT)
                proc.kill()
                proc.wait()
        self.paused.clear()
