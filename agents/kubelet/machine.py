"""What the node really has (cadvisor's MachineInfo, read from /proc and the filesystem), as a NodeProfile."""

from __future__ import annotations

import os
import platform

from agents.simnode.nodes import NodeProfile

_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}


def memory_bytes() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def os_image() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "Linux"


def disk_bytes(path: str) -> int:
    os.makedirs(path, exist_ok=True)
    st = os.statvfs(path)
    return st.f_blocks * st.f_frsize


def profile(root_dir: str, max_pods: int, labels: dict[str, str], taints: list[dict[str, str]],
            runtime_version: str, cpu: str = "", memory: str = "") -> NodeProfile:
    return NodeProfile(cpu=cpu or str(os.cpu_count() or 1), memory=memory or str(memory_bytes()), pods=max_pods,
                       ephemeral_storage=str(disk_bytes(root_dir)),
                       arch=_ARCH.get(platform.machine(), platform.machine()), labels=dict(labels),
                       taints=tuple(dict(t) for t in taints), os_image=os_image(),
                       kernel_version=platform.release(), container_runtime_version=runtime_version)
