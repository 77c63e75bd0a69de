"""Pods and runtime views for the kubelet's pure tests."""

from __future__ import annotations

import copy
from typing import Any

from agents.kubelet.podsync import container_hash
from agents.kubelet.runtimeview import EXITED, RUNNING, Container, PodRuntime, Sandbox

Obj = dict[str, Any]


def pod(*containers: Obj, inits: tuple[Obj, ...] = (), policy: str = "Always", name: str = "p",
        **spec: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "ns", "uid": "u1", "labels": {"app": "web"}},
            "spec": {"containers": [copy.deepcopy(c) for c in containers] or [{"name": "c", "image": "busybox"}],
                     "initContainers": [copy.deepcopy(c) for c in inits], "restartPolicy": policy,
                     "nodeName": "n1", **spec},
            "status": {"phase": "Pending", "conditions": [
                {"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                 "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}


def sandbox(ready: bool = True, attempt: int = 0, ip: str = "10.88.0.2", sid: str = "s1") -> Sandbox:
    return Sandbox(id=sid, ready=ready, attempt=attempt, created_at=float(attempt), ip=ip)


def running(spec: Obj, cid: str = "", started: float = 100.0, restarts: int = 0) -> Container:
    return Container(id=cid or f"{spec['name']}-{restarts}", name=spec["name"], state=RUNNING,
                     restart_count=restarts, attempt=restarts, spec_hash=container_hash(spec),
                     created_at=started, started_at=started, image=spec.get("image", ""), image_ref="sha256:abc")


def exited(spec: Obj, code: int, cid: str = "", started: float = 100.0, finished: float = 110.0,
           restarts: int = 0, reason: str = "") -> Container:
    return Container(id=cid or f"{spec['name']}-{restarts}", name=spec["name"], state=EXITED,
                     restart_count=restarts, attempt=restarts, spec_hash=container_hash(spec),
                     created_at=started, started_at=started, finished_at=finished, exit_code=code,
                     reason=reason or ("Completed" if code == 0 else "Error"), image=spec.get("image", ""),
                     image_ref="sha256:abc")


def runtime(*containers: Container, sb: Sandbox | None = None) -> PodRuntime:
    return PodRuntime(sandboxes=(sb or sandbox(),), containers=tuple(containers))
