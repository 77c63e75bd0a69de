"""A real etcd + `python -m apiserver` with authentication, RBAC and admission on, and the identities a new user
would test with: each one a kubeconfig for the machine's kubectl and the same credentials for raw HTTPS requests.

Identities (names are the kubeconfig users): admin (system:masters client cert), a client cert from no group,
static tokens from --token-auth-file, a kubelet cert (system:node:<name>, system:nodes), service account tokens
(minted by the server through `kubectl create token`), and nobody (no credentials at all).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import ssl
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from apiserver.kubeconfig import write_kubeconfig
from raftkv import pki
from tests.apiserver.fixtures import APIServer, EtcdTLS, apiserver, etcd
from tests.conftest import wait_for

ISSUER = "https://raftkv.test"
# Beside the API server, as in a cluster: `default` accounts for pods, and quota usage (status) computed and given
# back on deletes by the resourcequota controller — the API server only charges creates against status.
CONTROLLERS = ("serviceaccount", "resourcequota")
QUOTA_DEADLINE_S = 60
KUBECTL_TIMEOUT_S = 60
STATIC_TOKENS = {"vera": "vera-token-0123456789", "adam": "adam-token-0123456789"}


@dataclass
class Identity:
    name: str
    kubeconfig: str
    cert: str = ""
    key: str = ""
    token: str = ""


@dataclass
class Response:
    code: int
    body: Any


class AuthCluster:
    def __init__(self, srv: APIServer, tmp: str, signing_key: str) -> None:
        self.srv = srv
        self.tmp = tmp
        self.signing_key = signing_key
        self.ids: dict[str, Identity] = {"admin": Identity("admin", srv.kubeconfig, srv.client_cert,
                                                           srv.client_key)}
        self.add_identity("nobody")

    # ------------------------------------------------------------------ identities
    def add_identity(self, name: str, *, cn: str | None = None, orgs: Sequence[str] = (), token: str = "") -> Identity:
        path = os.path.join(self.tmp, f"kubeconfig-{name}")
        ident = Identity(name, path, token=token)
        if cn is not None:
            issued = pki.issue(self.srv.pki_dir, "client", name, cn=cn, orgs=list(orgs))
            ident.cert, ident.key = issued.cert, issued.key
        write_kubeconfig(path, self.srv.url, ca_file=self.srv.ca, cert_file=ident.cert, key_file=ident.key,
                         token=token, user=name)
        self.ids[name] = ident
        return ident

    def ssl_context(self, ident: Identity | None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.srv.ca)
        if ident is not None and ident.cert:
            ctx.load_cert_chain(ident.cert, ident.key)
        return ctx

    # ------------------------------------------------------------------ raw HTTPS
    def request(self, who: str | None, method: str, path: str, body: Any = None,
                headers: dict[str, str] | None = None, token: str = "") -> Response:
        ident = self.ids.get(who) if who else None
        host, port = self.srv.url.removeprefix("https://").split(":")
        conn = http.client.HTTPSConnection(host, int(port), context=self.ssl_context(ident), timeout=30)
        hdrs = {"Accept": "application/json", **(headers or {})}
        bearer = token or (ident.token if ident is not None else "")
        if bearer:
            hdrs["Authorization"] = f"Bearer {bearer}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            raw = resp.read()
        finally:
            conn.close()
        try:
            parsed: Any = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")
        return Response(resp.status, parsed)

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        r = self.request("admin", method, path, body)
        assert r.code in (200, 201), f"{method} {path} -> {r.code} {r.body}"
        return r.body

    def create_quota(self, namespace: str, name: str, hard: dict[str, str]) -> Any:
        """A ResourceQuota, once the resourcequota controller has written its status (until then kube-apiserver
        enforces nothing of it)."""
        path = f"/api/v1/namespaces/{namespace}/resourcequotas"
        self.admin("POST", path, {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": name},
                                  "spec": {"hard": hard}})
        return self.wait_quota(namespace, name, lambda status: status.get("hard") == hard, "its first status")

    def wait_quota(self, namespace: str, name: str, ok: Callable[[dict[str, Any]], bool], what: str) -> Any:
        path = f"/api/v1/namespaces/{namespace}/resourcequotas/{name}"
        last: dict[str, Any] = {}

        def check() -> bool:
            nonlocal last
            last = self.admin("GET", path).get("status") or {}
            return ok(last)
        try:
            wait_for(check, QUOTA_DEADLINE_S, f"quota {namespace}/{name}: {what}", interval=0.1)
        except AssertionError as e:
            raise AssertionError(f"{e}; status {last}") from None
        return last

    # ------------------------------------------------------------------ kubectl
    def kubectl(self, who: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, HOME=self.tmp)
        env.pop("KUBECONFIG", None)
        return subprocess.run(["kubectl", "--kubeconfig", self.ids[who].kubeconfig, *args], env=env, input=stdin,
                              capture_output=True, text=True, timeout=KUBECTL_TIMEOUT_S)

    def kubectl_ok(self, who: str, *args: str, stdin: str | None = None) -> str:
        r = self.kubectl(who, *args, stdin=stdin)
        assert r.returncode == 0, f"kubectl {' '.join(args)} as {who}: {r.stderr}"
        return r.stdout


def write_signing_key(path: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    with open(path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))


@contextlib.contextmanager
def store(kind: str, tmp: str) -> Iterator[tuple[str, EtcdTLS | None]]:
    """(client URL, client TLS) of Debian's etcd 3.4, or of a single `raftkv serve` member over mTLS."""
    if kind == "etcd":
        with etcd(tmp) as url:
            yield url, None
        return
    import pathlib

    from tests.e2e.cluster import running_cluster
    with running_cluster("raftkv", pathlib.Path(tmp) / "raftkv", size=1) as cluster:
        p = cluster.pki
        yield cluster.endpoints[0], EtcdTLS(str(p / "ca.crt"), str(p / "client.crt"), str(p / "client.key"))


@contextlib.contextmanager
def auth_cluster(*, anonymous_auth: bool = True, admission: str = "AlwaysPullImages,NodeRestriction",
                 extra_args: Sequence[str] = (), store_kind: str = "etcd") -> Iterator[AuthCluster]:
    tmp = tempfile.mkdtemp(prefix="apiserver-auth-")
    key = os.path.join(tmp, "sa.key")
    write_signing_key(key)
    tokens = os.path.join(tmp, "tokens.csv")
    with open(tokens, "w") as f:
        for user, token in STATIC_TOKENS.items():
            f.write(f"{token},{user},uid-{user}\n")
    args = ["--token-auth-file", tokens, "--authorization-mode", "Node,RBAC",
            "--enable-admission-plugins", admission, "--service-account-signing-key-file", key,
            "--service-account-key-file", key, "--service-account-issuer", ISSUER, *extra_args]
    try:
        with store(store_kind, tmp) as (etcd_url, etcd_client), apiserver(
                tmp, etcd_url, anonymous_auth=anonymous_auth, etcd_client=etcd_client, extra_args=args,
                controllers=CONTROLLERS) as srv:
            yield AuthCluster(srv, tmp, key)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
