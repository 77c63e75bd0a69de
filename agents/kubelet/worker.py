"""One pod's worker (the kubelet's SyncPod / SyncTerminatingPod on CRI): runs the pure decisions against a
runtime and reports what happened through events and the waiting reasons the status shows.

Every call is one pass: read the runtime, decide (podsync), act, and return the status to write. The clock is
injected and nothing sleeps here, so tests drive a worker over the fake runtime step by step.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from agents.cri.client import CRIError
from agents.kubelet import cgroups, pullsecrets, volume_io
from agents.kubelet.backoff import Backoff, check_restart, container_key
from agents.kubelet.crimap import Runtime, container_config, inspect, sandbox_config
from agents.kubelet.dns import hosts_file, pod_dns
from agents.kubelet.durations import go_ms
from agents.kubelet.envvars import ConfigError, EnvSources, container_env, expand_command
from agents.kubelet.podsync import compute_actions, restart_count
from agents.kubelet.probe_run import run_probe
from agents.kubelet.probes import LIVENESS, READINESS, STARTUP, ProbeSpec, ProbeWorker, container_probes
from agents.kubelet.runtimeview import EXITED, PodRuntime
from agents.kubelet.status import StatusInputs, pod_status
from agents.kubelet.volumes import MountError, VolumeInputs, VolumePlan, container_mounts, plan_volumes
from raftkv._pb.runtime.v1 import api_pb2 as api

log = logging.getLogger(__name__)
Obj = dict[str, Any]
MIN_GRACE_S = 2  # the kubelet's minimumGracePeriodInSeconds after a preStop hook


class Host(Protocol):
    """What a worker needs from the rest of the kubelet (the API server's objects, events)."""

    def event(self, pod: Obj, field_path: str, type_: str, reason: str, message: str) -> None: ...
    async def env_sources(self, pod: Obj) -> EnvSources: ...
    async def volume_inputs(self, pod: Obj) -> VolumeInputs: ...
    async def pull_secrets(self, pod: Obj) -> list[Obj]: ...


@dataclass
class NodeContext:
    node_ip: str
    root_dir: str
    log_root: str
    memory_capacity: int
    runtime_prefix: str = "containerd://"
    cgroup_root: str = ""  # --cgroup-root: pods go under <root>/kubepods
    pod_pids_limit: int = -1
    cluster_dns: list[str] = field(default_factory=list)  # clusterDNS / --cluster-dns
    cluster_domain: str = ""  # clusterDomain / --cluster-domain
    resolv_conf: str = "/etc/resolv.conf"  # resolvConf / --resolv-conf ("": no host DNS)


def pod_full_name(pod: Obj) -> str:
    m = pod["metadata"]
    return f"{m['name']}_{m.get('namespace', 'default')}({m['uid']})"


def field_path(pod: Obj, name: str) -> str:
    for kind in ("initContainers", "containers"):
        if any(c.get("name") == name for c in (pod.get("spec") or {}).get(kind) or []):
            return f"spec.{kind}{{{name}}}"
    return ""


def grace_period(pod: Obj) -> int:
    meta = pod.get("metadata") or {}
    if meta.get("deletionGracePeriodSeconds") is not None:
        return int(meta["deletionGracePeriodSeconds"])
    g = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
    return 30 if g is None else int(g)


@dataclass
class Shared:
    """Kubelet-wide state workers share: container and image pull back-offs."""
    crash_backoff: Backoff = field(default_factory=Backoff)
    pull_backoff: Backoff = field(default_factory=Backoff)


class PodWorker:
    def __init__(self, uid: str, runtime: Runtime, host: Host, node: NodeContext, shared: Shared,
                 clock: Callable[[], float]) -> None:
        self.uid = uid
        self.runtime = runtime
        self.host = host
        self.node = node
        self.shared = shared
        self.clock = clock
        self.waiting: dict[str, tuple[str, str]] = {}
        self.probes: dict[tuple[str, str], ProbeWorker] = {}
        self.rt = PodRuntime()
        self.terminated = False  # containers and sandbox stopped after deletion (or the pod finished)
        self.volumes: list[VolumePlan] = []
        self.retry = False  # the last pass stopped short (sandbox or volume trouble): try again soon

    # ---------------------------------------------------------------- one pass
    async def sync(self, pod: Obj) -> Obj:
        """Bring the runtime toward the pod's spec; returns the status to report."""
        self.rt = await inspect(self.runtime, self.uid)
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            await self.terminate(pod)
            return self.status(pod)
        if self.terminated:
            return self.status(pod)
        self.retry = False
        pending = frozenset(cid for (cid, k), w in self.probes.items() if k == STARTUP and w.result is not True)
        acts = compute_actions(pod, self.rt, self._failed(LIVENESS), self._failed(STARTUP), pending)
        if acts.kill_pod:
            await self._kill_pod(pod, grace_period(pod), "")
        sandbox_id = acts.sandbox_id
        if acts.create_sandbox:
            sandbox_id = await self._run_sandbox(pod, acts.sandbox_attempt)
            if not sandbox_id:
                self.retry = True
                return self.status(pod)
        starting = bool(acts.start_init or acts.start)
        has_volumes = bool((pod.get("spec") or {}).get("volumes"))
        if starting or (has_volumes and any(s.ready for s in self.rt.sandboxes)):
            # before starting containers, and on every later pass: ConfigMap/Secret contents and projected
            # tokens are kept current in running pods, as the kubelet's volume manager does
            if not await self._set_up_volumes(pod) and starting:
                self.retry = True
                return self.status(pod)
        for k in acts.kill:
            self.host.event(pod, field_path(pod, k.name), "Normal", "Killing", k.message)
            await self._stop(pod, k.container_id, k.name, grace_period(pod))
        self.rt = await inspect(self.runtime, self.uid)
        for name in ([acts.start_init] if acts.start_init else []) + acts.start:
            await self._start(pod, name, sandbox_id)
        self.rt = await inspect(self.runtime, self.uid)
        status = self.status(pod)
        if status["phase"] in ("Succeeded", "Failed") and any(s.ready for s in self.rt.sandboxes):
            await self._kill_pod(pod, grace_period(pod), "")  # a finished pod keeps its containers, not its sandbox
            self.terminated = True
        return status

    def status(self, pod: Obj) -> Obj:
        ready = {cid: bool(w.result) for (cid, kind), w in self.probes.items() if kind == READINESS}
        started = {cid: w.result is True for (cid, kind), w in self.probes.items() if kind == STARTUP}
        inp = StatusInputs(node_ip=self.node.node_ip, now=self.clock(), runtime_prefix=self.node.runtime_prefix,
                           waiting=dict(self.waiting), ready=ready, started=started, terminal=self.terminated)
        return pod_status(pod, self.rt, inp)

    def _failed(self, kind: str) -> frozenset[str]:
        return frozenset(cid for (cid, k), w in self.probes.items() if k == kind and w.failed)

    # ---------------------------------------------------------------- sandbox and volumes
    def _dns(self, pod: Obj, events: bool = False) -> api.DNSConfig:
        """The pod's DNS (dns.pod_dns over the node's --resolv-conf), as the CRI DNSConfig."""
        host: str | None = None
        if self.node.resolv_conf:
            try:
                with open(self.node.resolv_conf) as f:
                    host = f.read()
            except OSError as e:
                log.warning("resolv conf %s: %s", self.node.resolv_conf, e)
                host = ""
        d = pod_dns(pod, self.node.cluster_dns, self.node.cluster_domain, host, [self.node.node_ip])
        for reason, msg in d.warnings if events else []:
            self.host.event(pod, "", "Warning", reason, msg)
        return api.DNSConfig(servers=d.config.servers, searches=d.config.searches, options=d.config.options)

    def _hosts_path(self) -> str:
        return os.path.join(self.node.root_dir, "pods", self.uid, "etc-hosts")

    def _write_hosts(self, pod: Obj) -> None:
        """The kubelet's managed /etc/hosts (<root>/pods/<uid>/etc-hosts), bound into each container."""
        ips = [s.ip for s in self.rt.sandboxes if s.ready and s.ip][:1]
        node_hosts = ""
        if (pod.get("spec") or {}).get("hostNetwork"):
            try:
                with open("/etc/hosts") as f:
                    node_hosts = f.read()
            except OSError:
                pass
        path = self._hosts_path()
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(hosts_file(pod, ips, self.node.cluster_domain, node_hosts))

    async def _run_sandbox(self, pod: Obj, attempt: int) -> str:
        cfg = sandbox_config(pod, attempt, self.node.log_root, self.node.cgroup_root, self._dns(pod, events=True))
        try:
            os.makedirs(cfg.log_directory, exist_ok=True)
            resp = await self.runtime.RunPodSandbox(api.RunPodSandboxRequest(config=cfg))
        except (CRIError, OSError) as e:
            self.host.event(pod, "", "Warning", "FailedCreatePodSandBox", f"Failed to create pod sandbox: {e}")
            return ""
        if attempt > 0:
            self.host.event(pod, "", "Normal", "SandboxChanged", "Pod sandbox changed, it will be killed and "
                            "re-created.")
        if self.node.pod_pids_limit > 0 and cfg.linux.cgroup_parent:
            try:
                cgroups.set_pids_max(cfg.linux.cgroup_parent, self.node.pod_pids_limit)
            except OSError as e:
                log.warning("pids.max for %s: %s", cfg.linux.cgroup_parent, e)
        self.rt = await inspect(self.runtime, self.uid)
        try:
            self._write_hosts(pod)
        except OSError as e:
            log.warning("hosts file for %s: %s", pod_full_name(pod), e)
        return resp.pod_sandbox_id

    async def _set_up_volumes(self, pod: Obj) -> bool:
        try:
            plans = plan_volumes(pod, await self.host.volume_inputs(pod))
            for p in plans:
                volume_io.set_up(p)
        except MountError as e:
            self.host.event(pod, "", "Warning", "FailedMount", str(e))
            return False
        except OSError as e:
            self.host.event(pod, "", "Warning", "FailedMount", f"MountVolume.SetUp failed: {e}")
            return False
        self.volumes = plans
        return True

    # ---------------------------------------------------------------- containers
    def _spec(self, pod: Obj, name: str) -> Obj:
        spec = pod.get("spec") or {}
        return next(c for c in list(spec.get("initContainers") or []) + list(spec.get("containers") or [])
                    if c["name"] == name)

    async def _start(self, pod: Obj, name: str, sandbox_id: str) -> None:
        container = self._spec(pod, name)
        fp = field_path(pod, name)
        prev = self.rt.latest(name)
        now = self.clock()
        if prev is not None and prev.state == EXITED:
            key = container_key(pod["metadata"]["name"], pod["metadata"].get("namespace", ""), self.uid, name)
            msg = check_restart(self.shared.crash_backoff, key, prev.finished_at, now, name, pod_full_name(pod))
            if msg is not None:
                self.waiting[name] = ("CrashLoopBackOff", msg)
                self.host.event(pod, fp, "Warning", "BackOff",
                                f"Back-off restarting failed container {name} in pod {pod_full_name(pod)}")
                return
        image_ref = await self._ensure_image(pod, container, fp)
        if image_ref is None:
            return
        try:
            sources = await self.host.env_sources(pod)
            sources.pod_ips = [s.ip for s in self.rt.sandboxes if s.ready and s.ip][:1] or sources.pod_ips
            env = container_env(pod, container, sources)
        except ConfigError as e:
            self.waiting[name] = ("CreateContainerConfigError", str(e))
            self.host.event(pod, fp, "Warning", "Failed", f"Error: {e}")
            return
        attempt = restart_count(self.rt, name)
        mounts = container_mounts(container, self.volumes)
        if os.path.exists(self._hosts_path()) and not any(m[0] == "/etc/hosts" for m in mounts):
            mounts.append(("/etc/hosts", self._hosts_path(), False))
        cfg = container_config(pod, container, attempt=attempt, env=env,
                               command=expand_command(list(container.get("command") or []), env),
                               args=expand_command(list(container.get("args") or []), env),
                               mounts=mounts, image=image_ref,
                               memory_capacity=self.node.memory_capacity)
        sb_cfg = sandbox_config(pod, self.rt.sandbox.attempt if self.rt.sandbox else 0, self.node.log_root,
                                self.node.cgroup_root, self._dns(pod))
        try:
            cid = (await self.runtime.CreateContainer(api.CreateContainerRequest(
                pod_sandbox_id=sandbox_id, config=cfg, sandbox_config=sb_cfg))).container_id
        except CRIError as e:
            # the kubelet shows the runtime's own message (the gRPC status's), not the whole rpc error
            self.waiting[name] = ("CreateContainerError", e.message)
            self.host.event(pod, fp, "Warning", "Failed", f"Error: {e.message}")
            return
        self.host.event(pod, fp, "Normal", "Created", f"Created container: {name}")
        try:
            await self.runtime.StartContainer(api.StartContainerRequest(container_id=cid))
        except CRIError as e:
            self.waiting[name] = ("RunContainerError", e.message)
            self.host.event(pod, fp, "Warning", "Failed", f"Error: {e.message}")
            return
        self.waiting.pop(name, None)
        self.host.event(pod, fp, "Normal", "Started", f"Started container {name}")
        post_start = (container.get("lifecycle") or {}).get("postStart")
        if post_start:
            err = await self._run_hook(pod, name, cid, post_start, grace_period(pod) or MIN_GRACE_S)
            if err:
                self.host.event(pod, fp, "Warning", "FailedPostStartHook", err)
                self.host.event(pod, fp, "Normal", "Killing", "FailedPostStartHook")
                await self._stop(pod, cid, name, grace_period(pod))
                self.waiting[name] = ("PostStartHookError", err)
                return
        self._add_probes(container, cid, self.clock())

    async def _ensure_image(self, pod: Obj, container: Obj, fp: str) -> str | None:
        """The kubelet's EnsureImageExists: pull policy, pull back-off, Pulling/Pulled/Failed/BackOff events."""
        name, image = container["name"], container.get("image", "")
        policy = container.get("imagePullPolicy") or ("Always" if _latest(image) else "IfNotPresent")
        spec = api.ImageSpec(image=image)
        try:
            present = (await self.runtime.ImageStatus(api.ImageStatusRequest(image=spec))).image
        except CRIError as e:
            self.waiting[name] = ("ImageInspectError", str(e))
            self.host.event(pod, fp, "Warning", "InspectFailed", f"Failed to inspect image \"{image}\": {e}")
            return None
        if policy != "Always" and present.id:
            self.host.event(pod, fp, "Normal", "Pulled", f'Container image "{image}" already present on machine')
            return present.id
        if policy == "Never":
            msg = f'Container image "{image}" is not present with pull policy of Never'
            self.waiting[name] = ("ErrImageNeverPull", msg)
            self.host.event(pod, fp, "Warning", "ErrImageNeverPull", msg)
            return None
        key = f"{self.uid}_{image}"
        now = self.clock()
        backoff = self.shared.pull_backoff
        if backoff.in_backoff_since_update(key, now):
            msg = f'Back-off pulling image "{image}"'
            self.waiting[name] = ("ImagePullBackOff", msg)
            self.host.event(pod, fp, "Normal", "BackOff", msg)
            self.host.event(pod, fp, "Warning", "Failed", "Error: ImagePullBackOff")
            return None
        self.host.event(pod, fp, "Normal", "Pulling", f'Pulling image "{image}"')
        start = self.clock()
        try:
            ref = await self._pull(pod, spec)
        except CRIError as e:
            backoff.next(key, now, now)
            self.waiting[name] = ("ErrImagePull", f'Failed to pull image "{image}": {e}')
            self.host.event(pod, fp, "Warning", "Failed", f'Failed to pull image "{image}": {e}')
            self.host.event(pod, fp, "Warning", "Failed", "Error: ErrImagePull")
            return None
        took = go_ms(self.clock() - start)
        size = 0
        try:
            size = (await self.runtime.ImageStatus(api.ImageStatusRequest(image=spec))).image.size
        except CRIError:
            pass
        self.host.event(pod, fp, "Normal", "Pulled", f'Successfully pulled image "{image}" in {took} ({took} '
                        f"including waiting). Image size: {size} bytes.")
        return ref

    async def _pull(self, pod: Obj, spec: api.ImageSpec) -> str:
        """PullImage with each matching imagePullSecret credential in turn (anonymous when none match)."""
        creds = pullsecrets.credentials(spec.image, await self.host.pull_secrets(pod))
        if not creds:
            return (await self.runtime.PullImage(api.PullImageRequest(image=spec))).image_ref
        last: CRIError | None = None
        for c in creds:
            auth = api.AuthConfig(username=c.username, password=c.password, server_address=c.server)
            try:
                return (await self.runtime.PullImage(api.PullImageRequest(image=spec, auth=auth))).image_ref
            except CRIError as e:
                last = e
        assert last is not None
        raise last

    def _add_probes(self, container: Obj, cid: str, started_at: float) -> None:
        for kind, probe in container_probes(container).items():
            self.probes[(cid, kind)] = ProbeWorker(kind, ProbeSpec.from_probe(probe), cid, started_at)

    # ---------------------------------------------------------------- probes
    async def probe(self, pod: Obj) -> bool:
        """Run every probe that is due; True when a result changed (status to write, maybe a restart)."""
        changed = False
        now = self.clock()
        live = {c.id: c for c in self.rt.running()}
        for key in [k for k in self.probes if k[0] not in live]:
            del self.probes[key]
        ip = self.rt.sandbox.ip if self.rt.sandbox else ""
        if (pod.get("spec") or {}).get("hostNetwork"):
            ip = self.node.node_ip
        due = []
        for (cid, kind), w in self.probes.items():
            startup = self.probes.get((cid, STARTUP))
            if w.due(now, startup_passed=startup is None or startup.result is True):
                due.append(((cid, kind), w))
        results = await asyncio.gather(*(self._run_one(pod, live[cid].name, cid, kind, ip)
                                         for (cid, kind), _ in due))
        for ((cid, kind), w), (ok, output) in zip(due, results, strict=True):
            name = live[cid].name
            if not ok:
                self.host.event(pod, field_path(pod, name), "Warning", "Unhealthy",
                                f"{kind} probe failed: {output}")
            if w.record(ok, self.clock()):
                changed = True
        return changed

    async def _run_one(self, pod: Obj, name: str, cid: str, kind: str, ip: str) -> tuple[bool, str]:
        container = self._spec(pod, name)
        probe = container_probes(container)[kind]
        try:
            return await run_probe(probe, self.runtime, container, cid, ip)
        except Exception as e:  # a probe that cannot even run is a failed probe, with the reason shown
            return False, str(e)

    def pending(self) -> bool:
        """Something waits on time alone (a back-off, a missing object, a failed sandbox or mount): the
        worker must look again soon even if nothing changes in the runtime or the API."""
        return self.retry or bool(self.waiting)

    def next_probe_time(self) -> float | None:
        times = [w.next_time() for w in self.probes.values() if not (w.on_hold or w.done)]
        return min(times) if times else None

    # ---------------------------------------------------------------- termination
    async def terminate(self, pod: Obj) -> None:
        if not self.terminated:
            await self._kill_pod(pod, grace_period(pod), "Stopping container {}")
            self.terminated = True
        self.rt = await inspect(self.runtime, self.uid)

    async def _kill_pod(self, pod: Obj, grace: int, message: str) -> None:
        running = self.rt.running()
        await asyncio.gather(*(self._kill_container(pod, c.id, c.name, grace, message) for c in running))
        for sb in self.rt.sandboxes:
            if sb.ready:
                try:
                    await self.runtime.StopPodSandbox(api.StopPodSandboxRequest(pod_sandbox_id=sb.id))
                except CRIError as e:
                    log.warning("stop sandbox %s: %s", sb.id, e)
        self.rt = await inspect(self.runtime, self.uid)

    async def _kill_container(self, pod: Obj, cid: str, name: str, grace: int, message: str) -> None:
        self.host.event(pod, field_path(pod, name), "Normal", "Killing",
                        message.format(name) if message else f"Stopping container {name}")
        await self._stop(pod, cid, name, grace)

    async def _stop(self, pod: Obj, cid: str, name: str, grace: int) -> None:
        start = self.clock()
        pre_stop = ((self._spec(pod, name).get("lifecycle") or {}).get("preStop")) if self._has(pod, name) else None
        if pre_stop and grace > 0:
            await self._run_pre_stop(pod, name, cid, pre_stop, grace)
            grace = max(MIN_GRACE_S, grace - int(self.clock() - start))
        try:
            await self.runtime.StopContainer(api.StopContainerRequest(container_id=cid, timeout=grace))
        except CRIError as e:
            if not e.not_found:
                log.warning("stop container %s: %s", cid, e)
        self.probes = {k: w for k, w in self.probes.items() if k[0] != cid}

    def _has(self, pod: Obj, name: str) -> bool:
        try:
            self._spec(pod, name)
            return True
        except StopIteration:
            return False

    async def _run_pre_stop(self, pod: Obj, name: str, cid: str, hook: Obj, grace: int) -> None:
        err = await self._run_hook(pod, name, cid, hook, grace)
        if err:
            self.host.event(pod, field_path(pod, name), "Warning", "FailedPreStopHook", err)

    async def _run_hook(self, pod: Obj, name: str, cid: str, hook: Obj, timeout: float) -> str | None:
        """A lifecycle handler (exec, httpGet, sleep); None when it succeeded, else the kubelet's message."""
        who = f'for Container "{name}" in Pod "{pod_full_name(pod)}"'
        if "sleep" in hook:
            await asyncio.sleep(min(timeout, int(hook["sleep"].get("seconds") or 0)))
            return None
        if "exec" in hook:
            cmd = list(hook["exec"].get("command") or [])
            try:
                resp = await self.runtime.ExecSync(api.ExecSyncRequest(container_id=cid, cmd=cmd,
                                                                       timeout=int(max(1, timeout))))
            except CRIError as e:
                return f"Exec lifecycle hook ({_go_list(cmd)}) {who} failed - error: {e}, message: \"\""
            if resp.exit_code == 0:
                return None
            output = (resp.stdout + resp.stderr).decode(errors="replace")
            err = f"command '{' '.join(cmd)}' exited with {resp.exit_code}: {resp.stderr.decode(errors='replace')}"
            return f"Exec lifecycle hook ({_go_list(cmd)}) {who} failed - error: {err}, message: {_go_quote(output)}"
        container = self._spec(pod, name)
        ip = self.rt.sandbox.ip if self.rt.sandbox else ""
        try:
            ok, out = await asyncio.wait_for(run_probe({**hook, "timeoutSeconds": timeout}, self.runtime,
                                                       container, cid, ip), timeout)
        except TimeoutError:
            ok, out = False, "context deadline exceeded"
        if ok:
            return None
        path = (hook.get("httpGet") or {}).get("path", "")
        return f"HTTP lifecycle hook ({path}) {who} failed - error: {out}"

    def gone(self) -> bool:
        """Nothing of the pod runs any more (its object may now be deleted)."""
        return not self.rt.running() and not any(s.ready for s in self.rt.sandboxes)

    async def remove(self) -> None:
        """After the pod object is gone: remove containers, sandboxes and the pod's directory."""
        rt = await inspect(self.runtime, self.uid)
        for c in rt.containers:
            try:
                await self.runtime.RemoveContainer(api.RemoveContainerRequest(container_id=c.id))
            except CRIError as e:
                log.warning("remove container %s: %s", c.id, e)
        for sb in rt.sandboxes:
            try:
                if sb.ready:
                    await self.runtime.StopPodSandbox(api.StopPodSandboxRequest(pod_sandbox_id=sb.id))
                await self.runtime.RemovePodSandbox(api.RemovePodSandboxRequest(pod_sandbox_id=sb.id))
            except CRIError as e:
                log.warning("remove sandbox %s: %s", sb.id, e)
        volume_io.tear_down(self.node.root_dir, self.uid)


def _latest(image: str) -> bool:
    last = image.rsplit("/", 1)[-1]
    if "@" in last:
        return False
    return ":" not in last or last.endswith(":latest")


def _go_list(items: list[str]) -> str:
    return "[" + " ".join(items) + "]"


def _go_quote(text: str) -> str:
    """Go's %q of a string (the common escapes)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'


