"""raftkv-proxy --proxy-mode userspace as a process, no root needed: a real API server, a NodePort Service whose
EndpointSlices (written by the test) name two HTTP servers on loopback, the NodePort served on 127.0.0.1."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import register_process, stop_process, wait_for
from tests.controllers.cluster import ControlPlane, control_plane

pytestmark = pytest.mark.e2e
NS = "proxy-us-e2e"
DEADLINE_S = 30.0


def backend(name: str) -> tuple[http.server.ThreadingHTTPServer, int]:
    body = name.encode()

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a: Any) -> None:
            pass
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, srv.server_address[1]


@pytest.fixture(scope="module")
def cp() -> Iterator[ControlPlane]:
    with control_plane("etcd") as plane:
        plane.create_namespace(NS)
        yield plane


def get(url: str) -> str:
    try:
        return urllib.request.urlopen(url, timeout=2).read().decode()
    except OSError as e:
        return f"ERR {type(e).__name__}"


def slice_for(name: str, port: int) -> dict[str, Any]:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name, "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
            "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": True}, "nodeName": "node1"}]}


def test_userspace_nodeport_follows_endpoints(cp: ControlPlane, tmp_path: Any) -> None:
    (a, pa), (b, pb) = backend("a"), backend("b")
    svc = cp.api("POST", f"/api/v1/namespaces/{NS}/services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"type": "NodePort", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}})
    slices = f"/apis/discovery.k8s.io/v1/namespaces/{NS}/endpointslices"
    cp.api("POST", slices, slice_for("web-a", pa))
    cp.api("POST", slices, slice_for("web-b", pb))
    log = tmp_path / "proxy.log"
    with open(log, "wb") as out:
        proc = register_process(subprocess.Popen(
            [sys.executable, "-m", "agents.proxy", "--kubeconfig", cp.admin_kubeconfig, "--hostname-override",
             "node1", "--proxy-mode", "userspace", "--nodeport-addresses", "127.0.0.1/32"],
            stdout=out, stderr=subprocess.STDOUT, cwd=os.getcwd()))
    try:
        wait_for(lambda: "Using userspace proxy on node node1" in log.read_text(), DEADLINE_S, "userspace start")
        url = f"http://127.0.0.1:{svc['spec']['ports'][0]['nodePort']}/"
        wait_for(lambda: {get(url) for _ in range(6)} == {"a", "b"}, DEADLINE_S, "both backends")
        cp.api("DELETE", f"{slices}/web-a")
        t0 = time.monotonic()
        wait_for(lambda: {get(url) for _ in range(6)} == {"b"}, DEADLINE_S, "a removed")
        assert time.monotonic() - t0 < 3.0
        assert proc.poll() is None
    finally:
        stop_process(proc)
        a.shutdown()
        b.shutdown()
