"""The kubelet's container restart back-off (client-go flowcontrol.Backoff as kubelet 1.32 uses it; pure).

Each failed container has an entry keyed by pod and container. A restart is allowed once `duration` has passed
since the container finished; every allowed restart doubles the duration (10 s up to 5 min). An entry not touched
for 2 × the maximum (10 min) is forgotten, which is why a container that ran 10 minutes starts over at 10 s.
"""

from __future__ import annotations

from dataclasses import dataclass

from agents.simnode.clockfmt import go_duration

INITIAL_S = 10.0
MAX_S = 300.0


@dataclass
class _Entry:
    duration: float
    last_update: float


class Backoff:
    def __init__(self, initial: float = INITIAL_S, maximum: float = MAX_S) -> None:
        self.initial = initial
        self.maximum = maximum
        self._entries: dict[str, _Entry] = {}

    def _expired(self, entry: _Entry, event_time: float) -> bool:
        return event_time - entry.last_update > 2 * self.maximum

    def get(self, key: str) -> float:
        """The current back-off of `key` (0 when it has none)."""
        entry = self._entries.get(key)
        return entry.duration if entry else 0.0

    def in_backoff_since(self, key: str, event_time: float, now: float) -> bool:
        """True while `now` is within the entry's duration after `event_time` (the container's finish time)."""
        entry = self._entries.get(key)
        if entry is None or self._expired(entry, event_time):
            return False
        return now - event_time < entry.duration

    def in_backoff_since_update(self, key: str, now: float) -> bool:
        """True while `now` is within the duration after the entry's last update (image pull back-off)."""
        entry = self._entries.get(key)
        if entry is None or now - entry.last_update > 2 * self.maximum:
            return False
        return now - entry.last_update < entry.duration

    def next(self, key: str, event_time: float, now: float) -> None:
        """Record a restart: a new or expired entry starts at `initial`, otherwise the duration doubles."""
        entry = self._entries.get(key)
        if entry is None or self._expired(entry, event_time):
            self._entries[key] = _Entry(self.initial, now)
        else:
            entry.duration = min(entry.duration * 2, self.maximum)
            entry.last_update = now

    def gc(self, now: float) -> None:
        """Forget entries untouched for 2 × maximum (kubelet runs this every minute)."""
        for key in [k for k, e in self._entries.items() if now - e.last_update > 2 * self.maximum]:
            del self._entries[key]


def container_key(pod_name: str, namespace: str, uid: str, container: str) -> str:
    return f"{pod_name}_{namespace}_{uid}_{container}"


def check_restart(backoff: Backoff, key: str, finished_at: float, now: float,
                  container: str, pod_full: str) -> str | None:
    """The kubelet's doBackOff: None when the container may start now (the restart is counted), else the
    CrashLoopBackOff message for its waiting state."""
    if backoff.in_backoff_since(key, finished_at, now):
        return f"back-off {go_duration(backoff.get(key))} restarting failed container={container} pod={pod_full}"
    backoff.next(key, finished_at, now)
    return None
