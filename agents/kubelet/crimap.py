"""Between the kubelet and CRI runtime.v1: the runtime Protocol, the pod's runtime view read from it, and the
sandbox/container configs written to it (labels, annotations, log paths and resources as the kubelet sets them).
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from agents.kubelet import runtimeview as rv
from agents.kubelet.podsync import container_hash
from agents.kubelet.qos import pod_qos
from agents.kubelet.quantity import millicores, units
from raftkv._pb.runtime.v1 import api_pb2 as api

Obj = dict[str, Any]
NS = 1e9
CPU_PERIOD_US = 100_000
MIN_SHARES = 2
_STATES = {api.CONTAINER_CREATED: rv.CREATED, api.CONTAINER_RUNNING: rv.RUNNING, api.CONTAINER_EXITED: rv.EXITED,
           api.CONTAINER_UNKNOWN: rv.UNKNOWN}


class Runtime(Protocol):
    """The CRI methods the kubelet calls (agents.cri.client.RuntimeClient and the fake both have them)."""

    async def Version(self, req: api.VersionRequest) -> api.VersionResponse: ...
    async def Status(self, req: api.StatusRequest) -> api.StatusResponse: ...
    async def RunPodSandbox(self, req: api.RunPodSandboxRequest) -> api.RunPodSandboxResponse: ...
    async def StopPodSandbox(self, req: api.StopPodSandboxRequest) -> api.StopPodSandboxResponse: ...
    async def RemovePodSandbox(self, req: api.RemovePodSandboxRequest) -> api.RemovePodSandboxResponse: ...
    async def PodSandboxStatus(self, req: api.PodSandboxStatusRequest) -> api.PodSandboxStatusResponse: ...
    async def ListPodSandbox(self, req: api.ListPodSandboxRequest) -> api.ListPodSandboxResponse: ...
    async def CreateContainer(self, req: api.CreateContainerRequest) -> api.CreateContainerResponse: ...
    async def StartContainer(self, req: api.StartContainerRequest) -> api.StartContainerResponse: ...
    async def StopContainer(self, req: api.StopContainerRequest) -> api.StopContainerResponse: ...
    async def RemoveContainer(self, req: api.RemoveContainerRequest) -> api.RemoveContainerResponse: ...
    async def ListContainers(self, req: api.ListContainersRequest) -> api.ListContainersResponse: ...
    async def ContainerStatus(self, req: api.ContainerStatusRequest) -> api.ContainerStatusResponse: ...
    async def ExecSync(self, req: api.ExecSyncRequest) -> api.ExecSyncResponse: ...
    async def Exec(self, req: api.ExecRequest) -> api.ExecResponse: ...
    async def Attach(self, req: api.AttachRequest) -> api.AttachResponse: ...
    async def ImageStatus(self, req: api.ImageStatusRequest) -> api.ImageStatusResponse: ...
    async def PullImage(self, req: api.PullImageRequest) -> api.PullImageResponse: ...


def pod_labels(pod: Obj) -> dict[str, str]:
    meta = pod["metadata"]
    return {rv.POD_NAME: meta["name"], rv.POD_NAMESPACE: meta.get("namespace", "default"), rv.POD_UID: meta["uid"]}


async def list_pod_uids(runtime: Runtime) -> dict[str, list[str]]:
    """Sandbox ids by pod uid for every sandbox the kubelet made (adoption after a restart, orphan cleanup)."""
    out: dict[str, list[str]] = {}
    for sb in (await runtime.ListPodSandbox(api.ListPodSandboxRequest())).items:
        uid = sb.labels.get(rv.POD_UID)
        if uid:
            out.setdefault(uid, []).append(sb.id)
    return out


async def inspect(runtime: Runtime, uid: str) -> rv.PodRuntime:
    """Every sandbox and container of pod `uid` (the kubelet's GetPodStatus)."""
    sel = {rv.POD_UID: uid}
    sandboxes = []
    for item in (await runtime.ListPodSandbox(api.ListPodSandboxRequest(
            filter=api.PodSandboxFilter(label_selector=sel)))).items:
        st = (await runtime.PodSandboxStatus(api.PodSandboxStatusRequest(pod_sandbox_id=item.id))).status
        sandboxes.append(rv.Sandbox(id=st.id, ready=st.state == api.SANDBOX_READY, attempt=st.metadata.attempt,
                                    created_at=st.created_at / NS, ip=st.network.ip,
                                    additional_ips=tuple(i.ip for i in st.network.additional_ips)))
    containers = []
    for item in (await runtime.ListContainers(api.ListContainersRequest(
            filter=api.ContainerFilter(label_selector=sel)))).containers:
        cs = (await runtime.ContainerStatus(api.ContainerStatusRequest(container_id=item.id))).status
        containers.append(rv.Container(
            id=cs.id, name=cs.metadata.name, state=_STATES.get(cs.state, rv.UNKNOWN), attempt=cs.metadata.attempt,
            restart_count=int(cs.annotations.get(rv.RESTART_COUNT) or 0),
            spec_hash=cs.annotations.get(rv.CONTAINER_HASH, ""), created_at=cs.created_at / NS,
            started_at=cs.started_at / NS, finished_at=cs.finished_at / NS, exit_code=cs.exit_code,
            reason=cs.reason, message=cs.message,
            image=cs.image.user_specified_image or cs.image.image, image_ref=cs.image_ref))
    return rv.PodRuntime(sandboxes=tuple(sorted(sandboxes, key=lambda s: -s.created_at)),
                         containers=tuple(containers))


def pod_cgroup(pod: Obj, cgroup_root: str) -> str:
    """The pod's cgroup as the kubelet's cgroupfs driver names it: <root>/kubepods[/burstable|/besteffort]/pod<uid>
    ("" without --cgroup-root: the runtime then picks one)."""
    if not cgroup_root:
        return ""
    qos = pod_qos(pod)
    tier = "" if qos == "Guaranteed" else f"/{qos.lower()}"
    return f"/{cgroup_root.strip('/')}/kubepods{tier}/pod{pod['metadata']['uid']}"


def namespace_options(pod: Obj) -> api.NamespaceOption:
    """The kubelet's namespacesForPod: each container is PID 1 of its own PID namespace unless the pod shares
    one (shareProcessNamespace) or uses the node's; network and IPC are the pod's or the node's."""
    spec = pod.get("spec") or {}
    pid = api.NODE if spec.get("hostPID") else (api.POD if spec.get("shareProcessNamespace") else api.CONTAINER)
    return api.NamespaceOption(network=api.NODE if spec.get("hostNetwork") else api.POD, pid=pid,
                               ipc=api.NODE if spec.get("hostIPC") else api.POD)


def sandbox_config(pod: Obj, attempt: int, log_root: str, cgroup_root: str = "",
                   dns: api.DNSConfig | None = None) -> api.PodSandboxConfig:
    meta = pod["metadata"]
    spec = pod.get("spec") or {}
    ports = [api.PortMapping(protocol=api.Protocol.Value(p.get("protocol") or "TCP"),
                             container_port=int(p["containerPort"]), host_port=int(p.get("hostPort") or 0),
                             host_ip=p.get("hostIP", ""))
             for c in spec.get("containers") or [] for p in c.get("ports") or [] if p.get("hostPort")]
    security = api.LinuxSandboxSecurityContext(namespace_options=namespace_options(pod))
    annotations = dict(meta.get("annotations") or {})
    return api.PodSandboxConfig(
        metadata=api.PodSandboxMetadata(name=meta["name"], uid=meta["uid"], namespace=meta.get("namespace", ""),
                                        attempt=attempt),
        hostname=spec.get("hostname") or meta["name"],
        log_directory=f"{log_root}/{meta.get('namespace')}_{meta['name']}_{meta['uid']}",
        dns_config=dns, port_mappings=ports,
        labels={**(meta.get("labels") or {}), **pod_labels(pod)}, annotations=annotations,
        linux=api.LinuxPodSandboxConfig(cgroup_parent=pod_cgroup(pod, cgroup_root), security_context=security))


def oom_score_adj(pod: Obj, container: Obj, memory_capacity: int) -> int:
    """The kubelet's GetContainerOOMScoreAdjust (runtimes clamp what they cannot set)."""
    qos = pod_qos(pod)
    if qos == "Guaranteed":
        return -997
    if qos == "BestEffort":
        return 1000
    req = (container.get("resources") or {}).get("requests", {}).get("memory")
    if not req or memory_capacity <= 0:
        return 999
    adj = 1000 - (1000 * units(req)) // memory_capacity
    return int(max(min(adj, 999), 3))


def linux_resources(pod: Obj, container: Obj, memory_capacity: int) -> api.LinuxContainerResources:
    res = container.get("resources") or {}
    limits = res.get("limits") or {}
    requests = res.get("requests") or {}
    cpu_req = requests.get("cpu") or limits.get("cpu")
    shares = max(MIN_SHARES, millicores(cpu_req) * 1024 // 1000) if cpu_req else MIN_SHARES
    out = api.LinuxContainerResources(cpu_shares=shares, oom_score_adj=oom_score_adj(pod, container,
                                                                                    memory_capacity))
    if limits.get("cpu"):
        out.cpu_period = CPU_PERIOD_US
        out.cpu_quota = max(1000, millicores(limits["cpu"]) * CPU_PERIOD_US // 1000)
    if limits.get("memory"):
        out.memory_limit_in_bytes = units(limits["memory"])
    return out


def container_config(pod: Obj, container: Obj, *, attempt: int, env: list[tuple[str, str]],
                     command: list[str], args: list[str], mounts: list[tuple[str, str, bool]], image: str,
                     memory_capacity: int) -> api.ContainerConfig:
    spec = pod.get("spec") or {}
    name = container["name"]
    annotations = {rv.CONTAINER_HASH: container_hash(container), rv.RESTART_COUNT: str(attempt),
                   rv.TERMINATION_MESSAGE_PATH: container.get("terminationMessagePath", "/dev/termination-log"),
                   rv.GRACE_PERIOD: str(spec.get("terminationGracePeriodSeconds", 30))}
    pre_stop = (container.get("lifecycle") or {}).get("preStop")
    if pre_stop:
        annotations["io.kubernetes.container.preStopHandler"] = json.dumps(pre_stop, separators=(",", ":"))
    ports = container.get("ports") or []
    if ports:
        annotations["io.kubernetes.container.ports"] = json.dumps(ports, separators=(",", ":"))
    return api.ContainerConfig(
        metadata=api.ContainerMetadata(name=name, attempt=attempt),
        image=api.ImageSpec(image=image, user_specified_image=container.get("image", "")),
        command=command, args=args, working_dir=container.get("workingDir", ""),
        envs=[api.KeyValue(key=k, value=v) for k, v in env],
        mounts=[api.Mount(container_path=c, host_path=h, readonly=ro) for c, h, ro in mounts],
        labels={**pod_labels(pod), rv.CONTAINER_NAME: name}, annotations=annotations,
        log_path=f"{name}/{attempt}.log", stdin=bool(container.get("stdin")),
        stdin_once=bool(container.get("stdinOnce")), tty=bool(container.get("tty")),
        linux=api.LinuxContainerConfig(
            resources=linux_resources(pod, container, memory_capacity),
            security_context=api.LinuxContainerSecurityContext(namespace_options=namespace_options(pod))))
