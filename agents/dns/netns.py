"""Listening sockets made inside a named network namespace while the process stays in its own.

A node that is a network namespace (tests, `ip netns` labs) has no route to an API server on the host's loopback,
yet its pods must reach the DNS server at an address of that namespace. A socket belongs to the namespace of the
thread that creates it, so a short-lived thread joins the namespace (setns), binds, and ends; the API client and
the forwarder keep using the process's own namespace.
"""

from __future__ import annotations

import ctypes
import os
import socket
import threading

CLONE_NEWNET = 0x40000000


def bind_in_netns(netns: str, host: str, port: int) -> tuple[socket.socket, socket.socket]:
    """UDP and TCP sockets bound to host:port (port 0: the UDP port's number for both) inside `netns`."""
    out: list[socket.socket] = []
    error: list[BaseException] = []

    def work() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(os.path.join("/run/netns", netns), os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns {netns}: {os.strerror(err)}")
            finally:
                os.close(fd)
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind((host, port))
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind((host, udp.getsockname()[1]))
            tcp.listen(128)
            out.extend((udp, tcp))
        except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
            error.append(e)

    t = threading.Thread(target=work, name=f"netns-{netns}")
    t.start()
    t.join()
    if error:
        raise error[0]
    return out[0], out[1]
