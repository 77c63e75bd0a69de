"""Plain HTTP beside gRPC on the client port, as etcd serves `/health`, `/version` and `/metrics` there: HTTP/1.1
connections (sniffed: they do not start with the HTTP/2 preface) and HTTP/2 GETs that are not gRPC (what curl and
Prometheus send once ALPN picked h2). gRPC on the same connections and port is untouched."""

from __future__ import annotations

import asyncio
import pathlib
import ssl

import pytest

from raftkv.grpcwire import connection as c
from raftkv.grpcwire import http1
from raftkv.pki import create_local_pki
from tests.grpcwire.test_grpcwire_h2 import H2Client
from tests.grpcwire.test_grpcwire_server import Harness, run


def answer(method: str, path: str) -> tuple[int, str, bytes]:
    if method != "GET":
        return 405, "text/plain", b"method not allowed\n"
    if path == "/health":
        return 200, "application/json", b'{"health":"true","reason":""}'
    if path == "/big":
        return 200, "text/plain", b"m" * 200_000  # beyond the client's initial window
    return 404, "text/plain", b"404 page not found\n"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    d = tmp_path_factory.mktemp("pki")
    create_local_pki(str(d), ["127.0.0.1", "localhost"])
    return d


async def http1_get(port: int, request: bytes, tls: ssl.SSLContext | None = None) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=tls)
    for i in range(0, len(request), 7):  # in small pieces, as a slow client would
        writer.write(request[i:i + 7])
        await writer.drain()
    reply = await reader.read()
    writer.close()
    return reply


def client_tls(pki: pathlib.Path, alpn: list[str]) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    ctx.load_cert_chain(str(pki / "client.crt"), str(pki / "client.key"))
    ctx.set_alpn_protocols(alpn)
    return ctx


def test_http1_requests_on_the_grpc_port(pki: pathlib.Path) -> None:
    async def body(h: Harness) -> None:
        reply = await http1_get(h.plain_port, b"GET /health?x=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert reply == (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 29\r\n"
                         b"Connection: close\r\n\r\n" + b'{"health":"true","reason":""}')
        assert (await http1_get(h.plain_port, b"GET /nope HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 404 Not Found")
        assert (await http1_get(h.plain_port, b"POST /health HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 405")
        assert (await http1_get(h.plain_port, b"GARBAGE\r\n\r\n")).startswith(b"HTTP/1.1 400")
        assert (await http1_get(h.plain_port, b"GET /" + b"a" * 9000)).startswith(b"HTTP/1.1 400")
        # over mutual TLS, a client offering only http/1.1 by ALPN
        tls = await http1_get(h.tls_port, b"GET /health HTTP/1.1\r\n\r\n", client_tls(h.pki, ["http/1.1"]))
        assert tls.startswith(b"HTTP/1.1 200 OK") and tls.endswith(b'"reason":""}')
        # gRPC on the same port still works
        async with h.channel() as ch:
            from raftkv._pb.etcdserverpb import rpc_pb2 as pb
            from raftkv._pb.etcdserverpb import rpc_pb2_grpc as pb_grpc
            assert (await pb_grpc.KVStub(ch).Range(pb.RangeRequest(key=b"ok"), timeout=10)).header.revision == 2
    run(pki, body, plain=answer)


def test_http2_gets_that_are_not_grpc_get_plain_replies(pki: pathlib.Path) -> None:
    async def body(h: Harness) -> None:
        for port, tls in ((h.plain_port, None), (h.tls_port, client_tls(h.pki, ["h2", "http/1.1"]))):
            cl = await H2Client.open(port, tls)
            get = [(":method", "GET"), (":scheme", "https" if tls else "http"), (":authority", "x")]
            health = cl.request(get + [(":path", "/health")], body=None)
            big = cl.request(get + [(":path", "/big")], body=None)
            missing = cl.request(get + [(":path", "/nope"), ("accept", "*/*")], body=None)
            sids = (health, big, missing)
            await cl.pump(lambda cl=cl, sids=sids: all(cl.replies[s].ended for s in sids))
            rep = cl.replies[health]
            assert rep.headers[":status"] == "200" and rep.headers["content-type"] == "application/json"
            assert bytes(rep.data) == b'{"health":"true","reason":""}'
            assert bytes(cl.replies[big].data) == b"m" * 200_000  # sent as the client's window allowed
            assert cl.replies[missing].headers[":status"] == "404"
            assert (await cl.call()).status == "0"  # a gRPC call on the same connection
            await cl.close()
    run(pki, body, plain=answer)


def test_without_a_plain_handler_http1_is_refused_and_http2_gets_grpc_gos_415(pki: pathlib.Path) -> None:
    async def body(h: Harness) -> None:
        reply = await http1_get(h.plain_port, b"GET /health HTTP/1.1\r\n\r\n")
        assert not reply.startswith(b"HTTP/1.1")  # a GOAWAY (not an HTTP/2 preface), then the close
        cl = await H2Client.open(h.plain_port)
        sid = cl.request([(":method", "GET"), (":scheme", "http"), (":authority", "x"), (":path", "/health")],
                         body=None)
        await cl.pump(lambda: cl.replies[sid].ended)
        assert (cl.replies[sid].headers[":status"], cl.replies[sid].status) == ("415", "3")
        await cl.close()
    run(pki, body, plain=None)


def test_http1_head_parsing() -> None:
    assert http1.parse_head(b"GET /metrics?name[]=x HTTP/1.1\r\nHost: a\r\n\r\n") == ("GET", "/metrics")
    for bad in (b"", b"GET /\r\n\r\n", b"GET / SPDY/3\r\n\r\n", b"\xff\xfe", b"GET / HTTP/1.1" + b"x" * 9000):
        with pytest.raises(ValueError):
            http1.parse_head(bad)
    assert http1.format_reply(503, "application/json", b"{}") == (
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
        b"Connection: close\r\n\r\n{}")


def test_connection_reports_a_plain_get_as_its_own_event() -> None:
    import hpack

    conn = c.ServerConnection(1 << 20, plain_gets=True)
    enc = hpack.Encoder()
    events = conn.receive(c.PREFACE + c.frame(c.SETTINGS, 0, 0) + c.frame(
        c.HEADERS, c.END_HEADERS | c.END_STREAM, 1,
        enc.encode([(":method", "GET"), (":scheme", "http"), (":path", "/version"), (":authority", "x")])))
    assert [ev[0] for ev in events] == [c.EV_PLAIN]
    conn.take_output()
    conn.send_plain(1, 200, "application/json", b"{}")
    out = conn.take_output()
    assert out.endswith(c.frame(c.DATA, 0, 1, b"{}") + c.frame(c.HEADERS, c.END_HEADERS | c.END_STREAM, 1))
    assert 1 not in conn.streams
