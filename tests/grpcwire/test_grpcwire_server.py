"""raftkv's HTTP/2 gRPC server, called by the grpc C-core client (the one python-etcd3 and our tools use) over
mutual TLS and plain HTTP/2: unary and streaming calls, status codes, deadlines, cancellation, flow control,
limits, and bad clients that must not take the server down."""

from __future__ import annotations

import asyncio
import pathlib
import socket
import ssl
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from raftkv._pb.etcdserverpb import rpc_pb2 as pb
from raftkv._pb.etcdserverpb import rpc_pb2_grpc as pb_grpc
from raftkv.grpcwire import http1
from raftkv.grpcwire.server import GrpcServer, parse_timeout, server_ssl_context
from raftkv.pki import create_local_pki

CHUNK = 1 << 20


class Probe:
    """What the handlers saw, for the tests to assert on."""

    def __init__(self) -> None:
        self.cancelled = asyncio.Event()
        self.started = asyncio.Event()


class FakeKV(pb_grpc.KVServicer):
    def __init__(self, probe: Probe) -> None:
        self.probe = probe

    async def Range(self, request: pb.RangeRequest, context: Any) -> pb.RangeResponse:
        key = request.key
        if key == b"whoami":
            cn = context.auth_context().get("x509_common_name", [b""])[0]
            meta = dict(context.invocation_metadata())
            resp = pb.RangeResponse(count=1)
            resp.kvs.add(key=cn, value=str(meta.get("token", "")).encode())
            resp.kvs.add(key=b"bin", value=meta.get("trace-bin", b""))
            return resp
        if key == b"abort":
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "etcdserver: nö 100%")
        if key == b"abort-caught":
            try:
                await context.abort(grpc.StatusCode.NOT_FOUND, "caught but final")
            except Exception:
                return pb.RangeResponse(count=7)
        if key == b"raise":
            raise ValueError("boom")
        if key == b"slow":
            self.probe.started.set()
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                self.probe.cancelled.set()
                raise
        if key == b"big":
            resp = pb.RangeResponse()
            resp.kvs.add(key=b"big", value=b"b" * (3 * CHUNK))
            return resp
        resp = pb.RangeResponse(count=len(request.range_end))
        resp.header.revision = len(key)
        return resp


class FakeMaintenance(pb_grpc.MaintenanceServicer):
    async def Snapshot(self, request: pb.SnapshotRequest, context: Any) -> AsyncIterator[pb.SnapshotResponse]:
        for i in range(8):
            yield pb.SnapshotResponse(remaining_bytes=7 - i, blob=bytes([i]) * CHUNK)


class FakeLease(pb_grpc.LeaseServicer):
    async def LeaseKeepAlive(self, request_iterator: Any, context: Any) -> None:
        async for req in request_iterator:
            await context.write(pb.LeaseKeepAliveResponse(ID=req.ID, TTL=req.ID * 2))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    d = tmp_path_factory.mktemp("pki")
    create_local_pki(str(d), ["127.0.0.1", "localhost"])
    other = d / "other"
    create_local_pki(str(other), ["127.0.0.1"])
    return d


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Harness:
    def __init__(self, pki: pathlib.Path, max_message: int = 4 << 20, plain: http1.Answer | None = None) -> None:
        self.pki = pki
        self.probe = Probe()
        self.server = GrpcServer(max_receive_message_length=max_message, plain=plain)
        pb_grpc.add_KVServicer_to_server(FakeKV(self.probe), self.server)
        pb_grpc.add_MaintenanceServicer_to_server(FakeMaintenance(), self.server)
        pb_grpc.add_LeaseServicer_to_server(FakeLease(), self.server)
        self.tls_port, self.plain_port = _free_port(), _free_port()
        self.server.add_port("127.0.0.1", self.tls_port, server_ssl_context(
            str(pki / "server.crt"), str(pki / "server.key"), str(pki / "ca.crt"), True))
        self.server.add_port("127.0.0.1", self.plain_port, None)

    def channel(self, pki: pathlib.Path | None = None, client: str = "client") -> grpc.aio.Channel:
        d = pki or self.pki
        creds = grpc.ssl_channel_credentials((self.pki / "ca.crt").read_bytes(),
                                             (d / f"{client}.key").read_bytes(), (d / f"{client}.crt").read_bytes())
        return grpc.aio.secure_channel(f"127.0.0.1:{self.tls_port}", creds,
                                       options=[("grpc.max_receive_message_length", 64 << 20)])


def run(pki: pathlib.Path, body: Any, **kw: Any) -> None:
    async def main() -> None:
        h = Harness(pki, **kw)
        await h.server.start()
        try:
            await asyncio.wait_for(body(h), 60)
        finally:
            await h.server.stop(0.5)
    asyncio.run(main())


def test_unary_calls_carry_metadata_and_the_client_certificate(pki: pathlib.Path) -> None:
    async def body(h: Harness) -> None:
        async with h.channel() as ch:
            kv = pb_grpc.KVStub(ch)
            resp = await kv.Range(pb.RangeRequest(key=b"abc", range_end=b"xy"), timeout=10)
            assert (resp.header.revision, resp.count) == (3, 2)
            resp = await kv.Range(pb.RangeRequest(key=b"whoami"), timeout=10,
                                  metadata=[("token", "t0k3n"), ("trace-bin", b"\x00\xff")])
            assert (resp.kvs[0].key, resp.kvs[0].value, resp.kvs[1].value) == (b"root", b"t0k3n", b"\x00\xff")
            many = await asyncio.gather(*[kv.Range(pb.RangeRequest(key=b"k" * i), timeout=10) for i in range(300)])
            assert [r.header.revision for r in many] == list(range(300))
            big = await kv.Range(pb.RangeRequest(key=b"big"), timeout=10)  # beyond every default window
            assert len(big.kvs[0].value) == 3 * CHUNK
    run(pki, body)


def test_status_codes_reach_the_client_and_the_server_keeps_serving(pki: pathlib.Path) -> None:
    async def body(h: Harness) -> None:
        async with h.channel() as ch:
            kv = pb_grpc.KVStub(ch)
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await kv.Range(pb.RangeRequest(key=b"abort"), timeout=10)
            assert (err.value.code(), err.value.details()) == (grpc.StatusCode.FAILED_PRECONDITION,
                                                               "etcdserver: nö 100%")
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await kv.Range(pb.RangeRequest(key=b"abort-caught"), timeout=10)
            assert err.value.code() == grpc.StatusCode.NOT_FOUND
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await kv.Range(pb.RangeRequest(key=b"raise"), timeout=10)
            assert err.value.code() == grpc.StatusCode.UNKNOWN and "boom" in (err.value.details() or "")
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await ch.unary_unary("/etcdserverpb.KV/Nope")(b"", timeout=10)
            assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
            assert (await kv.Range(pb.RangeRequest(key=b"ok"), timeout=10)).header.revision == 2
    run(pki, body)


def test_deadline_and_client_cancel_cancel_the_handler(pki: pathlib.Path) -> None:
    async def body(h: Harness) -> None:
        async with h.channel() as ch:
            kv = pb_grpc.KVStub(ch)
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await kv.Range(pb.RangeRequest(key=b"slow"), timeout=0.3)
            assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            await asyncio.wait_for(h.probe.cancelled.wait(), 10)
            h.probe.cancelled.clear()
            h.probe.started.clear()
            call = kv.Range(pb.RangeRequest(key=b"slow"))
            await asyncio.wait_for(h.probe.started.wait(), 10)
            call.cancel()
            await asyncio.wait_for(h.probe.cancelled.wait(), 10)
    run(pki, body)


def test_streams_in_both_directions_with_flow_control(pki: pathlib.Path) -> None:
    async def body(h: Harness) -> None:
        async with h.channel() as ch:
            chunks = [r async for r in pb_grpc.MaintenanceStub(ch).Snapshot(pb.SnapshotRequest(), timeout=30)]
            assert [c.remaining_bytes for c in chunks] == list(range(7, -1, -1))
            assert all(c.blob == bytes([i]) * CHUNK for i, c in enumerate(chunks))

            async def requests() -> AsyncIterator[pb.LeaseKeepAliveRequest]:
                for i in range(1, 1001):
                    yield pb.LeaseKeepAliveRequest(ID=i)
            got = [r async for r in pb_grpc.LeaseStub(ch).LeaseKeepAlive(requests(), timeout=30)]
            assert [(r.ID, r.TTL) for r in got] == [(i, 2 * i) for i in range(1, 1001)]
    run(pki, body)


def test_oversized_request_is_refused_and_the_connection_survives(pki: pathlib.Path) -> None:
    async def body(h: Harness) -> None:
        async with h.channel() as ch:
            kv = pb_grpc.KVStub(ch)
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await kv.Range(pb.RangeRequest(key=b"x" * 200_000), timeout=10)
            assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "larger than max" in (err.value.details() or "")
            assert (await kv.Range(pb.RangeRequest(key=b"ok"), timeout=10)).header.revision == 2
    run(pki, body, max_message=100_000)


def test_plain_http2_port(pki: pathlib.Path) -> None:
    async def body(h: Harness) -> None:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{h.plain_port}") as ch:
            resp = await pb_grpc.KVStub(ch).Range(pb.RangeRequest(key=b"abcd"), timeout=10)
            assert resp.header.revision == 4
    run(pki, body)


def test_clients_without_a_good_certificate_are_refused_at_the_handshake(pki: pathlib.Path) -> None:
    async def body(h: Harness) -> None:
        async with h.channel(pki / "other") as ch:  # a client certificate from another CA
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await pb_grpc.KVStub(ch).Range(pb.RangeRequest(key=b"k"), timeout=5)
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        creds = grpc.ssl_channel_credentials((pki / "ca.crt").read_bytes())  # no client certificate
        async with grpc.aio.secure_channel(f"127.0.0.1:{h.tls_port}", creds) as ch:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await pb_grpc.KVStub(ch).Range(pb.RangeRequest(key=b"k"), timeout=5)
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        async with h.channel() as ch:
            assert (await pb_grpc.KVStub(ch).Range(pb.RangeRequest(key=b"ok"), timeout=10)).header.revision == 2
    run(pki, body)


def test_garbage_and_abandoned_connections_do_not_hurt_the_server(pki: pathlib.Path) -> None:
    async def body(h: Harness) -> None:
        for junk in (b"GET / HTTP/1.1\r\n\r\n", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\xff" * 100, b"\x00" * 9):
            reader, writer = await asyncio.open_connection("127.0.0.1", h.plain_port)
            writer.write(junk)
            await writer.drain()
            assert await asyncio.wait_for(reader.read(), 10) is not None  # the server answers (GOAWAY) and closes
            writer.close()
        ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        ctx.load_cert_chain(str(pki / "client.crt"), str(pki / "client.key"))
        reader, writer = await asyncio.open_connection("127.0.0.1", h.tls_port, ssl=ctx)
        writer.write(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")  # then goes silent, mid-handshake of HTTP/2
        async with h.channel() as ch:
            assert (await pb_grpc.KVStub(ch).Range(pb.RangeRequest(key=b"ok"), timeout=10)).header.revision == 2
        writer.close()
    run(pki, body)


@pytest.mark.parametrize("value, seconds", [("30S", 30.0), ("29999859u", 29.999859), ("5m", 0.005),
                                            ("1H", 3600.0), ("100n", 1e-7), ("", None), ("5x", None),
                                            ("123456789S", None), ("-1S", None)])
def test_grpc_timeout_header(value: str, seconds: float | None) -> None:
    got = parse_timeout(value)
    assert got == pytest.approx(seconds) if seconds is not None else got is None


def test_an_undecodable_request_is_internal_as_from_grpc_go(pki: pathlib.Path) -> None:
    async def body(h: Harness) -> None:
        async with h.channel() as ch:
            for path in ("/etcdserverpb.KV/Range", "/etcdserverpb.Lease/LeaseKeepAlive"):
                if path.endswith("KeepAlive"):
                    call = ch.stream_stream(path)(iter([b"\xff\xff\xff\xff"]), timeout=10)
                    with pytest.raises(grpc.aio.AioRpcError) as err:
                        async for _ in call:
                            pass
                else:
                    with pytest.raises(grpc.aio.AioRpcError) as err:
                        await ch.unary_unary(path)(b"\xff\xff\xff\xff", timeout=10)
                assert err.value.code() == grpc.StatusCode.INTERNAL
                assert (err.value.details() or "").startswith("grpc: error unmarshalling request: ")
            assert (await pb_grpc.KVStub(ch).Range(pb.RangeRequest(key=b"ok"), timeout=10)).header.revision == 2
    run(pki, body)
