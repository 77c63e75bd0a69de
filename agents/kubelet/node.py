"""The kubelet's Node and Lease upkeep: register, renew the kube-node-lease Lease every 10 s (a quarter of its
40 s duration), post node status when it changed and at least every nodeStatusReportFrequency (5 min)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from agents.simnode import nodes
from controllers.machinery.client import APIError, RESTClient
from controllers.machinery.resources import LEASES, NODES

log = logging.getLogger(__name__)
Obj = dict[str, Any]


def _without_heartbeats(status: Obj) -> Obj:
    conds = [{k: v for k, v in c.items() if k != "lastHeartbeatTime"} for c in status.get("conditions") or []]
    return {**status, "conditions": conds}


class NodeAgent:
    def __init__(self, client: RESTClient, name: str, node_ip: str, profile: nodes.NodeProfile, port: int,
                 lease_duration: int = 40, status_update_s: float = 10.0, status_report_s: float = 300.0,
                 clock: Any = time.time, ready_error: Any = lambda: "") -> None:
        self.client = client
        self.name = name
        self.node_ip = node_ip
        self.profile = profile
        self.port = port
        self.lease_duration = lease_duration
        self.status_update_s = status_update_s
        self.status_report_s = status_report_s
        self.clock = clock
        self.ready_error = ready_error  # () -> "" or why the node is not ready (the runtime's state)
        self.node: Obj = {}
        self._last_status: Obj = {}
        self._last_post = 0.0

    def _desired_status(self, old_conditions: list[Obj] | None) -> Obj:
        now = self.clock()
        st = nodes.node_status(self.name, self.node_ip, self.profile, now, old_conditions)
        st["daemonEndpoints"] = {"kubeletEndpoint": {"Port": self.port}}
        error = self.ready_error()
        if error:
            before = {c.get("type"): c for c in old_conditions or []}.get("Ready") or {}
            since = before.get("lastTransitionTime") if before.get("status") == "False" else None
            for c in st["conditions"]:
                if c["type"] == "Ready":
                    c.update(status="False", reason="KubeletNotReady", message=error,
                             lastTransitionTime=since or nodes.rfc3339(now))
        return st

    async def register(self) -> Obj:
        """Create the Node, or take over the one that exists (the kubelet re-registers after a restart)."""
        body = nodes.node_object(self.name, self.node_ip, "", self.profile, self.clock())
        body["spec"].pop("podCIDR", None)
        body["spec"].pop("podCIDRs", None)
        body["status"]["daemonEndpoints"] = {"kubeletEndpoint": {"Port": self.port}}
        while True:
            try:
                self.node = await self.client.create(NODES, None, body)
                log.info("Successfully registered node %s", self.name)
                break
            except APIError as e:
                if not e.already_exists:
                    log.warning("Unable to register node with API server: %s", e.message)
                    await asyncio.sleep(1)
                    continue
                existing = await self.client.get(NODES, None, self.name)
                labels = {**(existing["metadata"].get("labels") or {}), **body["metadata"]["labels"]}
                self.node = await self.client.patch(NODES, None, self.name, {"metadata": {"labels": labels}})
                break
        await self.post_status(force=True)
        return self.node

    async def post_status(self, force: bool = False) -> None:
        old = (self.node.get("status") or {}).get("conditions")
        status = self._desired_status(old)
        now = self.clock()
        if not force and _without_heartbeats(status) == _without_heartbeats(self._last_status) \
                and now - self._last_post < self.status_report_s:
            return
        self.node = await self.client.patch(NODES, None, self.name, {"status": status}, subresource="status")
        self._last_status, self._last_post = status, now

    async def renew_lease(self) -> None:
        uid = self.node["metadata"]["uid"]
        try:
            lease = await self.client.get(LEASES, nodes.NODE_LEASE_NAMESPACE, self.name)
        except APIError as e:
            if not e.not_found:
                raise
            await self.client.create(LEASES, nodes.NODE_LEASE_NAMESPACE,
                                     nodes.lease_object(self.name, uid, self.lease_duration, self.clock()))
            return
        await self.client.update(LEASES, nodes.NODE_LEASE_NAMESPACE, self.name, nodes.renewed(lease, self.clock()))

    async def run(self) -> None:
        """Lease every duration/4, status every status_update_s (posted only on change or report period)."""
        lease_every = self.lease_duration / 4
        next_lease = next_status = 0.0
        while True:
            now = time.monotonic()
            try:
                if now >= next_lease:
                    await self.renew_lease()
                    next_lease = now + lease_every
                if now >= next_status:
                    await self.post_status()
                    next_status = now + self.status_update_s
            except (TimeoutError, APIError, OSError) as e:
                log.warning("node upkeep: %s", e)
                next_lease = min(next_lease, now + 1)
            except Exception as e:  # aiohttp errors: keep going, the API server may be restarting
                log.warning("node upkeep: %s", e)
            await asyncio.sleep(max(0.05, min(next_lease, next_status) - time.monotonic()))
