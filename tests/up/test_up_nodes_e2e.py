"""`raftkv up --nodes 2` as root: real kubelets on raftkv-cri, and the README's tutorial journey with real kubectl
(a ReplicationController from YAML, get -o wide, scale, logs, exec, expose as NodePort and fetch it, DNS
answering for the Service, a deleted pod replaced), kill -9 of a kubelet
and of the leading controller manager, then `raftkv down` leaving no process, netns, mount or cgroup."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.request
from typing import Any

import pytest

from raftkv.up import procs
from raftkv.up.checks import dns_answers
from raftkv.up.cli import real_nodes_reason
from tests.conftest import wait_for
from tests.up.harness import Up, up_dir

pytestmark = pytest.mark.e2e

RC = """apiVersion: v1
kind: ReplicationController
metadata:
  name: hello
spec:
  replicas: 2
  selector:
    app: hello
  template:
    metadata:
      labels:
        app: hello
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: web
        image: busybox
        command: ["sh", "-c", "echo hello from $(hostname) | tee /index.html; exec httpd -f -p 8080"]
"""


def pods(u: Up) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = u.kubectl_json("get", "pods", "-l", "app=hello")["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def running(u: Up) -> list[str]:
    return sorted(p["metadata"]["name"] for p in pods(u) if p["status"].get("phase") == "Running")


def leftovers(prefix: str, d: str) -> list[str]:
    out = []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    out += [f"netns {ln.split()[0]}" for ln in netns.splitlines() if ln.startswith(prefix)]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=False).stdout
    out += [f"link {ln.split(':')[1].strip()}" for ln in links.splitlines() if prefix in ln]
    with open("/proc/mounts") as f:
        out += [f"mount {ln.split()[1]}" for ln in f if d in ln or prefix in ln]
    for hierarchy in ("memory", "cpu", "pids", "freezer"):
        base = f"/sys/fs/cgroup/{hierarchy}"
        if os.path.isdir(base):
            out += [f"cgroup {base}/{e}" for e in os.listdir(base) if e.startswith(prefix)]
    return out


def test_up_real_nodes_tutorial_journey_and_clean_down() -> None:
    reason = real_nodes_reason()
    if reason:
        pytest.skip(f"real nodes cannot run here: {reason}")
    with up_dir("upn-") as u:
        u.start("--nodes", "2")
        u.wait_up()
        assert "real nodes: kubelets run on the host's network namespace" in u.output()
        nodes = u.kubectl_json("get", "nodes")["items"]
        assert sorted(n["metadata"]["name"] for n in nodes) == ["node-1", "node-2"]
        assert sorted(a["address"] for n in nodes for a in n["status"]["addresses"] if a["type"] == "InternalIP") \
            == ["127.0.1.1", "127.0.1.2"]

        u.kubectl("create", "-f", "-", stdin=RC)
        wait_for(lambda: len(running(u)) == 2, 90, "2 hello pods Running")
        wide = u.kubectl("get", "pods", "-o", "wide").stdout
        assert "node-1" in wide or "node-2" in wide

        u.kubectl("scale", "rc", "hello", "--replicas=3")
        wait_for(lambda: len(running(u)) == 3, 90, "3 hello pods Running")

        first = running(u)[0]
        assert f"hello from {first}" in u.kubectl("logs", first).stdout
        ex = u.kubectl("exec", first, "--", "sh", "-c", "echo out-$(hostname); exit 3", check=False)
        assert ex.returncode == 3 and f"out-{first}" in ex.stdout

        # expose as NodePort: each node's proxy serves it on the node's IP (and DNS knows the Service)
        u.kubectl("expose", "rc", "hello", "--port=80", "--target-port=8080", "--type=NodePort")
        svc = u.kubectl_json("get", "service", "hello")
        node_port = svc["spec"]["ports"][0]["nodePort"]

        def served() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.1.2:{node_port}/", timeout=5) as r:
                    return r.read().decode().startswith("hello from hello-")
            except OSError:
                return False
        wait_for(served, 60, "the NodePort to answer on node-2's IP")
        dns_port = json.load(open(os.path.join(u.d, "cluster.json")))["dns_port"]
        wait_for(lambda: dns_answers("127.0.0.1", dns_port, "hello.default.svc.cluster.local"), 30,
                 "DNS to answer for the Service")

        u.kubectl("delete", "pod", first, "--wait=false")
        wait_for(lambda: len(running(u)) == 3 and first not in running(u), 90, "a replacement pod Running")

        # kill -9 of a kubelet and of the leading controller manager: both come back, the RC stays whole
        status = u.run("status", "--dir", u.d).stdout
        leader = next(ln.split()[0] for ln in status.splitlines() if "lease kube-controller-manager" in ln)
        old = {n: u.pid(n) for n in ("kubelet-node-1", leader)}
        for pid in old.values():
            os.kill(pid, signal.SIGKILL)
        wait_for(lambda: all(u.state().procs[n].pid != p and procs.alive(u.state().procs[n]) for n, p in old.items()),
                 60, "the supervisor to start the kubelet and the controller manager again")
        victim = running(u)[0]
        u.kubectl("delete", "pod", victim, "--wait=false")
        wait_for(lambda: len(running(u)) == 3 and victim not in running(u), 120,
                 "a replacement pod Running after the kills")

        layout = json.load(open(os.path.join(u.d, "cluster.json")))
        down = u.run("down", "--dir", u.d, timeout=180)
        assert down.returncode == 0, down.stderr
        assert u.proc is not None and u.proc.wait(30) == 0
        assert u.recorded_alive() == []
        assert u.processes_mentioning_dir() == []
        assert leftovers(layout["prefix"], u.d) == []
