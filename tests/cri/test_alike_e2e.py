"""The same CRI calls against raftkv-cri and against containerd + runc (when installed): what the kubelet
observes must match — pod IP reachability, ExecSync, stop with grace then SIGKILL, a trapped SIGTERM, OOMKilled,
StartError with runc's message, CRI log records, and the pull error of an unknown image."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest

from agents.cri import api, logformat
from raftkv._pb.runtime.v1 import api_pb2_grpc
from tests.conftest import wait_for

from . import containerd
from .conftest import CRI, free_subnet, missing_tools
from .test_runtime_e2e import http_get

pytestmark = pytest.mark.e2e


@dataclass
class Endpoint:
    name: str
    runtime: api_pb2_grpc.RuntimeServiceStub
    images: api_pb2_grpc.ImageServiceStub
    image: str
    make_config: object

    def sandbox_config(self, name: str) -> api.PodSandboxConfig:
        return self.make_config(name)  # type: ignore[operator, no-any-return]


@pytest.fixture(scope="module")
def containerd_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    reason = missing_tools() or containerd.missing()
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("containerd")
    prefix = "rkc" + secrets.token_hex(3)
    cd = containerd.Containerd(root, prefix, free_subnet())
    channel = None
    try:
        cd.start()
        channel = grpc.insecure_channel(f"unix:{cd.socket}")
        rt = api_pb2_grpc.RuntimeServiceStub(channel)
        wait_for(lambda: rt.Version(api.VersionRequest(), timeout=2).runtime_name, 30, "containerd's CRI")

        def make(name: str) -> api.PodSandboxConfig:
            uid = secrets.token_hex(8)
            return api.PodSandboxConfig(
                metadata=api.PodSandboxMetadata(name=name, uid=uid, namespace="default"), hostname=name,
                log_directory=str(root / "logs" / f"default_{name}_{uid}"),
                linux=api.LinuxPodSandboxConfig(cgroup_parent=f"/{prefix}/pod{uid}"))
        yield Endpoint("containerd", rt, api_pb2_grpc.ImageServiceStub(channel), "localhost/busybox:1.35.0", make)
        for sb in rt.ListPodSandbox(api.ListPodSandboxRequest()).items:
            rt.StopPodSandbox(api.StopPodSandboxRequest(pod_sandbox_id=sb.id))
            rt.RemovePodSandbox(api.RemovePodSandboxRequest(pod_sandbox_id=sb.id))
    finally:
        if channel is not None:
            channel.close()
        cd.stop()


@pytest.fixture(params=["raftkv-cri", "containerd"])
def endpoint(request: pytest.FixtureRequest) -> Endpoint:
    if request.param == "containerd":
        return request.getfixturevalue("containerd_endpoint")  # type: ignore[no-any-return]
    cri: CRI = request.getfixturevalue("cri")
    return Endpoint("raftkv-cri", cri.runtime, cri.images, cri.image, cri.sandbox_config)


def _start(ep: Endpoint, sid: str, cfg: api.PodSandboxConfig, name: str, command: list[str],
           memory: int = 0) -> str:
    # pid CONTAINER, as the kubelet asks for every pod without shareProcessNamespace: the command is PID 1
    sec = api.LinuxContainerSecurityContext(namespace_options=api.NamespaceOption(pid=api.CONTAINER))
    config = api.ContainerConfig(
        metadata=api.ContainerMetadata(name=name), image=api.ImageSpec(image=ep.image), command=command,
        log_path=f"{name}/0.log",
        linux=api.LinuxContainerConfig(resources=api.LinuxContainerResources(memory_limit_in_bytes=memory),
                                       security_context=sec))
    cid = ep.runtime.CreateContainer(api.CreateContainerRequest(pod_sandbox_id=sid, config=config,
                                                                sandbox_config=cfg)).container_id
    ep.runtime.StartContainer(api.StartContainerRequest(container_id=cid))
    return cid


def _status(ep: Endpoint, cid: str) -> api.ContainerStatus:
    return ep.runtime.ContainerStatus(api.ContainerStatusRequest(container_id=cid)).status


def test_same_behaviour(endpoint: Endpoint) -> None:
    ep = endpoint
    cfg = ep.sandbox_config("alike")
    sid = ep.runtime.RunPodSandbox(api.RunPodSandboxRequest(config=cfg)).pod_sandbox_id
    try:
        ip = ep.runtime.PodSandboxStatus(api.PodSandboxStatusRequest(pod_sandbox_id=sid)).status.network.ip
        web = _start(ep, sid, cfg, "httpd", ["httpd", "-f", "-p", "8080", "-h", "/var/www"])
        assert b"hello from busybox" in wait_for(lambda: http_get(ip, 8080, "/index.html"), 20, "httpd")

        r = ep.runtime.ExecSync(api.ExecSyncRequest(container_id=web, cmd=["sh", "-c", "echo out; echo err >&2; "
                                                                            "exit 7"], timeout=10))
        assert (r.stdout, r.stderr, r.exit_code) == (b"out\n", b"err\n", 7)

        t0 = time.monotonic()
        ep.runtime.StopContainer(api.StopContainerRequest(container_id=web, timeout=2))
        s = _status(ep, web)
        assert time.monotonic() - t0 >= 1.9
        assert (s.state, s.exit_code, s.reason) == (api.CONTAINER_EXITED, 137, "Error")

        trap = _start(ep, sid, cfg, "trap", ["sh", "-c", "trap 'exit 0' TERM; echo ready; "
                                             "while true; do sleep 0.05; done"])
        wait_for(lambda: os.path.exists(_status(ep, trap).log_path)
                 and b"ready" in open(_status(ep, trap).log_path, "rb").read(), 10, "the trap")
        t0 = time.monotonic()
        ep.runtime.StopContainer(api.StopContainerRequest(container_id=trap, timeout=30))
        assert time.monotonic() - t0 < 5
        s = _status(ep, trap)
        assert (s.exit_code, s.reason) == (0, "Completed")
        with open(s.log_path, "rb") as f:
            rec = logformat.parse(f.readline())
        assert (rec.stream, rec.partial, rec.content) == ("stdout", False, b"ready")

        hog = _start(ep, sid, cfg, "hog", ["tail", "/dev/zero"], memory=20 << 20)
        s = wait_for(lambda: (x := _status(ep, hog)).state == api.CONTAINER_EXITED and x, 30, "the OOM kill")
        assert (s.exit_code, s.reason) == (137, "OOMKilled")

        config = api.ContainerConfig(metadata=api.ContainerMetadata(name="bad"),
                                     image=api.ImageSpec(image=ep.image), command=["/no/such/binary"])
        cid = ep.runtime.CreateContainer(api.CreateContainerRequest(pod_sandbox_id=sid, config=config,
                                                                    sandbox_config=cfg)).container_id
        with pytest.raises(grpc.RpcError) as err:
            ep.runtime.StartContainer(api.StartContainerRequest(container_id=cid))
        assert 'exec: "/no/such/binary": stat /no/such/binary: no such file or directory' in \
            err.value.details()  # type: ignore[attr-defined]
        s = _status(ep, cid)
        assert (s.state, s.exit_code, s.reason) == (api.CONTAINER_EXITED, 128, "StartError")

        # an imported image (no registry): its id is the config digest, it has no repo digest, and a container's
        # image_ref is that id
        img = ep.images.ImageStatus(api.ImageStatusRequest(image=api.ImageSpec(image=ep.image))).image
        assert (list(img.repo_tags), list(img.repo_digests)) == ([ep.image], [])
        assert _status(ep, trap).image_ref == img.id and img.id.startswith("sha256:")

        with pytest.raises(grpc.RpcError) as err:
            ep.images.PullImage(api.PullImageRequest(image=api.ImageSpec(image="nosuch:1")))
        assert err.value.details().startswith(  # type: ignore[attr-defined]
            'failed to pull and unpack image "docker.io/library/nosuch:1": failed to resolve reference '
            '"docker.io/library/nosuch:1": ')
    finally:
        ep.runtime.StopPodSandbox(api.StopPodSandboxRequest(pod_sandbox_id=sid))
        ep.runtime.RemovePodSandbox(api.RemovePodSandboxRequest(pod_sandbox_id=sid))
