"""Debian's etcdctl 3.4 (grpc-go) against a 3-member raftkv over mutual TLS, through raftkv's own HTTP/2 server,
for what tests/e2e does not cover: a watch replaying hundreds of revisions with 1 MiB values, a snapshot of tens
of MB, a keepalive-heavy session (1 s pings) held open for several seconds, command deadlines, and (slow)
`etcdctl check perf`. A wrong client certificate is covered by tests/e2e (refused at the handshake)."""

from __future__ import annotations

import base64
import json
import os
import pathlib
import queue
import subprocess
import threading
import time
from collections.abc import Iterator

import grpc
import pytest

from raftkv._pb.etcdserverpb import rpc_pb2 as pb
from raftkv._pb.etcdserverpb import rpc_pb2_grpc as pb_grpc
from tests.conftest import register_process, stop_process, wait_for
from tests.e2e.cluster import ProcessCluster, running_cluster

MIB = 1 << 20
DEADLINE = 60.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessCluster]:
    with running_cluster("raftkv", tmp_path_factory.mktemp("raftkv")) as c:
        yield c


@pytest.fixture(scope="module")
def kv(cluster: ProcessCluster) -> Iterator[pb_grpc.KVStub]:
    """A grpc C-core client for bulk writes (one etcdctl process per write would take minutes)."""
    p = cluster.pki
    creds = grpc.ssl_channel_credentials((p / "ca.crt").read_bytes(), (p / "client.key").read_bytes(),
                                         (p / "client.crt").read_bytes())
    endpoint = cluster.endpoints[0].removeprefix("https://")
    with grpc.secure_channel(endpoint, creds, options=[("grpc.max_send_message_length", 8 * MIB),
                                                       ("grpc.max_receive_message_length", 256 * MIB)]) as ch:
        yield pb_grpc.KVStub(ch)


class Watcher:
    """`etcdctl watch ... -w json` in the background; its JSON lines collected by a reader thread."""

    def __init__(self, cluster: ProcessCluster, *args: str, flags: list[str] | None = None) -> None:
        cmd = ["etcdctl", *cluster.etcdctl_flags(), *(flags or []), "watch", *args, "-w", "json"]
        self.proc = register_process(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                                      env=dict(os.environ, ETCDCTL_API="3")))
        self.lines: queue.Queue[str] = queue.Queue()
        self.events: list[dict] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.decode())

    def wait_events(self, count: int, timeout: float = DEADLINE) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.events) < count:
            assert self.proc.poll() is None, f"etcdctl watch exited: {self.stderr()}"
            left = deadline - time.monotonic()
            assert left > 0, f"{len(self.events)} of {count} events in {timeout}s"
            try:
                line = self.lines.get(timeout=min(left, 1.0))
            except queue.Empty:
                continue
            if line.startswith("{"):
                self.events += json.loads(line).get("Events") or []
        return self.events

    def stderr(self) -> str:
        if self.proc.poll() is None:
            return "(running)"
        return self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""

    def stop(self) -> None:
        stop_process(self.proc)


def value_of(event: dict) -> bytes:
    return base64.b64decode(event["kv"].get("value", ""))


def test_watch_replays_hundreds_of_revisions_with_1mib_values(cluster: ProcessCluster, kv: pb_grpc.KVStub) -> None:
    start = kv.Range(pb.RangeRequest(key=b"x"), timeout=30).header.revision + 1
    expected: list[tuple[bytes, bytes]] = []
    for i in range(400):
        value = bytes([i % 251]) * (MIB if i % 40 == 0 else 100)  # ten 1 MiB values among small ones
        key = f"wbig/{i:04d}".encode()
        kv.Put(pb.PutRequest(key=key, value=value), timeout=30)
        expected.append((key, value))
    watcher = Watcher(cluster, "--prefix", "wbig/", "--rev", str(start))
    try:
        events = watcher.wait_events(len(expected))
        got = [(base64.b64decode(ev["kv"]["key"]), value_of(ev)) for ev in events]
        assert len(got) == len(expected) and got == expected  # every revision, in order, values intact
        revisions = [int(ev["kv"]["mod_revision"]) for ev in events]
        assert revisions == sorted(revisions) and revisions[0] == start
        live = b"L" * MIB  # and a live 1 MiB event on the same stream
        kv.Put(pb.PutRequest(key=b"wbig/live", value=live), timeout=30)
        assert value_of(watcher.wait_events(len(expected) + 1)[-1]) == live
    finally:
        watcher.stop()


def test_snapshot_save_of_tens_of_mb(cluster: ProcessCluster, kv: pb_grpc.KVStub, tmp_path: pathlib.Path) -> None:
    for i in range(40):
        kv.Put(pb.PutRequest(key=f"snapbig/{i:03d}".encode(), value=os.urandom(MIB)), timeout=30)
    path = tmp_path / "big.snap"
    t0 = time.monotonic()
    saved = cluster.etcdctl("snapshot", "save", str(path), endpoints=[cluster.endpoints[1]],
                            timeouts=("5s", "60s"))
    assert saved.returncode == 0, saved.stderr
    assert f"Snapshot saved at {path}" in saved.stdout + saved.stderr
    assert path.stat().st_size >= 40 * MIB
    print(f"snapshot of {path.stat().st_size / MIB:.1f} MiB in {time.monotonic() - t0:.1f}s")


def test_keepalive_heavy_session_stays_up_for_seconds(cluster: ProcessCluster) -> None:
    pings = ["--keepalive-time=1s", "--keepalive-timeout=2s"]
    watcher = Watcher(cluster, "--prefix", "ka/", flags=pings)
    grant = cluster.etcdctl("lease", "grant", "3")  # renewed every TTL/3 s
    assert grant.returncode == 0, grant.stderr
    lease = grant.stdout.split()[1]
    keeper = register_process(subprocess.Popen(
        ["etcdctl", *cluster.etcdctl_flags(), *pings, "lease", "keep-alive", lease], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, env=dict(os.environ, ETCDCTL_API="3")))
    try:
        opened = time.monotonic()
        # The point is the duration: keepalive PINGs every second on both idle streams for 6 s.
        wait_for(lambda: time.monotonic() - opened >= 6 or watcher.proc.poll() is not None
                 or keeper.poll() is not None, 30, "six seconds of keepalive pings", interval=0.2)
        assert watcher.proc.poll() is None and keeper.poll() is None, (watcher.stderr(), keeper.returncode)
        put = cluster.etcdctl("put", "ka/after-pings", "still-here")
        assert put.returncode == 0, put.stderr
        assert value_of(watcher.wait_events(1)[0]) == b"still-here"
    finally:
        watcher.stop()
        stop_process(keeper)
    out = keeper.stdout.read().decode() if keeper.stdout else ""
    assert out.count("keepalived with TTL") >= 3, out
    cluster.etcdctl("lease", "revoke", lease)


def test_command_timeout_deadlines(cluster: ProcessCluster, kv: pb_grpc.KVStub) -> None:
    for i in range(8):
        kv.Put(pb.PutRequest(key=f"dl/{i}".encode(), value=b"d" * MIB), timeout=30)
    late = cluster.etcdctl("get", "dl/", "--prefix", timeouts=("5s", "1ms"))
    assert late.returncode != 0 and "context deadline exceeded" in late.stderr, (late.stdout[:200], late.stderr)
    ok = cluster.etcdctl("get", "dl/", "--prefix", "--keys-only", timeouts=("5s", "20s"))
    assert ok.returncode == 0 and ok.stdout.split() == [f"dl/{i}" for i in range(8)], ok.stderr
    big = cluster.etcdctl("get", "dl/", "--prefix", "-w", "json", timeouts=("5s", "20s"))  # an 8 MiB reply
    assert big.returncode == 0 and json.loads(big.stdout)["count"] == 8, big.stderr


@pytest.mark.slow
def test_check_perf(cluster: ProcessCluster) -> None:
    perf = subprocess.run(["etcdctl", *cluster.etcdctl_flags(timeouts=("5s", "120s")), "check", "perf",
                           "--load=s", "--prefix=/perf-check/"], capture_output=True, text=True,
                          env=dict(os.environ, ETCDCTL_API="3"), timeout=240)
    print(perf.stdout, perf.stderr)
    assert "Throughput" in perf.stdout and "Slowest request" in perf.stdout, perf.stderr
    assert "PASS: Throughput" in perf.stdout, perf.stdout
