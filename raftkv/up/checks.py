"""Readiness and health probes for the plan's Checks, and the few API reads `raftkv up`/`status` make.

HTTP only: the supervisor lives as long as the cluster and is counted in its memory budget, so it does not load
gRPC (only `raftkv status` asks the members for their leader, over gRPC, imported there)."""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
from typing import Any

from raftkv.up.plan import Check


class Probe:
    """Probes for one cluster directory (its client certificates)."""

    def __init__(self, d: str) -> None:
        self.d = d
        self._ssl = ssl.create_default_context()
        self._ssl.check_hostname = False
        self._ssl.verify_mode = ssl.CERT_NONE  # the controller manager and scheduler serve self-signed
        self._ssl.load_cert_chain(f"{d}/pki/admin.crt", f"{d}/pki/admin.key")

    def check(self, c: Check, log_path: str = "", log_offset: int = 0) -> bool:
        try:
            if c.kind in ("https", "http"):
                return self.get(c.target)[0] == 200
            if c.kind == "unix":
                with socket.socket(socket.AF_UNIX) as s:
                    s.settimeout(1)
                    s.connect(c.target)
                return True
            if c.kind == "dns":
                host, port, name = c.target.split(" ")
                return dns_answers(host, int(port), name)
            if c.kind == "log":
                with open(log_path, "rb") as f:
                    f.seek(log_offset)
                    return c.target.encode() in f.read()
        except (OSError, http.client.HTTPException):
            return False
        raise ValueError(f"unknown check {c.kind}")

    def member_status(self, endpoint: str) -> Any:
        """Maintenance.Status of a member with a leader, else None (raises grpc.RpcError when it is down)."""
        import grpc

        from raftkv._pb.etcdserverpb import rpc_pb2 as pb
        from raftkv._pb.etcdserverpb import rpc_pb2_grpc as pb_grpc
        e = f"{self.d}/pki/etcd"
        with open(f"{e}/ca.crt", "rb") as ca, open(f"{e}/healthcheck-client.key", "rb") as k, \
                open(f"{e}/healthcheck-client.crt", "rb") as c:
            creds = grpc.ssl_channel_credentials(ca.read(), k.read(), c.read())
        with grpc.secure_channel(endpoint, creds) as ch:
            st = pb_grpc.MaintenanceStub(ch).Status(pb.StatusRequest(), timeout=2)
        return st if st.leader else None

    def get(self, url: str, timeout: float = 3) -> tuple[int, Any]:
        scheme, rest = url.split("://", 1)
        hostport, _, path = rest.partition("/")
        host, port = hostport.rsplit(":", 1)
        conn: http.client.HTTPConnection
        if scheme == "https":
            conn = http.client.HTTPSConnection(host, int(port), context=self._ssl, timeout=timeout)
        else:
            conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
        try:
            conn.request("GET", "/" + path, headers={"Accept": "application/json"})
            resp = conn.getresponse()
            body = resp.read()
        finally:
            conn.close()
        try:
            return resp.status, json.loads(body)
        except ValueError:
            return resp.status, body.decode(errors="replace")

    def api(self, servers: list[str], path: str) -> Any:
        """GET `path` as admin from the first API server that answers 200, else None."""
        for s in servers:
            try:
                code, body = self.get(s + path)
            except (OSError, http.client.HTTPException):
                continue
            if code == 200:
                return body
        return None


def ready_nodes(probe: Probe, servers: list[str]) -> dict[str, bool]:
    body = probe.api(servers, "/api/v1/nodes")
    out: dict[str, bool] = {}
    for n in (body or {}).get("items", []):
        conds = {c["type"]: c["status"] for c in n.get("status", {}).get("conditions", [])}
        out[n["metadata"]["name"]] = conds.get("Ready") == "True"
    return out


def port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def log_size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def dns_answers(host: str, port: int, name: str) -> bool:
    """One A query over UDP: True when the server answers NOERROR with at least one record. Built by hand, so
    the long-lived supervisor loads no DNS library."""
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.strip(".").split(".")) + b"\0"
    query = b"\x52\x4b\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + qname + b"\x00\x01\x00\x01"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(1)
        s.sendto(query, (host, port))
        reply = s.recv(4096)
    return len(reply) >= 12 and reply[:2] == query[:2] and reply[3] & 0x0F == 0 and int.from_bytes(reply[6:8]) > 0
