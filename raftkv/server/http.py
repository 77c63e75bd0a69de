"""`/health`, `/metrics` and `/version` over plain HTTP on the metrics URLs (etcd's --listen-metrics-urls), and
over HTTP/1.1 or HTTP/2 on the client URLs (see raftkv.grpcwire.server), as etcd serves them there too.

Just enough HTTP for monitoring probes and Prometheus scrapes: GET only, one response per
connection. Metric names are etcd's where the meaning is the same, so dashboards work.
"""

from __future__ import annotations

import asyncio
import functools
import json
from typing import Any
from urllib.parse import urlsplit

from raftkv.grpcwire import http1


def render_metrics(m: Any) -> str:
    st = m.node.status()
    lines = []

    def gauge(name: str, value: float, help_text: str, kind: str = "gauge") -> None:
        lines.extend([f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", f"{name} {value}"])

    gauge("etcd_server_has_leader", 1 if m.lead else 0, "Whether or not a leader exists. 1 is existence, 0 is not.")
    gauge("etcd_server_is_leader", 1 if m.is_leader else 0, "Whether or not this member is a leader.")
    gauge("etcd_server_leader_changes_seen_total", m.leader_changes, "The number of leader changes seen.", "counter")
    gauge("etcd_server_proposals_committed_total", st.commit, "The total number of consensus proposals committed.")
    gauge("etcd_server_proposals_applied_total", m.applied_index, "The total number of consensus proposals applied.")
    gauge("etcd_server_proposals_pending", len(m.waits), "The current number of pending proposals to commit.")
    gauge("etcd_server_proposals_failed_total", m.proposals_failed, "The total number of failed proposals seen.",
          "counter")
    gauge("etcd_mvcc_db_total_size_in_bytes", m.store.db_size(), "Total size of the underlying database in bytes.")
    gauge("etcd_debugging_mvcc_current_revision", m.store.rev, "The current revision of store.")
    return "\n".join(lines) + "\n"


def health(m: Any) -> tuple[int, dict[str, str]]:
    if m.fatal is not None:
        return 503, {"health": "false", "reason": "member stopped"}
    if not m.lead:
        return 503, {"health": "false", "reason": "RAFT NO LEADER"}
    if m.alarms:
        return 503, {"health": "false", "reason": "ALARM " + ",".join(str(a) for _, a in sorted(m.alarms))}
    return 200, {"health": "true", "reason": ""}


def answer(member: Any, versions: tuple[str, str], method: str, path: str) -> tuple[int, str, bytes]:
    """(status, content type, body) for a plain HTTP GET: etcd's `/health` (and `/livez`, `/readyz`), `/metrics`
    and `/version`. Served on the metrics URLs and, as etcd does, on the client URLs beside gRPC."""
    if method != "GET":
        return 405, "text/plain", b"method not allowed\n"
    if path == "/metrics":
        return 200, "text/plain; version=0.0.4", render_metrics(member).encode()
    if path in ("/health", "/livez", "/readyz"):
        code, doc = health(member)
        return code, "application/json", json.dumps(doc, separators=(",", ":")).encode()
    if path == "/version":
        doc = {"etcdserver": versions[0], "etcdcluster": versions[1]}
        return 200, "application/json", json.dumps(doc, separators=(",", ":")).encode()
    return 404, "text/plain", b"404 page not found\n"


async def serve_metrics(member: Any, url: str, versions: tuple[str, str]) -> asyncio.AbstractServer:
    parts = urlsplit(url)
    reply = functools.partial(answer, member, versions)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            head = b""  # answered 400
        writer.write(http1.reply_to(head, reply))
        try:
            await writer.drain()
        finally:
            writer.close()

    return await asyncio.start_server(handle, parts.hostname, parts.port)
