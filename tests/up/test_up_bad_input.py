"""Bad input to `raftkv up`: a port already taken, a directory from another version or damaged — each a clear
message and nothing left running. (A damaged member and a second `raftkv up` are in test_up_e2e.py, which has a
cluster to damage.)"""

from __future__ import annotations

import json
import os
import socket

import pytest

from raftkv.up.layout import FORMAT
from tests.up.harness import up_dir

pytestmark = pytest.mark.e2e


def test_a_taken_port_is_named_and_nothing_starts() -> None:
    with up_dir() as u, socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = u.run("up", "--dir", u.d, "--simulated-nodes", "1", "--apiserver-port", str(port), timeout=60)
        assert r.returncode == 1, r.stdout + r.stderr
        assert f"port(s) already in use by another program: 127.0.0.1:{port} (apiserver-1)" in r.stderr
        assert "nothing was started" in r.stderr
        assert u.processes_mentioning_dir() == []
        assert u.recorded_alive() == []


@pytest.mark.parametrize("content, message", [
    ("{not json", "is not valid JSON"),
    (json.dumps({"format": FORMAT + 1}), f"this raftkv reads format {FORMAT}"),
    (json.dumps({"nodes": []}), "is not a `raftkv up` layout"),
])
def test_a_directory_from_another_version_or_damaged_is_refused(content: str, message: str) -> None:
    with up_dir() as u:
        os.makedirs(u.d)
        with open(os.path.join(u.d, "cluster.json"), "w") as f:
            f.write(content)
        r = u.run("up", "--dir", u.d, timeout=60)
        assert r.returncode == 2
        assert message in r.stderr and "--dir" in r.stderr
        assert u.processes_mentioning_dir() == []
        for cmd in ("status", "down"):
            r = u.run(cmd, "--dir", u.d, timeout=60)
            assert r.returncode == 2 and message in r.stderr
        os.remove(os.path.join(u.d, "cluster.json"))  # so the teardown's `raftkv down` has nothing to read


def test_down_and_status_of_a_directory_without_a_cluster_say_so() -> None:
    with up_dir() as u:
        for cmd in ("status", "down"):
            r = u.run(cmd, "--dir", u.d, timeout=60)
            assert r.returncode == 1 and f"no cluster in {u.d}" in r.stderr
