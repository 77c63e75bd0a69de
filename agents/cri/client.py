"""Async CRI client on a unix socket: the one seam between the kubelet and any runtime.v1 server.

The methods carry the CRI names and take and return the runtime.v1 messages unchanged, so a kubelet written
against `RuntimeClient` runs on raftkv's CRI server, on containerd, or on an in-memory fake that implements the
same methods and raises `CRIError` with the gRPC code a real runtime would give (NOT_FOUND for an unknown id,
and so on).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
import grpc.aio

from raftkv._pb.runtime.v1 import api_pb2 as api
from raftkv._pb.runtime.v1 import api_pb2_grpc as api_grpc

# The kubelet's --runtime-request-timeout default; PullImage has none (images can be large).
DEFAULT_TIMEOUT = 120.0

R = TypeVar("R")


class CRIError(Exception):
    """A failed CRI call: the gRPC status code and the runtime's own message (which the kubelet shows users)."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(f"rpc error: code = {_code_name(code)} desc = {message}")
        self.code = code
        self.message = message

    @property
    def not_found(self) -> bool:
        return self.code == grpc.StatusCode.NOT_FOUND


def _code_name(code: grpc.StatusCode) -> str:
    """Go's spelling of a code ("NotFound"), as the kubelet prints CRI errors."""
    return "".join(part.capitalize() for part in code.name.split("_"))


def channel_target(endpoint: str) -> str:
    """Turn a kubelet `--container-runtime-endpoint` (unix:///path, or a bare path) into a grpc target."""
    if endpoint.startswith("unix://"):
        return "unix:" + endpoint[len("unix://"):]
    if endpoint.startswith("/"):
        return "unix:" + endpoint
    return endpoint


class RuntimeClient:
    """RuntimeService and ImageService of one CRI endpoint over a single channel."""

    def __init__(self, endpoint: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        # 16 MiB: ExecSync output and big list responses exceed grpc's 4 MiB default (the kubelet allows 16 MiB)
        options = [("grpc.max_receive_message_length", 16 << 20), ("grpc.max_send_message_length", 16 << 20)]
        self._channel = grpc.aio.insecure_channel(channel_target(endpoint), options=options)
        self._rt = api_grpc.RuntimeServiceStub(self._channel)
        self._img = api_grpc.ImageServiceStub(self._channel)

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> RuntimeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _call(self, method: Callable[..., Awaitable[R]], request: Any, timeout: float | None = -1.0) -> R:
        try:
            return await method(request, timeout=self.timeout if timeout == -1.0 else timeout)
        except grpc.aio.AioRpcError as e:
            raise CRIError(e.code(), e.details() or "") from None

    # ---- RuntimeService
    async def Version(self, req: api.VersionRequest) -> api.VersionResponse:
        return await self._call(self._rt.Version, req)

    async def Status(self, req: api.StatusRequest) -> api.StatusResponse:
        return await self._call(self._rt.Status, req)

    async def RuntimeConfig(self, req: api.RuntimeConfigRequest) -> api.RuntimeConfigResponse:
        return await self._call(self._rt.RuntimeConfig, req)

    async def UpdateRuntimeConfig(self, req: api.UpdateRuntimeConfigRequest) -> api.UpdateRuntimeConfigResponse:
        return await self._call(self._rt.UpdateRuntimeConfig, req)

    async def RunPodSandbox(self, req: api.RunPodSandboxRequest) -> api.RunPodSandboxResponse:
        return await self._call(self._rt.RunPodSandbox, req)

    async def StopPodSandbox(self, req: api.StopPodSandboxRequest) -> api.StopPodSandboxResponse:
        return await self._call(self._rt.StopPodSandbox, req)

    async def RemovePodSandbox(self, req: api.RemovePodSandboxRequest) -> api.RemovePodSandboxResponse:
        return await self._call(self._rt.RemovePodSandbox, req)

    async def PodSandboxStatus(self, req: api.PodSandboxStatusRequest) -> api.PodSandboxStatusResponse:
        return await self._call(self._rt.PodSandboxStatus, req)

    async def ListPodSandbox(self, req: api.ListPodSandboxRequest) -> api.ListPodSandboxResponse:
        return await self._call(self._rt.ListPodSandbox, req)

    async def CreateContainer(self, req: api.CreateContainerRequest) -> api.CreateContainerResponse:
        return await self._call(self._rt.CreateContainer, req)

    async def StartContainer(self, req: api.StartContainerRequest) -> api.StartContainerResponse:
        return await self._call(self._rt.StartContainer, req)

    async def StopContainer(self, req: api.StopContainerRequest) -> api.StopContainerResponse:
        # the grace period runs inside the call: give it that much longer than a normal call
        return await self._call(self._rt.StopContainer, req, timeout=self.timeout + max(0, req.timeout))

    async def RemoveContainer(self, req: api.RemoveContainerRequest) -> api.RemoveContainerResponse:
        return await self._call(self._rt.RemoveContainer, req)

    async def ListContainers(self, req: api.ListContainersRequest) -> api.ListContainersResponse:
        return await self._call(self._rt.ListContainers, req)

    async def ContainerStatus(self, req: api.ContainerStatusRequest) -> api.ContainerStatusResponse:
        return await self._call(self._rt.ContainerStatus, req)

    async def UpdateContainerResources(
        self, req: api.UpdateContainerResourcesRequest
    ) -> api.UpdateContainerResourcesResponse:
        return await self._call(self._rt.UpdateContainerResources, req)

    async def ReopenContainerLog(self, req: api.ReopenContainerLogRequest) -> api.ReopenContainerLogResponse:
        return await self._call(self._rt.ReopenContainerLog, req)

    async def ExecSync(self, req: api.ExecSyncRequest) -> api.ExecSyncResponse:
        timeout = None if req.timeout <= 0 else self.timeout + req.timeout
        return await self._call(self._rt.ExecSync, req, timeout=timeout)

    async def Exec(self, req: api.ExecRequest) -> api.ExecResponse:
        return await self._call(self._rt.Exec, req)

    async def Attach(self, req: api.AttachRequest) -> api.AttachResponse:
        return await self._call(self._rt.Attach, req)

    async def PortForward(self, req: api.PortForwardRequest) -> api.PortForwardResponse:
        return await self._call(self._rt.PortForward, req)

    async def ContainerStats(self, req: api.ContainerStatsRequest) -> api.ContainerStatsResponse:
        return await self._call(self._rt.ContainerStats, req)

    async def ListContainerStats(self, req: api.ListContainerStatsRequest) -> api.ListContainerStatsResponse:
        return await self._call(self._rt.ListContainerStats, req)

    async def PodSandboxStats(self, req: api.PodSandboxStatsRequest) -> api.PodSandboxStatsResponse:
        return await self._call(self._rt.PodSandboxStats, req)

    async def ListPodSandboxStats(self, req: api.ListPodSandboxStatsRequest) -> api.ListPodSandboxStatsResponse:
        return await self._call(self._rt.ListPodSandboxStats, req)

    # ---- ImageService
    async def ListImages(self, req: api.ListImagesRequest) -> api.ListImagesResponse:
        return await self._call(self._img.ListImages, req)

    async def ImageStatus(self, req: api.ImageStatusRequest) -> api.ImageStatusResponse:
        return await self._call(self._img.ImageStatus, req)

    async def PullImage(self, req: api.PullImageRequest) -> api.PullImageResponse:
        return await self._call(self._img.PullImage, req, timeout=None)

    async def RemoveImage(self, req: api.RemoveImageRequest) -> api.RemoveImageResponse:
        return await self._call(self._img.RemoveImage, req)

    async def ImageFsInfo(self, req: api.ImageFsInfoRequest) -> api.ImageFsInfoResponse:
        return await self._call(self._img.ImageFsInfo, req)
