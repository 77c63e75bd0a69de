"""Write a container's CRI log file to an HTTP response: whole, tailed, or followed until the container stops.

Follow reads what the file gained and, when it gained nothing, asks whether the container still runs; the
stream ends once it does not and the file is drained (the kubelet waits on fsnotify, with the same ending).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from aiohttp import web

from agents.streaming import crilog

FOLLOW_POLL_S = 0.1
READ_CHUNK = 256 * 1024


async def write_log(response: web.StreamResponse, path: str, opts: crilog.LogOptions,
                    running: Callable[[], Awaitable[bool]], gone: Callable[[], bool] = lambda: False) -> None:
    """`gone` tells that the client left: a silent container would otherwise be followed until it writes."""
    renderer = crilog.Renderer(opts)
    try:
        f = open(path, "rb")  # noqa: SIM115 - held across awaits while following
    except FileNotFoundError:
        return  # no output yet: an empty log, as a runtime that has not written one
    with f:
        data = f.read()
        lines, rest = crilog.split_complete(data)
        if opts.tail_lines is not None:
            lines = lines[crilog.tail_start(lines, opts.tail_lines):]
        await _send(response, renderer.render(lines))
        if not opts.follow:
            return
        while not renderer.exhausted:
            chunk = f.read(READ_CHUNK)
            if chunk:
                lines, rest = crilog.split_complete(rest + chunk)
                await _send(response, renderer.render(lines))
                continue
            if gone():
                return
            if not await running():
                lines, rest = crilog.split_complete(rest + f.read())
                await _send(response, renderer.render(lines))
                return
            await asyncio.sleep(FOLLOW_POLL_S)


async def _send(response: web.StreamResponse, parts: object) -> None:
    out = b"".join(parts)  # type: ignore[arg-type]
    if out:
        with contextlib.suppress(ConnectionResetError):
            await response.write(out)
