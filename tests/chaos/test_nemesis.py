"""The nemesis mechanisms on real sockets and processes: proxy modes per direction, signals by owned PID."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time

import pytest

from raftkv.chaos.nemesis import Direction, LinkProxy, NotOurProcessError, ProcessTable
from raftkv.chaos.nemesis.proxy import Mode

pytestmark = pytest.mark.e2e


async def _echo_server() -> asyncio.base_events.Server:
    async def echo(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await r.read(1024):
                w.write(data)
                await w.drain()
        w.close()

    return await asyncio.start_server(echo, "127.0.0.1", 0)


async def _rtt(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, payload: bytes = b"ping") -> float:
    loop = asyncio.get_running_loop()
    t = loop.time()
    writer.write(payload)
    await writer.drain()
    assert await asyncio.wait_for(reader.readexactly(len(payload)), 10) == payload
    return loop.time() - t


def test_proxy_pass_delay_blackhole_heal_and_one_way() -> None:
    async def main() -> None:
        server = await _echo_server()
        proxy = LinkProxy(("127.0.0.1", server.sockets[0].getsockname()[1]))
        await proxy.start()
        try:
            r, w = await asyncio.open_connection("127.0.0.1", proxy.port)
            assert await _rtt(r, w) < 0.1
            proxy.delay(100)  # each direction: 100 ms
            rtt = await _rtt(r, w)
            assert 0.19 < rtt < 1.0, rtt
            proxy.blackhole(Direction.FROM_TARGET)  # replies held, requests still delivered
            w.write(b"held")
            await w.drain()
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(r.readexactly(4), 0.3)
            assert proxy.bytes[Direction.TO_TARGET] >= 4 + 4 + 4
            proxy.heal()
            assert await asyncio.wait_for(r.readexactly(4), 5) == b"held"
            proxy.drop(Direction.TO_TARGET)
            w.write(b"lost")
            await w.drain()
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(r.readexactly(4), 0.3)
            assert proxy.dropped[Direction.TO_TARGET] == 4
            proxy.heal()
            assert await _rtt(r, w) < 0.5
            proxy.reset_connections()
            assert await asyncio.wait_for(r.read(), 5) == b""
            with pytest.raises(ValueError):
                proxy.set(None, Mode.DELAY, delay_ms=-1)
            w.close()
        finally:
            await proxy.close()
            server.close()
            await server.wait_closed()

    asyncio.run(asyncio.wait_for(main(), 60))


def wait_state(pid: int, states: str, timeout: float = 10.0) -> None:
    """Signals are delivered asynchronously: poll /proc for the process state."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        if state in states:
            return
        time.sleep(0.01)
    raise AssertionError(f"process {pid} is in state {state}, expected one of {states!r}")


def test_process_table_signals_only_its_own_children() -> None:
    table = ProcessTable()
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        table.register("sleeper", proc)
        with pytest.raises(NotOurProcessError):
            table.kill9("someone-else")
        table.pause("sleeper")
        assert "sleeper" in table.paused
        wait_state(proc.pid, "T")
        table.resume("sleeper")
        wait_state(proc.pid, "SR")
        table.kill9("sleeper")
        assert proc.returncode == -9
        assert not table.alive("sleeper")
        with pytest.raises(NotOurProcessError):
            table.pause("sleeper")
    finally:
        table.stop_all()
