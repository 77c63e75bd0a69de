"""The CRI container log format and the kubelet's log options (tailLines, sinceTime, timestamps, limitBytes);
pure.

A runtime writes one record per line: `<RFC3339Nano time> <stdout|stderr> <F|P> <content>`; P marks a partial
line whose content continues in the next record (no newline between them). The kubelet turns records back into
the container's output, optionally prefixing every record with its time, as `kubectl logs --timestamps` shows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Record:
    timestamp: str  # as the runtime wrote it (RFC3339Nano)
    time: float  # seconds since the epoch
    stream: str  # "stdout" or "stderr"
    partial: bool
    content: bytes  # without the newline the runtime stripped


@dataclass(frozen=True)
class LogOptions:
    """The query of /containerLogs as the kubelet reads it (kubectl's flags, through the API server)."""
    tail_lines: int | None = None
    since_time: float | None = None  # absolute; sinceSeconds is turned into this by the caller's clock
    timestamps: bool = False
    limit_bytes: int | None = None
    follow: bool = False
    previous: bool = False


def parse_time(value: str) -> float:
    """RFC3339 with any number of fractional digits (Go writes up to 9; Python reads 6)."""
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    main, _, rest = value.partition(".")
    frac, zone = "", ""
    if rest:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        frac, zone = rest[:digits], rest[digits:]
    else:
        for sign in ("+", "-"):
            idx = main.rfind(sign, 10)
            if idx > 0:
                main, zone = main[:idx], main[idx:]
                break
    base = dt.datetime.fromisoformat(main + (zone or "+00:00"))
    return base.timestamp() + (float("0." + frac) if frac else 0.0)


def parse_line(line: bytes) -> Record | None:
    """One record, or None for a line that is not one (the kubelet skips those)."""
    line = line.rstrip(b"\n")
    parts = line.split(b" ", 3)
    if len(parts) < 3 or parts[1] not in (b"stdout", b"stderr") or parts[2] not in (b"F", b"P"):
        return None
    try:
        ts = parts[0].decode()
        when = parse_time(ts)
    except ValueError:
        return None
    return Record(ts, when, parts[1].decode(), parts[2] == b"P", parts[3] if len(parts) > 3 else b"")


def rfc3339nano(stamp: bytes) -> bytes:
    """A UTC timestamp as Go's RFC3339Nano prints it (the kubelet re-renders the runtime's): trailing zeros of
    the fraction dropped, and the dot with them when nothing is left."""
    if not stamp.endswith(b"Z") or b"." not in stamp:
        return stamp
    whole, _, frac = stamp[:-1].partition(b".")
    frac = frac.rstrip(b"0")
    return whole + (b"." + frac if frac else b"") + b"Z"


def format_record(rec: Record, timestamps: bool) -> bytes:
    """A record as the kubelet writes it to the client: the content, a newline unless partial, and the
    runtime's timestamp in front when asked."""
    prefix = (rfc3339nano(rec.timestamp.encode()) + b" ") if timestamps else b""
    return prefix + rec.content + (b"" if rec.partial else b"\n")


def tail_start(lines: list[bytes], tail: int) -> int:
    """Index of the first line to show for tailLines=N: the last N complete lines (partial records belong to
    the full line that ends them, so they are not counted on their own)."""
    if tail <= 0:
        return len(lines)
    full = 0
    for i in range(len(lines) - 1, -1, -1):
        rec = parse_line(lines[i])
        if rec is None or rec.partial:
            continue
        full += 1
        if full > tail:
            return i + 1
    return 0


class Renderer:
    """Turns records into output under one LogOptions, stateful only for limitBytes (the bytes still allowed)."""

    def __init__(self, opts: LogOptions) -> None:
        self.opts = opts
        self.remaining = opts.limit_bytes
        self.line_start = True  # a partial record's continuation gets no timestamp of its own, as the kubelet

    @property
    def exhausted(self) -> bool:
        return self.remaining is not None and self.remaining <= 0

    def render(self, lines: Iterable[bytes]) -> Iterator[bytes]:
        timed = self.opts.since_time is not None
        for line in lines:
            if self.exhausted:
                return
            out = self._render_line(line, timed)
            if out is None:
                continue
            if self.remaining is not None:
                out = out[:self.remaining]
                self.remaining -= len(out)
            yield out

    def _render_line(self, line: bytes, timed: bool) -> bytes | None:
        if timed:
            rec = parse_line(line)
            if rec is None or rec.time < (self.opts.since_time or 0.0):
                return None
            out = format_record(rec, self.opts.timestamps and self.line_start)
            self.line_start = not rec.partial
            return out
        # no time filter: the timestamp need not be parsed, only the record's shape checked
        parts = line.rstrip(b"\n").split(b" ", 3)
        if len(parts) < 3 or parts[1] not in (b"stdout", b"stderr") or parts[2] not in (b"F", b"P"):
            return None
        prefix = rfc3339nano(parts[0]) + b" " if self.opts.timestamps and self.line_start else b""
        self.line_start = parts[2] == b"F"
        return prefix + (parts[3] if len(parts) > 3 else b"") + (b"" if parts[2] == b"P" else b"\n")


def split_complete(buffer: bytes) -> tuple[list[bytes], bytes]:
    """Complete lines of a growing file and the unfinished rest (a record being written while we read)."""
    if b"\n" not in buffer:
        return [], buffer
    head, _, rest = buffer.rpartition(b"\n")
    return [line + b"\n" for line in head.split(b"\n")], rest
