"""Probe workers' state machines (kubelet prober/worker.go, pure): when a probe runs and what its result is.

One `ProbeWorker` per (container, probe kind). The adapter asks `due(now)`, runs the probe (http, tcp, exec,
grpc; see probe_run.py), and feeds `record(ok, now)`; the worker turns raw outcomes into the result the kubelet
acts on using the success/failure thresholds. Semantics kept from the kubelet:
- before initialDelaySeconds has passed since the container started, no probe runs and the result is the
  initial one (readiness: failure, liveness: success, startup: unknown);
- liveness and readiness do not run until the startup probe succeeded;
- a liveness or startup failure that reaches its threshold puts the worker on hold until the container is
  replaced (the kubelet restarts it; probing a dying container again would restart it twice);
- a startup probe stops once it succeeded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]

LIVENESS = "Liveness"
READINESS = "Readiness"
STARTUP = "Startup"


@dataclass(frozen=True)
class ProbeSpec:
    initial_delay: float = 0
    period: float = 10
    timeout: float = 1
    success_threshold: int = 1
    failure_threshold: int = 3

    @classmethod
    def from_probe(cls, probe: Obj) -> ProbeSpec:
        """Defaults as the API server's SetDefaults_Probe (period 10, timeout 1, thresholds 1 and 3)."""
        return cls(initial_delay=float(probe.get("initialDelaySeconds") or 0),
                   period=float(probe.get("periodSeconds") or 10),
                   timeout=float(probe.get("timeoutSeconds") or 1),
                   success_threshold=int(probe.get("successThreshold") or 1),
                   failure_threshold=int(probe.get("failureThreshold") or 3))


class ProbeWorker:
    def __init__(self, kind: str, spec: ProbeSpec, container_id: str, started_at: float) -> None:
        self.kind = kind
        self.spec = spec
        self.container_id = container_id
        self.started_at = started_at
        self.result: bool | None = None if kind == STARTUP else (kind == LIVENESS)
        self.on_hold = False
        self.done = False  # a startup probe that succeeded
        self._last: bool | None = None
        self._run = 0
        self._next = started_at + spec.initial_delay

    def due(self, now: float, startup_passed: bool = True) -> bool:
        """Whether a probe should run at `now`. Liveness/readiness wait for the startup probe."""
        if self.on_hold or self.done:
            return False
        if self.kind != STARTUP and not startup_passed:
            return False
        return now >= self._next

    def next_time(self) -> float:
        return self._next

    def record(self, ok: bool, now: float) -> bool:
        """Feed one probe outcome; returns True when the worker's result changed."""
        self._next = now + self.spec.period
        if self._last == ok:
            self._run += 1
        else:
            self._last, self._run = ok, 1
        threshold = self.spec.success_threshold if ok else self.spec.failure_threshold
        if self.kind != READINESS and ok:
            threshold = 1  # liveness and startup success thresholds must be 1 (validation enforces it)
        if self._run < threshold:
            return False
        changed = self.result != ok
        self.result = ok
        if not ok and self.kind in (LIVENESS, STARTUP):
            self.on_hold = True
            self._run = 0
        if ok and self.kind == STARTUP:
            self.done = True
        return changed

    @property
    def failed(self) -> bool:
        """Reached the failure threshold (liveness/startup: the container must be restarted)."""
        return self.result is False


def container_probes(container: Obj) -> dict[str, Obj]:
    """The probes a container declares, by kind."""
    out = {}
    for kind, field_name in ((LIVENESS, "livenessProbe"), (READINESS, "readinessProbe"), (STARTUP, "startupProbe")):
        probe = container.get(field_name)
        if probe:
            out[kind] = probe
    return out
