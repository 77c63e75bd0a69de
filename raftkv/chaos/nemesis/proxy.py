"""An asyncio TCP proxy in front of one member's peer port, able to delay, blackhole or drop each direction.

The kernel here has no netem, so this is the only source of latency; etcd's robustness tests use the same
idea. "to_target" is bytes flowing into the proxied member, "from_target" bytes it sends back. Modes:
pass; delay (ms ± jitter, order kept); blackhole (bytes held and delivered in order on heal, like an
iptables DROP on an established connection); drop (bytes discarded: the stream is corrupted, so the peer
will usually reset the connection). Each mode applies per direction, so one direction can be cut alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import random
from dataclasses import dataclass, field

CHUNK = 64 * 1024
MAX_DELAY_MS = 60_000
MAX_HELD_BYTES = 64 * 1024 * 1024


class Direction(enum.Enum):
    TO_TARGET = "to_target"
    FROM_TARGET = "from_target"


class Mode(enum.Enum):
    PASS = "pass"
    DELAY = "delay"
    BLACKHOLE = "blackhole"
    DROP = "drop"


@dataclass
class LinkState:
    mode: Mode = Mode.PASS
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    healed: asyncio.Event = field(default_factory=asyncio.Event)


class LinkProxy:
    """listen on (host, port 0 by default) → target. Start with `await start()`, stop with `await close()`."""

    def __init__(self, target: tuple[str, int], host: str = "127.0.0.1", port: int = 0,
                 rng: random.Random | None = None) -> None:
        self.target = target
        self.host = host
        self.port = port
        self.rng = rng or random.Random(0)
        self.links = {d: LinkState() for d in Direction}
        for s in self.links.values():
            s.healed.set()
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.bytes = {d: 0 for d in Direction}
        self.dropped = {d: 0 for d in Direction}

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def set(self, direction: Direction | None, mode: Mode, delay_ms: float = 0.0, jitter_ms: float = 0.0) -> None:
        """Apply a mode to one direction (or both when `direction` is None). Delays are bounded."""
        if not 0 <= delay_ms <= MAX_DELAY_MS or not 0 <= jitter_ms <= delay_ms:
            raise ValueError(f"delay must be 0..{MAX_DELAY_MS} ms with 0 <= jitter <= delay")
        for d in [direction] if direction else list(Direction):
            s = self.links[d]
            s.mode, s.delay_ms, s.jitter_ms = mode, delay_ms, jitter_ms
            if mode == Mode.BLACKHOLE:
                s.healed.clear()
            else:
                s.healed.set()

    def heal(self) -> None:
        self.set(None, Mode.PASS)

    def delay(self, ms: float, jitter_ms: float = 0.0, direction: Direction | None = None) -> None:
        self.set(direction, Mode.DELAY, ms, jitter_ms)

    def blackhole(self, direction: Direction | None = None) -> None:
        self.set(direction, Mode.BLACKHOLE)

    def drop(self, direction: Direction | None = None) -> None:
        self.set(direction, Mode.DROP)

    def reset_connections(self) -> None:
        """Abort every proxied connection (both sides see a reset)."""
        for w in list(self._writers):
            w.transport.abort()

    async def close(self) -> None:
        if self._server:
            self._server.close()
        self.reset_connections()
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        if self._server:
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_w))
        a = asyncio.create_task(self._pump(reader, up_w, Direction.TO_TARGET))
        b = asyncio.create_task(self._pump(up_r, writer, Direction.FROM_TARGET))
        self._tasks.update((a, b))
        try:
            await asyncio.wait({a, b}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (a, b):
                t.cancel()
            for w in (writer, up_w):
                w.transport.abort()
                self._writers.discard(w)
            self._tasks.difference_update((a, b))

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, d: Direction) -> None:
        """Copy one direction; a delay keeps order by never scheduling a chunk before the previous one."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        held = 0

        async def deliver() -> None:
            nonlocal held
            while True:
                at, data = await queue.get()
                wait = at - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                await self.links[d].healed.wait()
                writer.write(data)
                held -= len(data)
                await writer.drain()

        sender = asyncio.create_task(deliver())
        last_at = 0.0
        try:
            while True:
                data = await reader.read(CHUNK)
                if not data:
                    break
                s = self.links[d]
                if s.mode == Mode.DROP:
                    self.dropped[d] += len(data)
                    continue
                self.bytes[d] += len(data)
                delay = 0.0
                if s.mode == Mode.DELAY:
                    delay = max(0.0, s.delay_ms + self.rng.uniform(-s.jitter_ms, s.jitter_ms)) / 1000
                last_at = max(loop.time() + delay, last_at)
                held += len(data)
                if held > MAX_HELD_BYTES:
                    break  # a blackhole held too long: give up the connection like a TCP timeout would
                queue.put_nowait((last_at, data))
            while not queue.empty() and not sender.done():
                await asyncio.sleep(0.01)
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender
