"""raftkv's HTTP/2 gRPC server driven by python-hyper's `h2` (and, for what `h2` refuses to send, raw frames) over
real loopback sockets: the HTTP/2 a gRPC client never produces — CONTINUATION, padding, priority, window games,
resets mid-message, data after END_STREAM, invalid and huge headers, PING floods, SETTINGS changes, many streams,
GOAWAY both ways, half-closed TCP, silent connections, ALPN. After every abuse the server still serves."""

from __future__ import annotations

import asyncio
import pathlib
import socket
import ssl
import struct
from collections.abc import Callable
from typing import Any

import grpc
import h2.config
import h2.connection
import h2.events
import h2.settings
import hpack
import pytest

from raftkv._pb.etcdserverpb import rpc_pb2 as pb
from raftkv.grpcwire import connection as c
from raftkv.grpcwire import errors as e
from raftkv.grpcwire import server as s
from raftkv.pki import create_local_pki
from tests.grpcwire.test_grpcwire_server import CHUNK, Harness

DEADLINE = 30.0


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    d = tmp_path_factory.mktemp("pki")
    create_local_pki(str(d), ["127.0.0.1", "localhost"])
    create_local_pki(str(d / "other"), ["127.0.0.1"])
    return d
RANGE = "/etcdserverpb.KV/Range"
SNAPSHOT = "/etcdserverpb.Maintenance/Snapshot"


def grpc_headers(path: str = RANGE, extra: list[tuple[str, str]] | None = None) -> list[tuple[str, str]]:
    return [(":method", "POST"), (":scheme", "http"), (":path", path), (":authority", "127.0.0.1"),
            ("te", "trailers"), ("content-type", "application/grpc"), *(extra or [])]


def grpc_message(msg: Any) -> bytes:
    raw = msg.SerializeToString()
    return struct.pack(">BL", 0, len(raw)) + raw


class Reply:
    def __init__(self) -> None:
        self.headers: dict[str, str] = {}
        self.data = bytearray()
        self.trailers: dict[str, str] = {}
        self.reset: int | None = None
        self.ended = False

    @property
    def status(self) -> str | None:
        return self.trailers.get("grpc-status", self.headers.get("grpc-status"))


class H2Client:
    """An h2 connection over asyncio streams; replies gathered per stream, windows reopened unless told not to."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, validate: bool = True) -> None:
        self.reader, self.writer = reader, writer
        config = h2.config.H2Configuration(client_side=True, header_encoding="latin-1",
                                           validate_outbound_headers=validate, normalize_outbound_headers=validate,
                                           validate_inbound_headers=False)
        self.h2 = h2.connection.H2Connection(config)
        self.replies: dict[int, Reply] = {}
        self.terminated: h2.events.ConnectionTerminated | None = None
        self.pings = 0
        self.settings_acks = 0
        self.auto_window = True
        self.max_data_frame = 0
        self.closed = False

    @classmethod
    async def open(cls, port: int, tls: ssl.SSLContext | None = None, validate: bool = True) -> H2Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=tls)
        cl = cls(reader, writer, validate)
        cl.h2.initiate_connection()
        await cl.flush()
        return cl

    async def flush(self) -> None:
        data = self.h2.data_to_send()
        if data:
            self.writer.write(data)
            await self.writer.drain()

    def request(self, headers: list[tuple[str, str]] | None = None, body: bytes | None = b"", end: bool = True,
                **kw: Any) -> int:
        sid = self.h2.get_next_available_stream_id()
        self.replies[sid] = Reply()
        self.h2.send_headers(sid, headers or grpc_headers(), end_stream=body is None and end, **kw)
        if body is not None:
            self.h2.send_data(sid, body, end_stream=end)
        return sid

    async def pump(self, until: Callable[[], bool], timeout: float = DEADLINE) -> None:
        """Read and handle frames until `until()` holds (checked after every read), failing after `timeout`."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        await self.flush()
        while not until():
            if self.closed:
                raise AssertionError("the connection closed before the condition held")
            left = end - loop.time()
            if left <= 0:
                raise AssertionError("condition not reached in time")
            try:
                data = await asyncio.wait_for(self.reader.read(1 << 16), left)
            except (ConnectionError, asyncio.IncompleteReadError):
                data = b""
            if not data:
                self.closed = True
                continue
            for ev in self.h2.receive_data(data):
                self._on(ev)
            await self.flush()

    def _on(self, ev: h2.events.Event) -> None:
        sid = getattr(ev, "stream_id", None)
        rep = self.replies.setdefault(sid, Reply()) if sid else None
        if isinstance(ev, h2.events.ResponseReceived) and rep is not None:
            rep.headers = dict(ev.headers)  # type: ignore[arg-type]
        elif isinstance(ev, h2.events.DataReceived) and rep is not None:
            rep.data += ev.data
            self.max_data_frame = max(self.max_data_frame, ev.flow_controlled_length)
            if self.auto_window and ev.flow_controlled_length:
                self.h2.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        elif isinstance(ev, h2.events.TrailersReceived) and rep is not None:
            rep.trailers = dict(ev.headers)  # type: ignore[arg-type]
        elif isinstance(ev, h2.events.StreamEnded) and rep is not None:
            rep.ended = True
        elif isinstance(ev, h2.events.StreamReset) and rep is not None:
            rep.reset = ev.error_code
            rep.ended = True
        elif isinstance(ev, h2.events.SettingsAcknowledged):
            self.settings_acks += 1
        elif isinstance(ev, h2.events.PingAckReceived):
            self.pings += 1
        elif isinstance(ev, h2.events.ConnectionTerminated):
            self.terminated = ev

    async def call(self, key: bytes = b"ok", **kw: Any) -> Reply:
        sid = self.request(body=grpc_message(pb.RangeRequest(key=key)), **kw)
        await self.pump(lambda: self.replies[sid].ended)
        return self.replies[sid]

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, ssl.SSLError):
            pass


class RawClient:
    """Frames as bytes, for what h2 will not send (it keeps the rules); the server's frames parsed back."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.enc = hpack.Encoder()
        self.dec = hpack.Decoder()
        self.buf = b""
        self.frames: list[tuple[int, int, int, bytes]] = []

    @classmethod
    async def open(cls, port: int) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        cl = cls(reader, writer)
        cl.send(c.PREFACE + c.frame(c.SETTINGS, 0, 0))
        return cl

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    def headers(self, sid: int, headers: list[tuple[str, str]] | None = None, flags: int = c.END_HEADERS) -> None:
        self.send(c.frame(c.HEADERS, flags, sid, self.enc.encode(headers or grpc_headers())))

    async def wait(self, pred: Callable[[tuple[int, int, int, bytes]], bool], timeout: float = DEADLINE) -> tuple:
        """The first frame from the server matching `pred` (earlier frames are kept in self.frames)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            for f in self.frames:
                if pred(f):
                    return f
            left = end - loop.time()
            if left <= 0:
                raise AssertionError("frame not received in time")
            data = await asyncio.wait_for(self.reader.read(1 << 16), left)
            if not data:
                raise AssertionError("connection closed")
            self.buf += data
            while len(self.buf) >= 9:
                n = int.from_bytes(self.buf[:3], "big")
                if len(self.buf) < 9 + n:
                    break
                ftype, flags, sid = self.buf[3], self.buf[4], struct.unpack(">L", self.buf[5:9])[0]
                payload = self.buf[9:9 + n]
                if ftype == c.HEADERS:
                    payload = repr(self.dec.decode(payload)).encode()
                self.frames.append((ftype, flags, sid, payload))
                self.buf = self.buf[9 + n:]

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except ConnectionError:
            pass


async def count_ping_acks(reader: asyncio.StreamReader, n: int) -> int:
    """Read frames until `n` PING ACKs came (other frames skipped); how many did."""
    loop = asyncio.get_running_loop()
    end, buf, acks = loop.time() + DEADLINE, b"", 0
    while acks < n:
        assert loop.time() < end, f"{acks} of {n} PING ACKs in time"
        chunk = await asyncio.wait_for(reader.read(1 << 20), DEADLINE)
        assert chunk, f"closed after {acks} of {n} PING ACKs"
        buf += chunk
        pos = 0
        while len(buf) - pos >= 9:
            size = int.from_bytes(buf[pos:pos + 3], "big")
            if len(buf) - pos < 9 + size:
                break
            if buf[pos + 3] == c.PING and buf[pos + 4] & c.ACK:
                acks += 1
            pos += 9 + size
        buf = buf[pos:]
    return acks


def add_sink(h: Harness) -> asyncio.Event:
    """test.Sink/Hold: a client-streaming method whose handler never reads its requests; test.Sink/Later: a
    unary method that answers (its request, echoed) once the returned event is set."""
    release = asyncio.Event()

    async def hold(requests: Any, context: Any) -> None:
        await asyncio.Event().wait()

    async def later(request: bytes, context: Any) -> bytes:
        await release.wait()
        return request
    h.server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("test.Sink", {
        "Hold": grpc.stream_stream_rpc_method_handler(hold), "Later": grpc.unary_unary_rpc_method_handler(later)})])
    return release


def server_conn(h: Harness) -> s._GrpcProtocol:
    (proto,) = h.server.connections
    return proto


async def until(pred: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not pred():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def run(pki: pathlib.Path, body: Any, **kw: Any) -> None:
    async def main() -> None:
        h = Harness(pki, **kw)
        h.server.handshake_timeout = 1.0
        await h.server.start()
        try:
            await asyncio.wait_for(body(h), 120)
        finally:
            await h.server.stop(0.5)
    asyncio.run(main())


def test_continuation_padding_and_priority_are_understood(pki: pathlib.Path) -> None:
    async def body(h: Harness) -> None:
        cl = await H2Client.open(h.plain_port)
        big = [(f"x-meta-{i}", "v" * 1000) for i in range(40)]  # ~41 KB: HEADERS + CONTINUATIONs
        sid = cl.request(grpc_headers(extra=big), body=None, end=False)
        cl.h2.prioritize(sid, weight=10)
        cl.h2.send_data(sid, grpc_message(pb.RangeRequest(key=b"ab")), end_stream=True, pad_length=100)
        prio = cl.request(body=grpc_message(pb.RangeRequest(key=b"abc")), priority_weight=200,
                          priority_depends_on=sid)  # HEADERS with the PRIORITY flag
        await cl.pump(lambda: cl.replies[sid].ended and cl.replies[prio].ended)
        for stream, revision in ((sid, 2), (prio, 3)):
            rep = cl.replies[stream]
            assert rep.headers[":status"] == "200" and rep.status == "0"
            assert pb.RangeResponse.FromString(bytes(rep.data[5:])).header.revision == revision
        await cl.close()
    run(pki, body)


@pytest.mark.parametrize("headers, expect", [
    (grpc_headers(extra=[("X-Upper", "1")]), ("reset", e.PROTOCOL_ERROR)),
    (grpc_headers(extra=[("connection", "close")]), ("reset", e.PROTOCOL_ERROR)),
    ([h for h in grpc_headers() if h[0] != ":path"], ("reset", e.PROTOCOL_ERROR)),
    ([(n, "gzip" if n == "te" else v) for n, v in grpc_headers()], ("reset", e.PROTOCOL_ERROR)),
    ([(n, "text/html" if n == "content-type" else v) for n, v in grpc_headers()], ("415", "3")),
    ([(n, "PUT" if n == ":method" else v) for n, v in grpc_headers()], ("405", "13")),
    (grpc_headers(extra=[("grpc-timeout", "soon")]), ("400", "13")),
    (grpc_headers("/no.Such/Method"), ("200", "12")),
])
def test_bad_request_headers_get_grpc_gos_answers_and_the_connection_serves_on(
        pki: pathlib.Path, headers: list[tuple[str, str]], expect: tuple[Any, Any]) -> None:
    async def body(h: Harness) -> None:
        cl = await H2Client.open(h.plain_port, validate=False)
        sid = cl.request(headers, body=grpc_message(pb.RangeRequest(key=b"ok")))
        await cl.pump(lambda: cl.replies[sid].ended)
        rep = cl.replies[sid]
        if expect[0] == "reset":
            assert rep.reset == expect[1]
        else:
            assert (rep.headers[":status"], rep.status) == expect
        good = await cl.call()
        assert good.status == "0"
        await cl.close()
    run(pki, body)


def test_window_games_a_reply_waits_for_the_clients_window_and_settings_changes(pki: pathlib.Path) -> None:
    async def body(h: Harness) -> None:
        cl = await H2Client.open(h.plain_port)
        cl.h2.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
        await cl.pump(lambda: True)
        sid = cl.request(body=grpc_message(pb.RangeRequest(key=b"big")))  # a 3 MiB reply
        await cl.pump(lambda: bool(cl.replies[sid].headers))
        await until(lambda: server_conn(h).conn.pending_bytes(sid) > 3 * CHUNK, "the reply queued")
        assert not cl.replies[sid].data  # a window of 0: headers only
        cl.h2.increment_flow_control_window(100, stream_id=sid)
        await cl.pump(lambda: len(cl.replies[sid].data) == 100)
        # a bigger frame size, then a bigger initial window mid-stream: the rest flows, in frames beyond 16 KiB
        # (two steps: h2 only takes frames over 16 KiB once it has the ACK of its frame-size setting)
        acks = cl.settings_acks
        cl.h2.update_settings({h2.settings.SettingCodes.MAX_FRAME_SIZE: 1 << 20})
        await cl.pump(lambda: cl.settings_acks > acks)
        cl.h2.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 8 << 20})
        cl.h2.increment_flow_control_window(16 << 20)
        await cl.pump(lambda: cl.replies[sid].ended)
        assert cl.replies[sid].status == "0" and len(cl.replies[sid].data) > 3 * CHUNK
        assert cl.max_data_frame > c.DEFAULT_FRAME
        assert not server_conn(h).conn.streams
        await cl.close()
    run(pki, body)


def test_a_reply_the_client_never_reads_is_freed_when_it_resets_or_leaves(pki: pathlib.Path) -> None:
    async def body(h: Harness) -> None:
        cl = await H2Client.open(h.plain_port)
        cl.h2.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
        sid = cl.request(body=grpc_message(pb.RangeRequest(key=b"big")))
        await cl.pump(lambda: bool(cl.replies[sid].headers))
        await until(lambda: server_conn(h).conn.pending_bytes(sid) > 0, "the reply queued")
        cl.h2.reset_stream(sid, e.CANCEL)
        await cl.flush()
        await until(lambda: not server_conn(h).conn.streams, "the stream forgotten")
        sid = cl.request(body=grpc_message(pb.RangeRequest(key=b"big")))
        await cl.flush()
        await until(lambda: server_conn(h).conn.pending_bytes(sid) > 0, "the second reply queued")
        await cl.close()  # the client goes away without a word
        await until(lambda: not h.server.connections, "the connection dropped")
    run(pki, body)


def test_a_streaming_writer_blocks_on_a_closed_window_instead_of_buffering(pki: pathlib.Path) -> None:
    async def body(h: Harness) -> None:
        cl = await H2Client.open(h.plain_port)
        cl.h2.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
        sid = cl.request(SNAPSHOT_HEADERS, body=grpc_message(pb.SnapshotRequest()))  # 8 x 1 MiB messages
        await cl.pump(lambda: bool(cl.replies[sid].headers))
        proto = server_conn(h)
        await until(lambda: proto.conn.pending_bytes(sid) > s._WRITE_BACKLOG, "the writer filling its backlog")
        for _ in range(50):  # the handler gets every chance to run on; it must stay blocked
            await asyncio.sleep(0.01)
            assert proto.conn.pending_bytes(sid) <= s._WRITE_BACKLOG + CHUNK + 5
        assert not any(call.task.done() for call in proto.calls.values() if call.task)
        cl.h2.increment_flow_control_window(64 << 20, stream_id=sid)
        cl.h2.increment_flow_control_window(64 << 20)
        await cl.pump(lambda: cl.replies[sid].ended)
        assert cl.replies[sid].status == "0" and len(cl.replies[sid].data) > 8 * CHUNK
        await cl.close()
    run(pki, body)


SNAPSHOT_HEADERS = grpc_headers(SNAPSHOT)


def test_many_streams_on_one_connection(pki: pathlib.Path) -> None:
    async def body(h: Harness) -> None:
        cl = await H2Client.open(h.plain_port)
        sids = [cl.request(body=grpc_message(pb.RangeRequest(key=b"k" * (i % 7)))) for i in range(600)]
        await cl.pump(lambda: all(cl.replies[sid].ended for sid in sids))
        for i, sid in enumerate(sids):
            assert cl.replies[sid].status == "0"
            assert pb.RangeResponse.FromString(bytes(cl.replies[sid].data[5:])).header.revision == i % 7
        await cl.close()
    run(pki, body)


def test_ping_flood_costs_bounded_memory_and_every_ping_is_answered(pki: pathlib.Path) -> None:
    async def body(h: Harness) -> None:
        sock = socket.socket()  # small kernel buffers everywhere, so what is not read piles up in the server
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 16)
        sock.connect(("127.0.0.1", h.plain_port))
        reader, writer = await asyncio.open_connection(sock=sock)
        writer.write(c.PREFACE + c.frame(c.SETTINGS, 0, 0))
        await until(lambda: len(h.server.connections) == 1, "the connection")
        proto = server_conn(h)
        assert proto.transport is not None
        for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):
            proto.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, option, 1 << 16)
        n = 300_000  # 5 MB of PINGs, 5 MB of ACKs, sent without reading the ACKs
        peak = 0

        async def flood() -> None:
            chunk = c.frame(c.PING, 0, 0, b"floodme!") * 1000
            for _ in range(n // 1000):
                writer.write(chunk)
                await writer.drain()

        async def sample() -> None:
            nonlocal peak
            while True:
                peak = max(peak, proto.transport.get_write_buffer_size() if proto.transport else 0)
                await asyncio.sleep(0.001)

        flooding, sampling = asyncio.create_task(flood()), asyncio.create_task(sample())
        await until(lambda: flooding.done() or (proto.paused and not proto.transport.is_reading()),
                    "the server to stop reading a client that does not read")
        assert not flooding.done()  # the server stopped taking PINGs it could not answer
        assert peak <= 1 << 20, peak  # about one read's worth of ACKs past the high-water mark, not 5 MB
        acks = await count_ping_acks(reader, n)  # every PING is answered once the client reads again
        await flooding
        sampling.cancel()
        assert acks == n and peak <= 1 << 20, peak
        cl2 = await H2Client.open(h.plain_port)
        assert (await cl2.call()).status == "0"
        await cl2.close()
        writer.close()
    run(pki, body)


def test_rst_mid_message_data_after_end_stream_and_window_overrun(pki: pathlib.Path) -> None:
    async def body(h: Harness) -> None:
        raw = await RawClient.open(h.plain_port)
        msg = grpc_message(pb.RangeRequest(key=b"x" * 1000))
        raw.headers(1)
        raw.send(c.frame(c.DATA, 0, 1, msg[:300]))  # half a message, then cancel
        raw.send(c.frame(c.RST_STREAM, 0, 1, struct.pack(">L", e.CANCEL)))
        raw.headers(3)
        raw.send(c.frame(c.DATA, c.END_STREAM, 3, msg))
        await raw.wait(lambda f: f[0] == c.HEADERS and f[2] == 3 and b"grpc-status" in f[3])
        raw.send(c.frame(c.DATA, 0, 3, msg))  # after END_STREAM: the stream is closed, ignored
        raw.headers(5, grpc_headers(SNAPSHOT))
        raw.send(c.frame(c.DATA, c.END_STREAM, 5, grpc_message(pb.SnapshotRequest())))
        await raw.wait(lambda f: f[0] == c.DATA and f[2] == 5)
        raw.send(c.frame(c.DATA, 0, 5, msg))  # half-closed (remote) still streaming to us: STREAM_CLOSED
        await raw.wait(lambda f: f == (c.RST_STREAM, 0, 5, struct.pack(">L", e.STREAM_CLOSED)))
        proto = server_conn(h)
        await until(lambda: not proto.calls and proto.conn.buffered == 0, "the server to forget the streams")
        # a client-streaming call whose handler does not read is held to its window: requests do not pile up
        add_sink(h)
        raw.headers(7, grpc_headers("/test.Sink/Hold"))
        ka = grpc_message(pb.LeaseKeepAliveRequest(ID=1)) * 1500
        raw.send(b"".join(c.frame(c.DATA, 0, 7, ka) for _ in range(300)))  # 4.5 MB: past any window we gave
        await raw.wait(lambda f: f == (c.RST_STREAM, 0, 7, struct.pack(">L", e.FLOW_CONTROL_ERROR)))
        assert (await (await H2Client.open(h.plain_port)).call()).status == "0"
        await raw.close()
    run(pki, body)


def test_header_blocks_too_large_refused_or_cut_off(pki: pathlib.Path) -> None:
    async def body(h: Harness) -> None:
        cl = await H2Client.open(h.plain_port)
        sid = cl.request(grpc_headers(extra=[(f"x-m{i}", "v" * 1000) for i in range(100)]))  # 100 KB > 64 KB
        await cl.pump(lambda: cl.replies[sid].ended)
        assert cl.replies[sid].reset == e.REFUSED_STREAM
        assert (await cl.call()).status == "0"
        cl.request(grpc_headers(extra=[(f"x-m{i}", "v" * 10000) for i in range(30)]))  # 300 KB block
        await cl.pump(lambda: cl.terminated is not None)
        assert cl.terminated is not None and cl.terminated.error_code == e.ENHANCE_YOUR_CALM
        await cl.close()
        cl = await H2Client.open(h.plain_port)
        assert (await cl.call()).status == "0"
        await cl.close()
    run(pki, body)


def test_goaway_from_the_client_and_from_a_stopping_server(pki: pathlib.Path) -> None:
    async def main() -> None:
        h = Harness(pki)
        await h.server.start()
        try:
            raw = await RawClient.open(h.plain_port)
            raw.headers(1)
            raw.send(c.frame(c.DATA, c.END_STREAM, 1, grpc_message(pb.RangeRequest(key=b"ok"))))
            raw.send(c.frame(c.GOAWAY, 0, 0, struct.pack(">LL", 0, e.NO_ERROR)))  # what it asked is still answered
            await raw.wait(lambda f: f[0] == c.HEADERS and f[2] == 1 and b"'grpc-status', '0'" in f[3])
            await raw.close()
            raw = await RawClient.open(h.plain_port)
            raw.headers(1)
            raw.send(c.frame(c.DATA, c.END_STREAM, 1, grpc_message(pb.RangeRequest(key=b"slow"))))
            await until(h.probe.started.is_set, "the slow call to start")
            stopping = asyncio.create_task(h.server.stop(1.0))
            goaway = await raw.wait(lambda f: f[0] == c.GOAWAY)
            assert struct.unpack(">LL", goaway[3][:8]) == (1, e.NO_ERROR)
            raw.headers(3)  # raced the GOAWAY: refused, so a client may retry it elsewhere
            raw.send(c.frame(c.DATA, c.END_STREAM, 3, grpc_message(pb.RangeRequest(key=b"ok"))))
            await raw.wait(lambda f: f == (c.RST_STREAM, 0, 3, struct.pack(">L", e.REFUSED_STREAM)))
            await stopping  # the slow call outlived the grace: cancelled, with a status
            await raw.wait(lambda f: f[0] == c.HEADERS and f[2] == 1 and b"'grpc-status', '1'" in f[3])
            await raw.close()
        finally:
            await h.server.stop(0)
    asyncio.run(asyncio.wait_for(main(), 120))


def test_half_closed_tcp_client_gets_its_reply(pki: pathlib.Path) -> None:
    async def body(h: Harness) -> None:
        release = add_sink(h)
        raw = await RawClient.open(h.plain_port)
        raw.headers(1, grpc_headers("/test.Sink/Later"))
        raw.send(c.frame(c.DATA, c.END_STREAM, 1, b"\x00\x00\x00\x00\x05hello"))
        await raw.writer.drain()
        raw.writer.write_eof()
        await until(lambda: server_conn(h)._eof, "the server to see the half-close")
        release.set()  # the reply is made after the client half-closed
        await raw.wait(lambda f: f[0] == c.HEADERS and f[2] == 1 and b"'grpc-status', '0'" in f[3])
        assert (c.DATA, 0, 1, b"\x00\x00\x00\x00\x05hello") in raw.frames
        assert await asyncio.wait_for(raw.reader.read(), DEADLINE) == b""  # then the server closes
        await raw.close()
    run(pki, body)


def test_silent_connections_are_closed_after_the_handshake_timeout(pki: pathlib.Path) -> None:
    async def body(h: Harness) -> None:
        quiet = [await asyncio.open_connection("127.0.0.1", port) for port in (h.plain_port, h.tls_port)]
        slow_reader, slow_writer = await asyncio.open_connection("127.0.0.1", h.plain_port)
        slow_writer.write(c.PREFACE[:10])  # a byte-at-a-time preface that never completes
        for reader, _ in [*quiet, (slow_reader, slow_writer)]:
            assert await asyncio.wait_for(reader.read(), DEADLINE) is not None  # closed by the server
        for _, writer in [*quiet, (slow_reader, slow_writer)]:
            writer.close()
        cl = await H2Client.open(h.plain_port)
        assert (await cl.call()).status == "0"
        await cl.close()
    run(pki, body)


def test_tls_negotiates_h2_by_alpn_and_refuses_a_foreign_certificate(pki: pathlib.Path) -> None:
    async def body(h: Harness) -> None:
        ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        ctx.load_cert_chain(str(pki / "client.crt"), str(pki / "client.key"))
        ctx.set_alpn_protocols(["h2"])
        cl = await H2Client.open(h.tls_port, tls=ctx)
        assert cl.writer.get_extra_info("ssl_object").selected_alpn_protocol() == "h2"
        assert (await cl.call()).status == "0"
        await cl.close()
        other = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        other.load_cert_chain(str(pki / "other" / "client.crt"), str(pki / "other" / "client.key"))
        other.set_alpn_protocols(["h2"])
        try:  # TLS 1.3: the client's handshake ends first; the refusal comes with its first read
            reader, writer = await asyncio.open_connection("127.0.0.1", h.tls_port, ssl=other)
            writer.write(c.PREFACE + c.frame(c.SETTINGS, 0, 0))
            served = await asyncio.wait_for(reader.read(), DEADLINE)
            writer.close()
        except (ssl.SSLError, ConnectionError):
            served = b""
        assert served == b""  # not a single HTTP/2 frame for a certificate from another CA
        reader, writer = await asyncio.open_connection("127.0.0.1", h.tls_port)  # not quite TLS
        writer.write(b"\x16\x03\x01\x00\x05hello")
        assert await asyncio.wait_for(reader.read(), DEADLINE) is not None  # closed by the server
        writer.close()
        cl = await H2Client.open(h.tls_port, tls=ctx)
        assert (await cl.call()).status == "0"
        await cl.close()
    run(pki, body)


def test_many_connections_at_once(pki: pathlib.Path) -> None:
    async def body(h: Harness) -> None:
        clients = await asyncio.gather(*(H2Client.open(h.plain_port) for _ in range(300)))
        replies = await asyncio.gather(*(cl.call(key=b"k" * (i % 5)) for i, cl in enumerate(clients)))
        assert [r.status for r in replies] == ["0"] * 300
        assert len(h.server.connections) == 300
        await asyncio.gather(*(cl.close() for cl in clients))
        await until(lambda: not h.server.connections, "every connection gone")
    run(pki, body)


def test_grpc_encoding_uncompressed_messages_served_compressed_ones_unimplemented(pki: pathlib.Path) -> None:
    async def body(h: Harness) -> None:
        cl = await H2Client.open(h.plain_port)
        gzip = grpc_headers(extra=[("grpc-encoding", "gzip"), ("grpc-accept-encoding", "gzip,identity")])
        plain = cl.request(gzip, body=grpc_message(pb.RangeRequest(key=b"abc")))
        raw = pb.RangeRequest(key=b"abc").SerializeToString()
        flagged = cl.request(gzip, body=struct.pack(">BL", 1, len(raw)) + raw)
        await cl.pump(lambda: cl.replies[plain].ended and cl.replies[flagged].ended)
        assert cl.replies[plain].status == "0"
        assert pb.RangeResponse.FromString(bytes(cl.replies[plain].data[5:])).header.revision == 3
        assert cl.replies[flagged].status == "12"
        await cl.close()
    run(pki, body)
