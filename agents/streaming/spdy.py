"""SPDY/3.1 framing as kubectl's port-forward speaks it (moby/spdystream through client-go); pure, sans-IO.

`Connection.receive(bytes)` takes whatever arrived (any chunking) and returns the complete frames; the
`encode_*` methods return the bytes to send. Header blocks are compressed with one zlib stream per direction
for the whole connection, primed with the SPDY/3 dictionary and flushed after each block, as the draft
(draft-mbelshe-httpbis-spdy-00 2.6.10.1) requires; a peer's inflate fails on any other dictionary.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
FLAG_UNIDIRECTIONAL = 0x02
RST_PROTOCOL_ERROR, RST_INVALID_STREAM, RST_REFUSED_STREAM, RST_CANCEL, RST_INTERNAL_ERROR = 1, 2, 3, 5, 6
MAX_FRAME = 1 << 24  # the length field is 24 bits

_WORDS = ("options head post put delete trace accept accept-charset accept-encoding accept-language accept-ranges "
          "age allow authorization cache-control connection content-base content-encoding content-language "
          "content-length content-location content-md5 content-range content-type date etag expect expires from "
          "host if-match if-modified-since if-none-match if-range if-unmodified-since last-modified location "
          "max-forwards pragma proxy-authenticate proxy-authorization range referer retry-after server te trailer "
          "transfer-encoding upgrade user-agent vary via warning www-authenticate method get status 200_OK "
          "version HTTP/1.1 url public set-cookie keep-alive origin")  # "_" stands for the space in "200 OK"
_TAIL = ("100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
         "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
         "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
         "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
         "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
         "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.")


def _dictionary() -> bytes:
    """The SPDY/3 header dictionary: length-prefixed common header words, then status and date text."""
    out = bytearray()
    for w in (x.replace("_", " ") for x in _WORDS.split()):
        out += struct.pack(">I", len(w)) + w.encode()
    return bytes(out) + _TAIL.encode()


DICTIONARY = _dictionary()


class ProtocolError(Exception):
    """The peer broke SPDY framing; the connection cannot continue (answer with GOAWAY and close)."""


@dataclass(frozen=True)
class SynStream:
    stream_id: int
    associated_id: int
    priority: int
    flags: int
    headers: dict[str, list[str]]

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)


@dataclass(frozen=True)
class SynReply:
    stream_id: int
    flags: int
    headers: dict[str, list[str]]


@dataclass(frozen=True)
class Headers:
    stream_id: int
    flags: int
    headers: dict[str, list[str]]


@dataclass(frozen=True)
class Data:
    stream_id: int
    flags: int
    data: bytes

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)


@dataclass(frozen=True)
class RstStream:
    stream_id: int
    status: int


@dataclass(frozen=True)
class Settings:
    entries: list[tuple[int, int, int]]  # (flags, id, value)


@dataclass(frozen=True)
class Ping:
    ping_id: int


@dataclass(frozen=True)
class GoAway:
    last_good_stream_id: int
    status: int


@dataclass(frozen=True)
class WindowUpdate:
    stream_id: int
    delta: int


Frame = SynStream | SynReply | Headers | Data | RstStream | Settings | Ping | GoAway | WindowUpdate


def _pack_headers(headers: dict[str, list[str]]) -> bytes:
    out = bytearray(struct.pack(">I", len(headers)))
    for name, values in headers.items():
        key, value = name.lower().encode(), "\x00".join(values).encode()
        out += struct.pack(">I", len(key)) + key + struct.pack(">I", len(value)) + value
    return bytes(out)


def _unpack_headers(block: bytes) -> dict[str, list[str]]:
    try:
        (count,), pos = struct.unpack_from(">I", block, 0), 4
        headers: dict[str, list[str]] = {}
        for _ in range(count):
            (klen,) = struct.unpack_from(">I", block, pos)
            key = block[pos + 4:pos + 4 + klen].decode()
            pos += 4 + klen
            (vlen,) = struct.unpack_from(">I", block, pos)
            value = block[pos + 4:pos + 4 + vlen].decode()
            pos += 4 + vlen
            headers.setdefault(key, []).extend(value.split("\x00"))
    except (struct.error, UnicodeDecodeError) as e:
        raise ProtocolError(f"malformed header block: {e}") from e
    return headers


@dataclass
class Connection:
    """One end of a SPDY/3.1 session: frame parsing and encoding with its two zlib contexts."""
    buffer: bytearray = field(default_factory=bytearray)

    def __post_init__(self) -> None:
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)
        self._deflate = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, 15, 9, zlib.Z_DEFAULT_STRATEGY,
                                         DICTIONARY)

    # ------------------------------------------------------------------ input
    def receive(self, data: bytes) -> list[Frame]:
        self.buffer += data
        frames: list[Frame] = []
        while len(self.buffer) >= 8:
            length = int.from_bytes(self.buffer[5:8], "big")
            if len(self.buffer) < 8 + length:
                break
            head, payload = bytes(self.buffer[:8]), bytes(self.buffer[8:8 + length])
            del self.buffer[:8 + length]
            frame = self._parse(head, payload)
            if frame is not None:
                frames.append(frame)
        return frames

    def _block(self, data: bytes) -> dict[str, list[str]]:
        try:
            raw = self._inflate.decompress(data)
        except zlib.error as e:
            raise ProtocolError(f"header block does not inflate: {e}") from e
        return _unpack_headers(raw)

    def _parse(self, head: bytes, payload: bytes) -> Frame | None:
        flags = head[4]
        if not head[0] & 0x80:
            return Data(int.from_bytes(head[:4], "big") & 0x7FFFFFFF, flags, payload)
        version = int.from_bytes(head[:2], "big") & 0x7FFF
        kind = int.from_bytes(head[2:4], "big")
        if version != VERSION:
            raise ProtocolError(f"unsupported SPDY version {version}")
        try:
            if kind == SYN_STREAM:
                sid, assoc = struct.unpack_from(">II", payload, 0)
                return SynStream(sid & 0x7FFFFFFF, assoc & 0x7FFFFFFF, payload[8] >> 5, flags,
                                 self._block(payload[10:]))
            if kind == SYN_REPLY:
                (sid,) = struct.unpack_from(">I", payload, 0)
                return SynReply(sid & 0x7FFFFFFF, flags, self._block(payload[4:]))
            if kind == HEADERS:
                (sid,) = struct.unpack_from(">I", payload, 0)
                return Headers(sid & 0x7FFFFFFF, flags, self._block(payload[4:]))
            if kind == RST_STREAM:
                sid, status = struct.unpack_from(">II", payload, 0)
                return RstStream(sid & 0x7FFFFFFF, status)
            if kind == SETTINGS:
                (count,) = struct.unpack_from(">I", payload, 0)
                entries = []
                for i in range(count):
                    word, value = struct.unpack_from(">II", payload, 4 + 8 * i)
                    entries.append((word >> 24, word & 0xFFFFFF, value))
                return Settings(entries)
            if kind == PING:
                return Ping(struct.unpack_from(">I", payload, 0)[0])
            if kind == GOAWAY:
                last, status = struct.unpack_from(">II", payload, 0)
                return GoAway(last & 0x7FFFFFFF, status)
            if kind == WINDOW_UPDATE:
                sid, delta = struct.unpack_from(">II", payload, 0)
                return WindowUpdate(sid & 0x7FFFFFFF, delta & 0x7FFFFFFF)
        except (struct.error, IndexError) as e:
            raise ProtocolError(f"short control frame of type {kind}") from e
        return None  # unknown control frames are ignored, as the draft says

    # ------------------------------------------------------------------ output
    def _compress(self, headers: dict[str, list[str]]) -> bytes:
        return self._deflate.compress(_pack_headers(headers)) + self._deflate.flush(zlib.Z_SYNC_FLUSH)

    @staticmethod
    def _control(kind: int, flags: int, payload: bytes) -> bytes:
        return struct.pack(">HHI", 0x8000 | VERSION, kind, (flags << 24) | len(payload)) + payload

    def encode_syn_stream(self, stream_id: int, headers: dict[str, list[str]], *, fin: bool = False,
                          associated_id: int = 0) -> bytes:
        payload = struct.pack(">IIBB", stream_id, associated_id, 0, 0) + self._compress(headers)
        return self._control(SYN_STREAM, FLAG_FIN if fin else 0, payload)

    def encode_syn_reply(self, stream_id: int, headers: dict[str, list[str]], *, fin: bool = False) -> bytes:
        return self._control(SYN_REPLY, FLAG_FIN if fin else 0, struct.pack(">I", stream_id) + self._compress(headers))

    @staticmethod
    def encode_data(stream_id: int, data: bytes, *, fin: bool = False) -> bytes:
        out = bytearray()
        for start in range(0, max(len(data), 1), MAX_FRAME - 1):
            chunk = data[start:start + MAX_FRAME - 1]
            last = start + MAX_FRAME - 1 >= len(data)
            out += struct.pack(">II", stream_id, ((FLAG_FIN if fin and last else 0) << 24) | len(chunk)) + chunk
        return bytes(out)

    def encode_rst_stream(self, stream_id: int, status: int) -> bytes:
        return self._control(RST_STREAM, 0, struct.pack(">II", stream_id, status))

    def encode_ping(self, ping_id: int) -> bytes:
        return self._control(PING, 0, struct.pack(">I", ping_id))

    def encode_goaway(self, last_good_stream_id: int, status: int = 0) -> bytes:
        return self._control(GOAWAY, 0, struct.pack(">II", last_good_stream_id, status))

    def encode_settings(self, entries: list[tuple[int, int, int]]) -> bytes:
        payload = struct.pack(">I", len(entries)) + b"".join(
            struct.pack(">II", (f << 24) | i, v) for f, i, v in entries)
        return self._control(SETTINGS, 0, payload)

    def encode_window_update(self, stream_id: int, delta: int) -> bytes:
        return self._control(WINDOW_UPDATE, 0, struct.pack(">II", stream_id, delta))
