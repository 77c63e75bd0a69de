"""The pod worker's decision: desired pod spec vs what the runtime has -> what to do (kubelet's
computePodActions, pure).

`compute_actions` never talks to the runtime and never looks at a clock: back-off, probe results and the
deletion state arrive as arguments, so every restart rule is testable on plain data.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from agents.kubelet.runtimeview import CREATED, EXITED, RUNNING, UNKNOWN, Container, PodRuntime

Obj = dict[str, Any]


@dataclass(frozen=True)
class Kill:
    container_id: str
    name: str
    message: str  # the Killing event's text


@dataclass
class PodActions:
    kill_pod: bool = False  # stop every container and the sandbox first (sandbox recreated or pod done)
    create_sandbox: bool = False
    sandbox_attempt: int = 0
    sandbox_id: str = ""
    start_init: str | None = None  # the one init container to start now
    start: list[str] = field(default_factory=list)  # regular containers to (re)start, in spec order
    kill: list[Kill] = field(default_factory=list)  # single containers to stop (liveness, spec change)

    @property
    def empty(self) -> bool:
        return not (self.kill_pod or self.create_sandbox or self.start_init or self.start or self.kill)


def container_hash(container: Obj) -> str:
    """A stable hash of a container's spec (the io.kubernetes.container.hash annotation): a change of it is a
    restart, as the kubelet restarts containers whose definition changed."""
    canon = json.dumps(container, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canon.encode()).hexdigest()[:8]


def should_restart(pod: Obj, status: Container | None) -> bool:
    """kubecontainer.ShouldContainerBeRestarted."""
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    if status is None:
        return True
    if status.state == RUNNING:
        return False
    if status.state in (UNKNOWN, CREATED):
        return True
    policy = (pod.get("spec") or {}).get("restartPolicy") or "Always"
    if policy == "Never":
        return False
    if policy == "OnFailure" and status.exit_code == 0:
        return False
    return True


def _succeeded(status: Container | None) -> bool:
    return status is not None and status.state == EXITED and status.exit_code == 0


def _sandbox_changed(pod: Obj, rt: PodRuntime) -> tuple[bool, int, str]:
    """(create a sandbox?, its attempt, the current sandbox id)."""
    sb = rt.sandbox
    if sb is None:
        return True, 0, ""
    ready = [s for s in rt.sandboxes if s.ready]
    if len(ready) > 1 or not sb.ready:
        return True, sb.attempt + 1, sb.id
    host_network = bool((pod.get("spec") or {}).get("hostNetwork"))
    if not host_network and not sb.ip:
        return True, sb.attempt + 1, sb.id
    return False, sb.attempt, sb.id


def compute_actions(pod: Obj, rt: PodRuntime, liveness_failed: frozenset[str] = frozenset(),
                    startup_failed: frozenset[str] = frozenset(),
                    startup_pending: frozenset[str] = frozenset()) -> PodActions:
    """What to do to bring `rt` to `pod`'s spec. `liveness_failed` / `startup_failed` hold container ids whose
    probe reached its failure threshold; `startup_pending` those whose startup probe has not passed yet (a
    sidecar counts as started only after it)."""
    spec = pod.get("spec") or {}
    policy = spec.get("restartPolicy") or "Always"
    inits = [c for c in spec.get("initContainers") or []]
    containers = list(spec.get("containers") or [])
    create, attempt, sandbox_id = _sandbox_changed(pod, rt)
    acts = PodActions(create_sandbox=create, sandbox_attempt=attempt, sandbox_id=sandbox_id)

    if create:
        if attempt > 0 and policy == "Never" and rt.containers:
            # the pod ran once and must not run again: only make sure nothing is left running
            return PodActions(kill_pod=bool(rt.running()), sandbox_id=sandbox_id)
        acts.kill_pod = bool(rt.sandboxes)
        if inits:
            acts.start_init = inits[0]["name"]
            return acts
        for c in containers:
            if policy == "OnFailure" and _succeeded(rt.latest(c["name"])):
                continue
            acts.start.append(c["name"])
        if not acts.start and attempt > 0:
            return PodActions(kill_pod=bool(rt.running()), sandbox_id=sandbox_id)
        return acts

    # init containers, one at a time, in order; a sidecar (restartPolicy Always) only has to be started
    for c in inits:
        st = rt.latest(c["name"])
        if st is None:
            acts.start_init = c["name"]
            return acts
        if is_sidecar(c):
            if st.state == RUNNING:
                if st.id in startup_pending:
                    return acts
                continue
            if (pod.get("metadata") or {}).get("deletionTimestamp"):
                continue
            acts.start_init = c["name"]  # a sidecar that stopped is restarted whatever the pod's policy
            return acts
        if st.state == RUNNING:
            return acts
        if _succeeded(st):
            continue
        if st.state == EXITED and policy == "Never":
            acts.kill_pod = True  # a failed init container under Never fails the pod
            return acts
        if st.state == UNKNOWN:
            acts.kill.append(Kill(st.id, st.name, f"Init container {st.name} in unknown state, will be restarted"))
        acts.start_init = c["name"]
        return acts

    for c in containers:
        name = c["name"]
        st = rt.latest(name)
        if st is not None and st.state == RUNNING:
            reason = ""
            if st.id in liveness_failed:
                reason = f"Container {name} failed liveness probe, will be restarted"
            elif st.id in startup_failed:
                reason = f"Container {name} failed startup probe, will be restarted"
            elif st.spec_hash and st.spec_hash != container_hash(c):
                reason = f"Container {name} definition changed, will be restarted"
            if reason:
                acts.kill.append(Kill(st.id, name, reason))
                if policy != "Never":
                    acts.start.append(name)
            continue
        if should_restart(pod, st):
            acts.start.append(name)
    if policy != "Always" and not acts.start and not acts.kill and all(
            (st := rt.latest(c["name"])) is not None and st.state == EXITED for c in containers):
        # every main container is done for good: the sidecars are stopped, last first
        for c in reversed([c for c in inits if is_sidecar(c)]):
            st = rt.latest(c["name"])
            if st is not None and st.state == RUNNING:
                acts.kill.append(Kill(st.id, c["name"], f"Stopping container {c['name']}"))
    return acts


def is_sidecar(container: Obj) -> bool:
    """A restartable init container (SidecarContainers, on by default in 1.32)."""
    return container.get("restartPolicy") == "Always"


def restart_count(rt: PodRuntime, name: str) -> int:
    """The restart count the next container of `name` carries: one more than its latest's, 0 for the first."""
    st = rt.latest(name)
    return 0 if st is None else st.restart_count + 1
