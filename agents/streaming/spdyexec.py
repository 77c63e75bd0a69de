"""exec/attach to a runtime's streaming server over SPDY/3.1, bridged from a client's WebSocket.

A runtime whose streaming server predates v5.channel.k8s.io (containerd 1.6) takes WebSockets only up to v4,
which cannot end stdin; kube's kubelet speaks SPDY to runtimes, whose streams half-close. This bridge does the
same: it upgrades to `SPDY/3.1` with `X-Stream-Protocol-Version: v4.channel.k8s.io`, opens the error, stdin,
stdout, stderr and resize streams client-go opens (as the runtime's request expects), and maps them to and from
the client's channels: channel 0 -> stdin (v5's close -> FIN), 4 -> resize, stdout/stderr -> 1/2, and the
error stream's Status -> channel 3 once the runtime finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from agents.streaming import channels, spdy
from agents.streaming.relay import HANDSHAKE_TIMEOUT_S, UpstreamRefused, _read_head

PROTOCOL = "v4.channel.k8s.io"


@dataclass
class Session:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    conn: spdy.Connection = field(default_factory=spdy.Connection)


async def dial(url: str, ssl_context: ssl.SSLContext | None, timeout: float = HANDSHAKE_TIMEOUT_S) -> Session:
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    reader, writer = await asyncio.wait_for(asyncio.open_connection(
        parts.hostname, parts.port or (443 if secure else 80), ssl=ssl_context if secure else None,
        server_hostname=parts.hostname if secure else None), timeout)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        writer.write((f"POST {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: Upgrade\r\n"
                      f"Upgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: {PROTOCOL}\r\nContent-Length: 0\r\n\r\n"
                      ).encode())
        status, headers = await asyncio.wait_for(_read_head(reader), timeout)
        if status != 101:
            length = int(headers.get("content-length", "0") or 0)
            body = await asyncio.wait_for(reader.readexactly(length), timeout) if length else b""
            raise UpstreamRefused(status, headers.get("content-type", "text/plain"), body)
        return Session(reader, writer)
    except BaseException:
        writer.close()
        raise


async def bridge(request: web.Request, session: Session, client_protocol: str, *, stdin: bool, stdout: bool,
                 stderr: bool, tty: bool) -> web.WebSocketResponse:
    conn, w = session.conn, session.writer
    ids: dict[str, int] = {}
    for i, kind in enumerate(k for k, on in (("error", True), ("stdin", stdin), ("stdout", stdout),
                                             ("stderr", stderr and not tty), ("resize", tty)) if on):
        ids[kind] = 2 * i + 1
        w.write(conn.encode_syn_stream(ids[kind], {"streamtype": [kind]}))
    await w.drain()
    to_channel = {ids.get("stdout"): channels.STDOUT, ids.get("stderr"): channels.STDERR}
    ws = web.WebSocketResponse(protocols=(client_protocol,), max_msg_size=0)
    await ws.prepare(request)
    status = bytearray()

    async def from_runtime() -> None:
        with contextlib.suppress(ConnectionError, RuntimeError, spdy.ProtocolError):
            await _from_runtime()

    async def _from_runtime() -> None:
        while data := await session.reader.read(64 * 1024):
            for frame in conn.receive(data):
                if isinstance(frame, spdy.Data):
                    if frame.stream_id == ids["error"]:
                        status.extend(frame.data)
                        if frame.fin:
                            return
                    elif frame.data and frame.stream_id in to_channel:
                        await ws.send_bytes(channels.frame(to_channel[frame.stream_id], frame.data))
                elif isinstance(frame, spdy.Ping):
                    w.write(conn.encode_ping(frame.ping_id))
                elif isinstance(frame, spdy.GoAway):
                    return

    async def from_client() -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await _from_client()

    async def _from_client() -> None:
        async for msg in ws:
            if msg.type != WSMsgType.BINARY or not msg.data:
                continue
            ch, data = msg.data[0], msg.data[1:]
            if ch == channels.STDIN and "stdin" in ids and data:
                w.write(conn.encode_data(ids["stdin"], data))
            elif ch == channels.RESIZE and "resize" in ids:
                w.write(conn.encode_data(ids["resize"], data))
            elif ch == channels.CLOSE and data[:1] == bytes([channels.STDIN]) and "stdin" in ids:
                w.write(conn.encode_data(ids["stdin"], b"", fin=True))
            await w.drain()

    down, up = asyncio.ensure_future(from_runtime()), asyncio.ensure_future(from_client())
    try:
        await asyncio.wait([down, up], return_when=asyncio.FIRST_COMPLETED)
        if down.done() and not ws.closed:
            body = bytes(status) or b'{"metadata":{},"status":"Success"}'
            with contextlib.suppress(ConnectionError):
                await ws.send_bytes(channels.frame(channels.ERROR, body))
                await ws.close()
    finally:
        down.cancel()
        up.cancel()
        w.close()
        if not ws.closed:
            await ws.close()
    return ws
