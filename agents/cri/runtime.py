"""The process runtime behind raftkv's CRI server: pods are network namespaces, containers are processes.

A sandbox is a netns pinned by `ip netns` with the CNI bridge plugin's veth and IP, plus UTS and IPC namespaces
pinned by bind mounts (so every container of the pod shares hostname, network and IPC, and no pause process is
needed: notes/runtime.md §5). A container is an overlay of its image's unpacked rootfs, with /dev, the pod's
/etc/hostname and /etc/resolv.conf and the kubelet's mounts bound in, cgroup v1 directories with its limits, and
a process its shim forks into a new PID and mount namespace, the pod's network, UTS and IPC namespaces and the
rootfs (notes/runtime.md's `unshare --pid --mount --root`, done with the syscalls so the shim waits for the command
itself and sees how it died). Its own PID namespace makes the command PID 1, so SIGTERM without a handler is ignored and StopContainer's SIGKILL after
the grace period kills every process in the cgroup, as with runc.

Errors carry containerd's messages and gRPC codes (`CRIFailure`) so the kubelet shows what it would on containerd.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import json
import os
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import grpc

from agents.cri import api, linux, state
from agents.cri.images import ImageNotFound, ImageStore, StoredImage
from agents.cri.state import ContainerRecord, SandboxRecord

RUNTIME_NAME = "raftkv-cri"
RUNTIME_VERSION = "0.1.0"
SHIM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "shim.py")
MAX_EXEC_OUTPUT = 16 << 20
DEVICES = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8), "urandom": (1, 9), "tty": (5, 0)}


def wait_until_inside_container(pid: int, cid: str, deadline_s: float = 10.0) -> None:
    """The shim records its child's PID before the child has joined the pod's namespaces, mounted /proc and
    chrooted; an exec entering it in that window would run on the host. Wait until the PID's mount namespace and
    root are no longer the runtime's own, else refuse the exec."""
    def inside() -> bool:
        try:
            if os.readlink(f"/proc/{pid}/ns/mnt") == os.readlink("/proc/self/ns/mnt"):
                return False
            own, theirs = os.stat("/"), os.stat(f"/proc/{pid}/root")
            return (own.st_dev, own.st_ino) != (theirs.st_dev, theirs.st_ino)
        except OSError:
            return False
    end = time.monotonic() + deadline_s
    while not inside():
        if time.monotonic() > end:
            raise CRIFailure(grpc.StatusCode.UNKNOWN, f"container {cid} is not ready for exec: its process has not "
                                                      "entered the container yet")
        time.sleep(0.01)


class CRIFailure(Exception):
    """A CRI call that fails: the gRPC code and containerd's wording."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _not_found(kind: str, ident: str) -> CRIFailure:
    return CRIFailure(grpc.StatusCode.NOT_FOUND, f"an error occurred when try to find {kind} \"{ident}\": not found")


@dataclass
class Options:
    root: str = "/var/lib/raftkv-cri"
    cni_bin_dir: str = "/usr/lib/cni"
    pod_cidr: str = "10.88.0.0/16"
    bridge: str = "raftkv0"
    network_name: str = "raftkv"
    netns_prefix: str = "raftkv-"
    cgroup_parent: str = "raftkv"
    python: str = sys.executable
    insecure_registries: list[str] = field(default_factory=list)  # host:port pulled over plain HTTP
    extra: dict[str, str] = field(default_factory=dict)


def now_ns() -> int:
    return time.time_ns()


class ProcessRuntime:
    """RuntimeService and ImageService operations on plain messages; blocking (the server runs them in threads)."""

    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.images = ImageStore(opts.root)
        self.sb_dir = os.path.join(opts.root, "sandboxes")
        self.ct_dir = os.path.join(opts.root, "containers")
        for d in (self.sb_dir, self.ct_dir, os.path.join(opts.root, "cni")):
            os.makedirs(d, exist_ok=True)
        self._lock = threading.RLock()
        self._shims: dict[str, subprocess.Popen[bytes]] = {}
        self.sandboxes: dict[str, SandboxRecord] = {}
        self.containers: dict[str, ContainerRecord] = {}
        self._load()

    # ---- persistence and adoption
    def _load(self) -> None:
        """Adopt what a previous server left: records on disk; running containers stay running under their shims."""
        for ident in os.listdir(self.ct_dir):
            path = os.path.join(self.ct_dir, ident, "container.json")
            if os.path.exists(path):
                c = state.load_container(path)
                if c.complete:
                    self.containers[ident] = c
                    continue
                self._release_container_files(c)  # CreateContainer died half way
            else:
                for point in linux.mounts_under(os.path.join(self.ct_dir, ident)):
                    linux.umount(point)
                shutil.rmtree(os.path.join(self.ct_dir, ident), ignore_errors=True)
        for ident in os.listdir(self.sb_dir):
            path = os.path.join(self.sb_dir, ident, "sandbox.json")
            if os.path.exists(path):
                sb = state.load_sandbox(path)
                if sb.complete:
                    self.sandboxes[ident] = sb
                    continue
                self._teardown_sandbox(sb)  # RunPodSandbox died half way
                self._remove_made_cgroups(sb.cgroup_parent)
            shutil.rmtree(os.path.join(self.sb_dir, ident), ignore_errors=True)
        pod_cidr = os.path.join(self.opts.root, "pod-cidr")
        if os.path.exists(pod_cidr):
            with open(pod_cidr) as f:
                self.opts.pod_cidr = f.read().strip() or self.opts.pod_cidr

    def _save_sandbox(self, sb: SandboxRecord) -> None:
        state.save(os.path.join(self.sb_dir, sb.id, "sandbox.json"), sb)

    def _save_container(self, c: ContainerRecord) -> None:
        state.save(os.path.join(self.ct_dir, c.id, "container.json"), c)

    def _cdir(self, cid: str) -> str:
        return os.path.join(self.ct_dir, cid)

    def _sandbox(self, ident: str) -> SandboxRecord:
        sb = self.sandboxes.get(ident) or self._by_prefix(self.sandboxes, ident)
        if sb is None:
            raise _not_found("sandbox", ident)
        return sb

    def _container(self, ident: str) -> ContainerRecord:
        c = self.containers.get(ident) or self._by_prefix(self.containers, ident)
        if c is None:
            raise _not_found("container", ident)
        self._refresh(c)
        return c

    @staticmethod
    def _by_prefix(table: dict[str, Any], ident: str) -> Any:
        hits = [v for k, v in table.items() if ident and k.startswith(ident)]
        return hits[0] if len(hits) == 1 else None

    def _refresh(self, c: ContainerRecord) -> None:
        """Turn a finished process into an EXITED record (exit code, reason, OOM) the first time it is seen."""
        if c.state != state.RUNNING:
            return
        exit_path = os.path.join(self._cdir(c.id), "exit.json")
        popen = self._shims.get(c.id)
        if popen is not None:
            popen.poll()
        shim_gone = linux.proc_start_time(c.shim_pid) != c.shim_start
        # looked at after the liveness check: a shim that just wrote its exit and left must not count as lost
        if os.path.exists(exit_path):
            with open(exit_path) as f:
                doc = json.load(f)
            c.exit_code = state.exit_code_of(int(doc["status"]))
            c.finished_at = int(doc["finished_at"])
            oom = linux.oom_kills(c.cgroup) > 0
        elif shim_gone:
            # the shim is gone without writing the exit (killed): the process is gone with it (--kill-child)
            c.exit_code, c.finished_at, oom = 255, now_ns(), False
            c.message = "container shim exited unexpectedly"
        else:
            return
        c.state = state.EXITED
        c.reason = state.exit_reason(c.exit_code, oom)
        self._shims.pop(c.id, None)
        self._save_container(c)

    def refresh_all(self) -> None:
        with self._lock:
            for c in list(self.containers.values()):
                self._refresh(c)

    # ---- runtime info
    def version(self) -> api.VersionResponse:
        return api.VersionResponse(version="0.1.0", runtime_name=RUNTIME_NAME, runtime_version=RUNTIME_VERSION,
                                   runtime_api_version="v1")

    def status(self) -> api.StatusResponse:
        net_ok = all(os.access(os.path.join(self.opts.cni_bin_dir, p), os.X_OK) for p in ("bridge", "host-local"))
        conds = [api.RuntimeCondition(type="RuntimeReady", status=True),
                 api.RuntimeCondition(type="NetworkReady", status=net_ok,
                                      reason="" if net_ok else "NetworkPluginNotReady",
                                      message="" if net_ok else "Network plugin returns error: cni plugin not initialized")]
        return api.StatusResponse(status=api.RuntimeStatus(conditions=conds),
                                  runtime_handlers=[api.RuntimeHandler(name="")])

    def update_runtime_config(self, pod_cidr: str) -> None:
        if pod_cidr:
            ipaddress.ip_network(pod_cidr)
            self.opts.pod_cidr = pod_cidr
            with open(os.path.join(self.opts.root, "pod-cidr"), "w") as f:
                f.write(pod_cidr)

    # ---- sandboxes
    def _cni_conf(self) -> dict[str, Any]:
        return {"cniVersion": "1.0.0", "name": self.opts.network_name, "type": "bridge", "bridge": self.opts.bridge,
                "isGateway": True, "ipMasq": False, "hairpinMode": True,
                "ipam": {"type": "host-local", "ranges": [[{"subnet": self.opts.pod_cidr}]],
                         "routes": [{"dst": "0.0.0.0/0"}], "dataDir": os.path.join(self.opts.root, "cni")}}

    def _portmap_conf(self, sb: SandboxRecord, prev: dict[str, Any] | None = None) -> dict[str, Any]:
        """hostPort mappings by the CNI portmap plugin (iptables DNAT), chained after the bridge as containerd
        does; `prev` is the bridge's result (needed by ADD only)."""
        conf: dict[str, Any] = {"cniVersion": "1.0.0", "name": self.opts.network_name, "type": "portmap",
                                "capabilities": {"portMappings": True}, "snat": True,
                                "runtimeConfig": {"portMappings": sb.port_mappings}}
        if prev is not None:
            conf["prevResult"] = prev
        return conf

    def run_sandbox(self, config: api.PodSandboxConfig, handler: str) -> str:
        if handler:
            raise CRIFailure(grpc.StatusCode.UNKNOWN, f"no runtime for \"{handler}\" is configured")
        sid = secrets.token_hex(32)
        meta = config.metadata
        ns_opts = config.linux.security_context.namespace_options
        host_net = ns_opts.network == api.NODE
        sb = SandboxRecord(id=sid, name=meta.name, uid=meta.uid, namespace=meta.namespace, attempt=meta.attempt,
                           created_at=now_ns(), hostname=config.hostname or meta.name,
                           log_directory=config.log_directory,
                           cgroup_parent=config.linux.cgroup_parent or f"{self.opts.cgroup_parent}/{sid}",
                           labels=dict(config.labels), annotations=dict(config.annotations),
                           runtime_handler=handler, host_network=host_net, host_pid=ns_opts.pid == api.NODE,
                           host_ipc=ns_opts.ipc == api.NODE, pid_mode=ns_opts.pid,
                           config=base64.b64encode(config.SerializeToString()).decode())
        d = os.path.join(self.sb_dir, sid)
        os.makedirs(d)
        try:
            with self._lock:
                self.sandboxes[sid] = sb
            # the intent first: a server killed half way finds the netns name and sweeps it at its next start
            sb.complete = False
            sb.netns = "" if host_net else self.opts.netns_prefix + sid[:16]
            self._save_sandbox(sb)
            self._write_etc(d, sb, config.dns_config)
            for ns in ("uts", "ipc"):
                open(os.path.join(d, ns), "w").close()
            linux.run(["unshare", f"--uts={d}/uts", f"--ipc={d}/ipc", "hostname", sb.hostname if not host_net
                       else os.uname().nodename])
            sb.cgroup_parent_made = linux.cgroup_create(sb.cgroup_parent)
            self._note_made_cgroups(sb.cgroup_parent_made)
            self._save_sandbox(sb)
            if not host_net:
                path = linux.netns_add(sb.netns)
                linux.cni("ADD", self.opts.cni_bin_dir, {"cniVersion": "1.0.0", "name": "lo", "type": "loopback"},
                          sid, path, "lo")
                result = linux.cni("ADD", self.opts.cni_bin_dir, self._cni_conf(), sid, path)
                ips = [i["address"].split("/")[0] for i in result.get("ips", [])]
                sb.ip = ips[0] if ips else ""
                sb.port_mappings = [{"hostPort": m.host_port, "containerPort": m.container_port,
                                     "protocol": api.Protocol.Name(m.protocol).lower(), "hostIP": m.host_ip}
                                    for m in config.port_mappings if m.host_port]
                if sb.port_mappings:
                    self._save_sandbox(sb)  # before the iptables rules exist, so a sweep deletes them
                    linux.cni("ADD", self.opts.cni_bin_dir, self._portmap_conf(sb, result), sid, path)
            sb.complete = True
            self._save_sandbox(sb)
        except Exception as e:
            self._teardown_sandbox(sb)
            with self._lock:
                self.sandboxes.pop(sid, None)
            shutil.rmtree(d, ignore_errors=True)
            if isinstance(e, CRIFailure):
                raise
            raise CRIFailure(grpc.StatusCode.UNKNOWN,
                             f"failed to setup network for sandbox \"{sid}\": {e}") from None
        return sid

    @staticmethod
    def _write_etc(d: str, sb: SandboxRecord, dns: api.DNSConfig) -> None:
        with open(os.path.join(d, "hostname"), "w") as f:
            f.write(sb.hostname + "\n")
        if dns.servers or dns.searches or dns.options:
            lines = [f"search {' '.join(dns.searches)}"] if dns.searches else []
            lines += [f"nameserver {s}" for s in dns.servers]
            lines += [f"options {' '.join(dns.options)}"] if dns.options else []
            with open(os.path.join(d, "resolv.conf"), "w") as f:
                f.write("\n".join(lines) + "\n")
        else:
            try:
                shutil.copyfile("/etc/resolv.conf", os.path.join(d, "resolv.conf"))
            except OSError:
                open(os.path.join(d, "resolv.conf"), "w").close()

    def _teardown_sandbox(self, sb: SandboxRecord) -> None:
        """Network down and namespaces released; idempotent (StopPodSandbox may come many times)."""
        d = os.path.join(self.sb_dir, sb.id)
        if sb.netns and os.path.exists(linux.netns_path(sb.netns)):
            if sb.port_mappings:
                try:
                    linux.cni("DEL", self.opts.cni_bin_dir, self._portmap_conf(sb), sb.id,
                              linux.netns_path(sb.netns))
                except OSError:
                    pass
            try:
                linux.cni("DEL", self.opts.cni_bin_dir, self._cni_conf(), sb.id, linux.netns_path(sb.netns))
            except OSError:
                pass
            linux.netns_delete(sb.netns)
        for ns in ("uts", "ipc"):
            linux.umount(os.path.join(d, ns))

    # Pod cgroup parents may be shared (the kubelet's --cgroup-root for every pod) and their ancestors made by
    # whichever pod came first: every cgroup this root ever made is listed in <root>/cgroups-made, and each is
    # removed once empty, by whichever pod leaves last (or by cleanup_root).
    def _made_path(self) -> str:
        return os.path.join(self.opts.root, "cgroups-made")

    def _made_cgroups(self) -> list[str]:
        try:
            with open(self._made_path()) as f:
                return [line.strip() for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def _note_made_cgroups(self, made: list[str]) -> None:
        if made:
            with self._lock, open(self._made_path(), "a") as f:
                f.write("".join(m + "\n" for m in made))

    def _remove_made_cgroups(self, rel: str) -> None:
        """The pod's cgroup and its ancestors that this root made, deepest first, each if now empty."""
        rel = "/" + rel.strip("/")
        with self._lock:
            made = self._made_cgroups()
            for path in sorted((m for m in set(made) if rel == m or rel.startswith(m + "/")),
                               key=lambda m: -m.count("/")):
                linux.cgroup_remove(path)
            left = [m for m in made if os.path.isdir(linux.cgroup_path("memory", m))]
            with open(self._made_path(), "w") as f:
                f.write("".join(m + "\n" for m in dict.fromkeys(left)))

    def stop_sandbox(self, sid: str) -> None:
        with self._lock:
            sb = self.sandboxes.get(sid)
        if sb is None:
            return
        for c in [c for c in self.containers.values() if c.sandbox_id == sid]:
            self.kill_container(c.id)
        with self._lock:
            self._stop_pause(sb)
            self._teardown_sandbox(sb)
            sb.state = state.SANDBOX_NOTREADY
            self._save_sandbox(sb)

    def remove_sandbox(self, sid: str) -> None:
        with self._lock:
            sb = self.sandboxes.get(sid)
        if sb is None:
            return
        for c in [c for c in self.containers.values() if c.sandbox_id == sid]:
            self.remove_container(c.id)
        with self._lock:
            self._stop_pause(sb)
            self._teardown_sandbox(sb)
            self._remove_made_cgroups(sb.cgroup_parent)
            shutil.rmtree(os.path.join(self.sb_dir, sid), ignore_errors=True)
            self.sandboxes.pop(sid, None)

    def sandbox_status(self, sid: str, with_containers: bool = False) -> api.PodSandboxStatusResponse:
        with self._lock:
            sb = self._sandbox(sid)
            ns = api.NamespaceOption(network=api.NODE if sb.host_network else api.POD,
                                     pid=api.NODE if sb.host_pid else api.CONTAINER,
                                     ipc=api.NODE if sb.host_ipc else api.POD)
            status = api.PodSandboxStatus(
                id=sb.id, metadata=self._sb_meta(sb), state=sb.state,  # type: ignore[arg-type]
                created_at=sb.created_at, network=api.PodSandboxNetworkStatus(ip=sb.ip),
                linux=api.LinuxPodSandboxStatus(namespaces=api.Namespace(options=ns)),
                labels=sb.labels, annotations=sb.annotations, runtime_handler=sb.runtime_handler)
            resp = api.PodSandboxStatusResponse(status=status, timestamp=now_ns())
            if with_containers:
                resp.containers_statuses.extend(self._status_of(c) for c in self.containers.values()
                                                if c.sandbox_id == sb.id)
            return resp

    @staticmethod
    def _sb_meta(sb: SandboxRecord) -> api.PodSandboxMetadata:
        return api.PodSandboxMetadata(name=sb.name, uid=sb.uid, namespace=sb.namespace, attempt=sb.attempt)

    def list_sandboxes(self, flt: api.PodSandboxFilter) -> list[api.PodSandbox]:
        out = []
        with self._lock:
            for sb in self.sandboxes.values():
                if flt.id and not sb.id.startswith(flt.id):
                    continue
                if flt.HasField("state") and sb.state != flt.state.state:
                    continue
                if any(sb.labels.get(k) != v for k, v in flt.label_selector.items()):
                    continue
                out.append(api.PodSandbox(id=sb.id, metadata=self._sb_meta(sb), state=sb.state,  # type: ignore[arg-type]
                                          created_at=sb.created_at, labels=sb.labels, annotations=sb.annotations,
                                          runtime_handler=sb.runtime_handler))
        return out

    # ---- containers
    def _image(self, ref: str) -> StoredImage:
        try:
            return self.images.resolve(ref)
        except ImageNotFound:
            raise CRIFailure(grpc.StatusCode.NOT_FOUND,
                             f"failed to get image \"{ref}\": image \"{ref}\": not found") from None

    def create_container(self, sid: str, config: api.ContainerConfig) -> str:
        with self._lock:
            sb = self._sandbox(sid)
            if sb.state != state.SANDBOX_READY:
                raise CRIFailure(grpc.StatusCode.UNKNOWN, f"sandbox container \"{sid}\" is not running")
            name = config.metadata.name
            for other in self.containers.values():
                if other.sandbox_id == sid and other.name == name and other.attempt == config.metadata.attempt:
                    raise CRIFailure(grpc.StatusCode.UNKNOWN,
                                     f"failed to reserve container name \"{name}_{sb.name}_{sb.namespace}_{sb.uid}_"
                                     f"{config.metadata.attempt}\": name is reserved for \"{other.id}\"")
        img = self._image(config.image.image)
        cid = secrets.token_hex(32)
        d = self._cdir(cid)
        merged = os.path.join(d, "rootfs")
        for sub in ("upper", "work", "rootfs"):
            os.makedirs(os.path.join(d, sub))
        env = state.environment(img.config, [(e.key, e.value) for e in config.envs], sb.hostname)
        argv = state.command_line(img.config, list(config.command), list(config.args))
        img_cfg = img.config.get("config") or {}
        working_dir = config.working_dir or img_cfg.get("WorkingDir") or "/"
        sec = config.linux.security_context
        user = str(sec.run_as_user.value) if sec.HasField("run_as_user") else (sec.run_as_username or img.user)
        if sec.HasField("run_as_group"):
            user = f"{user.partition(':')[0] or '0'}:{sec.run_as_group.value}"
        res = config.linux.resources
        # the kubelet names the container's PID namespace (CONTAINER unless shareProcessNamespace); POD is the CRI
        # default, as in containerd. A config with no security context at all takes the sandbox's mode instead.
        pid_mode = sec.namespace_options.pid if config.linux.HasField("security_context") else sb.pid_mode
        c = ContainerRecord(
            id=cid, sandbox_id=sid, name=name, attempt=config.metadata.attempt, created_at=now_ns(),
            image=config.image.image, image_ref=(img.pulled_digests or [img.id])[0], image_id=img.id, argv=argv,
            env=env, working_dir=working_dir,
            log_path=os.path.join(sb.log_directory, config.log_path) if sb.log_directory and config.log_path else "",
            cgroup=f"{sb.cgroup_parent}/{cid}", labels=dict(config.labels), annotations=dict(config.annotations),
            mounts=[{"container_path": m.container_path, "host_path": m.host_path, "readonly": m.readonly}
                    for m in config.mounts],
            resources={"cpu_period": res.cpu_period, "cpu_quota": res.cpu_quota, "cpu_shares": res.cpu_shares,
                       "memory_limit_in_bytes": res.memory_limit_in_bytes, "oom_score_adj": res.oom_score_adj},
            tty=config.tty, stdin=config.stdin, stdin_once=config.stdin_once,
            host_pid=sb.host_pid or pid_mode == api.NODE,
            pod_pid=not sb.host_pid and pid_mode == api.POD)
        try:
            c.complete = False
            self._save_container(c)  # the intent: a server killed half way sweeps these mounts and cgroups
            ids = state.lookup_user(self.images.rootfs(img.id), user)
            if ids is None:
                raise CRIFailure(grpc.StatusCode.UNKNOWN, f"failed to generate spec: no users found for \"{user}\"")
            c.uid, c.gid = ids
            linux.mount("overlay", merged, "overlay", 0,
                        f"lowerdir={self.images.rootfs(img.id)},upperdir={d}/upper,workdir={d}/work")
            self._populate_rootfs(c, sb, merged)
            linux.cgroup_create(c.cgroup)
            self._apply_resources(c)
            with self._lock:
                c.complete = True
                self.containers[cid] = c
                self._save_container(c)
        except Exception as e:
            self._release_container_files(c)
            if isinstance(e, CRIFailure):
                raise
            raise CRIFailure(grpc.StatusCode.UNKNOWN, f"failed to create containerd container: {e}") from None
        return cid

    def _populate_rootfs(self, c: ContainerRecord, sb: SandboxRecord, merged: str) -> None:
        dev = os.path.join(merged, "dev")
        os.makedirs(dev, exist_ok=True)
        linux.mount("tmpfs", dev, "tmpfs", linux.MS_NOSUID, "mode=755,size=65536k")
        for name, (major, minor) in DEVICES.items():
            os.mknod(os.path.join(dev, name), stat.S_IFCHR | 0o666, os.makedev(major, minor))
            os.chmod(os.path.join(dev, name), 0o666)
        for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                             ("stderr", "/proc/self/fd/2"), ("ptmx", "pts/ptmx")):
            os.symlink(target, os.path.join(dev, name))
        os.makedirs(os.path.join(dev, "shm"))
        linux.mount("shm", os.path.join(dev, "shm"), "tmpfs", linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC,
                    "mode=1777,size=65536k")
        os.makedirs(os.path.join(dev, "pts"))
        linux.mount("devpts", os.path.join(dev, "pts"), "devpts", linux.MS_NOSUID | linux.MS_NOEXEC,
                    "newinstance,ptmxmode=0666,mode=0620")
        sbd = os.path.join(self.sb_dir, sb.id)
        wanted = {m["container_path"] for m in c.mounts}
        for fname in ("hostname", "resolv.conf"):
            if f"/etc/{fname}" not in wanted:
                linux.bind(os.path.join(sbd, fname), self._inside(merged, f"/etc/{fname}"))
        for m in c.mounts:
            src = m["host_path"]
            if not os.path.exists(src):
                os.makedirs(src, exist_ok=True)  # as containerd: a missing host path becomes a directory
            linux.bind(src, self._inside(merged, m["container_path"]), m["readonly"])

    @staticmethod
    def _inside(merged: str, path: str) -> str:
        """A path in the container as a host path, symlinks resolved inside the rootfs (never out of it)."""
        real = state._resolve_in_root(merged, path)
        if real is None or not os.path.realpath(real).startswith(os.path.realpath(merged)):
            raise CRIFailure(grpc.StatusCode.UNKNOWN, f"mount destination {path} resolves outside the rootfs")
        return real

    def _apply_resources(self, c: ContainerRecord) -> None:
        r = c.resources
        if r.get("memory_limit_in_bytes"):
            linux.cgroup_write("memory", c.cgroup, "memory.limit_in_bytes", r["memory_limit_in_bytes"])
        if r.get("cpu_period"):
            linux.cgroup_write("cpu", c.cgroup, "cpu.cfs_period_us", r["cpu_period"])
        if r.get("cpu_quota"):
            linux.cgroup_write("cpu", c.cgroup, "cpu.cfs_quota_us", r["cpu_quota"])
        if r.get("cpu_shares"):
            linux.cgroup_write("cpu", c.cgroup, "cpu.shares", r["cpu_shares"])

    def update_resources(self, cid: str, res: api.LinuxContainerResources) -> None:
        with self._lock:
            c = self._container(cid)
            c.resources.update({k: getattr(res, k) for k in ("cpu_period", "cpu_quota", "cpu_shares",
                                                              "memory_limit_in_bytes") if getattr(res, k)})
            self._apply_resources(c)
            self._save_container(c)

    def start_container(self, cid: str) -> None:
        with self._lock:
            c = self._container(cid)
            if c.state != state.CREATED:
                raise CRIFailure(grpc.StatusCode.UNKNOWN,
                                 f"container {cid} is not in created state: {_state_name(c.state)}")
            sb = self._sandbox(c.sandbox_id)
            merged = os.path.join(self._cdir(cid), "rootfs")
            exe = state.resolve_executable(merged, c.argv[0] if c.argv else "", c.env, c.working_dir)
            if exe is None:
                msg = state.not_found_message(c.argv[0]) if c.argv else \
                    "failed to create containerd task: failed to create shim task: OCI runtime create failed: " \
                    "runc create failed: unable to start container process: exec: no command specified: unknown"
                c.state, c.exit_code, c.reason, c.message = state.EXITED, 128, "StartError", msg
                c.started_at = c.finished_at = now_ns()
                self._save_container(c)
                raise CRIFailure(grpc.StatusCode.UNKNOWN, msg)
            if c.log_path:
                os.makedirs(os.path.dirname(c.log_path), exist_ok=True)
            sbd = os.path.join(self.sb_dir, sb.id)
            namespaces = [f"{sbd}/uts"] + ([] if sb.host_ipc else [f"{sbd}/ipc"]) + \
                ([linux.netns_path(sb.netns)] if sb.netns else [])
            # argv[0] as given: execvp looks it up in the rootfs with the container's PATH, as runc does
            spec = {"argv": c.argv, "env": c.env, "log_path": c.log_path, "namespaces": namespaces,
                    "rootfs": os.path.join(self._cdir(c.id), "rootfs"), "working_dir": c.working_dir,
                    "uid": c.uid, "gid": c.gid, "new_pid_namespace": not c.host_pid,
                    "pid_namespace": f"/proc/{self._pod_pid_namespace(sb)}/ns/pid" if c.pod_pid else "",
                    "stdin": c.stdin, "stdin_once": c.stdin_once, "tty": c.tty,
                    "cgroup_procs": [os.path.join(linux.cgroup_path(ctl, c.cgroup), "cgroup.procs")
                                     for ctl in linux.CONTROLLERS],
                    "oom_score_adj": c.resources.get("oom_score_adj") or None}
            d = self._cdir(cid)
            with open(os.path.join(d, "spec.json"), "w") as f:
                json.dump(spec, f)
            popen = subprocess.Popen([self.opts.python, "-I", "-S", SHIM, d], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=open(os.path.join(d, "shim.log"), "ab"),
                                     start_new_session=True, close_fds=True)
            self._shims[cid] = popen
        shim_json = os.path.join(d, "shim.json")
        deadline = time.monotonic() + 10
        while not os.path.exists(shim_json):
            if popen.poll() is not None or time.monotonic() > deadline:
                with open(os.path.join(d, "shim.log"), "rb") as f:
                    err = f.read().decode(errors="replace").strip()
                with self._lock:
                    c.state, c.exit_code, c.reason, c.message = state.EXITED, 128, "StartError", err
                    c.started_at = c.finished_at = now_ns()
                    self._save_container(c)
                raise CRIFailure(grpc.StatusCode.UNKNOWN, f"failed to start containerd task \"{cid}\": {err}")
            time.sleep(0.002)
        with open(shim_json) as f:
            doc = json.load(f)
        with self._lock:
            c.shim_pid, c.pid, c.started_at = popen.pid, int(doc["pid"]), int(doc["started_at"])
            c.shim_start = linux.proc_start_time(popen.pid) or 0
            c.state = state.RUNNING
            self._save_container(c)

    def _pod_pid_namespace(self, sb: SandboxRecord) -> int:
        """The pid of the pod's shared PID namespace holder, started on first use (called under the lock)."""
        if sb.pause_pid and linux.proc_start_time(sb.pause_pid) == sb.pause_start:
            return sb.pause_pid
        d = os.path.join(self.sb_dir, sb.id)
        namespaces = [f"{d}/uts"] + ([] if sb.host_ipc else [f"{d}/ipc"]) + \
            ([linux.netns_path(sb.netns)] if sb.netns else [])
        done = os.path.join(d, "pause.json")
        if os.path.exists(done):
            os.unlink(done)
        popen = subprocess.Popen([self.opts.python, "-I", "-S", SHIM, "--pause", d, *namespaces],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=open(os.path.join(d, "pause.log"), "ab"), start_new_session=True)
        self._shims[f"pause-{sb.id}"] = popen
        deadline = time.monotonic() + 10
        while not os.path.exists(done):
            if popen.poll() is not None or time.monotonic() > deadline:
                raise CRIFailure(grpc.StatusCode.UNKNOWN, "failed to start the pod's PID namespace holder")
            time.sleep(0.002)
        with open(done) as f:
            sb.pause_pid = int(json.load(f)["pid"])
        # wait until it is PID 1 of the new namespace (forked, so /proc/<pid>/ns/pid is the pod's)
        sb.pause_start = linux.proc_start_time(sb.pause_pid) or 0
        join_cgroup(popen.pid, sb.cgroup_parent)
        join_cgroup(sb.pause_pid, sb.cgroup_parent)
        self._save_sandbox(sb)
        return sb.pause_pid

    def _stop_pause(self, sb: SandboxRecord) -> None:
        if sb.pause_pid and linux.proc_start_time(sb.pause_pid) == sb.pause_start:
            try:
                os.kill(sb.pause_pid, signal.SIGKILL)  # and with it every process left in the namespace
            except ProcessLookupError:
                pass
        p = self._shims.pop(f"pause-{sb.id}", None)
        if p is not None:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
        sb.pause_pid = sb.pause_start = 0

    def reopen_log(self, cid: str) -> None:
        """Have the shim write to a fresh file at the log path (after the kubelet rotated the old one away)."""
        with self._lock:
            c = self._container(cid)
            if c.state != state.RUNNING:
                raise CRIFailure(grpc.StatusCode.UNKNOWN, f"container {c.id} is not running")
            if linux.proc_start_time(c.shim_pid) == c.shim_start:
                os.kill(c.shim_pid, signal.SIGUSR1)

    @staticmethod
    def init_pid(c: ContainerRecord) -> int:
        """The container's PID 1, as the host sees it (the shim's child)."""
        return c.pid

    def signal_container(self, cid: str, sig: int) -> bool:
        """Send `sig` to the container's init; False when it is not running."""
        with self._lock:
            c = self._container(cid)
            if c.state != state.RUNNING:
                return False
            try:
                os.kill(self.init_pid(c), sig)
            except ProcessLookupError:
                pass
            return True

    def kill_container(self, cid: str) -> None:
        """SIGKILL every process in the container's cgroup and wait for the shim to record the exit."""
        with self._lock:
            c = self.containers.get(cid)
            if c is None:
                return
            self._refresh(c)
            if c.state == state.CREATED:
                c.state, c.exit_code, c.finished_at, c.reason = state.EXITED, 0, now_ns(), ""
                self._save_container(c)
                return
            if c.state != state.RUNNING:
                return
            linux.cgroup_kill(c.cgroup)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with self._lock:
                self._refresh(c)
                if c.state != state.RUNNING:
                    return
                if c.pid:
                    try:
                        os.kill(c.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            time.sleep(0.01)

    async def stop_container(self, cid: str, timeout: int) -> None:
        """SIGTERM to PID 1, up to `timeout` seconds for it to exit, then SIGKILL to the whole cgroup."""
        if timeout > 0 and await asyncio.to_thread(self.signal_container, cid, signal.SIGTERM):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                with self._lock:
                    c = self._container(cid)
                    if c.state != state.RUNNING:
                        return
                await asyncio.sleep(0.02)
        else:
            with self._lock:
                self._container(cid)  # NotFound for an unknown id
        await asyncio.to_thread(self.kill_container, cid)

    def _release_container_files(self, c: ContainerRecord) -> None:
        d = self._cdir(c.id)
        for point in linux.mounts_under(os.path.join(d, "rootfs")):
            linux.umount(point)
        linux.cgroup_remove(c.cgroup)
        shutil.rmtree(d, ignore_errors=True)

    def remove_container(self, cid: str) -> None:
        with self._lock:
            c = self.containers.get(cid) or self._by_prefix(self.containers, cid)
        if c is None:
            return
        self.kill_container(c.id)
        with self._lock:
            p = self._shims.pop(c.id, None)
            if p is not None:
                p.poll()
            if c.shim_pid and linux.proc_start_time(c.shim_pid) == c.shim_start:
                try:
                    os.kill(c.shim_pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self._release_container_files(c)
            self.containers.pop(c.id, None)

    def _status_of(self, c: ContainerRecord) -> api.ContainerStatus:
        res = api.LinuxContainerResources()
        for k, v in c.resources.items():
            setattr(res, k, v)
        return api.ContainerStatus(
            id=c.id, metadata=api.ContainerMetadata(name=c.name, attempt=c.attempt),
            state=c.state,  # type: ignore[arg-type]
            created_at=c.created_at, started_at=c.started_at, finished_at=c.finished_at, exit_code=c.exit_code,
            image=api.ImageSpec(image=c.image), image_ref=c.image_ref, image_id=c.image_id, reason=c.reason,
            message=c.message, labels=c.labels, annotations=c.annotations, log_path=c.log_path,
            mounts=[api.Mount(container_path=m["container_path"], host_path=m["host_path"], readonly=m["readonly"])
                    for m in c.mounts],
            resources=api.ContainerResources(linux=res))

    def container_status(self, cid: str, verbose: bool = False) -> api.ContainerStatusResponse:
        with self._lock:
            c = self._container(cid)
            resp = api.ContainerStatusResponse(status=self._status_of(c))
            if verbose:
                resp.info["info"] = json.dumps({"pid": self.init_pid(c) if c.state == state.RUNNING else 0,
                                                "sandboxID": c.sandbox_id})
            return resp

    def list_containers(self, flt: api.ContainerFilter) -> list[api.Container]:
        out = []
        with self._lock:
            for c in self.containers.values():
                self._refresh(c)
                if flt.id and not c.id.startswith(flt.id):
                    continue
                if flt.pod_sandbox_id and not c.sandbox_id.startswith(flt.pod_sandbox_id):
                    continue
                if flt.HasField("state") and c.state != flt.state.state:
                    continue
                if any(c.labels.get(k) != v for k, v in flt.label_selector.items()):
                    continue
                out.append(api.Container(id=c.id, pod_sandbox_id=c.sandbox_id,
                                         metadata=api.ContainerMetadata(name=c.name, attempt=c.attempt),
                                         image=api.ImageSpec(image=c.image), image_ref=c.image_ref,
                                         image_id=c.image_id, created_at=c.created_at,
                                         state=c.state,  # type: ignore[arg-type]
                                         labels=c.labels, annotations=c.annotations))
        return out

    # ---- exec
    def exec_argv(self, cid: str, cmd: list[str], tty: bool = False) -> tuple[list[str], list[str], str]:
        """The host command line that runs `cmd` inside a running container, its env, and its cgroup."""
        with self._lock:
            c = self._container(cid)
            if c.state != state.RUNNING:
                raise CRIFailure(grpc.StatusCode.UNKNOWN, f"container {c.id} is not running")
            if not cmd:
                raise CRIFailure(grpc.StatusCode.INVALID_ARGUMENT, "cmd must not be empty")
            merged = os.path.join(self._cdir(c.id), "rootfs")
            if state.resolve_executable(merged, cmd[0], c.env, c.working_dir) is None:
                detail = state.not_found_message(cmd[0]).split("unable to start container process: ", 1)[1]
                raise CRIFailure(grpc.StatusCode.UNKNOWN,
                                 f"failed to exec in container: failed to start exec \"{secrets.token_hex(32)}\": "
                                 f"OCI runtime exec failed: exec failed: unable to start container process: {detail}")
            pid = self.init_pid(c)
            argv = [shutil.which("nsenter") or "/usr/bin/nsenter", "-t", str(pid), "-m", "-u", "-i", "-n", "-p",
                    "-r", "-w"]
            if c.uid or c.gid:
                argv += ["-S", str(c.uid), "-G", str(c.gid)]
            result = argv + ["--", *cmd], c.env, c.cgroup
        wait_until_inside_container(pid, c.id)
        return result

    def exec_sync(self, cid: str, cmd: list[str], timeout: int) -> api.ExecSyncResponse:
        argv, env, cgroup = self.exec_argv(cid, cmd)
        proc = subprocess.Popen(argv, env=dict(e.split("=", 1) for e in env), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        join_cgroup(proc.pid, cgroup)
        try:
            out, err = proc.communicate(timeout=timeout if timeout > 0 else None)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise CRIFailure(grpc.StatusCode.DEADLINE_EXCEEDED,
                             f"failed to exec in container: timeout {timeout}s exceeded: context deadline exceeded") \
                from None
        code = proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
        return api.ExecSyncResponse(stdout=out[:MAX_EXEC_OUTPUT], stderr=err[:MAX_EXEC_OUTPUT], exit_code=code)

    # ---- stats
    def container_stats(self, cid: str) -> api.ContainerStats:
        with self._lock:
            c = self._container(cid)
            return self._stats_of(c)

    def _stats_of(self, c: ContainerRecord) -> api.ContainerStats:
        ts = now_ns()
        attrs = api.ContainerAttributes(id=c.id, metadata=api.ContainerMetadata(name=c.name, attempt=c.attempt),
                                        labels=c.labels, annotations=c.annotations)
        stats = api.ContainerStats(attributes=attrs)
        try:
            cpu = int(linux.cgroup_read("cpuacct", c.cgroup, "cpuacct.usage"))
            stats.cpu.CopyFrom(api.CpuUsage(timestamp=ts, usage_core_nano_seconds=api.UInt64Value(value=cpu)))
            usage = int(linux.cgroup_read("memory", c.cgroup, "memory.usage_in_bytes"))
            mstat = dict(line.split() for line in linux.cgroup_read("memory", c.cgroup, "memory.stat").splitlines())
            working = max(0, usage - int(mstat.get("total_inactive_file", 0)))
            limit = int(linux.cgroup_read("memory", c.cgroup, "memory.limit_in_bytes"))
            mem = api.MemoryUsage(timestamp=ts, working_set_bytes=api.UInt64Value(value=working),
                                  usage_bytes=api.UInt64Value(value=usage),
                                  rss_bytes=api.UInt64Value(value=int(mstat.get("total_rss", 0))),
                                  page_faults=api.UInt64Value(value=int(mstat.get("total_pgfault", 0))),
                                  major_page_faults=api.UInt64Value(value=int(mstat.get("total_pgmajfault", 0))))
            if limit < (1 << 62):
                mem.available_bytes.value = max(0, limit - working)
            stats.memory.CopyFrom(mem)
        except (OSError, ValueError):
            pass
        upper = os.path.join(self._cdir(c.id), "upper")
        used, inodes = _du(upper)
        stats.writable_layer.CopyFrom(api.FilesystemUsage(
            timestamp=ts, fs_id=api.FilesystemIdentifier(mountpoint=upper),
            used_bytes=api.UInt64Value(value=used), inodes_used=api.UInt64Value(value=inodes)))
        return stats

    def list_container_stats(self, flt: api.ContainerStatsFilter) -> list[api.ContainerStats]:
        with self._lock:
            out = []
            for c in self.containers.values():
                self._refresh(c)
                if c.state != state.RUNNING:
                    continue
                if flt.id and not c.id.startswith(flt.id):
                    continue
                if flt.pod_sandbox_id and not c.sandbox_id.startswith(flt.pod_sandbox_id):
                    continue
                if any(c.labels.get(k) != v for k, v in flt.label_selector.items()):
                    continue
                out.append(self._stats_of(c))
            return out

    # ---- images
    def to_image(self, img: StoredImage) -> api.Image:
        # repo digests come from a registry pull; an imported image has none (as in containerd after `ctr import`)
        out = api.Image(id=img.id, repo_tags=img.repo_tags, repo_digests=img.pulled_digests, size=img.size,
                        spec=api.ImageSpec(image=img.id))
        user = img.user.partition(":")[0]
        if user.isdigit() or not user:
            out.uid.value = int(user or 0)
        else:
            out.username = user
        return out

    def image_status(self, ref: str) -> api.Image | None:
        try:
            return self.to_image(self.images.resolve(ref))
        except ImageNotFound:
            return None

    def pull_image(self, ref: str, auth: api.AuthConfig | None = None) -> str:
        """A name the store holds is answered from it (nothing here reaches a public registry, and imported images
        must stay usable under imagePullPolicy Always); any other is fetched from its registry, and a failure
        reads as containerd's, which the kubelet reports as ErrImagePull."""
        try:
            return self._pulled_ref(self.images.resolve(ref))
        except ImageNotFound:
            pass
        from agents.cri import imageref, registry

        try:
            parsed = imageref.parse(ref)
        except imageref.InvalidReference as e:
            raise CRIFailure(grpc.StatusCode.UNKNOWN, str(e)) from None
        creds = registry.Credentials()
        if auth is not None:
            user, password = auth.username, auth.password
            if auth.auth and not user:
                user, _, password = base64.b64decode(auth.auth).decode().partition(":")
            creds = registry.Credentials(user, password, auth.registry_token or auth.identity_token)
        try:
            fetched = registry.pull(parsed, creds, set(self.opts.insecure_registries))
            img = self.images.store_pulled(fetched, parsed.name)
        except (registry.PullError, OSError, ValueError) as e:
            raise CRIFailure(grpc.StatusCode.UNKNOWN,
                             f"failed to pull and unpack image \"{parsed}\": {e}") from None
        return self._pulled_ref(img)

    @staticmethod
    def _pulled_ref(img: StoredImage) -> str:
        """PullImage's image_ref as containerd answers it: the image id."""
        return img.id

    def remove_image(self, ref: str) -> None:
        in_use = {c.image_id for c in self.containers.values()}
        try:
            img = self.images.resolve(ref)
        except ImageNotFound:
            return
        self.images.remove(img.id, in_use)

    def image_fs_info(self) -> api.ImageFsInfoResponse:
        used, inodes = self.images.used_bytes()
        fs = api.FilesystemUsage(timestamp=now_ns(), fs_id=api.FilesystemIdentifier(mountpoint=self.images.root),
                                 used_bytes=api.UInt64Value(value=used), inodes_used=api.UInt64Value(value=inodes))
        return api.ImageFsInfoResponse(image_filesystems=[fs])


def join_cgroup(pid: int, cgroup: str) -> None:
    for ctl in linux.CONTROLLERS:
        try:
            with open(os.path.join(linux.cgroup_path(ctl, cgroup), "cgroup.procs"), "w") as f:
                f.write(str(pid))
        except OSError:
            pass


def _du(path: str) -> tuple[int, int]:
    size = inodes = 0
    for dirpath, dirnames, filenames in os.walk(path):
        inodes += len(dirnames) + len(filenames)
        for n in filenames:
            try:
                size += os.lstat(os.path.join(dirpath, n)).st_blocks * 512
            except OSError:
                pass
    return size, inodes


def _state_name(s: int) -> str:
    return {state.CREATED: "CONTAINER_CREATED", state.RUNNING: "CONTAINER_RUNNING", state.EXITED: "CONTAINER_EXITED"}.get(
        s, "CONTAINER_UNKNOWN")


def cleanup_root(opts: Options) -> None:
    """Remove every trace of the pods under `opts.root` (a test's teardown, or `raftkv-cri --cleanup`):
    processes, mounts, cgroups, netns and the bridge named in `opts`. Only what the records there name."""
    rt = ProcessRuntime(opts)
    for sid in list(rt.sandboxes):
        rt.remove_sandbox(sid)
    for cid in list(rt.containers):
        rt.remove_container(cid)
    for point in linux.mounts_under(opts.root):
        linux.umount(point)
    if os.path.exists(f"/sys/class/net/{opts.bridge}"):
        subprocess.run(["ip", "link", "delete", opts.bridge], capture_output=True, check=False)
    for path in sorted(set(rt._made_cgroups()), key=lambda m: -m.count("/")):
        linux.cgroup_remove(path)
    linux.cgroup_remove(opts.cgroup_parent)
