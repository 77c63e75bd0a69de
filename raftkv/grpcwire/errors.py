"""Errors of the HTTP/2 layer, typed by how far they reach: the whole connection or one stream."""

from __future__ import annotations

# RFC 9113 7: error codes
NO_ERROR = 0x0
PROTOCOL_ERROR = 0x1
INTERNAL_ERROR = 0x2
FLOW_CONTROL_ERROR = 0x3
STREAM_CLOSED = 0x5
FRAME_SIZE_ERROR = 0x6
REFUSED_STREAM = 0x7
CANCEL = 0x8
COMPRESSION_ERROR = 0x9
ENHANCE_YOUR_CALM = 0xB


class ConnectionError_(Exception):
    """A connection error (RFC 9113 5.4.1): answered with GOAWAY carrying `code`, then the connection closes."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class CompressionError(ConnectionError_):
    def __init__(self, message: str) -> None:
        super().__init__(COMPRESSION_ERROR, message)
