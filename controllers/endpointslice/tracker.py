"""Which EndpointSlice writes the informer has not shown yet (kube's EndpointSliceTracker, reduced), pure.

Slices are created with generateName, so a sync that ran on a cache missing a slice it just created would create a
second one. After each write the adapter records the generation it expects (or that the slice is gone); a sync whose
cache lags behind any record is refused, and the key retried, until the informer caught up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]


@dataclass
class SliceTracker:
    expected: dict[str, dict[str, int]] = field(default_factory=dict)  # service key -> slice name -> generation
    deleted: dict[str, set[str]] = field(default_factory=dict)  # service key -> slice names

    def written(self, service_key: str, slice_obj: Obj) -> None:
        md = slice_obj.get("metadata") or {}
        self.expected.setdefault(service_key, {})[str(md.get("name"))] = int(md.get("generation") or 0)
        self.deleted.get(service_key, set()).discard(str(md.get("name")))

    def deleting(self, service_key: str, name: str) -> None:
        self.deleted.setdefault(service_key, set()).add(name)
        self.expected.get(service_key, {}).pop(name, None)

    def observed_deletion(self, service_key: str, name: str) -> None:
        """The informer saw the slice go (ours or anyone's delete): nothing is expected of it any more."""
        self.expected.get(service_key, {}).pop(name, None)
        self.deleted.get(service_key, set()).discard(name)

    def forget(self, service_key: str) -> None:
        self.expected.pop(service_key, None)
        self.deleted.pop(service_key, None)

    def stale(self, service_key: str, cached: list[Obj]) -> bool:
        """Whether `cached` (the informer's slices of the Service) misses a write recorded for it; records the
        cache has caught up with are dropped."""
        by_name = {str((s.get("metadata") or {}).get("name")): s for s in cached}
        expected = self.expected.get(service_key, {})
        for name, generation in list(expected.items()):
            s = by_name.get(name)
            if s is None or int((s.get("metadata") or {}).get("generation") or 0) < generation:
                return True
            del expected[name]
        gone = self.deleted.get(service_key, set())
        for name in list(gone):
            s = by_name.get(name)
            if s is not None and not (s.get("metadata") or {}).get("deletionTimestamp"):
                return True
            gone.discard(name)
        return False
