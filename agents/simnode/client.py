"""One REST client for every hollow node: the kubeconfig's identity reads (one pod watch for all nodes), and each
node's writes go out as that node.

`--node-identity impersonate` (default) sends `Impersonate-User: system:node:<name>` and `Impersonate-Group:
system:nodes` on a node's writes, so the API server's Node authorizer and NodeRestriction admission judge them
exactly as a kubelet's own certificate would be judged, over one TLS connection pool instead of one client
certificate and connection per node (the kubeconfig's user needs the `impersonate` verb on users and groups, which
system:masters has). `direct` writes as the kubeconfig's user: a scale-test shortcut that skips the Node
authorizer (the user needs write access to nodes, leases, pods/status and pod deletion).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

from controllers.machinery.client import RESTClient

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
    """`RESTClient` whose requests carry the impersonation headers of the node the current task acts as."""

    impersonate = True

    async def _headers(self, content_type: str = "") -> dict[str, str]:
        headers = await super()._headers(content_type)
        node = _acting_as.get()
        if node and self.impersonate:
            headers["Impersonate-User"] = NODE_USER_PREFIX + node
            headers["Impersonate-Group"] = NODES_GROUP
        return headers
