"""`/health` and `/metrics` over plain HTTP/1.1 on the metrics URLs (etcd's --listen-metrics-urls).

Just enough HTTP for monitoring probes and Prometheus scrapes: GET only, one response per
connection. Metric names are etcd's where the meaning is the same, so dashboards work.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit

MAX_REQUEST_HEAD_BYTES = 8192


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


async def serve_metrics(member: Any, url: str) -> asyncio.AbstractServer:
    parts = urlsplit(url)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
            if len(head) > MAX_REQUEST_HEAD_BYTES:
                raise ValueError("request head too large")
            method, path, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
            path = path.split("?", 1)[0]
            if method != "GET":
                status, ctype, body = 405, "text/plain", b"method not allowed\n"
            elif path == "/metrics":
                status, ctype, body = 200, "text/plain; version=0.0.4", render_metrics(member).encode()
            elif path in ("/health", "/livez", "/readyz"):
                code, doc = health(member)
                status, ctype, body = code, "application/json", json.dumps(doc).encode()
            else:
                status, ctype, body = 404, "text/plain", b"404 page not found\n"
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError):
            status, ctype, body = 400, "text/plain", b"bad request\n"
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
                  503: "Service Unavailable"}[status]
        writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                     f"Connection: close\r\n\r\n".encode() + body)
        try:
            await writer.drain()
        finally:
            writer.close()

    return await asyncio.start_server(handle, parts.hostname, parts.port)
