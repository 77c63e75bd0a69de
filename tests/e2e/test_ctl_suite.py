"""Debian's etcdctl (v3.4, ETCDCTL_API=3) against a 3-member cluster over mutual TLS.

The same assertions run on Debian's etcd 3.4 and on raftkv (the `cluster` fixture is parametrized
over both), so they pin etcd's observable behaviour rather than our assumptions. Each test uses its
own key prefix: the tests share one cluster per backend to keep start-up costs down.

(The module name avoids the word "etcd" so that `pytest -k etcd` selects only the etcd backend.)
"""

from __future__ import annotations

import base64
import json
import os
import pathlib
import re
import subprocess
import threading
from typing import IO

import grpc
import pytest

from raftkv._pb.etcdserverpb import rpc_pb2, rpc_pb2_grpc
from raftkv.pki import create_local_pki
from tests.conftest import free_port, register_process, stop_process, wait_for
from tests.e2e.cluster import ProcessCluster

pytestmark = pytest.mark.e2e

WATCH_DEADLINE_S = 20.0
MEMBER_CHANGE_DEADLINE_S = 30.0


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


class Ctl:
    """Runs etcdctl with the cluster's endpoints and a client certificate; fails loudly on errors."""

    def __init__(self, c: ProcessCluster, endpoints: list[str] | None = None, cert: str = "client") -> None:
        self.c, self.endpoints, self.cert = c, endpoints, cert

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return self.c.etcdctl(*args, cert=self.cert, endpoints=self.endpoints, stdin=stdin)

    def out(self, *args: str, stdin: str | None = None) -> str:
        p = self.run(*args, stdin=stdin)
        if p.returncode != 0:
            raise AssertionError(f"etcdctl {' '.join(args)} exited {p.returncode}: {p.stderr.strip()}")
        return p.stdout

    def fails(self, *args: str) -> str:
        """Run a command that must fail; its stderr."""
        p = self.run(*args)
        assert p.returncode != 0, f"etcdctl {' '.join(args)} succeeded: {p.stdout!r}"
        return p.stderr

    def json(self, *args: str) -> dict:
        return json.loads(self.out(*args, "-w", "json"))

    def popen(self, *args: str) -> subprocess.Popen[str]:
        argv = ["etcdctl", *self.c.etcdctl_flags(self.cert, self.endpoints), *args]
        return register_process(subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                                 env=dict(os.environ, ETCDCTL_API="3")))


@pytest.fixture(scope="module")
def ctl(cluster: ProcessCluster) -> Ctl:
    return Ctl(cluster)


class LineReader:
    """Collects a child's stdout lines in a thread, so that the test can poll them with a deadline."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self._lines: list[str] = []
        self._lock = threading.Lock()
        assert proc.stdout is not None
        threading.Thread(target=self._pump, args=(proc.stdout,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            with self._lock:
                self._lines.append(line.rstrip("\n"))

    def lines(self) -> list[str]:
        with self._lock:
            return list(self._lines)

    def wait_lines(self, n: int, what: str) -> list[str]:
        """The first `n` lines, once there are that many."""
        return wait_for(lambda: self.lines()[:n] if len(self.lines()) >= n else None, WATCH_DEADLINE_S, what)


def test_put_and_get_variants(ctl: Ctl) -> None:
    assert ctl.out("put", "pg/a", "1") == "OK\n"
    ctl.out("put", "pg/b", "2")
    ctl.out("put", "pg/c", "3")
    ctl.out("put", "pg/a", "10")
    assert ctl.out("get", "pg/a") == "pg/a\n10\n"
    assert ctl.out("get", "pg/", "--prefix") == "pg/a\n10\npg/b\n2\npg/c\n3\n"
    assert ctl.out("get", "pg/", "--prefix", "--keys-only") == "pg/a\n\npg/b\n\npg/c\n\n"
    assert ctl.out("get", "pg/", "--prefix", "--print-value-only") == "10\n2\n3\n"
    assert ctl.out("get", "pg/", "--prefix", "--limit=2") == "pg/a\n10\npg/b\n2\n"
    assert ctl.out("get", "pg/", "--prefix", "--sort-by=MODIFY", "--order=DESCEND", "--print-value-only") == \
        "10\n3\n2\n"
    assert ctl.out("get", "pg/", "--prefix", "--sort-by=KEY", "--order=DESCEND", "--print-value-only") == \
        "3\n2\n10\n"
    assert ctl.out("get", "pg/", "--prefix", "--sort-by=VALUE", "--order=ASCEND", "--print-value-only") == \
        "10\n2\n3\n"

    from_b = [base64.b64decode(kv["key"]).decode() for kv in ctl.json("get", "pg/b", "--from-key")["kvs"]]
    assert from_b[:2] == ["pg/b", "pg/c"] and from_b == sorted(from_b) and all(k >= "pg/b" for k in from_b)

    # etcdctl 3.4 has no --count-only (3.5 added it): test_count_only_over_grpc covers RangeRequest.count_only.
    limited = ctl.json("get", "pg/", "--prefix", "--limit=1")
    assert limited["more"] is True and limited["count"] == 3 and len(limited["kvs"]) == 1

    kv = ctl.json("get", "pg/a")["kvs"][0]
    assert kv["key"] == b64("pg/a") and kv["value"] == b64("10") and kv["version"] == 2
    assert kv["mod_revision"] > kv["create_revision"]
    assert ctl.out("get", "pg/a", f"--rev={kv['create_revision']}") == "pg/a\n1\n"
    assert ctl.out("get", "pg/a", f"--rev={kv['mod_revision']}") == "pg/a\n10\n"
    assert ctl.out("get", "pg/nothing") == ""
    assert ctl.out("get", "pg/a", "--consistency=s") == "pg/a\n10\n"
    assert ctl.out("put", "pg/b", "20", "--prev-kv") == "OK\npg/b\n2\n"


def test_count_only_over_grpc(ctl: Ctl, cluster: ProcessCluster) -> None:
    for key in ("co/a", "co/b", "co/c"):
        ctl.out("put", key, "v")
    creds = grpc.ssl_channel_credentials(*((cluster.pki / f).read_bytes() for f in ("ca.crt", "client.key",
                                                                                     "client.crt")))
    with grpc.secure_channel(cluster.endpoints[0].removeprefix("https://"), creds) as channel:
        kv = rpc_pb2_grpc.KVStub(channel)
        resp = kv.Range(rpc_pb2.RangeRequest(key=b"co/", range_end=b"co0", count_only=True), timeout=10)
    assert resp.count == 3 and len(resp.kvs) == 0 and resp.header.revision > 0


def test_delete_with_prev_kv_and_prefix(ctl: Ctl) -> None:
    ctl.out("put", "del/x", "gone")
    assert ctl.out("del", "del/x", "--prev-kv") == "1\ndel/x\ngone\n"
    assert ctl.out("del", "del/x") == "0\n"
    ctl.out("put", "del/p1", "a")
    ctl.out("put", "del/p2", "b")
    ctl.out("put", "dem", "outside the prefix")
    assert ctl.out("del", "del/", "--prefix", "--prev-kv") == "2\ndel/p1\na\ndel/p2\nb\n"
    assert ctl.out("get", "del/", "--prefix") == ""
    assert ctl.out("get", "dem", "--print-value-only") == "outside the prefix\n"


def test_txn_both_branches(ctl: Ctl) -> None:
    ctl.out("put", "tx/flag", "on")
    on = 'value("tx/flag") = "on"\n\nput tx/result yes\n\nput tx/result no\n\n'
    assert ctl.out("txn", stdin=on) == "SUCCESS\n\nOK\n"
    assert ctl.out("get", "tx/result", "--print-value-only") == "yes\n"
    off = 'value("tx/flag") = "off"\n\nput tx/result yes\n\nput tx/result no\n\n'
    assert ctl.out("txn", stdin=off) == "FAILURE\n\nOK\n"
    assert ctl.out("get", "tx/result", "--print-value-only") == "no\n"
    read = 'mod("tx/flag") > "0"\n\nget tx/result\ndel tx/flag\n\n\n'
    assert ctl.out("txn", stdin=read) == "SUCCESS\n\ntx/result\nno\n\n1\n"
    assert ctl.out("get", "tx/flag") == ""
    # The interactive form prompts for each part; a key that no longer exists has version 0.
    interactive = 'version("tx/flag") = "0"\n\nput tx/i yes\n\n\n'
    assert ctl.out("txn", "--interactive", stdin=interactive) == (
        "compares:\nsuccess requests (get, put, del):\nfailure requests (get, put, del):\nSUCCESS\n\nOK\n")
    assert ctl.out("get", "tx/i", "--print-value-only") == "yes\n"


def test_watch_from_revision_with_prev_kv(ctl: Ctl) -> None:
    rev = ctl.json("put", "wh/a", "1")["header"]["revision"]
    ctl.out("put", "wh/a", "2")
    ctl.out("del", "wh/a")
    proc = ctl.popen("watch", "wh/", "--prefix", f"--rev={rev}", "--prev-kv")
    try:
        # The first PUT created the key (no previous value); the others print the pair they replaced first.
        # A deletion's own pair is the key with an empty value.
        expected = ["PUT", "wh/a", "1",
                    "PUT", "wh/a", "1", "wh/a", "2",
                    "DELETE", "wh/a", "2", "wh/a", ""]
        assert LineReader(proc).wait_lines(len(expected), "the historical events") == expected
    finally:
        stop_process(proc)


def test_watch_live_prefix_while_another_client_writes(ctl: Ctl) -> None:
    proc = ctl.popen("watch", "wl/", "--prefix")
    try:
        reader = LineReader(proc)
        # The watch is registered a little after the process starts: write a marker until it shows up.
        wait_for(lambda: ctl.out("put", "wl/ready", "r") and "wl/ready" in reader.lines(), WATCH_DEADLINE_S,
                 "the watcher to see the marker put")
        ctl.out("put", "wl/second", "y")
        ctl.out("put", "outside/wl", "z")
        ctl.out("del", "wl/second")
        expected = ["PUT", "wl/second", "y", "DELETE", "wl/second", ""]

        def after_last_marker() -> list[str] | None:
            lines = reader.lines()
            marker = len(lines) - 1 - lines[::-1].index("wl/ready")
            tail = lines[marker + 2:]  # skip the marker's key and value lines
            return tail if len(tail) >= len(expected) else None

        assert wait_for(after_last_marker, WATCH_DEADLINE_S, "the live events") == expected
        assert proc.poll() is None, "etcdctl watch exited"
    finally:
        stop_process(proc)


def test_leases(ctl: Ctl) -> None:
    m = re.fullmatch(r"lease ([0-9a-f]{16}) granted with TTL\((\d+)s\)\n", ctl.out("lease", "grant", "60"))
    assert m, "unexpected grant output"
    lid = m.group(1)
    assert int(m.group(2)) == 60
    ctl.out("put", "ls/k1", "v", f"--lease={lid}")
    ctl.out("put", "ls/k2", "v", f"--lease={lid}")
    ttl = re.fullmatch(rf"lease {lid} granted with TTL\(60s\), remaining\((\d+)s\), attached keys\((.*)\)\n",
                       ctl.out("lease", "timetolive", lid, "--keys"))
    assert ttl and 0 < int(ttl.group(1)) <= 60 and sorted(ttl.group(2).strip("[]").split()) == ["ls/k1", "ls/k2"]
    assert ctl.json("get", "ls/k1")["kvs"][0]["lease"] == int(lid, 16)
    assert re.fullmatch(rf"lease {lid} keepalived with TTL\(60\)\n", ctl.out("lease", "keep-alive", "--once", lid))
    assert lid in ctl.out("lease", "list").split()
    assert ctl.out("lease", "revoke", lid) == f"lease {lid} revoked\n"
    assert ctl.out("get", "ls/", "--prefix") == ""
    assert lid not in ctl.out("lease", "list").split()


def test_lease_expiry_deletes_its_keys(ctl: Ctl) -> None:
    lid = ctl.out("lease", "grant", "2").split()[1]
    ctl.out("put", "lx/k", "v", f"--lease={lid}")
    assert ctl.out("get", "lx/k", "--print-value-only") == "v\n"
    wait_for(lambda: ctl.out("get", "lx/k") == "", 20, "the key of an expired 2 s lease to disappear")
    assert ctl.out("lease", "timetolive", lid) == f"lease {lid} already expired\n"


def test_unknown_lease(ctl: Ctl) -> None:
    assert "requested lease not found" in ctl.fails("lease", "revoke", "1234")
    assert "requested lease not found" in ctl.fails("lease", "keep-alive", "--once", "1234")
    # etcd answers TimeToLive of an unknown lease with TTL -1 rather than an error; etcdctl prints this.
    assert ctl.out("lease", "timetolive", "1234") == "lease 0000000000001234 already expired\n"
    assert "requested lease not found" in ctl.fails("put", "ls/orphan", "v", "--lease=1234")


def test_compaction_and_revision_errors(ctl: Ctl) -> None:
    r1 = ctl.json("put", "cp/k", "old")["header"]["revision"]
    r2 = ctl.json("put", "cp/k", "new")["header"]["revision"]
    assert ctl.out("compaction", str(r2)) == f"compacted revision {r2}\n"
    assert "required revision has been compacted" in ctl.fails("get", "cp/k", f"--rev={r1}")
    assert ctl.out("get", "cp/k", f"--rev={r2}") == "cp/k\nnew\n"
    assert "required revision has been compacted" in ctl.fails("compaction", str(r1))
    # A watch from below the compaction is cancelled by the server, and etcdctl exits saying so.
    watch = subprocess.run(["etcdctl", *ctl.c.etcdctl_flags(), "watch", "cp/k", f"--rev={r1}"], capture_output=True,
                           text=True, env=dict(os.environ, ETCDCTL_API="3"), timeout=WATCH_DEADLINE_S)
    assert watch.returncode != 0 and watch.stdout == ""
    assert "watch was canceled (etcdserver: mvcc: required revision has been compacted)" in watch.stderr
    assert "required revision is a future revision" in ctl.fails("get", "cp/k", "--rev=100000000")


def test_member_list_add_learner_remove(ctl: Ctl, cluster: ProcessCluster) -> None:
    members = ctl.json("member", "list")["members"]
    assert sorted(m["name"] for m in members) == ["m1", "m2", "m3"]
    assert sorted(u for m in members for u in m["clientURLs"]) == sorted(cluster.endpoints)
    assert not any(m.get("isLearner") for m in members)
    url = f"https://127.0.0.1:{free_port()}"
    # etcd refuses reconfiguration until its members have been connected for a while ("unhealthy cluster").
    out = wait_for(lambda: ctl.out("member", "add", "learner1", f"--peer-urls={url}", "--learner"),
                   MEMBER_CHANGE_DEADLINE_S, "the cluster to accept a member change")
    m = re.search(r"Member\s+([0-9a-f]+) added to cluster\s+([0-9a-f]+)", out)
    assert m, out
    new_id = m.group(1)
    listed = {format(x["ID"], "x"): x for x in ctl.json("member", "list")["members"]}
    assert listed[new_id].get("isLearner") is True and listed[new_id]["peerURLs"] == [url]
    # etcdctl prints IDs with %16x, so a short ID is padded with spaces.
    assert re.match(rf"Member\s+{new_id} removed from cluster\s+{m.group(2)}\n", ctl.out("member", "remove", new_id))
    assert sorted(format(x["ID"], "x") for x in ctl.json("member", "list")["members"]) == \
        sorted(k for k in listed if k != new_id)


def test_endpoint_status_and_health(ctl: Ctl, cluster: ProcessCluster) -> None:
    def agreed() -> list[dict] | None:
        # On a loaded machine an election can be under way; the members must agree again soon after.
        st = json.loads(ctl.out("endpoint", "status", "--cluster", "-w", "json"))
        leaders = {s["Status"]["leader"] for s in st}
        return st if len(leaders) == 1 and 0 not in leaders else None

    statuses = wait_for(agreed, 20, "every member to name the same leader")
    assert sorted(s["Endpoint"] for s in statuses) == sorted(cluster.endpoints)
    assert statuses[0]["Status"]["leader"] in {s["Status"]["header"]["member_id"] for s in statuses}
    assert all(s["Status"]["version"].startswith("3.") for s in statuses)
    health = json.loads(ctl.out("endpoint", "health", "--cluster", "-w", "json"))
    assert sorted(h["endpoint"] for h in health) == sorted(cluster.endpoints)
    assert all(h["health"] is True for h in health), health


def test_snapshot_save(ctl: Ctl, cluster: ProcessCluster, tmp_path: pathlib.Path) -> None:
    ctl.out("put", "sn/k", "v")
    path = tmp_path / "snap.db"
    one = Ctl(cluster, [cluster.endpoints[0]])
    saved = one.run("snapshot", "save", str(path))
    assert saved.returncode == 0, saved.stderr
    assert f"Snapshot saved at {path}" in saved.stdout + saved.stderr
    assert path.stat().st_size > 0
    # both stream a bbolt database (raftkv: raftkv.snapshot.export), which `etcdctl snapshot status` reads
    status = json.loads(one.out("snapshot", "status", str(path), "-w", "json"))
    assert status["totalKey"] > 0 and status["revision"] > 0


def test_move_leader(ctl: Ctl, cluster: ProcessCluster) -> None:
    statuses = json.loads(ctl.out("endpoint", "status", "--cluster", "-w", "json"))
    leader = statuses[0]["Status"]["leader"]
    target = next(s["Status"]["header"]["member_id"] for s in statuses if s["Status"]["header"]["member_id"] != leader)
    out = ctl.out("move-leader", format(target, "x"))
    assert f"Leadership transferred from {format(leader, 'x')} to {format(target, 'x')}" in out

    def everyone_follows_target() -> bool:
        st = json.loads(ctl.out("endpoint", "status", "--cluster", "-w", "json"))
        return len(st) == 3 and all(s["Status"]["leader"] == target for s in st)

    wait_for(everyone_follows_target, 20, "every member to report the new leader")
    assert ctl.out("put", "ml/after", "ok") == "OK\n"


def test_clients_without_a_valid_certificate_are_refused(ctl: Ctl, cluster: ProcessCluster,
                                                         tmp_path: pathlib.Path) -> None:
    other = tmp_path / "other-ca"
    create_local_pki(str(other), ["127.0.0.1"])
    endpoint = f"--endpoints={cluster.endpoints[0]}"
    env = dict(os.environ, ETCDCTL_API="3")
    quick = ["--dial-timeout=1s", "--command-timeout=2s"]
    foreign = subprocess.run(["etcdctl", endpoint, f"--cacert={cluster.pki / 'ca.crt'}",
                              f"--cert={other / 'client.crt'}", f"--key={other / 'client.key'}", *quick,
                              "put", "auth/foreign", "x"], capture_output=True, text=True, env=env, timeout=60)
    # The handshake fails, so etcdctl never gets a connection and gives up at its deadline.
    assert foreign.returncode != 0 and "context deadline exceeded" in foreign.stderr, foreign.stdout
    anonymous = subprocess.run(["etcdctl", endpoint, f"--cacert={cluster.pki / 'ca.crt'}", *quick,
                                "put", "auth/anonymous", "x"], capture_output=True, text=True, env=env, timeout=60)
    assert anonymous.returncode != 0 and "context deadline exceeded" in anonymous.stderr, anonymous.stdout
    # The refusals were the certificates' doing: a properly certified client is served, and nothing was written.
    assert ctl.out("get", "auth/", "--prefix") == ""


def test_negative_revisions_and_ids_over_grpc(ctl: Ctl, cluster: ProcessCluster) -> None:
    """What etcd answers to negative numbers where revisions and ids go (pinned on etcd 3.4)."""
    ctl.out("put", "neg/a", "1")
    creds = grpc.ssl_channel_credentials(*((cluster.pki / f).read_bytes() for f in ("ca.crt", "client.key",
                                                                                     "client.crt")))
    with grpc.secure_channel(cluster.endpoints[0].removeprefix("https://"), creds) as channel:
        kv = rpc_pb2_grpc.KVStub(channel)
        got = kv.Range(rpc_pb2.RangeRequest(key=b"neg/a", revision=-3), timeout=10)
        outcome: list[tuple[str, object]] = [("range rev -3", (got.count, got.kvs[0].value if got.kvs else None))]
        for label, call in [
            ("compact -5", lambda: kv.Compact(rpc_pb2.CompactionRequest(revision=-5), timeout=10)),
            ("lease grant id -1", lambda: rpc_pb2_grpc.LeaseStub(channel).LeaseGrant(
                rpc_pb2.LeaseGrantRequest(TTL=10, ID=-1), timeout=10)),
            ("lease revoke id -1", lambda: rpc_pb2_grpc.LeaseStub(channel).LeaseRevoke(
                rpc_pb2.LeaseRevokeRequest(ID=-1), timeout=10)),
            ("put lease -1", lambda: kv.Put(rpc_pb2.PutRequest(key=b"neg/b", value=b"v", lease=-1), timeout=10)),
        ]:
            try:
                call()
                outcome.append((label, "ok"))
            except grpc.RpcError as err:
                outcome.append((label, (err.code().name, err.details())))
        watch = rpc_pb2_grpc.WatchStub(channel).Watch(iter([rpc_pb2.WatchRequest(
            create_request=rpc_pb2.WatchCreateRequest(key=b"neg/a", start_revision=-7))]), timeout=10)
        created = next(watch)
        outcome.append(("watch from -7", (created.created, created.canceled, created.compact_revision)))
        watch.cancel()
    print(cluster.kind, outcome)
    assert outcome == EXPECTED_NEGATIVE_OUTCOMES


EXPECTED_NEGATIVE_OUTCOMES: list[tuple[str, object]] = [
    ("range rev -3", (1, b"1")),  # a revision <= 0 reads the current state
    ("compact -5", ("OUT_OF_RANGE", "etcdserver: mvcc: required revision has been compacted")),
    ("lease grant id -1", "ok"),  # etcd takes any non-zero id, negative ones too
    ("lease revoke id -1", "ok"),
    ("put lease -1", ("NOT_FOUND", "etcdserver: requested lease not found")),  # revoked just before
    ("watch from -7", (True, False, 0)),  # a start revision <= 0 watches from now
]
