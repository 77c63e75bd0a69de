"""Port-forward, server side, in the two forms clients speak over a WebSocket.

- kubectl 1.32: subprotocol `SPDY/3.1+portforward.k8s.io`, SPDY/3.1 frames inside binary messages. Each
  forwarded connection is a pair of client streams with headers `streamtype` (error|data), `port` and
  `requestid`; once both exist the pod port is dialled and the data stream carries the bytes both ways, the
  error stream any failure text.
- the Python client (and the kubelet's own WebSocket form): `v4.channel.k8s.io` with `port=` parameters, one
  connection per port, channel 2i for its data and 2i+1 for its errors, each channel's first server message
  being the port as two little-endian bytes.

`Dial` opens a connection to a port inside the pod; an OSError's text is what the client is told.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web

from agents.streaming import channels, spdy

log = logging.getLogger("agents.streaming")
Dial = Callable[[int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]
READ_CHUNK = 32 * 1024


def forward_error(pod: str, uid: str, port: int, err: BaseException) -> str:
    return f"error forwarding port {port} to pod {pod}, uid {uid}: {err}"


# ---------------------------------------------------------------------- v4 channels (Python client)
async def serve_channels(request: web.Request, protocol: str, ports: list[int], dial: Dial,
                         describe: Callable[[int, BaseException], str]) -> web.WebSocketResponse:
    """One pod connection per requested port; the WebSocket ends when the client leaves or every pod
    connection has ended (a refused port counts as ended: its error channel says why)."""
    ws = web.WebSocketResponse(protocols=(protocol,), max_msg_size=0)
    await ws.prepare(request)
    writers: dict[int, asyncio.StreamWriter] = {}
    pumps: list[asyncio.Task[None]] = []
    for i, port in enumerate(ports):
        await ws.send_bytes(channels.frame(2 * i, channels.port_prefix(port)))
        await ws.send_bytes(channels.frame(2 * i + 1, channels.port_prefix(port)))
        try:
            reader, writer = await dial(port)
        except OSError as e:
            await ws.send_bytes(channels.frame(2 * i + 1, describe(port, e).encode()))
            continue
        writers[2 * i] = writer
        pumps.append(asyncio.ensure_future(_socket_to_channel(reader, ws, 2 * i)))
    client = asyncio.ensure_future(_channels_to_sockets(ws, writers))
    try:
        if pumps:
            await asyncio.wait([client, asyncio.ensure_future(asyncio.wait(pumps))],
                               return_when=asyncio.FIRST_COMPLETED)
        else:
            await client
    finally:
        client.cancel()
        for t in pumps:
            t.cancel()
        for w in writers.values():
            w.close()
        if not ws.closed:
            with contextlib.suppress(ConnectionError):
                await ws.close()
    return ws


async def _channels_to_sockets(ws: web.WebSocketResponse, writers: dict[int, asyncio.StreamWriter]) -> None:
    async for msg in ws:
        if msg.type != WSMsgType.BINARY or not msg.data:
            continue
        w = writers.get(msg.data[0])
        if w is not None and len(msg.data) > 1:
            w.write(msg.data[1:])
            with contextlib.suppress(ConnectionError):
                await w.drain()


async def _socket_to_channel(reader: asyncio.StreamReader, ws: web.WebSocketResponse, channel: int) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(READ_CHUNK):
            await ws.send_bytes(channels.frame(channel, data))


# ---------------------------------------------------------------------- SPDY/3.1 tunnel (kubectl)
@dataclass
class _Pair:
    port: int
    data_id: int = 0
    error_id: int = 0
    writer: asyncio.StreamWriter | None = None
    task: asyncio.Task[None] | None = None
    pending: bytearray = field(default_factory=bytearray)  # client bytes that came before the pod connection
    client_done: bool = False


@dataclass
class SpdyPortForward:
    """One kubectl port-forward session: SPDY streams paired by requestid, each pair one pod connection."""
    ws: web.WebSocketResponse
    dial: Dial
    describe: Callable[[int, BaseException], str]
    conn: spdy.Connection = field(default_factory=spdy.Connection)
    pairs: dict[str, _Pair] = field(default_factory=dict)
    by_stream: dict[int, _Pair] = field(default_factory=dict)
    last_stream: int = 0

    async def send(self, data: bytes) -> None:
        if not self.ws.closed:
            await self.ws.send_bytes(data)

    async def run(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type != WSMsgType.BINARY:
                    continue
                try:
                    frames = self.conn.receive(msg.data)
                except spdy.ProtocolError as e:
                    log.info("port-forward: %s", e)
                    await self.send(self.conn.encode_goaway(self.last_stream, 1))
                    break
                for frame in frames:
                    await self.handle(frame)
        finally:
            for pair in self.pairs.values():
                if pair.task:
                    pair.task.cancel()
                if pair.writer:
                    pair.writer.close()

    async def handle(self, frame: spdy.Frame) -> None:
        if isinstance(frame, spdy.SynStream):
            await self.open_stream(frame)
        elif isinstance(frame, spdy.Data):
            pair = self.by_stream.get(frame.stream_id)
            if pair is None or frame.stream_id != pair.data_id:
                return
            if pair.writer is None:  # still dialling
                pair.pending += frame.data
                pair.client_done = pair.client_done or frame.fin
                return
            if frame.data:
                pair.writer.write(frame.data)
                with contextlib.suppress(ConnectionError):
                    await pair.writer.drain()
            if frame.fin and pair.writer.can_write_eof():
                with contextlib.suppress(OSError):
                    pair.writer.write_eof()
        elif isinstance(frame, spdy.RstStream):
            pair = self.by_stream.get(frame.stream_id)
            if pair and pair.writer:
                pair.writer.close()
        elif isinstance(frame, spdy.Ping):
            await self.send(self.conn.encode_ping(frame.ping_id))

    async def open_stream(self, frame: spdy.SynStream) -> None:
        self.last_stream = max(self.last_stream, frame.stream_id)
        headers = {k: v[0] for k, v in frame.headers.items() if v}
        kind, port_text = headers.get("streamtype", ""), headers.get("port", "")
        request_id = headers.get("requestid", port_text)
        if kind not in ("data", "error") or not port_text.isdigit():
            await self.send(self.conn.encode_rst_stream(frame.stream_id, spdy.RST_PROTOCOL_ERROR))
            return
        await self.send(self.conn.encode_syn_reply(frame.stream_id, {}))
        pair = self.pairs.setdefault(request_id, _Pair(int(port_text)))
        self.by_stream[frame.stream_id] = pair
        if kind == "data":
            pair.data_id = frame.stream_id
        else:
            pair.error_id = frame.stream_id
        if pair.data_id and pair.error_id and pair.task is None:
            pair.task = asyncio.ensure_future(self.forward(pair))

    async def forward(self, pair: _Pair) -> None:
        try:
            reader, pair.writer = await self.dial(pair.port)
        except OSError as e:
            await self.send(self.conn.encode_data(pair.error_id, self.describe(pair.port, e).encode(), fin=True))
            await self.send(self.conn.encode_data(pair.data_id, b"", fin=True))
            return
        if pair.pending:
            pair.writer.write(bytes(pair.pending))
            pair.pending.clear()
        if pair.client_done and pair.writer.can_write_eof():
            pair.writer.write_eof()
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(READ_CHUNK):
                await self.send(self.conn.encode_data(pair.data_id, data))
        with contextlib.suppress(ConnectionError):
            await self.send(self.conn.encode_data(pair.data_id, b"", fin=True))


async def serve_spdy_tunnel(request: web.Request, dial: Dial,
                            describe: Callable[[int, BaseException], str]) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(protocols=(channels.SPDY_TUNNEL,), max_msg_size=0)
    await ws.prepare(request)
    await SpdyPortForward(ws, dial, describe).run()
    return ws
