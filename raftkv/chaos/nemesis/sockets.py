"""Which of our member processes dialled a connection a peer proxy accepted (Linux /proc).

Every member advertises one peer URL, so a proxy in front of member X sees connections from all the other
members and cannot tell them apart by address (all are 127.0.0.1). The kernel can: /proc/net/tcp{,6} maps
(local port, remote port) to a socket inode, and /proc/PID/fd links show which process holds that inode.
That lets one proxy per listening member filter by source, i.e. cut any member pair. `parse_proc_net_tcp`
is pure (tested on sample text); `SocketOwners` is the thin adapter that reads /proc.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping


def parse_proc_net_tcp(text: str) -> dict[tuple[int, int], int]:
    """(local port, remote port) -> socket inode, from the text of /proc/net/tcp or /proc/net/tcp6."""
    out: dict[tuple[int, int], int] = {}
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) < 10 or ":" not in f[1] or ":" not in f[2]:
            continue
        try:
            local = int(f[1].rsplit(":", 1)[1], 16)
            remote = int(f[2].rsplit(":", 1)[1], 16)
            inode = int(f[9])
        except ValueError:
            continue
        if inode:
            out[(local, remote)] = inode
    return out


def socket_inodes(fd_targets: Mapping[str, str]) -> set[int]:
    """Inodes of the sockets among a process's fd link targets ("socket:[1234]")."""
    out = set()
    for target in fd_targets.values():
        if target.startswith("socket:[") and target.endswith("]"):
            out.add(int(target[8:-1]))
    return out


class SocketOwners:
    """Resolve the dialler of an accepted loopback connection to a name, among the PIDs `pids()` returns."""

    def __init__(self, pids: Callable[[], Mapping[str, int]], proc: str = "/proc") -> None:
        self._pids = pids
        self._proc = proc

    def _read(self, path: str) -> str:
        try:
            with open(path, encoding="ascii", errors="replace") as fh:
                return fh.read()
        except OSError:
            return ""

    def _fds(self, pid: int) -> dict[str, str]:
        d = f"{self._proc}/{pid}/fd"
        out = {}
        try:
            names = os.listdir(d)
        except OSError:
            return {}
        for n in names:
            try:
                out[n] = os.readlink(f"{d}/{n}")
            except OSError:
                continue
        return out

    def owner(self, dialler_port: int, listener_port: int) -> str | None:
        """The name whose process holds the socket (dialler_port -> listener_port), or None."""
        table: dict[tuple[int, int], int] = {}
        for f in ("tcp", "tcp6"):
            table.update(parse_proc_net_tcp(self._read(f"{self._proc}/net/{f}")))
        inode = table.get((dialler_port, listener_port))
        if inode is None:
            return None
        for name, pid in self._pids().items():
            if inode in socket_inodes(self._fds(pid)):
                return name
        return None
