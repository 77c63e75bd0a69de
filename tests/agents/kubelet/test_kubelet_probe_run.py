"""Running probes for real on loopback: http status codes, refused and timed-out connections, tcp, grpc health,
exec through the CRI — each failure in the kubelet's words (what the Unhealthy event says)."""

from __future__ import annotations

import asyncio
import socket

import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from agents.kubelet.fakecri import FakeRuntime
from agents.kubelet.probe_run import run_probe
from tests.conftest import free_port

pytestmark = pytest.mark.unit
C = {"name": "c", "ports": [{"name": "web", "containerPort": 0}]}


async def _http_server(codes: dict[str, int]) -> tuple[asyncio.Server, int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = (await reader.readline()).decode()
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        path = line.split()[1]
        code = codes.get(path, 404)
        writer.write(f"HTTP/1.1 {code} X\r\nContent-Length: 0\r\n\r\n".encode())
        await writer.drain()
        writer.close()
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def _probe(probe: dict, container: dict = C) -> tuple[bool, str]:
    async def go() -> tuple[bool, str]:
        return await run_probe(probe, FakeRuntime(clock=lambda: 0.0), container, "", "127.0.0.1")
    return asyncio.run(go())


def test_http_probe_success_on_2xx_and_3xx_and_the_status_code_text_otherwise() -> None:
    async def go() -> list[tuple[bool, str]]:
        server, port = await _http_server({"/ok": 200, "/moved": 302, "/boom": 500})
        out = []
        async with server:
            for path in ("/ok", "/moved", "/boom", "/missing"):
                out.append(await run_probe({"httpGet": {"path": path, "port": port}}, FakeRuntime(clock=lambda: 0),
                                           C, "", "127.0.0.1"))
            named = {"name": "c", "ports": [{"name": "web", "containerPort": port}]}
            out.append(await run_probe({"httpGet": {"path": "/ok", "port": "web"}}, FakeRuntime(clock=lambda: 0),
                                       named, "", "127.0.0.1"))
        return out
    assert asyncio.run(go()) == [(True, ""), (True, ""), (False, "HTTP probe failed with statuscode: 500"),
                                 (False, "HTTP probe failed with statuscode: 404"), (True, "")]


def test_http_and_tcp_refused() -> None:
    port = free_port()
    ok, msg = _probe({"httpGet": {"path": "/healthz", "port": port}})
    assert not ok and msg == f'Get "http://127.0.0.1:{port}/healthz": dial tcp 127.0.0.1:{port}: connect: connection refused'
    ok, msg = _probe({"tcpSocket": {"port": port}})
    assert not ok and msg == f"dial tcp 127.0.0.1:{port}: connect: connection refused"


def test_http_probe_times_out() -> None:
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)  # accepts the connection but never answers
    port = lsock.getsockname()[1]
    try:
        ok, msg = _probe({"httpGet": {"path": "/", "port": port}, "timeoutSeconds": 1})
    finally:
        lsock.close()
    assert not ok and msg == (f'Get "http://127.0.0.1:{port}/": context deadline exceeded '
                              "(Client.Timeout exceeded while awaiting headers)")


def test_tcp_probe_success() -> None:
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    try:
        assert _probe({"tcpSocket": {"port": lsock.getsockname()[1]}}) == (True, "")
    finally:
        lsock.close()




def test_grpc_health_probe() -> None:
    async def go() -> list[tuple[bool, str]]:
        server = grpc.aio.server()
        servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            rt = FakeRuntime(clock=lambda: 0)
            await servicer.set("", health_pb2.HealthCheckResponse.SERVING)
            a = await run_probe({"grpc": {"port": port}}, rt, C, "", "127.0.0.1")
            await servicer.set("db", health_pb2.HealthCheckResponse.NOT_SERVING)
            b = await run_probe({"grpc": {"port": port, "service": "db"}}, rt, C, "", "127.0.0.1")
        finally:
            await server.stop(0)
        return [a, b]
    assert asyncio.run(go()) == [(True, ""), (False, 'service unhealthy (responded with "NOT_SERVING")')]


def test_exec_probe_through_the_cri() -> None:
    async def go() -> tuple[bool, str]:
        rt = FakeRuntime(clock=lambda: 0.0)
        rt.exec_handler = lambda name, cmd: (1, b"cat: /tmp/healthy: No such file or directory\n")
        from raftkv._pb.runtime.v1 import api_pb2 as api
        sb = (await rt.RunPodSandbox(api.RunPodSandboxRequest(config=api.PodSandboxConfig()))).pod_sandbox_id
        cfg = api.ContainerConfig(metadata=api.ContainerMetadata(name="c"), image=api.ImageSpec(image="busybox"))
        cid = (await rt.CreateContainer(api.CreateContainerRequest(pod_sandbox_id=sb, config=cfg))).container_id
        return await run_probe({"exec": {"command": ["cat", "/tmp/healthy"]}}, rt, C, cid, "")
    assert asyncio.run(go()) == (False, "cat: /tmp/healthy: No such file or directory\n")
