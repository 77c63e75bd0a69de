"""An asyncio TCP proxy in front of one member's peer port, able to delay, blackhole or drop each direction.

The kernel here has no netem, so this is the only source of latency; etcd's robustness tests use the same
idea. "to_target" is bytes flowing into the proxied member, "from_target" bytes it sends back. Modes:
pass; delay (ms ± jitter, order kept); blackhole (bytes held and delivered in order on heal, like an
iptables DROP on an established connection); drop (bytes discarded: the stream is corrupted, so the peer
will usually reset the connection). Each mode applies per direction, so one direction can be cut alone.

Source filtering: with an `identify` callback the proxy learns which member dialled each connection, and
`cut_sources(into, replies)` holds the bytes from (`into`) or back to (`replies`) chosen members only, so one
proxy per listening member is enough for any member-pair partition. A connection whose dialler cannot be
identified is held whenever any source cut is active on its direction (fail closed: a leaky partition would
give a false pass; over-cutting only costs availability).

Loss: TCP turns a lost segment into a retransmission after a timeout, holding everything behind it. The proxy
models that: with probability `loss`, a chunk (and so the stream behind it) is held for `rto_ms` more.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import random
from collections.abc import Callable
from dataclasses import dataclass

CHUNK = 64 * 1024
MAX_DELAY_MS = 60_000
MAX_HELD_BYTES = 64 * 1024 * 1024
DEFAULT_RTO_MS = 200.0
UNKNOWN = "?"


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


class LinkProxy:
    """listen on (host, port 0 by default) → target. Start with `await start()`, stop with `await close()`."""

    def __init__(self, target: tuple[str, int], host: str = "127.0.0.1", port: int = 0,
                 rng: random.Random | None = None,
                 identify: Callable[[int, int], str | None] | None = None) -> None:
        self.target = target
        self.host = host
        self.port = port
        self.rng = rng or random.Random(0)
        self.links = {d: LinkState() for d in Direction}
        self.identify = identify
        self.cuts: dict[Direction, frozenset[str]] = {d: frozenset() for d in Direction}
        self.loss = 0.0
        self.rto_ms = DEFAULT_RTO_MS
        self.sources: dict[str, int] = {}  # dialler name -> connections accepted from it
        self._changed = asyncio.Event()
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
        self._notify()

    def cut_sources(self, into: frozenset[str] = frozenset(), replies: frozenset[str] = frozenset()) -> None:
        """Hold bytes dialled in from `into` members, and reply bytes going back to `replies` members."""
        self.cuts = {Direction.TO_TARGET: frozenset(into), Direction.FROM_TARGET: frozenset(replies)}
        self._notify()

    def set_loss(self, probability: float, rto_ms: float = DEFAULT_RTO_MS) -> None:
        if not 0 <= probability < 1 or not 0 < rto_ms <= MAX_DELAY_MS:
            raise ValueError("loss must be in [0, 1) and the RTO in (0, 60000] ms")
        self.loss, self.rto_ms = probability, rto_ms

    def heal(self) -> None:
        """Everything passes again: modes, source cuts and loss are cleared, held bytes flow in order."""
        self.loss = 0.0
        self.cuts = {d: frozenset() for d in Direction}
        self.set(None, Mode.PASS)

    @property
    def clean(self) -> bool:
        """Nothing delayed, held, dropped or lost."""
        return (self.loss == 0 and not any(self.cuts.values())
                and all(s.mode == Mode.PASS for s in self.links.values()))

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def held(self, d: Direction, source: str) -> bool:
        """Whether bytes in direction `d` on a connection dialled by `source` are held right now."""
        if self.links[d].mode == Mode.BLACKHOLE:
            return True
        cut = self.cuts[d]
        return bool(cut) and (source in cut or source == UNKNOWN)

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
        source = UNKNOWN
        if self.identify is not None:
            peer = writer.get_extra_info("peername")
            for _ in range(20):  # the dialler's socket is in /proc at once; retry briefly just in case
                source = self.identify(int(peer[1]), self.port) or UNKNOWN
                if source != UNKNOWN:
                    break
                await asyncio.sleep(0.005)
        self.sources[source] = self.sources.get(source, 0) + 1
        self._writers.update((writer, up_w))
        a = asyncio.create_task(self._pump(reader, up_w, Direction.TO_TARGET, source))
        b = asyncio.create_task(self._pump(up_r, writer, Direction.FROM_TARGET, source))
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

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, d: Direction,
                    source: str = UNKNOWN) -> None:
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
                while True:
                    changed = self._changed
                    if not self.held(d, source):
                        break
                    await changed.wait()
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
                if self.loss and self.rng.random() < self.loss:
                    delay += self.rto_ms / 1000
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
