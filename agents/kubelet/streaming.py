"""The seam between the kubelet's HTTPS server (agents/kubelet/server.py) and the rest of the kubelet.

The server knows HTTP, WebSockets, SPDY and the CRI log format; the kubelet knows its pods and its runtime.
The kubelet hands the server one `StreamingHost`; every method either returns what the server streams or
raises `StreamingError` with the HTTP code and text the real kubelet answers (the API server passes them on,
so `kubectl logs` prints them verbatim).

`log_status_error` is the kubelet's own rule for which container a log request may read (pure), for hosts that
keep the API pod status at hand.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from agents.streaming.process import HostProcess, Process

__all__ = ["HostProcess", "LogSource", "Process", "StreamURL", "StreamingError", "StreamingHost", "log_status_error"]


class StreamingError(Exception):
    """A refusal: HTTP status code and the plain-text message the kubelet writes."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class LogSource:
    """Where a container's CRI log file is, and how to tell that the container still runs (follow ends when
    it stopped and the file has no more to read)."""
    path: str
    running: Callable[[], Awaitable[bool]]


@dataclass(frozen=True)
class StreamURL:
    """A runtime's own streaming endpoint (CRI Exec/Attach/PortForward return one): the server relays the
    client's WebSocket to it instead of running the stream itself."""
    url: str


class StreamingHost(Protocol):
    async def container_log(self, namespace: str, pod: str, container: str, previous: bool) -> LogSource:
        """The log of a container of a pod on this node (404 for an unknown pod or container, 400 with
        `log_status_error`'s text when it has no log yet)."""
        ...

    async def exec(self, namespace: str, pod: str, uid: str, container: str, command: list[str], *,
                   stdin: bool, stdout: bool, stderr: bool, tty: bool) -> Process | StreamURL: ...

    async def attach(self, namespace: str, pod: str, uid: str, container: str, *,
                     stdin: bool, stdout: bool, stderr: bool, tty: bool) -> Process | StreamURL: ...

    async def port_forward(self, namespace: str, pod: str, uid: str,
                           port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A connection to `port` inside the pod's network namespace."""
        ...


def log_status_error(pod: dict[str, Any], container: str, previous: bool) -> str | None:
    """None when the container has a log to read (current, or the previous instance with previous=True),
    else the kubelet's message (kubelet_pods.go validateContainerLogStatus)."""
    name = pod.get("metadata", {}).get("name", "")
    status = pod.get("status") or {}
    statuses = (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or []) + \
        (status.get("ephemeralContainerStatuses") or [])
    cs = next((s for s in statuses if s.get("name") == container), None)
    if cs is None:
        return f'container "{container}" in pod "{name}" is not available'
    state = cs.get("state") or {}
    last = (cs.get("lastState") or {}).get("terminated")
    if previous:
        if not last or not last.get("containerID"):
            return f'previous terminated container "{container}" in pod "{name}" not found'
        return None
    if "running" in state:
        return None
    if "terminated" in state:
        if state["terminated"].get("containerID") or (last and last.get("containerID")):
            return None
        return f'container "{container}" in pod "{name}" is terminated'
    if last:
        return None if last.get("containerID") else f'container "{container}" in pod "{name}" is terminated'
    if "waiting" in state:
        reason = (state["waiting"] or {}).get("reason", "")
        detail = {"ErrImagePull": "image can't be pulled",
                  "ImagePullBackOff": "trying and failing to pull image"}.get(reason, reason)
        return f'container "{container}" in pod "{name}" is waiting to start: {detail}'
    return f'container "{container}" in pod "{name}" is waiting to start - no logs yet'
