"""`raftkv-cri`: the runtime.v1 gRPC server on a unix socket, in front of the process runtime.

Each RPC runs the runtime's blocking work in a thread (StopContainer's grace period is awaited, not slept in a
thread), and a failure becomes the gRPC status containerd would send. On start the runtime adopts the pods and
containers a previous server left running.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import grpc
import grpc.aio

from agents.cri import api
from agents.cri.runtime import CRIFailure, Options, ProcessRuntime, cleanup_root
from agents.cri.streaming import StreamingServer
from raftkv._pb.runtime.v1 import api_pb2_grpc as api_grpc

log = logging.getLogger("raftkv.cri")
T = TypeVar("T")


class _Base:
    def __init__(self, rt: ProcessRuntime, pool: concurrent.futures.Executor) -> None:
        self.rt = rt
        self.pool = pool

    async def run(self, context: grpc.aio.ServicerContext, fn: Callable[..., T], *args: Any) -> T:
        try:
            return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)
        except CRIFailure as e:
            await context.abort(e.code, e.message)
        except Exception as e:  # noqa: BLE001 - a bug must answer the call, not hang it
            log.exception("CRI call failed")
            await context.abort(grpc.StatusCode.UNKNOWN, str(e))
        raise AssertionError("unreachable")


class RuntimeService(_Base, api_grpc.RuntimeServiceServicer):
    def __init__(self, rt: ProcessRuntime, pool: concurrent.futures.Executor, streams: StreamingServer) -> None:
        super().__init__(rt, pool)
        self.streams = streams

    async def Version(self, request: Any, context: Any) -> api.VersionResponse:
        return self.rt.version()

    async def Status(self, request: Any, context: Any) -> api.StatusResponse:
        return self.rt.status()

    async def RuntimeConfig(self, request: Any, context: Any) -> api.RuntimeConfigResponse:
        return api.RuntimeConfigResponse(linux=api.LinuxRuntimeConfiguration(cgroup_driver=api.CGROUPFS))

    async def UpdateRuntimeConfig(self, request: Any, context: Any) -> api.UpdateRuntimeConfigResponse:
        await self.run(context, self.rt.update_runtime_config, request.runtime_config.network_config.pod_cidr)
        return api.UpdateRuntimeConfigResponse()

    async def RunPodSandbox(self, request: Any, context: Any) -> api.RunPodSandboxResponse:
        sid = await self.run(context, self.rt.run_sandbox, request.config, request.runtime_handler)
        return api.RunPodSandboxResponse(pod_sandbox_id=sid)

    async def StopPodSandbox(self, request: Any, context: Any) -> api.StopPodSandboxResponse:
        await self.run(context, self.rt.stop_sandbox, request.pod_sandbox_id)
        return api.StopPodSandboxResponse()

    async def RemovePodSandbox(self, request: Any, context: Any) -> api.RemovePodSandboxResponse:
        await self.run(context, self.rt.remove_sandbox, request.pod_sandbox_id)
        return api.RemovePodSandboxResponse()

    async def PodSandboxStatus(self, request: Any, context: Any) -> api.PodSandboxStatusResponse:
        return await self.run(context, self.rt.sandbox_status, request.pod_sandbox_id, request.verbose)

    async def ListPodSandbox(self, request: Any, context: Any) -> api.ListPodSandboxResponse:
        items = await self.run(context, self.rt.list_sandboxes, request.filter)
        return api.ListPodSandboxResponse(items=items)

    async def CreateContainer(self, request: Any, context: Any) -> api.CreateContainerResponse:
        cid = await self.run(context, self.rt.create_container, request.pod_sandbox_id, request.config)
        return api.CreateContainerResponse(container_id=cid)

    async def StartContainer(self, request: Any, context: Any) -> api.StartContainerResponse:
        await self.run(context, self.rt.start_container, request.container_id)
        return api.StartContainerResponse()

    async def StopContainer(self, request: Any, context: Any) -> api.StopContainerResponse:
        try:
            await self.rt.stop_container(request.container_id, request.timeout)
        except CRIFailure as e:
            await context.abort(e.code, e.message)
        return api.StopContainerResponse()

    async def RemoveContainer(self, request: Any, context: Any) -> api.RemoveContainerResponse:
        await self.run(context, self.rt.remove_container, request.container_id)
        return api.RemoveContainerResponse()

    async def ListContainers(self, request: Any, context: Any) -> api.ListContainersResponse:
        items = await self.run(context, self.rt.list_containers, request.filter)
        return api.ListContainersResponse(containers=items)

    async def ContainerStatus(self, request: Any, context: Any) -> api.ContainerStatusResponse:
        return await self.run(context, self.rt.container_status, request.container_id, request.verbose)

    async def UpdateContainerResources(self, request: Any, context: Any) -> api.UpdateContainerResourcesResponse:
        await self.run(context, self.rt.update_resources, request.container_id, request.linux)
        return api.UpdateContainerResourcesResponse()

    async def ReopenContainerLog(self, request: Any, context: Any) -> api.ReopenContainerLogResponse:
        await self.run(context, self.rt.reopen_log, request.container_id)
        return api.ReopenContainerLogResponse()

    async def ExecSync(self, request: Any, context: Any) -> api.ExecSyncResponse:
        return await self.run(context, self.rt.exec_sync, request.container_id, list(request.cmd), request.timeout)

    async def Exec(self, request: Any, context: Any) -> api.ExecResponse:
        if not (request.stdin or request.stdout or request.stderr):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "one of stdin, stdout, or stderr must be set")
        await self.run(context, self.rt.container_status, request.container_id, False)
        return api.ExecResponse(url=self.streams.url("exec", request))

    async def Attach(self, request: Any, context: Any) -> api.AttachResponse:
        await self.run(context, self.rt.container_status, request.container_id, False)
        return api.AttachResponse(url=self.streams.url("attach", request))

    async def PortForward(self, request: Any, context: Any) -> api.PortForwardResponse:
        await self.run(context, self.rt.sandbox_status, request.pod_sandbox_id, False)
        return api.PortForwardResponse(url=self.streams.url("portforward", request))

    async def ContainerStats(self, request: Any, context: Any) -> api.ContainerStatsResponse:
        stats = await self.run(context, self.rt.container_stats, request.container_id)
        return api.ContainerStatsResponse(stats=stats)

    async def ListContainerStats(self, request: Any, context: Any) -> api.ListContainerStatsResponse:
        stats = await self.run(context, self.rt.list_container_stats, request.filter)
        return api.ListContainerStatsResponse(stats=stats)


class ImageService(_Base, api_grpc.ImageServiceServicer):
    async def ListImages(self, request: Any, context: Any) -> api.ListImagesResponse:
        imgs = await self.run(context, self.rt.images.list_images)
        want = request.filter.image.image
        out = [self.rt.to_image(i) for i in imgs]
        if want:
            hit = self.rt.image_status(want)
            out = [hit] if hit is not None else []
        return api.ListImagesResponse(images=out)

    async def ImageStatus(self, request: Any, context: Any) -> api.ImageStatusResponse:
        img = await self.run(context, self.rt.image_status, request.image.image)
        return api.ImageStatusResponse(image=img) if img is not None else api.ImageStatusResponse()

    async def PullImage(self, request: Any, context: Any) -> api.PullImageResponse:
        ref = await self.run(context, self.rt.pull_image, request.image.image,
                             request.auth if request.HasField("auth") else None)
        return api.PullImageResponse(image_ref=ref)

    async def RemoveImage(self, request: Any, context: Any) -> api.RemoveImageResponse:
        await self.run(context, self.rt.remove_image, request.image.image)
        return api.RemoveImageResponse()

    async def ImageFsInfo(self, request: Any, context: Any) -> api.ImageFsInfoResponse:
        return await self.run(context, self.rt.image_fs_info)


async def serve(opts: Options, socket_path: str, ready: Callable[[], None] | None = None,
                stream_address: str = "127.0.0.1", stream_port: int = 0) -> None:
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=32, thread_name_prefix="cri")
    rt = ProcessRuntime(opts)
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 16 << 20),
                                      ("grpc.max_send_message_length", 16 << 20)])
    streams = StreamingServer(rt, stream_address, stream_port)
    await streams.start()
    api_grpc.add_RuntimeServiceServicer_to_server(RuntimeService(rt, pool, streams), server)
    api_grpc.add_ImageServiceServicer_to_server(ImageService(rt, pool), server)
    os.makedirs(os.path.dirname(socket_path) or ".", exist_ok=True)
    if os.path.exists(socket_path):
        os.unlink(socket_path)
    server.add_insecure_port(f"unix:{socket_path}")
    await server.start()
    log.info("raftkv-cri serving runtime.v1 on %s (root %s)", socket_path, opts.root)
    if ready:
        ready()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async def reap() -> None:
        # exits are also noticed on every query; this keeps shims from lingering as zombies meanwhile
        while True:
            await asyncio.sleep(1)
            await loop.run_in_executor(pool, rt.refresh_all)

    reaper = asyncio.create_task(reap())
    await stop.wait()
    reaper.cancel()
    # containers keep running: a restarted server adopts them (as containerd's shims outlive containerd)
    await server.stop(2)
    await streams.stop()
    pool.shutdown(wait=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="raftkv-cri", description=__doc__)
    parser.add_argument("--listen", default="/run/raftkv-cri/cri.sock", help="unix socket (default %(default)s)")
    parser.add_argument("--root", default=Options.root, help="state, images and container files")
    parser.add_argument("--cni-bin-dir", default=Options.cni_bin_dir)
    parser.add_argument("--pod-cidr", default=Options.pod_cidr, help="subnet of the CNI bridge network")
    parser.add_argument("--bridge", default=Options.bridge, help="the CNI bridge's host interface name")
    parser.add_argument("--network-name", default=Options.network_name)
    parser.add_argument("--netns-prefix", default=Options.netns_prefix)
    parser.add_argument("--cgroup-parent", default=Options.cgroup_parent,
                        help="cgroup for sandboxes whose config names none")
    parser.add_argument("--stream-address", default="127.0.0.1",
                        help="address of the exec/attach/port-forward streaming server (containerd's default)")
    parser.add_argument("--stream-port", type=int, default=0, help="its port (0: any free port)")
    parser.add_argument("--insecure-registry", action="append", default=[],
                        help="host:port to pull from over plain HTTP (loopback registries always are)")
    parser.add_argument("--cleanup", action="store_true",
                        help="remove every pod, mount, cgroup, netns and the bridge this root knows, then exit")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if os.geteuid() != 0:
        print("raftkv-cri: must run as root (network namespaces, cgroups and mounts)", file=sys.stderr)
        return 1
    opts = Options(root=args.root, cni_bin_dir=args.cni_bin_dir, pod_cidr=args.pod_cidr, bridge=args.bridge,
                   network_name=args.network_name, netns_prefix=args.netns_prefix,
                   cgroup_parent=args.cgroup_parent, insecure_registries=args.insecure_registry)
    if args.cleanup:
        cleanup_root(opts)
        return 0
    asyncio.run(serve(opts, args.listen, stream_address=args.stream_address, stream_port=args.stream_port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
