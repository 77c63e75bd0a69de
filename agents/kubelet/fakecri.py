"""An in-memory CRI runtime with the CRI method names and runtime.v1 messages, for the kubelet's tests.

It behaves as containerd does where the kubelet can tell: ids, states, exit codes and reasons (Completed, Error,
OOMKilled, StartError with 128), StopContainer's SIGTERM-then-SIGKILL after the timeout, NOT_FOUND for unknown
ids and images. Time comes from an injected clock; tests make containers exit (`exit`) and decide how they take
SIGTERM (`ignores_term`) and what ExecSync answers (`exec_handler`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc

from agents.cri.client import CRIError
from raftkv._pb.runtime.v1 import api_pb2 as api

NS = 1_000_000_000


@dataclass
class _Sandbox:
    id: str
    config: api.PodSandboxConfig
    created_at: float
    ip: str
    ready: bool = True


@dataclass
class _Container:
    id: str
    sandbox_id: str
    config: api.ContainerConfig
    created_at: float
    image_ref: str
    state: api.ContainerState = api.CONTAINER_CREATED
    started_at: float = 0.0
    finished_at: float = 0.0
    exit_code: int = 0
    reason: str = ""
    message: str = ""


@dataclass
class FakeRuntime:
    clock: Callable[[], float]
    images: dict[str, str] = field(default_factory=lambda: {"busybox:latest": "sha256:" + "b" * 64})
    missing_commands: set[str] = field(default_factory=lambda: {"/does/not/exist"})
    ignores_term: set[str] = field(default_factory=set)  # container names whose PID 1 ignores SIGTERM
    exec_handler: Callable[[str, list[str]], tuple[int, bytes]] = lambda cid, cmd: (0, b"")
    sandboxes: dict[str, _Sandbox] = field(default_factory=dict)
    containers: dict[str, _Container] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)  # (method, id or image) in order
    stop_timeouts: dict[str, int] = field(default_factory=dict)
    fail_sandbox: str = ""  # RunPodSandbox fails with this message when set
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def _id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):06d}"

    @staticmethod
    def _norm(image: str) -> str:
        return image if ":" in image.rsplit("/", 1)[-1] or "@" in image else image + ":latest"

    # ---- test controls
    def exit(self, container_id: str, code: int, reason: str = "") -> None:
        c = self.containers[container_id]
        if c.state != api.CONTAINER_RUNNING:
            return
        c.state, c.exit_code, c.finished_at = api.CONTAINER_EXITED, code, self.clock()
        c.reason = reason or ("Completed" if code == 0 else "Error")

    def by_name(self, name: str) -> list[_Container]:
        """Containers of `name`, oldest first."""
        return sorted((c for c in self.containers.values() if c.config.metadata.name == name),
                      key=lambda c: c.created_at)

    # ---- RuntimeService
    async def Version(self, req: api.VersionRequest) -> api.VersionResponse:
        return api.VersionResponse(version="0.1.0", runtime_name="fake", runtime_version="1.0",
                                   runtime_api_version="v1")

    async def Status(self, req: api.StatusRequest) -> api.StatusResponse:
        conds = [api.RuntimeCondition(type="RuntimeReady", status=True),
                 api.RuntimeCondition(type="NetworkReady", status=True)]
        return api.StatusResponse(status=api.RuntimeStatus(conditions=conds))

    async def RunPodSandbox(self, req: api.RunPodSandboxRequest) -> api.RunPodSandboxResponse:
        if self.fail_sandbox:
            raise CRIError(grpc.StatusCode.UNKNOWN, self.fail_sandbox)
        sid = self._id("sb")
        self.sandboxes[sid] = _Sandbox(sid, req.config, self.clock(), f"10.88.0.{len(self.sandboxes) + 2}")
        self.calls.append(("RunPodSandbox", sid))
        return api.RunPodSandboxResponse(pod_sandbox_id=sid)

    def _sandbox(self, sid: str) -> _Sandbox:
        if sid not in self.sandboxes:
            raise CRIError(grpc.StatusCode.NOT_FOUND, f'an error occurred when try to find sandbox "{sid}": not found')
        return self.sandboxes[sid]

    async def StopPodSandbox(self, req: api.StopPodSandboxRequest) -> api.StopPodSandboxResponse:
        sb = self._sandbox(req.pod_sandbox_id)
        for c in self.containers.values():
            if c.sandbox_id == sb.id and c.state == api.CONTAINER_RUNNING:
                self.exit(c.id, 137)
        sb.ready = False
        self.calls.append(("StopPodSandbox", sb.id))
        return api.StopPodSandboxResponse()

    async def RemovePodSandbox(self, req: api.RemovePodSandboxRequest) -> api.RemovePodSandboxResponse:
        self.sandboxes.pop(req.pod_sandbox_id, None)
        for cid in [c.id for c in self.containers.values() if c.sandbox_id == req.pod_sandbox_id]:
            del self.containers[cid]
        self.calls.append(("RemovePodSandbox", req.pod_sandbox_id))
        return api.RemovePodSandboxResponse()

    def _sandbox_status(self, sb: _Sandbox) -> api.PodSandboxStatus:
        return api.PodSandboxStatus(
            id=sb.id, metadata=sb.config.metadata,
            state=api.SANDBOX_READY if sb.ready else api.SANDBOX_NOTREADY, created_at=int(sb.created_at * NS),
            network=api.PodSandboxNetworkStatus(ip=sb.ip if sb.ready else ""), labels=sb.config.labels,
            annotations=sb.config.annotations)

    async def PodSandboxStatus(self, req: api.PodSandboxStatusRequest) -> api.PodSandboxStatusResponse:
        return api.PodSandboxStatusResponse(status=self._sandbox_status(self._sandbox(req.pod_sandbox_id)))

    async def ListPodSandbox(self, req: api.ListPodSandboxRequest) -> api.ListPodSandboxResponse:
        f = req.filter
        items = []
        for sb in self.sandboxes.values():
            if f.id and sb.id != f.id:
                continue
            if any(sb.config.labels.get(k) != v for k, v in f.label_selector.items()):
                continue
            st = self._sandbox_status(sb)
            items.append(api.PodSandbox(id=sb.id, metadata=st.metadata, state=st.state, created_at=st.created_at,
                                        labels=st.labels, annotations=st.annotations))
        return api.ListPodSandboxResponse(items=items)

    async def CreateContainer(self, req: api.CreateContainerRequest) -> api.CreateContainerResponse:
        self._sandbox(req.pod_sandbox_id)
        image = self._norm(req.config.image.image)
        if image not in self.images and req.config.image.image not in self.images.values():
            raise CRIError(grpc.StatusCode.NOT_FOUND, f'image "{req.config.image.image}": not found')
        cid = self._id("c")
        self.containers[cid] = _Container(cid, req.pod_sandbox_id, req.config, self.clock(),
                                          self.images.get(image, req.config.image.image))
        self.calls.append(("CreateContainer", cid))
        return api.CreateContainerResponse(container_id=cid)

    def _container(self, cid: str) -> _Container:
        if cid not in self.containers:
            raise CRIError(grpc.StatusCode.NOT_FOUND, f'an error occurred when try to find container "{cid}": '
                                                      "not found")
        return self.containers[cid]

    async def StartContainer(self, req: api.StartContainerRequest) -> api.StartContainerResponse:
        c = self._container(req.container_id)
        self.calls.append(("StartContainer", c.id))
        argv = list(c.config.command) + list(c.config.args)
        if argv and argv[0] in self.missing_commands:
            c.state, c.exit_code, c.reason = api.CONTAINER_EXITED, 128, "StartError"
            c.finished_at = self.clock()
            c.message = (f"failed to create containerd task: failed to create shim task: exec: \"{argv[0]}\": "
                         "stat {}: no such file or directory: unknown".replace("{}", argv[0]))
            raise CRIError(grpc.StatusCode.UNKNOWN, c.message)
        c.state, c.started_at = api.CONTAINER_RUNNING, self.clock()
        return api.StartContainerResponse()

    async def StopContainer(self, req: api.StopContainerRequest) -> api.StopContainerResponse:
        c = self._container(req.container_id)
        self.calls.append(("StopContainer", c.id))
        self.stop_timeouts[c.id] = int(req.timeout)
        if c.state == api.CONTAINER_RUNNING:
            ignores = c.config.metadata.name in self.ignores_term
            self.exit(c.id, 137 if ignores else 143)
            if ignores:  # the grace period ran out: the fake's clock is the test's, so only the record shows it
                c.finished_at += req.timeout
        return api.StopContainerResponse()

    async def RemoveContainer(self, req: api.RemoveContainerRequest) -> api.RemoveContainerResponse:
        self.containers.pop(req.container_id, None)
        self.calls.append(("RemoveContainer", req.container_id))
        return api.RemoveContainerResponse()

    def _status(self, c: _Container) -> api.ContainerStatus:
        return api.ContainerStatus(
            id=c.id, metadata=c.config.metadata, state=c.state, created_at=int(c.created_at * NS),
            started_at=int(c.started_at * NS), finished_at=int(c.finished_at * NS), exit_code=c.exit_code,
            image=c.config.image, image_ref=c.image_ref, reason=c.reason, message=c.message,
            labels=c.config.labels, annotations=c.config.annotations, log_path=c.config.log_path)

    async def ListContainers(self, req: api.ListContainersRequest) -> api.ListContainersResponse:
        f = req.filter
        out = []
        for c in self.containers.values():
            if f.pod_sandbox_id and c.sandbox_id != f.pod_sandbox_id:
                continue
            if any(c.config.labels.get(k) != v for k, v in f.label_selector.items()):
                continue
            out.append(api.Container(id=c.id, pod_sandbox_id=c.sandbox_id, metadata=c.config.metadata,
                                     image=c.config.image, image_ref=c.image_ref, state=c.state,
                                     created_at=int(c.created_at * NS), labels=c.config.labels,
                                     annotations=c.config.annotations))
        return api.ListContainersResponse(containers=out)

    async def ContainerStatus(self, req: api.ContainerStatusRequest) -> api.ContainerStatusResponse:
        return api.ContainerStatusResponse(status=self._status(self._container(req.container_id)))

    async def ExecSync(self, req: api.ExecSyncRequest) -> api.ExecSyncResponse:
        c = self._container(req.container_id)
        code, out = self.exec_handler(c.config.metadata.name, list(req.cmd))
        self.calls.append(("ExecSync", c.id))
        return api.ExecSyncResponse(stdout=out, exit_code=code)

    async def Exec(self, req: api.ExecRequest) -> api.ExecResponse:
        self._container(req.container_id)
        return api.ExecResponse(url=f"http://127.0.0.1:0/exec/{req.container_id}")

    async def Attach(self, req: api.AttachRequest) -> api.AttachResponse:
        self._container(req.container_id)
        return api.AttachResponse(url=f"http://127.0.0.1:0/attach/{req.container_id}")

    # ---- ImageService
    async def ImageStatus(self, req: api.ImageStatusRequest) -> api.ImageStatusResponse:
        image = self._norm(req.image.image)
        if image not in self.images:
            return api.ImageStatusResponse()
        return api.ImageStatusResponse(image=api.Image(id=self.images[image], repo_tags=[image], size=1_000_000))

    async def PullImage(self, req: api.PullImageRequest) -> api.PullImageResponse:
        image = self._norm(req.image.image)
        self.calls.append(("PullImage", req.image.image))
        if image not in self.images:
            raise CRIError(grpc.StatusCode.NOT_FOUND,
                           f'failed to pull and unpack image "{image}": failed to resolve reference "{image}": '
                           f"{image}: not found")
        return api.PullImageResponse(image_ref=self.images[image])
