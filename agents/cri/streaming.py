"""The CRI server's own streaming endpoint, as containerd has one: Exec, Attach and PortForward answer a
one-time URL on 127.0.0.1, and the kubelet relays the client's WebSocket to it (agents/kubelet/server.py).

The protocols are the kubelet's (channel.k8s.io v1–v5 for exec/attach; v4 channels and kubectl 1.32's SPDY/3.1
tunnel for port-forward), served by the same code in agents/streaming. Exec runs `nsenter` into the container
(joined to its cgroup); port-forward connects from a thread that entered the pod's network namespace, so ports
bound to the pod's localhost work; attach streams what the container writes from now on (from its log: the shim
owns its stdio) and, for a container created with stdin, writes into its stdin through the shim's attach.sock.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from agents.cri import api, linux, logformat, state
from agents.cri.runtime import CRIFailure, ProcessRuntime, join_cgroup
from agents.streaming import channels, portforward, remotecommand
from agents.streaming.process import HostProcess

TOKEN_TTL_S = 60.0  # containerd's streaming server keeps an unused request for a minute
CLONE_NEWNET = 0x40000000


@dataclass
class _Pending:
    kind: str
    request: Any
    expires: float = field(default_factory=lambda: time.monotonic() + TOKEN_TTL_S)


class StreamingServer:
    def __init__(self, rt: ProcessRuntime, address: str = "127.0.0.1", port: int = 0) -> None:
        self.rt = rt
        self.address = address
        self.port = port
        self._pending: dict[str, _Pending] = {}
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/exec/{token}", self._exec)
        app.router.add_get("/attach/{token}", self._attach)
        app.router.add_get("/portforward/{token}", self._portforward)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.address, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, kind: str, request: Any) -> str:
        now = time.monotonic()
        for tok in [t for t, p in self._pending.items() if p.expires < now]:
            del self._pending[tok]
        token = secrets.token_urlsafe(6)
        self._pending[token] = _Pending(kind, request)
        return f"http://{self.address}:{self.port}/{kind}/{token}"

    def _take(self, request: web.Request, kind: str) -> Any:
        pending = self._pending.pop(request.match_info["token"], None)
        if pending is None or pending.kind != kind or pending.expires < time.monotonic():
            raise web.HTTPNotFound(text="invalid or expired token\n")
        return pending.request

    async def _exec(self, request: web.Request) -> web.StreamResponse:
        req: api.ExecRequest = self._take(request, "exec")
        protocol = remotecommand.choose_protocol(request, channels.REMOTECOMMAND_PROTOCOLS) or channels.V1
        try:
            argv, env, cgroup = await asyncio.to_thread(self.rt.exec_argv, req.container_id, list(req.cmd))
        except CRIFailure as e:
            return await remotecommand.send_error(request, protocol, e.message)
        proc = await HostProcess.start(argv, stdin=req.stdin, stdout=req.stdout, stderr=req.stderr and not req.tty,
                                       tty=req.tty, env=dict(e.split("=", 1) for e in env))
        join_cgroup(proc.proc.pid, cgroup)
        return await remotecommand.serve(request, proc, protocol, list(req.cmd))

    async def _attach(self, request: web.Request) -> web.StreamResponse:
        req: api.AttachRequest = self._take(request, "attach")
        protocol = remotecommand.choose_protocol(request, channels.REMOTECOMMAND_PROTOCOLS) or channels.V1
        try:
            c = await asyncio.to_thread(self.rt._container, req.container_id)
        except CRIFailure as e:
            return await remotecommand.send_error(request, protocol, e.message)
        sock = os.path.join(self.rt._cdir(c.id), "attach.sock") if req.stdin and c.stdin else ""
        follower = LogFollower(self.rt, c.id, c.log_path, req.stdout, req.stderr and not req.tty, sock)
        try:
            return await remotecommand.serve(request, follower, protocol, [], kill_on_close=False)
        finally:
            follower.kill()  # the session's end: stop following, and end our stdin connection (stdinOnce)

    async def _portforward(self, request: web.Request) -> web.StreamResponse:
        req: api.PortForwardRequest = self._take(request, "portforward")
        sb = self.rt._sandbox(req.pod_sandbox_id)
        netns = linux.netns_path(sb.netns) if sb.netns else ""

        async def dial(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            sock = await connect_in_netns(netns, port)
            return await asyncio.open_connection(sock=sock)

        def describe(port: int, err: BaseException) -> str:
            return portforward.forward_error(sb.name, sb.uid, port, err)

        offered = channels.offered_protocols(request.headers.get("Sec-WebSocket-Protocol", ""))
        if channels.SPDY_TUNNEL in offered:
            return await portforward.serve_spdy_tunnel(request, dial, describe)
        protocol = channels.pick_protocol(offered, channels.PORTFORWARD_PROTOCOLS) or channels.V4
        ports = [int(p) for raw in request.query.getall("port", []) for p in raw.split(",") if p.strip().isdigit()]
        return await portforward.serve_channels(request, protocol, ports or list(req.port), dial, describe)


async def connect_in_netns(netns: str, port: int, timeout: float = 5.0) -> socket.socket:
    """A TCP connection to localhost:`port` inside a network namespace. setns applies to the calling thread only,
    so a short-lived thread enters the namespace, connects, and ends; the socket stays in that namespace."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[socket.socket] = loop.create_future()

    def work() -> None:
        try:
            if netns:
                libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
                fd = os.open(netns, os.O_RDONLY)
                try:
                    if libc.setns(fd, CLONE_NEWNET) != 0:
                        e = ctypes.get_errno()
                        raise OSError(e, f"setns {netns}: {os.strerror(e)}")
                finally:
                    os.close(fd)
            sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
            sock.setblocking(False)
            loop.call_soon_threadsafe(done.set_result, sock)
        except BaseException as e:  # noqa: BLE001 - handed to the awaiting coroutine
            loop.call_soon_threadsafe(done.set_exception, e)

    threading.Thread(target=work, name="cri-netns-dial", daemon=True).start()
    return await done


def _unix_connect(path: str) -> socket.socket:
    """Connect through /proc/self/fd/<dir>: the socket's full path may be longer than sun_path's 108 bytes."""
    dfd = os.open(os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY)
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(f"/proc/self/fd/{dfd}/{os.path.basename(path)}")
    finally:
        os.close(dfd)
    sock.setblocking(False)
    return sock


class LogFollower:
    """An attached container as a streaming Process: its output from now on, read back from its CRI log."""

    def __init__(self, rt: ProcessRuntime, cid: str, path: str, stdout: bool, stderr: bool,
                 stdin_socket: str = "") -> None:
        self.rt, self.cid, self.path = rt, cid, path
        self._stdin_socket = stdin_socket
        self._stdin: asyncio.StreamWriter | None = None
        self.stdout = asyncio.StreamReader() if stdout else None
        self.stderr = asyncio.StreamReader() if stderr else None
        self._task = asyncio.ensure_future(self._follow())

    async def _follow(self) -> None:
        try:
            with open(self.path, "rb") as f:
                f.seek(0, os.SEEK_END)
                buf = b""
                while True:
                    chunk = f.read(65536)
                    if not chunk:
                        if await asyncio.to_thread(self._exited):
                            break
                        await asyncio.sleep(0.05)
                        continue
                    buf += chunk
                    *lines, buf = buf.split(b"\n")
                    for line in lines:
                        try:
                            rec = logformat.parse(line)
                        except ValueError:
                            continue
                        target = self.stdout if rec.stream == "stdout" else self.stderr
                        if target is not None:
                            target.feed_data(rec.content + (b"" if rec.partial else b"\n"))
        finally:
            for r in (self.stdout, self.stderr):
                if r is not None:
                    r.feed_eof()

    def _exited(self) -> bool:
        try:
            return self.rt._container(self.cid).state != state.RUNNING
        except CRIFailure:
            return True

    async def write_stdin(self, data: bytes) -> None:
        """Into the container's stdin, through its shim's attach.sock (containers created with stdin: true)."""
        if not self._stdin_socket:
            return
        if self._stdin is None:
            try:
                _, self._stdin = await asyncio.open_unix_connection(sock=_unix_connect(self._stdin_socket))
            except OSError:
                self._stdin_socket = ""
                return
        self._stdin.write(data)
        await self._stdin.drain()

    async def close_stdin(self) -> None:
        if self._stdin is not None:
            self._stdin.close()
            self._stdin = None
        self._stdin_socket = ""

    def resize(self, width: int, height: int) -> None:
        return None

    async def wait(self) -> int:
        await asyncio.shield(self._task)
        try:
            return (await asyncio.to_thread(self.rt._container, self.cid)).exit_code
        except CRIFailure:
            return 0

    def kill(self) -> None:
        self._task.cancel()
        if self._stdin is not None:
            self._stdin.close()
