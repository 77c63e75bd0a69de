"""Writing volume plans to the node (the I/O half of volumes.py): directories, files with their modes, hostPath
type checks, and removal when the pod is gone."""

from __future__ import annotations

import os
import shutil

from agents.kubelet.volumes import MountError, VolumePlan


def _write_atomic(path: str, data: bytes, mode: int) -> None:
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def set_up(plan: VolumePlan) -> None:
    """Make the volume exist on the node with exactly the planned files (rewritten only when they changed)."""
    if plan.kind == "hostPath":
        _host_path(plan)
        return
    os.makedirs(plan.host_path, exist_ok=True)
    for rel, (data, mode) in plan.files.items():
        path = os.path.join(plan.host_path, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            with open(path, "rb") as f:
                if f.read() == data and (os.stat(path).st_mode & 0o777) == mode:
                    continue
        except FileNotFoundError:
            pass
        _write_atomic(path, data, mode)


def _host_path(plan: VolumePlan) -> None:
    path, kind = plan.host_path, plan.host_path_type
    if kind == "DirectoryOrCreate":
        os.makedirs(path, mode=0o755, exist_ok=True)
    elif kind == "FileOrCreate":
        if not os.path.exists(path):
            os.makedirs(os.path.dirname(path) or "/", exist_ok=True)
            open(path, "a").close()
    elif kind == "Directory" and not os.path.isdir(path):
        raise MountError(plan.name, f"hostPath type check failed: {path} is not a directory")
    elif kind == "File" and not os.path.isfile(path):
        raise MountError(plan.name, f"hostPath type check failed: {path} is not a file")
    elif kind == "Socket" and not os.path.exists(path):
        raise MountError(plan.name, f"hostPath type check failed: {path} is not a socket file")


def tear_down(root_dir: str, uid: str) -> None:
    """Remove the pod's directory (volumes and all); hostPath volumes are the node's and stay."""
    shutil.rmtree(os.path.join(root_dir, "pods", uid), ignore_errors=True)
