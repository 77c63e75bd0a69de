"""Go's time.Duration.String() after Truncate(time.Millisecond), as the kubelet's Pulled event prints it."""

from __future__ import annotations


def go_ms(seconds: float) -> str:
    ms = int(seconds * 1000)
    if ms < 1000:
        return f"{ms}ms"
    minutes, rem = divmod(ms, 60_000)
    secs = f"{rem / 1000:.3f}".rstrip("0").rstrip(".")
    if minutes == 0:
        return f"{secs}s"
    hours, minutes = divmod(minutes, 60)
    return (f"{hours}h" if hours else "") + f"{minutes}m{secs}s"
