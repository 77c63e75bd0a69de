"""Relay a client's WebSocket to an upstream WebSocket server, message by message (the API server to a
kubelet, a kubelet to a runtime's streaming URL), as kube's upgrade-aware proxy passes the stream through.

`dial` makes the upstream handshake first so that a refusal (its status and body) can be answered to the
client as an HTTP error before the client's own upgrade; only on 101 is the client upgraded, to the
subprotocol the upstream chose, and then messages flow both ways until either side closes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from agents.streaming import wsframe

HANDSHAKE_TIMEOUT_S = 30.0


class UpstreamRefused(Exception):
    """The upstream answered the upgrade with an HTTP error: its status, content type and body."""

    def __init__(self, status: int, content_type: str, body: bytes) -> None:
        super().__init__(f"upstream answered {status}: {body[:200]!r}")
        self.status = status
        self.content_type = content_type
        self.body = body


@dataclass
class Upstream:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    protocol: str
    leftover: bytes

    def close(self) -> None:
        self.writer.close()


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return status, headers


async def dial(url: str, protocols: list[str], ssl_context: ssl.SSLContext | None,
               timeout: float = HANDSHAKE_TIMEOUT_S) -> Upstream:
    """Open `url` (https:// or http://) and make the WebSocket handshake offering `protocols`."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    reader, writer = await asyncio.wait_for(asyncio.open_connection(
        parts.hostname, port, ssl=ssl_context if parts.scheme == "https" else None,
        server_hostname=parts.hostname if parts.scheme == "https" else None), timeout)
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        lines = [f"GET {target} HTTP/1.1", f"Host: {parts.netloc}", "Upgrade: websocket", "Connection: Upgrade",
                 f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        if protocols:
            lines.append(f"Sec-WebSocket-Protocol: {', '.join(protocols)}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        status, headers = await asyncio.wait_for(_read_head(reader), timeout)
        if status != 101:
            length = int(headers.get("content-length", "0") or 0)
            body = await asyncio.wait_for(reader.readexactly(length), timeout) if length else b""
            raise UpstreamRefused(status, headers.get("content-type", "text/plain"), body)
        if headers.get("sec-websocket-accept") != wsframe.accept_key(key):
            raise UpstreamRefused(502, "text/plain", b"upstream sent a bad Sec-WebSocket-Accept")
        return Upstream(reader, writer, headers.get("sec-websocket-protocol", ""), b"")
    except BaseException:
        writer.close()
        raise


async def relay(request: web.Request, upstream: Upstream) -> web.WebSocketResponse:
    """Upgrade the client to the upstream's protocol and pass messages both ways until one side closes."""
    protocol = upstream.protocol
    ws = web.WebSocketResponse(protocols=(protocol,) if protocol else (), max_msg_size=0, autoping=True)
    await ws.prepare(request)

    def send_up(opcode: int, data: bytes) -> None:
        upstream.writer.write(wsframe.encode(opcode, data, os.urandom(4)))

    async def client_to_upstream() -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await _client_to_upstream()

    async def _client_to_upstream() -> None:
        async for msg in ws:
            if msg.type == WSMsgType.BINARY:
                send_up(wsframe.BINARY, msg.data)
            elif msg.type == WSMsgType.TEXT:
                send_up(wsframe.TEXT, msg.data.encode())
            await upstream.writer.drain()
        code = ws.close_code or 1000
        send_up(wsframe.CLOSE, code.to_bytes(2, "big"))
        await upstream.writer.drain()

    async def upstream_to_client() -> None:
        with contextlib.suppress(ConnectionError, RuntimeError, wsframe.FrameError):
            await _upstream_to_client()

    async def _upstream_to_client() -> None:
        decoder = wsframe.Decoder()
        while data := await upstream.reader.read(64 * 1024):
            for m in decoder.feed(data):
                if m.opcode == wsframe.BINARY:
                    await ws.send_bytes(m.data)
                elif m.opcode == wsframe.TEXT:
                    await ws.send_str(m.data.decode("utf-8", "replace"))
                elif m.opcode == wsframe.PING:
                    send_up(wsframe.PONG, m.data)
                elif m.opcode == wsframe.CLOSE:
                    code = int.from_bytes(m.data[:2], "big") if len(m.data) >= 2 else 1000
                    await ws.close(code=code, message=m.data[2:])
                    return
        await ws.close()

    up = asyncio.ensure_future(client_to_upstream())
    down = asyncio.ensure_future(upstream_to_client())
    try:
        await asyncio.wait([up, down], return_when=asyncio.FIRST_COMPLETED)
        if down.done():
            # the upstream finished (status sent, then close): nothing more to pass up
            up.cancel()
        else:
            # the client went: give the upstream a moment to answer the close, then drop it
            with contextlib.suppress(asyncio.TimeoutError, ConnectionError, wsframe.FrameError):
                await asyncio.wait_for(down, 5.0)
    except (ConnectionError, wsframe.FrameError):
        pass
    finally:
        up.cancel()
        down.cancel()
        upstream.close()
        if not ws.closed:
            await ws.close()
    return ws
