"""UDP and TCP listeners around the resolver core, and the forwarder for names outside the cluster zone.

Every datagram or TCP message is handled on its own: one that does not parse gets FORMERR (or nothing, if even the
12-byte header is missing), one whose handling fails gets SERVFAIL, and the listeners keep serving. UDP answers
larger than the client's EDNS size (512 without EDNS) are sent truncated (TC), as CoreDNS does, so the client
retries over TCP.
"""

from __future__ import annotations

import asyncio
import logging
import socket
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


CACHE_ENTRIES = 20000


def _cache_key(wire: bytes, tcp: bool) -> tuple[bytes, int] | None:
    """(key, end of the question name) for a plain one-question query, None for anything unusual.

    The key is the header without the ID, the question name in lower case and the rest as sent (type, class, an OPT
    record with its payload size), so one answer serves every client asking the same question the same way."""
    if len(wire) < 17 or wire[4:6] != b"\x00\x01" or wire[6:10] != b"\x00\x00\x00\x00" or wire[2] & 0x80:
        return None
    i = 12
    while True:
        if i >= len(wire):
            return None
        n = wire[i]
        if n == 0:
            break
        if n > 63:
            return None  # compression or extended labels in a question: let the full parser judge it
        i += n + 1
    end = i + 1
    return wire[2:12] + wire[12:end].lower() + wire[end:] + (b"T" if tcp else b"U"), end


@dataclass
class Handler:
    """Turns one wire message into one wire answer (or None to stay silent).

    Answers from the cluster index are kept per question until the index changes (a new Index object): the
    resolver and dnspython's wire writer cost far more than a dictionary look-up, and the cached bytes only need
    the query's ID and the question name's case put back."""
    index: Callable[[], Index]
    settings: resolver.Settings
    serial: Callable[[], int]
    upstreams: list[str]
    forward_timeout: float = 2.0
    upstream_port: int = 53
    stats: Stats = field(default_factory=Stats)
    cache: bool = True
    _cache: dict[bytes, bytes] = field(default_factory=dict)
    _cached_index: object = None

    async def answer(self, wire: bytes, *, tcp: bool) -> bytes | None:
        self.stats.queries += 1
        index = self.index()
        if index is not self._cached_index:
            self._cache.clear()
            self._cached_index = index
        ck = _cache_key(wire, tcp) if self.cache else None
        if ck is not None:
            hit = self._cache.get(ck[0])
            if hit is not None:
                return wire[:2] + hit[2:12] + wire[12:ck[1]] + hit[ck[1]:]
        out, cacheable = await self._answer(wire, index, tcp)
        if ck is not None and out is not None and cacheable:
            if len(self._cache) >= CACHE_ENTRIES:
                self._cache.clear()
            self._cache[ck[0]] = out
        return out

    async def _answer(self, wire: bytes, index: Index, tcp: bool) -> tuple[bytes | None, bool]:
        """The answer and whether it came from the index alone (forwarded or failed answers are not kept)."""
        cacheable = False
        try:
            query = dns.message.from_wire(wire)
        except Exception:  # noqa: BLE001 - garbage from the network: FORMERR, never a crash
            self.stats.formerr += 1
            return _formerr(wire), False
        try:
            result = resolver.resolve(index, query, self.settings, self.serial())
            response = result.response
            if result.forward:
                response = await self._forward(query, tcp)
            else:
                cacheable = True
        except Exception:  # noqa: BLE001 - one bad question must not stop the server
            log.exception("query failed")
            response, cacheable = None, False
        if response is None:
            self.stats.servfail += 1
            response = dns.message.make_response(query)
            response.set_rcode(dns.rcode.SERVFAIL)
            cacheable = False
        return _to_wire(response, query, tcp), cacheable

    async def _forward(self, query: dns.message.Message, tcp: bool) -> dns.message.Message | None:
        """Ask each upstream in turn, over the transport the client used (a TCP client wants the whole answer)."""
        self.stats.forwarded += 1
        for upstream in self.upstreams:
            try:
                if tcp:
                    return await dns.asyncquery.tcp(query, upstream, timeout=self.forward_timeout,
                                                    port=self.upstream_port)
                return await dns.asyncquery.udp(query, upstream, timeout=self.forward_timeout,
                                                port=self.upstream_port, ignore_unexpected=True)
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


async def listen_on(handler: Handler, udp_sock: socket.socket, tcp_sock: socket.socket) -> Listeners:
    """Serve on sockets made elsewhere (inside another network namespace: agents/dns/netns.py)."""
    loop = asyncio.get_running_loop()
    udp, _ = await loop.create_datagram_endpoint(lambda: _UDP(handler), sock=udp_sock)
    tcp = await asyncio.start_server(lambda r, w: _tcp_client(handler, r, w), sock=tcp_sock)
    return Listeners(udp, tcp)


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
