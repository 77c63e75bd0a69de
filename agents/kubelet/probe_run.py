"""Running one probe (kubelet pkg/probe: http, tcp, exec, grpc): the I/O half of the probe workers.

Each returns (ok, output); the output is what the kubelet puts after "Liveness probe failed: " in the
Unhealthy event, in the kubelet's words where a user sees them.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import grpc.aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from agents.cri.client import CRIError
from agents.kubelet.crimap import Runtime
from raftkv._pb.runtime.v1 import api_pb2 as api

Obj = dict[str, Any]
Result = tuple[bool, str]


def resolve_port(port: int | str, container: Obj) -> int:
    """A named port becomes the container's containerPort of that name."""
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return int(p["containerPort"])
    raise ValueError(f"couldn't find port: {port} in {container.get('name')}")


async def http_get(probe: Obj, pod_ip: str, container: Obj, timeout: float) -> Result:
    h = probe["httpGet"]
    host = h.get("host") or pod_ip
    port = resolve_port(h.get("port", 80), container)
    scheme = (h.get("scheme") or "HTTP").lower()
    path = h.get("path") or "/"
    url = f"{scheme}://{host}:{port}{path}"
    headers = {"Host": f"{host}:{port}", "User-Agent": "kube-probe/1.32", "Accept": "*/*", "Connection": "close"}
    for hdr in h.get("httpHeaders") or []:
        headers[hdr["name"].title()] = hdr["value"]
    try:
        ssl_ctx: Any = None
        if scheme == "https":
            import ssl
            ssl_ctx = ssl.create_default_context()
            ssl_ctx.check_hostname = False
            ssl_ctx.verify_mode = ssl.CERT_NONE  # the kubelet does not verify probe certificates either
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port, ssl=ssl_ctx), timeout)
    except TimeoutError:
        return False, f'Get "{url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)'
    except OSError as e:
        return False, f'Get "{url}": dial tcp {host}:{port}: connect: {_errno_text(e)}'
    try:
        req = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        writer.write(req.encode())
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), timeout)
    except (TimeoutError, OSError):
        return False, f'Get "{url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)'
    finally:
        writer.close()
    parts = line.decode(errors="replace").split()
    if len(parts) < 2 or not parts[1].isdigit():
        return False, f'Get "{url}": malformed HTTP response {line[:40]!r}'
    code = int(parts[1])
    if 200 <= code < 400:
        return True, ""
    return False, f"HTTP probe failed with statuscode: {code}"


def _errno_text(e: OSError) -> str:
    if isinstance(e, ConnectionRefusedError):
        return "connection refused"
    return (e.strerror or str(e)).lower()


async def tcp(probe: Obj, pod_ip: str, container: Obj, timeout: float) -> Result:
    t = probe["tcpSocket"]
    host = t.get("host") or pod_ip
    port = resolve_port(t.get("port", 0), container)
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except TimeoutError:
        return False, f"dial tcp {host}:{port}: i/o timeout"
    except OSError as e:
        return False, f"dial tcp {host}:{port}: connect: {_errno_text(e)}"
    writer.close()
    return True, ""


async def exec_probe(probe: Obj, runtime: Runtime, container_id: str, timeout: float) -> Result:
    cmd = list(probe["exec"].get("command") or [])
    try:
        resp = await runtime.ExecSync(api.ExecSyncRequest(container_id=container_id, cmd=cmd,
                                                          timeout=int(max(1, timeout))))
    except CRIError as e:
        if "timeout" in e.message or "deadline" in e.message.lower():
            return False, f"command {' '.join(cmd)!r} timed out"
        return False, e.message
    output = (resp.stdout + resp.stderr).decode(errors="replace")
    return resp.exit_code == 0, output


async def grpc_probe(probe: Obj, pod_ip: str, timeout: float) -> Result:
    g = probe["grpc"]
    target = f"{pod_ip}:{int(g['port'])}"
    async with grpc.aio.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            resp = await stub.Check(health_pb2.HealthCheckRequest(service=g.get("service") or ""), timeout=timeout)
        except grpc.aio.AioRpcError as e:
            if e.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                return False, f'timeout: failed to connect service "{target}" within {int(timeout)}s'
            if e.code() == grpc.StatusCode.UNAVAILABLE:
                return False, f'timeout: failed to connect service "{target}" within {int(timeout)}s'
            return False, f"rpc error: code = {e.code().name} desc = {e.details()}"
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)
    if resp.status == health_pb2.HealthCheckResponse.SERVING:
        return True, ""
    return False, f'service unhealthy (responded with "{status}")'


async def run_probe(probe: Obj, runtime: Runtime, container: Obj, container_id: str, pod_ip: str) -> Result:
    timeout = float(probe.get("timeoutSeconds") or 1)
    if "httpGet" in probe:
        return await http_get(probe, pod_ip, container, timeout)
    if "tcpSocket" in probe:
        return await tcp(probe, pod_ip, container, timeout)
    if "exec" in probe:
        return await exec_probe(probe, runtime, container_id, timeout)
    if "grpc" in probe:
        return await grpc_probe(probe, pod_ip, timeout)
    return False, "missing probe handler"
