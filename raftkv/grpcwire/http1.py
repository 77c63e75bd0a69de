"""The little HTTP/1.1 a member speaks besides gRPC (monitoring probes, Prometheus, `curl .../version`); pure.

One request head in, one whole reply out, then the connection closes: enough for GET probes, no keep-alive,
no bodies.
"""

from __future__ import annotations

from collections.abc import Callable

MAX_HEAD = 8192
Answer = Callable[[str, str], tuple[int, str, bytes]]
"""(method, path) -> (status, content type, body): what a member answers to a plain HTTP GET."""
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


def parse_head(head: bytes) -> tuple[str, str]:
    """(method, path without the query) of a request head; ValueError when it is not one."""
    if len(head) > MAX_HEAD:
        raise ValueError("request head too large")
    parts = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise ValueError("not an HTTP/1.x request line")
    return parts[0], parts[1].split("?", 1)[0]


def format_reply(status: int, content_type: str, body: bytes) -> bytes:
    return (f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body


def reply_to(head: bytes, answer: Answer) -> bytes:
    try:
        method, path = parse_head(head)
    except ValueError:
        return format_reply(400, "text/plain", b"bad request\n")
    return format_reply(*answer(method, path))

