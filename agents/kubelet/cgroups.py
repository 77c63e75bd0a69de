"""The pod-level cgroup settings the kubelet itself writes (cgroup v1 here: notes/runtime.md found v2 limits
unavailable on this machine kind): pids.max from podPidsLimit on the pod's cgroup, which the runtime made
for the sandbox (raftkv-cri creates it, runc does for containerd)."""

from __future__ import annotations

import os

CGROUP_FS = "/sys/fs/cgroup"


def set_pids_max(pod_cgroup: str, limit: int) -> None:
    path = os.path.join(CGROUP_FS, "pids", pod_cgroup.strip("/"))
    if not os.path.isdir(path):  # not ours to make: the runtime owns (and removes) the pod's cgroup
        raise FileNotFoundError(f"{path} does not exist")
    with open(os.path.join(path, "pids.max"), "w") as f:
        f.write(str(limit))
