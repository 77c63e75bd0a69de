"""The sans-IO HTTP/2 connection, driven frame by frame as a client would, replies parsed back into frames."""

from __future__ import annotations

import struct

import hpack
import pytest

from raftkv.grpcwire import connection as c
from raftkv.grpcwire import errors as e
from raftkv.grpcwire.errors import ConnectionError_

REQUEST = [(":method", "POST"), (":scheme", "https"), (":path", "/etcdserverpb.KV/Range"),
           (":authority", "x"), ("te", "trailers"), ("content-type", "application/grpc")]


def frame(ftype: int, flags: int, sid: int, payload: bytes = b"") -> bytes:
    return c.frame(ftype, flags, sid, payload)


def message(payload: bytes, compressed: int = 0) -> bytes:
    return struct.pack(">BL", compressed, len(payload)) + payload


class Client:
    """Just enough of an HTTP/2 client to drive a ServerConnection and read what it sends back."""

    def __init__(self, max_message: int = 1 << 20) -> None:
        self.conn = c.ServerConnection(max_message)
        self.enc = hpack.Encoder()
        self.dec = hpack.Decoder()
        self.events = self.conn.receive(c.PREFACE + frame(c.SETTINGS, 0, 0))

    def send(self, data: bytes) -> list[tuple]:
        return self.conn.receive(data)

    def request(self, sid: int, body: bytes | None, end: bool = True) -> list[tuple]:
        data = frame(c.HEADERS, c.END_HEADERS, sid, self.enc.encode(REQUEST))
        if body is not None:
            data += frame(c.DATA, c.END_STREAM if end else 0, sid, message(body))
        return self.send(data)

    def frames(self) -> list[tuple[int, int, int, bytes]]:
        out, data = [], self.conn.take_output()
        while data:
            hi, lo, ftype, flags, sid = struct.unpack_from(">HBBBL", data)
            n = (hi << 8) | lo
            out.append((ftype, flags, sid, data[9:9 + n]))
            data = data[9 + n:]
        return out

    def headers(self, payload: bytes) -> dict[str, str]:
        return dict(self.dec.decode(payload))


def test_a_unary_call_is_one_request_event_one_message_and_one_write_back() -> None:
    cl = Client()
    first = cl.frames()
    assert first[0][0] == c.SETTINGS and first[1][0] == c.WINDOW_UPDATE  # our settings, then a bigger window
    events = cl.request(1, b"hello")
    assert [ev[0] for ev in events] == [c.EV_REQUEST, c.EV_MESSAGE, c.EV_END]
    assert dict(events[0][2])[":path"] == "/etcdserverpb.KV/Range"
    assert events[1] == (c.EV_MESSAGE, 1, b"hello")
    cl.frames()  # the SETTINGS ack
    cl.conn.respond(1, b"world")
    frames = cl.frames()
    assert [(f[0], f[1]) for f in frames] == [(c.HEADERS, c.END_HEADERS), (c.DATA, 0),
                                              (c.HEADERS, c.END_HEADERS | c.END_STREAM)]
    assert cl.headers(frames[0][3]) == {":status": "200", "content-type": "application/grpc"}
    assert frames[1][3] == message(b"world")
    assert cl.headers(frames[2][3]) == {"grpc-status": "0"}
    assert 1 not in cl.conn.streams


def test_a_message_split_over_frames_and_two_messages_in_one_frame() -> None:
    cl = Client()
    cl.request(1, None)
    body = message(b"a" * 100) + message(b"b" * 3)
    events = cl.send(frame(c.DATA, 0, 1, body[:50]))
    assert events == []
    events = cl.send(frame(c.DATA, c.END_STREAM, 1, body[50:]))
    assert events == [(c.EV_MESSAGE, 1, b"a" * 100), (c.EV_MESSAGE, 1, b"b" * 3), (c.EV_END, 1)]


def test_replies_respect_the_clients_stream_window_and_resume_on_window_update() -> None:
    cl = Client()
    cl.request(1, b"q")
    cl.frames()
    payload = b"x" * 100_000  # more than the default 65,535-byte stream window
    cl.conn.respond(1, payload)
    frames = cl.frames()
    sent = sum(len(f[3]) for f in frames if f[0] == c.DATA)
    assert sent == 65_535
    assert all(len(f[3]) <= 16_384 for f in frames if f[0] == c.DATA)
    assert not any(f[1] & c.END_STREAM for f in frames)  # the status waits behind the data
    cl.send(frame(c.WINDOW_UPDATE, 0, 1, struct.pack(">L", 50_000)) +
            frame(c.WINDOW_UPDATE, 0, 0, struct.pack(">L", 50_000)))
    frames = cl.frames()
    data = b"".join(f[3] for f in frames if f[0] == c.DATA)
    assert len(data) == 100_005 - 65_535
    assert frames[-1][0] == c.HEADERS and frames[-1][1] & c.END_STREAM
    assert cl.headers(frames[-1][3]) == {"grpc-status": "0"}


def test_settings_change_of_initial_window_adjusts_open_streams() -> None:
    cl = Client()
    cl.request(1, b"q")
    cl.send(frame(c.SETTINGS, 0, 0, struct.pack(">HL", c.S_INITIAL_WINDOW_SIZE, 10)))
    cl.frames()
    cl.conn.respond(1, b"y" * 100)
    data = [f for f in cl.frames() if f[0] == c.DATA]
    assert sum(len(f[3]) for f in data) == 10


def test_an_oversized_message_is_refused_without_buffering_it() -> None:
    cl = Client(max_message=1000)
    cl.request(1, None)
    events = cl.send(frame(c.DATA, 0, 1, struct.pack(">BL", 0, 5000) + b"z" * 100))
    assert events == [(c.EV_BAD_MESSAGE, 1, c.GRPC_RESOURCE_EXHAUSTED,
                       "Received message larger than max (5000 vs. 1000)")]
    assert not cl.conn.streams[1].buf
    assert cl.send(frame(c.DATA, 0, 1, b"z" * 1000)) == []


def test_a_compressed_message_is_refused() -> None:
    cl2 = Client()
    cl2.request(1, None)
    assert cl2.send(frame(c.DATA, 0, 1, message(b"zz", compressed=1)))[0][:3] == (c.EV_BAD_MESSAGE, 1,
                                                                                   c.GRPC_UNIMPLEMENTED)


def test_continuation_frames_carry_a_long_header_block() -> None:
    cl = Client()
    block = cl.enc.encode(REQUEST + [("x-long", "v" * 40_000)])
    events = cl.send(frame(c.HEADERS, 0, 1, block[:16_000]) + frame(c.CONTINUATION, 0, 1, block[16_000:32_000]) +
                     frame(c.CONTINUATION, c.END_HEADERS, 1, block[32_000:]))
    assert events[0][0] == c.EV_REQUEST and dict(events[0][2])["x-long"] == "v" * 40_000


def test_ping_is_answered_and_rst_stream_cancels() -> None:
    cl = Client()
    cl.frames()
    cl.send(frame(c.PING, 0, 0, b"12345678"))
    assert (c.PING, c.ACK, 0, b"12345678") in cl.frames()
    cl.request(1, None)
    assert cl.send(frame(c.RST_STREAM, 0, 1, struct.pack(">L", e.CANCEL))) == [(c.EV_RESET, 1, e.CANCEL)]
    assert 1 not in cl.conn.streams
    assert cl.send(frame(c.DATA, 0, 1, b"late")) == []  # data for a reset stream is dropped


def test_trailers_only_error_reply_with_percent_encoded_message() -> None:
    cl = Client()
    cl.request(1, b"q")
    cl.frames()
    cl.conn.send_trailers(1, 5, "etcdserver: key not found: 100% ü")
    (ftype, flags, sid, payload), = cl.frames()
    assert ftype == c.HEADERS and flags & c.END_STREAM
    h = cl.headers(payload)
    assert h[":status"] == "200" and h["grpc-status"] == "5"
    assert h["grpc-message"] == "etcdserver: key not found: 100%25 %C3%BC"


def test_finishing_before_the_client_half_closes_resets_its_side() -> None:
    cl = Client()
    cl.request(1, None)  # a streaming call the client keeps open
    cl.frames()
    cl.conn.send_trailers(1, 0, "")
    kinds = [f[0] for f in cl.frames()]
    assert kinds == [c.HEADERS, c.RST_STREAM]


START = c.PREFACE + frame(c.SETTINGS, 0, 0)


@pytest.mark.parametrize("data, code", [
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", e.PROTOCOL_ERROR),
    (c.PREFACE + frame(c.PING, 0, 0, b"12345678"), e.PROTOCOL_ERROR),  # SETTINGS must come first
    (START + frame(c.DATA, 0, 0, b"x"), e.PROTOCOL_ERROR),
    (START + frame(c.SETTINGS, 0, 0, b"12345"), e.FRAME_SIZE_ERROR),
    (START + frame(c.PING, 0, 0, b"1"), e.FRAME_SIZE_ERROR),
    (START + frame(c.HEADERS, c.END_HEADERS, 2, b"\x88"), e.PROTOCOL_ERROR),
    (START + frame(c.HEADERS, c.END_HEADERS, 1, b"\xff\xff\xff\xff\xff\xff\x01"), e.COMPRESSION_ERROR),
    (START + frame(c.HEADERS, 0, 1, b"\x88") + frame(c.PING, 0, 0, b"12345678"), e.PROTOCOL_ERROR),
    (START + b"\x01\x00\x00\x00\x00\x00\x00\x00\x01", e.FRAME_SIZE_ERROR),  # 64 KiB frame, over 16 KiB
    (START + frame(c.WINDOW_UPDATE, 0, 0, struct.pack(">L", 2**31 - 1)), e.FLOW_CONTROL_ERROR),
    (START + frame(c.DATA, 0, 7, b"x"), e.PROTOCOL_ERROR),  # DATA on an idle stream
])
def test_protocol_violations_are_connection_errors(data: bytes, code: int) -> None:
    conn = c.ServerConnection(1 << 20)
    with pytest.raises(ConnectionError_) as err:
        conn.receive(data)
    assert err.value.code == code


def test_streams_beyond_the_advertised_limit_are_refused() -> None:
    cl = Client()
    enc = cl.enc
    data = b"".join(frame(c.HEADERS, c.END_HEADERS, 2 * i + 1, enc.encode(REQUEST))
                    for i in range(c.MAX_CONCURRENT_STREAMS + 1))
    events = cl.send(data)
    assert len(events) == c.MAX_CONCURRENT_STREAMS
    assert (c.RST_STREAM, 0, 2 * c.MAX_CONCURRENT_STREAMS + 1, struct.pack(">L", e.REFUSED_STREAM)) in cl.frames()
