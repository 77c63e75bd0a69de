"""The kubelet process: Node and Lease upkeep, the pods bound to this node (an informer with
fieldSelector spec.nodeName=<node>) and static pods, one worker loop per pod, status writes, the final delete
with grace 0 once a pod's containers are gone, and housekeeping of what the runtime holds for pods that are
no more. Only the API server is spoken to (HTTPS with the node's client certificate), and the runtime over CRI.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from agents.kubelet import machine, staticpods
from agents.kubelet.apihost import APIHost
from agents.kubelet.config import KubeletConfig
from agents.kubelet.crimap import Runtime, list_pod_uids
from agents.kubelet.node import NodeAgent
from agents.kubelet.runtimeview import POD_UID
from agents.kubelet.worker import NodeContext, PodWorker, Shared
from agents.simnode.clockfmt import rfc3339
from agents.simnode.nodes import capacity
from controllers.machinery.client import APIError, RESTClient
from controllers.machinery.events import EventRecorder
from controllers.machinery.informer import Informer
from controllers.machinery.resources import PODS, SERVICES
from raftkv._pb.runtime.v1 import api_pb2 as api

log = logging.getLogger(__name__)
Obj = dict[str, Any]
TERMINAL = ("Succeeded", "Failed")


async def runtime_error(runtime: Runtime) -> str:
    """"" when the runtime answers Status with RuntimeReady and NetworkReady, else the kubelet's words."""
    try:
        resp = await asyncio.wait_for(runtime.Status(api.StatusRequest()), 5)
    except Exception:
        return "container runtime is down"
    errors = []
    conds = {c.type: c for c in resp.status.conditions}
    for ctype, what in (("RuntimeReady", "container runtime not ready"),
                        ("NetworkReady", "container runtime network not ready")):
        c = conds.get(ctype)
        if c is None or not c.status:
            reason, message = (c.reason, c.message) if c is not None else ("", "")
            errors.append(f"{what}: {ctype}=false reason:{reason} message:{message}")
    return ", ".join(errors)


class Kubelet:
    def __init__(self, cfg: KubeletConfig, client: RESTClient, runtime: Runtime,
                 clock: Callable[[], float] = time.time) -> None:
        self.cfg = cfg
        self.client = client
        self.runtime = runtime
        self.clock = clock
        self.name = cfg.node_name
        self.shared = Shared()
        self.pods_informer = Informer(client, PODS, field_selector=f"spec.nodeName={self.name}")
        self.services = Informer(client, SERVICES)
        self.recorder = EventRecorder(client, "kubelet", host=self.name, clock=clock)
        self.static: dict[str, Obj] = {}  # uid -> static pod
        self.uid_keys: dict[str, tuple[str, str]] = {}  # uid -> (namespace, name) of API pods
        self.loops: dict[str, asyncio.Task[None]] = {}
        self.kicks: dict[str, asyncio.Event] = {}
        self.workers: dict[str, PodWorker] = {}
        self.written: dict[str, Obj] = {}  # uid -> the status we last wrote
        self.rejected: set[str] = set()
        self.node_agent: NodeAgent | None = None
        self.host: APIHost | None = None
        self.node_ctx: NodeContext | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.ready = asyncio.Event()
        self.runtime_error = ""  # why the runtime is not usable ("" when it is): the node's Ready condition

    # ---------------------------------------------------------------- start
    async def start(self) -> None:
        version = await self.runtime.Version(api.VersionRequest(version="v1"))
        runtime_version = f"{version.runtime_name}://{version.runtime_version}"
        node_ip = self.cfg.node_ip or "127.0.0.1"
        profile = machine.profile(self.cfg.root_dir, self.cfg.max_pods, self.cfg.node_labels,
                                  self.cfg.register_with_taints, runtime_version, self.cfg.capacity_cpu,
                                  self.cfg.capacity_memory)
        self.node_agent = NodeAgent(self.client, self.name, node_ip, profile, self.cfg.port,
                                    self.cfg.node_lease_duration_seconds, self.cfg.node_status_update_frequency,
                                    self.cfg.node_status_report_frequency,
                                    ready_error=lambda: self.runtime_error)
        await self.node_agent.register()
        _, alloc = capacity(profile)
        self.host = APIHost(self.client, self.recorder, self.services, self.cfg.root_dir, node_ip, alloc)
        self.node_ctx = NodeContext(node_ip=node_ip, root_dir=self.cfg.root_dir, log_root=self.cfg.pod_logs_dir,
                                    memory_capacity=machine.memory_bytes(),
                                    runtime_prefix=f"{version.runtime_name}://", cgroup_root=self.cfg.cgroup_root,
                                    pod_pids_limit=self.cfg.pod_pids_limit, cluster_dns=list(self.cfg.cluster_dns),
                                    cluster_domain=self.cfg.cluster_domain, resolv_conf=self.cfg.resolv_conf)
        self.pods_informer.add_handlers(on_add=self._on_pod, on_update=lambda old, new: self._on_pod(new),
                                        on_delete=self._on_pod_deleted)
        self.services.start()
        self.pods_informer.start()
        await self.pods_informer.wait_for_sync()
        await self.services.wait_for_sync(timeout=10)
        self._tasks.append(asyncio.create_task(self.node_agent.run(), name="node"))
        self._tasks.append(asyncio.create_task(self._static_loop(), name="static-pods"))
        self._tasks.append(asyncio.create_task(self._housekeeping(), name="housekeeping"))
        self._tasks.append(asyncio.create_task(self._runtime_status(), name="runtime-status"))
        self._tasks.append(asyncio.create_task(self._pleg(), name="pleg"))
        self.ready.set()

    async def stop(self) -> None:
        for t in [*self._tasks, *self.loops.values()]:
            t.cancel()
        for t in [*self._tasks, *self.loops.values()]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        await self.pods_informer.stop()
        await self.services.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.recorder.close(), 2)

    # ---------------------------------------------------------------- pods from the API
    def _on_pod(self, pod: Obj) -> None:
        if staticpods.is_mirror(pod):
            uid = pod["metadata"]["annotations"][staticpods.CONFIG_MIRROR]
            self._kick(uid)
            return
        uid = pod["metadata"]["uid"]
        self.uid_keys[uid] = (pod["metadata"].get("namespace", "default"), pod["metadata"]["name"])
        self._ensure_loop(uid)

    def _on_pod_deleted(self, pod: Obj) -> None:
        if staticpods.is_mirror(pod):
            uid = pod["metadata"]["annotations"][staticpods.CONFIG_MIRROR]
            self.written.pop(uid, None)  # the next status write re-creates the mirror
            self._kick(uid)
            return
        self._kick(pod["metadata"]["uid"])

    def pod(self, uid: str) -> Obj | None:
        """The pod as the API (or the manifest) has it now; None once it is gone."""
        if uid in self.static:
            return self.static[uid]
        key = self.uid_keys.get(uid)
        if key is None:
            return None
        obj = self.pods_informer.store.get_by(*key)
        if obj is None or obj["metadata"].get("uid") != uid:
            return None
        return obj

    def pod_by_name(self, namespace: str, name: str) -> Obj | None:
        """A running pod by name, static ones included (the streaming server's lookup)."""
        for uid in list(self.loops):
            pod = self.pod(uid)
            if pod is not None and pod["metadata"]["name"] == name and pod["metadata"].get("namespace") == namespace:
                return pod
        return None

    def _kick(self, uid: str) -> None:
        ev = self.kicks.get(uid)
        if ev is not None:
            ev.set()

    def _ensure_loop(self, uid: str) -> None:
        if uid in self.loops:
            self._kick(uid)
            return
        self.kicks[uid] = asyncio.Event()
        self.loops[uid] = asyncio.create_task(self._pod_loop(uid), name=f"pod-{uid}")

    # ---------------------------------------------------------------- admission
    def _active(self) -> int:
        return sum(1 for uid, w in self.workers.items() if not w.terminated and uid not in self.rejected)

    async def _admit(self, pod: Obj) -> bool:
        """Reject a pod beyond --max-pods with OutOfpods, as the kubelet's admission does."""
        if self._active() < self.cfg.max_pods:
            return True
        msg = (f"Pod was rejected: Node didn't have enough resource: pods, requested: 1, used: {self._active()}, "
               f"capacity: {self.cfg.max_pods}")
        assert self.host is not None
        self.host.event(pod, "", "Warning", "OutOfpods", msg)
        status = {"phase": "Failed", "reason": "OutOfpods", "message": msg, "startTime": rfc3339(self.clock())}
        await self._write_status(pod, status)
        return False

    # ---------------------------------------------------------------- one pod
    async def _pod_loop(self, uid: str) -> None:
        assert self.host is not None and self.node_ctx is not None
        worker = PodWorker(uid, self.runtime, self.host, self.node_ctx, self.shared, self.clock)
        self.workers[uid] = worker
        kick = self.kicks[uid]
        last: Obj | None = None
        first = True
        try:
            while True:
                kick.clear()
                pod = self.pod(uid)
                if pod is None:
                    if last is not None and not worker.gone():
                        await worker.terminate(last)
                    await worker.remove()
                    self.host.forget(uid)
                    return
                last = pod
                if first:
                    first = False
                    phase = (pod.get("status") or {}).get("phase")
                    if phase in TERMINAL:
                        worker.terminated = True
                    elif not (pod["metadata"].get("deletionTimestamp")) and not await self._admit(pod):
                        self.rejected.add(uid)
                if uid in self.rejected:
                    if pod["metadata"].get("deletionTimestamp"):
                        await self._delete_final(pod)
                    await self._wait(kick, None)
                    continue
                view = {**pod, "status": self.written.get(uid) or pod.get("status") or {}}
                try:
                    status = await worker.sync(view)
                    await self._write_status(pod, status)
                    if pod["metadata"].get("deletionTimestamp") and worker.gone() and uid not in self.static:
                        await self._delete_final(pod)
                    if await worker.probe(view):
                        continue
                except Exception as e:  # one pod's trouble never stops the others
                    log.warning("sync pod %s/%s: %s", pod["metadata"].get("namespace"), pod["metadata"]["name"], e)
                    await self._wait(kick, 1.0)
                    continue
                await self._wait(kick, worker.next_probe_time(), worker.pending())
        finally:
            self.workers.pop(uid, None)
            self.loops.pop(uid, None)
            self.kicks.pop(uid, None)
            self.written.pop(uid, None)
            self.rejected.discard(uid)
            self.uid_keys.pop(uid, None)

    async def _wait(self, kick: asyncio.Event, next_probe: float | None, pending: bool = True) -> None:
        """Until kicked (API change, PLEG event), the next probe, a back-off retry or the periodic resync."""
        timeout = self.cfg.pleg_relist_period if pending else self.cfg.sync_frequency
        if next_probe is not None:
            timeout = max(0.0, min(timeout, next_probe - self.clock()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(kick.wait(), timeout)

    async def _write_status(self, pod: Obj, status: Obj) -> None:
        uid = pod["metadata"]["uid"]
        if self.written.get(uid) == status:
            return
        ns, name = pod["metadata"].get("namespace", "default"), pod["metadata"]["name"]
        if uid in self.static:
            if not await self._ensure_mirror(pod):
                return
        try:
            await self.client.patch(PODS, ns, name, {"status": status}, subresource="status")
        except APIError as e:
            if e.not_found:
                return
            raise
        self.written[uid] = status

    async def _delete_final(self, pod: Obj) -> None:
        """The pod's containers are gone: remove the object (grace 0, only this uid)."""
        meta = pod["metadata"]
        try:
            await self.client.delete(PODS, meta.get("namespace"), meta["name"], uid=meta["uid"],
                                     grace_period_seconds=0)
        except APIError as e:
            if not (e.not_found or e.conflict):
                raise

    # ---------------------------------------------------------------- static pods
    async def _ensure_mirror(self, static: Obj) -> bool:
        meta = static["metadata"]
        ns, name = meta["namespace"], meta["name"]
        existing = self.pods_informer.store.get_by(ns, name)
        if existing is not None and staticpods.is_mirror(existing) and \
                existing["metadata"]["annotations"][staticpods.CONFIG_MIRROR] == meta["uid"]:
            return True
        assert self.node_agent is not None
        try:
            if existing is not None and staticpods.is_mirror(existing):
                await self.client.delete(PODS, ns, name, uid=existing["metadata"]["uid"], grace_period_seconds=0)
            await self.client.create(PODS, ns, staticpods.mirror_pod(static, self.node_agent.node))
            self.written.pop(meta["uid"], None)
        except APIError as e:
            if not e.already_exists:
                log.warning("Failed creating a mirror pod for %s/%s: %s", ns, name, e.message)
                return False
        return True

    async def _static_loop(self) -> None:
        while True:
            if self.cfg.static_pod_path:
                found, errors = staticpods.read_manifests(self.cfg.static_pod_path, self.name,
                                                          rfc3339(self.clock()), self.static)
                for err in errors:
                    log.warning("static pod manifest: %s", err)
                gone = [uid for uid in self.static if uid not in found]
                for uid, pod in found.items():
                    self.static[uid] = pod
                for uid in gone:
                    pod = self.static.pop(uid)
                    self._kick(uid)
                    ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
                    mirror = self.pods_informer.store.get_by(ns, name)
                    if mirror is not None and staticpods.is_mirror(mirror):
                        with contextlib.suppress(APIError):
                            await self.client.delete(PODS, ns, name, uid=mirror["metadata"]["uid"],
                                                     grace_period_seconds=0)
                for uid in found:
                    self._ensure_loop(uid)
            await asyncio.sleep(self.cfg.file_check_frequency)

    # ---------------------------------------------------------------- PLEG
    async def _pleg(self) -> None:
        """The generic PLEG: one listing of every sandbox and container per relist period; a pod whose
        containers or sandboxes changed state is woken, so an idle node costs two CRI calls a second."""
        seen: dict[str, frozenset[tuple[str, int]]] = {}
        while True:
            await asyncio.sleep(self.cfg.pleg_relist_period)
            try:
                now: dict[str, set[tuple[str, int]]] = {}
                for sb in (await self.runtime.ListPodSandbox(api.ListPodSandboxRequest())).items:
                    now.setdefault(sb.labels.get(POD_UID, ""), set()).add((sb.id, int(sb.state)))
                for c in (await self.runtime.ListContainers(api.ListContainersRequest())).containers:
                    now.setdefault(c.labels.get(POD_UID, ""), set()).add((c.id, int(c.state) + 10))
            except Exception as e:
                log.warning("PLEG relist: %s", e)
                continue
            current = {uid: frozenset(v) for uid, v in now.items() if uid}
            for uid in set(current) | set(seen):
                if current.get(uid) != seen.get(uid):
                    self._kick(uid)
            seen = current

    # ---------------------------------------------------------------- runtime health
    async def _runtime_status(self) -> None:
        """The kubelet's updateRuntimeUp: the runtime's Status, turned into the node's Ready message; a change
        is posted at once, not at the next status period."""
        while True:
            error = await runtime_error(self.runtime)
            if error != self.runtime_error:
                if error:
                    log.warning("runtime status: %s", error)
                else:
                    log.info("runtime is up again")
                self.runtime_error = error
                assert self.node_agent is not None
                with contextlib.suppress(Exception):
                    await self.node_agent.post_status(force=True)
            await asyncio.sleep(self.cfg.runtime_status_period)

    # ---------------------------------------------------------------- housekeeping
    async def _housekeeping(self) -> None:
        """Remove what the runtime holds for pods the kubelet no longer knows (deleted while it was down)."""
        while True:
            await asyncio.sleep(self.cfg.housekeeping_interval)
            try:
                for uid in await list_pod_uids(self.runtime):
                    if uid not in self.loops and self.pod(uid) is None and uid not in self.static:
                        assert self.host is not None and self.node_ctx is not None
                        log.info("removing orphaned pod %s", uid)
                        await PodWorker(uid, self.runtime, self.host, self.node_ctx, self.shared,
                                        self.clock).remove()
                self.shared.crash_backoff.gc(self.clock())
                self.shared.pull_backoff.gc(self.clock())
            except Exception as e:
                log.warning("housekeeping: %s", e)
