"""A real raftkv-cri server per test module, as root, with names no one else uses, and a teardown that removes
every netns, cgroup, mount and process it made, whatever the test did."""

from __future__ import annotations

import ipaddress
import os
import pathlib
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest

from agents.cri import api, busybox
from raftkv._pb.runtime.v1 import api_pb2_grpc
from tests.conftest import wait_for

ROOT_REASON = "needs root (network namespaces, cgroup v1, mounts)"
CNI_DIR = "/usr/lib/cni"


def missing_tools() -> str | None:
    if os.geteuid() != 0:
        return ROOT_REASON
    if not os.path.isdir("/sys/fs/cgroup/memory"):
        return "cgroup v1 memory hierarchy is not mounted"
    for tool in ("ip", "unshare", "nsenter"):
        if not shutil.which(tool):
            return f"{tool} is not installed"
    if not os.access(os.path.join(CNI_DIR, "bridge"), os.X_OK):
        return "containernetworking-plugins is not installed (apt-get install containernetworking-plugins)"
    if not os.path.exists(busybox.BUSYBOX):
        return "busybox-static is not installed"
    return None


def free_subnet() -> str:
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True, check=False).stdout
    used = [ipaddress.ip_network(w, strict=False) for w in routes.split() if "/" in w and w[0].isdigit()]
    while True:
        net = ipaddress.ip_network(f"10.{secrets.randbelow(50) + 200}.{secrets.randbelow(256)}.0/24")
        if not any(net.overlaps(u) for u in used):
            return str(net)


@dataclass
class CRI:
    root: pathlib.Path
    socket: str
    prefix: str
    subnet: str
    proc: subprocess.Popen[bytes]
    runtime: api_pb2_grpc.RuntimeServiceStub
    images: api_pb2_grpc.ImageServiceStub
    channel: grpc.Channel
    image: str  # the busybox image's name

    def argv(self) -> list[str]:
        return [sys.executable, "-m", "agents.cri", "--listen", self.socket, "--root", str(self.root),
                "--bridge", f"{self.prefix}br", "--pod-cidr", self.subnet, "--netns-prefix", f"{self.prefix}-",
                "--cgroup-parent", self.prefix, "--network-name", self.prefix]

    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv(), cwd=pathlib.Path(__file__).resolve().parents[2],
                                     stdout=open(self.root / "server.log", "ab"), stderr=subprocess.STDOUT)
        wait_for(lambda: self.runtime.Version(api.VersionRequest(), timeout=1).runtime_name, 30,
                 "raftkv-cri to answer Version")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)

    def sandbox_config(self, name: str) -> api.PodSandboxConfig:
        uid = secrets.token_hex(8)
        return api.PodSandboxConfig(
            metadata=api.PodSandboxMetadata(name=name, uid=uid, namespace="default"), hostname=name,
            log_directory=str(self.root / "logs" / f"default_{name}_{uid}"),
            linux=api.LinuxPodSandboxConfig(cgroup_parent=f"/{self.prefix}/pod{uid}"))


@pytest.fixture(scope="module")
def cri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CRI]:
    reason = missing_tools()
    if reason:
        pytest.skip(reason)
    from agents.cri.images import ImageStore
    from agents.cri.runtime import Options, cleanup_root

    root = tmp_path_factory.mktemp("cri")
    prefix = "rkt" + secrets.token_hex(3)
    name, tarball = busybox.build()
    ImageStore(str(root)).import_archive(tarball)
    channel = grpc.insecure_channel(f"unix:{root}/cri.sock")
    c = CRI(root, f"{root}/cri.sock", prefix, free_subnet(), None,  # type: ignore[arg-type]
            api_pb2_grpc.RuntimeServiceStub(channel), api_pb2_grpc.ImageServiceStub(channel), channel, name)
    try:
        c.start()
        yield c
    finally:
        channel.close()
        if c.proc is not None:
            c.kill()
        cleanup_root(Options(root=str(root), bridge=f"{prefix}br", netns_prefix=f"{prefix}-",
                             cgroup_parent=prefix, network_name=prefix, pod_cidr=c.subnet))
