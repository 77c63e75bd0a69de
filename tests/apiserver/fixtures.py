"""Real processes for the apiserver tests: Debian's etcd 3.4 and `python -m apiserver`, on free loopback ports."""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

from apiserver.kubeconfig import write_kubeconfig
from raftkv import pki

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
START_DEADLINE_S = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _wait(check: object, what: str, proc: subprocess.Popen[bytes], log: str) -> None:
    deadline = time.monotonic() + START_DEADLINE_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{open(log).read()[-3000:]}")
        try:
            if check():  # type: ignore[operator]
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{what} not ready after {START_DEADLINE_S}s:\n{open(log).read()[-3000:]}")


@contextlib.contextmanager
def etcd(tmp: str) -> Iterator[str]:
    client, peer = free_port(), free_port()
    url = f"http://127.0.0.1:{client}"
    log = os.path.join(tmp, "etcd.log")
    with open(log, "wb") as out:
        proc = subprocess.Popen(["etcd", "--data-dir", os.path.join(tmp, "etcd"), "--listen-client-urls", url,
                                 "--advertise-client-urls", url, "--listen-peer-urls", f"http://127.0.0.1:{peer}",
                                 "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
                                 "--initial-cluster", f"default=http://127.0.0.1:{peer}"],
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        def ready() -> bool:
            with urllib.request.urlopen(f"{url}/health", timeout=1) as r:
                return r.status == 200
        _wait(ready, "etcd", proc, log)
        yield url
    finally:
        _stop(proc)


@dataclass
class APIServer:
    url: str
    kubeconfig: str
    ca: str
    client_cert: str
    client_key: str
    log: str

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.ca)
        ctx.load_cert_chain(self.client_cert, self.client_key)
        return ctx


@contextlib.contextmanager
def apiserver(tmp: str, etcd_url: str, *, anonymous_auth: bool = False) -> Iterator[APIServer]:
    certs = os.path.join(tmp, "pki")
    pki.init_ca(certs)
    server = pki.issue(certs, "server", "apiserver", hosts=["localhost", "127.0.0.1"])
    admin = pki.issue(certs, "client", "admin", cn="admin", orgs=["system:masters"])
    ca = os.path.join(certs, "ca.crt")
    port = free_port()
    log = os.path.join(tmp, "apiserver.log")
    cmd = [sys.executable, "-m", "apiserver", "--etcd-servers", etcd_url, "--secure-port", str(port),
           "--tls-cert-file", server.cert, "--tls-private-key-file", server.key, "--client-ca-file", ca,
           f"--anonymous-auth={'true' if anonymous_auth else 'false'}"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    url = f"https://127.0.0.1:{port}"
    kc = os.path.join(tmp, "kubeconfig")
    write_kubeconfig(kc, url, ca_file=ca, cert_file=admin.cert, key_file=admin.key)
    srv = APIServer(url, kc, ca, admin.cert, admin.key, log)
    try:
        def ready() -> bool:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2, context=srv.ssl_context()) as r:
                return r.status == 200
        _wait(ready, "apiserver", proc, log)
        yield srv
    finally:
        _stop(proc)
