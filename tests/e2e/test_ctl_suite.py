"""Debian's etcdctl (v3.4) against a 3-member cluster over mutual TLS: the same assertions run on a real
etcd 3.4 and on raftkv, so they check etcd's behaviour rather than our assumptions."""

from __future__ import annotations

import json
import os
import pathlib
import queue
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest

from tests.server.cluster import Cluster, make_cluster, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", params=["etcd", "raftkv"])
def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    for tool in ("etcd", "etcdctl"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed: scripts/test installs Debian's etcd-server and etcd-client")
    c = make_cluster(tmp_path_factory.mktemp(request.param), 3, kind=request.param)
    try:
        c.start_all()
        yield c
    except BaseException:
        print(c.logs())
        raise
    finally:
        c.close()


class Ctl:
    def __init__(self, c: Cluster, endpoints: list[str] | None = None, cert: str = "client") -> None:
        self.c = c
        eps = endpoints or [f"https://{n.endpoint}" for n in c.nodes]
        self.flags = [f"--endpoints={','.join(eps)}", f"--cacert={c.pki / 'ca.crt'}",
                      f"--cert={c.pki / (cert + '.crt')}", f"--key={c.pki / (cert + '.key')}",
                      "--command-timeout=10s", "--dial-timeout=5s"]
        self.env = dict(os.environ, ETCDCTL_API="3")

    def run(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        p = subprocess.run(["etcdctl", *self.flags, *args], input=stdin, capture_output=True, text=True,
                           env=self.env, timeout=60)
        if check and p.returncode != 0:
            raise AssertionError(f"etcdctl {' '.join(args)} failed ({p.returncode}): {p.stderr}")
        return p

    def out(self, *args: str, stdin: str | None = None) -> str:
        return self.run(*args, stdin=stdin).stdout

    def json(self, *args: str) -> dict:
        return json.loads(self.out(*args, "-w", "json"))

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(["etcdctl", *self.flags, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=self.env)


@pytest.fixture(scope="module")
def ctl(cluster: Cluster) -> Ctl:
    return Ctl(cluster)


def b64(s: str) -> str:
    import base64

    return base64.b64encode(s.encode()).decode()


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
    assert ctl.out("get", "pg/", "--prefix", "--sort-by=MODIFY", "--order=DESCEND", "--keys-only") == \
        "pg/a\n\npg/c\n\npg/b\n\n"
    assert ctl.out("get", "pg/b", "--from-key", "--keys-only").startswith("pg/b\n\npg/c\n\n")
    assert ctl.json("get", "pg/", "--prefix", "--keys-only")["count"] == 3
    doc = ctl.json("get", "pg/a")
    kv = doc["kvs"][0]
    assert kv["key"] == b64("pg/a") and kv["value"] == b64("10") and kv["version"] == 2
    first_rev = kv["create_revision"]
    assert kv["mod_revision"] > first_rev
    assert ctl.out("get", "pg/a", f"--rev={first_rev}") == "pg/a\n1\n"
    limited = ctl.json("get", "pg/", "--prefix", "--limit=1")
    assert limited["more"] is True and limited["count"] == 3


def test_delete_with_prev_kv(ctl: Ctl) -> None:
    ctl.out("put", "del/x", "gone")
    assert ctl.out("del", "del/x", "--prev-kv") == "1\ndel/x\ngone\n"
    assert ctl.out("del", "del/x") == "0\n"
    ctl.out("put", "del/p1", "a")
    ctl.out("put", "del/p2", "b")
    assert ctl.out("del", "del/", "--prefix") == "2\n"
    assert ctl.out("get", "del/", "--prefix") == ""


def test_txn_both_branches(ctl: Ctl) -> None:
    ctl.out("put", "tx/flag", "on")
    script = 'value("tx/flag") = "on"\n\nput tx/result yes\n\nput tx/result no\n\n'
    assert ctl.out("txn", stdin=script) == "SUCCESS\n\nOK\n"
    assert ctl.out("get", "tx/result", "--print-value-only") == "yes\n"
    script = 'value("tx/flag") = "off"\n\nput tx/result yes\n\nput tx/result no\n\n'
    assert ctl.out("txn", stdin=script) == "FAILURE\n\nOK\n"
    assert ctl.out("get", "tx/result", "--print-value-only") == "no\n"
    script = 'mod("tx/flag") > "0"\n\nget tx/result\n\n\n'
    assert ctl.out("txn", stdin=script) == "SUCCESS\n\ntx/result\nno\n"


def read_lines(proc: subprocess.Popen[str], n: int, timeout: float = 20) -> list[str]:
    q: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            q.put(line.rstrip("\n"))

    threading.Thread(target=pump, daemon=True).start()
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while len(lines) < n:
        try:
            lines.append(q.get(timeout=max(0.1, deadline - time.monotonic())))
        except queue.Empty:
            break
    return lines


def test_watch_live_and_from_revision(ctl: Ctl) -> None:
    rev = ctl.json("put", "wt/a", "1")["header"]["revision"]
    ctl.out("put", "wt/a", "2")
    hist = ctl.popen("watch", "wt/", "--prefix", f"--rev={rev}", "--prev-kv")
    live = ctl.popen("watch", "wt/b")
    try:
        got = read_lines(hist, 5)
        assert got == ["PUT", "wt/a", "1", "PUT", "wt/a"], got
        wait_for(lambda: ctl.out("put", "wt/b", "live") == "OK\n", 10, "put")
        live_lines = read_lines(live, 3)
        assert live_lines == ["PUT", "wt/b", "live"], live_lines
    finally:
        hist.kill()
        live.kill()
        hist.wait()
        live.wait()


def test_leases(ctl: Ctl) -> None:
    out = ctl.out("lease", "grant", "60")
    m = re.match(r"lease ([0-9a-f]+) granted with TTL\((\d+)s\)", out)
    assert m, out
    lid, ttl = m.group(1), int(m.group(2))
    assert ttl == 60
    ctl.out("put", "ls/k", "v", f"--lease={lid}")
    ttl_out = ctl.out("lease", "timetolive", lid, "--keys")
    assert re.match(rf"lease {lid} granted with TTL\(60s\), remaining\((\d+)s\), attached keys\(\[ls/k\]\)", ttl_out), \
        ttl_out
    ka = ctl.out("lease", "keep-alive", "--once", lid)
    assert re.match(rf"lease {lid} keepalived with TTL\(60\)", ka), ka
    assert lid in ctl.out("lease", "list")
    assert ctl.out("lease", "revoke", lid) == f"lease {lid} revoked\n"
    assert ctl.out("get", "ls/k") == ""
    bad = ctl.run("lease", "revoke", "1234", check=False)
    assert bad.returncode != 0 and "requested lease not found" in bad.stderr
    assert ctl.out("lease", "timetolive", "1234") == "lease 0000000000001234 already expired\n"


def test_compaction(ctl: Ctl) -> None:
    r1 = ctl.json("put", "cp/k", "old")["header"]["revision"]
    r2 = ctl.json("put", "cp/k", "new")["header"]["revision"]
    assert ctl.out("compaction", str(r2)) == f"compacted revision {r2}\n"
    bad = ctl.run("get", "cp/k", f"--rev={r1}", check=False)
    assert bad.returncode != 0 and "required revision has been compacted" in bad.stderr
    assert ctl.out("get", "cp/k", f"--rev={r2}") == "cp/k\nnew\n"
    bad = ctl.run("get", "cp/k", "--rev=100000000", check=False)
    assert bad.returncode != 0 and "required revision is a future revision" in bad.stderr


def test_members(ctl: Ctl, cluster: Cluster) -> None:
    members = ctl.json("member", "list")["members"]
    assert sorted(m["name"] for m in members) == ["m1", "m2", "m3"]
    from raftkv.server.launcher import free_port

    url = f"https://127.0.0.1:{free_port()}"
    # etcd refuses reconfiguration until its members have been connected for a while ("unhealthy cluster")
    out = wait_for(lambda: ctl.out("member", "add", "learner1", f"--peer-urls={url}", "--learner"), 30,
                   "the cluster to accept a member change")
    m = re.search(r"Member\s+([0-9a-f]+) added to cluster\s+([0-9a-f]+)", out)
    assert m, out
    new_id = m.group(1)
    listed = {format(x["ID"], "x"): x for x in ctl.json("member", "list")["members"]}
    assert listed[new_id].get("isLearner") is True and listed[new_id]["peerURLs"] == [url]
    assert ctl.out("member", "remove", new_id).startswith(f"Member {new_id} removed from cluster")
    assert len(ctl.json("member", "list")["members"]) == 3


def test_endpoint_status_and_health(ctl: Ctl, cluster: Cluster) -> None:
    statuses = json.loads(ctl.out("endpoint", "status", "--cluster", "-w", "json"))
    assert len(statuses) == 3
    leaders = {s["Status"]["leader"] for s in statuses}
    assert len(leaders) == 1 and 0 not in leaders
    assert all(s["Status"]["version"].startswith("3.") for s in statuses)
    health = ctl.run("endpoint", "health", "--cluster")
    text = health.stdout + health.stderr
    assert text.count("is healthy") == 3, text


def test_snapshot_save(ctl: Ctl, cluster: Cluster, tmp_path: pathlib.Path) -> None:
    path = tmp_path / "snap.db"
    one = Ctl(cluster, [f"https://{cluster.nodes[0].endpoint}"])
    out = one.run("snapshot", "save", str(path))
    assert "Snapshot saved at" in out.stdout + out.stderr
    assert path.stat().st_size > 0
    if cluster.kind == "etcd":  # raftkv's snapshot is its own database image, not bbolt
        status = json.loads(one.out("snapshot", "status", str(path), "-w", "json"))
        assert status["totalKey"] > 0


def test_move_leader(ctl: Ctl, cluster: Cluster) -> None:
    statuses = json.loads(ctl.out("endpoint", "status", "--cluster", "-w", "json"))
    leader = statuses[0]["Status"]["leader"]
    target = next(s["Status"]["header"]["member_id"] for s in statuses if s["Status"]["header"]["member_id"] != leader)
    out = ctl.out("move-leader", format(target, "x"))
    assert f"Leadership transferred from {format(leader, 'x')} to {format(target, 'x')}" in out

    def new_leader() -> bool:
        st = json.loads(ctl.out("endpoint", "status", "--cluster", "-w", "json"))
        return all(s["Status"]["leader"] == target for s in st)

    wait_for(new_leader, 20, "every member to report the new leader")


def test_clients_without_valid_certificates_are_refused(ctl: Ctl, cluster: Cluster, tmp_path: pathlib.Path) -> None:
    from raftkv.pki import create_local_pki

    other = tmp_path / "other"
    create_local_pki(str(other), ["127.0.0.1"])
    ep = f"--endpoints=https://{cluster.nodes[0].endpoint}"
    env = dict(os.environ, ETCDCTL_API="3")
    foreign = subprocess.run(["etcdctl", ep, f"--cacert={cluster.pki / 'ca.crt'}", f"--cert={other / 'client.crt'}",
                              f"--key={other / 'client.key'}", "--dial-timeout=3s", "--command-timeout=5s",
                              "get", "x"], capture_output=True, text=True, env=env, timeout=60)
    assert foreign.returncode != 0
    anonymous = subprocess.run(["etcdctl", ep, f"--cacert={cluster.pki / 'ca.crt'}", "--dial-timeout=3s",
                                "--command-timeout=5s", "get", "x"], capture_output=True, text=True, env=env,
                               timeout=60)
    assert anonymous.returncode != 0
