"""python-etcd3's lock, unchanged, on a 3-member raftkv at etcd's default timing (1000 ms election, 100 ms
heartbeat): a lock taken with a 2 s TTL and never refreshed is released by its lease's expiry, so another
client gets it (the semantics of python-etcd3's and aetcd's `test_lock_expire`).

python-etcd3 runs in its own process (its old generated code needs the pure-Python protobuf runtime).
Nothing here is timed: the holder must see its lock in a check answered before the TTL could end, and the
lock must come free within a generous deadline.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

from tests.server.cluster import make_cluster

pytestmark = pytest.mark.e2e

LOCK_SCRIPT = textwrap.dedent('''
    import json, sys, time
    import etcd3
    host, port, pki, ttl, name = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
    def client():
        return etcd3.client(host=host, port=port, ca_cert=pki + "/ca.crt", cert_key=pki + "/client.key",
                            cert_cert=pki + "/client.crt", timeout=10)
    holder, other = client(), client()
    out = {}
    lock = holder.lock(name, ttl=ttl)
    started = time.monotonic()  # the lease's clock starts after this
    out["acquired"] = lock.acquire(timeout=10)
    out["granted_ttl"] = lock.lease.granted_ttl
    held = lock.is_acquired()
    out["held_before_ttl"] = held if time.monotonic() < started + ttl else None  # None: answered too late to judge
    while lock.is_acquired() and time.monotonic() < started + 30:
        time.sleep(0.05)
    out["released"] = not lock.is_acquired()
    out["released_after_s"] = round(time.monotonic() - started, 3)
    # (one attempt: python-etcd3's retry of a held lock breaks on current tenacity)
    out["other_acquired"] = other.lock(name, ttl=10).acquire(timeout=10)
    print(json.dumps(out))
''')


def test_a_2s_python_etcd3_lock_expires(tmp_path: pathlib.Path) -> None:
    assert importlib.util.find_spec("etcd3"), "python-etcd3 is in the test extra"
    c = make_cluster(tmp_path, 3, heartbeat_ms=100, election_ms=1000)
    try:
        c.start_all()
        c.wait_leader()
        script = tmp_path / "lock.py"
        script.write_text(LOCK_SCRIPT)
        host, port = c.nodes[0].endpoint.split(":")
        done = subprocess.run([sys.executable, str(script), host, port, str(c.pki), "2", "lock-expire"], capture_output=True,
                              text=True, timeout=120,
                              env=dict(os.environ, PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION="python"))
        assert done.returncode == 0, done.stderr[-3000:]
        out = json.loads(done.stdout.strip().splitlines()[-1])
        assert out["acquired"] is True and out["granted_ttl"] == 2
        assert out["held_before_ttl"] in (True, None)
        assert out["released"] is True and out["other_acquired"] is True
    except BaseException:
        print(c.logs())
        raise
    finally:
        c.close()
