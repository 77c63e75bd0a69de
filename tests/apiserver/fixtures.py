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
from collections.abc import Iterator, Sequence
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


@dataclass
class EtcdTLS:
    """Client credentials for an etcd started with client-cert-auth."""
    ca: str
    cert: str
    key: str


@contextlib.contextmanager
def etcd(tmp: str, *, tls: bool = False) -> Iterator[str]:
    """Debian's etcd 3.4 on free loopback ports; with `tls`, https + client-cert-auth (see `etcd_tls(tmp)`)."""
    client, peer = free_port(), free_port()
    scheme = "https" if tls else "http"
    url = f"{scheme}://127.0.0.1:{client}"
    log = os.path.join(tmp, "etcd.log")
    cmd = ["etcd", "--data-dir", os.path.join(tmp, "etcd"), "--listen-client-urls", url,
           "--advertise-client-urls", url, "--listen-peer-urls", f"http://127.0.0.1:{peer}",
           "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
           "--initial-cluster", f"default=http://127.0.0.1:{peer}"]
    ctx = None
    if tls:
        certs = os.path.join(tmp, "etcd-pki")
        pki.init_ca(certs)
        server = pki.issue(certs, "server", "etcd", hosts=["localhost", "127.0.0.1"])
        client_pair = pki.issue(certs, "client", "apiserver-etcd-client", cn="kube-apiserver-etcd-client")
        ca = os.path.join(certs, "ca.crt")
        cmd += ["--cert-file", server.cert, "--key-file", server.key, "--trusted-ca-file", ca,
                "--client-cert-auth"]
        ctx = ssl.create_default_context(cafile=ca)
        ctx.load_cert_chain(client_pair.cert, client_pair.key)
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    try:
        def ready() -> bool:
            with urllib.request.urlopen(f"{url}/health", timeout=1, context=ctx) as r:
                return r.status == 200
        _wait(ready, "etcd", proc, log)
        yield url
    finally:
        _stop(proc)


def etcd_tls(tmp: str) -> EtcdTLS:
    certs = os.path.join(tmp, "etcd-pki")
    return EtcdTLS(os.path.join(certs, "ca.crt"), os.path.join(certs, "apiserver-etcd-client.crt"),
                   os.path.join(certs, "apiserver-etcd-client.key"))


@dataclass
class APIServer:
    url: str
    kubeconfig: str
    ca: str
    client_cert: str
    client_key: str
    log: str
    pki_dir: str = ""  # the client CA: `pki.issue(pki_dir, "client", ...)` makes more identities

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.ca)
        ctx.load_cert_chain(self.client_cert, self.client_key)
        return ctx


@contextlib.contextmanager
def apiserver(tmp: str, etcd_url: str, *, anonymous_auth: bool = False,
              etcd_client: EtcdTLS | None = None, bookmark_interval: float = 60.0,
              extra_args: Sequence[str] = (), kube_flags_only: bool = False, name: str = "apiserver",
              port: int = 0, controllers: Sequence[str] | None = None) -> Iterator[APIServer]:
    """With `kube_flags_only`, nothing but the serving flags and `extra_args` is passed (no --anonymous-auth, no
    --watch-bookmark-interval): the server runs on kube-apiserver's defaults. `name` keeps several servers'
    files apart in one `tmp` (they share its client CA); `port` reuses a secure port (a restart). `controllers`:
    what a `python -m controllers` beside it runs (default tests.controllers.cluster.SYSTEM_CONTROLLERS, the
    serviceaccount controller that gives each namespace the `default` account pods need; `()` for none)."""
    certs = os.path.join(tmp, "pki")
    if not os.path.exists(os.path.join(certs, "ca.crt")):
        pki.init_ca(certs)
    server = pki.issue(certs, "server", name, hosts=["localhost", "127.0.0.1"])
    admin = pki.issue(certs, "client", "admin", cn="admin", orgs=["system:masters"])
    ca = os.path.join(certs, "ca.crt")
    port = port or free_port()
    log = os.path.join(tmp, f"{name}.log")
    cmd = [sys.executable, "-m", "apiserver", "--etcd-servers", etcd_url, "--secure-port", str(port),
           "--tls-cert-file", server.cert, "--tls-private-key-file", server.key, "--client-ca-file", ca]
    if not kube_flags_only:
        cmd += [f"--anonymous-auth={'true' if anonymous_auth else 'false'}",
                "--watch-bookmark-interval", str(bookmark_interval)]
    cmd += extra_args
    if etcd_client is not None:
        cmd += ["--etcd-cafile", etcd_client.ca, "--etcd-certfile", etcd_client.cert,
                "--etcd-keyfile", etcd_client.key]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    url = f"https://127.0.0.1:{port}"
    kc = os.path.join(tmp, "kubeconfig" if name == "apiserver" else f"{name}.kubeconfig")
    write_kubeconfig(kc, url, ca_file=ca, cert_file=admin.cert, key_file=admin.key)
    srv = APIServer(url, kc, ca, admin.cert, admin.key, log, certs)
    try:
        def ready() -> bool:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2, context=srv.ssl_context()) as r:
                return r.status == 200
        _wait(ready, "apiserver", proc, log)
        from tests.controllers.cluster import SYSTEM_CONTROLLERS, system_controllers
        with system_controllers(srv, tmp, SYSTEM_CONTROLLERS if controllers is None else controllers,
                                name=f"{name}-controllers"):
            yield srv
    finally:
        _stop(proc)


@dataclass
class Store:
    """Where the apiserver keeps its objects: a URL, its client TLS, and the etcdctl flags that reach it."""
    kind: str
    url: str
    tls: EtcdTLS | None
    etcdctl_flags: list[str]

    def etcdctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["etcdctl", *self.etcdctl_flags, *args], capture_output=True, text=True, check=True,
                              env={**os.environ, "ETCDCTL_API": "3"}, timeout=30)


@contextlib.contextmanager
def store(kind: str, tmp: str) -> Iterator[Store]:
    """Debian's etcd 3.4 (one member, plain http), or a 3-member `raftkv serve` cluster over mTLS."""
    if kind == "etcd":
        with etcd(tmp) as url:
            yield Store(kind, url, None, [f"--endpoints={url}"])
        return
    import pathlib

    from tests.e2e.cluster import running_cluster
    with running_cluster("raftkv", pathlib.Path(tmp) / "raftkv", size=3) as cluster:
        p = cluster.pki
        yield Store(kind, cluster.endpoints[0], EtcdTLS(str(p / "ca.crt"), str(p / "client.crt"),
                                                        str(p / "client.key")), cluster.etcdctl_flags())

