"""A kubelet-like streaming server for e2e tests: the real `KubeletServer` on a loopback port, in a thread with
its own event loop, over an in-memory `StreamingHost` whose "containers" are host processes in a directory.

Tests shape pods directly (`FakeHost.add`), write CRI log lines, mark containers stopped, and run a small HTTP
server as a pod port, so logs, exec, cp and port-forward run end to end against kubectl and the API server.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from agents.kubelet.server import AlwaysAllow, Authorizer, KubeletServer, server_ssl_context
from agents.kubelet.streaming import (
    HostProcess,
    LogSource,
    Process,
    StreamingError,
    StreamURL,
    log_status_error,
)


@dataclass
class FakeContainer:
    name: str
    log_path: str
    previous_log_path: str = ""
    running: bool = True
    ports: dict[int, int] = field(default_factory=dict)  # pod port -> 127.0.0.1 port
    main: HostProcess | None = None  # what attach connects to
    polled: float = 0.0  # when a followed log last asked whether this container runs (time.monotonic)


@dataclass
class FakePod:
    namespace: str
    name: str
    uid: str
    directory: str
    containers: dict[str, FakeContainer]
    waiting_reason: str = ""

    def api_status(self) -> dict[str, Any]:
        """The pod as the kubelet would have written its status (what log_status_error reads)."""
        statuses = []
        for c in self.containers.values():
            if self.waiting_reason:
                state: dict[str, Any] = {"waiting": {"reason": self.waiting_reason}}
            elif c.running:
                state = {"running": {"startedAt": "2026-12-08T00:00:00Z"}}
            else:
                state = {"terminated": {"exitCode": 0, "reason": "Completed", "containerID": f"raftkv://{c.name}"}}
            cs: dict[str, Any] = {"name": c.name, "state": state}
            if c.previous_log_path:
                cs["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error",
                                                  "containerID": f"raftkv://{c.name}-0"}}
            statuses.append(cs)
        return {"metadata": {"name": self.name}, "status": {"containerStatuses": statuses}}


def cri_line(text: str, stream: str = "stdout", when: dt.datetime | None = None, partial: bool = False) -> str:
    stamp = (when or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"{stamp} {stream} {'P' if partial else 'F'} {text}\n"


class FakeHost:
    def __init__(self, root: str) -> None:
        self.root = root
        self.pods: dict[tuple[str, str], FakePod] = {}

    def add(self, namespace: str, name: str, uid: str, containers: list[str], **kw: Any) -> FakePod:
        directory = os.path.join(self.root, namespace, name)
        os.makedirs(directory, exist_ok=True)
        pod = FakePod(namespace, name, uid, directory,
                      {c: FakeContainer(c, os.path.join(directory, f"{c}.log")) for c in containers}, **kw)
        self.pods[(namespace, name)] = pod
        return pod

    def _container(self, namespace: str, pod: str, container: str) -> tuple[FakePod, FakeContainer]:
        p = self.pods.get((namespace, pod))
        if p is None:
            raise StreamingError(404, f'pod "{pod}" does not exist')
        c = p.containers.get(container)
        if c is None:
            raise StreamingError(404, f'container "{container}" not found in pod "{pod}"')
        return p, c

    async def container_log(self, namespace: str, pod: str, container: str, previous: bool) -> LogSource:
        p, c = self._container(namespace, pod, container)
        problem = log_status_error(p.api_status(), container, previous)
        if problem:
            raise StreamingError(400, problem)

        async def running() -> bool:
            c.polled = time.monotonic()
            return c.running and not previous
        return LogSource(c.previous_log_path if previous else c.log_path, running)

    async def exec(self, namespace: str, pod: str, uid: str, container: str, command: list[str], *,
                   stdin: bool, stdout: bool, stderr: bool, tty: bool) -> Process | StreamURL:
        p, c = self._container(namespace, pod, container)
        if not c.running or p.waiting_reason:
            raise StreamingError(500, f'container not found ("{container}")')
        try:
            return await HostProcess.start(command, stdin=stdin, stdout=stdout, stderr=stderr, tty=tty,
                                           cwd=p.directory)
        except OSError as e:
            # what runc reports through the CRI for a missing executable
            raise StreamingError(500, f'failed to exec in container: exec: "{command[0]}": '
                                      f"executable file not found in $PATH: {e.strerror}") from e

    async def attach(self, namespace: str, pod: str, uid: str, container: str, *,
                     stdin: bool, stdout: bool, stderr: bool, tty: bool) -> Process | StreamURL:
        _, c = self._container(namespace, pod, container)
        if c.main is None:
            raise StreamingError(500, f'container not found ("{container}")')
        return c.main

    async def port_forward(self, namespace: str, pod: str, uid: str,
                           port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        p = self.pods.get((namespace, pod))
        if p is None:
            raise StreamingError(404, f'pod "{pod}" does not exist')
        for c in p.containers.values():
            if port in c.ports:
                return await asyncio.open_connection("127.0.0.1", c.ports[port])
        raise ConnectionRefusedError(f"dial tcp4 127.0.0.1:{port}: connect: connection refused")


class LoopThread:
    """An event loop in a daemon thread; `run(coro)` executes a coroutine there and returns its result."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@contextlib.contextmanager
def kubelet(host: FakeHost, node: str, port: int, cert: str, key: str, client_ca: str,
            authorizer: Authorizer | None = None) -> Iterator[LoopThread]:
    """The real KubeletServer for `host` on 127.0.0.1:`port`; stopped on exit."""
    loop = LoopThread()
    server = KubeletServer(host, node, authorizer or AlwaysAllow())
    runner: web.AppRunner = loop.run(server.start("127.0.0.1", port, server_ssl_context(cert, key, client_ca)))
    try:
        yield loop
    finally:
        with contextlib.suppress(Exception):
            loop.run(runner.cleanup(), timeout=10)
        loop.stop()


async def http_server(body: bytes) -> tuple[asyncio.AbstractServer, int]:
    """A tiny HTTP/1.0 server standing for a pod's port: answers every request with `body`."""
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
                         % (len(body), body))
            await writer.drain()
        writer.close()
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def echo_server() -> tuple[asyncio.AbstractServer, int]:
    """A pod port that sends back whatever it receives, until the client closes."""
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(4096):
                writer.write(data)
                await writer.drain()
        writer.close()
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]
