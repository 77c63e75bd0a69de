"""A raftkv cluster of real member processes on free loopback ports, for server tests.

Each member runs `python -m raftkv serve` with etcd's flags and mutual TLS on client and
peer links. Members can be killed (-9), stopped and restarted with their data. Every
process started here is stopped by PID when the cluster is closed.
"""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc

from raftkv._pb.etcdserverpb import rpc_pb2 as pb
from raftkv._pb.etcdserverpb import rpc_pb2_grpc as pb_grpc
from raftkv.server.launcher import free_port

ROOT = pathlib.Path(__file__).resolve().parents[2]
T = TypeVar("T")


def wait_for(pred: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            v = pred()
            if v:
                return v
        except Exception as exc:  # the condition is not met yet
            last_exc = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last error: {last_exc!r})")


@dataclass
class Node:
    name: str
    client_port: int
    peer_port: int
    data_dir: pathlib.Path
    log_path: pathlib.Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.client_port}"


@dataclass
class Cluster:
    base: pathlib.Path
    pki: pathlib.Path
    size: int = 3
    heartbeat_ms: int = 50
    election_ms: int = 500
    extra_flags: list[str] = field(default_factory=list)
    kind: str = "raftkv"
    """`raftkv`, or `etcd` to run Debian's etcd 3.4 with exactly the same flags (compatibility tests)."""
    nodes: list[Node] = field(default_factory=list)
    _channels: dict[str, grpc.Channel] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for i in range(self.size):
            name = f"m{i + 1}"
            self.nodes.append(Node(name, free_port(), free_port(), self.base / name, self.base / f"{name}.log"))

    @property
    def creds(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(*((self.pki / f).read_bytes() for f in ("ca.crt", "client.key",
                                                                                    "client.crt")))

    def command(self, n: Node) -> list[str]:
        cluster = ",".join(f"{x.name}=https://127.0.0.1:{x.peer_port}" for x in self.nodes)
        p = self.pki
        program = ["etcd"] if self.kind == "etcd" else [sys.executable, "-m", "raftkv", "serve"]
        return [*program, "--name", n.name, "--data-dir", str(n.data_dir),
                "--listen-client-urls", f"https://{n.endpoint}", "--advertise-client-urls", f"https://{n.endpoint}",
                "--listen-peer-urls", f"https://127.0.0.1:{n.peer_port}",
                "--initial-advertise-peer-urls", f"https://127.0.0.1:{n.peer_port}",
                "--initial-cluster", cluster, "--initial-cluster-state", "new", "--initial-cluster-token", "test",
                "--client-cert-auth", "--trusted-ca-file", str(p / "ca.crt"), "--cert-file", str(p / "server.crt"),
                "--key-file", str(p / "server.key"), "--peer-client-cert-auth", "--peer-trusted-ca-file",
                str(p / "ca.crt"), "--peer-cert-file", str(p / "peer.crt"), "--peer-key-file", str(p / "peer.key"),
                "--heartbeat-interval", str(self.heartbeat_ms), "--election-timeout", str(self.election_ms),
                *self.extra_flags]

    def start(self, n: Node, command: list[str] | None = None) -> None:
        log = open(n.log_path, "ab")
        n.proc = subprocess.Popen(command or self.command(n), stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)

    def start_all(self) -> Cluster:
        for n in self.nodes:
            self.start(n)
        self.wait_leader()
        return self

    def kill(self, n: Node, sig: int = signal.SIGKILL) -> None:
        if n.proc is not None and n.proc.poll() is None:
            n.proc.send_signal(sig)
            n.proc.wait(20)
        n.proc = None
        ch = self._channels.pop(n.endpoint, None)
        if ch is not None:
            ch.close()

    def close(self) -> None:
        for n in self.nodes:
            if n.proc is not None and n.proc.poll() is None:
                n.proc.terminate()
        for n in self.nodes:
            if n.proc is not None:
                try:
                    n.proc.wait(10)
                except subprocess.TimeoutExpired:
                    n.proc.kill()
                    n.proc.wait()
        for ch in self._channels.values():
            ch.close()

    def logs(self) -> str:
        return "\n".join(f"----- {n.name}\n" + (n.log_path.read_text(errors="replace")[-4000:]
                                                if n.log_path.exists() else "") for n in self.nodes)

    def channel(self, n: Node) -> grpc.Channel:
        ch = self._channels.get(n.endpoint)
        if ch is None:
            ch = self._channels[n.endpoint] = grpc.secure_channel(n.endpoint, self.creds)
        return ch

    def kv(self, n: Node) -> Any:
        return pb_grpc.KVStub(self.channel(n))

    def maintenance(self, n: Node) -> Any:
        return pb_grpc.MaintenanceStub(self.channel(n))

    def status(self, n: Node) -> pb.StatusResponse:
        return self.maintenance(n).Status(pb.StatusRequest(), timeout=2)

    def live(self) -> list[Node]:
        return [n for n in self.nodes if n.proc is not None and n.proc.poll() is None]

    def leader(self) -> Node:
        def find() -> Node | None:
            for n in self.live():
                st = self.status(n)
                if st.leader and st.leader == st.header.member_id:
                    return n
            return None

        return wait_for(find, 30, "a leader among the live members")

    def wait_leader(self) -> Node:
        wait_for(lambda: all(self.status(n).leader for n in self.live()), 60,
                 "every live member to know a leader")
        return self.leader()


def make_cluster(tmp: pathlib.Path, size: int = 3, **kw: Any) -> Cluster:
    from raftkv.pki import create_local_pki

    pki = tmp / "pki"
    create_local_pki(str(pki), ["127.0.0.1", "localhost"])
    os.makedirs(tmp / "data", exist_ok=True)
    return Cluster(tmp / "data", pki, size, **kw)
