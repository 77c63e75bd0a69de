"""Helpers shared by every test directory: free loopback ports, condition polling, and a
registry of the processes tests start so that none outlives the session.

Tests never sleep a fixed time to wait for something: they poll the condition with
`wait_for`, which names what it was waiting for when the deadline passes.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")

STOP_GRACE_S = 10.0
"""How long a process gets to exit after SIGTERM before it is killed."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the kernel picks it for a bind to port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class WaitTimeout(AssertionError):
    """A polled condition did not hold before its deadline."""


class GiveUp(Exception):
    """Raised by a `wait_for` predicate when waiting longer cannot help (the server process died)."""


def wait_for(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    """Poll `predicate` until it returns a truthy value and return that value.

    Exceptions from the predicate count as "not yet" (a server that is still starting refuses
    connections); the last one is quoted in the `WaitTimeout` raised after `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    last_value: object = None
    while True:
        try:
            value = predicate()
            if value:
                return value
            last_value = value
        except GiveUp:
            raise
        except Exception as exc:
            last_exc = exc
        if time.monotonic() >= deadline:
            detail = f"last error: {last_exc!r}" if last_exc is not None else f"last value: {last_value!r}"
            raise WaitTimeout(f"timed out after {timeout:g}s waiting for {what} ({detail})")
        time.sleep(interval)


def _shared_registry() -> dict[int, subprocess.Popen]:
    # Depending on pytest's import mode this file may be loaded twice under two module names (as a
    # conftest, and as `tests.conftest` by test modules); both copies must share one registry.
    for module in list(sys.modules.values()):
        registry = getattr(module, "_STARTED", None)
        if getattr(module, "__file__", None) == __file__ and isinstance(registry, dict):
            return registry
    return {}


_STARTED: dict[int, subprocess.Popen] = _shared_registry()
"""Every process registered by a test and not yet stopped, by PID."""


def register_process(proc: subprocess.Popen) -> subprocess.Popen:
    """Remember `proc` so that `stop_process` or the end of the session stops it."""
    _STARTED[proc.pid] = proc
    return proc


def stop_process(proc: subprocess.Popen, grace: float = STOP_GRACE_S) -> int | None:
    """Stop one process this test session started (SIGTERM, then SIGKILL after `grace` s); its exit code."""
    _STARTED.pop(proc.pid, None)
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def stop_all_processes() -> None:
    for proc in list(_STARTED.values()):
        stop_process(proc, grace=2.0)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Last line of defence: a fixture that forgot to stop a process must not leave an orphan."""
    stop_all_processes()
