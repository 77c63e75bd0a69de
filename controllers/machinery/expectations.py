"""kube-controller-manager's ControllerExpectations (pkg/controller/controller_utils.go), pure: `now` is passed in.

A controller that has just asked for N creations must not count its pods again until the informer has shown it
those N pods (or 5 minutes have passed: a lost watch event must not wedge the controller forever). Until then
`satisfied(key)` is False and the sync skips managing replicas.
"""

from __future__ import annotations

from dataclasses import dataclass, field

EXPECTATIONS_TIMEOUT_S = 300.0


@dataclass
class ControlleeExpectations:
    add: int
    delete: int
    timestamp: float

    def fulfilled(self) -> bool:
        return self.add <= 0 and self.delete <= 0


class ControllerExpectations:
    """Per controller key: how many creations and deletions are still to be observed."""

    def __init__(self, timeout: float = EXPECTATIONS_TIMEOUT_S) -> None:
        self.timeout = timeout
        self._store: dict[str, ControlleeExpectations] = {}

    def get(self, key: str) -> ControlleeExpectations | None:
        return self._store.get(key)

    def satisfied(self, key: str, now: float) -> bool:
        """True when nothing is expected, when the expectations are fulfilled or expired, or for an unknown key
        (a new controller, or one whose expectations were deleted)."""
        exp = self._store.get(key)
        if exp is None:
            return True
        return exp.fulfilled() or now - exp.timestamp > self.timeout

    def set_expectations(self, key: str, add: int, delete: int, now: float) -> None:
        self._store[key] = ControlleeExpectations(add, delete, now)

    def expect_creations(self, key: str, adds: int, now: float) -> None:
        self.set_expectations(key, adds, 0, now)

    def expect_deletions(self, key: str, dels: int, now: float) -> None:
        self.set_expectations(key, 0, dels, now)

    def raise_expectations(self, key: str, add: int, delete: int) -> None:
        exp = self._store.get(key)
        if exp is not None:
            exp.add += add
            exp.delete += delete

    def lower_expectations(self, key: str, add: int, delete: int) -> None:
        exp = self._store.get(key)
        if exp is not None:
            exp.add -= add
            exp.delete -= delete

    def creation_observed(self, key: str) -> None:
        self.lower_expectations(key, 1, 0)

    def deletion_observed(self, key: str) -> None:
        self.lower_expectations(key, 0, 1)

    def delete_expectations(self, key: str) -> None:
        self._store.pop(key, None)


@dataclass
class UIDTrackingControllerExpectations:
    """ControllerExpectations plus the keys of the pods a controller deleted, so a deletion is counted once even
    when the informer reports it twice (an update with deletionTimestamp, then the delete) — as the ReplicaSet
    controller uses it."""

    expectations: ControllerExpectations = field(default_factory=ControllerExpectations)
    _uids: dict[str, set[str]] = field(default_factory=dict)

    def satisfied(self, key: str, now: float) -> bool:
        return self.expectations.satisfied(key, now)

    def expect_creations(self, key: str, adds: int, now: float) -> None:
        self.expectations.expect_creations(key, adds, now)

    def creation_observed(self, key: str) -> None:
        self.expectations.creation_observed(key)

    def get_uids(self, key: str) -> set[str]:
        return set(self._uids.get(key, ()))

    def expect_deletions(self, key: str, deleted_keys: list[str], now: float) -> None:
        self._uids[key] = set(deleted_keys)
        self.expectations.expect_deletions(key, len(deleted_keys), now)

    def deletion_observed(self, key: str, deleted_key: str) -> None:
        uids = self._uids.get(key)
        if uids is not None and deleted_key in uids:
            self.expectations.deletion_observed(key)
            uids.discard(deleted_key)

    def delete_expectations(self, key: str) -> None:
        self.expectations.delete_expectations(key)
        self._uids.pop(key, None)
