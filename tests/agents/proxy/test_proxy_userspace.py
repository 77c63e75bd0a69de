"""The userspace fallback on loopback: 127.0.0.0/8 is all local, so a 'ClusterIP' of 127.0.0.x needs no alias.
Real TCP and UDP backends on free loopback ports; no root needed."""

from __future__ import annotations

import asyncio
import collections
import socket

import pytest

from agents.proxy.model import Endpoint, ServicePort
from agents.proxy.userspace import Userspace


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def tcp_backend(name: bytes) -> tuple[asyncio.AbstractServer, int]:
    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await r.read(100)
        w.write(name)
        await w.drain()
        w.close()
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def tcp_get(ip: str, port: int) -> bytes:
    r, w = await asyncio.open_connection(ip, port)
    w.write(b"hi")
    await w.drain()
    w.write_eof()
    data = await asyncio.wait_for(r.read(100), 5)
    w.close()
    return data


def sp(port: int, eps: list[Endpoint], ip: str = "127.0.0.77", proto: str = "TCP", **kw: object) -> ServicePort:
    return ServicePort("ns", "web", "http", proto, ip, port, endpoints=tuple(eps), **kw)  # type: ignore[arg-type]


def ep(port: int, ready: bool = True) -> Endpoint:
    return Endpoint("127.0.0.1", port, ready, ready, False, "node1")


@pytest.mark.timeout(60)
def test_tcp_round_robin_readiness_and_removal() -> None:
    async def main() -> None:
        (s1, p1), (s2, p2) = await tcp_backend(b"a"), await tcp_backend(b"b")
        proxy = Userspace("node1")
        port = free_port(socket.SOCK_STREAM)
        try:
            await proxy.sync([sp(port, [ep(p1), ep(p2)])])
            got = collections.Counter([await tcp_get("127.0.0.77", port) for _ in range(10)])
            assert got == {b"a": 5, b"b": 5}
            await proxy.sync([sp(port, [ep(p1), ep(p2, ready=False)])])
            assert {await tcp_get("127.0.0.77", port) for _ in range(6)} == {b"a"}
            await proxy.sync([sp(port, [ep(p2)])])
            assert {await tcp_get("127.0.0.77", port) for _ in range(4)} == {b"b"}
            await proxy.sync([sp(port, [])])
            try:  # no endpoint: closed at once (an EOF, or a reset when our bytes were unread)
                assert await tcp_get("127.0.0.77", port) == b""
            except ConnectionResetError:
                pass
            await proxy.sync([])
            with pytest.raises(OSError):
                await tcp_get("127.0.0.77", port)
        finally:
            proxy.close()
            s1.close()
            s2.close()
    asyncio.run(main())


@pytest.mark.timeout(60)
def test_client_ip_affinity_and_udp() -> None:
    async def main() -> None:
        (s1, p1), (s2, p2) = await tcp_backend(b"a"), await tcp_backend(b"b")
        loop = asyncio.get_running_loop()

        class Echo(asyncio.DatagramProtocol):
            def connection_made(self, t: asyncio.BaseTransport) -> None:
                self.t = t

            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                self.t.sendto(b"echo:" + data, addr)  # type: ignore[attr-defined]
        udp_t, _ = await loop.create_datagram_endpoint(Echo, local_addr=("127.0.0.1", 0))
        up = udp_t.get_extra_info("sockname")[1]
        proxy = Userspace("node1")
        tport, uport = free_port(socket.SOCK_STREAM), free_port(socket.SOCK_DGRAM)
        try:
            await proxy.sync([sp(tport, [ep(p1), ep(p2)], affinity_seconds=600),
                              sp(uport, [ep(up)], proto="UDP", ip="127.0.0.78")])
            assert len({await tcp_get("127.0.0.77", tport) for _ in range(6)}) == 1
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
                c.settimeout(5)
                c.sendto(b"x", ("127.0.0.78", uport))
                assert (await loop.run_in_executor(None, c.recvfrom, 100))[0] == b"echo:x"
        finally:
            proxy.close()
            udp_t.close()
            s1.close()
            s2.close()
    asyncio.run(main())
