"""What the CRI server remembers about sandboxes and containers, and the pure decisions made from it.

Records are JSON files beside each sandbox's and container's working files, written atomically, so a restarted
server finds every pod and container again (the containers themselves keep running under their shims).
The decisions — a container's command, environment and user from the image and the request, its exit reason,
its state — are plain functions, tested without processes.
"""

from __future__ import annotations

import json
import os
import posixpath
import tempfile
from dataclasses import asdict, dataclass, field
from typing import Any

# ContainerState / PodSandboxState values (runtime.v1)
CREATED, RUNNING, EXITED, UNKNOWN = 0, 1, 2, 3
SANDBOX_READY, SANDBOX_NOTREADY = 0, 1


@dataclass
class SandboxRecord:
    id: str
    name: str
    uid: str
    namespace: str
    attempt: int
    created_at: int
    state: int = SANDBOX_READY
    netns: str = ""
    ip: str = ""
    hostname: str = ""
    log_directory: str = ""
    cgroup_parent: str = ""
    cgroup_parent_made: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    runtime_handler: str = ""
    host_network: bool = False
    port_mappings: list[dict[str, Any]] = field(default_factory=list)  # hostPorts, in the portmap plugin's form
    host_pid: bool = False
    host_ipc: bool = False
    config: str = ""  # the RunPodSandbox request's PodSandboxConfig, serialized (base64 protobuf)
    complete: bool = True  # False while RunPodSandbox is at work: a server that died then sweeps it at start
    pid_mode: int = 0  # the sandbox's NamespaceOption.pid (POD, CONTAINER or NODE)
    pause_pid: int = 0  # PID 1 of the pod's shared PID namespace, made for the first container asking for it
    pause_start: int = 0


@dataclass
class ContainerRecord:
    id: str
    sandbox_id: str
    name: str
    attempt: int
    created_at: int
    image: str  # the ImageSpec.image the kubelet asked for
    image_ref: str  # repo digest, as containerd reports it
    image_id: str
    argv: list[str]
    env: list[str]
    working_dir: str
    log_path: str
    cgroup: str
    state: int = CREATED
    started_at: int = 0
    finished_at: int = 0
    exit_code: int = 0
    reason: str = ""
    message: str = ""
    shim_pid: int = 0
    shim_start: int = 0
    pid: int = 0
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    mounts: list[dict[str, Any]] = field(default_factory=list)
    resources: dict[str, int] = field(default_factory=dict)
    tty: bool = False
    stdin: bool = False
    stdin_once: bool = False
    complete: bool = True  # False while CreateContainer is at work (see SandboxRecord.complete)
    host_pid: bool = False
    pod_pid: bool = False  # shares the pod's PID namespace (shareProcessNamespace)
    uid: int = 0
    gid: int = 0


def save(path: str, record: SandboxRecord | ContainerRecord) -> None:
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".rec.")
    with os.fdopen(fd, "w") as f:
        json.dump(asdict(record), f)
    os.replace(tmp, path)


def load_sandbox(path: str) -> SandboxRecord:
    with open(path) as f:
        return SandboxRecord(**json.load(f))


def load_container(path: str) -> ContainerRecord:
    with open(path) as f:
        return ContainerRecord(**json.load(f))


# ---- decisions

def command_line(image_config: dict[str, Any], command: list[str], args: list[str]) -> list[str]:
    """Docker's rule, which the kubelet relies on: `command` replaces the image's Entrypoint and drops its Cmd;
    `args` replaces Cmd."""
    cfg = image_config.get("config") or {}
    entrypoint = list(cfg.get("Entrypoint") or [])
    cmd = list(cfg.get("Cmd") or [])
    if command:
        return list(command) + list(args)
    return entrypoint + (list(args) if args else cmd)


def environment(image_config: dict[str, Any], envs: list[tuple[str, str]], hostname: str) -> list[str]:
    """The image's Env, then the request's (later wins), with HOSTNAME as containerd sets it; PATH defaulted."""
    merged: dict[str, str] = {}
    for item in (image_config.get("config") or {}).get("Env") or []:
        k, _, v = item.partition("=")
        merged[k] = v
    merged.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    if hostname:
        merged["HOSTNAME"] = hostname
    for k, v in envs:
        merged[k] = v
    return [f"{k}={v}" for k, v in merged.items()]


def exit_reason(exit_code: int, oom_killed: bool) -> str:
    """containerd's reasons: the kubelet shows them as the terminated state's reason."""
    if oom_killed:
        return "OOMKilled"
    return "Completed" if exit_code == 0 else "Error"


def exit_code_of(wait_status: int) -> int:
    """A wait status as runtimes report it: the exit code, or 128 + the signal that killed the process."""
    if os.WIFSIGNALED(wait_status):
        return 128 + os.WTERMSIG(wait_status)
    return os.WEXITSTATUS(wait_status)


def resolve_executable(rootfs: str, name: str, env: list[str], working_dir: str) -> str | None:
    """The path inside the container `name` runs as, or None — checked before start, so a missing command fails
    StartContainer with runc's message instead of a process that exits 127. Symlinks resolve inside `rootfs`."""
    if not name:
        return None
    if "/" in name:
        candidates = [name if name.startswith("/") else posixpath.join(working_dir or "/", name)]
    else:
        path = next((e[5:] for e in env if e.startswith("PATH=")), "")
        candidates = [posixpath.join(d or ".", name) for d in path.split(":")]
    for cand in candidates:
        real = _resolve_in_root(rootfs, cand)
        if real and os.path.isfile(real) and os.access(real, os.X_OK):
            return cand
    return None


def _resolve_in_root(rootfs: str, path: str, depth: int = 0) -> str | None:
    if depth > 40:
        return None
    parts = [p for p in path.split("/") if p not in ("", ".")]
    current = "/"
    for i, part in enumerate(parts):
        if part == "..":
            current = posixpath.dirname(current) or "/"
            continue
        candidate = posixpath.join(current, part)
        host = os.path.join(rootfs, candidate.lstrip("/"))
        if os.path.islink(host):
            target = os.readlink(host)
            rest = "/".join(parts[i + 1:])
            joined = target if target.startswith("/") else posixpath.join(current, target)
            return _resolve_in_root(rootfs, posixpath.join(joined, rest) if rest else joined, depth + 1)
        current = candidate
    return os.path.join(rootfs, current.lstrip("/"))


def not_found_message(name: str) -> str:
    """runc's start error for a missing executable, as containerd returns it and the kubelet shows it."""
    if "/" in name:
        detail = f"exec: \"{name}\": stat {name}: no such file or directory"
    else:
        detail = f"exec: \"{name}\": executable file not found in $PATH"
    return ("failed to create containerd task: failed to create shim task: OCI runtime create failed: "
            f"runc create failed: unable to start container process: {detail}: unknown")


def lookup_user(rootfs: str, user: str) -> tuple[int, int] | None:
    """`uid`, `uid:gid`, `name` or `name:group` against the image's /etc/passwd and /etc/group."""
    if not user:
        return (0, 0)
    name, _, group = user.partition(":")

    def table(path: str) -> dict[str, list[str]]:
        try:
            with open(os.path.join(rootfs, path)) as f:
                rows = [line.rstrip("\n").split(":") for line in f if line.strip() and not line.startswith("#")]
        except OSError:
            return {}
        return {r[0]: r for r in rows if len(r) >= 3}

    passwd = table("etc/passwd")
    if name.isdigit():
        uid = int(name)
        row = next((r for r in passwd.values() if r[2] == name), None)
        gid = int(row[3]) if row and len(row) > 3 and row[3].isdigit() else 0
    elif name in passwd:
        uid, gid = int(passwd[name][2]), int(passwd[name][3])
    else:
        return None
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            grow = table("etc/group").get(group)
            if not grow:
                return None
            gid = int(grow[2])
    return (uid, gid)
