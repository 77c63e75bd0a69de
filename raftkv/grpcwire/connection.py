"""The server side of one HTTP/2 connection carrying gRPC (RFC 9113 + the gRPC wire protocol); pure, no I/O.

Bytes go in through `receive`, which returns events (a request's headers, each whole gRPC message, a half-close,
a reset); replies are queued with `respond`/`send_*` and collected with `take_output`. Everything the adapter
produced during one pass of the event loop leaves in one write, which is how Go's HTTP/2 server answers many
concurrent calls in few TLS records and few syscalls — the point of this module.

Flow control: what a client sends is consumed at once (buffered until a whole message is there, at most
`max_message` bytes a stream), so receive windows are credited back as data arrives. What we send respects the
client's connection and stream windows and its frame size; data that does not fit waits per stream, in order,
until WINDOW_UPDATE frames open room.
"""

from __future__ import annotations

import struct
from collections import deque
from typing import Any

from raftkv.grpcwire import errors as e
from raftkv.grpcwire.errors import ConnectionError_
from raftkv.grpcwire.headers import CONTENT_TYPE_GRPC, RESPONSE_HEADERS, TRAILERS_OK, Decoder, literal

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20
S_HEADER_TABLE_SIZE, S_ENABLE_PUSH, S_MAX_CONCURRENT_STREAMS, S_INITIAL_WINDOW_SIZE, S_MAX_FRAME_SIZE, \
    S_MAX_HEADER_LIST_SIZE = 1, 2, 3, 4, 5, 6

DEFAULT_WINDOW = 65535
DEFAULT_FRAME = 16384
MAX_WINDOW = 2**31 - 1
MAX_HEADER_BLOCK = 256 * 1024  # a header block (HEADERS + CONTINUATIONs) beyond this is a connection error
MAX_CONTINUATIONS = 64  # CONTINUATION frames in one block; empty ones cost nothing else (the 2024 flood attack)
HOLD_LIMIT = 1 << 20  # a streaming call's unconsumed requests before credit waits
MAX_BUFFERED = 64 << 20  # partial request messages held per connection, all streams together (at least 2 max)

# What we advertise.
STREAM_WINDOW = 1 << 20
CONNECTION_WINDOW = 1 << 24
MAX_CONCURRENT_STREAMS = 4096
MAX_HEADER_LIST = 64 * 1024

# Events returned by `receive` (tuples, the first item says which).
EV_REQUEST = 1  # (EV_REQUEST, stream id, [(name, value)], end_stream)
EV_MESSAGE = 2  # (EV_MESSAGE, stream id, payload bytes)
EV_END = 3  # (EV_END, stream id): the client half-closed
EV_RESET = 4  # (EV_RESET, stream id, code): the client cancelled
EV_BAD_MESSAGE = 5  # (EV_BAD_MESSAGE, stream id, grpc status code, message): refused, stream already answered
EV_WINDOW = 6  # (EV_WINDOW, stream id or 0): room to send opened
EV_GOAWAY = 7  # (EV_GOAWAY, code): the client is going away
EV_PLAIN = 8  # (EV_PLAIN, stream id, [(name, value)]): a GET that is not gRPC (answer with send_plain)
PLAIN_GET = ":plain"  # _check_request's verdict for such a request

_FRAME = struct.Struct(">HBBBL")  # 24-bit length as (high 16, low 8), type, flags, stream id
_U32 = struct.Struct(">L")
_MSG_PREFIX = struct.Struct(">BL")

# gRPC status codes used by the transport itself.
GRPC_INVALID_ARGUMENT, GRPC_UNIMPLEMENTED, GRPC_RESOURCE_EXHAUSTED, GRPC_INTERNAL = 3, 12, 8, 13

# RFC 9113 8.2.2: fields that are HTTP/1 connection management and make an HTTP/2 request malformed.
_CONNECTION_SPECIFIC = frozenset(("connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"))
_PSEUDO = frozenset((":method", ":scheme", ":path", ":authority"))


def frame(ftype: int, flags: int, sid: int, payload: bytes = b"") -> bytes:
    n = len(payload)
    return _FRAME.pack(n >> 8, n & 0xFF, ftype, flags, sid) + payload


def _frame_header(ftype: int, flags: int, sid: int, n: int) -> bytes:
    return _FRAME.pack(n >> 8, n & 0xFF, ftype, flags, sid)


def percent_encode(message: str) -> bytes:
    """gRPC's grpc-message encoding: printable ASCII except '%' as is, everything else %XX of its UTF-8 bytes."""
    raw = message.encode("utf-8")
    if all(0x20 <= b <= 0x7E and b != 0x25 for b in raw):
        return raw
    return b"".join(bytes((b,)) if 0x20 <= b <= 0x7E and b != 0x25 else b"%%%02X" % b for b in raw)


def trailer_block(status: int, message: str, extra: list[tuple[str, bytes]] | None = None) -> bytes:
    if status == 0 and not message and not extra:
        return TRAILERS_OK
    block = literal("grpc-status", str(status))
    if message:
        block += literal("grpc-message", percent_encode(message))
    for name, value in extra or ():
        block += literal(name, value)
    return block


def _check_request(headers: list[tuple[str, str]], plain_gets: bool) -> str:
    """Why a gRPC request's header list cannot be served ("" when it can). A malformed request (RFC 9113 8.3.1:
    pseudo-headers once each, before the others, :method/:scheme/:path present; 8.2.2: no connection-specific
    fields, te only "trailers") gives a plain reason, answered with RST_STREAM(PROTOCOL_ERROR). A well-formed
    request gRPC will not take gives ":HTTP GRPC message" (status codes as grpc-go answers them), except a
    non-gRPC GET when `plain_gets` (a monitoring probe), which gives PLAIN_GET."""
    method = path = scheme = ctype = None
    regular = False
    for name, value in headers:
        if name[:1] == ":":
            if regular or name not in _PSEUDO:
                return f"pseudo-header {name} misplaced or unknown"
            if name == ":method":
                if method is not None:
                    return "two :method"
                method = value
            elif name == ":path":
                if path is not None:
                    return "two :path"
                path = value
            elif name == ":scheme":
                if scheme is not None:
                    return "two :scheme"
                scheme = value
        else:
            regular = True
            if name == "content-type":
                ctype = value
            elif name == "te":
                if value != "trailers":
                    return "te other than trailers"
            elif name in _CONNECTION_SPECIFIC:
                return f"connection-specific field {name}"
    if method is None or not path or scheme is None:
        return "missing :method, :path or :scheme"
    grpc_type = ctype is not None and ctype.startswith("application/grpc") and (len(ctype) == 16 or ctype[16] in "+;")
    if method == "GET" and not grpc_type and plain_gets:
        return PLAIN_GET
    if not grpc_type:
        return f":415 {GRPC_INVALID_ARGUMENT:02d} invalid gRPC request content-type {ctype or ''!r}"
    if method != "POST":
        return f":405 {GRPC_INTERNAL:02d} Received a HEADERS frame with :method {method!r} which should be POST"
    return ""


class _Stream:
    __slots__ = ("sid", "buf", "send_window", "pending", "pending_bytes", "remote_closed", "headers_sent",
                 "recv_window", "recv_unacked", "hold", "queued", "withheld", "discarding", "done")

    def __init__(self, sid: int, send_window: int) -> None:
        self.sid = sid
        self.buf = bytearray()
        self.send_window = send_window
        self.pending: deque[tuple[bytes, bool]] = deque()  # (DATA payload, or a trailer block when True)
        self.pending_bytes = 0  # DATA bytes in `pending`: what a streaming writer's backpressure looks at
        self.remote_closed = False
        self.headers_sent = False
        self.recv_window = STREAM_WINDOW  # what the client may still send before our next WINDOW_UPDATE
        self.recv_unacked = 0  # received and consumed, not yet credited back
        self.hold = False  # a client-streaming call: credit waits while the handler has not taken messages
        self.queued = 0  # bytes of messages handed out (EV_MESSAGE) and not yet `consumed` (hold streams only)
        self.withheld = 0  # received bytes whose credit waits for the handler to catch up
        self.discarding = False  # refused (message too large): later DATA is dropped
        self.done = False  # trailers queued: nothing more may be sent


class ServerConnection:
    def __init__(self, max_message: int, plain_gets: bool = False) -> None:
        self.max_message = max_message
        self.plain_gets = plain_gets  # GETs that are not gRPC become EV_PLAIN (else grpc-go's 415 refusal)
        self.max_buffered = max(MAX_BUFFERED, 2 * (max_message + 5))
        self.streams: dict[int, _Stream] = {}
        self.out: list[bytes] = []
        self.decoder = Decoder()
        self._inbuf = bytearray()
        self._preface_seen = False
        self._last_sid = 0
        self._peer_window = DEFAULT_WINDOW  # the client's initial stream window (SETTINGS_INITIAL_WINDOW_SIZE)
        self._peer_frame = DEFAULT_FRAME
        self.send_window = DEFAULT_WINDOW  # connection-level room to send
        self._conn_unacked = 0
        self._hdr_sid = 0  # a header block in progress (CONTINUATION expected) for this stream
        self._hdr_flags = 0
        self._hdr_parts: list[bytes] = []
        self._hdr_len = 0  # bytes in _hdr_parts
        self.buffered = 0  # bytes of partial request messages in every stream's buffer
        self._settings_seen = False  # RFC 9113 3.4: the preface is followed by a SETTINGS frame
        self._goaway_sid = -1  # once we sent GOAWAY: the last stream we still serve; newer ones are refused
        self._blocked: dict[int, None] = {}  # streams with data waiting for window, in order
        self.closed = False
        settings = b"".join(struct.pack(">HL", k, v) for k, v in (
            (S_MAX_CONCURRENT_STREAMS, MAX_CONCURRENT_STREAMS), (S_INITIAL_WINDOW_SIZE, STREAM_WINDOW),
            (S_MAX_HEADER_LIST_SIZE, MAX_HEADER_LIST), (S_ENABLE_PUSH, 0)))
        self.out.append(frame(SETTINGS, 0, 0, settings))
        self.out.append(frame(WINDOW_UPDATE, 0, 0, _U32.pack(CONNECTION_WINDOW - DEFAULT_WINDOW)))
        self._conn_recv_window = CONNECTION_WINDOW

    # ---- input -------------------------------------------------------------------------------------------
    def receive(self, data: bytes) -> list[tuple[Any, ...]]:
        """Events for the frames complete in the buffer; raises ConnectionError_ (send `goaway`, then close)."""
        buf = self._inbuf
        buf += data
        events: list[tuple[Any, ...]] = []
        pos = 0
        if not self._preface_seen:
            if len(buf) < len(PREFACE):
                if not PREFACE.startswith(bytes(buf)):
                    raise ConnectionError_(e.PROTOCOL_ERROR, "not an HTTP/2 connection preface")
                return events
            if buf[:len(PREFACE)] != PREFACE:
                raise ConnectionError_(e.PROTOCOL_ERROR, "not an HTTP/2 connection preface")
            self._preface_seen = True
            pos = len(PREFACE)
        n = len(buf)
        while n - pos >= 9:
            hi, lo, ftype, flags, sid = _FRAME.unpack_from(buf, pos)
            length = (hi << 8) | lo
            if length > DEFAULT_FRAME:
                raise ConnectionError_(e.FRAME_SIZE_ERROR, f"frame of {length} bytes exceeds {DEFAULT_FRAME}")
            end = pos + 9 + length
            if end > n:
                break
            payload = bytes(buf[pos + 9:end])
            pos = end
            sid &= 0x7FFFFFFF
            if self._hdr_sid and ftype != CONTINUATION:
                raise ConnectionError_(e.PROTOCOL_ERROR, "expected CONTINUATION")
            if not self._settings_seen:
                if ftype != SETTINGS or flags & ACK:
                    raise ConnectionError_(e.PROTOCOL_ERROR, "the preface must be followed by SETTINGS")
                self._settings_seen = True
            if ftype == DATA:
                self._on_data(sid, flags, payload, events)
            elif ftype == HEADERS:
                self._on_headers(sid, flags, payload, events)
            elif ftype == CONTINUATION:
                self._on_continuation(sid, flags, payload, events)
            elif ftype == SETTINGS:
                self._on_settings(sid, flags, payload, events)
            elif ftype == WINDOW_UPDATE:
                self._on_window_update(sid, payload, events)
            elif ftype == PING:
                if sid or length != 8:
                    raise ConnectionError_(e.PROTOCOL_ERROR if sid else e.FRAME_SIZE_ERROR, "bad PING")
                if not flags & ACK:
                    self.out.append(frame(PING, ACK, 0, payload))
            elif ftype == RST_STREAM:
                if not sid:
                    raise ConnectionError_(e.PROTOCOL_ERROR, "RST_STREAM on stream 0")
                if length != 4:
                    raise ConnectionError_(e.FRAME_SIZE_ERROR, "RST_STREAM not 4 bytes")
                if sid > self._last_sid:
                    raise ConnectionError_(e.PROTOCOL_ERROR, f"RST_STREAM on idle stream {sid}")
                if self._forget(sid):
                    events.append((EV_RESET, sid, _U32.unpack(payload)[0]))
            elif ftype == GOAWAY:
                if sid:
                    raise ConnectionError_(e.PROTOCOL_ERROR, "GOAWAY on a stream")
                if length < 8:
                    raise ConnectionError_(e.FRAME_SIZE_ERROR, "GOAWAY shorter than 8 bytes")
                events.append((EV_GOAWAY, _U32.unpack_from(payload, 4)[0]))
            elif ftype == PUSH_PROMISE:
                raise ConnectionError_(e.PROTOCOL_ERROR, "a client may not push")
            elif ftype == PRIORITY:  # no effect on a gRPC server beyond its own validity (RFC 9113 6.3)
                if not sid:
                    raise ConnectionError_(e.PROTOCOL_ERROR, "PRIORITY on stream 0")
                if length != 5:
                    self._stream_error(sid, e.FRAME_SIZE_ERROR, events)
            # Unknown frame types are ignored, as RFC 9113 5.5 asks.
        del buf[:pos]
        return events

    def _on_data(self, sid: int, flags: int, payload: bytes, events: list[tuple[Any, ...]]) -> None:
        if not sid:
            raise ConnectionError_(e.PROTOCOL_ERROR, "DATA on stream 0")
        size = len(payload)
        self._conn_recv_window -= size
        if self._conn_recv_window < 0:
            raise ConnectionError_(e.FLOW_CONTROL_ERROR, "connection receive window exceeded")
        self._conn_unacked += size
        if self._conn_unacked >= CONNECTION_WINDOW // 2:
            self.out.append(frame(WINDOW_UPDATE, 0, 0, _U32.pack(self._conn_unacked)))
            self._conn_recv_window += self._conn_unacked
            self._conn_unacked = 0
        st = self.streams.get(sid)
        if st is None:
            if sid > self._last_sid:
                raise ConnectionError_(e.PROTOCOL_ERROR, f"DATA on idle stream {sid}")
            return  # a stream we already finished or reset: its data only counts for the connection
        if st.remote_closed:  # RFC 9113 5.1, half-closed (remote): a stream error
            self._stream_error(sid, e.STREAM_CLOSED, events)
            return
        if flags & PADDED:
            payload = self._unpad(payload)
        end = bool(flags & END_STREAM)
        st.recv_window -= size
        if st.recv_window < 0:  # sent past the window we granted (RFC 9113 6.9.1)
            self._stream_error(sid, e.FLOW_CONTROL_ERROR, events)
            return
        if not st.discarding:
            buf = st.buf
            self.buffered -= len(buf)  # counted again below, after whole messages left the buffer
            buf += payload
            while len(buf) >= 5:
                compressed, length = _MSG_PREFIX.unpack_from(buf, 0)
                if length > self.max_message:
                    self._refuse_message(st, GRPC_RESOURCE_EXHAUSTED,
                                         f"Received message larger than max ({length} vs. {self.max_message})",
                                         events)
                    break
                if len(buf) < 5 + length:
                    break
                if compressed:
                    self._refuse_message(st, GRPC_UNIMPLEMENTED,
                                         "Compressed messages are not supported (grpc-encoding identity only)",
                                         events)
                    break
                events.append((EV_MESSAGE, sid, bytes(buf[5:5 + length])))
                del buf[:5 + length]
                if st.hold:
                    st.queued += 5 + length
            self.buffered += len(buf)
            if self.buffered > self.max_buffered:  # many streams each holding part of a large message
                self.buffered -= len(buf)
                self._refuse_message(st, GRPC_RESOURCE_EXHAUSTED,
                                     "too much partial request data held on this connection", events)
        if not end:
            if st.hold and st.queued > HOLD_LIMIT:  # the handler is behind: the client waits (bounded queue)
                st.withheld += size
            else:
                self._credit(st, size)
        if end:
            st.remote_closed = True
            if st.buf and not st.discarding:
                st.discarding = True
                events.append((EV_BAD_MESSAGE, sid, GRPC_INTERNAL, "the stream ended inside a message"))
            else:
                events.append((EV_END, sid))

    def _credit(self, st: _Stream, n: int) -> None:
        """Give `n` consumed bytes back to the stream's window, in WINDOW_UPDATEs of at least half a window."""
        st.recv_unacked += n
        if st.recv_unacked >= STREAM_WINDOW // 2:
            self.out.append(frame(WINDOW_UPDATE, 0, st.sid, _U32.pack(st.recv_unacked)))
            st.recv_window += st.recv_unacked
            st.recv_unacked = 0

    def hold_credit(self, sid: int) -> None:
        """For a client-streaming call: from now on the stream's window reopens only as the handler takes its
        messages (`consumed`), so a client cannot queue requests faster than they are served."""
        st = self.streams.get(sid)
        if st is not None:
            st.hold = True

    def consumed(self, sid: int, n: int) -> None:
        """The handler took a message of `n` bytes (with its 5-byte prefix) of a `hold_credit` stream."""
        st = self.streams.get(sid)
        if st is None:
            return
        st.queued -= n
        if st.withheld and st.queued <= HOLD_LIMIT:
            withheld, st.withheld = st.withheld, 0
            self._credit(st, withheld)

    def _refuse_message(self, st: _Stream, status: int, message: str, events: list[tuple[Any, ...]]) -> None:
        """The stream's request is refused with `status`; what it sends from now on is counted and dropped.
        The caller has taken the buffer out of `self.buffered`."""
        st.discarding = True
        st.buf.clear()
        events.append((EV_BAD_MESSAGE, st.sid, status, message))

    def _stream_error(self, sid: int, code: int, events: list[tuple[Any, ...]]) -> None:
        """RFC 9113 5.4.2: RST_STREAM with `code`; the call (if any) is told it was reset."""
        if self._forget(sid):
            events.append((EV_RESET, sid, code))
        self.out.append(frame(RST_STREAM, 0, sid, _U32.pack(code)))

    def _forget(self, sid: int) -> bool:
        """Drop a stream's state (whatever it still buffered or had queued); whether it existed."""
        st = self.streams.pop(sid, None)
        if st is None:
            return False
        self._blocked.pop(sid, None)
        self.buffered -= len(st.buf)
        return True

    @staticmethod
    def _unpad(payload: bytes) -> bytes:
        if not payload:
            raise ConnectionError_(e.PROTOCOL_ERROR, "PADDED frame without a pad length")
        pad = payload[0]
        if pad >= len(payload):
            raise ConnectionError_(e.PROTOCOL_ERROR, "padding longer than the frame")
        return payload[1:len(payload) - pad]

    def _on_headers(self, sid: int, flags: int, payload: bytes, events: list[tuple[Any, ...]]) -> None:
        if not sid:
            raise ConnectionError_(e.PROTOCOL_ERROR, "HEADERS on stream 0")
        if flags & PADDED:
            payload = self._unpad(payload)
        if flags & PRIORITY_FLAG:
            if len(payload) < 5:
                raise ConnectionError_(e.PROTOCOL_ERROR, "HEADERS too short for its priority")
            payload = payload[5:]
        if flags & END_HEADERS:
            self._headers_complete(sid, flags, payload, events)
        else:
            self._hdr_sid, self._hdr_flags, self._hdr_parts, self._hdr_len = sid, flags, [payload], len(payload)

    def _on_continuation(self, sid: int, flags: int, payload: bytes, events: list[tuple[Any, ...]]) -> None:
        if not self._hdr_sid or sid != self._hdr_sid:
            raise ConnectionError_(e.PROTOCOL_ERROR, "unexpected CONTINUATION")
        self._hdr_parts.append(payload)
        self._hdr_len += len(payload)
        if self._hdr_len > MAX_HEADER_BLOCK or len(self._hdr_parts) > MAX_CONTINUATIONS:
            raise ConnectionError_(e.ENHANCE_YOUR_CALM, "header block too large")
        if flags & END_HEADERS:
            block, start_flags = b"".join(self._hdr_parts), self._hdr_flags
            self._hdr_sid, self._hdr_parts, self._hdr_len = 0, [], 0
            self._headers_complete(sid, start_flags, block, events)

    def _headers_complete(self, sid: int, flags: int, block: bytes, events: list[tuple[Any, ...]]) -> None:
        headers, too_large, bad = self.decoder.decode(block, MAX_HEADER_LIST)  # always decoded: HPACK in step
        end = bool(flags & END_STREAM)
        st = self.streams.get(sid)
        if st is not None:  # trailers from the client: gRPC clients send none, but they close the stream
            if st.remote_closed:
                self._stream_error(sid, e.STREAM_CLOSED, events)
            elif not end or bad or any(name[:1] == ":" for name, _ in headers):  # RFC 9113 8.1
                self._stream_error(sid, e.PROTOCOL_ERROR, events)
            else:
                self._on_data(sid, END_STREAM, b"", events)
            return
        if sid <= self._last_sid or not sid & 1:
            if sid % 2 == 0:
                raise ConnectionError_(e.PROTOCOL_ERROR, f"client stream id {sid} is even")
            return  # HEADERS for a stream we already closed: dropped (RFC 9113 5.1, closed state)
        self._last_sid = sid
        if too_large or len(self.streams) >= MAX_CONCURRENT_STREAMS or 0 <= self._goaway_sid < sid:
            self.out.append(frame(RST_STREAM, 0, sid, _U32.pack(e.REFUSED_STREAM)))
            return
        st = self.streams[sid] = _Stream(sid, self._peer_window)
        st.remote_closed = end
        refusal = bad or _check_request(headers, self.plain_gets)
        if refusal == PLAIN_GET:  # not gRPC: a monitoring probe (/health, /metrics, /version) over HTTP/2
            events.append((EV_PLAIN, sid, headers))
            return
        if refusal:
            if refusal[0] == ":":  # ":415 why": answered like grpc-go does, with an HTTP status and a gRPC one
                self.refuse(sid, refusal[1:4], int(refusal[5:7]), refusal[8:])
            else:  # malformed (RFC 9113 8.1.1): a stream error
                self._forget(sid)
                self.out.append(frame(RST_STREAM, 0, sid, _U32.pack(e.PROTOCOL_ERROR)))
            return
        events.append((EV_REQUEST, sid, headers, end))

    def _on_settings(self, sid: int, flags: int, payload: bytes, events: list[tuple[Any, ...]]) -> None:
        if sid:
            raise ConnectionError_(e.PROTOCOL_ERROR, "SETTINGS on a stream")
        if flags & ACK:
            if payload:
                raise ConnectionError_(e.FRAME_SIZE_ERROR, "SETTINGS ACK with a payload")
            return
        if len(payload) % 6:
            raise ConnectionError_(e.FRAME_SIZE_ERROR, "SETTINGS length not a multiple of 6")
        for i in range(0, len(payload), 6):
            key, value = struct.unpack_from(">HL", payload, i)
            if key == S_INITIAL_WINDOW_SIZE:
                if value > MAX_WINDOW:
                    raise ConnectionError_(e.FLOW_CONTROL_ERROR, "initial window too large")
                delta = value - self._peer_window
                self._peer_window = value
                for st in self.streams.values():
                    st.send_window += delta
                    if st.send_window > MAX_WINDOW:  # RFC 9113 6.9.2
                        raise ConnectionError_(e.FLOW_CONTROL_ERROR, "a stream window overflowed")
                if delta > 0:
                    events.append((EV_WINDOW, 0))
            elif key == S_MAX_FRAME_SIZE:
                if not DEFAULT_FRAME <= value <= 2**24 - 1:
                    raise ConnectionError_(e.PROTOCOL_ERROR, "bad SETTINGS_MAX_FRAME_SIZE")
                self._peer_frame = value
            elif key == S_ENABLE_PUSH and value > 1:
                raise ConnectionError_(e.PROTOCOL_ERROR, "bad SETTINGS_ENABLE_PUSH")
        self.out.append(frame(SETTINGS, ACK, 0))
        self._flush_blocked()

    def _on_window_update(self, sid: int, payload: bytes, events: list[tuple[Any, ...]]) -> None:
        if len(payload) != 4:
            raise ConnectionError_(e.FRAME_SIZE_ERROR, "bad WINDOW_UPDATE")
        inc = _U32.unpack(payload)[0] & 0x7FFFFFFF
        if not sid:
            if not inc:
                raise ConnectionError_(e.PROTOCOL_ERROR, "WINDOW_UPDATE of 0")
            self.send_window += inc
            if self.send_window > MAX_WINDOW:
                raise ConnectionError_(e.FLOW_CONTROL_ERROR, "connection window overflow")
        else:
            st = self.streams.get(sid)
            if st is None:
                if sid > self._last_sid:
                    raise ConnectionError_(e.PROTOCOL_ERROR, f"WINDOW_UPDATE on idle stream {sid}")
                return
            if not inc:
                self._stream_error(sid, e.PROTOCOL_ERROR, events)
                return
            st.send_window += inc
            if st.send_window > MAX_WINDOW:
                self._stream_error(sid, e.FLOW_CONTROL_ERROR, events)
                return
        self._flush_blocked()
        events.append((EV_WINDOW, sid))

    # ---- output ------------------------------------------------------------------------------------------
    def respond(self, sid: int, payload: bytes) -> None:
        """A whole unary reply: headers, the message and an OK status; one append in the common case."""
        st = self.streams.get(sid)
        if st is None or st.done:
            return
        n = len(payload) + 5
        if not st.headers_sent and not st.pending and n <= st.send_window and n <= self.send_window \
                and n <= self._peer_frame:
            st.send_window -= n
            self.send_window -= n
            self.out.append(_frame_header(HEADERS, END_HEADERS, sid, len(RESPONSE_HEADERS)) + RESPONSE_HEADERS
                            + _frame_header(DATA, 0, sid, n) + _MSG_PREFIX.pack(0, len(payload)) + payload
                            + _frame_header(HEADERS, END_HEADERS | END_STREAM, sid, len(TRAILERS_OK))
                            + TRAILERS_OK)
            st.headers_sent = st.done = True
            self._finish(st)
            return
        self.send_message(sid, payload)
        self.send_trailers(sid, 0, "")

    def send_headers(self, sid: int) -> None:
        st = self.streams.get(sid)
        if st is not None and not st.headers_sent:
            st.headers_sent = True
            self.out.append(frame(HEADERS, END_HEADERS, sid, RESPONSE_HEADERS))

    def send_message(self, sid: int, payload: bytes) -> None:
        st = self.streams.get(sid)
        if st is None or st.done:
            return
        self.send_headers(sid)
        st.pending.append((_MSG_PREFIX.pack(0, len(payload)) + payload, False))
        st.pending_bytes += len(payload) + 5
        self._flush_stream(st)

    def send_plain(self, sid: int, status: int, content_type: str, body: bytes) -> None:
        """A whole non-gRPC reply (an HTTP/2 GET of /health and the like): headers, the body, end of stream."""
        st = self.streams.get(sid)
        if st is None or st.done:
            return
        st.headers_sent = True
        self.out.append(frame(HEADERS, END_HEADERS, sid, literal(":status", str(status))
                              + literal("content-type", content_type)
                              + literal("content-length", str(len(body)))))
        if body:
            st.pending.append((body, False))
            st.pending_bytes += len(body)
        st.done = True
        st.pending.append((b"", True))  # END_STREAM on an empty trailer block once the body has gone
        self._flush_stream(st)

    def refuse(self, sid: int, http_status: str, grpc_status: int, message: str) -> None:
        """A trailers-only reply with an HTTP status other than 200, as grpc-go answers requests it will not
        serve (405 for a method other than POST, 415 for a content-type other than application/grpc*, 400 for a
        malformed grpc-timeout)."""
        st = self.streams.get(sid)
        if st is None or st.done:
            return
        st.headers_sent = st.done = True
        st.pending.append((literal(":status", http_status) + CONTENT_TYPE_GRPC
                           + trailer_block(grpc_status, message), True))
        self._flush_stream(st)

    def send_trailers(self, sid: int, status: int, message: str,
                      extra: list[tuple[str, bytes]] | None = None) -> None:
        """The call's status; a trailers-only reply when nothing was sent yet."""
        st = self.streams.get(sid)
        if st is None or st.done:
            return
        st.done = True
        block = trailer_block(status, message, extra)
        if not st.headers_sent:
            st.headers_sent = True
            block = RESPONSE_HEADERS + block
        st.pending.append((block, True))
        self._flush_stream(st)

    def pending_bytes(self, sid: int) -> int:
        st = self.streams.get(sid)
        return st.pending_bytes if st is not None else 0

    def waiting_for_window(self) -> bool:
        """Whether some stream has data that waits for the client to open its window."""
        return bool(self._blocked)

    def reset(self, sid: int, code: int = e.CANCEL) -> None:
        if self._forget(sid):
            self.out.append(frame(RST_STREAM, 0, sid, _U32.pack(code)))

    def goaway(self, code: int = e.NO_ERROR, message: str = "") -> None:
        """GOAWAY naming the last stream we serve; streams the client opens after it are refused (REFUSED_STREAM:
        a client retries those elsewhere, RFC 9113 6.8)."""
        if self._goaway_sid < 0:
            self._goaway_sid = self._last_sid
        self.out.append(frame(GOAWAY, 0, 0, _U32.pack(self._goaway_sid) + _U32.pack(code)
                              + message.encode()[:256]))

    def take_output(self) -> bytes:
        if not self.out:
            return b""
        data = b"".join(self.out)
        self.out.clear()
        return data

    def _flush_stream(self, st: _Stream) -> None:
        out = self.out
        while st.pending:
            chunk, is_trailers = st.pending[0]
            if is_trailers:
                st.pending.popleft()
                out.append(_frame_header(HEADERS, END_HEADERS | END_STREAM, st.sid, len(chunk)) + chunk)
                self._blocked.pop(st.sid, None)
                self._finish(st)
                return
            room = min(st.send_window, self.send_window, self._peer_frame)
            if room <= 0:
                self._blocked[st.sid] = None
                return
            if len(chunk) <= room:
                st.pending.popleft()
                part = chunk
            else:
                part, st.pending[0] = chunk[:room], (chunk[room:], False)
            st.pending_bytes -= len(part)
            st.send_window -= len(part)
            self.send_window -= len(part)
            out.append(_frame_header(DATA, 0, st.sid, len(part)) + part)
        self._blocked.pop(st.sid, None)

    def _flush_blocked(self) -> None:
        for sid in list(self._blocked):
            st = self.streams.get(sid)
            if st is None:
                self._blocked.pop(sid, None)
                continue
            if self.send_window <= 0:
                return
            self._flush_stream(st)

    def _finish(self, st: _Stream) -> None:
        """Our side is closed: forget the stream, telling a client that still sends to stop (RFC 9113 8.1)."""
        self._forget(st.sid)
        if not st.remote_closed:
            self.out.append(frame(RST_STREAM, 0, st.sid, _U32.pack(e.NO_ERROR)))
