"""The userspace fallback where iptables cannot be used: asyncio TCP and UDP forwarders per service port.

Each service port gets a listener on its ClusterIP:port (when that address is local: a loopback alias, or any
127.x address) and, for NodePorts, on every --nodeport-addresses IP (default 0.0.0.0). A connection (TCP) or a
client's first datagram (UDP) picks the next ready endpoint round robin, from the endpoints of the moment, so a
removed endpoint gets no new traffic at once; ClientIP affinity keeps a client on its endpoint for the timeout.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from agents.proxy.model import Endpoint, ServicePort
from agents.proxy.rules import categorize

log = logging.getLogger("raftkv-proxy")
UDP_IDLE_S = 60.0
CONNECT_TIMEOUT_S = 5.0


def _key(sp: ServicePort) -> tuple[str, str, str, str]:
    return (sp.namespace, sp.name, sp.port_name, sp.protocol)


@dataclass
class _Backend:
    """The live endpoint list of one service port, swapped on every sync; listeners read it per connection."""
    port: ServicePort
    node_name: str
    next: int = 0
    affinity: dict[str, tuple[Endpoint, float]] = field(default_factory=dict)

    def pick(self, client_ip: str, external: bool) -> Endpoint | None:
        cluster, local, _, _ = categorize(self.port, self.node_name)
        local_policy = self.port.external_policy_local if external else self.port.internal_local
        eps = local if local_policy else cluster
        if not eps:
            return None
        now = time.monotonic()
        if self.port.affinity_seconds:
            held = self.affinity.get(client_ip)
            if held and held[0] in eps and now - held[1] < self.port.affinity_seconds:
                self.affinity[client_ip] = (held[0], now)
                return held[0]
        ep = eps[self.next % len(eps)]
        self.next += 1
        if self.port.affinity_seconds:
            self.affinity[client_ip] = (ep, now)
        return ep


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        try:
            writer.write_eof()
        except (OSError, RuntimeError):
            writer.close()


class _UDPRelay(asyncio.DatagramProtocol):
    """One listener; per client address an upstream socket to the endpoint chosen for it."""

    def __init__(self, backend: _Backend, external: bool) -> None:
        self.backend, self.external = backend, external
        self.transport: asyncio.DatagramTransport | None = None
        self.clients: dict[tuple[str, int], tuple[asyncio.DatagramTransport, float]] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        held = self.clients.get(addr)
        if held is not None:
            held[0].sendto(data)
            self.clients[addr] = (held[0], time.monotonic())
            return
        ep = self.backend.pick(addr[0], self.external)
        if ep is not None:
            asyncio.get_running_loop().create_task(self._open(addr, ep, data))

    async def _open(self, addr: tuple[str, int], ep: Endpoint, first: bytes) -> None:
        relay = self

        class Up(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, _: tuple[str, int]) -> None:
                if relay.transport is not None:
                    relay.transport.sendto(data, addr)

        up, _ = await asyncio.get_running_loop().create_datagram_endpoint(Up, remote_addr=(ep.ip, ep.port))
        self.clients[addr] = (up, time.monotonic())
        up.sendto(first)

    def expire(self) -> None:
        now = time.monotonic()
        for addr, (up, seen) in list(self.clients.items()):
            if now - seen > UDP_IDLE_S:
                up.close()
                del self.clients[addr]


class Userspace:
    """Listeners follow the service ports given to `sync`; endpoints follow without re-binding."""

    def __init__(self, node_name: str, nodeport_addresses: Sequence[str] = ()) -> None:
        self.node_name = node_name
        self.nodeport_addresses = list(nodeport_addresses) or ["0.0.0.0"]
        self.backends: dict[tuple[str, str, str, str], _Backend] = {}
        self.listeners: dict[tuple[str, str, int], asyncio.AbstractServer | asyncio.BaseTransport] = {}
        self._owner: dict[tuple[str, str, int], tuple[str, str, str, str]] = {}
        self._warned: set[tuple[str, str, int]] = set()

    async def sync(self, ports: Sequence[ServicePort]) -> None:
        wanted: dict[tuple[str, str, int], tuple[tuple[str, str, str, str], bool]] = {}
        for sp in ports:
            k = _key(sp)
            b = self.backends.get(k)
            if b is None:
                self.backends[k] = _Backend(sp, self.node_name)
            else:
                b.port = sp
            wanted[(sp.protocol, sp.cluster_ip, sp.port)] = (k, False)
            if sp.node_port:
                for ip in self.nodeport_addresses:
                    wanted[(sp.protocol, ip, sp.node_port)] = (k, True)
        for addr in list(self.listeners):
            if addr not in wanted or wanted[addr][0] != self._owner.get(addr):
                self.listeners.pop(addr).close()
                self._owner.pop(addr, None)
        for addr, (k, external) in wanted.items():
            if addr not in self.listeners:
                await self._listen(addr, self.backends[k], external)
                if addr in self.listeners:
                    self._owner[addr] = k
        live = {_key(sp) for sp in ports}
        for k in list(self.backends):
            if k not in live:
                del self.backends[k]
        for t in self.listeners.values():
            proto = t.get_protocol() if isinstance(t, asyncio.DatagramTransport) else None
            if isinstance(proto, _UDPRelay):
                proto.expire()

    async def _listen(self, addr: tuple[str, str, int], backend: _Backend, external: bool) -> None:
        proto, ip, port = addr
        loop = asyncio.get_running_loop()
        try:
            if proto == "TCP":
                self.listeners[addr] = await asyncio.start_server(
                    lambda r, w: self._relay(r, w, backend, external), ip, port, reuse_address=True)
            elif proto == "UDP":
                transport, _ = await loop.create_datagram_endpoint(lambda: _UDPRelay(backend, external),
                                                                   local_addr=(ip, port))
                self.listeners[addr] = transport
            else:
                raise OSError(errno.EPROTONOSUPPORT, f"{proto} is not forwarded in userspace mode")
        except OSError as e:
            if addr not in self._warned:
                self._warned.add(addr)
                log.warning("userspace: cannot listen on %s %s:%d for %s: %s (not a local address?)",
                            proto, ip, port, backend.port.name_string, e.strerror or e)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, backend: _Backend,
                     external: bool) -> None:
        peer = writer.get_extra_info("peername") or ("", 0)
        ep = backend.pick(peer[0], external)
        if ep is None:
            writer.close()  # no endpoint: a refusal, as the REJECT rule gives
            return
        try:
            up_r, up_w = await asyncio.wait_for(asyncio.open_connection(ep.ip, ep.port), CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError):
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_w), _pipe(up_r, writer))
        writer.close()
        up_w.close()

    def close(self) -> None:
        for t in self.listeners.values():
            t.close()
        self.listeners.clear()
