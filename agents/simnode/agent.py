"""The simnode process: N hollow nodes behind one event loop, one REST client, one pod watch.

- Registration: each Node is POSTed as its own identity (409: the existing one is adopted), then its Lease.
- Leases: renewed every 0.25 × --node-lease-duration-seconds (the kubelet's 10 s of 40 s), node i at offset
  i/N of the period, so renewals are a steady stream; a node whose last renewal is still queued (an API server
  slower than the renewal rate) gets no second one, so the queue stays bounded by the node count. A renewal is a PUT guarded by the last resourceVersion
  (one request; a conflict re-reads, a 404 re-creates).
- Node status: the conditions' heartbeat every --node-status-report-frequency (the kubelet's 5 min when Leases
  carry liveness), spread the same way, and at once when a stopped node comes back.
- Pods: one informer on every bound pod (fieldSelector spec.nodeName!=), filtered to our nodes; every change or
  due timer re-evaluates the pod with the pure core (`lifecycle`) and queues a status write and/or the final
  delete when the API shows something else than the kubelet would report.
- Writes go through two queues, node writes (leases first, then status) and pod writes, each served by half of
  a fixed pool of workers (96: at ~0.3 s per write under load, 1,000 nodes' 100 renewals/s keep ~30 busy)
  behind the client's token bucket (--kube-api-qps/--kube-api-burst): a burst of pods never starves the leases
  that keep nodes alive, and an API server slower than the renewals asked of it does not starve the pods. A
  write the API server refuses is logged and retried by the next evaluation (pods: after 1 s; leases: next
  period); other nodes and pods carry on.
- Failure injection: `stop(name)` (control endpoint POST /nodes/<name>/stop, or SIGUSR1 for every node) makes a
  node's kubelet silent — no renewals, no status, its pods left as they are; `start(name)` (SIGUSR2) brings it
  back: Ready posted, Lease renewed, its pods re-evaluated.
"""

from __future__ import annotations

import asyncio
import dataclasses
import heapq
import itertools
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from agents.simnode import ipam, lifecycle, nodes
from agents.simnode.client import NodeClient, acting_as
from controllers.machinery.client import APIError
from controllers.machinery.events import EventRecorder
from controllers.machinery.informer import Informer, meta_namespace_key
from controllers.machinery.resources import LEASES, NODES, PODS

log = logging.getLogger("simnode")
Obj = dict[str, Any]

PRIO_LEASE, PRIO_NODE, PRIO_POD = 0, 1, 2
POD_RETRY_S = 1.0
LEASE_RENEW_FRACTION = 0.25  # kubelet: renew interval = 25% of the lease duration


@dataclass
class Config:
    names: list[str]
    profile: nodes.NodeProfile
    timing: lifecycle.Timing
    cluster_cidr: str = "10.244.0.0/16"
    node_cidr_mask: int = 24
    node_ip_range: str = "172.18.0.0/16"
    index_offset: int = 0  # the first node's index in the CIDR and IP ranges (several simnode processes)
    zones: list[str] = field(default_factory=list)  # node i is in zones[i % len(zones)]
    lease_duration_s: int = 40
    status_report_s: float = 300.0
    workers: int = 96
    events: bool = True  # the kubelet's node and container Events


@dataclass
class SimNode:
    name: str
    index: int
    ip: str
    pod_cidr: str
    ips: ipam.PodIPs
    profile: nodes.NodeProfile
    uid: str = ""
    lease: Obj | None = None
    conditions: list[Obj] = field(default_factory=list)
    alive: bool = True
    registered: bool = False
    last_renew: float = 0.0
    recorder: EventRecorder | None = None
    pending: set[int] = field(default_factory=set)  # the write priorities with a job of this node queued


class Agent:
    def __init__(self, client: NodeClient, config: Config, clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.config = config
        self.clock = clock
        self.nodes: dict[str, SimNode] = {}
        for i, name in enumerate(config.names):
            idx = config.index_offset + i
            cidr = ipam.pod_cidr(config.cluster_cidr, config.node_cidr_mask, idx)
            profile = config.profile
            if config.zones:
                profile = dataclasses.replace(profile, zone=config.zones[idx % len(config.zones)])
            self.nodes[name] = SimNode(name, idx, ipam.node_ip(config.node_ip_range, idx), cidr,
                                       ipam.PodIPs(cidr), profile)
        self.pods = Informer(client, PODS, field_selector="spec.nodeName!=")
        self.runs: dict[str, lifecycle.PodRun] = {}  # by pod uid
        self.written: dict[str, tuple[tuple[Any, ...], int]] = {}  # uid -> (signature, resourceVersion) we wrote
        self.busy: set[str] = set()  # pod keys with a write queued or in flight
        self.deleted: set[str] = set()  # uids whose final delete was accepted (the cache may still show them)
        self.dirty: set[str] = set()
        self._dirty_event = asyncio.Event()
        self._timers: list[tuple[float, int, str]] = []
        self._timer_event = asyncio.Event()
        self._seq = itertools.count()
        # node writes (leases first, then status) and pod writes have their own queues and halves of the workers:
        # an API server slower than the renewals asked of it must not starve the pods, nor pods the leases
        self._queue: asyncio.PriorityQueue[tuple[int, int, Callable[[], Awaitable[None]]]] = asyncio.PriorityQueue()
        self._pod_queue: asyncio.PriorityQueue[tuple[int, int, Callable[[], Awaitable[None]]]] = \
            asyncio.PriorityQueue()
        self.counters: Counter[str] = Counter()
        self.renew_lateness: list[float] = []  # seconds each renewal left after it was due (last 10,000)
        self.latency: dict[str, list[float]] = {"lease": [], "pod_status": []}  # API call seconds (last 10,000)
        self.registered = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # ---------------------------------------------------------------- lifecycle of the process
    async def start(self) -> None:
        node_workers = max(1, self.config.workers // 2) if self.config.workers else 0
        for i in range(self.config.workers):
            queue = self._queue if i < node_workers else self._pod_queue
            self._tasks.append(asyncio.create_task(self._worker(queue)))
        await self._register_all()
        self.pods.add_handlers(on_add=self._on_pod, on_update=lambda old, new: self._on_pod(new),
                               on_delete=self._on_pod_deleted)
        self.pods.start()
        self._tasks += [asyncio.create_task(self._process()), asyncio.create_task(self._timer_loop()),
                        asyncio.create_task(self._renew_loop()), asyncio.create_task(self._status_loop())]

    async def stop(self) -> None:
        await self.pods.stop()
        for node in self.nodes.values():
            if node.recorder is not None:
                node.recorder.stop()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.client.close()

    def _submit(self, prio: int, job: Callable[[], Awaitable[None]]) -> None:
        queue = self._pod_queue if prio == PRIO_POD else self._queue
        queue.put_nowait((prio, next(self._seq), job))

    async def _worker(self, queue: asyncio.PriorityQueue[tuple[int, int, Callable[[], Awaitable[None]]]]) -> None:
        while True:
            _, _, job = await queue.get()
            try:
                await job()
            except asyncio.CancelledError:
                raise
            except Exception:  # a job logs its own API errors; anything else must not kill the worker
                log.exception("simnode: write failed")
                self.counters["errors"] += 1

    # ---------------------------------------------------------------- registration
    async def _register_all(self) -> None:
        pending = [asyncio.get_running_loop().create_future() for _ in self.nodes]
        for node, fut in zip(self.nodes.values(), pending, strict=True):
            self._submit(PRIO_NODE, self._register_job(node, fut))
        await asyncio.gather(*pending)
        self.registered.set()
        log.info("simnode: %d nodes registered", len(self.nodes))

    def _register_job(self, node: SimNode, done: asyncio.Future[None]) -> Callable[[], Awaitable[None]]:
        async def job() -> None:
            try:
                await self._register(node)
            except APIError as e:
                log.warning("simnode: registering node %s failed: %s; retrying", node.name, e)
                self.counters["errors"] += 1
                await asyncio.sleep(1.0)
                self._submit(PRIO_NODE, self._register_job(node, done))
                return
            done.set_result(None)
        return job

    async def _register(self, node: SimNode) -> None:
        now = self.clock()
        body = nodes.node_object(node.name, node.ip, node.pod_cidr, node.profile, now)
        with acting_as(node.name):
            existed = False
            try:
                created = await self.client.create(NODES, None, body)
                self.counters["node_create"] += 1
            except APIError as e:
                if not e.already_exists:
                    raise
                existed = True  # registered by an earlier run: adopt it and post a fresh status
                created = await self.client.get(NODES, None, node.name)
            node.uid = created["metadata"]["uid"]
            node.conditions = (created.get("status") or {}).get("conditions") or []
            if existed or not _is_ready(node.conditions):
                await self._post_status(node)
            node.registered = True
            await self._renew(node)
        self._node_started_events(node)

    async def _post_status(self, node: SimNode) -> None:
        now = self.clock()
        status = nodes.node_status(node.name, node.ip, node.profile, now, node.conditions)
        with acting_as(node.name):
            updated = await self.client.patch(NODES, None, node.name, {"status": status}, "strategic",
                                              subresource="status")
        node.conditions = (updated.get("status") or {}).get("conditions") or status["conditions"]
        self.counters["node_status"] += 1

    # ---------------------------------------------------------------- events
    def _recorder(self, node: SimNode) -> EventRecorder:
        if node.recorder is None:
            node.recorder = EventRecorder(self.client, "kubelet", host=node.name, clock=self.clock)
        return node.recorder

    def _event(self, node: SimNode, obj: Obj, type_: str, reason: str, message: str) -> None:
        if not self.config.events:
            return
        # the recorder's writer task starts on its first event and keeps this context: it writes as the node
        with acting_as(node.name):
            self._recorder(node).event(obj, type_, reason, message)
        self.counters["events"] += 1

    def _node_started_events(self, node: SimNode) -> None:
        """What a starting kubelet reports about its Node (the involvedObject's uid is the node's name, as the
        kubelet's nodeRef has it)."""
        ref = {"kind": "Node", "metadata": {"name": node.name, "uid": node.name}}
        self._event(node, ref, "Normal", "Starting", "Starting kubelet.")
        self._event(node, ref, "Normal", "NodeAllocatableEnforced", "Updated Node Allocatable limit across pods")
        for status in ("NodeHasSufficientMemory", "NodeHasNoDiskPressure", "NodeHasSufficientPID", "NodeReady"):
            self._event(node, ref, "Normal", status, f"Node {node.name} status is now: {status}")

    # ---------------------------------------------------------------- leases
    async def _renew(self, node: SimNode, due: float | None = None) -> None:
        now = self.clock()
        if due is not None:
            self.renew_lateness.append(max(0.0, now - due))
            del self.renew_lateness[:-10_000]
        with acting_as(node.name):
            try:
                if node.lease is None:
                    node.lease = await self.client.create(
                        LEASES, nodes.NODE_LEASE_NAMESPACE,
                        nodes.lease_object(node.name, node.uid, self.config.lease_duration_s, now))
                else:
                    node.lease = await self.client.update(LEASES, nodes.NODE_LEASE_NAMESPACE, node.name,
                                                          nodes.renewed(node.lease, now))
                    self._took("lease", now)
            except APIError as e:
                if e.already_exists or e.conflict:
                    current = await self.client.get(LEASES, nodes.NODE_LEASE_NAMESPACE, node.name)
                    node.lease = await self.client.update(LEASES, nodes.NODE_LEASE_NAMESPACE, node.name,
                                                          nodes.renewed(current, now))
                elif e.not_found:
                    node.lease = None
                    raise
                else:
                    raise
        node.last_renew = now
        self.counters["lease_renew"] += 1

    def _lease_job(self, node: SimNode, due: float) -> Callable[[], Awaitable[None]]:
        async def job() -> None:
            if not node.alive:
                return
            try:
                await self._renew(node, due)
            except APIError as e:
                self.counters["lease_errors"] += 1
                log.warning("simnode: lease of %s not renewed: %s", node.name, e)
        return job

    async def _spread_loop(self, interval: float, make_job: Callable[[SimNode, float], Callable[[], Awaitable[None]]],
                           prio: int) -> None:
        """Run `make_job` for every node once per `interval`, node i at offset i/N of the period."""
        ordered = list(self.nodes.values())
        start = self.clock()
        for period in itertools.count(1):
            base = start + period * interval
            for i, node in enumerate(ordered):
                due = base + nodes.renew_offset(i, len(ordered), interval)
                delay = due - self.clock()
                if delay > 0:
                    await asyncio.sleep(delay)
                if not (node.alive and node.registered):
                    continue
                if prio in node.pending:  # the last one has not gone out yet: one in the queue is enough
                    self.counters["coalesced"] += 1
                    continue
                node.pending.add(prio)
                self._submit(prio, self._once(node, prio, make_job(node, due)))

    @staticmethod
    def _once(node: SimNode, prio: int, job: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            try:
                await job()
            finally:
                node.pending.discard(prio)
        return run

    async def _renew_loop(self) -> None:
        await self._spread_loop(self.config.lease_duration_s * LEASE_RENEW_FRACTION, self._lease_job, PRIO_LEASE)

    async def _status_loop(self) -> None:
        def make(node: SimNode, due: float) -> Callable[[], Awaitable[None]]:
            async def job() -> None:
                if not node.alive:
                    return
                try:
                    await self._post_status(node)
                except APIError as e:
                    self.counters["errors"] += 1
                    log.warning("simnode: status of node %s not posted: %s", node.name, e)
            return job
        await self._spread_loop(self.config.status_report_s, make, PRIO_NODE)

    # ---------------------------------------------------------------- failure injection
    def stop_node(self, name: str) -> bool:
        node = self.nodes.get(name)
        if node is None:
            return False
        node.alive = False
        log.info("simnode: node %s stopped (no lease renewals, no status)", name)
        return True

    def start_node(self, name: str) -> bool:
        node = self.nodes.get(name)
        if node is None:
            return False
        if not node.alive:
            node.alive = True
            log.info("simnode: node %s started again", name)

            async def job() -> None:
                try:
                    await self._post_status(node)
                    await self._renew(node)
                    self._node_started_events(node)
                except APIError as e:
                    self.counters["errors"] += 1
                    log.warning("simnode: node %s did not come back: %s", name, e)
            self._submit(PRIO_LEASE, job)
            for pod in self.pods.store.by_index("node_name", name):
                self._mark(meta_namespace_key(pod))
        return True

    # ---------------------------------------------------------------- pods
    def _on_pod(self, pod: Obj) -> None:
        if (pod.get("spec") or {}).get("nodeName") in self.nodes:
            self._mark(meta_namespace_key(pod))

    def _on_pod_deleted(self, pod: Obj) -> None:
        uid = (pod.get("metadata") or {}).get("uid", "")
        run = self.runs.pop(uid, None)
        self.written.pop(uid, None)
        self.deleted.discard(uid)
        if run is not None and run.node in self.nodes:
            self.nodes[run.node].ips.release(uid)

    def _mark(self, key: str) -> None:
        self.dirty.add(key)
        self._dirty_event.set()

    def _after(self, when: float, key: str) -> None:
        heapq.heappush(self._timers, (when, next(self._seq), key))
        self._timer_event.set()

    async def _timer_loop(self) -> None:
        while True:
            self._timer_event.clear()
            now = self.clock()
            while self._timers and self._timers[0][0] <= now:
                self._mark(heapq.heappop(self._timers)[2])
            timeout = self._timers[0][0] - now if self._timers else None
            try:
                await asyncio.wait_for(self._timer_event.wait(), timeout)
            except TimeoutError:
                pass

    async def _process(self) -> None:
        while True:
            await self._dirty_event.wait()
            self._dirty_event.clear()
            keys, self.dirty = self.dirty, set()
            for key in keys:
                if key in self.busy:
                    continue  # re-marked when its write finishes
                try:
                    self._evaluate(key)
                except Exception:
                    log.exception("simnode: evaluating pod %s failed", key)
            await asyncio.sleep(0)

    def _evaluate(self, key: str) -> None:
        pod = self.pods.store.get(key)
        if pod is None:
            return
        node = self.nodes.get((pod.get("spec") or {}).get("nodeName") or "")
        if node is None or not node.alive or not node.registered:
            return
        meta = pod.get("metadata") or {}
        uid = meta.get("uid", "")
        if uid in self.deleted:
            return  # gone on the server; its DELETED event is on the way
        phase = (pod.get("status") or {}).get("phase")
        run = self.runs.get(uid)
        if run is None:
            if phase in ("Succeeded", "Failed"):
                if meta.get("deletionTimestamp"):
                    self._write(key, node, pod, None, True)
                return  # finished before we met it: nothing left to run
            run = self._new_run(pod, node)
            self.runs[uid] = run
        now = self.clock()
        wake = lifecycle.advance(run, pod, now, self.config.timing)
        if wake is not None:
            self._after(wake, key)
        if run.events:
            for type_, reason, message, path in run.events:
                self._event(node, {"kind": "Pod", "apiVersion": "v1", "metadata": meta, "fieldPath": path},
                            type_, reason, message)
            run.events.clear()
        desired = lifecycle.desired_status(pod, run, now)
        write_status = lifecycle.differs(pod.get("status"), desired)
        if write_status:
            mine = self.written.get(uid)
            if mine is not None and mine[0] == lifecycle.signature(desired) and \
                    _rv_int(pod) <= mine[1]:
                write_status = False  # our own write has not reached the cache yet
        delete = lifecycle.wants_delete(pod, run)
        if write_status or delete:
            self._write(key, node, pod, desired if write_status else None, delete)
        if run.terminal() and not meta.get("deletionTimestamp"):
            node.ips.release(uid)  # a finished pod's sandbox is gone; its IP stays in its status only

    def _new_run(self, pod: Obj, node: SimNode) -> lifecycle.PodRun:
        uid = pod["metadata"]["uid"]
        adopted = lifecycle.adopt(pod, node.name, node.ip, self.clock())
        if adopted is not None and node.ips.reserve(uid, adopted.pod_ip):
            return adopted
        return lifecycle.new_run(pod, node.name, node.ip, node.ips.allocate(uid), self.clock())

    def _write(self, key: str, node: SimNode, pod: Obj, status: Obj | None, delete: bool) -> None:
        self.busy.add(key)
        meta = pod["metadata"]
        ns, name, uid = meta.get("namespace"), meta["name"], meta["uid"]

        async def job() -> None:
            try:
                with acting_as(node.name):
                    if status is not None:
                        sent = self.clock()
                        updated = await self.client.patch(PODS, ns, name, {"status": status}, "merge",
                                                          subresource="status")
                        self.written[uid] = (lifecycle.signature(status), _rv_int(updated))
                        self._took("pod_status", sent)
                        self.counters["pod_status"] += 1
                    if delete:
                        await self.client.delete(PODS, ns, name, uid=uid, grace_period_seconds=0)
                        self.deleted.add(uid)
                        self.counters["pod_delete"] += 1
            except APIError as e:
                if e.not_found or (delete and e.conflict):
                    self.deleted.add(uid)  # already gone, or the name now belongs to another pod
                elif not e.conflict:
                    self.counters["errors"] += 1
                    log.warning("simnode: pod %s/%s: %s", ns, name, e)
                    self._after(self.clock() + POD_RETRY_S, key)
            finally:
                self.busy.discard(key)
                self._mark(key)
        self._submit(PRIO_POD, job)

    # ---------------------------------------------------------------- reporting
    def _took(self, kind: str, sent: float) -> None:
        samples = self.latency[kind]
        samples.append(self.clock() - sent)
        del samples[:-10_000]

    def summary(self) -> Obj:
        phases: Counter[str] = Counter()
        for pod in self.pods.store.list():
            if (pod.get("spec") or {}).get("nodeName") in self.nodes:
                phases[(pod.get("status") or {}).get("phase") or "Pending"] += 1
        late = sorted(self.renew_lateness)
        return {"nodes": len(self.nodes), "alive": sum(n.alive for n in self.nodes.values()),
                "registered": sum(n.registered for n in self.nodes.values()),
                "pods": dict(phases), "counters": dict(self.counters),
                "requests": dict(self.client.requests), "queue": self._queue.qsize(), "pod_queue": self._pod_queue.qsize(),
                "lease_renew_lateness_p99_s": late[int(0.99 * (len(late) - 1))] if late else 0.0,
                "lease_renew_lateness_max_s": late[-1] if late else 0.0,
                "write_latency_s": {k: _percentiles(v) for k, v in self.latency.items()}}


def _percentiles(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {}
    s = sorted(samples)
    return {"n": len(s), "p50": s[len(s) // 2], "p99": s[int(0.99 * (len(s) - 1))], "max": s[-1]}


def _is_ready(conditions: list[Obj]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _rv_int(obj: Obj | None) -> int:
    try:
        return int(((obj or {}).get("metadata") or {}).get("resourceVersion") or 0)
    except ValueError:
        return 0
