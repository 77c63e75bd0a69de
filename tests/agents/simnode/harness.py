"""Test helpers: a `python -m agents.simnode` process, the scheduler process, and a trivial binder standing in
for the scheduler where `controllers.scheduler` is not there: it binds every unscheduled pod of one namespace
round robin to the given nodes (pods/binding, as the scheduler does).
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Sequence
from typing import Any

from tests.conftest import GiveUp, free_port, register_process, stop_process, wait_for
from tests.controllers.cluster import ControlPlane

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


class SimNodeProcess:
    def __init__(self, kubeconfig: str, log_path: str, *flags: str) -> None:
        self.control_port = free_port()
        self.log_path = log_path
        self.flags = list(flags)
        cmd = [sys.executable, "-m", "agents.simnode", "--kubeconfig", kubeconfig,
               "--control-port", str(self.control_port), *flags]
        with open(log_path, "wb") as out:
            self.proc = register_process(subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT))

    def log(self) -> str:
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def control(self, method: str, path: str) -> Any:
        if self.proc.poll() is not None:
            raise GiveUp(f"simnode exited with {self.proc.returncode}:\n{self.log()[-4000:]}")
        req = urllib.request.Request(f"http://127.0.0.1:{self.control_port}{path}", method=method,
                                     data=b"" if method == "POST" else None)
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = resp.read()
        return json.loads(body) if body.startswith(b"{") else body.decode()

    def wait_registered(self, timeout: float = 60) -> None:
        wait_for(lambda: self.control("GET", "/healthz") == "ok", timeout, "the simnodes to register")

    def stop(self) -> int | None:
        return stop_process(self.proc)


def scheduler_available() -> bool:
    return importlib.util.find_spec("controllers.scheduler.__main__") is not None


class SchedulerProcess:
    """`python -m controllers.scheduler` as system:kube-scheduler (no leader election, no serving port)."""

    def __init__(self, cp: ControlPlane) -> None:
        kc = cp.kubeconfig_for("kube-scheduler", "system:kube-scheduler")
        self.log_path = os.path.join(cp.tmp, "scheduler.log")
        with open(self.log_path, "wb") as out:
            self.proc = register_process(subprocess.Popen(
                [sys.executable, "-m", "controllers.scheduler", "--kubeconfig", kc, "--leader-elect=false",
                 "--secure-port=0"], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT))

    def stop(self) -> int | None:
        return stop_process(self.proc)


class Binder:
    """Binds unscheduled pods in `namespace` to `nodes` round robin until stopped."""

    def __init__(self, cp: ControlPlane, namespace: str, nodes: Sequence[str]) -> None:
        self.cp, self.namespace = cp, namespace
        self._next = itertools.cycle(nodes)
        self._stop = threading.Event()
        self.bound: list[tuple[str, str]] = []
        self._thread = threading.Thread(target=self._loop, name="binder", daemon=True)

    def __enter__(self) -> Binder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _loop(self) -> None:
        while not self._stop.wait(0.2):
            r = self.cp.request("GET", f"/api/v1/namespaces/{self.namespace}/pods?fieldSelector=spec.nodeName%3D")
            if r.code != 200:
                continue
            for pod in r.body.get("items") or []:
                meta = pod["metadata"]
                if meta.get("deletionTimestamp"):
                    continue
                node = next(self._next)
                b = self.cp.request("POST", f"/api/v1/namespaces/{self.namespace}/pods/{meta['name']}/binding",
                                    {"apiVersion": "v1", "kind": "Binding",
                                     "metadata": {"name": meta["name"], "uid": meta["uid"]},
                                     "target": {"apiVersion": "v1", "kind": "Node", "name": node}})
                if b.code == 201:
                    self.bound.append((meta["name"], node))
