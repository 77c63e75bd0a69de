"""The kubelet's `StreamingHost` (agents/kubelet/streaming.py): what /containerLogs, /exec, /attach and
/portForward reach, answered from the kubelet's pods and the CRI — logs from the container's CRI log file,
exec/attach through the runtime's streaming URL (CRI Exec/Attach), port-forward dialled at the pod's IP."""

from __future__ import annotations

import asyncio
from typing import Any

from agents.cri.client import CRIError
from agents.kubelet.crimap import inspect
from agents.kubelet.streaming import LogSource, Process, StreamingError, StreamURL, log_status_error
from raftkv._pb.runtime.v1 import api_pb2 as api

Obj = dict[str, Any]


class KubeletStreamingHost:
    def __init__(self, kubelet: Any) -> None:
        self.kubelet = kubelet  # agents.kubelet.kubelet.Kubelet (typed loosely: no import cycle)

    def _pod(self, namespace: str, name: str, uid: str = "") -> Obj:
        pod = self.kubelet.pod_by_name(namespace, name)
        if pod is None or (uid and pod["metadata"]["uid"] != uid):
            raise StreamingError(404, f'pod "{name}" not found')
        return pod  # type: ignore[no-any-return]

    async def _container_id(self, pod: Obj, container: str, previous: bool = False) -> str:
        rt = await inspect(self.kubelet.runtime, pod["metadata"]["uid"])
        c = rt.previous(container) if previous else rt.latest(container)
        if c is None:
            raise StreamingError(400, f'container "{container}" in pod "{pod["metadata"]["name"]}" is not available')
        return c.id

    async def container_log(self, namespace: str, pod: str, container: str, previous: bool) -> LogSource:
        p = self._pod(namespace, pod)
        names = [c["name"] for c in list((p.get("spec") or {}).get("containers") or []) +
                 list((p.get("spec") or {}).get("initContainers") or [])]
        if container not in names:
            raise StreamingError(400, f'container {container} is not valid for pod {pod}')
        status = self.kubelet.written.get(p["metadata"]["uid"]) or p.get("status") or {}
        err = log_status_error({**p, "status": status}, container, previous)
        if err:
            raise StreamingError(400, err)
        cid = await self._container_id(p, container, previous)
        runtime = self.kubelet.runtime
        st = (await runtime.ContainerStatus(api.ContainerStatusRequest(container_id=cid))).status

        async def running() -> bool:
            try:
                s = (await runtime.ContainerStatus(api.ContainerStatusRequest(container_id=cid))).status
            except CRIError:
                return False
            return bool(s.state == api.CONTAINER_RUNNING)
        return LogSource(path=st.log_path, running=running)

    async def exec(self, namespace: str, pod: str, uid: str, container: str, command: list[str], *,
                   stdin: bool, stdout: bool, stderr: bool, tty: bool) -> Process | StreamURL:
        cid = await self._container_id(self._pod(namespace, pod, uid), container)
        try:
            resp = await self.kubelet.runtime.Exec(api.ExecRequest(container_id=cid, cmd=command, tty=tty,
                                                                   stdin=stdin, stdout=stdout, stderr=stderr))
        except CRIError as e:
            raise StreamingError(500, str(e)) from None
        return StreamURL(resp.url)

    async def attach(self, namespace: str, pod: str, uid: str, container: str, *,
                     stdin: bool, stdout: bool, stderr: bool, tty: bool) -> Process | StreamURL:
        cid = await self._container_id(self._pod(namespace, pod, uid), container)
        try:
            resp = await self.kubelet.runtime.Attach(api.AttachRequest(container_id=cid, stdin=stdin, tty=tty,
                                                                       stdout=stdout, stderr=stderr))
        except CRIError as e:
            raise StreamingError(500, str(e)) from None
        return StreamURL(resp.url)

    async def port_forward(self, namespace: str, pod: str, uid: str,
                           port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        p = self._pod(namespace, pod, uid)
        if (p.get("spec") or {}).get("hostNetwork"):
            ip = "127.0.0.1"
        else:
            rt = await inspect(self.kubelet.runtime, p["metadata"]["uid"])
            ip = rt.sandbox.ip if rt.sandbox else ""
        if not ip:
            raise StreamingError(500, f"pod {pod} has no IP")
        return await asyncio.open_connection(ip, port)
