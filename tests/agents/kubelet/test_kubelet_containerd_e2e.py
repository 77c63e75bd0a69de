"""The same kubelet on the reference runtime: containerd + runc from Debian (a private instance with its own
socket, state, CNI bridge and cgroup prefix), when installed and as root. Pods run and get Ready, a missing
image backs off, the grace period and a trapped SIGTERM behave as on raftkv-cri, memory limits OOM-kill."""

from __future__ import annotations

import os
import pathlib
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest

from agents.cri import api, busybox
from raftkv._pb.runtime.v1 import api_pb2_grpc
from tests.agents.kubelet.harness import (
    KubeletProcess,
    Pods,
    container,
    cstatus,
    drain,
    kill_cgroup_tree,
    pod_manifest,
    waiting_reason,
)
from tests.conftest import wait_for
from tests.controllers.cluster import ControlPlane, control_plane
from tests.cri import containerd
from tests.cri.conftest import free_subnet, missing_tools

pytestmark = pytest.mark.e2e
Obj = dict[str, Any]


@dataclass
class CDEndpoint:
    socket: str
    prefix: str


@dataclass
class Env:
    cp: ControlPlane
    kubelet: KubeletProcess
    pods: Pods
    image: str

    def pod(self, name: str, *containers: Obj, **spec: Any) -> Obj:
        return self.pods.create(pod_manifest(name, self.kubelet.node, *containers, **spec))


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    reason = missing_tools() or containerd.missing()
    if reason:
        pytest.skip(reason)
    tmp = tempfile.mkdtemp(prefix="kubelet-cd-")
    prefix = "rkd" + secrets.token_hex(3)
    cd = containerd.Containerd(pathlib.Path(tmp) / "containerd", prefix, free_subnet())
    (pathlib.Path(tmp) / "containerd").mkdir()
    with control_plane("etcd", background=("serviceaccount", "root-ca-cert-publisher")) as cp:
        kubelet = KubeletProcess(cp, CDEndpoint(cd.socket, prefix), tmp, "kd-" + secrets.token_hex(3))
        try:
            cd.start()
            channel = grpc.insecure_channel(f"unix:{cd.socket}")
            rt = api_pb2_grpc.RuntimeServiceStub(channel)
            wait_for(lambda: rt.Version(api.VersionRequest(), timeout=2).runtime_name, 30, "containerd's CRI")
            channel.close()
            kubelet.start()
            ns = "kd-" + secrets.token_hex(3)
            cp.create_namespace(ns)
            cp.wait(lambda: cp.get(f"/api/v1/namespaces/{ns}/serviceaccounts/default"), 30, "the default SA")
            cp.wait(lambda: cp.get(f"/api/v1/namespaces/{ns}/configmaps/kube-root-ca.crt"), 30, "kube-root-ca.crt")
            yield Env(cp, kubelet, Pods(cp, ns), busybox.build()[0])
            drain(cp, ns, cd.socket)
        finally:
            kubelet.stop()
            cd.stop()
            kill_cgroup_tree(prefix)
            shutil.rmtree(tmp, ignore_errors=True)


def test_a_pod_runs_and_is_ready_on_containerd(env: Env) -> None:
    probe = {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 1}
    env.pod("web", container("web", env.image, "sh", "-c", "mkdir -p /www && echo hi > /www/index.html && "
                             "exec httpd -f -p 8080 -h /www", readinessProbe=probe))
    pod = env.pods.wait("web", lambda p: cstatus(p).get("ready") is True, "Ready", 60)
    assert pod["status"]["phase"] == "Running" and pod["status"]["podIP"]
    assert cstatus(pod)["containerID"].startswith("containerd://")
    node = env.cp.api("GET", f"/api/v1/nodes/{env.kubelet.node}")
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://")


def test_missing_image_backs_off_on_containerd(env: Env) -> None:
    env.pod("noimg", container("c", "localhost/does-not-exist:1", "true"))
    env.pods.wait("noimg", lambda p: waiting_reason(p) == "ImagePullBackOff", "ImagePullBackOff", 60)
    failed = [e["message"] for e in env.pods.events("noimg") if e["reason"] == "Failed"]
    assert "Error: ErrImagePull" in failed


def test_grace_period_and_trapped_sigterm_on_containerd(env: Env) -> None:
    env.pod("stubborn", container("c", env.image, "sleep", "3600"), terminationGracePeriodSeconds=3)
    env.pod("polite", container("c", env.image, "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"),
            terminationGracePeriodSeconds=20)
    for name in ("stubborn", "polite"):
        env.pods.wait(name, lambda p: "running" in cstatus(p).get("state", {}), "running", 60)
    took = {}
    for name in ("stubborn", "polite"):
        start = env.pods.delete(name)
        wait_for(lambda: env.pods.get(name) is None, 40, f"{name} to be gone", interval=0.1)  # noqa: B023
        took[name] = time.monotonic() - start
    assert 3 <= took["stubborn"] < 12 and took["polite"] < 3, took


def test_memory_limit_is_oom_killed_on_containerd(env: Env) -> None:
    env.pod("oom", container("c", env.image, "sh", "-c", "x=a; while true; do x=$x$x; done",
                             resources={"limits": {"memory": "20Mi", "cpu": "500m"}}), restartPolicy="Never")
    pod = env.pods.wait("oom", lambda p: p["status"].get("phase") == "Failed", "the pod to fail", 60)
    assert cstatus(pod)["state"]["terminated"]["reason"] == "OOMKilled"


def test_exit_code_under_never_on_containerd(env: Env) -> None:
    env.pod("exit3", container("c", env.image, "sh", "-c", "exit 3"), restartPolicy="Never")
    pod = env.pods.wait("exit3", lambda p: p["status"].get("phase") == "Failed", "Failed", 60)
    term = cstatus(pod)["state"]["terminated"]
    assert term["exitCode"] == 3 and term["reason"] == "Error"
    assert os.path.isdir(env.kubelet.tmp)
