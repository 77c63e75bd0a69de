"""A node as network namespaces for proxy e2e (root only): a 'node' netns with a bridge and two 'pod' netns behind
it, each running a tiny HTTP server that answers its own name, and an 'outside' netns on a veth to the node's
address for NodePort traffic. Every name carries the test's PID; `close()` kills the servers by PID and deletes the
namespaces (their veths, bridge and iptables rules go with them), also after a failed test."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field

from tests.conftest import register_process, stop_process, wait_for

SERVER = r"""
import http.server, sys
name = sys.argv[1].encode()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", str(len(name))); self.end_headers()
        self.wfile.write(name)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("0.0.0.0", int(sys.argv[2])), H).serve_forever()
"""

CLIENT = r"""
import sys, urllib.request
url, n = sys.argv[1], int(sys.argv[2])
for _ in range(n):
    try:
        print(urllib.request.urlopen(url, timeout=2).read().decode(), flush=True)
    except Exception as e:
        print("ERR", type(e).__name__, flush=True)
"""


def skip_reason() -> str:
    if os.geteuid() != 0:
        return "needs root (network namespaces, iptables)"
    for tool in ("ip", "iptables", "iptables-restore", "iptables-save"):
        if shutil.which(tool) is None:
            return f"{tool} not installed"
    return ""


def sh(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


@dataclass
class NetLab:
    tag: str = field(default_factory=lambda: f"rkp{os.getpid() % 100000}")
    node_ip: str = "192.168.77.2"
    outside_ip: str = "192.168.77.3"
    pod_ips: tuple[str, ...] = ("10.244.0.11", "10.244.0.12")
    port: int = 8080
    servers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    made: list[str] = field(default_factory=list)

    @property
    def node(self) -> str:
        return f"{self.tag}-node"

    @property
    def outside(self) -> str:
        return f"{self.tag}-out"

    def pod(self, i: int) -> str:
        return f"{self.tag}-pod{i}"

    def _netns(self, name: str) -> None:
        sh("ip", "netns", "add", name)
        self.made.append(name)
        sh("ip", "-n", name, "link", "set", "lo", "up")

    def up(self) -> NetLab:
        self._netns(self.node)
        n = self.node
        sh("ip", "-n", n, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", n, "addr", "add", "10.244.0.1/24", "dev", "br0")
        sh("ip", "-n", n, "link", "set", "br0", "up")
        # as a kubeadm node with the CNI bridge: forwarding, and bridged pod-to-pod replies seen by iptables
        sh("ip", "netns", "exec", n, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1",
           "net.bridge.bridge-nf-call-iptables=1")
        for i, ip in enumerate(self.pod_ips):
            p = self.pod(i)
            self._netns(p)
            sh("ip", "-n", n, "link", "add", f"veth{i}", "type", "veth", "peer", "name", "eth0", "netns", p)
            sh("ip", "-n", n, "link", "set", f"veth{i}", "master", "br0", "up")
            sh("ip", "-n", n, "link", "set", f"veth{i}", "type", "bridge_slave", "hairpin", "on")  # CNI hairpinMode
            sh("ip", "-n", p, "addr", "add", f"{ip}/24", "dev", "eth0")
            sh("ip", "-n", p, "link", "set", "eth0", "up")
            sh("ip", "-n", p, "route", "add", "default", "via", "10.244.0.1")
            self.servers.append(register_process(subprocess.Popen(
                ["ip", "netns", "exec", p, sys.executable, "-c", SERVER, f"pod{i}", str(self.port)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
        self._netns(self.outside)
        sh("ip", "-n", n, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", self.outside)
        sh("ip", "-n", n, "addr", "add", f"{self.node_ip}/24", "dev", "eth0")
        sh("ip", "-n", n, "link", "set", "eth0", "up")
        sh("ip", "-n", self.outside, "addr", "add", f"{self.outside_ip}/24", "dev", "eth0")
        sh("ip", "-n", self.outside, "link", "set", "eth0", "up")
        # a node has a default route; locally generated traffic to a ClusterIP needs one before OUTPUT's DNAT
        sh("ip", "-n", n, "route", "add", "default", "via", self.outside_ip)
        for i, ip in enumerate(self.pod_ips):
            url = f"http://{ip}:{self.port}/"
            wait_for(lambda url=url, i=i: self.get(self.node, url, 1) == [f"pod{i}"], 30, f"pod server {ip}")
        return self

    def get(self, netns: str, url: str, n: int) -> list[str]:
        """n HTTP GETs from inside `netns` (one process), the bodies or 'ERR <exception>' in order."""
        out = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", CLIENT, url, str(n)],
                             capture_output=True, text=True, timeout=30 + 3 * n)
        return out.stdout.splitlines()

    def close(self) -> None:
        for p in self.servers:
            stop_process(p, grace=2)
        for name in reversed(self.made):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
        self.made.clear()
