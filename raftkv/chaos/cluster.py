"""A local cluster of real member processes on loopback for chaos runs (the "cluster factory" of a scenario).

Speaks etcd's flag names, so the same class starts Debian's etcd 3.4 (`binary=["etcd"]`) or raftkv (whose
`serve` accepts the same flags). With `proxied=True` every member advertises a `LinkProxy` as its peer URL, so
the nemesis can delay/blackhole/drop traffic into each member. Plain http: this harness tests faults, not TLS.
"""

from __future__ import annotations

import asyncio
import pathlib
import socket
import subprocess
from dataclasses import dataclass, field

import grpc

from raftkv._pb.etcdserverpb import rpc_pb2, rpc_pb2_grpc
from raftkv.chaos.nemesis.process import ProcessTable
from raftkv.chaos.nemesis.proxy import LinkProxy

DEFAULT_HEARTBEAT_MS = 50
DEFAULT_ELECTION_MS = 500


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Member:
    name: str
    client_port: int
    peer_port: int
    data_dir: pathlib.Path
    log_path: pathlib.Path
    proxy: LinkProxy | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    @property
    def advertised_peer(self) -> str:
        port = self.proxy.port if self.proxy else self.peer_port
        return f"http://127.0.0.1:{port}"


@dataclass
class LocalCluster:
    base: pathlib.Path
    size: int = 3
    binary: list[str] = field(default_factory=lambda: ["etcd"])
    proxied: bool = False
    heartbeat_ms: int = DEFAULT_HEARTBEAT_MS
    election_ms: int = DEFAULT_ELECTION_MS
    procs: ProcessTable = field(default_factory=ProcessTable)
    members: dict[str, Member] = field(default_factory=dict)

    async def start(self) -> None:
        for i in range(1, self.size + 1):
            name = f"m{i}"
            d = self.base / name
            d.mkdir(parents=True, exist_ok=True)
            m = Member(name, free_port(), free_port(), d / "data", d / "member.log")
            if self.proxied:
                m.proxy = LinkProxy(("127.0.0.1", m.peer_port))
                await m.proxy.start()
            self.members[name] = m
        for name in self.members:
            self.start_member(name)

    def command(self, m: Member) -> list[str]:
        initial = ",".join(f"{o.name}={o.advertised_peer}" for o in self.members.values())
        return [*self.binary, "--name", m.name, "--data-dir", str(m.data_dir),
                "--listen-client-urls", f"http://{m.endpoint}", "--advertise-client-urls", f"http://{m.endpoint}",
                "--listen-peer-urls", f"http://127.0.0.1:{m.peer_port}",
                "--initial-advertise-peer-urls", m.advertised_peer, "--initial-cluster", initial,
                "--initial-cluster-state", "new", "--initial-cluster-token", f"chaos-{id(self)}",
                "--heartbeat-interval", str(self.heartbeat_ms), "--election-timeout", str(self.election_ms)]

    def start_member(self, name: str) -> None:
        """(Re)start a member on its existing data dir; its output is appended to its log file."""
        m = self.members[name]
        with open(m.log_path, "ab") as log:
            proc = subprocess.Popen(self.command(m), stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)
        self.procs.register(name, proc)

    async def stop(self) -> None:
        self.procs.stop_all()
        for m in self.members.values():
            if m.proxy:
                await m.proxy.close()

    def logs(self) -> dict[str, str]:
        return {n: m.log_path.read_text(errors="replace") for n, m in self.members.items() if m.log_path.exists()}

    async def status(self, name: str, timeout: float = 1.0) -> rpc_pb2.StatusResponse | None:
        """Maintenance.Status of one member, or None when it does not answer in time."""
        async with grpc.aio.insecure_channel(self.members[name].endpoint) as ch:
            try:
                return await rpc_pb2_grpc.MaintenanceStub(ch).Status(rpc_pb2.StatusRequest(), timeout=timeout)
            except grpc.aio.AioRpcError:
                return None

    async def leader(self) -> str | None:
        """The member every answering member names as leader, if they agree."""
        ids: dict[int, str] = {}
        leaders: set[int] = set()
        for name in self.members:
            if not self.procs.alive(name) or name in self.procs.paused:
                continue
            st = await self.status(name)
            if st is not None:
                ids[st.header.member_id] = name
                leaders.add(st.leader)
        if len(leaders) == 1:
            lid = leaders.pop()
            return ids.get(lid)
        return None

    async def wait_leader(self, timeout: float) -> str:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            name = await self.leader()
            if name is not None:
                return name
            await asyncio.sleep(0.05)
        raise TimeoutError(f"no agreed leader within {timeout} s")

    async def hash_kv(self, name: str, revision: int, timeout: float = 2.0) -> rpc_pb2.HashKVResponse:
        async with grpc.aio.insecure_channel(self.members[name].endpoint) as ch:
            return await rpc_pb2_grpc.MaintenanceStub(ch).HashKV(rpc_pb2.HashKVRequest(revision=revision),
                                                                 timeout=timeout)
