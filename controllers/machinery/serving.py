"""The TLS context of a component's secure port (/healthz, /metrics): the given serving certificate, or a
self-signed one made at start, as kube-controller-manager and kube-scheduler do."""

from __future__ import annotations

import ssl
import tempfile


def serving_ssl(common_name: str, cert_file: str = "", key_file: str = "") -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    if cert_file:
        ctx.load_cert_chain(cert_file, key_file)
        return ctx
    from raftkv import pki
    with tempfile.TemporaryDirectory(prefix=f"{common_name}-serving-") as d:
        pki.init_ca(d)
        issued = pki.issue(d, "server", common_name, hosts=["localhost", "127.0.0.1"])
        ctx.load_cert_chain(issued.cert, issued.key)
    return ctx
