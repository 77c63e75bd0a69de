"""The adapter: informers on pods, nodes, PVCs and namespaces feed the cache and the queue; one loop pops a pod, runs a
synchronous scheduling cycle on the cache's snapshot (the pure framework), assumes the pod on the chosen node and
binds it through `pods/binding` in a background task (as kube binds in a goroutine); failures write kube's
FailedScheduling Event and PodScheduled=False condition, preemption deletes the chosen victims. Pods naming
another schedulerName are never touched."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
from collections.abc import Callable
from typing import Any

from controllers.machinery.client import APIError, RESTClient
from controllers.machinery.events import EventRecorder, rfc3339
from controllers.machinery.informer import SharedInformerFactory
from controllers.machinery.resources import (
    NAMESPACES,
    NODES,
    PERSISTENTVOLUMECLAIMS,
    PODDISRUPTIONBUDGETS,
    PODS,
)
from controllers.scheduler import queue as q
from controllers.scheduler.cache import Cache, CacheError
from controllers.scheduler.config import SchedulerConfig
from controllers.scheduler.framework import FitError, NoNodesError, Profile, SchedulingError, schedule_pod
from controllers.scheduler.podinfo import PodInfo, pod_info
from controllers.scheduler.preemption import Candidate, preempt

log = logging.getLogger("scheduler")
Object = dict[str, Any]
UNSCHEDULABLE, SCHEDULER_ERROR = "Unschedulable", "SchedulerError"
LEFTOVER_FLUSH_S = 30.0


def _assigned(pod: Object) -> bool:
    return bool((pod.get("spec") or {}).get("nodeName"))


def _terminal(pod: Object) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _key(pod: Object) -> str:
    meta = pod.get("metadata") or {}
    return f"{meta.get('namespace') or 'default'}/{meta.get('name', '')}"


def _gated(pod: Object) -> bool:
    """SchedulingGates (PreEnqueue): a pod with gates is not queued until they are all removed."""
    return bool((pod.get("spec") or {}).get("schedulingGates"))


def _sched_relevant(node: Object) -> tuple[Any, ...]:
    """The node fields a filter or score reads (heartbeats change none of them)."""
    meta, spec, status = node.get("metadata") or {}, node.get("spec") or {}, node.get("status") or {}
    return (meta.get("labels"), spec.get("taints"), spec.get("unschedulable"), status.get("allocatable"),
            status.get("images"))


class Scheduler:
    def __init__(self, client: RESTClient, informers: SharedInformerFactory, config: SchedulerConfig, *,
                 clock: Callable[[], float] = time.time, rng: random.Random | None = None,
                 event_client: RESTClient | None = None) -> None:
        self.client = client
        self.clock = clock
        self.rng = rng or random.Random()
        self.profiles: dict[str, Profile] = {p.scheduler_name: p for p in config.profiles}
        self.preemption = config.preemption
        # kube-scheduler writes events through a client (and rate limiter) of their own
        self.recorders = {name: EventRecorder(event_client or client, name, clock=clock) for name in self.profiles}
        self.cache = Cache()
        self.queue = q.SchedulingQueue(clock)
        self.nominated: dict[str, dict[str, PodInfo]] = {}  # node -> uid -> pod nominated to it
        self.pvcs: dict[str, Object] = {}
        self.cache.set_pvcs(self.pvcs)
        self.namespace_labels: dict[str, dict[str, str]] = {}
        self.cache.set_namespaces(self.namespace_labels)
        self.next_start = 0
        self.scheduled = 0
        self.bind_errors = 0
        self.attempts = {"scheduled": 0, "unschedulable": 0, "error": 0}
        self._wakeup = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self.pods = informers.informer(PODS)
        self.nodes = informers.informer(NODES)
        self.pvc_informer = informers.informer(PERSISTENTVOLUMECLAIMS)
        self.pods.add_handlers(self._pod_added, self._pod_updated, self._pod_deleted)
        self.nodes.add_handlers(self._node_added, self._node_updated, self._node_deleted)
        self.pvc_informer.add_handlers(self._pvc_changed, lambda old, new: self._pvc_changed(new),
                                       self._pvc_deleted)
        # PodDisruptionBudgets only inform preemption's choice of victims (read from the cache when preempting)
        self.pdbs = informers.informer(PODDISRUPTIONBUDGETS)
        self.namespaces = informers.informer(NAMESPACES)
        self.namespaces.add_handlers(self._namespace_changed, lambda old, new: self._namespace_changed(new),
                                     self._namespace_deleted)

    # ------------------------------------------------------------- event handlers
    def _responsible(self, pod: Object) -> bool:
        return ((pod.get("spec") or {}).get("schedulerName") or "default-scheduler") in self.profiles

    def _kick(self) -> None:
        self._wakeup.set()

    def _set_nominated(self, info: PodInfo | None, uid: str) -> None:
        for node, pods in list(self.nominated.items()):
            if pods.pop(uid, None) is not None and not pods:
                del self.nominated[node]
        if info is not None and info.nominated_node:
            self.nominated.setdefault(info.nominated_node, {})[info.uid] = info

    def _pod_added(self, pod: Object) -> None:
        if _assigned(pod):
            if not _terminal(pod):
                info = pod_info(pod)
                self.cache.add_pod(info)
                self._set_nominated(None, info.uid)
                self.queue.move_all(q.ASSIGNED_POD_ADD)
                self._kick()
            return
        if (self._responsible(pod) and not _terminal(pod) and not _gated(pod)
                and not (pod.get("metadata") or {}).get("deletionTimestamp")):
            info = pod_info(pod)
            self._set_nominated(info, info.uid)
            self.queue.add(info)
            self._kick()

    def _pod_updated(self, old: Object, new: Object) -> None:
        uid = (new.get("metadata") or {}).get("uid") or ""
        if _assigned(new):
            if not _assigned(old):
                self.queue.delete(_key(new))
                self._set_nominated(None, uid)
            if _terminal(new):
                self.cache.remove_pod(uid)
                self.queue.move_all(q.ASSIGNED_POD_DELETE)
            else:
                self.cache.update_pod(pod_info(new))
                if not _assigned(old):
                    self.queue.move_all(q.ASSIGNED_POD_ADD)
            self._kick()
            return
        if (not self._responsible(new) or (new.get("metadata") or {}).get("deletionTimestamp") or _terminal(new)
                or _gated(new)):
            self.queue.delete(_key(new))
            self._set_nominated(None, uid)
            return
        info = pod_info(new)
        self._set_nominated(info, uid)
        changed = (old.get("spec") != new.get("spec")
                   or (old.get("metadata") or {}).get("labels") != (new.get("metadata") or {}).get("labels"))
        if self.queue.where(info.key) is None:
            self.queue.add(info)
        else:
            self.queue.update(info, changed)
        self._kick()

    def _pod_deleted(self, pod: Object) -> None:
        uid = (pod.get("metadata") or {}).get("uid") or ""
        self._set_nominated(None, uid)
        if _assigned(pod) or self.cache.is_assumed(uid):
            self.cache.remove_pod(uid)
            self.queue.move_all(q.ASSIGNED_POD_DELETE)
            self._kick()
        self.queue.delete(_key(pod))

    def _node_added(self, node: Object) -> None:
        self.cache.add_node(node)
        self.queue.move_all(q.NODE_ADD)
        self._kick()

    def _node_updated(self, old: Object, new: Object) -> None:
        self.cache.update_node(new)
        if _sched_relevant(old) != _sched_relevant(new):
            self.queue.move_all(q.NODE_UPDATE)
            self._kick()

    def _node_deleted(self, node: Object) -> None:
        self.cache.remove_node((node.get("metadata") or {}).get("name") or "")

    def _pvc_changed(self, pvc: Object) -> None:
        meta = pvc.get("metadata") or {}
        self.pvcs[f"{meta.get('namespace')}/{meta.get('name')}"] = pvc
        self.queue.move_all(q.PVC_CHANGE)
        self._kick()

    def _pvc_deleted(self, pvc: Object) -> None:
        meta = pvc.get("metadata") or {}
        self.pvcs.pop(f"{meta.get('namespace')}/{meta.get('name')}", None)

    def _namespace_changed(self, ns: Object) -> None:
        meta = ns.get("metadata") or {}
        labels = dict(meta.get("labels") or {})
        if self.namespace_labels.get(meta.get("name") or "") != labels:
            self.namespace_labels[meta.get("name") or ""] = labels
            self.queue.move_all(q.NAMESPACE_CHANGE)
            self._kick()

    def _namespace_deleted(self, ns: Object) -> None:
        self.namespace_labels.pop((ns.get("metadata") or {}).get("name") or "", None)

    # ------------------------------------------------------------- the loop
    async def wait_for_sync(self) -> None:
        await asyncio.gather(self.pods.wait_for_sync(), self.nodes.wait_for_sync(),
                             self.pvc_informer.wait_for_sync(), self.namespaces.wait_for_sync())

    async def run(self) -> None:
        await self.wait_for_sync()
        log.info("caches synced; scheduling (profiles: %s)", ", ".join(self.profiles))
        last_leftover = self.clock()
        try:
            while True:
                self.queue.flush_backoff()
                if self.clock() - last_leftover > LEFTOVER_FLUSH_S:
                    self.queue.flush_unschedulable_leftover()
                    self.cache.cleanup_expired(self.clock())
                    last_leftover = self.clock()
                qp = self.queue.pop()
                if qp is None:
                    self._wakeup.clear()
                    expiry = self.queue.next_backoff_expiry()
                    timeout = 1.0 if expiry is None else min(1.0, max(0.01, expiry - self.clock()))
                    try:
                        await asyncio.wait_for(self._wakeup.wait(), timeout)
                    except TimeoutError:
                        pass
                    continue
                self.schedule_one(qp)
                await asyncio.sleep(0)  # let informer events and bindings run between cycles
        finally:
            for t in list(self._tasks):
                t.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            for rec in self.recorders.values():
                await rec.close()

    def _spawn(self, coro: Any) -> None:
        t = asyncio.ensure_future(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    def _current(self, info: PodInfo) -> Object | None:
        """The informer's pod for `info` if it still needs scheduling (same uid, unbound, not terminating)."""
        pod = self.pods.store.get(info.key)
        if pod is None or (pod.get("metadata") or {}).get("uid") != info.uid or _assigned(pod):
            return None
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            return None
        return pod

    def schedule_one(self, qp: q.QueuedPod) -> None:
        """One synchronous scheduling cycle (nothing else runs until it returns)."""
        info = qp.info
        cycle = self.queue.scheduling_cycle
        profile = self.profiles.get(info.scheduler_name)
        if profile is None or self._current(info) is None or self.cache.is_assumed(info.uid):
            self.queue.done(info.key)
            return
        snap = self.cache.snapshot()
        nominated = {n: list(p.values()) for n, p in self.nominated.items()}
        try:
            result = schedule_pod(profile, info, snap, self.rng, self.next_start, nominated)
        except FitError as fe:
            nominate: str | None = None  # None: keep any nomination; "": clear it; else: nominate that node
            if self.preemption.get(profile.scheduler_name, True):
                pr = preempt(profile, info, snap, fe.diagnosis, self.pdbs.store.list())
                if pr.candidate is not None:
                    nominate = pr.candidate.node
                    self._spawn(self._preempt(info, pr.candidate, profile.scheduler_name))
                else:
                    fe.diagnosis.post_filter_msg = pr.message
                    if pr.clear_nomination:
                        nominate = ""
            if nominate is not None:
                # nominated (or not) at once (kube's nominator), so room being freed is not taken by lower pods
                qp.info = dataclasses.replace(info, nominated_node=nominate)
                self._set_nominated(qp.info, info.uid)
            self.attempts["unschedulable"] += 1
            plugins = set(fe.diagnosis.unschedulable_plugins) | {"DefaultPreemption"}
            self._failed(qp, cycle, UNSCHEDULABLE, fe.message(), plugins, nominate)
            return
        except NoNodesError as e:
            self.attempts["unschedulable"] += 1
            self._failed(qp, cycle, UNSCHEDULABLE, str(e), set(), None)  # any cluster event retries it
            return
        except SchedulingError as e:
            self.attempts["error"] += 1
            qp.info = dataclasses.replace(info, nominated_node="")
            self._set_nominated(None, info.uid)
            self._failed(qp, cycle, SCHEDULER_ERROR, str(e), None, "")
            return
        if snap.nodes:
            self.next_start = (self.next_start + result.evaluated) % len(snap.nodes)
        assumed = dataclasses.replace(info, node_name=result.node)
        try:
            self.cache.assume(assumed, result.node)
        except CacheError as e:
            self._failed(qp, cycle, SCHEDULER_ERROR, str(e), None, None)
            return
        self.queue.done(info.key)
        self._set_nominated(None, info.uid)
        self.attempts["scheduled"] += 1
        self._spawn(self._bind(qp, assumed, result.node, profile.scheduler_name))

    def _failed(self, qp: q.QueuedPod, cycle: int, reason: str, message: str, plugins: set[str] | None,
                nominate: str | None) -> None:
        info = qp.info
        pod = self._current(info)
        if pod is None:
            self.queue.done(info.key)
            return
        log.info("unable to schedule pod %s: %s", info.key, message)
        self.queue.add_unschedulable(qp, cycle, plugins)
        self.recorders[info.scheduler_name].event(pod, "Warning", "FailedScheduling", message)
        self._spawn(self._write_condition(pod, reason, message, nominate))

    async def _write_condition(self, pod: Object, reason: str, message: str, nominate: str | None) -> None:
        """PodScheduled=False with the reason and message, and nominatedNodeName set (a preemption) or cleared
        ("": no candidate, or an error), written only when something changes, as kube's updatePod."""
        status = pod.get("status") or {}
        cur: Object = next((c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), {})
        same = (cur.get("status") == "False" and cur.get("reason") == reason and cur.get("message") == message)
        have = status.get("nominatedNodeName") or ""
        nominate_changes = nominate is not None and have != nominate
        if same and not nominate_changes:
            return
        cond = {"type": "PodScheduled", "status": "False", "reason": reason, "message": message,
                "lastProbeTime": None,
                "lastTransitionTime": cur.get("lastTransitionTime") if cur.get("status") == "False"
                else rfc3339(self.clock())}
        patch: Object = {"status": {"conditions": [cond]}}
        if nominate_changes:
            patch["status"]["nominatedNodeName"] = nominate or None
        meta = pod["metadata"]
        try:
            await self.client.patch(PODS, meta["namespace"], meta["name"], patch, "strategic", "status")
        except (APIError, OSError) as e:
            log.info("could not write the PodScheduled condition of %s/%s: %s", meta["namespace"], meta["name"], e)

    async def _bind(self, qp: q.QueuedPod, info: PodInfo, node: str, scheduler: str) -> None:
        body = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": info.name, "uid": info.uid},
                "target": {"apiVersion": "v1", "kind": "Node", "name": node}}
        try:
            await self.client.create(PODS, info.namespace, body, subresource="binding", name=info.name)
        except Exception as e:  # the pod gone, already bound, or the API server unreachable
            self.bind_errors += 1
            self.cache.forget(info.uid)
            self.queue.move_all(q.ASSIGNED_POD_DELETE)
            detail = e.message if isinstance(e, APIError) else repr(e)
            message = f'running Bind plugin "DefaultBinder": {detail}'
            pod = self._current(qp.info)
            if pod is not None:
                log.info("binding %s to %s failed: %s", info.key, node, detail)
                self.queue.add_backoff(qp)
                self.recorders[scheduler].event(pod, "Warning", "FailedScheduling", message)
                await self._write_condition(pod, SCHEDULER_ERROR, message, "")  # kube clears the nomination
            self._kick()
            return
        self.cache.finish_binding(info.uid, self.clock())
        self.scheduled += 1
        self.recorders[scheduler].event(info.pod, "Normal", "Scheduled",
                                        f"Successfully assigned {info.namespace}/{info.name} to {node}")

    async def _preempt(self, preemptor: PodInfo, cand: Candidate, scheduler: str) -> None:
        """prepareCandidate: mark each victim DisruptionTarget, delete it, record Preempted; clear the nomination
        of lower-priority pods nominated to the node."""
        now = rfc3339(self.clock())
        for v in cand.victims:
            cond = {"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler",
                    "message": f"{scheduler}: preempting to accommodate a higher priority pod",
                    "lastTransitionTime": now}
            try:
                await self.client.patch(PODS, v.namespace, v.name, {"status": {"conditions": [cond]}}, "strategic",
                                        "status")
                await self.client.delete(PODS, v.namespace, v.name, uid=v.uid)
            except APIError as e:
                if not e.not_found:
                    log.info("preempting %s failed: %s", v.key, e)
                    continue
            self.recorders[scheduler].event(v.pod, "Normal", "Preempted",
                                            f"Preempted by pod {preemptor.uid} on node {cand.node}")
        for other in list(self.nominated.get(cand.node, {}).values()):
            if other.priority < preemptor.priority and other.uid != preemptor.uid:
                try:
                    await self.client.patch(PODS, other.namespace, other.name,
                                            {"status": {"nominatedNodeName": None}}, "merge", "status")
                except APIError as e:
                    log.info("clearing the nomination of %s failed: %s", other.key, e)

    def metrics(self) -> str:
        pending = self.queue.pending()
        lines = ["# TYPE scheduler_pending_pods gauge"]
        lines += [f'scheduler_pending_pods{{queue="{k}"}} {v}' for k, v in pending.items()]
        lines.append("# TYPE scheduler_schedule_attempts_total counter")
        lines += [f'scheduler_schedule_attempts_total{{result="{k}"}} {v}' for k, v in self.attempts.items()]
        lines.append("# TYPE scheduler_pods_bound_total counter")
        lines.append(f"scheduler_pods_bound_total {self.scheduled}")
        lines.append("# TYPE scheduler_bind_errors_total counter")
        lines.append(f"scheduler_bind_errors_total {self.bind_errors}")
        lines.append("# TYPE scheduler_cache_size gauge")
        lines.append(f'scheduler_cache_size{{type="nodes"}} {len(self.cache.nodes)}')
        lines.append(f'scheduler_cache_size{{type="pods"}} {len(self.cache.pods)}')
        return "\n".join(lines) + "\n"
