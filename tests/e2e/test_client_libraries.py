"""Existing etcd client libraries, unchanged, against etcd 3.4 and raftkv alike: python-etcd3 (grpc C-core, over
mutual TLS on the 3-member cluster) and etcd-client-py (Rust's etcd-client: tonic, hyper and h2 — an HTTP/2 stack
independent of both grpc and ours — over plain HTTP/2 on a one-member server). Each runs in its own process: the
old generated code of python-etcd3 needs the pure-Python protobuf runtime."""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import free_port, wait_for
from tests.e2e.cluster import ProcessCluster

pytestmark = pytest.mark.e2e

ETCD3_SCRIPT = textwrap.dedent('''
    import json, sys
    import etcd3
    host, port, pki = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    c = etcd3.client(host=host, port=port, ca_cert=pki + "/ca.crt", cert_key=pki + "/client.key",
                     cert_cert=pki + "/client.crt", timeout=10)
    out = {}
    c.put("/lib/a", "1"); c.put("/lib/b", "2")
    out["get"] = c.get("/lib/a")[0].decode()
    out["prefix"] = sorted(m.key.decode() for _, m in c.get_prefix("/lib/"))
    lease = c.lease(30)
    c.put("/lib/leased", "x", lease=lease)
    out["lease_keys"] = [k.decode() for k in lease.keys]
    ok, _ = c.transaction(compare=[c.transactions.value("/lib/a") == "1"],
                          success=[c.transactions.put("/lib/a", "3")], failure=[])
    out["txn"] = ok
    out["after_txn"] = c.get("/lib/a")[0].decode()
    events, cancel = c.watch_prefix("/lib/", start_revision=1)
    seen = []
    for ev in events:
        seen.append(ev.key.decode())
        if len(seen) == 4:
            break
    cancel()
    out["watch"] = seen
    out["members"] = len(list(c.members))
    out["deleted"] = c.delete_prefix("/lib/").deleted
    lease.revoke()
    print(json.dumps(out))
''')

RUST_SCRIPT = textwrap.dedent('''
    import asyncio, json, sys
    from etcd_client import Client

    async def main():
        out = {}
        async with Client([sys.argv[1]]).connect() as c:
            await c.put(b"/rs/a", b"1")
            await c.put(b"/rs/b", b"2")
            out["get"] = bytes(await c.get(b"/rs/a")).decode()
            out["prefix"] = [[bytes(x).decode() for x in kv] for kv in await c.get_prefix(b"/rs/")]
            watch = c.watch(b"/rs/w")

            async def put_soon():
                await asyncio.sleep(0.5)
                await c.put(b"/rs/w", b"x")
            writer = asyncio.create_task(put_soon())
            async for ev in watch:
                out["watch"] = [bytes(ev.key).decode(), bytes(ev.value).decode()]
                break
            await writer
            await c.delete_prefix(b"/rs/")
            out["after_delete"] = await c.get_prefix(b"/rs/")
        print(json.dumps(out))

    asyncio.run(main())
''')


def run_script(script: str, args: list[str], tmp_path: pathlib.Path) -> dict:
    path = tmp_path / "client.py"
    path.write_text(script)
    env = dict(os.environ, PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION="python")
    done = subprocess.run([sys.executable, str(path), *args], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_python_etcd3_over_mutual_tls(cluster: ProcessCluster, tmp_path: pathlib.Path) -> None:
    assert importlib.util.find_spec("etcd3"), "python-etcd3 is in the test extra"  # imported in its own process
    host, port = cluster.endpoints[0].removeprefix("https://").split(":")
    out = run_script(ETCD3_SCRIPT, [host, port, str(cluster.pki)], tmp_path)
    assert out == {"get": "1", "prefix": ["/lib/a", "/lib/b"], "lease_keys": ["/lib/leased"], "txn": True,
                   "after_txn": "3", "watch": ["/lib/a", "/lib/b", "/lib/leased", "/lib/a"], "members": 3,
                   "deleted": 3}


@pytest.mark.parametrize("kind", ["etcd", "raftkv"])
def test_rust_etcd_client_over_plain_http2(kind: str, tmp_path: pathlib.Path) -> None:
    assert importlib.util.find_spec("etcd_client"), "etcd-client-py is in the test extra"
    port, peer = free_port(), free_port()
    url = f"http://127.0.0.1:{port}"
    common = ["--name", "solo", "--data-dir", str(tmp_path / "data"), "--listen-client-urls", url,
              "--advertise-client-urls", url, "--listen-peer-urls", f"http://127.0.0.1:{peer}",
              "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
              "--initial-cluster", f"solo=http://127.0.0.1:{peer}"]
    program = ["etcd"] if kind == "etcd" else [sys.executable, "-m", "raftkv", "serve"]
    log = open(tmp_path / "member.log", "wb")
    proc = subprocess.Popen(program + common, stdout=log, stderr=subprocess.STDOUT)
    try:
        import urllib.request
        wait_for(lambda: urllib.request.urlopen(f"{url}/health", timeout=5).status == 200, 60, f"{kind} healthy")
        out = run_script(RUST_SCRIPT, [url], tmp_path)
        assert out == {"get": "1", "prefix": [["/rs/a", "1"], ["/rs/b", "2"]], "watch": ["/rs/w", "x"],
                       "after_delete": []}
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
