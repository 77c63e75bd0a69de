"""The CRI container log format (pure, stdlib only: the shim loads this file by path at every container start).

One line per record: `<RFC3339Nano timestamp> <stdout|stderr> <P|F> <content>`, F for a full line (its newline
was written), P for a piece of a longer line or a last line without a newline. This is what containerd writes
and what the kubelet's `kubectl logs` reader parses.
"""

from __future__ import annotations

import time

# containerd's default max_container_log_line_size: longer lines are cut into P records of this size
MAX_LINE = 16 * 1024


def timestamp(ns: int) -> str:
    """Go's time.RFC3339Nano in UTC: fraction trimmed of trailing zeros, no dot when it is zero."""
    secs, frac = divmod(ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    digits = f"{frac:09d}".rstrip("0")
    return f"{base}.{digits}Z" if digits else f"{base}Z"


def record(ns: int, stream: str, tag: str, content: bytes) -> bytes:
    return b"%s %s %s %s\n" % (timestamp(ns).encode(), stream.encode(), tag.encode(), content)


class LineSplitter:
    """Turns a stream's chunks into (tag, content) records: full lines, and P pieces of overlong lines."""

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self.max_line = max_line
        self._buf = b""

    def feed(self, data: bytes) -> list[tuple[str, bytes]]:
        self._buf += data
        out: list[tuple[str, bytes]] = []
        while True:
            nl = self._buf.find(b"\n")
            if nl == -1 or nl > self.max_line:
                break
            out.append(("F", self._buf[:nl]))
            self._buf = self._buf[nl + 1:]
        while len(self._buf) > self.max_line and self._buf.find(b"\n", 0, self.max_line + 1) == -1:
            out.append(("P", self._buf[:self.max_line]))
            self._buf = self._buf[self.max_line:]
            nl = self._buf.find(b"\n")
            while nl != -1 and nl <= self.max_line:
                out.append(("F", self._buf[:nl]))
                self._buf = self._buf[nl + 1:]
                nl = self._buf.find(b"\n")
        return out

    def close(self) -> list[tuple[str, bytes]]:
        """What is left at EOF: a last line without its newline, as a P record."""
        rest, self._buf = self._buf, b""
        return [("P", rest)] if rest else []


class LogRecord:
    """One parsed record (a plain class: dataclasses would cost every shim start the import of `re`)."""

    __slots__ = ("timestamp", "stream", "partial", "content")

    def __init__(self, timestamp: str, stream: str, partial: bool, content: bytes) -> None:
        self.timestamp, self.stream, self.partial, self.content = timestamp, stream, partial, content

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LogRecord) and all(getattr(self, a) == getattr(other, a) for a in self.__slots__)

    def __repr__(self) -> str:
        return f"LogRecord({self.timestamp!r}, {self.stream!r}, {self.partial!r}, {self.content!r})"


def parse(line: bytes) -> LogRecord:
    """One record of a CRI log file (without or with its trailing newline); ValueError when malformed."""
    line = line[:-1] if line.endswith(b"\n") else line
    parts = line.split(b" ", 3)
    if len(parts) < 3 or parts[1] not in (b"stdout", b"stderr") or parts[2] not in (b"P", b"F"):
        raise ValueError(f"not a CRI log record: {line[:80]!r}")
    content = parts[3] if len(parts) == 4 else b""
    return LogRecord(parts[0].decode(), parts[1].decode(), parts[2] == b"P", content)
