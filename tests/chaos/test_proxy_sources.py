"""The peer proxy tells diallers apart by the process that owns the socket, and cuts only the chosen ones."""

from __future__ import annotations

import asyncio
import os

import pytest

from raftkv.chaos.nemesis import Direction, LinkProxy
from raftkv.chaos.nemesis.sockets import SocketOwners
from tests.chaos.test_nemesis import _echo_server, _rtt

pytestmark = pytest.mark.e2e


def test_source_cuts_hold_only_the_named_dialler_and_heal_delivers_in_order() -> None:
    async def main() -> None:
        server = await _echo_server()
        owners = SocketOwners(lambda: {"me": os.getpid()})
        proxy = LinkProxy(("127.0.0.1", server.sockets[0].getsockname()[1]), identify=owners.owner)
        await proxy.start()
        try:
            r, w = await asyncio.open_connection("127.0.0.1", proxy.port)
            assert await _rtt(r, w) < 1.0
            assert proxy.sources == {"me": 1}  # identified through /proc, not by address
            proxy.cut_sources(into=frozenset({"someone-else"}))
            assert await _rtt(r, w) < 1.0  # a cut of another member leaves this link alone
            proxy.cut_sources(into=frozenset({"me"}))
            assert proxy.held(Direction.TO_TARGET, "me") and not proxy.held(Direction.FROM_TARGET, "me")
            w.write(b"one")
            await w.drain()
            w.write(b"two")
            await w.drain()
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(r.readexactly(3), 0.3)
            assert not proxy.clean
            proxy.heal()
            assert proxy.clean
            assert await asyncio.wait_for(r.readexactly(6), 5) == b"onetwo"
            proxy.cut_sources(replies=frozenset({"me"}))  # the reply direction alone (etcd's stream bodies)
            w.write(b"ping")
            await w.drain()
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(r.readexactly(4), 0.3)
            assert proxy.bytes[Direction.TO_TARGET] >= 3 + 3 + 4 + 4 + 4
            proxy.heal()
            assert await asyncio.wait_for(r.readexactly(4), 5) == b"ping"
            proxy.set_loss(0.5, rto_ms=100)
            assert await _rtt(r, w) < 5.0
            with pytest.raises(ValueError):
                proxy.set_loss(1.0)
            w.close()
        finally:
            await proxy.close()
            server.close()
            await server.wait_closed()

    asyncio.run(asyncio.wait_for(main(), 60))


def test_an_unidentified_dialler_is_held_while_any_source_cut_is_active() -> None:
    async def main() -> None:
        server = await _echo_server()
        proxy = LinkProxy(("127.0.0.1", server.sockets[0].getsockname()[1]), identify=lambda a, b: None)
        await proxy.start()
        try:
            r, w = await asyncio.open_connection("127.0.0.1", proxy.port)
            assert await _rtt(r, w) < 1.0
            proxy.cut_sources(into=frozenset({"m2"}))
            w.write(b"held")
            await w.drain()
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(r.readexactly(4), 0.3)
            proxy.cut_sources()
            assert await asyncio.wait_for(r.readexactly(4), 5) == b"held"
            w.close()
        finally:
            await proxy.close()
            server.close()
            await server.wait_closed()

    asyncio.run(asyncio.wait_for(main(), 60))
