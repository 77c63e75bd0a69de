"""The channel.k8s.io WebSocket framing of exec, attach and port-forward; pure.

Every binary message starts with one byte naming its channel. For remotecommand (exec/attach): 0 stdin,
1 stdout, 2 stderr, 3 error (a metav1.Status as JSON once the command ended), 4 resize (`{"Width":..,
"Height":..}`), and in v5 255 "close" (the next byte names the stream the client will send no more on).
For port-forward (v4 only), channel 2i carries port i's data and 2i+1 its errors; the first message on each
channel is the port number as two little-endian bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
V3 = "v3.channel.k8s.io"
V2 = "v2.channel.k8s.io"
V1 = "channel.k8s.io"
REMOTECOMMAND_PROTOCOLS = (V5, V4, V3, V2, V1)
PORTFORWARD_PROTOCOLS = ("portforward.k8s.io", V4)
SPDY_TUNNEL = "SPDY/3.1+portforward.k8s.io"  # kubectl 1.32's port-forward: SPDY frames inside WebSocket

STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255


def frame(channel: int, data: bytes) -> bytes:
    return bytes([channel]) + data


@dataclass(frozen=True)
class Message:
    channel: int
    data: bytes


def parse(message: bytes) -> Message | None:
    """A received binary message; an empty one carries nothing (clients send them as keep-alives)."""
    if not message:
        return None
    return Message(message[0], message[1:])


def pick_protocol(offered: list[str], supported: tuple[str, ...]) -> str | None:
    """The server's choice: the first protocol it supports, in its own order of preference."""
    for proto in supported:
        if proto in offered:
            return proto
    return None


def offered_protocols(header: str) -> list[str]:
    return [p.strip() for p in header.split(",") if p.strip()]


def success_status() -> dict[str, Any]:
    return {"metadata": {}, "status": "Success"}


def exit_status(command: list[str], exit_code: int) -> dict[str, Any]:
    """What the kubelet sends on channel 3 when a command ended: Success, or kubectl's NonZeroExitCode
    Failure with an ExitCode cause (kubectl exits with that code; the Python client reads it too)."""
    if exit_code == 0:
        return success_status()
    return {"metadata": {}, "status": "Failure",
            "message": f"command terminated with non-zero exit code: error executing command "
                       f"[{' '.join(command)}], exit code {exit_code}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(exit_code)}]}}


def error_status(message: str) -> dict[str, Any]:
    """An internal failure (the command could not be started, the container is gone) on channel 3."""
    return {"metadata": {}, "status": "Failure", "message": message, "reason": "InternalError", "code": 500,
            "details": {"causes": [{"message": message}]}}


def encode_status(status: dict[str, Any]) -> bytes:
    return frame(ERROR, json.dumps(status).encode())


def parse_resize(data: bytes) -> tuple[int, int] | None:
    """A terminal size from channel 4 (`{"Width":80,"Height":24}`), or None if it is not one."""
    try:
        size = json.loads(data)
        return int(size["Width"]), int(size["Height"])
    except (ValueError, KeyError, TypeError):
        return None


def port_prefix(port: int) -> bytes:
    return port.to_bytes(2, "little")
