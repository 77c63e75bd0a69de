"""UDP and TCP listeners around the resolver core, and the forwarder for names outside the cluster zone.

Every datagram or TCP message is handled on its own: one that does not parse gets FORMERR (or nothing, if even the
12-byte header is missing), one whose handling fails gets SERVFAIL, and the listeners keep serving. UDP answers
larger than the client's EDNS size (512 without EDNS) are sent truncated (TC), as CoreDNS does, so the client
retries over TCP.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.rcode

from agents.dns import resolver
from agents.dns.records import Index

log = logging.getLogger("raftkv-dns")
MAX_TCP_MESSAGE = 65535
TCP_IDLE_S = 10.0


def upstreams_from_resolv_conf(text: str, exclude: set[str]) -> list[str]:
    """The nameservers of the host's resolv.conf, minus our own address (no forwarding loop)."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver" and parts[1] not in exclude:
            out.append(parts[1])
    return out


@dataclass
class Stats:
    queries: int = 0
    formerr: int = 0
    servfail: int = 0
    forwarded: int = 0


@dataclass
class Handler:
    """Turns one wire message into one wire answer (or None to stay silent)."""
    index: Callable[[], Index]
    settings: resolver.Settings
    serial: Callable[[], int]
    upstreams: list[str]
    forward_timeout: float = 2.0
    stats: Stats = field(default_factory=Stats)

    async def answer(self, wire: bytes, *, tcp: bool) -> bytes | None:
        self.stats.queries += 1
        try:
            query = dns.message.from_wire(wire)
        except Exception:  # noqa: BLE001 - garbage from the network: FORMERR, never a crash
            self.stats.formerr += 1
            return _formerr(wire)
        try:
            result = resolver.resolve(self.index(), query, self.settings, self.serial())
            response = result.response
            if result.forward:
                response = await self._forward(query)
        except Exception:  # noqa: BLE001 - one bad question must not stop the server
            log.exception("query failed")
            response = None
        if response is None:
            self.stats.servfail += 1
            response = dns.message.make_response(query)
            response.set_rcode(dns.rcode.SERVFAIL)
        return _to_wire(response, query, tcp)

    async def _forward(self, query: dns.message.Message) -> dns.message.Message | None:
        self.stats.forwarded += 1
        for upstream in self.upstreams:
            try:
                return await dns.asyncquery.udp(query, upstream, timeout=self.forward_timeout,
                                                ignore_unexpected=True)
            except (dns.exception.DNSException, OSError) as e:
                log.info("forward to %s: %s", upstream, e)
        return None


def _formerr(wire: bytes) -> bytes | None:
    if len(wire) < 12:
        return None
    qid, flags = struct.unpack("!HH", wire[:4])
    if flags & 0x8000:
        return None  # a response, not a query: never answer those (reflection loops)
    return struct.pack("!HHHHHH", qid, 0x8000 | (flags & 0x7900) | dns.rcode.FORMERR, 0, 0, 0, 0)


def _to_wire(response: dns.message.Message, query: dns.message.Message, tcp: bool) -> bytes:
    limit = MAX_TCP_MESSAGE if tcp else max(512, query.payload if query.edns >= 0 else 512)
    try:
        return response.to_wire(max_size=limit)
    except dns.exception.TooBig:
        response.answer.clear()
        response.authority.clear()
        response.additional.clear()
        response.flags |= dns.flags.TC
        return response.to_wire(max_size=limit)


class _UDP(asyncio.DatagramProtocol):
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.transport: asyncio.DatagramTransport | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # the selector's UDP transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        task = asyncio.get_running_loop().create_task(self._reply(data, addr))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _reply(self, data: bytes, addr: tuple[str, int]) -> None:
        out = await self.handler.answer(data, tcp=False)
        if out is not None and self.transport is not None:
            self.transport.sendto(out, addr)


async def _tcp_client(handler: Handler, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await asyncio.wait_for(reader.readexactly(2), TCP_IDLE_S)
            (size,) = struct.unpack("!H", head)
            wire = await asyncio.wait_for(reader.readexactly(size), TCP_IDLE_S)
            out = await handler.answer(wire, tcp=True)
            if out is None:
                break
            writer.write(struct.pack("!H", len(out)) + out)
            await writer.drain()
    except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
        pass
    finally:
        writer.close()


@dataclass
class Listeners:
    udp: asyncio.DatagramTransport
    tcp: asyncio.Server

    @property
    def port(self) -> int:
        return int(self.udp.get_extra_info("sockname")[1])

    def close(self) -> None:
        self.udp.close()
        self.tcp.close()


async def listen(handler: Handler, host: str, port: int, attempts: int = 20) -> Listeners:
    """UDP and TCP on the same host:port (port 0: a free UDP port with TCP free on the same number, retried)."""
    loop = asyncio.get_running_loop()
    for attempt in range(attempts if port == 0 else 1):
        udp, _ = await loop.create_datagram_endpoint(lambda: _UDP(handler), local_addr=(host, port))
        bound = udp.get_extra_info("sockname")[1]
        try:
            tcp = await asyncio.start_server(lambda r, w: _tcp_client(handler, r, w), host, bound,
                                             reuse_address=True)
        except OSError:
            udp.close()
            if port != 0 or attempt == attempts - 1:
                raise
            continue
        return Listeners(udp, tcp)
    raise OSError("no port free for both UDP and TCP")
