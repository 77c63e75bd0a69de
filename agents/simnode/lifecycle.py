"""A pod's life on a hollow node, as the kubelet 1.32 shows it through the API (pure: `now` is passed in).

`PodRun` is what the simulated runtime knows about one pod (when the kubelet saw it, its containers' runs, exits
and restarts). `advance(run, pod, now, timing)` moves it to `now` and returns when it next changes by itself;
`desired_status(pod, run)` is the status the kubelet would report; `differs(observed, desired)` says whether it
must be written (level-triggered: a status someone else overwrote, e.g. Ready=False from the node lifecycle
controller, is written again). Timestamps come from the run's own times, so a late wake-up still reports when
things "happened".

Lifecycle: seen bound → Pending with containers waiting `ContainerCreating` (hostIP, startTime) → after
`start_delay_s` Running (podIP, containers running, Ready) → a container with a run time exits (Job pods, the
`simnode.raftkv.io/run-seconds` annotation, or a crash loop); `restartPolicy` decides: a restart (the first at
once, then the kubelet's back-off 10 s doubling to 5 min while the container waits in `CrashLoopBackOff`; reset
after 10 min of running) or a terminal phase (Succeeded when every container exited 0, else Failed). A pod with a
deletionTimestamp has its containers stopped after min(`delete_delay_s`, its grace period), reports a terminal
phase and is then deleted with grace 0 (`wants_delete`).

Events the kubelet records ride along in `run.events` (type, reason, message, fieldPath) for the adapter to write:
Pulled ("already present", or Pulling/Pulled under imagePullPolicy Always), Created, Started per container start,
BackOff when a restart waits, Killing when a graceful deletion stops a container.

Annotations (per pod): `simnode.raftkv.io/crash-loop: "true"` (every container exits 1 after the run time,
default `crash_after_s`), `simnode.raftkv.io/run-seconds: "<s>"` (containers exit after s seconds),
`simnode.raftkv.io/exit-code: "<n>"` (their exit code; default 0, 1 for a crash loop).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from agents.simnode.clockfmt import go_duration, parse, rfc3339

Obj = dict[str, Any]

ANNOTATION_PREFIX = "simnode.raftkv.io/"
CRASH_LOOP = ANNOTATION_PREFIX + "crash-loop"
RUN_SECONDS = ANNOTATION_PREFIX + "run-seconds"
EXIT_CODE = ANNOTATION_PREFIX + "exit-code"
KUBELET_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")
BACKOFF_RESET_FACTOR = 2  # flowcontrol.Backoff forgets an entry after 2 × the maximum back-off


@dataclass(frozen=True)
class Timing:
    start_delay_s: float = 1.0  # ContainerCreating → Running
    job_run_s: float = 5.0  # how long a Job's pod runs before it exits
    crash_after_s: float = 5.0  # how long a crash-looping container runs before it exits 1
    delete_delay_s: float = 1.0  # deletionTimestamp → containers stopped (at most the grace period)
    backoff_initial_s: float = 10.0
    backoff_max_s: float = 300.0


@dataclass
class ContainerRun:
    name: str
    image: str = ""
    pull_policy: str = "IfNotPresent"
    container_id: str = ""
    restart_count: int = 0
    started_at: float | None = None  # the current run started (None: not started, or exited)
    run_started: float | None = None  # when the current or the last run started (kept after it exits)
    exited_at: float | None = None  # the current run exited; waiting for a restart or done
    exit_code: int = 0
    restart_at: float | None = None  # when the exited container starts again (None: it will not)
    last_terminated: Obj | None = None  # lastState.terminated of the previous run
    backoff_s: float = 0.0  # the kubelet's current back-off for this container (0: no entry)
    backoff_updated: float | None = None


@dataclass
class PodRun:
    uid: str
    node: str
    host_ip: str
    pod_ip: str
    seen_at: float
    started_at: float | None = None  # the sandbox is up and the containers were started
    stop_at: float | None = None  # containers are stopped at this time (graceful deletion)
    stopped: bool = False
    containers: list[ContainerRun] = field(default_factory=list)
    init_containers: list[str] = field(default_factory=list)
    events: list[tuple[str, str, str, str]] = field(default_factory=list)  # (type, reason, message, fieldPath)

    def terminal(self) -> bool:
        """Every container exited and none will start again (or the pod was stopped for deletion)."""
        return self.started_at is not None and (self.stopped or all(
            c.exited_at is not None and c.restart_at is None for c in self.containers))


# ---------------------------------------------------------------- what the pod asks for
def _annotations(pod: Obj) -> dict[str, str]:
    return (pod.get("metadata") or {}).get("annotations") or {}


def _is_job_pod(pod: Obj) -> bool:
    return any(ref.get("kind") == "Job" for ref in (pod.get("metadata") or {}).get("ownerReferences") or [])


def run_plan(pod: Obj, timing: Timing) -> tuple[float | None, int]:
    """(how long each container runs before it exits, or None for ever; its exit code)."""
    ann = _annotations(pod)
    crash = ann.get(CRASH_LOOP, "").lower() == "true"
    run_for: float | None = None
    if RUN_SECONDS in ann:
        try:
            run_for = max(0.0, float(ann[RUN_SECONDS]))
        except ValueError:
            run_for = None
    if run_for is None:
        if crash:
            run_for = timing.crash_after_s
        elif _is_job_pod(pod):
            run_for = timing.job_run_s
    default_code = 1 if crash else 0
    try:
        code = int(ann.get(EXIT_CODE, default_code))
    except ValueError:
        code = default_code
    return run_for, code


def _restarts(pod: Obj, exit_code: int) -> bool:
    policy = (pod.get("spec") or {}).get("restartPolicy") or "Always"
    return policy == "Always" or (policy == "OnFailure" and exit_code != 0)


def container_id(uid: str, name: str, restart: int) -> str:
    return "containerd://" + hashlib.sha256(f"{uid}/{name}/{restart}".encode()).hexdigest()


def new_run(pod: Obj, node: str, host_ip: str, pod_ip: str, now: float) -> PodRun:
    spec = pod.get("spec") or {}
    uid = (pod.get("metadata") or {}).get("uid", "")
    return PodRun(uid=uid, node=node, host_ip=host_ip, pod_ip=pod_ip, seen_at=now,
                  containers=[ContainerRun(c.get("name", ""), c.get("image", ""),
                                           c.get("imagePullPolicy") or "IfNotPresent")
                              for c in spec.get("containers") or []],
                  init_containers=[c.get("name", "") for c in spec.get("initContainers") or []])


def adopt(pod: Obj, node: str, host_ip: str, now: float) -> PodRun | None:
    """A run for a pod that already reports Running from an earlier simnode process (so a restart does not send
    it back to ContainerCreating); None when there is nothing to adopt."""
    status = pod.get("status") or {}
    if status.get("phase") != "Running" or not status.get("podIP"):
        return None
    run = new_run(pod, node, host_ip, status["podIP"], parse(status.get("startTime")) or now)
    by_name = {cs.get("name"): cs for cs in status.get("containerStatuses") or []}
    run.started_at = run.seen_at
    for c in run.containers:
        cs = by_name.get(c.name) or {}
        running = (cs.get("state") or {}).get("running") or {}
        c.restart_count = int(cs.get("restartCount") or 0)
        c.container_id = cs.get("containerID") or container_id(run.uid, c.name, c.restart_count)
        c.started_at = c.run_started = parse(running.get("startedAt")) or now
    return run


# ---------------------------------------------------------------- time passing
def _field_path(c: ContainerRun) -> str:
    return f"spec.containers{{{c.name}}}"


def _start_events(run: PodRun, c: ContainerRun) -> None:
    """The kubelet's events for starting a container (images are always "present" or pulled at once)."""
    path = _field_path(c)
    if c.pull_policy == "Always":
        run.events.append(("Normal", "Pulling", f'Pulling image "{c.image}"', path))
        run.events.append(("Normal", "Pulled", f'Successfully pulled image "{c.image}" in 0s (0s including '
                                               f'waiting). Image size: 0 bytes.', path))
    else:
        run.events.append(("Normal", "Pulled", f'Container image "{c.image}" already present on machine', path))
    run.events.append(("Normal", "Created", f"Created container: {c.name}", path))
    run.events.append(("Normal", "Started", f"Started container {c.name}", path))


def _exit(c: ContainerRun, at: float, code: int, restart: bool, timing: Timing) -> None:
    c.exited_at = at
    c.exit_code = code
    if not restart:
        c.restart_at = None
        return
    expired = c.backoff_updated is None or at - c.backoff_updated > BACKOFF_RESET_FACTOR * timing.backoff_max_s
    if expired:  # Backoff.Next on a fresh entry: back-off starts at the initial value, restart at once
        c.backoff_s = timing.backoff_initial_s
        c.backoff_updated = at
        c.restart_at = at
    else:  # IsInBackOffSince: wait out the current back-off, which then doubles
        c.restart_at = at + c.backoff_s


def _start(run: PodRun, c: ContainerRun, at: float, timing: Timing) -> None:
    if c.exited_at is not None:  # a restart: the run that ended becomes lastState
        c.last_terminated = _terminated(c, run.uid)
        c.restart_count += 1
        if c.backoff_updated is not None and at > c.backoff_updated:
            c.backoff_s = min(c.backoff_s * 2, timing.backoff_max_s)
            c.backoff_updated = at
    c.container_id = container_id(run.uid, c.name, c.restart_count)
    c.started_at = c.run_started = at
    c.exited_at = None
    c.restart_at = None
    _start_events(run, c)


def advance(run: PodRun, pod: Obj, now: float, timing: Timing) -> float | None:
    """Move `run` to `now` (every start, exit, restart and stop due by then, in time order); return when it next
    changes by itself (None: not before something happens to the pod)."""
    meta = pod.get("metadata") or {}
    run_for, code = run_plan(pod, timing)
    if meta.get("deletionTimestamp") and run.stop_at is None:
        grace = meta.get("deletionGracePeriodSeconds")
        delay = timing.delete_delay_s if grace is None else min(timing.delete_delay_s, float(grace))
        run.stop_at = now + delay
    for _ in range(10_000):  # each pass handles the earliest due transition
        due = _next_transition(run, run_for, timing)
        if due is None or due > now:
            return due
        if run.stop_at is not None and due == run.stop_at and not run.stopped:
            _stop(run, due)
            continue
        if run.started_at is None:
            run.started_at = due
            for c in run.containers:
                _start(run, c, due, timing)
            continue
        for c in run.containers:
            if c.started_at is not None and run_for is not None and c.started_at + run_for == due:
                _exit(c, due, code, _restarts(pod, code), timing)
                c.started_at = None
                if c.restart_at is not None and c.restart_at > due:
                    run.events.append(("Warning", "BackOff", f"Back-off restarting failed container {c.name} in "
                                                             f"pod {_pod_ref(pod)}", _field_path(c)))
            elif c.restart_at is not None and c.restart_at == due:
                _start(run, c, due, timing)
    return _next_transition(run, run_for, timing)


def _next_transition(run: PodRun, run_for: float | None, timing: Timing) -> float | None:
    if run.stopped:
        return None
    times: list[float] = []
    if run.stop_at is not None:
        times.append(run.stop_at)
    if run.started_at is None:
        times.append(run.seen_at + timing.start_delay_s)
    else:
        for c in run.containers:
            if c.started_at is not None and run_for is not None:
                times.append(c.started_at + run_for)
            elif c.restart_at is not None:
                times.append(c.restart_at)
    return min(times) if times else None


def _stop(run: PodRun, at: float) -> None:
    """Graceful deletion: running containers get their stop signal and exit 0; nothing restarts."""
    run.stopped = True
    if run.started_at is None:  # never got to run: nothing to stop, nothing new to report
        return
    for c in run.containers:
        if c.started_at is not None:
            run.events.append(("Normal", "Killing", f"Stopping container {c.name}", _field_path(c)))
            c.exited_at, c.exit_code = at, 0
            c.started_at = None
        c.restart_at = None


def wants_delete(pod: Obj, run: PodRun) -> bool:
    """The kubelet's final step for a gracefully deleted pod: its containers are stopped, delete it for good."""
    return bool((pod.get("metadata") or {}).get("deletionTimestamp")) and run.stopped


# ---------------------------------------------------------------- the status the kubelet reports
def normalize_image(image: str) -> str:
    """What containerd reports for an image reference: docker.io/library/nginx:latest for "nginx"."""
    name, digest = (image.split("@", 1) + [""])[:2]
    first = name.split("/", 1)[0]
    if "/" not in name:
        name = f"docker.io/library/{name}"
    elif not ("." in first or ":" in first or first == "localhost"):
        name = f"docker.io/{name}"
    if digest:
        return f"{name}@{digest}"
    if ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    return name


def image_id(image: str) -> str:
    """repo@digest as containerd reports it (a made-up but stable digest unless the reference carries one)."""
    ref = normalize_image(image)
    name, _, digest = ref.partition("@")
    head, _, last = name.rpartition("/")
    repo = f"{head}/{last.split(':', 1)[0]}"
    return f"{repo}@{digest or 'sha256:' + hashlib.sha256(ref.encode()).hexdigest()}"


def _terminated(c: ContainerRun, uid: str) -> Obj:
    started = c.run_started if c.run_started is not None else c.exited_at
    return {"terminated": {"exitCode": c.exit_code, "reason": "Completed" if c.exit_code == 0 else "Error",
                           "startedAt": rfc3339(started or 0),
                           "finishedAt": rfc3339(c.exited_at or 0), "containerID": c.container_id}}


def _phase(run: PodRun) -> str:
    if run.started_at is None:
        return "Pending"
    if run.terminal():
        return "Succeeded" if all(c.exit_code == 0 for c in run.containers) else "Failed"
    return "Running"


def _container_status(spec: Obj, c: ContainerRun, run: PodRun, pod: Obj) -> Obj:
    image = spec.get("image", "")
    out: Obj = {"name": c.name, "image": image, "imageID": "", "ready": False, "restartCount": c.restart_count,
                "started": False, "state": {"waiting": {"reason": "ContainerCreating"}}, "lastState": {}}
    mounts = [{k: v for k, v in (("name", m.get("name")), ("mountPath", m.get("mountPath")),
                                 ("readOnly", True if m.get("readOnly") else None),
                                 ("recursiveReadOnly", "Disabled" if m.get("readOnly") else None)) if v is not None}
              for m in spec.get("volumeMounts") or []]
    if mounts:
        out["volumeMounts"] = mounts
    if run.started_at is None:
        return out
    out["image"] = normalize_image(image)
    out["imageID"] = image_id(image)
    out["containerID"] = c.container_id
    if c.last_terminated is not None:
        out["lastState"] = c.last_terminated
    if c.started_at is not None:
        out.update(ready=True, started=True, state={"running": {"startedAt": rfc3339(c.started_at)}})
    elif c.exited_at is not None and c.restart_at is not None and c.restart_at > c.exited_at:
        pod_ref = _pod_ref(pod)
        out["lastState"] = _terminated(c, run.uid)
        out["state"] = {"waiting": {"reason": "CrashLoopBackOff", "message": (
            f"back-off {go_duration(c.backoff_s)} restarting failed container={c.name} pod={pod_ref}")}}
    elif c.exited_at is not None:
        out["state"] = _terminated(c, run.uid)
    return out


def _pod_ref(pod: Obj) -> str:
    """format.Pod: name_namespace(uid)."""
    meta = pod.get("metadata") or {}
    return f"{meta.get('name')}_{meta.get('namespace')}({meta.get('uid')})"


def qos_class(pod: Obj) -> str:
    """v1qos.ComputePodQOS for cpu and memory: Guaranteed (limits = requests everywhere), BestEffort (none set),
    else Burstable."""
    spec = pod.get("spec") or {}
    containers = (spec.get("containers") or []) + (spec.get("initContainers") or [])
    any_set, guaranteed = False, True
    for c in containers:
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        for r in ("cpu", "memory"):
            if r in req or r in lim:
                any_set = True
            if r not in lim or (r in req and req[r] != lim[r]):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def _condition(ctype: str, status: str, reason: str = "", message: str = "") -> Obj:
    c: Obj = {"type": ctype, "status": status}
    if reason:
        c["reason"] = reason
    if message:
        c["message"] = message
    return c


def _kubelet_conditions(run: PodRun, phase: str, statuses: list[Obj]) -> list[Obj]:
    sandbox = "True" if run.started_at is not None and not run.terminal() else "False"
    initialized = _condition("Initialized", "True", "PodCompleted" if phase == "Succeeded" else "")
    if phase in ("Succeeded", "Failed"):
        reason = "PodCompleted" if phase == "Succeeded" else "PodFailed"
        ready = _condition("Ready", "False", reason)
        containers_ready = _condition("ContainersReady", "False", reason)
    else:
        unready = [s["name"] for s in statuses if not s["ready"]]
        if unready:
            message = f"containers with unready status: [{' '.join(unready)}]"
            ready = _condition("Ready", "False", "ContainersNotReady", message)
            containers_ready = _condition("ContainersReady", "False", "ContainersNotReady", message)
        else:
            ready, containers_ready = _condition("Ready", "True"), _condition("ContainersReady", "True")
    return [_condition("PodReadyToStartContainers", sandbox), initialized, ready, containers_ready,
            _condition("PodScheduled", "True")]


def desired_status(pod: Obj, run: PodRun, now: float) -> Obj:
    """The pod status the kubelet would write for `run`; conditions it does not own are kept (first, as the
    kubelet orders them), and a condition keeps its lastTransitionTime while its status holds."""
    spec = pod.get("spec") or {}
    old = pod.get("status") or {}
    phase = _phase(run)
    by_name = {c.name: c for c in run.containers}
    statuses = [_container_status(cs, by_name[cs.get("name", "")], run, pod)
                for cs in spec.get("containers") or [] if cs.get("name", "") in by_name]
    before = {c.get("type"): c for c in old.get("conditions") or []}
    conditions = [c for c in old.get("conditions") or [] if c.get("type") not in KUBELET_CONDITIONS]
    for c in _kubelet_conditions(run, phase, statuses):
        prev = before.get(c["type"])
        since = prev.get("lastTransitionTime") if prev and prev.get("status") == c["status"] else None
        conditions.append({**c, "lastProbeTime": None, "lastTransitionTime": since or rfc3339(now)})
    status: Obj = {"phase": phase, "conditions": conditions, "hostIP": run.host_ip,
                   "hostIPs": [{"ip": run.host_ip}], "startTime": rfc3339(run.seen_at),
                   "qosClass": qos_class(pod), "containerStatuses": statuses}
    if run.started_at is not None and run.pod_ip:
        status["podIP"] = run.pod_ip
        status["podIPs"] = [{"ip": run.pod_ip}]
    if run.init_containers and run.started_at is not None:
        status["initContainerStatuses"] = [
            {"name": n, "image": normalize_image(_image_of(spec, n)), "imageID": image_id(_image_of(spec, n)),
             "containerID": container_id(run.uid, n, 0), "ready": True, "restartCount": 0, "started": False,
             "lastState": {}, "state": {"terminated": {
                 "exitCode": 0, "reason": "Completed", "startedAt": rfc3339(run.started_at),
                 "finishedAt": rfc3339(run.started_at), "containerID": container_id(run.uid, n, 0)}}}
            for n in run.init_containers]
    return status


def _image_of(spec: Obj, name: str) -> str:
    return next((c.get("image", "") for c in spec.get("initContainers") or [] if c.get("name") == name), "")


def signature(status: Obj) -> tuple[Any, ...]:
    conds = tuple(sorted((c.get("type"), c.get("status"), c.get("reason"), c.get("message"))
                         for c in status.get("conditions") or [] if c.get("type") in KUBELET_CONDITIONS))
    containers = tuple((c.get("name"), c.get("ready"), c.get("restartCount"), tuple(sorted(c.get("state") or {})),
                        ((c.get("state") or {}).get("waiting") or {}).get("message"))
                       for c in status.get("containerStatuses") or [])
    return (status.get("phase"), status.get("podIP"), status.get("hostIP"), conds, containers,
            status.get("qosClass"))


def differs(observed: Obj | None, desired: Obj) -> bool:
    """Whether the API shows something other than what the kubelet reports (the write is needed)."""
    return signature(observed or {}) != signature(desired)
