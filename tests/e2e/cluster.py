"""An N-member cluster of real processes on loopback, with mutual TLS on client and peer links.

The same command line starts Debian's etcd 3.4 (`kind="etcd"`) or raftkv (`kind="raftkv"`,
`python -m raftkv serve` with etcd's flag names), so one test suite checks that raftkv behaves as
etcd does. Every process started here is registered with `tests.conftest` and stopped by PID;
member logs stay in the cluster's directory (the test's tmp dir).
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from raftkv.pki import create_local_pki
from tests.conftest import GiveUp, free_port, register_process, stop_process, wait_for

KINDS = ("etcd", "raftkv")
HEALTHY_TIMEOUT_S = 60.0
"""Generous: two shared cores, and a Python server that imports grpc and cryptography at start."""
ETCDCTL_TIMEOUT_S = 30.0
LOG_TAIL_CHARS = 6000
START_ATTEMPTS = 3
"""A port picked by binding port 0 can be taken by someone else before the member binds it; then retry."""
PORT_CLASH = re.compile(r"address already in use", re.IGNORECASE)
HEARTBEAT_MS = 50
ELECTION_MS = 500
ROOT = pathlib.Path(__file__).resolve().parents[2]


class ClusterError(AssertionError):
    """The cluster could not be started (missing binaries, a member exited, no health in time)."""


def require_tools(kind: str) -> None:
    """Fail (not skip) with the fix when a binary the cluster needs is missing."""
    if kind not in KINDS:
        raise ClusterError(f"unknown cluster kind {kind!r} (one of {', '.join(KINDS)})")
    needed = ["etcdctl"] + (["etcd"] if kind == "etcd" else [])
    missing = [tool for tool in needed if shutil.which(tool) is None]
    if missing:
        raise ClusterError(f"{' and '.join(missing)} not found on PATH: install Debian's etcd-server and "
                           "etcd-client (scripts/test and .ci/run do)")


@dataclass
class Member:
    name: str
    client_port: int
    peer_port: int
    data_dir: pathlib.Path
    log_path: pathlib.Path
    proc: subprocess.Popen | None = None

    @property
    def client_url(self) -> str:
        return f"https://127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"https://127.0.0.1:{self.peer_port}"


@dataclass
class ProcessCluster:
    kind: str
    base: pathlib.Path
    pki: pathlib.Path
    members: list[Member] = field(default_factory=list)
    token: str = "raftkv-e2e"

    @property
    def endpoints(self) -> list[str]:
        return [m.client_url for m in self.members]

    def tls_flags(self, cert: str = "client") -> list[str]:
        """etcdctl's TLS flags for the client certificate `cert` (`client` is CN=root, `admin` O=system:masters)."""
        return [f"--cacert={self.pki / 'ca.crt'}", f"--cert={self.pki / (cert + '.crt')}",
                f"--key={self.pki / (cert + '.key')}"]

    def etcdctl_flags(self, cert: str = "client", endpoints: list[str] | None = None,
                      timeouts: tuple[str, str] = ("5s", "10s")) -> list[str]:
        """Flags for etcdctl: endpoints, TLS, and (dial, command) timeouts."""
        return [f"--endpoints={','.join(endpoints or self.endpoints)}", *self.tls_flags(cert),
                f"--dial-timeout={timeouts[0]}", f"--command-timeout={timeouts[1]}"]

    def command(self, m: Member) -> list[str]:
        program = ["etcd"] if self.kind == "etcd" else [sys.executable, "-m", "raftkv", "serve"]
        initial = ",".join(f"{x.name}={x.peer_url}" for x in self.members)
        ca, p = str(self.pki / "ca.crt"), self.pki
        return [*program, "--name", m.name, "--data-dir", str(m.data_dir),
                "--listen-client-urls", m.client_url, "--advertise-client-urls", m.client_url,
                "--listen-peer-urls", m.peer_url, "--initial-advertise-peer-urls", m.peer_url,
                "--initial-cluster", initial, "--initial-cluster-state", "new", "--initial-cluster-token", self.token,
                "--client-cert-auth", "--trusted-ca-file", ca,
                "--cert-file", str(p / "server.crt"), "--key-file", str(p / "server.key"),
                "--peer-client-cert-auth", "--peer-trusted-ca-file", ca,
                "--peer-cert-file", str(p / "peer.crt"), "--peer-key-file", str(p / "peer.key"),
                "--heartbeat-interval", str(HEARTBEAT_MS), "--election-timeout", str(ELECTION_MS)]

    def start(self) -> None:
        for m in self.members:
            with open(m.log_path, "ab") as log:
                m.proc = register_process(subprocess.Popen(self.command(m), stdout=log, stderr=subprocess.STDOUT,
                                                           cwd=ROOT))
        self.wait_healthy()

    def etcdctl(self, *args: str, cert: str = "client", endpoints: list[str] | None = None,
                stdin: str | None = None, timeouts: tuple[str, str] = ("5s", "10s")) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["etcdctl", *self.etcdctl_flags(cert, endpoints, timeouts), *args], input=stdin,
                              capture_output=True, text=True, env=dict(os.environ, ETCDCTL_API="3"),
                              timeout=ETCDCTL_TIMEOUT_S)

    def _healthy(self) -> bool:
        dead = [m.name for m in self.members if m.proc is None or m.proc.poll() is not None]
        if dead:
            raise GiveUp(f"{self.kind} member(s) {', '.join(dead)} exited during start-up")
        p = self.etcdctl("endpoint", "health", "-w", "json", timeouts=("1s", "2s"))
        if p.returncode != 0:
            return False
        report = json.loads(p.stdout)
        return len(report) == len(self.members) and all(h["health"] for h in report)

    def wait_healthy(self, timeout: float = HEALTHY_TIMEOUT_S) -> None:
        try:
            wait_for(self._healthy, timeout, f"every {self.kind} member to report healthy", interval=0.2)
        except (AssertionError, GiveUp) as exc:
            raise ClusterError(f"{exc}\n{self.logs()}") from None

    def stop(self) -> None:
        """Stop every member this cluster started, by PID; idempotent."""
        for m in self.members:
            if m.proc is not None:
                stop_process(m.proc)

    def lost_a_port_race(self) -> bool:
        """Whether a member that exited complained that its port was taken."""
        return any(m.proc is not None and m.proc.poll() is not None and m.log_path.exists()
                   and PORT_CLASH.search(m.log_path.read_text(errors="replace")) for m in self.members)

    def relocate(self, attempt: int) -> None:
        """After a failed start: fresh ports and data dirs; the old logs are kept as `NAME.attemptN.log`."""
        self.stop()
        for m in self.members:
            if m.log_path.exists():
                m.log_path.rename(m.log_path.with_suffix(f".attempt{attempt}.log"))
            shutil.rmtree(m.data_dir, ignore_errors=True)
            m.client_port, m.peer_port, m.proc = free_port(), free_port(), None

    def logs(self) -> str:
        parts = []
        for m in self.members:
            text = m.log_path.read_text(errors="replace") if m.log_path.exists() else "(no log)"
            parts.append(f"----- {self.kind} {m.name} ({m.log_path}), last {LOG_TAIL_CHARS} chars\n"
                         f"{text[-LOG_TAIL_CHARS:]}")
        return "\n".join(parts)


def new_cluster(kind: str, base: pathlib.Path, size: int = 3) -> ProcessCluster:
    """A cluster laid out under `base` (pki/, data dirs, logs) on fresh loopback ports; not started."""
    require_tools(kind)
    pki = base / "pki"
    create_local_pki(str(pki), ["127.0.0.1", "localhost"])
    c = ProcessCluster(kind, base, pki, token=f"e2e-{kind}-{os.getpid()}")
    for i in range(1, size + 1):
        c.members.append(Member(f"m{i}", free_port(), free_port(), base / f"m{i}.data", base / f"m{i}.log"))
    return c


@contextmanager
def running_cluster(kind: str, base: pathlib.Path, size: int = 3) -> Iterator[ProcessCluster]:
    """Start a healthy cluster, yield it, and stop every member afterwards, whatever happened."""
    c = new_cluster(kind, base, size)
    try:
        start_with_retries(c)
        yield c
    finally:
        c.stop()


def start_with_retries(c: ProcessCluster) -> None:
    """Start `c`; a member that lost its free port to another process moves to new ports and the start is
    tried again (up to START_ATTEMPTS times); any other failure is raised."""
    for attempt in range(1, START_ATTEMPTS + 1):
        try:
            c.start()
            return
        except ClusterError:
            if attempt == START_ATTEMPTS or not c.lost_a_port_race():
                raise
            c.relocate(attempt)
