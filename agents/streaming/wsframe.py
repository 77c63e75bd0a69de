"""RFC 6455 frames for the client half of a relay (the API server dialling a kubelet); pure.

aiohttp's client hides a refused handshake's body, and a refused exec's body is the message users must see
(`container "c" not found`), so the relay makes its own handshake and frames messages itself: client frames
are masked, server frames are not; messages may be fragmented; control frames interleave.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from dataclasses import dataclass, field

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_MESSAGE = 64 << 20


class FrameError(Exception):
    pass


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def encode(opcode: int, payload: bytes, mask: bytes | None) -> bytes:
    """One final frame; `mask` is 4 bytes for a client, None for a server."""
    head = bytearray([0x80 | opcode])
    n = len(payload)
    bit = 0x80 if mask else 0
    if n < 126:
        head.append(bit | n)
    elif n < 1 << 16:
        head += bytes([bit | 126]) + struct.pack(">H", n)
    else:
        head += bytes([bit | 127]) + struct.pack(">Q", n)
    if not mask:
        return bytes(head) + payload
    return bytes(head) + mask + _xor(payload, mask)


def _xor(data: bytes, mask: bytes) -> bytes:
    if not data:
        return b""
    reps = (len(data) + 3) // 4
    key = int.from_bytes((mask * reps)[:len(data)], "big")
    return (int.from_bytes(data, "big") ^ key).to_bytes(len(data), "big")


@dataclass(frozen=True)
class Message:
    opcode: int  # TEXT, BINARY, CLOSE, PING or PONG
    data: bytes


@dataclass
class Decoder:
    """Feed bytes, get whole messages (fragments joined; control frames as they come)."""
    buffer: bytearray = field(default_factory=bytearray)
    fragments: bytearray = field(default_factory=bytearray)
    fragment_opcode: int = 0

    def feed(self, data: bytes) -> list[Message]:
        self.buffer += data
        out: list[Message] = []
        while True:
            frame = self._frame()
            if frame is None:
                return out
            fin, opcode, payload = frame
            if opcode >= CLOSE:
                out.append(Message(opcode, payload))
            elif opcode == CONT:
                self.fragments += payload
                if fin:
                    out.append(Message(self.fragment_opcode, bytes(self.fragments)))
                    self.fragments.clear()
            elif fin:
                out.append(Message(opcode, payload))
            else:
                self.fragment_opcode, self.fragments = opcode, bytearray(payload)
            if len(self.fragments) > MAX_MESSAGE:
                raise FrameError("message too large")

    def _frame(self) -> tuple[bool, int, bytes] | None:
        b = self.buffer
        if len(b) < 2:
            return None
        fin, opcode, masked, n = bool(b[0] & 0x80), b[0] & 0x0F, bool(b[1] & 0x80), b[1] & 0x7F
        pos = 2
        if n == 126:
            if len(b) < 4:
                return None
            n, pos = struct.unpack_from(">H", b, 2)[0], 4
        elif n == 127:
            if len(b) < 10:
                return None
            n, pos = struct.unpack_from(">Q", b, 2)[0], 10
        if n > MAX_MESSAGE:
            raise FrameError("frame too large")
        mask = b""
        if masked:
            if len(b) < pos + 4:
                return None
            mask, pos = bytes(b[pos:pos + 4]), pos + 4
        if len(b) < pos + n:
            return None
        payload = bytes(b[pos:pos + n])
        del b[:pos + n]
        return fin, opcode, _xor(payload, mask) if mask else payload
