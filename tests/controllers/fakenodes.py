"""A test double for the scheduler and kubelets: fake Nodes that bind and "run" pods through the API server.

Until real agents exist, controllers under test would only ever see Pending, unscheduled pods. `FakeNodes`
registers Node objects and, from a watch on all pods, binds each unbound pod to a node (pods/binding) and writes
the status a kubelet would (phase Running, Ready/ContainersReady/PodScheduled/Initialized True, podIP, ready
container statuses) through the status subresource, so controllers see realistic pods. A pod on one of its
nodes that is deleted gracefully is then deleted for good (grace period 0), as a kubelet confirms a stopped pod.
A test can hold pods back (`policy`), or finish one (`complete`). It talks only to the API server, with the
kubeconfig's credentials, and lists again every 2 s (the watch's timeout) so nothing is missed for long.

    with FakeNodes(kubeconfig, ["node-1", "node-2"]) as nodes:
        ...
        nodes.complete("default", "job-abcde", "Failed", exit_code=1)
"""

from __future__ import annotations

import http.client
import itertools
import json
import ssl
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, Literal

import yaml

Decision = Literal["run", "pending", "unready"]
Policy = Callable[[dict[str, Any]], Decision]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class APIError(Exception):
    def __init__(self, code: int, body: str) -> None:
        super().__init__(f"{code}: {body[:500]}")
        self.code = code


class _Client:
    """Just enough JSON-over-HTTPS for a test double: one connection per call, kubeconfig credentials."""

    def __init__(self, kubeconfig: str) -> None:
        with open(kubeconfig) as f:
            cfg = yaml.safe_load(f)
        ctx_name = cfg["current-context"]
        ctx = next(c["context"] for c in cfg["contexts"] if c["name"] == ctx_name)
        cluster = next(c["cluster"] for c in cfg["clusters"] if c["name"] == ctx["cluster"])
        user = next(u["user"] for u in cfg["users"] if u["name"] == ctx["user"])
        url = urllib.parse.urlsplit(cluster["server"])
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 443
        self.ssl = ssl.create_default_context(cafile=cluster.get("certificate-authority"))
        if user.get("client-certificate"):
            self.ssl.load_cert_chain(user["client-certificate"], user["client-key"])
        self.headers = {"Accept": "application/json"}
        if user.get("token"):
            self.headers["Authorization"] = f"Bearer {user['token']}"

    def _conn(self, timeout: float) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(self.host, self.port, context=self.ssl, timeout=timeout)

    def call(self, method: str, path: str, body: Any = None,
             content_type: str = "application/json") -> dict[str, Any]:
        conn = self._conn(30)
        try:
            data = None if body is None else json.dumps(body).encode()
            headers = dict(self.headers)
            if data is not None:
                headers["Content-Type"] = content_type
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            text = resp.read().decode()
            if resp.status >= 300:
                raise APIError(resp.status, text)
            return json.loads(text) if text else {}
        finally:
            conn.close()

    def watch(self, path: str, resource_version: str, timeout_s: int) -> Iterator[dict[str, Any]]:
        conn = self._conn(timeout_s + 10)
        try:
            query = urllib.parse.urlencode({"watch": "true", "resourceVersion": resource_version,
                                            "timeoutSeconds": str(timeout_s), "allowWatchBookmarks": "true"})
            conn.request("GET", f"{path}?{query}", headers=self.headers)
            resp = conn.getresponse()
            if resp.status != 200:
                raise APIError(resp.status, resp.read().decode())
            while True:
                line = resp.readline()
                if not line:
                    return
                if line.strip():
                    yield json.loads(line)
        finally:
            conn.close()


def _condition(ctype: str, status: str, now: str, reason: str | None = None) -> dict[str, Any]:
    cond: dict[str, Any] = {"type": ctype, "status": status, "lastProbeTime": None, "lastTransitionTime": now}
    if reason:
        cond["reason"] = reason
    return cond


class FakeNodes:
    """Registers `names` as Ready nodes and acts as their kubelet (and as the scheduler for unbound pods).

    `policy(pod)` decides per pod: "run" (Running and Ready, the default), "unready" (Running, not Ready) or
    "pending" (left alone). Change it at any time with `set_policy`; `resync()` applies it to existing pods.
    Only pods in `namespaces` (all if None) are touched, so tests sharing an API server stay apart.
    """

    def __init__(self, kubeconfig: str, names: list[str] | None = None, *, namespaces: set[str] | None = None,
                 policy: Policy | None = None, heartbeat: float | None = None) -> None:
        self.api = _Client(kubeconfig)
        self.names = names or ["node-1", "node-2"]
        self.namespaces = namespaces
        self.policy: Policy = policy or (lambda pod: "run")
        self._next_node = itertools.cycle(self.names)
        self._ips = itertools.count(2)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._done: set[str] = set()  # uids finished by complete(): never "run" again
        self._ip_of: dict[str, str] = {}  # uid -> its pod IP, so two racing status writes give the same one
        self.errors: list[str] = []
        # With `heartbeat` (seconds), each node renews its kube-node-lease Lease as a kubelet does; `kill(name)`
        # makes that node's "kubelet" stop (no renewals, no pod updates), `revive(name)` brings it back.
        self.heartbeat = heartbeat
        self.dead: set[str] = set()
        self._beat: threading.Thread | None = None

    def __enter__(self) -> FakeNodes:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        for name in self.names:
            self._register(name)
        self._thread = threading.Thread(target=self._loop, name="fakenodes", daemon=True)
        self._thread.start()
        if self.heartbeat:
            for name in self.names:
                self._renew(name)
            self._beat = threading.Thread(target=self._beat_loop, name="fakenodes-leases", daemon=True)
            self._beat.start()

    def stop(self) -> None:
        self._stop.set()
        for t in (self._thread, self._beat):
            if t is not None:
                t.join(15)

    def kill(self, name: str) -> None:
        """The node's kubelet stops: its Lease is no longer renewed and its pods are left as they are."""
        self.dead.add(name)

    def revive(self, name: str) -> None:
        """The kubelet is back: Ready posted with a fresh heartbeat, the Lease renewed."""
        self.dead.discard(name)
        now = _now()
        self.api.call("PATCH", f"/api/v1/nodes/{name}/status", {"status": {"conditions": [
            {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status",
             "lastHeartbeatTime": now, "lastTransitionTime": now}]}}, "application/strategic-merge-patch+json")
        self._renew(name)

    def _beat_loop(self) -> None:
        assert self.heartbeat
        while not self._stop.wait(self.heartbeat):
            for name in self.names:
                if name not in self.dead:
                    try:
                        self._renew(name)
                    except Exception as e:  # a transient API error: the next beat retries
                        self.errors.append(repr(e))

    def _renew(self, name: str) -> None:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}"
        spec = {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": now}
        try:
            self.api.call("PATCH", path, {"spec": spec}, "application/merge-patch+json")
        except APIError as e:
            if e.code != 404:
                raise
            self.api.call("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
                          {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                           "metadata": {"name": name, "namespace": "kube-node-lease"}, "spec": spec})

    def set_policy(self, policy: Policy) -> None:
        self.policy = policy
        self.resync()

    def resync(self) -> None:
        for pod in self.api.call("GET", "/api/v1/pods").get("items", []):
            self._handle(pod)

    def _register(self, name: str) -> None:
        now = _now()
        node = {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                                      "kubernetes.io/arch": "amd64", "fake-node": "true"}},
                "spec": {}}
        try:
            self.api.call("POST", "/api/v1/nodes", node)
        except APIError as e:
            if e.code != 409:
                raise
        status = {"status": {
            "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
            "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "message": "kubelet is posting ready status", "lastHeartbeatTime": now,
                            "lastTransitionTime": now}],
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": name}],
            "nodeInfo": {"kubeletVersion": "v1.32.0", "containerRuntimeVersion": "fake://1.0",
                         "operatingSystem": "linux", "architecture": "amd64", "kernelVersion": "",
                         "osImage": "fake", "kubeProxyVersion": "", "machineID": "", "systemUUID": "",
                         "bootID": ""}}}
        self.api.call("PATCH", f"/api/v1/nodes/{name}/status", status, "application/merge-patch+json")

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                listed = self.api.call("GET", "/api/v1/pods")
                for pod in listed.get("items", []):
                    self._handle(pod)
                for event in self.api.watch("/api/v1/pods", listed["metadata"]["resourceVersion"], 2):
                    if self._stop.is_set():
                        return
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self._handle(event["object"])
            except Exception as e:  # a dropped watch or a racing delete: relist and carry on
                self.errors.append(repr(e))
                self._stop.wait(0.2)

    def _handle(self, pod: dict[str, Any]) -> None:
        meta, spec, status = pod["metadata"], pod.get("spec", {}), pod.get("status", {})
        if self.namespaces is not None and meta.get("namespace") not in self.namespaces:
            return
        if spec.get("nodeName") in self.dead:
            return
        if meta.get("deletionTimestamp"):
            if spec.get("nodeName") in self.names:
                self._finish_deletion(pod)
            return
        if status.get("phase") in ("Succeeded", "Failed"):
            return
        if meta["uid"] in self._done:
            return
        decision = self.policy(pod)
        if decision == "pending":
            return
        ready = decision == "run"
        if status.get("phase") == "Running" and self._is_ready(status) == ready and spec.get("nodeName"):
            return
        try:
            with self._lock:
                node = spec.get("nodeName") or self._bind(pod)
                self._set_running(pod, node, ready)
        except APIError as e:
            if e.code not in (404, 409):
                self.errors.append(str(e))

    def _finish_deletion(self, pod: dict[str, Any]) -> None:
        """What a kubelet does once a gracefully deleted pod's containers stopped: delete it for good."""
        meta = pod["metadata"]
        try:
            self.api.call("DELETE", f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}",
                          {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
                           "preconditions": {"uid": meta["uid"]}})
        except APIError as e:
            if e.code not in (404, 409):
                self.errors.append(str(e))

    @staticmethod
    def _is_ready(status: dict[str, Any]) -> bool:
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])

    def _bind(self, pod: dict[str, Any]) -> str:
        node = self._pinned(pod) or next(self._next_node)
        if node not in self.names:
            raise APIError(409, f"pod pinned to node {node}, not one of ours")
        meta = pod["metadata"]
        binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": meta["name"], "uid": meta["uid"]},
                   "target": {"apiVersion": "v1", "kind": "Node", "name": node}}
        self.api.call("POST", f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/binding", binding)
        return node

    def _pinned(self, pod: dict[str, Any]) -> str | None:
        """The node a required node affinity on metadata.name pins the pod to (DaemonSet pods)."""
        required = (((pod.get("spec", {}).get("affinity") or {}).get("nodeAffinity") or {})
                    .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
        for term in required.get("nodeSelectorTerms") or []:
            for f in term.get("matchFields") or []:
                if f.get("key") == "metadata.name" and f.get("operator") == "In":
                    values = f.get("values") or []
                    return next((n for n in values if n in self.names), values[0] if values else None)
        return None

    def _pod_ip(self) -> str:
        n = next(self._ips)
        return f"10.244.{(n // 250) % 250}.{n % 250 + 1}"

    def _set_running(self, pod: dict[str, Any], node: str, ready: bool) -> None:
        now = _now()
        meta = pod["metadata"]
        containers = pod.get("spec", {}).get("containers", [])
        old = pod.get("status", {})
        ip = old.get("podIP") or self._ip_of.get(meta["uid"]) or self._pod_ip()
        self._ip_of[meta["uid"]] = ip
        flag = "True" if ready else "False"
        unready = None if ready else "ContainersNotReady"
        status = {
            "phase": "Running",
            "conditions": [_condition("PodReadyToStartContainers", "True", now), _condition("Initialized", "True", now),
                           _condition("Ready", flag, now, unready), _condition("ContainersReady", flag, now, unready),
                           _condition("PodScheduled", "True", now)],
            "hostIP": "127.0.0.1", "hostIPs": [{"ip": "127.0.0.1"}], "podIP": ip, "podIPs": [{"ip": ip}],
            "startTime": old.get("startTime") or now,
            "containerStatuses": [
                {"name": c["name"], "image": c.get("image", ""), "imageID": f"fake://{c.get('image', '')}",
                 "containerID": f"fake://{meta['uid']}-{c['name']}", "ready": ready, "started": True,
                 "restartCount": 0, "state": {"running": {"startedAt": now}}} for c in containers],
            "qosClass": old.get("qosClass", "BestEffort"),
        }
        path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status"
        self.api.call("PATCH", path, {"status": status},
                      "application/merge-patch+json")

    def complete(self, namespace: str, name: str, phase: Literal["Succeeded", "Failed"] = "Succeeded",
                 exit_code: int | None = None) -> None:
        """Finish the pod's containers as a kubelet would report it (exit code 0 or 1 unless given)."""
        code = exit_code if exit_code is not None else (0 if phase == "Succeeded" else 1)
        with self._lock:
            pod = self.api.call("GET", f"/api/v1/namespaces/{namespace}/pods/{name}")
            self._done.add(pod["metadata"]["uid"])
            if not pod.get("spec", {}).get("nodeName"):
                self._bind(pod)
            now = _now()
            reason = "PodCompleted"
            old = pod.get("status", {})
            status = {
                "phase": phase,
                "conditions": [_condition("PodReadyToStartContainers", "False", now),
                               _condition("Initialized", "True", now, reason),
                               _condition("Ready", "False", now, reason), _condition("ContainersReady", "False", now, reason),
                               _condition("PodScheduled", "True", now)],
                "hostIP": "127.0.0.1", "hostIPs": [{"ip": "127.0.0.1"}],
                "startTime": old.get("startTime") or now,
                "containerStatuses": [
                    {"name": c["name"], "image": c.get("image", ""), "imageID": f"fake://{c.get('image', '')}",
                     "containerID": f"fake://{pod['metadata']['uid']}-{c['name']}", "ready": False, "started": False,
                     "restartCount": 0,
                     "state": {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                                              "startedAt": old.get("startTime") or now, "finishedAt": now,
                                              "containerID": f"fake://{pod['metadata']['uid']}-{c['name']}"}}}
                    for c in pod.get("spec", {}).get("containers", [])],
                "qosClass": old.get("qosClass", "BestEffort"),
            }
            if old.get("podIP"):
                status["podIP"], status["podIPs"] = old["podIP"], old.get("podIPs", [{"ip": old["podIP"]}])
            self.api.call("PATCH", f"/api/v1/namespaces/{namespace}/pods/{name}/status",
                          {"status": status}, "application/merge-patch+json")
