"""exec and attach over a WebSocket (channel.k8s.io v1–v5), server side: one `Process` to one client.

Pumps stdout/stderr to channels 1/2, channel 0 to stdin (v5's close signal ends it), channel 4 to the terminal
size; when the process ended and its output is drained, the exit Status goes on channel 3 (v4+: JSON; older:
the message as text) and the WebSocket closes normally.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from aiohttp import WSMsgType, web

from agents.streaming import channels
from agents.streaming.channels import V4, V5
from agents.streaming.process import Process

log = logging.getLogger("agents.streaming")
RELEASE_AFTER_S = 1.0  # a terminal session whose client sends no size starts anyway after this


def choose_protocol(request: web.Request, supported: tuple[str, ...]) -> str | None:
    offered = channels.offered_protocols(request.headers.get("Sec-WebSocket-Protocol", ""))
    if not offered:
        return channels.V1 if channels.V1 in supported else None
    return channels.pick_protocol(offered, supported)


def is_websocket(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


async def _pump(reader: asyncio.StreamReader, ws: web.WebSocketResponse, channel: int) -> None:
    while True:
        try:
            data = await reader.read(32 * 1024)
        except OSError:  # a pty reads EIO once the last writer is gone
            return
        if not data or ws.closed:
            return
        try:
            await ws.send_bytes(channels.frame(channel, data))
        except (ConnectionError, RuntimeError):  # the client went while we wrote
            return


async def _read_client(ws: web.WebSocketResponse, proc: Process, protocol: str) -> None:
    """Client -> process until the client goes; returns when the WebSocket closed."""
    release = getattr(proc, "release", None)
    async for msg in ws:
        if msg.type not in (WSMsgType.BINARY, WSMsgType.TEXT):
            continue
        raw = msg.data if isinstance(msg.data, bytes) else msg.data.encode()
        m = channels.parse(raw)
        if m is None:
            continue
        if m.channel == channels.STDIN and m.data:
            # typed ahead of the size: the terminal buffers it (and echoes it) until the command reads it
            await proc.write_stdin(m.data)
        elif m.channel == channels.RESIZE:
            size = channels.parse_resize(m.data)
            if size:
                proc.resize(*size)
            if release is not None:  # a terminal's command starts once the client's size is set
                release()
        elif m.channel == channels.CLOSE and protocol == V5 and m.data[:1] == bytes([channels.STDIN]):
            await proc.close_stdin()


async def serve(request: web.Request, proc: Process, protocol: str, command: list[str], *,
                kill_on_close: bool = True) -> web.WebSocketResponse:
    """Upgrade and run the stream to its end. An exec dies with its stream (kill_on_close); an attached
    container does not."""
    ws = web.WebSocketResponse(protocols=(protocol,), max_msg_size=0, autoping=True)
    await ws.prepare(request)
    outputs = ((proc.stdout, channels.STDOUT), (proc.stderr, channels.STDERR))
    pumps = [asyncio.ensure_future(_pump(r, ws, ch)) for r, ch in outputs if r is not None]
    reader = asyncio.ensure_future(_read_client(ws, proc, protocol))
    release = getattr(proc, "release", None)
    timer = asyncio.get_running_loop().call_later(RELEASE_AFTER_S, release) if release is not None else None
    waiter = asyncio.ensure_future(proc.wait())
    try:
        done, _ = await asyncio.wait([reader, waiter], return_when=asyncio.FIRST_COMPLETED)
        if waiter not in done:  # the client left first
            return ws
        code = waiter.result()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.gather(*pumps), 5.0)  # output still buffered after the exit
        if not ws.closed:
            if protocol in (V4, V5):
                await ws.send_bytes(channels.encode_status(channels.exit_status(command, code)))
            elif code:
                message = channels.exit_status(command, code)["message"]
                await ws.send_bytes(channels.frame(channels.ERROR, message.encode()))
            await ws.close()
    except ConnectionError as e:
        log.debug("exec stream ended: %s", e)
    finally:
        if timer is not None:
            timer.cancel()
        for t in (*pumps, reader, waiter):
            t.cancel()
        if kill_on_close:
            proc.kill()
    return ws


async def send_error(request: web.Request, protocol: str, message: str) -> web.WebSocketResponse:
    """Upgrade only to report a failure on channel 3 (how a runtime reports an exec that could not start)."""
    ws = web.WebSocketResponse(protocols=(protocol,))
    await ws.prepare(request)
    if protocol in (V4, V5):
        await ws.send_bytes(channels.frame(channels.ERROR, json.dumps(channels.error_status(message)).encode()))
    else:
        await ws.send_bytes(channels.frame(channels.ERROR, message.encode()))
    await ws.close()
    return ws
