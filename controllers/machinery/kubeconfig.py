"""Read a kubeconfig as client-go's clientcmd does, for the fields a controller needs.

Supported: the current context (or a named one), `server`, `certificate-authority(-data)`,
`insecure-skip-tls-verify`, `client-certificate(-data)` / `client-key(-data)`, `token` / `tokenFile`, and the
context's `namespace`. Relative file paths are resolved against the kubeconfig's directory, as clientcmd does.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from dataclasses import dataclass, replace
from typing import Any

import yaml


class KubeconfigError(ValueError):
    """The kubeconfig is missing, malformed, or names a context/cluster/user that is not in it."""


@dataclass(frozen=True)
class ClientConfig:
    server: str
    ca_file: str = ""
    ca_data: bytes = b""
    insecure: bool = False
    cert_file: str = ""
    cert_data: bytes = b""
    key_file: str = ""
    key_data: bytes = b""
    token: str = ""
    token_file: str = ""
    namespace: str = "default"
    user_agent: str = ""

    def with_token(self, token: str) -> ClientConfig:
        """The same server and CA with a bearer token instead of the client certificate (service accounts)."""
        return replace(self, token=token, token_file="", cert_file="", cert_data=b"", key_file="", key_data=b"")

    def bearer_token(self) -> str:
        if self.token:
            return self.token
        if self.token_file:
            with open(self.token_file) as f:
                return f.read().strip()
        return ""

    def ssl_context(self) -> ssl.SSLContext | None:
        """None for plain http; otherwise a context verifying the server and presenting the client cert."""
        if not self.server.startswith("https://"):
            return None
        ctx = ssl.create_default_context(cafile=self.ca_file or None,
                                         cadata=self.ca_data.decode() if self.ca_data else None)
        if self.insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self.cert_file or self.cert_data:
            _load_chain(ctx, self.cert_file, self.cert_data, self.key_file, self.key_data)
        return ctx


def _load_chain(ctx: ssl.SSLContext, cert_file: str, cert_data: bytes, key_file: str, key_data: bytes) -> None:
    # ssl only loads certificates from files: inline data goes through private temporary files, removed at once.
    tmp: list[str] = []
    try:
        if cert_data:
            cert_file = _temp(cert_data, tmp)
        if key_data:
            key_file = _temp(key_data, tmp)
        ctx.load_cert_chain(cert_file, key_file or None)
    finally:
        for path in tmp:
            os.unlink(path)


def _temp(data: bytes, created: list[str]) -> str:
    fd, path = tempfile.mkstemp(prefix="kubeconfig-", suffix=".pem")
    created.append(path)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return path


def _named(items: list[dict[str, Any]] | None, name: str, what: str, path: str) -> dict[str, Any]:
    for item in items or []:
        if item.get("name") == name:
            return item.get(what) or {}
    raise KubeconfigError(f"{path}: {what} {name!r} not found")


def _data(section: dict[str, Any], key: str) -> bytes:
    value = section.get(f"{key}-data")
    if not value:
        return b""
    try:
        return base64.b64decode(value)
    except ValueError as e:
        raise KubeconfigError(f"{key}-data is not base64: {e}") from None


def load_kubeconfig(path: str, context: str = "") -> ClientConfig:
    """The connection settings of `context` (default: current-context) in the kubeconfig at `path`."""
    try:
        with open(path) as f:
            doc = yaml.safe_load(f) or {}
    except OSError as e:
        raise KubeconfigError(f"cannot read kubeconfig {path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise KubeconfigError(f"{path}: not YAML: {e}") from None
    name = context or doc.get("current-context") or ""
    if not name:
        raise KubeconfigError(f"{path}: no current-context and no --context given")
    ctx = _named(doc.get("contexts"), name, "context", path)
    cluster = _named(doc.get("clusters"), ctx.get("cluster", ""), "cluster", path)
    user = _named(doc.get("users"), ctx.get("user", ""), "user", path) if ctx.get("user") else {}
    base = os.path.dirname(os.path.abspath(path))

    def resolve(p: str | None) -> str:
        return os.path.join(base, p) if p and not os.path.isabs(p) else (p or "")

    server = cluster.get("server") or ""
    if not server:
        raise KubeconfigError(f"{path}: cluster {ctx.get('cluster')!r} has no server")
    return ClientConfig(
        server=server.rstrip("/"), ca_file=resolve(cluster.get("certificate-authority")),
        ca_data=_data(cluster, "certificate-authority"), insecure=bool(cluster.get("insecure-skip-tls-verify")),
        cert_file=resolve(user.get("client-certificate")), cert_data=_data(user, "client-certificate"),
        key_file=resolve(user.get("client-key")), key_data=_data(user, "client-key"),
        token=user.get("token") or "", token_file=resolve(user.get("tokenFile")),
        namespace=ctx.get("namespace") or "default")


def client_config(kubeconfig: str, master: str) -> ClientConfig:
    """clientcmd.BuildConfigFromFlags: the `--kubeconfig` file with `--master` (when given) as its server, or
    `--master` alone."""
    cfg = load_kubeconfig(kubeconfig) if kubeconfig else ClientConfig(server=master)
    return replace(cfg, server=master.rstrip("/")) if master else cfg
