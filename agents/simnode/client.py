"""One REST client for every hollow node: the kubeconfig's identity reads (one pod watch for all nodes), and each
node's writes go out as that node.

`--node-identity impersonate` (default) sends `Impersonate-User: system:node:<name>` and `Impersonate-Group:
system:nodes` on a node's writes, so the API server's Node authorizer and NodeRestriction admission judge them
exactly as a kubelet's own certificate would be judged, over one TLS connection pool instead of one client
certificate and connection per node (the kubeconfig's user needs the `impersonate` verb on users and groups, which
system:masters has). `direct` writes as the kubeconfig's user: a scale-test shortcut that skips the Node
authorizer (the user needs write access to nodes, leases, pods/status and pod deletion). `certs` authenticates
each node as a kubelet does, with its own client certificate (CN system:node:<name>, O system:nodes) issued by
`raftkv.pki` into --node-certs-dir from the CA there (the API server's --client-ca-file pair; a certificate
already in the directory is reused) and its own connection: faithful to the byte, but one TLS context and
connection per node, for tens of nodes rather than thousands.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator
from contextvars import ContextVar

import aiohttp

from controllers.machinery.client import RESTClient
from raftkv import pki

NODE_USER_PREFIX = "system:node:"
NODES_GROUP = "system:nodes"
USER_AGENT = "kubelet/v1.32.0 (linux/amd64) kubernetes/raftkv"

_acting_as: ContextVar[str | None] = ContextVar("simnode_acting_as", default=None)


@contextlib.contextmanager
def acting_as(node: str | None) -> Iterator[None]:
    """Requests made inside the block (in this task) speak for `node`."""
    token = _acting_as.set(node)
    try:
        yield
    finally:
        _acting_as.reset(token)


class NodeClient(RESTClient):
    """`RESTClient` whose requests speak for the node the current task acts as: impersonation headers, or (with
    `node_certs_dir`) that node's own certificate and connection."""

    impersonate = True
    node_certs_dir = ""
    _node_sessions: dict[str, aiohttp.ClientSession] | None = None

    async def _headers(self, content_type: str = "") -> dict[str, str]:
        headers = await super()._headers(content_type)
        node = _acting_as.get()
        if node and self.node_certs_dir:
            headers.pop("Authorization", None)  # the certificate is the credential
        elif node and self.impersonate:
            headers["Impersonate-User"] = NODE_USER_PREFIX + node
            headers["Impersonate-Group"] = NODES_GROUP
        return headers

    def _sess(self) -> aiohttp.ClientSession:
        node = _acting_as.get()
        if not node or not self.node_certs_dir:
            return super()._sess()
        if self._node_sessions is None:
            self._node_sessions = {}
        sess = self._node_sessions.get(node)
        if sess is None or sess.closed:
            cert, key = node_certificate(self.node_certs_dir, node)
            config = dataclasses.replace(self.config, cert_file=cert, key_file=key, cert_data=b"", key_data=b"",
                                         token="", token_file="")
            connector = aiohttp.TCPConnector(ssl=config.ssl_context() or False, limit=4)
            sess = self._node_sessions[node] = aiohttp.ClientSession(connector=connector)
        return sess

    async def close(self) -> None:
        for sess in (self._node_sessions or {}).values():
            await sess.close()
        self._node_sessions = None
        await super().close()


def node_certificate(directory: str, node: str) -> tuple[str, str]:
    """(cert, key) paths of `node`'s kubelet client certificate in `directory`, issued from its CA if absent."""
    name = f"kubelet-{node}"
    cert, key = os.path.join(directory, f"{name}.crt"), os.path.join(directory, f"{name}.key")
    if not (os.path.exists(cert) and os.path.exists(key)):
        issued = pki.issue(directory, "client", name, cn=NODE_USER_PREFIX + node, orgs=[NODES_GROUP])
        cert, key = issued.cert, issued.key
    return cert, key
