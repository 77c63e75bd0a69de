"""The Linux mechanisms the process runtime is made of: mounts, cgroup v1 directories, network namespaces with
the CNI bridge plugin, and signals to a cgroup's processes. Thin wrappers, each failing with the OS's message.

cgroup v1 only: on this machine kind cgroup2 carries no controllers (notes/runtime.md §1).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import json
import os
import signal
import subprocess
from collections.abc import Iterable

CGROUP_ROOT = "/sys/fs/cgroup"
# the hierarchies a container joins: limits (memory, cpu, pids), accounting (cpuacct), freezer for a clean kill
CONTROLLERS = ("memory", "cpu", "cpuacct", "pids", "freezer")
NETNS_DIR = "/run/netns"

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def mount(source: str, target: str, fstype: str, flags: int = 0, data: str = "") -> None:
    if _libc.mount(source.encode(), target.encode(), fstype.encode(), ctypes.c_ulong(flags),
                   data.encode() if data else None) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"mount {source} on {target} ({fstype}): {os.strerror(e)}")


def umount(target: str) -> None:
    """Lazy unmount; a target that is not mounted (or gone) is fine."""
    if _libc.umount2(target.encode(), MNT_DETACH) != 0:
        e = ctypes.get_errno()
        if e not in (errno.EINVAL, errno.ENOENT):
            raise OSError(e, f"umount {target}: {os.strerror(e)}")


def mounts_under(prefix: str) -> list[str]:
    """Mount points at or below `prefix`, deepest first (the order to unmount them)."""
    prefix = prefix.rstrip("/")
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].encode().decode("unicode_escape")
            if point == prefix or point.startswith(prefix + "/"):
                out.append(point)
    return sorted(set(out), key=lambda p: (-p.count("/"), p))


def bind(source: str, target: str, readonly: bool = False) -> None:
    if not os.path.lexists(target):
        if os.path.isdir(source):
            os.makedirs(target, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            open(target, "a").close()
    mount(source, target, "", MS_BIND | MS_REC)
    if readonly:
        mount("", target, "", MS_BIND | MS_REMOUNT | MS_RDONLY)


# ---- cgroups (v1)

def cgroup_path(controller: str, rel: str) -> str:
    return os.path.join(CGROUP_ROOT, controller, rel.strip("/"))


def cgroup_create(rel: str) -> list[str]:
    """Make `rel` in every hierarchy we use; returns the cgroups (rel paths, `rel` and any ancestors) that did
    not exist before in any of them — ours to remove when empty."""
    parts = [p for p in rel.strip("/").split("/") if p]
    made = []
    for i in range(1, len(parts) + 1):
        sub = "/" + "/".join(parts[:i])
        if not all(os.path.isdir(cgroup_path(c, sub)) for c in CONTROLLERS):
            made.append(sub)
    for c in CONTROLLERS:
        os.makedirs(cgroup_path(c, rel), exist_ok=True)
    return made


def cgroup_write(controller: str, rel: str, name: str, value: str | int) -> None:
    with open(os.path.join(cgroup_path(controller, rel), name), "w") as f:
        f.write(str(value))


def cgroup_read(controller: str, rel: str, name: str) -> str:
    with open(os.path.join(cgroup_path(controller, rel), name)) as f:
        return f.read()


def cgroup_pids(rel: str) -> list[int]:
    try:
        return [int(p) for p in cgroup_read("memory", rel, "cgroup.procs").split()]
    except (FileNotFoundError, ValueError):
        return []


def cgroup_kill(rel: str, sig: int = signal.SIGKILL) -> None:
    """Signal every process in the cgroup (frozen first, so none can fork away while we walk the list)."""
    frozen = False
    try:
        cgroup_write("freezer", rel, "freezer.state", "FROZEN")
        frozen = True
    except OSError:
        pass
    try:
        for pid in cgroup_pids(rel):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
    finally:
        if frozen:
            try:
                cgroup_write("freezer", rel, "freezer.state", "THAWED")
            except OSError:
                pass


def cgroup_remove(rel: str, controllers: Iterable[str] = CONTROLLERS) -> None:
    """rmdir in each hierarchy; one that is gone, or still has processes or children (EBUSY), is left be."""
    for c in controllers:
        try:
            os.rmdir(cgroup_path(c, rel))
        except OSError:
            pass


def oom_kills(rel: str) -> int:
    """The memcg's oom_kill counter (kernel ≥ 4.13): how many of its processes the OOM killer took."""
    try:
        for line in cgroup_read("memory", rel, "memory.oom_control").splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
    except (FileNotFoundError, ValueError):
        pass
    return 0


# ---- network namespaces and CNI

def netns_path(name: str) -> str:
    return os.path.join(NETNS_DIR, name)


def netns_add(name: str) -> str:
    run(["ip", "netns", "add", name])
    return netns_path(name)


def netns_delete(name: str) -> None:
    if os.path.exists(netns_path(name)):
        run(["ip", "netns", "delete", name])


def cni(command: str, plugin_dir: str, conf: dict, container_id: str, netns: str, ifname: str = "eth0") -> dict:  # type: ignore[type-arg]
    """Run one CNI plugin (`conf["type"]`) as the spec says: env for the verb, the network config on stdin."""
    env = {"CNI_COMMAND": command, "CNI_CONTAINERID": container_id, "CNI_NETNS": netns, "CNI_IFNAME": ifname,
           "CNI_PATH": plugin_dir, "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")}
    proc = subprocess.run([os.path.join(plugin_dir, conf["type"])], input=json.dumps(conf).encode(), env=env,
                          capture_output=True, check=False)
    if proc.returncode != 0:
        try:
            msg = json.loads(proc.stdout).get("msg", "")
        except ValueError:
            msg = proc.stdout.decode(errors="replace") or proc.stderr.decode(errors="replace")
        raise OSError(f"plugin type=\"{conf['type']}\" name=\"{conf.get('name', '')}\" failed ({command.lower()}): {msg}")
    return json.loads(proc.stdout) if proc.stdout.strip() else {}


def run(argv: list[str], input: bytes | None = None) -> bytes:
    proc = subprocess.run(argv, input=input, capture_output=True, check=False)
    if proc.returncode != 0:
        raise OSError(f"{' '.join(argv)}: {proc.stderr.decode(errors='replace').strip() or proc.returncode}")
    return proc.stdout


# ---- processes

def proc_start_time(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat (clock ticks since boot): with the pid it names one process, not a reused pid."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except (FileNotFoundError, ProcessLookupError):
        return []
