"""Which event loop raftkv's processes run on: one choice for the member and the API server."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """`coro` to completion on uvloop unless RAFTKV_LOOP=asyncio (or uvloop is missing): same semantics, less
    per-event overhead, and a compiled TLS transport (asyncio's sslproto is pure Python — ~30% of the API server's
    CPU in watch fan-out, by py-spy)."""
    if os.environ.get("RAFTKV_LOOP", "uvloop") == "uvloop":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.run(coro)  # type: ignore[no-any-return]
    return asyncio.run(coro)


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel a background loop and wait until it has unwound, so its owner can close what the loop uses."""
    if task is None:
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
