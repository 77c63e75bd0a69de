"""A control plane of real processes for controller tests: a store, `python -m apiserver` with kube-apiserver-like
flags, kubeconfigs for the admin and for the controller manager, and `python -m controllers` processes.

Store: Debian's etcd 3.4 (fast; the default where the store is not the point) or a 3-member raftkv cluster over
mTLS (`tests.apiserver.fixtures.store`). The API server runs with --authorization-mode Node,RBAC, a client CA,
service account signing keys (so TokenRequest works for --use-service-account-credentials) and its default
admission. Every process is stopped by PID (tests.conftest's registry is the last line of defence).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from apiserver.kubeconfig import write_kubeconfig
from raftkv import pki
from tests.apiserver.fixtures import APIServer, Store, store
from tests.apiserver_auth.cluster import write_signing_key
from tests.conftest import GiveUp, free_port, register_process, stop_process, wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ISSUER = "https://kubernetes.default.svc.cluster.local"
KUBECTL_TIMEOUT_S = 60
LOG_TAIL = 4000
KCM_USER = "system:kube-controller-manager"


@dataclass
class Response:
    code: int
    body: Any


@dataclass
class ControllerManager:
    """One `python -m controllers` process."""
    proc: subprocess.Popen[bytes]
    log_path: str
    args: list[str]

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self) -> int | None:
        """SIGTERM (graceful: the lease is released), then SIGKILL after the grace period."""
        return stop_process(self.proc)

    def kill(self) -> None:
        """SIGKILL, as a crash: nothing is released."""
        if self.alive():
            self.proc.kill()
        self.proc.wait(10)
        stop_process(self.proc)

    def wait_exit(self, timeout: float) -> int:
        return self.proc.wait(timeout)


class APIServerProcess:
    """`python -m apiserver` as tests.apiserver.fixtures starts it, but restartable on the same port (informer
    tests need the server to go away and come back)."""

    def __init__(self, tmp: str, st: Store, extra_args: Sequence[str]) -> None:
        certs = os.path.join(tmp, "pki")
        pki.init_ca(certs)
        server = pki.issue(certs, "server", "apiserver", hosts=["localhost", "127.0.0.1"])
        admin = pki.issue(certs, "client", "admin", cn="admin", orgs=["system:masters"])
        ca = os.path.join(certs, "ca.crt")
        self.port = free_port()
        self.log_path = os.path.join(tmp, "apiserver.log")
        self.cmd = [sys.executable, "-m", "apiserver", "--etcd-servers", st.url, "--secure-port", str(self.port),
                    "--tls-cert-file", server.cert, "--tls-private-key-file", server.key, "--client-ca-file", ca,
                    "--anonymous-auth=false", *extra_args]
        if st.tls is not None:
            self.cmd += ["--etcd-cafile", st.tls.ca, "--etcd-certfile", st.tls.cert, "--etcd-keyfile", st.tls.key]
        url = f"https://127.0.0.1:{self.port}"
        kc = os.path.join(tmp, "kubeconfig")
        write_kubeconfig(kc, url, ca_file=ca, cert_file=admin.cert, key_file=admin.key)
        self.info = APIServer(url, kc, ca, admin.cert, admin.key, self.log_path, certs)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as out:
            self.proc = register_process(subprocess.Popen(self.cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT))
        proc = self.proc

        def ready() -> bool:
            if proc.poll() is not None:
                with open(self.log_path, errors="replace") as f:
                    raise GiveUp(f"apiserver exited with {proc.returncode}:\n{f.read()[-LOG_TAIL:]}")
            host = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.info.ssl_context(), timeout=2)
            try:
                host.request("GET", "/readyz")
                return host.getresponse().status == 200
            finally:
                host.close()
        wait_for(ready, 60, "the API server to be ready", interval=0.05)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


def start_manager(kubeconfig: str, flags: Sequence[str], log_path: str,
                  env: dict[str, str] | None = None) -> ControllerManager:
    """`python -m controllers --kubeconfig <kubeconfig> <flags>`, logging to `log_path`; --secure-port=0 and
    --use-service-account-credentials=true unless a flag sets them."""
    args = ["--kubeconfig", kubeconfig, *flags]
    if not any(f.startswith("--secure-port") for f in flags):
        args.append("--secure-port=0")
    if not any(f.startswith("--use-service-account-credentials") for f in flags):
        args.append("--use-service-account-credentials=true")
    with open(log_path, "wb") as out:
        proc = register_process(subprocess.Popen([sys.executable, "-m", "controllers", *args], cwd=ROOT,
                                                 stdout=out, stderr=subprocess.STDOUT,
                                                 env={**os.environ, **(env or {})}))
    return ControllerManager(proc, log_path, args)


# What every cluster's controller manager does and tests of other parts rely on: the `default` ServiceAccount of
# each namespace (the API server refuses pods without it, as kube-apiserver does).
SYSTEM_CONTROLLERS = ("serviceaccount",)


@contextlib.contextmanager
def system_controllers(server: APIServer, tmp: str, controllers: Sequence[str] = SYSTEM_CONTROLLERS,
                       name: str = "system") -> Iterator[ControllerManager | None]:
    """A controller manager running `controllers` as admin (no leader election, no per-controller credentials)
    for the life of a test fixture; ready once `default` has its ServiceAccount when the serviceaccount
    controller is among them."""
    if not controllers:
        yield None
        return
    m = start_manager(server.kubeconfig, [f"--controllers={','.join(controllers)}", "--leader-elect=false",
                                          "--use-service-account-credentials=false"],
                      os.path.join(tmp, f"kcm-{name}.log"))
    try:
        if "serviceaccount" in controllers:
            host, port = server.url.removeprefix("https://").split(":")

            def has_default_account() -> bool:
                if not m.alive():
                    raise GiveUp(f"controller manager exited with {m.proc.returncode}:\n{m.log()[-LOG_TAIL:]}")
                conn = http.client.HTTPSConnection(host, int(port), context=server.ssl_context(), timeout=5)
                try:
                    conn.request("GET", "/api/v1/namespaces/default/serviceaccounts/default")
                    return conn.getresponse().status == 200
                finally:
                    conn.close()
            wait_for(has_default_account, 60, "the serviceaccount controller to create default/default",
                     interval=0.1)
        yield m
    finally:
        m.stop()


@dataclass
class ControlPlane:
    tmp: str
    store: Store
    server: APIServer
    admin_kubeconfig: str
    kcm_kubeconfig: str
    apiserver_process: APIServerProcess | None = None
    managers: list[ControllerManager] = field(default_factory=list)

    def restart_apiserver(self) -> None:
        """Stop the API server and start it again on the same port (same store, same certificates)."""
        assert self.apiserver_process is not None
        self.apiserver_process.restart()

    @property
    def url(self) -> str:
        return self.server.url

    # ---------------------------------------------------------------- identities
    def kubeconfig_for(self, name: str, cn: str, orgs: Sequence[str] = ()) -> str:
        """A kubeconfig with a client certificate CN=`cn`, O=`orgs` signed by the API server's client CA."""
        issued = pki.issue(self.server.pki_dir, "client", name, cn=cn, orgs=list(orgs))
        path = os.path.join(self.tmp, f"kubeconfig-{name}")
        write_kubeconfig(path, self.url, ca_file=self.server.ca, cert_file=issued.cert, key_file=issued.key,
                         user=name)
        return path

    # ---------------------------------------------------------------- API and kubectl as admin
    def _context(self) -> ssl.SSLContext:
        return self.server.ssl_context()

    def request(self, method: str, path: str, body: Any = None, content_type: str = "application/json",
                timeout: float = 30) -> Response:
        host, port = self.url.removeprefix("https://").split(":")
        conn = http.client.HTTPSConnection(host, int(port), context=self._context(), timeout=timeout)
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        try:
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
        finally:
            conn.close()
        try:
            parsed: Any = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")
        return Response(resp.status, parsed)

    def api(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> Any:
        """The decoded answer of a 2xx request as admin; an AssertionError naming the Status otherwise."""
        r = self.request(method, path, body, content_type)
        assert 200 <= r.code < 300, f"{method} {path} -> {r.code} {r.body}"
        return r.body

    def get(self, path: str) -> Any | None:
        """GET as admin; None on 404."""
        r = self.request("GET", path)
        if r.code == 404:
            return None
        assert r.code == 200, f"GET {path} -> {r.code} {r.body}"
        return r.body

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, HOME=self.tmp)
        env.pop("KUBECONFIG", None)
        p = subprocess.run(["kubectl", "--kubeconfig", self.admin_kubeconfig, *args], env=env, input=stdin,
                           capture_output=True, text=True, timeout=KUBECTL_TIMEOUT_S)
        if check:
            assert p.returncode == 0, f"kubectl {' '.join(args)}: {p.stderr}"
        return p

    def create_namespace(self, name: str) -> None:
        r = self.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                         "metadata": {"name": name}})
        assert r.code in (201, 409), r.body

    # ---------------------------------------------------------------- the controller manager
    def start_controller_manager(self, *flags: str, kubeconfig: str | None = None,
                                 env: dict[str, str] | None = None) -> ControllerManager:
        """`python -m controllers --kubeconfig <kcm> <flags>`; --secure-port=0 unless a flag sets it, and
        --use-service-account-credentials=true (as kubeadm runs kube-controller-manager: the manager's own
        identity may only list/watch, each controller writes as its `system:controller:*` service account)
        unless a flag sets it."""
        m = start_manager(kubeconfig or self.kcm_kubeconfig, flags, os.path.join(self.tmp, f"kcm-{len(self.managers)}.log"),
                          env)
        self.managers.append(m)
        return m

    def wait_for_log(self, m: ControllerManager, text: str, timeout: float = 30) -> None:
        def seen() -> bool:
            if not m.alive() and text not in m.log():
                raise GiveUp(f"controller manager exited with {m.proc.returncode}:\n{m.log()[-LOG_TAIL:]}")
            return text in m.log()
        try:
            wait_for(seen, timeout, f"{text!r} in the controller manager's log")
        except AssertionError as e:
            raise AssertionError(f"{e}\n--- {m.log_path}:\n{m.log()[-LOG_TAIL:]}") from None

    def stop_managers(self) -> None:
        for m in self.managers:
            m.stop()
        self.managers.clear()

    def wait(self, predicate: Callable[[], Any], timeout: float, what: str) -> Any:
        return wait_for(predicate, timeout, what, interval=0.1)


@contextlib.contextmanager
def control_plane(kind: str = "etcd", extra_apiserver_args: Sequence[str] = (),
                  background: Sequence[str] = SYSTEM_CONTROLLERS) -> Iterator[ControlPlane]:
    """A store of `kind` ("etcd" or "raftkv") and an API server on it, with admin and controller-manager
    kubeconfigs, and a controller manager of its own running the `background` controllers (see
    `system_controllers`; empty for none); everything stopped and removed afterwards."""
    tmp = tempfile.mkdtemp(prefix="controllers-")
    key = os.path.join(tmp, "sa.key")
    write_signing_key(key)
    args = ["--authorization-mode", "Node,RBAC", "--service-account-signing-key-file", key,
            "--service-account-key-file", key, "--service-account-issuer", ISSUER,
            "--watch-bookmark-interval", "5", *extra_apiserver_args]
    cp: ControlPlane | None = None
    server: APIServerProcess | None = None
    try:
        with store(kind, tmp) as st:
            server = APIServerProcess(tmp, st, args)
            server.start()
            srv = server.info
            cp = ControlPlane(tmp, st, srv, srv.kubeconfig, "", server)
            cp.kcm_kubeconfig = cp.kubeconfig_for("kube-controller-manager", KCM_USER)
            with system_controllers(srv, tmp, background):
                yield cp
    finally:
        if cp is not None:
            cp.stop_managers()
        if server is not None:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
