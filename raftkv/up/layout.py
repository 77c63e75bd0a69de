"""What `raftkv up` decides once, at the first start of a directory, and records in `<dir>/cluster.json`: ports,
pod subnets, the cluster token and how many of each component. A later `raftkv up` on the same directory reads
it back, so the cluster comes back on the same addresses with its data.

Pure: free ports and subnets come from the callables the adapter passes in.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

FORMAT = 1
"""Bumped when the directory's layout changes incompatibly; another value is refused with a clear message."""

APISERVER_HOSTS = ("127.0.0.1", "127.0.0.2", "127.0.0.3")
"""Each API server binds its own loopback address on one shared port, so the `kubernetes` Service's Endpoints
list every server with the one port a Service can carry (as kubeadm's control-plane nodes do on their IPs)."""

NODE_IP_BASE = "127.0.1."
"""Real kubelets on loopback get node IPs 127.0.1.1, .2, ...: their own InternalIP, the same kubelet port."""

KUBELET_PORT = 10250


class LayoutError(Exception):
    """A cluster.json this version cannot use; the message says what to do."""


@dataclass(frozen=True)
class Options:
    """The command line of `raftkv up` that shapes a cluster."""
    members: int = 3
    nodes: int = 0
    simulated_nodes: int = 0
    apiservers: int = 2
    controller_managers: int = 2
    schedulers: int = 2
    apiserver_port: int = 0  # 0: any free port


@dataclass
class Layout:
    """A cluster's fixed facts; JSON as `cluster.json`."""
    format: int
    token: str
    prefix: str  # a short name unique to the directory: bridges, netns and cgroups of its nodes carry it
    members: list[dict[str, Any]]  # name, client, peer, metrics
    apiserver_port: int
    apiservers: int
    controller_managers: list[int]  # secure ports
    schedulers: list[int]
    simulated_nodes: int
    simnode_port: int
    nodes: list[dict[str, Any]] = field(default_factory=list)  # name, ip, port, pod_cidr, stream_port
    dns_port: int = 0  # 0 in layouts written before DNS existed: the adapter picks one at the next start

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"


def new_layout(opts: Options, prefix: str, token: str, free_port: Callable[[], int],
               free_subnet: Callable[[], str]) -> Layout:
    """A fresh layout for `opts`: every port from `free_port` unless the options fix it."""
    if opts.members not in (1, 3, 5):
        raise LayoutError(f"--members must be 1, 3 or 5, not {opts.members}")
    if opts.nodes < 0 or opts.simulated_nodes < 0:
        raise LayoutError("--nodes and --simulated-nodes cannot be negative")
    if not 1 <= opts.apiservers <= len(APISERVER_HOSTS):
        raise LayoutError(f"--apiservers must be between 1 and {len(APISERVER_HOSTS)}")
    members = [{"name": f"member-{i + 1}", "client": free_port(), "peer": free_port(), "metrics": free_port()}
               for i in range(opts.members)]
    nodes = [{"name": f"node-{i + 1}", "ip": f"{NODE_IP_BASE}{i + 1}", "port": KUBELET_PORT,
              "pod_cidr": free_subnet(), "stream_port": free_port()} for i in range(opts.nodes)]
    return Layout(FORMAT, token, prefix, members, opts.apiserver_port or free_port(), opts.apiservers,
                  [free_port() for _ in range(opts.controller_managers)], [free_port() for _ in range(opts.schedulers)],
                  opts.simulated_nodes, free_port(), nodes, free_port())


def parse_layout(text: str, where: str) -> Layout:
    """cluster.json back into a Layout, or a LayoutError saying why this directory cannot be used."""
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise LayoutError(f"{where} is not valid JSON ({exc}); it was not written by `raftkv up` or is damaged "
                          f"- use another --dir") from None
    if not isinstance(raw, dict) or "format" not in raw:
        raise LayoutError(f"{where} is not a `raftkv up` layout (no format field) - use another --dir")
    if raw["format"] != FORMAT:
        raise LayoutError(f"{where} has layout format {raw['format']!r}, this raftkv reads format {FORMAT}; "
                          f"start it with the raftkv that made it, or use another --dir")
    try:
        return Layout(**raw)
    except TypeError as exc:
        raise LayoutError(f"{where} is incomplete or damaged ({exc}) - use another --dir") from None


def check_same_shape(layout: Layout, opts: Options, given: set[str]) -> None:
    """Options given on the command line must agree with what the directory holds: a cluster does not change
    its size by being started again."""
    held = {"members": len(layout.members), "nodes": len(layout.nodes), "simulated_nodes": layout.simulated_nodes}
    for name, have in held.items():
        want = getattr(opts, name)
        if name in given and want != have:
            flag = "--" + name.replace("_", "-")
            raise LayoutError(f"this directory holds a cluster with {flag} {have}, not {want}; "
                              f"start it with {flag} {have}, or use another --dir")
