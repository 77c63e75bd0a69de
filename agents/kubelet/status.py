"""The pod status the kubelet 1.32 writes (generateAPIPodStatus + the status manager's merge; pure).

Inputs are the pod, what the runtime has (`PodRuntime`), the worker's memory of why containers are not running
(`waiting`: the reason cache, e.g. CrashLoopBackOff with its message) and the probe results; `now` and the node's
IP are passed in. Conditions owned by others (DisruptionTarget, readiness gates) are kept, and a condition whose
status did not change keeps its lastTransitionTime.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agents.kubelet.podsync import is_sidecar, should_restart
from agents.kubelet.qos import pod_qos
from agents.kubelet.runtimeview import EXITED, RUNNING, Container, PodRuntime
from agents.simnode.clockfmt import rfc3339

Obj = dict[str, Any]
KUBELET_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady")


@dataclass
class StatusInputs:
    node_ip: str
    now: float
    runtime_prefix: str = "containerd://"
    waiting: dict[str, tuple[str, str]] = field(default_factory=dict)  # container name -> (reason, message)
    ready: dict[str, bool] = field(default_factory=dict)  # container id -> readiness probe result
    started: dict[str, bool] = field(default_factory=dict)  # container id -> startup probe result
    terminal: bool = False  # the worker decided the pod will run no more (deleted and stopped, or finished)


def _go_list(names: list[str]) -> str:
    return "[" + " ".join(names) + "]"


def _terminated(c: Container, prefix: str) -> Obj:
    t: Obj = {"containerID": prefix + c.id, "exitCode": c.exit_code, "finishedAt": rfc3339(c.finished_at),
              "reason": c.reason or ("Completed" if c.exit_code == 0 else "Error"),
              "startedAt": rfc3339(c.started_at) if c.started_at else None}
    if c.message:
        t["message"] = c.message
    return t


def _mounts(spec: Obj) -> list[Obj]:
    out = []
    for m in spec.get("volumeMounts") or []:
        vm: Obj = {"mountPath": m["mountPath"], "name": m["name"]}
        if m.get("readOnly"):
            vm["readOnly"] = True
        vm["recursiveReadOnly"] = "Disabled"
        out.append(vm)
    return out


def container_status(pod: Obj, spec: Obj, rt: PodRuntime, inp: StatusInputs, default_reason: str) -> Obj:
    name = spec["name"]
    st = rt.latest(name)
    prev = rt.previous(name)
    cs: Obj = {"image": spec.get("image", ""), "imageID": "", "lastState": {}, "name": name, "ready": False,
               "restartCount": 0, "started": False, "state": {"waiting": {"reason": default_reason}}}
    if st is None:
        reason = inp.waiting.get(name)
        if reason:
            w: Obj = {"reason": reason[0]}
            if reason[1]:
                w["message"] = reason[1]
            cs["state"] = {"waiting": w}
        return cs
    cs.update({"containerID": inp.runtime_prefix + st.id, "image": st.image or spec.get("image", ""),
               "imageID": st.image_ref, "restartCount": st.restart_count})
    if prev is not None and prev.state == EXITED:
        cs["lastState"] = {"terminated": _terminated(prev, inp.runtime_prefix)}
    if st.state == RUNNING:
        has_startup = bool(spec.get("startupProbe"))
        started = inp.started.get(st.id, False) if has_startup else True
        ready = started and (inp.ready.get(st.id, False) if spec.get("readinessProbe") else True)
        cs["state"] = {"running": {"startedAt": rfc3339(st.started_at)}}
        cs["started"] = started
        cs["ready"] = ready
    elif st.state == EXITED:
        cs["state"] = {"terminated": _terminated(st, inp.runtime_prefix)}
        reason = inp.waiting.get(name)
        if reason and should_restart(pod, st) and not inp.terminal:
            cs["lastState"] = {"terminated": _terminated(st, inp.runtime_prefix)}
            w = {"reason": reason[0]}
            if reason[1]:
                w["message"] = reason[1]
            cs["state"] = {"waiting": w}
    else:
        reason = inp.waiting.get(name)
        cs["state"] = {"waiting": {"reason": reason[0], "message": reason[1]} if reason else
                       {"reason": default_reason}}
    mounts = _mounts(spec)
    if mounts:
        cs["volumeMounts"] = mounts
    return cs


def _sidecar_up(s: Obj) -> bool:
    """A sidecar counts as initialized once started (it may be restarting later on)."""
    return bool(s.get("started")) or "terminated" in s["state"] or bool(s["lastState"].get("terminated"))


def pod_phase(pod: Obj, inits: list[Obj], statuses: list[Obj], terminal: bool) -> str:
    """kubelet getPhase."""
    policy = (pod.get("spec") or {}).get("restartPolicy") or "Always"
    sidecars = _sidecar_names(pod)
    pending_init = failed_init = 0
    for s in inits:
        state = s["state"]
        if s["name"] in sidecars:
            if not _sidecar_up(s):
                pending_init += 1
            continue
        if "terminated" in state:
            if state["terminated"]["exitCode"] != 0:
                failed_init += 1
        elif "waiting" in state:
            last = s["lastState"].get("terminated")
            if last and last["exitCode"] != 0:
                failed_init += 1
            else:
                pending_init += 1
        else:
            pending_init += 1
    unknown = running = waiting = stopped = succeeded = 0
    for s in statuses:
        state = s["state"]
        if "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            if state["terminated"]["exitCode"] == 0:
                succeeded += 1
        elif "waiting" in state:
            if s["lastState"].get("terminated"):
                stopped += 1
            else:
                waiting += 1
        else:
            unknown += 1
    if failed_init and policy == "Never":
        return "Failed"
    if pending_init or failed_init:
        return "Pending"
    if waiting:
        return "Pending"
    if running and not unknown:
        return "Running"
    if not running and stopped and not unknown:
        if policy == "Always" and not terminal:
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        if policy == "Never" or terminal:
            return "Failed"
        return "Running"
    return "Pending"


def _condition(ctype: str, ok: bool, reason: str = "", message: str = "") -> Obj:
    c: Obj = {"lastProbeTime": None, "lastTransitionTime": None, "status": "True" if ok else "False",
              "type": ctype}
    if reason:
        c["reason"] = reason
    if message:
        c["message"] = message
    return c


def _not_ready(statuses: list[Obj]) -> list[str]:
    return [s["name"] for s in statuses if not s["ready"]]


def _sidecar_names(pod: Obj) -> set[str]:
    return {c["name"] for c in (pod.get("spec") or {}).get("initContainers") or [] if is_sidecar(c)}


def pod_conditions(pod: Obj, rt: PodRuntime, init_statuses: list[Obj], statuses: list[Obj],
                   phase: str) -> list[Obj]:
    sb = rt.sandbox
    sandbox_ok = sb is not None and sb.ready
    sidecars = _sidecar_names(pod)
    incomplete = [s["name"] for s in init_statuses
                  if not (_sidecar_up(s) if s["name"] in sidecars else
                          ("terminated" in s["state"] and s["state"]["terminated"]["exitCode"] == 0))]
    statuses = [s for s in init_statuses if s["name"] in sidecars] + statuses
    if phase == "Succeeded":
        initialized = _condition("Initialized", True, "PodCompleted")
        ready = _condition("Ready", False, "PodCompleted")
        containers_ready = _condition("ContainersReady", False, "PodCompleted")
    else:
        initialized = (_condition("Initialized", True) if not incomplete else
                       _condition("Initialized", False, "ContainersNotInitialized",
                                  f"containers with incomplete status: {_go_list(incomplete)}"))
        unready = _not_ready(statuses)
        if incomplete and not unready:
            unready = [s["name"] for s in statuses]
        if unready:
            msg = f"containers with unready status: {_go_list(unready)}"
            ready = _condition("Ready", False, "ContainersNotReady", msg)
            containers_ready = _condition("ContainersReady", False, "ContainersNotReady", msg)
        else:
            ready = _condition("Ready", True)
            containers_ready = _condition("ContainersReady", True)
    return [_condition("PodReadyToStartContainers", sandbox_ok), initialized, ready, containers_ready,
            _condition("PodScheduled", True)]


def _merge_conditions(old: list[Obj], new: list[Obj], now: float) -> list[Obj]:
    """Others' conditions first, then ours; a condition keeps its lastTransitionTime while its status holds."""
    before = {c.get("type"): c for c in old}
    ours = {c["type"] for c in new}
    out = [c for c in old if c.get("type") not in ours]
    for c in new:
        prev = before.get(c["type"])
        if prev is not None and prev.get("status") == c["status"] and prev.get("lastTransitionTime"):
            c["lastTransitionTime"] = prev["lastTransitionTime"]
        else:
            c["lastTransitionTime"] = rfc3339(now)
        if c["type"] == "PodScheduled" and prev is not None:
            c = {**prev}
        out.append(c)
    return out


def pod_status(pod: Obj, rt: PodRuntime, inp: StatusInputs) -> Obj:
    spec = pod.get("spec") or {}
    old = pod.get("status") or {}
    has_inits = bool(spec.get("initContainers"))
    default = "PodInitializing" if has_inits else "ContainerCreating"
    inits = [container_status(pod, c, rt, inp, default) for c in spec.get("initContainers") or []]
    sidecars = _sidecar_names(pod)
    for s in inits:  # a finished init container is ready; a running one is not (sidecars: as containers are)
        if s["name"] in sidecars:
            continue
        s["ready"] = "terminated" in s["state"] and s["state"]["terminated"]["exitCode"] == 0
        s["started"] = "running" in s["state"]
    statuses = [container_status(pod, c, rt, inp, default) for c in spec.get("containers") or []]
    phase = pod_phase(pod, inits, statuses, inp.terminal)
    if old.get("phase") in ("Succeeded", "Failed"):
        phase = old["phase"]  # terminal phases never go back
    status: Obj = {"conditions": _merge_conditions(list(old.get("conditions") or []),
                                                   pod_conditions(pod, rt, inits, statuses, phase), inp.now),
                   "containerStatuses": statuses,
                   "hostIP": inp.node_ip, "hostIPs": [{"ip": inp.node_ip}], "phase": phase,
                   "qosClass": pod_qos(pod), "startTime": old.get("startTime") or rfc3339(inp.now)}
    if inits:
        status["initContainerStatuses"] = inits
    sb = rt.sandbox
    ip = inp.node_ip if spec.get("hostNetwork") else (sb.ip if sb is not None else "")
    if ip:
        status["podIP"] = ip
        status["podIPs"] = [{"ip": ip}] + ([{"ip": a} for a in sb.additional_ips] if sb and not
                                           spec.get("hostNetwork") else [])
    for k in ("nominatedNodeName", "message", "reason"):
        if k in old:
            status[k] = old[k]
    return status

