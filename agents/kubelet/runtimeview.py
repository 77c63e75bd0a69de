"""What the runtime says about one pod, as plain values (pure): the kubelet's kubecontainer.PodStatus.

The adapter fills it from CRI ListPodSandbox/PodSandboxStatus/ListContainers/ContainerStatus; the cores (sync,
status) only read it. Times are float seconds since the epoch; the CRI's nanoseconds are converted once, here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# CRI labels and annotations the kubelet puts on sandboxes and containers (kubelet's types/labels.go names)
POD_NAME = "io.kubernetes.pod.name"
POD_NAMESPACE = "io.kubernetes.pod.namespace"
POD_UID = "io.kubernetes.pod.uid"
CONTAINER_NAME = "io.kubernetes.container.name"
CONTAINER_HASH = "io.kubernetes.container.hash"
RESTART_COUNT = "io.kubernetes.container.restartCount"
TERMINATION_MESSAGE_PATH = "io.kubernetes.container.terminationMessagePath"
GRACE_PERIOD = "io.kubernetes.pod.terminationGracePeriod"

RUNNING = "running"
EXITED = "exited"
CREATED = "created"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Container:
    id: str
    name: str
    state: str  # RUNNING / EXITED / CREATED / UNKNOWN
    attempt: int = 0
    restart_count: int = 0
    spec_hash: str = ""
    created_at: float = 0.0
    started_at: float = 0.0
    finished_at: float = 0.0
    exit_code: int = 0
    reason: str = ""
    message: str = ""
    image: str = ""
    image_ref: str = ""


@dataclass(frozen=True)
class Sandbox:
    id: str
    ready: bool
    attempt: int = 0
    created_at: float = 0.0
    ip: str = ""
    additional_ips: tuple[str, ...] = ()


@dataclass(frozen=True)
class PodRuntime:
    """Every sandbox and container of one pod uid, newest first (as kubelet sorts them)."""
    sandboxes: tuple[Sandbox, ...] = ()
    containers: tuple[Container, ...] = field(default_factory=tuple)

    def latest(self, name: str) -> Container | None:
        """The newest container of `name` (by creation), the one the status reports."""
        found = [c for c in self.containers if c.name == name]
        return max(found, key=lambda c: (c.created_at, c.attempt)) if found else None

    def previous(self, name: str) -> Container | None:
        """The second newest exited container of `name`: lastState and `kubectl logs --previous`."""
        found = sorted((c for c in self.containers if c.name == name), key=lambda c: (c.created_at, c.attempt))
        return found[-2] if len(found) >= 2 else None

    def running(self) -> list[Container]:
        return [c for c in self.containers if c.state == RUNNING]

    @property
    def sandbox(self) -> Sandbox | None:
        return max(self.sandboxes, key=lambda s: s.created_at) if self.sandboxes else None
