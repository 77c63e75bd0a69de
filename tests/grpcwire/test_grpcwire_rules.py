"""RFC 9113 / gRPC-over-HTTP/2 rules the sans-IO connection enforces, frame by frame: request header validation
(stream errors and grpc-go's HTTP-status answers), stream states, flow control in both directions, bounded state
under hostile input, and GOAWAY."""

from __future__ import annotations

import struct

import hpack
import pytest

from raftkv.grpcwire import connection as c
from raftkv.grpcwire import errors as e
from raftkv.grpcwire.errors import ConnectionError_
from tests.grpcwire.test_grpcwire_connection import REQUEST, Client, frame, message

RST = c.RST_STREAM


def rst(sid: int, code: int) -> tuple[int, int, int, bytes]:
    return (RST, 0, sid, struct.pack(">L", code))


def replace(name: str, value: str | None) -> list[tuple[str, str]]:
    """REQUEST with `name` set to `value` (dropped when None, appended when absent)."""
    out = [(n, v) for n, v in REQUEST if n != name]
    if value is not None:
        out.append((name, value)) if not name.startswith(":") else out.insert(0, (name, value))
    return out


def send_headers(cl: Client, sid: int, headers: list[tuple[str, str]], end: bool = True) -> list[tuple]:
    flags = c.END_HEADERS | (c.END_STREAM if end else 0)
    return cl.send(frame(c.HEADERS, flags, sid, cl.enc.encode(headers)))


def assert_still_serves(cl: Client, sid: int) -> None:
    events = cl.request(sid, b"ok")
    assert events[0][:2] == (c.EV_REQUEST, sid) and events[1] == (c.EV_MESSAGE, sid, b"ok")


@pytest.mark.parametrize("headers, why", [
    (REQUEST + [("X-Upper", "1")], "uppercase field name"),
    (REQUEST + [("x-bad", "a\r\nb")], "CR LF in a value"),
    (REQUEST + [("x-bad", " padded")], "leading space in a value"),
    (REQUEST + [("connection", "keep-alive")], "connection-specific field"),
    (REQUEST + [("transfer-encoding", "chunked")], "connection-specific field"),
    (replace("te", "gzip"), "te other than trailers"),
    (replace(":path", None), "no :path"),
    (replace(":scheme", None), "no :scheme"),
    (replace(":method", None), "no :method"),
    ([(":status", "200")] + REQUEST, "a response pseudo-header"),
    (REQUEST + [(":method", "POST")], "pseudo-header after a regular one"),
    ([(":path", "/a")] + REQUEST, "two :path"),
])
def test_malformed_requests_are_stream_errors_and_the_connection_lives(headers: list[tuple[str, str]],
                                                                         why: str) -> None:
    cl = Client()
    cl.frames()
    assert send_headers(cl, 1, headers) == [], why
    assert cl.frames() == [rst(1, e.PROTOCOL_ERROR)], why
    assert not cl.conn.streams
    assert_still_serves(cl, 3)


@pytest.mark.parametrize("headers, http, grpc_status, text", [
    (replace("content-type", "text/plain"), "415", 3, "invalid gRPC request content-type 'text/plain'"),
    (replace("content-type", None), "415", 3, "invalid gRPC request content-type ''"),
    (replace("content-type", "application/grpcx"), "415", 3, "invalid gRPC request content-type"),
    (replace(":method", "GET"), "405", 13, "Received a HEADERS frame with :method 'GET' which should be POST"),
])
def test_requests_grpc_will_not_serve_get_grpc_gos_http_status_answer(headers: list[tuple[str, str]], http: str,
                                                                      grpc_status: int, text: str) -> None:
    cl = Client()
    cl.frames()
    assert send_headers(cl, 1, headers, end=False) == []
    (ftype, flags, sid, block), reset = cl.frames()
    assert (ftype, flags & c.END_STREAM, sid) == (c.HEADERS, c.END_STREAM, 1)
    got = cl.headers(block)
    assert (got[":status"], got["content-type"], got["grpc-status"]) == (http, "application/grpc", str(grpc_status))
    assert text in got["grpc-message"]
    assert reset == rst(1, e.NO_ERROR)  # the client had not half-closed: told to stop sending
    assert_still_serves(cl, 3)


@pytest.mark.parametrize("ctype", ["application/grpc", "application/grpc+proto", "application/grpc;charset=x"])
def test_grpc_content_types_are_served(ctype: str) -> None:
    cl = Client()
    events = send_headers(cl, 1, replace("content-type", ctype))
    assert events and events[0][:2] == (c.EV_REQUEST, 1)


def test_te_may_be_absent() -> None:
    cl = Client()
    assert send_headers(cl, 1, replace("te", None))[0][:2] == (c.EV_REQUEST, 1)


def test_data_after_end_stream_is_a_stream_error_stream_closed() -> None:
    cl = Client()
    events = cl.request(1, b"one")
    assert [ev[0] for ev in events] == [c.EV_REQUEST, c.EV_MESSAGE, c.EV_END]
    cl.frames()
    assert cl.send(frame(c.DATA, 0, 1, message(b"two"))) == [(c.EV_RESET, 1, e.STREAM_CLOSED)]
    assert rst(1, e.STREAM_CLOSED) in cl.frames()
    # a stream we finished and forgot: later frames for it are ignored (RFC 9113 5.1, closed)
    assert cl.send(frame(c.DATA, 0, 1, message(b"three"))) == []
    assert_still_serves(cl, 3)


def test_trailers_from_the_client_close_the_stream_but_may_not_carry_pseudo_headers() -> None:
    cl = Client()
    cl.request(1, b"x", end=False)
    ok = cl.send(frame(c.HEADERS, c.END_HEADERS | c.END_STREAM, 1, cl.enc.encode([("x-trailer", "1")])))
    assert ok == [(c.EV_END, 1)]
    cl.request(3, b"x", end=False)
    bad = cl.send(frame(c.HEADERS, c.END_HEADERS | c.END_STREAM, 3, cl.enc.encode([(":path", "/x")])))
    assert bad == [(c.EV_RESET, 3, e.PROTOCOL_ERROR)]


def test_empty_continuation_flood_is_cut_off() -> None:
    cl = Client()
    data = frame(c.HEADERS, 0, 1, cl.enc.encode(REQUEST)) + frame(c.CONTINUATION, 0, 1) * (c.MAX_CONTINUATIONS + 1)
    with pytest.raises(ConnectionError_) as err:
        cl.send(data)
    assert err.value.code == e.ENHANCE_YOUR_CALM


def test_a_header_block_split_over_many_continuations_within_bounds() -> None:
    cl = Client()
    block = cl.enc.encode(REQUEST + [("x-long", "v" * 2000)])
    parts = [block[i:i + 100] for i in range(0, len(block), 100)]
    data = frame(c.HEADERS, 0, 1, parts[0]) + b"".join(
        frame(c.CONTINUATION, c.END_HEADERS if i == len(parts) - 1 else 0, 1, p) for i, p in enumerate(parts[1:], 1))
    events = cl.send(data)
    assert events[0][0] == c.EV_REQUEST and ("x-long", "v" * 2000) in events[0][2]


@pytest.mark.parametrize("data, code", [
    (frame(c.RST_STREAM, 0, 9, struct.pack(">L", 8)), e.PROTOCOL_ERROR),  # idle stream
    (frame(c.WINDOW_UPDATE, 0, 9, struct.pack(">L", 1)), e.PROTOCOL_ERROR),  # idle stream
    (frame(c.RST_STREAM, 0, 1, b"123"), e.FRAME_SIZE_ERROR),
    (frame(c.SETTINGS, c.ACK, 0, b"\x00\x04\x00\x00\x00\x00"), e.FRAME_SIZE_ERROR),
    (frame(c.GOAWAY, 0, 1, bytes(8)), e.PROTOCOL_ERROR),
    (frame(c.GOAWAY, 0, 0, bytes(4)), e.FRAME_SIZE_ERROR),
    (frame(c.PRIORITY, 0, 0, bytes(5)), e.PROTOCOL_ERROR),
    (frame(c.SETTINGS, 0, 0, struct.pack(">HL", c.S_MAX_FRAME_SIZE, 100)), e.PROTOCOL_ERROR),
    (frame(c.SETTINGS, 0, 0, struct.pack(">HL", c.S_INITIAL_WINDOW_SIZE, 2**31)), e.FLOW_CONTROL_ERROR),
])
def test_more_connection_errors(data: bytes, code: int) -> None:
    cl = Client()
    cl.request(1, b"x", end=False)
    with pytest.raises(ConnectionError_) as err:
        cl.send(data)
    assert err.value.code == code


def test_a_priority_frame_of_the_wrong_size_resets_only_its_stream() -> None:
    cl = Client()
    cl.request(1, b"x", end=False)
    cl.frames()
    assert cl.send(frame(c.PRIORITY, 0, 1, bytes(4))) == [(c.EV_RESET, 1, e.FRAME_SIZE_ERROR)]
    assert cl.frames() == [rst(1, e.FRAME_SIZE_ERROR)]
    assert cl.send(frame(c.PRIORITY, 0, 3, bytes(5))) == []  # valid PRIORITY, even on an idle stream


def test_initial_window_change_that_overflows_an_open_stream_is_a_connection_error() -> None:
    cl = Client()
    cl.request(1, b"x", end=False)
    cl.send(frame(c.WINDOW_UPDATE, 0, 1, struct.pack(">L", 2**31 - 1 - c.DEFAULT_WINDOW)))  # at the maximum
    with pytest.raises(ConnectionError_) as err:
        cl.send(frame(c.SETTINGS, 0, 0, struct.pack(">HL", c.S_INITIAL_WINDOW_SIZE, c.DEFAULT_WINDOW + 1)))
    assert err.value.code == e.FLOW_CONTROL_ERROR


def test_initial_window_shrinking_mid_stream_can_make_a_window_negative() -> None:
    cl = Client()
    cl.request(1, b"x")
    cl.conn.send_message(1, b"a" * 40000)  # 40005 of the 65535 window used
    cl.frames()
    cl.send(frame(c.SETTINGS, 0, 0, struct.pack(">HL", c.S_INITIAL_WINDOW_SIZE, 16384)))
    assert cl.conn.streams[1].send_window == 16384 - 40005
    cl.conn.send_message(1, b"b" * 100)
    assert [f[0] for f in cl.frames()] == [c.SETTINGS]  # the ACK only: nothing may be sent
    cl.send(frame(c.WINDOW_UPDATE, 0, 1, struct.pack(">L", 40005 - 16384 + 50)))
    data = [f for f in cl.frames() if f[0] == c.DATA]
    assert sum(len(f[3]) for f in data) == 50  # exactly what the window allows, then the rest waits


def test_a_client_sending_past_its_stream_window_gets_flow_control_error() -> None:
    cl = Client()
    cl.request(1, b"x", end=False)
    cl.conn.hold_credit(1)
    chunk = message(b"z" * 16000)
    # messages nobody consumes: credit stops once HOLD_LIMIT is queued, then the window runs out
    events: list[tuple] = []
    for _ in range(200):
        events += cl.send(frame(c.DATA, 0, 1, chunk))
        if events and events[-1][0] == c.EV_RESET:
            break
    assert events[-1] == (c.EV_RESET, 1, e.FLOW_CONTROL_ERROR)
    assert rst(1, e.FLOW_CONTROL_ERROR) in cl.frames()


def test_a_held_stream_window_reopens_as_the_handler_consumes() -> None:
    cl = Client()
    cl.request(1, b"x", end=False)
    cl.conn.hold_credit(1)
    chunk = message(b"z" * 16000)
    credited = 0
    sent = 0
    while True:  # a well-behaved client: sends while the window allows
        st = cl.conn.streams[1]
        if st.recv_window < len(chunk):
            break
        cl.send(frame(c.DATA, 0, 1, chunk))
        sent += len(chunk)
        credited += sum(struct.unpack(">L", f[3])[0] for f in cl.frames() if f[0] == c.WINDOW_UPDATE and f[2] == 1)
    assert c.HOLD_LIMIT <= sent <= c.HOLD_LIMIT + c.STREAM_WINDOW + len(chunk)  # bounded, not unbounded
    before = cl.conn.streams[1].recv_window
    for _ in range(sent // len(chunk)):
        cl.conn.consumed(1, len(chunk))
    reopened = sum(struct.unpack(">L", f[3])[0] for f in cl.frames() if f[0] == c.WINDOW_UPDATE and f[2] == 1)
    assert reopened > 0 and cl.conn.streams[1].recv_window == before + reopened


def test_partial_messages_are_bounded_per_connection() -> None:
    cl = Client(max_message=4 << 20)
    cl.conn.max_buffered = 3 << 20  # small for the test; the default is c.MAX_BUFFERED
    header = struct.pack(">BL", 0, 4 << 20)  # each stream starts a 4 MiB message and never finishes it
    refused = []
    for i in range(6):
        sid = 2 * i + 1
        cl.request(sid, None, end=False)
        for j in range(64):
            events = cl.send(frame(c.DATA, 0, sid, (header if j == 0 else b"") + b"q" * 16000))
            refused += [ev for ev in events if ev[0] == c.EV_BAD_MESSAGE]
        assert cl.conn.buffered <= cl.conn.max_buffered
    assert refused and all(ev[2] == c.GRPC_RESOURCE_EXHAUSTED for ev in refused)
    for sid in list(cl.conn.streams):
        cl.send(frame(c.RST_STREAM, 0, sid, struct.pack(">L", e.CANCEL)))
    assert cl.conn.buffered == 0 and not cl.conn.streams


def test_after_goaway_new_streams_are_refused_and_open_ones_finish() -> None:
    cl = Client()
    cl.request(1, b"x")
    cl.frames()
    cl.conn.goaway()
    (ftype, _, _, payload), = cl.frames()
    assert ftype == c.GOAWAY and struct.unpack(">LL", payload[:8]) == (1, e.NO_ERROR)
    assert cl.request(3, b"y") == []
    assert rst(3, e.REFUSED_STREAM) in cl.frames()
    cl.conn.respond(1, b"reply")
    assert [f[0] for f in cl.frames()] == [c.HEADERS, c.DATA, c.HEADERS]


def test_ping_flood_replies_are_proportional_to_input() -> None:
    cl = Client()
    cl.frames()
    pings = frame(c.PING, 0, 0, b"12345678") * 10000
    cl.send(pings)
    out = cl.conn.take_output()
    assert len(out) == len(pings)  # one 17-byte ACK per PING, nothing kept once taken
    assert cl.conn.take_output() == b"" and not cl.conn._inbuf


def test_status_message_encoding_round_trips() -> None:
    raw = "etcdserver: nö 100%\nline"
    encoded = c.percent_encode(raw)
    assert encoded == b"etcdserver: n%C3%B6 100%25%0Aline"
    decoded = hpack.Decoder().decode(c.trailer_block(9, raw))
    assert decoded == [("grpc-status", "9"), ("grpc-message", encoded.decode())]


def test_a_malformed_field_stays_malformed_when_later_requests_index_it() -> None:
    cl = Client()
    cl.frames()
    for sid in (1, 3):  # the second block refers to the dynamic table entry the first one added
        assert send_headers(cl, sid, REQUEST + [("X-Upper", "1")]) == []
        assert cl.frames() == [rst(sid, e.PROTOCOL_ERROR)]
    assert len(cl.send(frame(c.HEADERS, c.END_HEADERS, 5, b"\xbe"))) == 0  # the entry alone, by index
    assert cl.frames() == [rst(5, e.PROTOCOL_ERROR)]
    assert ("X-Upper", "1") in cl.conn.decoder.invalid
