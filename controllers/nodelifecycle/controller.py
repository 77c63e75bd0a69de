"""The node lifecycle controller's adapter (with the taint eviction controller folded in, as before 1.29).

Every node is synced every `--node-monitor-period`: its probe time is brought up to date from the cached Node and
its kube-node-lease Lease, silent nodes get Unknown conditions, their NodeNotReady event and their pods Ready=False,
taints follow the conditions, and pods on NoExecute-tainted nodes whose tolerations ran out are evicted (the node
is synced again when the next one runs out). Probe times live in memory only, as in 1.32: a restarted controller
gives every node a fresh grace period.
"""

from __future__ import annotations

import logging
from typing import Any

from controllers.machinery.actions import Action
from controllers.machinery.client import APIError
from controllers.machinery.controller import Controller, ControllerContext
from controllers.machinery.executor import execute
from controllers.machinery.resources import LEASES, NODES, PODS
from controllers.nodelifecycle import reconcile as core

log = logging.getLogger(__name__)
Object = dict[str, Any]
COMPONENT = "node-controller"
LEASE_NAMESPACE = "kube-node-lease"


class NodeLifecycleController(Controller):
    name = "nodelifecycle"
    resources = (NODES, LEASES, PODS)

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        o = ctx.options
        self.opts = core.Options(monitor_grace_seconds=o.node_monitor_grace_period,
                                 startup_grace_seconds=o.node_startup_grace_period,
                                 eviction_rate=o.node_eviction_rate,
                                 secondary_eviction_rate=o.secondary_node_eviction_rate,
                                 large_cluster_threshold=o.large_cluster_size_threshold,
                                 unhealthy_zone_threshold=o.unhealthy_zone_threshold)
        self.limiters: dict[str, core.ZoneLimiter] = {}
        self.all_disrupted = False
        self.period = float(o.node_monitor_period)
        self.recorder = ctx.recorder(COMPONENT)
        self.health: dict[str, core.Health] = {}
        self.nodes = self.watch(NODES)
        self.leases = ctx.informer(LEASES)
        self.pods = ctx.informer(PODS)
        self.pods.add_handlers(on_add=self._pod_changed, on_update=lambda old, new: self._pod_changed(new))

    def _pod_changed(self, pod: Object) -> None:
        """A pod landing on (or changing on) a NoExecute-tainted node is the taint manager's business at once."""
        node = self.nodes.store.get((pod.get("spec") or {}).get("nodeName") or "")
        if node is not None and any(t.get("effect") == "NoExecute" for t in (node.get("spec") or {}).get("taints") or []):
            self.enqueue(node)

    async def sync(self, key: str) -> None:
        _, name = self.split_key(key)
        node = self.nodes.store.get(name)
        if node is None:
            self.health.pop(name, None)
            return
        try:
            await self._sync(name, node)
        finally:
            self.enqueue_after(key, self.period)  # the monitor pass, for every node, every period

    async def _sync(self, name: str, node: Object) -> None:
        now = self.ctx.now()
        prev = self.health.get(name)
        if prev is None:
            self.recorder.event(node, "Normal", "RegisteredNode", core.registered_event(node).message)
        lease = self.leases.store.get(f"{LEASE_NAMESPACE}/{name}")
        health = self.health[name] = core.observe(node, lease, prev, now)
        observed = core.ready_status(node)
        unknown = core.unknown_conditions(node, health, now, self.opts)
        if unknown is not None:
            node = await self._one(core.status_update(unknown))
        current = core.ready_status(node)
        pods = self.pods.store.by_index("node_name", name)
        actions: list[Action] = []
        if observed == "True" and current != "True":
            actions.append(core.node_not_ready_event(node))
        if current != "True":
            actions += core.mark_pods_not_ready(pods, name, now)
        await self._run(actions)

        no_execute, may_add = self._no_execute_allowed(node, now.timestamp())
        taints = core.desired_taints(node, now, no_execute=no_execute, may_add_no_execute=may_add)
        if taints is not None:
            before = node
            node = await self._one(core.taint_patch(node, taints))
            await self._run(core.cancelled_evictions(pods, before, node, now))
        await self._evict(name, node, now)

    def _no_execute_allowed(self, node: Object, now: float) -> tuple[bool, bool]:
        """(NoExecute tainting at all — not when every zone is fully disrupted; may this node get its first
        NoExecute taint now — its zone's limiter). A node held back is looked at again when a token is due."""
        name = node["metadata"]["name"]
        zones: dict[str, list[str]] = {}
        for n in self.nodes.store.list():
            if n["metadata"]["name"] != name:
                zones.setdefault(core.zone_key(n), []).append(core.ready_status(n))
        zone = core.zone_key(node)
        zones.setdefault(zone, []).append(core.ready_status(node))
        states = {z: core.zone_state(s, self.opts.unhealthy_zone_threshold) for z, s in zones.items()}
        all_disrupted = all(st == "FullDisruption" for st in states.values())
        if self.all_disrupted and not all_disrupted:
            # Leaving full disruption: every node starts a fresh grace period, as 1.32 resets the probe times.
            self.health = {n: core.Health(now, h.ready_heartbeat, h.lease_renew) for n, h in self.health.items()}
        self.all_disrupted = all_disrupted
        if all_disrupted:
            return False, False
        if not core.needs_new_no_execute(node):
            return True, True
        limiter = self.limiters.setdefault(zone, core.ZoneLimiter(self.opts.eviction_rate, now))
        limiter.set_rate(core.zone_rate(states[zone], len(zones[zone]), self.opts), now)
        if limiter.try_accept(now):
            return True, True
        wait = limiter.wait()
        if wait != float("inf"):
            self.enqueue_after(name, wait)
        return True, False

    async def _evict(self, name: str, node: Object, now: Any) -> None:
        soonest: float | None = None
        for pod in self.pods.store.by_index("node_name", name):
            at = core.eviction_time(pod, node, now)
            if at is None:
                continue
            if at <= now.timestamp():
                await self._run(core.evict(pod, now))
            elif soonest is None or at < soonest:
                soonest = at
        if soonest is not None:
            self.enqueue_after(name, max(0.0, soonest - now.timestamp()))

    async def _one(self, action: Action) -> Object:
        [outcome] = await execute(self.ctx.client, [action], self.recorder)
        if outcome.error is not None:
            raise outcome.error
        return outcome.object or {}

    async def _run(self, actions: list[Action]) -> None:
        """One at a time, in order (no delete after a failed DisruptionTarget write); a pod that is already gone
        is no error, anything else stops here and retries the node."""
        for action in actions:
            [outcome] = await execute(self.ctx.client, [action], self.recorder)
            err = outcome.error
            if err is not None and not (isinstance(err, APIError) and err.not_found):
                raise err


def new_controller(ctx: ControllerContext) -> Controller:
    return NodeLifecycleController(ctx)
