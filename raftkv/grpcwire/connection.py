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
from raftkv.grpcwire.headers import RESPONSE_HEADERS, TRAILERS_OK, Decoder, literal

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20
S_HEADER_TABLE_SIZE, S_ENABLE_PUSH, S_MAX_CONCURRENT_STREAMS, S_INITIAL_WINDOW_SIZE, S_MAX_FRAME_SIZE, \
    S_MAX_HEADER_LIST_SIZE = 1, 2, 3, 4, 5, 6

DEFAULT_WINDOW = 65535
DEFAULT_FRAME = 16384
MAX_WINDOW = 2**31 - 1
MAX_HEADER_BLOCK = 256 * 1024  # a header block (HEADERS + CONTINUATIONs) beyond this is a connection error

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

_FRAME = struct.Struct(">HBBBL")  # 24-bit length as (high 16, low 8), type, flags, stream id
_U32 = struct.Struct(">L")
_MSG_PREFIX = struct.Struct(">BL")

# gRPC status codes used by the transport itself.
GRPC_UNIMPLEMENTED, GRPC_RESOURCE_EXHAUSTED, GRPC_INTERNAL = 12, 8, 13


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


class _Stream:
    __slots__ = ("sid", "buf", "send_window", "pending", "remote_closed", "headers_sent", "recv_unacked",
                 "discarding", "done")

    def __init__(self, sid: int, send_window: int) -> None:
        self.sid = sid
        self.buf = bytearray()
        self.send_window = send_window
        self.pending: deque[tuple[bytes, bool]] = deque()  # (DATA payload, or a trailer block when True)
        self.remote_closed = False
        self.headers_sent = False
        self.recv_unacked = 0
        self.discarding = False  # refused (message too large): later DATA is dropped
        self.done = False  # trailers queued: nothing more may be sent


class ServerConnection:
    def __init__(self, max_message: int) -> None:
        self.max_message = max_message
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
                if not sid or length != 4:
                    raise ConnectionError_(e.PROTOCOL_ERROR, "bad RST_STREAM")
                if self.streams.pop(sid, None) is not None:
                    self._blocked.pop(sid, None)
                    events.append((EV_RESET, sid, _U32.unpack(payload)[0]))
            elif ftype == GOAWAY:
                code = _U32.unpack_from(payload, 4)[0] if length >= 8 else e.PROTOCOL_ERROR
                events.append((EV_GOAWAY, code))
            elif ftype == PUSH_PROMISE:
                raise ConnectionError_(e.PROTOCOL_ERROR, "a client may not push")
            # PRIORITY and unknown frame types are ignored, as RFC 9113 asks.
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
        if st is None or st.remote_closed:
            if sid > self._last_sid:
                raise ConnectionError_(e.PROTOCOL_ERROR, f"DATA on idle stream {sid}")
            return  # a stream we already finished or reset: its data only counts for the connection
        if flags & PADDED:
            payload = self._unpad(payload)
        end = bool(flags & END_STREAM)
        if not end:
            st.recv_unacked += size
            if st.recv_unacked >= STREAM_WINDOW // 2:
                self.out.append(frame(WINDOW_UPDATE, 0, sid, _U32.pack(st.recv_unacked)))
                st.recv_unacked = 0
        if not st.discarding:
            buf = st.buf
            buf += payload
            while len(buf) >= 5:
                compressed, length = _MSG_PREFIX.unpack_from(buf, 0)
                if length > self.max_message:
                    st.discarding = True
                    buf.clear()
                    events.append((EV_BAD_MESSAGE, sid, GRPC_RESOURCE_EXHAUSTED,
                                   f"Received message larger than max ({length} vs. {self.max_message})"))
                    break
                if len(buf) < 5 + length:
                    break
                if compressed:
                    st.discarding = True
                    buf.clear()
                    events.append((EV_BAD_MESSAGE, sid, GRPC_UNIMPLEMENTED,
                                   "Compressed messages are not supported (grpc-encoding identity only)"))
                    break
                events.append((EV_MESSAGE, sid, bytes(buf[5:5 + length])))
                del buf[:5 + length]
        if end:
            st.remote_closed = True
            if st.buf and not st.discarding:
                st.discarding = True
                events.append((EV_BAD_MESSAGE, sid, GRPC_INTERNAL, "the stream ended inside a message"))
            else:
                events.append((EV_END, sid))

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
            self._hdr_sid, self._hdr_flags, self._hdr_parts = sid, flags, [payload]

    def _on_continuation(self, sid: int, flags: int, payload: bytes, events: list[tuple[Any, ...]]) -> None:
        if not self._hdr_sid or sid != self._hdr_sid:
            raise ConnectionError_(e.PROTOCOL_ERROR, "unexpected CONTINUATION")
        self._hdr_parts.append(payload)
        if sum(len(p) for p in self._hdr_parts) > MAX_HEADER_BLOCK:
            raise ConnectionError_(e.ENHANCE_YOUR_CALM, "header block too large")
        if flags & END_HEADERS:
            block, start_flags = b"".join(self._hdr_parts), self._hdr_flags
            self._hdr_sid, self._hdr_parts = 0, []
            self._headers_complete(sid, start_flags, block, events)

    def _headers_complete(self, sid: int, flags: int, block: bytes, events: list[tuple[Any, ...]]) -> None:
        headers, too_large = self.decoder.decode(block, MAX_HEADER_LIST)  # always decoded: keeps HPACK in step
        end = bool(flags & END_STREAM)
        st = self.streams.get(sid)
        if st is not None:  # trailers from the client: gRPC clients send none, but they close the stream
            if not end:
                raise ConnectionError_(e.PROTOCOL_ERROR, "a second HEADERS without END_STREAM")
            self._on_data(sid, END_STREAM, b"", events)
            return
        if sid <= self._last_sid or not sid & 1:
            if sid % 2 == 0:
                raise ConnectionError_(e.PROTOCOL_ERROR, f"client stream id {sid} is even")
            return  # HEADERS for a stream we already closed: dropped (RFC 9113 5.1, closed state)
        self._last_sid = sid
        if too_large or len(self.streams) >= MAX_CONCURRENT_STREAMS:
            self.out.append(frame(RST_STREAM, 0, sid, _U32.pack(e.REFUSED_STREAM)))
            return
        st = self.streams[sid] = _Stream(sid, self._peer_window)
        st.remote_closed = end
        events.append((EV_REQUEST, sid, headers, end))

    def _on_settings(self, sid: int, flags: int, payload: bytes, events: list[tuple[Any, ...]]) -> None:
        if sid:
            raise ConnectionError_(e.PROTOCOL_ERROR, "SETTINGS on a stream")
        if flags & ACK:
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
                return
            if not inc:
                self.reset(sid, e.PROTOCOL_ERROR)
                events.append((EV_RESET, sid, e.PROTOCOL_ERROR))
                return
            st.send_window += inc
            if st.send_window > MAX_WINDOW:
                self.reset(sid, e.FLOW_CONTROL_ERROR)
                events.append((EV_RESET, sid, e.FLOW_CONTROL_ERROR))
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
        return sum(len(p) for p, _ in st.pending) if st is not None else 0

    def reset(self, sid: int, code: int = e.CANCEL) -> None:
        if self.streams.pop(sid, None) is not None:
            self._blocked.pop(sid, None)
            self.out.append(frame(RST_STREAM, 0, sid, _U32.pack(code)))

    def goaway(self, code: int = e.NO_ERROR, message: str = "") -> None:
        self.out.append(frame(GOAWAY, 0, 0, _U32.pack(self._last_sid) + _U32.pack(code) + message.encode()[:256]))

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
        del self.streams[st.sid]
        if not st.remote_closed:
            self.out.append(frame(RST_STREAM, 0, st.sid, _U32.pack(e.NO_ERROR)))
