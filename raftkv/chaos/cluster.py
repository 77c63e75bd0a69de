"""A local cluster of real member processes on loopback for chaos runs (the "cluster factory" of a scenario).

Speaks etcd's flag names, so the same class starts Debian's etcd 3.4 (`binary=["etcd"]`) or raftkv (whose
`serve` accepts the same flags). With `proxied=True` every member advertises a `LinkProxy` as its peer URL, so
the nemesis can delay/blackhole/drop traffic into each member; the proxies learn which member dialled each
connection (`SocketOwners`), so `apply_cut` can cut any set of directed member pairs. Plain http: this harness
tests faults, not TLS. Members can also get extra flags, extra environment (libfaketime), a data dir on a
small tmpfs (disk full), and the cluster can remove a member and add a fresh one through the Cluster API.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pathlib
import random
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc

from raftkv._pb.etcdserverpb import rpc_pb2, rpc_pb2_grpc
from raftkv.chaos.nemesis.lazyfs import LazyFS
from raftkv.chaos.nemesis.process import ProcessTable
from raftkv.chaos.nemesis.proxy import LinkProxy
from raftkv.chaos.nemesis.sockets import SocketOwners
from raftkv.chaos.partition import NO_CUT, Cut, proxy_rules

DEFAULT_HEARTBEAT_MS = 50
DEFAULT_ELECTION_MS = 500
IMPLS = ("raftkv", "etcd")


class ClusterError(RuntimeError):
    """The cluster could not do what was asked (a member did not come up, a membership change failed)."""


def impl_binary(impl: str) -> list[str]:
    """The command that starts one member of `impl` (raftkv's `serve` takes etcd's flags)."""
    if impl == "raftkv":
        return [sys.executable, "-m", "raftkv", "serve"]
    if impl == "etcd":
        return ["etcd"]
    raise ValueError(f"unknown implementation {impl!r}; known: {', '.join(IMPLS)}")


def _ephemeral_range() -> tuple[int, int]:
    try:
        lo, hi = pathlib.Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(lo), int(hi)
    except (OSError, ValueError):
        return 32768, 60999


def free_port(rng: random.Random | None = None) -> int:
    """A free loopback port BELOW the kernel's ephemeral range.

    A killed member's ports must still be free when it restarts; a port from the ephemeral range can meanwhile
    become the source port of any outgoing connection (the proxies dial members all the time), and the member
    then fails with "address in use". Ports outside that range are never handed out implicitly.
    """
    rng = rng or random.Random()
    lo, _ = _ephemeral_range()
    for _ in range(200):
        port = rng.randrange(10_000, max(10_001, lo))
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:  # crowded: fall back to any free port
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


T = TypeVar("T")


async def _retry_unhealthy(call: Callable[[], Awaitable[T]], timeout: float) -> T:
    """Retry a membership RPC that etcd refuses with "unhealthy cluster" (strict reconfig check: every remaining
    voter must have been connected for a while, 5 s in etcd) until `timeout`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            return await call()
        except grpc.aio.AioRpcError as e:
            if "unhealthy cluster" not in (e.details() or "") or loop.time() > deadline:
                raise
            await asyncio.sleep(0.25)


@dataclass
class Member:
    name: str
    client_port: int
    peer_port: int
    data_dir: pathlib.Path
    log_path: pathlib.Path
    proxy: LinkProxy | None = None
    joining: bool = False  # started with --initial-cluster-state existing
    tmpfs: bool = False
    lazy: LazyFS | None = None  # data dir is a lazyfs mount (un-fsynced data can be dropped, fsync can fail)

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    @property
    def advertised_peer(self) -> str:
        port = self.proxy.port if self.proxy else self.peer_port
        return f"http://127.0.0.1:{port}"


class _ClientQueries:
    """What the checkers ask of any cluster, local or not, through its members' client endpoints."""

    members: Mapping[str, Any]

    async def leader(self) -> str | None:
        raise NotImplementedError

    async def status(self, name: str, timeout: float = 1.0) -> rpc_pb2.StatusResponse | None:
        """Maintenance.Status of one member, or None when it does not answer in time."""
        async with grpc.aio.insecure_channel(self.members[name].endpoint) as ch:
            try:
                return await rpc_pb2_grpc.MaintenanceStub(ch).Status(rpc_pb2.StatusRequest(), timeout=timeout)
            except grpc.aio.AioRpcError:
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


@dataclass
class LocalCluster(_ClientQueries):
    base: pathlib.Path
    size: int = 3
    binary: list[str] = field(default_factory=lambda: ["etcd"])
    proxied: bool = False
    heartbeat_ms: int = DEFAULT_HEARTBEAT_MS
    election_ms: int = DEFAULT_ELECTION_MS
    procs: ProcessTable = field(default_factory=ProcessTable)
    members: dict[str, Member] = field(default_factory=dict)
    extra_flags: list[str] = field(default_factory=list)
    env: dict[str, dict[str, str]] = field(default_factory=dict)  # member name -> extra environment
    tmpfs_bytes: dict[str, int] = field(default_factory=dict)  # member name -> data dir on a tmpfs this big
    lazyfs: bool = False  # every member's data dir on its own lazyfs (FUSE) mount
    seed: int = 0
    removed: dict[str, Member] = field(default_factory=dict)
    cut: Cut = NO_CUT
    _next: int = 0

    @property
    def responses_carry_messages(self) -> bool:
        """etcd streams Raft messages on replies to connections the receiver dialled; raftkv does not."""
        return pathlib.Path(self.binary[0]).name == "etcd"

    async def _new_member(self, joining: bool = False) -> Member:
        self._next += 1
        name = f"m{self._next}"
        d = self.base / name
        d.mkdir(parents=True, exist_ok=True)
        m = Member(name, free_port(), free_port(), d / "data", d / "member.log", joining=joining)
        if name in self.tmpfs_bytes:
            m.data_dir.mkdir(exist_ok=True)
            subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.tmpfs_bytes[name]}", "tmpfs",
                            str(m.data_dir)], check=True, capture_output=True)
            m.tmpfs = True
        if self.lazyfs:  # the control socket path must stay short (108 bytes for AF_UNIX)
            sock = pathlib.Path(tempfile.gettempdir()) / f"lazyfs-{uuid.uuid4().hex[:12]}.sock"
            m.lazy = LazyFS(d / "backing", m.data_dir, sock, d / "lazyfs.log")
            await asyncio.to_thread(m.lazy.start)
        if self.proxied:
            owners = SocketOwners(self.procs.pids)
            m.proxy = LinkProxy(("127.0.0.1", m.peer_port), rng=random.Random(self.seed + self._next),
                                identify=owners.owner)
            await m.proxy.start()
        return m

    async def start(self) -> None:
        for _ in range(self.size):
            m = await self._new_member()
            self.members[m.name] = m
        for name in self.members:
            self.start_member(name)

    def command(self, m: Member) -> list[str]:
        initial = ",".join(f"{o.name}={o.advertised_peer}" for o in self.members.values())
        return [*self.binary, "--name", m.name, "--data-dir", str(m.data_dir),
                "--listen-client-urls", f"http://{m.endpoint}", "--advertise-client-urls", f"http://{m.endpoint}",
                "--listen-peer-urls", f"http://127.0.0.1:{m.peer_port}",
                "--initial-advertise-peer-urls", m.advertised_peer, "--initial-cluster", initial,
                "--initial-cluster-state", "existing" if m.joining else "new",
                "--initial-cluster-token", f"chaos-{id(self)}",
                "--heartbeat-interval", str(self.heartbeat_ms), "--election-timeout", str(self.election_ms),
                *self.extra_flags]

    def start_member(self, name: str) -> None:
        """(Re)start a member on its existing data dir; its output is appended to its log file."""
        m = self.members[name]
        env = {**os.environ, **self.env.get(name, {})}
        with open(m.log_path, "ab") as log:
            proc = subprocess.Popen(self.command(m), stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env=env)
        self.procs.register(name, proc)

    async def wait_serving(self, name: str, timeout: float) -> float:
        """Wait until a member answers Status; returns when (loop time). Raises if it exits or times out."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if not self.procs.alive(name):
                tail = " | ".join(self.members[name].log_path.read_text(errors="replace").strip().splitlines()[-2:])
                raise ClusterError(f"{name} exited with code {self.procs.returncode(name)} while starting: "
                                   f"{tail[-400:]}")
            if await self.status(name, timeout=0.5) is not None:
                return loop.time()
            await asyncio.sleep(0.05)
        raise ClusterError(f"{name} did not answer within {timeout} s")

    async def wait_exit(self, name: str, timeout: float) -> int | None:
        """Poll (without blocking the loop the proxies run on) until a member exits; its code or None."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            code = self.procs.returncode(name)
            if code is not None:
                return code
            await asyncio.sleep(0.05)
        return None

    def apply_cut(self, cut: Cut) -> None:
        """Hold exactly the peer traffic `cut` names (directed member pairs); an empty cut heals partitions."""
        rules = proxy_rules(cut, list(self.members), self.responses_carry_messages)
        for name, (into, replies) in rules.items():
            proxy = self.members[name].proxy
            if proxy is None:
                raise ClusterError("partitions need a cluster started with proxied=True")
            proxy.cut_sources(into, replies)
        self.cut = cut

    async def remove_member(self, name: str, via: str, timeout: float = 30.0) -> None:
        """MemberRemove through `via`, then stop the removed member's process."""
        st = await self.status(name)
        ids = await self.member_ids(via)
        mid = ids.get(name) if st is None else st.header.member_id
        if mid is None:
            raise ClusterError(f"{name} is not in the member list")
        async with grpc.aio.insecure_channel(self.members[via].endpoint) as ch:
            stub = rpc_pb2_grpc.ClusterStub(ch)
            await _retry_unhealthy(lambda: stub.MemberRemove(rpc_pb2.MemberRemoveRequest(ID=mid), timeout=5.0),
                                   timeout)
        m = self.members.pop(name)
        self.removed[name] = m
        if self.procs.alive(name):
            self.procs.sigterm(name)
            if await self.wait_exit(name, 5.0) is None:
                self.procs.kill9(name)
        self.procs.forget(name)
        if m.proxy:
            await m.proxy.close()

    async def member_ids(self, via: str, timeout: float = 5.0) -> dict[str, int]:
        async with grpc.aio.insecure_channel(self.members[via].endpoint) as ch:
            r = await rpc_pb2_grpc.ClusterStub(ch).MemberList(rpc_pb2.MemberListRequest(), timeout=timeout)
        return {m.name: m.ID for m in r.members}

    async def add_member(self, via: str, timeout: float = 30.0) -> str:
        """Add a fresh member (new name, ports, data dir) as a learner, start it, promote it once caught up."""
        loop = asyncio.get_running_loop()
        m = await self._new_member(joining=True)
        async with grpc.aio.insecure_channel(self.members[via].endpoint) as ch:
            stub = rpc_pb2_grpc.ClusterStub(ch)
            added = await _retry_unhealthy(lambda: stub.MemberAdd(rpc_pb2.MemberAddRequest(
                peerURLs=[m.advertised_peer], isLearner=True), timeout=5.0), timeout)
            self.members[m.name] = m
            self.start_member(m.name)
            deadline = loop.time() + timeout
            while True:  # a learner is promoted only once it has caught up with the leader's log
                try:
                    await stub.MemberPromote(rpc_pb2.MemberPromoteRequest(ID=added.member.ID), timeout=2.0)
                    break
                except grpc.aio.AioRpcError as e:
                    if loop.time() > deadline:
                        raise ClusterError(f"{m.name} was not promoted within {timeout} s: {e.details()}") from e
                    await asyncio.sleep(0.2)
        if self.cut:
            self.apply_cut(self.cut)
        return m.name

    async def stop(self) -> None:
        self.procs.stop_all()
        for m in [*self.members.values(), *self.removed.values()]:
            if m.proxy:
                await m.proxy.close()
            if m.tmpfs:
                with contextlib.suppress(OSError):
                    subprocess.run(["umount", "-l", str(m.data_dir)], check=False, capture_output=True)
                m.tmpfs = False
            if m.lazy is not None:
                m.lazy.stop()
                with contextlib.suppress(OSError):
                    m.lazy.control.unlink()
                m.lazy = None

    def wal_files(self, name: str) -> list[pathlib.Path]:
        """The member's WAL segments, oldest first (raftkv and etcd both keep them in member/wal/*.wal)."""
        return sorted((self.members[name].data_dir / "member" / "wal").glob("*.wal"))

    def fill_disk(self, name: str) -> int:
        """Fill a tmpfs member's data dir with a filler file until ENOSPC; returns the bytes written."""
        m = self.members[name]
        if not m.tmpfs:
            raise ClusterError(f"{name}'s data dir is not on a tmpfs")
        written = 0
        chunk = b"\0" * 65536
        try:
            with open(m.data_dir / "filler", "ab", buffering=0) as fh:
                while True:
                    written += fh.write(chunk)
        except OSError:  # ENOSPC is the goal (also when the disk is already full at open or close)
            pass
        return written

    def free_disk(self, name: str) -> bool:
        """Remove the filler file; whether there was one."""
        try:
            (self.members[name].data_dir / "filler").unlink()
        except FileNotFoundError:
            return False
        return True

    def logs(self) -> dict[str, str]:
        every = {**self.removed, **self.members}
        return {n: m.log_path.read_text(errors="replace") for n, m in every.items() if m.log_path.exists()}

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

    async def alarms(self, via: str, timeout: float = 2.0) -> list[rpc_pb2.AlarmMember]:
        """The cluster's active alarms as `via` has applied them (`etcdctl alarm list`)."""
        async with grpc.aio.insecure_channel(self.members[via].endpoint) as ch:
            r = await rpc_pb2_grpc.MaintenanceStub(ch).Alarm(rpc_pb2.AlarmRequest(
                action=rpc_pb2.AlarmRequest.GET), timeout=timeout)
        return list(r.alarms)

    async def disarm(self, via: str, timeout: float = 5.0) -> list[str]:
        """Deactivate every active alarm (`etcdctl alarm disarm`); returns what was disarmed."""
        done = []
        async with grpc.aio.insecure_channel(self.members[via].endpoint) as ch:
            stub = rpc_pb2_grpc.MaintenanceStub(ch)
            for a in (await stub.Alarm(rpc_pb2.AlarmRequest(action=rpc_pb2.AlarmRequest.GET),
                                       timeout=timeout)).alarms:
                await stub.Alarm(rpc_pb2.AlarmRequest(action=rpc_pb2.AlarmRequest.DEACTIVATE, memberID=a.memberID,
                                                      alarm=a.alarm), timeout=timeout)
                done.append(f"{rpc_pb2.AlarmType.Name(a.alarm)}@{a.memberID:x}")
        return done

    async def compact(self, via: str, revision: int, timeout: float = 10.0) -> None:
        """Physical MVCC compaction at `revision` (`etcdctl compact --physical`)."""
        async with grpc.aio.insecure_channel(self.members[via].endpoint) as ch:
            await rpc_pb2_grpc.KVStub(ch).Compact(rpc_pb2.CompactionRequest(revision=revision, physical=True),
                                                  timeout=timeout)

    async def defragment(self, name: str, timeout: float = 30.0) -> None:
        async with grpc.aio.insecure_channel(self.members[name].endpoint) as ch:
            await rpc_pb2_grpc.MaintenanceStub(ch).Defragment(rpc_pb2.DefragmentRequest(), timeout=timeout)


@dataclass
class ExternalMember:
    name: str
    endpoint: str


@dataclass
class ExternalCluster(_ClientQueries):
    """A cluster this harness did not start (`--endpoints`): client-side only, no processes, proxies or logs."""

    endpoints: list[str]
    members: dict[str, ExternalMember] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.members = {f"e{i}": ExternalMember(f"e{i}", ep) for i, ep in enumerate(self.endpoints, 1)}

    async def leader(self) -> str | None:
        """When the answering endpoints agree on a leader: that leader's name if it is one of the endpoints,
        else the first answering endpoint (reads through it are still linearizable)."""
        ids: dict[int, str] = {}
        leaders: set[int] = set()
        for name in self.members:
            st = await self.status(name)
            if st is not None:
                ids[st.header.member_id] = name
                leaders.add(st.leader)
        if len(leaders) == 1 and 0 not in leaders:
            return ids.get(leaders.pop(), next(iter(ids.values())))
        return None

    def logs(self) -> dict[str, str]:
        return {}
