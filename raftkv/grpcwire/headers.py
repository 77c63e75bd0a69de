"""HPACK (RFC 7541) for a gRPC server: a full decoder for request header blocks, fixed encodings for replies; pure.

Why our own and not `hpack.Decoder`: the library decodes a typical gRPC request block in ~20 µs, which is a tenth
of the whole per-request budget here. Clients repeat the same headers on every call, so after the first request
nearly every field is a one-byte index; a table lookup per byte is what this decoder does in the common case.
Huffman-coded literals (rare after the first request) go through the `hpack` package's decoder.
"""

from __future__ import annotations

import re

from hpack.huffman_table import decode_huffman

from raftkv.grpcwire.errors import CompressionError

# RFC 7541 Appendix A: the static table, index 1..61.
STATIC_TABLE: tuple[tuple[str, str], ...] = (
    (":authority", ""), (":method", "GET"), (":method", "POST"), (":path", "/"), (":path", "/index.html"),
    (":scheme", "http"), (":scheme", "https"), (":status", "200"), (":status", "204"), (":status", "206"),
    (":status", "304"), (":status", "400"), (":status", "404"), (":status", "500"), ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"), ("accept-language", ""), ("accept-ranges", ""), ("accept", ""),
    ("access-control-allow-origin", ""), ("age", ""), ("allow", ""), ("authorization", ""),
    ("cache-control", ""), ("content-disposition", ""), ("content-encoding", ""), ("content-language", ""),
    ("content-length", ""), ("content-location", ""), ("content-range", ""), ("content-type", ""),
    ("cookie", ""), ("date", ""), ("etag", ""), ("expect", ""), ("expires", ""), ("from", ""), ("host", ""),
    ("if-match", ""), ("if-modified-since", ""), ("if-none-match", ""), ("if-range", ""),
    ("if-unmodified-since", ""), ("last-modified", ""), ("link", ""), ("location", ""), ("max-forwards", ""),
    ("proxy-authenticate", ""), ("proxy-authorization", ""), ("range", ""), ("referer", ""), ("refresh", ""),
    ("retry-after", ""), ("server", ""), ("set-cookie", ""), ("strict-transport-security", ""),
    ("transfer-encoding", ""), ("user-agent", ""), ("vary", ""), ("via", ""), ("www-authenticate", ""),
)
_STATIC_LEN = len(STATIC_TABLE)
ENTRY_OVERHEAD = 32  # RFC 7541 4.1: an entry's size is name + value + 32 octets
DEFAULT_TABLE_SIZE = 4096
MAX_STRING_BYTES = 64 * 1024  # no single header name or value may be longer: refuse, do not allocate

# RFC 9113 8.2.1: a field name is lowercase token characters (a pseudo-header is ':' then those); a value holds no
# NUL, CR or LF and no leading or trailing space or tab. Violations make the request malformed (a stream error),
# not the block undecodable. Only literals are checked: static entries are valid, and every dynamic entry was a
# literal once, so the common all-indexed request pays nothing.
_VALID_NAME = re.compile(r":?[!#$%&'*+\-.^_`|~0-9a-z]+").fullmatch
_BAD_VALUE = re.compile(r"[\x00\r\n]|^[ \t]|[ \t]$").search


def _decode_int(data: bytes, pos: int, prefix_bits: int) -> tuple[int, int]:
    """RFC 7541 5.1: an integer with an N-bit prefix starting at data[pos]; returns (value, next position)."""
    mask = (1 << prefix_bits) - 1
    value = data[pos] & mask
    pos += 1
    if value < mask:
        return value, pos
    shift = 0
    while True:
        if pos >= len(data):
            raise CompressionError("truncated integer")
        b = data[pos]
        pos += 1
        value += (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7
        if shift > 28:
            raise CompressionError("integer too large")


def _decode_str(data: bytes, pos: int) -> tuple[str, int]:
    if pos >= len(data):
        raise CompressionError("truncated string")
    huffman = data[pos] & 0x80
    length, pos = _decode_int(data, pos, 7)
    if length > MAX_STRING_BYTES:
        raise CompressionError(f"header string of {length} bytes exceeds {MAX_STRING_BYTES}")
    end = pos + length
    if end > len(data):
        raise CompressionError("truncated string")
    raw = data[pos:end]
    if huffman:
        try:
            raw = decode_huffman(raw)
        except Exception as err:  # the library raises its own error type for bad codes and padding
            raise CompressionError(f"bad huffman string: {err}") from err
    return raw.decode("latin-1"), end


class Decoder:
    """One connection's request-side HPACK state (the dynamic table the client's encoder fills)."""

    def __init__(self, max_table_size: int = DEFAULT_TABLE_SIZE) -> None:
        self.max_allowed = max_table_size  # what our SETTINGS_HEADER_TABLE_SIZE allows
        self.max_size = max_table_size
        self.size = 0
        self.table: list[tuple[str, str]] = []  # newest first
        self.invalid: set[tuple[str, str]] = set()  # malformed fields in the table: flagged when indexed later

    def _add(self, name: str, value: str) -> None:
        need = len(name) + len(value) + ENTRY_OVERHEAD
        while self.table and self.size + need > self.max_size:
            old_name, old_value = old = self.table.pop()
            if self.invalid and old in self.invalid and old not in self.table:
                self.invalid.discard(old)
            self.size -= len(old_name) + len(old_value) + ENTRY_OVERHEAD
        if need <= self.max_size:
            self.table.insert(0, (name, value))
            self.size += need

    def _resize(self, new_size: int) -> None:
        if new_size > self.max_allowed:
            raise CompressionError(f"table size update {new_size} exceeds {self.max_allowed}")
        self.max_size = new_size
        while self.table and self.size > self.max_size:
            name, value = old = self.table.pop()
            if self.invalid and old in self.invalid and old not in self.table:
                self.invalid.discard(old)
            self.size -= len(name) + len(value) + ENTRY_OVERHEAD

    def _entry(self, index: int) -> tuple[str, str]:
        if 0 < index <= _STATIC_LEN:
            return STATIC_TABLE[index - 1]
        dyn = index - _STATIC_LEN - 1
        if index <= 0 or dyn >= len(self.table):
            raise CompressionError(f"header index {index} out of range")
        return self.table[dyn]

    def decode(self, data: bytes, max_list_bytes: int) -> tuple[list[tuple[str, str]], bool, str]:
        """The header list of one complete block, whether it exceeds `max_list_bytes` (RFC 9113 6.5.2's size),
        and why a field is malformed ("" when none is). The block is always decoded to its end so the dynamic
        table stays in step with the client's. Raises CompressionError (a connection error) on bad input."""
        out: list[tuple[str, str]] = []
        pos, n, total = 0, len(data), 0
        bad = ""
        while pos < n:
            b = data[pos]
            if b & 0x80:  # indexed field
                index, pos = _decode_int(data, pos, 7)
                field = self._entry(index)
                if self.invalid and not bad and field in self.invalid:
                    bad = f"invalid header field {field[0][:64]!r}"
            elif b & 0x40 or (b & 0xF0) in (0x00, 0x10):  # literal: with indexing (6-bit) / without / never (4-bit)
                indexing = bool(b & 0x40)
                index, pos = _decode_int(data, pos, 6 if indexing else 4)
                if index:
                    name = self._entry(index)[0]
                else:
                    name, pos = _decode_str(data, pos)
                value, pos = _decode_str(data, pos)
                field = (name, value)
                valid = _VALID_NAME(name) is not None and _BAD_VALUE(value) is None
                if not valid and not bad:
                    bad = f"invalid header field {name[:64]!r}"
                if indexing:
                    self._add(name, value)
                    if not valid and self.table and self.table[0] == field:
                        self.invalid.add(field)
            else:  # 001xxxxx dynamic table size update
                if out:
                    raise CompressionError("table size update after a header field")
                size, pos = _decode_int(data, pos, 5)
                self._resize(size)
                continue
            total += len(field[0]) + len(field[1]) + ENTRY_OVERHEAD
            if total <= max_list_bytes:
                out.append(field)
        return out, total > max_list_bytes, bad


def encode_int(value: int, prefix_bits: int, first: int) -> bytes:
    mask = (1 << prefix_bits) - 1
    if value < mask:
        return bytes((first | value,))
    out = bytearray((first | mask,))
    value -= mask
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def literal(name: str, value: str | bytes) -> bytes:
    """A literal header field without indexing and with a literal name: stateless, so safe for any decoder."""
    raw_name = name.encode("latin-1")
    raw_value = value if isinstance(value, bytes) else value.encode("latin-1")
    return b"\x00" + encode_int(len(raw_name), 7, 0) + raw_name + encode_int(len(raw_value), 7, 0) + raw_value


# The reply blocks every gRPC response uses; static-table references and stateless literals only.
STATUS_200 = b"\x88"  # indexed :status 200
CONTENT_TYPE_GRPC = b"\x0f\x10" + encode_int(16, 7, 0) + b"application/grpc"  # name = static #31 content-type
RESPONSE_HEADERS = STATUS_200 + CONTENT_TYPE_GRPC
TRAILERS_OK = literal("grpc-status", "0")
