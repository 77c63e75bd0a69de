"""Pods per second to Running on raftkv-cri: sandbox + one busybox container each, through the CRI socket.

Starts its own raftkv-cri (as root) with private names in a temporary root, runs N pods with C in flight, and
prints pods/s, per-pod startup p50/p99, the time to tear them all down, and the memory of the server and the
shims. Everything it made is removed at the end (also on failure).

    sudo .venv/bin/python scripts/bench_cri.py [--pods 40] [--concurrency 8] [--runtime containerd]

`--runtime containerd` runs the same pods on a private containerd + runc (tests/cri/containerd.py sets it up) for
the comparison under the same machine load.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pathlib
import secrets
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from agents.cri import api, busybox  # noqa: E402
from agents.cri.client import RuntimeClient  # noqa: E402
from agents.cri.images import ImageStore  # noqa: E402
from agents.cri.runtime import Options, cleanup_root  # noqa: E402


def rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return 0


def pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("Pss:"))
    except (OSError, StopIteration):
        return 0


async def one_pod(cri: RuntimeClient, image: str, i: int, prefix: str, root: str) -> tuple[str, str, float]:
    # pid CONTAINER as the kubelet asks, so both runtimes run the same thing
    t0 = time.monotonic()
    uid = secrets.token_hex(8)
    cfg = api.PodSandboxConfig(metadata=api.PodSandboxMetadata(name=f"bench-{i}", uid=uid, namespace="default"),
                               hostname=f"bench-{i}", log_directory=f"{root}/logs/default_bench-{i}_{uid}",
                               linux=api.LinuxPodSandboxConfig(cgroup_parent=f"/{prefix}/pod{uid}"))
    sid = (await cri.RunPodSandbox(api.RunPodSandboxRequest(config=cfg))).pod_sandbox_id
    cc = api.ContainerConfig(metadata=api.ContainerMetadata(name="web"), image=api.ImageSpec(image=image),
                             command=["httpd", "-f", "-p", "8080"], log_path="web/0.log",
                             linux=api.LinuxContainerConfig(security_context=api.LinuxContainerSecurityContext(
                                 namespace_options=api.NamespaceOption(pid=api.CONTAINER))))
    cid = (await cri.CreateContainer(api.CreateContainerRequest(pod_sandbox_id=sid, config=cc,
                                                                sandbox_config=cfg))).container_id
    await cri.StartContainer(api.StartContainerRequest(container_id=cid))
    st = (await cri.ContainerStatus(api.ContainerStatusRequest(container_id=cid))).status
    assert st.state == api.CONTAINER_RUNNING, st
    return sid, cid, time.monotonic() - t0


async def bench(sock: str, image: str, pods: int, concurrency: int, prefix: str, root: str,
                server_pid: int) -> None:
    async with RuntimeClient(f"unix://{sock}") as cri:
        deadline = time.monotonic() + 30
        while True:
            try:
                await cri.Version(api.VersionRequest())
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.05)
        sem = asyncio.Semaphore(concurrency)

        async def limited(i: int) -> tuple[str, str, float]:
            async with sem:
                return await one_pod(cri, image, i, prefix, root)

        t0 = time.monotonic()
        results = await asyncio.gather(*(limited(i) for i in range(pods)))
        wall = time.monotonic() - t0
        lat = sorted(r[2] for r in results)
        pattern = f"shim.py {root}/" if "raftkv" in sock else f"containerd-shim.*-address {sock}"
        shims = [int(p) for p in subprocess.run(["pgrep", "-f", pattern], capture_output=True,
                                                text=True).stdout.split()]
        print(f"pods: {pods}, concurrency {concurrency}: {wall:.2f} s to all Running = {pods / wall:.1f} pods/s")
        print(f"per pod startup: p50 {statistics.median(lat) * 1000:.0f} ms, "
              f"p99 {lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000:.0f} ms")
        print(f"runtime RSS {rss_kb(server_pid) / 1024:.1f} MiB; {len(shims)} shims: RSS "
              f"{sum(map(rss_kb, shims)) / 1024:.1f} MiB total, PSS {sum(map(pss_kb, shims)) / 1024:.1f} MiB total")
        t1 = time.monotonic()

        async def down(sid: str, cid: str) -> None:
            async with sem:
                await cri.StopContainer(api.StopContainerRequest(container_id=cid, timeout=0))
                await cri.StopPodSandbox(api.StopPodSandboxRequest(pod_sandbox_id=sid))
                await cri.RemovePodSandbox(api.RemovePodSandboxRequest(pod_sandbox_id=sid))

        await asyncio.gather(*(down(s, c) for s, c, _ in results))
        print(f"teardown (stop, stop sandbox, remove): {time.monotonic() - t1:.2f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pods", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--runtime", choices=["raftkv-cri", "containerd"], default="raftkv-cri")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench_cri: needs root", file=sys.stderr)
        return 1
    prefix = "rkb" + secrets.token_hex(3)
    with tempfile.TemporaryDirectory(prefix="bench-cri-") as root:
        if args.runtime == "containerd":
            from tests.cri.containerd import Containerd

            cd = Containerd(pathlib.Path(root), prefix, "10.251.4.0/22")
            try:
                cd.start()
                assert cd.proc is not None
                asyncio.run(bench(cd.socket, "localhost/busybox:1.35.0", args.pods, args.concurrency, prefix,
                                  root, cd.proc.pid))
            finally:
                cd.stop()
            return 0
        name, tarball = busybox.build()
        ImageStore(root).import_archive(tarball)
        sock = f"{root}/raftkv-cri.sock"
        opts = Options(root=root, bridge=f"{prefix}br", netns_prefix=f"{prefix}-", cgroup_parent=prefix,
                       network_name=prefix, pod_cidr="10.251.0.0/22")
        server = subprocess.Popen([sys.executable, "-m", "agents.cri", "--listen", sock, "--root", root,
                                   "--bridge", opts.bridge, "--netns-prefix", opts.netns_prefix,
                                   "--cgroup-parent", prefix, "--network-name", prefix, "--pod-cidr", opts.pod_cidr],
                                  cwd=pathlib.Path(__file__).resolve().parent.parent,
                                  stdout=subprocess.DEVNULL, stderr=open(f"{root}/server.log", "w"))
        try:
            asyncio.run(bench(sock, name, args.pods, args.concurrency, prefix, root, server.pid))
        finally:
            server.terminate()
            server.wait(10)
            cleanup_root(opts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
