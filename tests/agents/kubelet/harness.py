"""e2e harness: an API server (etcd store), raftkv-cri as root, and `python -m agents.kubelet` processes with
their own node identity (system:node:<name>, O=system:nodes), all with unique names and removed afterwards."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any, Protocol

import grpc

from agents.cri import busybox
from raftkv._pb.runtime.v1 import api_pb2_grpc
from tests.conftest import GiveUp, free_port, register_process, stop_process, wait_for
from tests.controllers.cluster import ControlPlane
from tests.cri.conftest import CRI, free_subnet

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
Obj = dict[str, Any]
PIDS_LIMIT = 24  # podPidsLimit of the e2e kubelets: room for any test pod, too little for a fork loop


def start_cri(root: str) -> CRI:
    from agents.cri.images import ImageStore

    prefix = "rkk" + secrets.token_hex(3)
    name, tarball = busybox.build()
    ImageStore(root).import_archive(tarball)
    channel = grpc.insecure_channel(f"unix:{root}/cri.sock")
    import pathlib
    c = CRI(pathlib.Path(root), f"{root}/cri.sock", prefix, free_subnet(), None,  # type: ignore[arg-type]
            api_pb2_grpc.RuntimeServiceStub(channel), api_pb2_grpc.ImageServiceStub(channel), channel, name)
    c.start()
    return c


def stop_cri(c: CRI) -> None:
    from agents.cri.runtime import Options, cleanup_root

    c.channel.close()
    if c.proc is not None:
        c.kill()
    cleanup_root(Options(root=str(c.root), bridge=f"{c.prefix}br", netns_prefix=f"{c.prefix}-",
                         cgroup_parent=c.prefix, network_name=c.prefix, pod_cidr=c.subnet))


class Endpoint(Protocol):
    """A CRI endpoint the kubelet is pointed at (raftkv-cri's CRI or a containerd): its socket and the name
    prefix its cgroups live under."""
    socket: str
    prefix: str


CLUSTER_DNS = "10.96.0.10"
HOST_RESOLV_CONF = "nameserver 192.0.2.53\nsearch corp.example lab.example\noptions timeout:2\n"


class KubeletProcess:
    def __init__(self, cp: ControlPlane, cri: Endpoint, tmp: str, node: str, max_pods: int = 20) -> None:
        self.cp, self.cri, self.tmp, self.node, self.max_pods = cp, cri, tmp, node, max_pods
        self.kubeconfig = cp.kubeconfig_for(f"node-{node}", f"system:node:{node}", ["system:nodes"])
        self.manifests = os.path.join(tmp, "manifests")
        os.makedirs(self.manifests, exist_ok=True)
        self.config = os.path.join(tmp, "kubelet-config.yaml")
        self.resolv_conf = os.path.join(tmp, "host-resolv.conf")  # the node's, for dnsPolicy Default
        with open(self.resolv_conf, "w") as f:
            f.write(HOST_RESOLV_CONF)
        with open(self.config, "w") as f:
            f.write("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
                    "nodeLeaseDurationSeconds: 8\nfileCheckFrequency: 1s\nnodeStatusUpdateFrequency: 2s\n"
                    f"podLogsDir: {tmp}/pod-logs\npodPidsLimit: {PIDS_LIMIT}\n"
                    f"clusterDNS: [{CLUSTER_DNS}]\nclusterDomain: cluster.local\nresolvConf: {self.resolv_conf}\n")
        self.port = free_port()
        self.log_path = os.path.join(tmp, "kubelet.log")
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        cmd = [sys.executable, "-m", "agents.kubelet", "--kubeconfig", self.kubeconfig,
               "--hostname-override", self.node, "--node-ip", "127.0.0.1",
               "--container-runtime-endpoint", f"unix://{self.cri.socket}", "--root-dir", f"{self.tmp}/root",
               "--pod-manifest-path", self.manifests, "--config", self.config, "--port", str(self.port),
               "--node-labels", "raftkv.io/test=kubelet", "--max-pods", str(self.max_pods),
               "--client-ca-file", self.cp.server.ca, "--cgroup-root", self.cri.prefix]
        with open(self.log_path, "ab") as out:
            self.proc = register_process(subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT))
        self.starts += 1
        want = self.starts
        wait_for(lambda: self._alive() and self.log().count(f"kubelet {self.node} ready") >= want, 60,
                 "the kubelet to start")

    def _alive(self) -> bool:
        if self.proc is None or self.proc.poll() is not None:
            raise GiveUp(f"kubelet exited:\n{self.log()[-4000:]}")
        return True

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None

    def log(self) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""


def pod_manifest(name: str, node: str, *containers: Obj, **spec: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": node, "containers": list(containers), "terminationGracePeriodSeconds": 5,
                     **spec}}


def container(name: str, image: str, *command: str, **more: Any) -> Obj:
    c: Obj = {"name": name, "image": image, "imagePullPolicy": "IfNotPresent", **more}
    if command:
        c["command"] = list(command)
    return c


class Pods:
    """Admin helpers on one namespace."""

    def __init__(self, cp: ControlPlane, ns: str) -> None:
        self.cp, self.ns = cp, ns

    def create(self, pod: Obj) -> Obj:
        return self.cp.api("POST", f"/api/v1/namespaces/{self.ns}/pods", pod)  # type: ignore[no-any-return]

    def get(self, name: str) -> Obj | None:
        return self.cp.get(f"/api/v1/namespaces/{self.ns}/pods/{name}")  # type: ignore[no-any-return]

    def wait(self, name: str, pred: Callable[[Obj], Any], what: str, timeout: float = 60) -> Obj:
        last: list[Obj | None] = [None]

        def check() -> Any:
            last[0] = self.get(name)
            return last[0] is not None and pred(last[0])
        try:
            wait_for(check, timeout, what, interval=0.2)
        except AssertionError as e:
            raise AssertionError(f"{e}; last: {json.dumps((last[0] or {}).get('status'))[:3000]}") from None
        assert last[0] is not None
        return last[0]

    def events(self, name: str) -> list[Obj]:
        body = self.cp.api("GET", f"/api/v1/namespaces/{self.ns}/events?fieldSelector=involvedObject.name%3D{name}")
        return sorted(body["items"], key=lambda e: e.get("firstTimestamp") or "")

    def delete(self, name: str) -> float:
        t = time.monotonic()
        self.cp.api("DELETE", f"/api/v1/namespaces/{self.ns}/pods/{name}")
        return t


def cstatus(pod: Obj, i: int = 0) -> Obj:
    return ((pod.get("status") or {}).get("containerStatuses") or [{}])[i]


def waiting_reason(pod: Obj) -> str:
    return str(cstatus(pod).get("state", {}).get("waiting", {}).get("reason", ""))




def drain(cp: ControlPlane, ns: str, socket: str, timeout: float = 60) -> None:
    """Delete every pod of `ns` at once and wait until the kubelet removed all their sandboxes from the
    runtime (netns, CNI addresses and cgroups go with them), so nothing outlives the test."""
    from agents.cri import api
    from raftkv._pb.runtime.v1 import api_pb2_grpc

    for pod in (cp.get(f"/api/v1/namespaces/{ns}/pods") or {}).get("items") or []:
        cp.request("DELETE", f"/api/v1/namespaces/{ns}/pods/{pod['metadata']['name']}",
                   {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0})
    channel = grpc.insecure_channel(f"unix:{socket}")
    try:
        rt = api_pb2_grpc.RuntimeServiceStub(channel)
        wait_for(lambda: not rt.ListPodSandbox(api.ListPodSandboxRequest(), timeout=5).items, timeout,
                 "the kubelet to remove every sandbox")
    finally:
        channel.close()


def kill_cgroup_tree(prefix: str) -> None:
    """Last resort after the runtime stopped: SIGKILL (by PID) whatever still runs in our cgroups, remove them."""
    base = f"/sys/fs/cgroup/pids/{prefix}"
    if os.path.isdir(base):
        for dirpath, _, files in os.walk(base):
            if "cgroup.procs" in files:
                for pid in open(os.path.join(dirpath, "cgroup.procs")).read().split():
                    try:
                        os.kill(int(pid), 9)
                    except ProcessLookupError:
                        pass
    for ctl in os.listdir("/sys/fs/cgroup"):
        root = f"/sys/fs/cgroup/{ctl}/{prefix}"
        if not os.path.isdir(root) or os.path.islink(f"/sys/fs/cgroup/{ctl}"):
            continue

        def removed(root: str = root) -> bool:
            for dirpath, _, _ in sorted(os.walk(root), key=lambda w: -w[0].count("/")):
                try:
                    os.rmdir(dirpath)
                except OSError:
                    pass
            return not os.path.exists(root)
        wait_for(removed, 10, f"{root} to be removable")
