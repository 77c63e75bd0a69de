"""What a controller's pure reconcile function asks for: API writes and events, as plain data.

Reconcile functions are `(desired, observed, now) -> list[Action]` over Kubernetes JSON dicts; they never call the
API themselves. `controllers.machinery.executor` performs the actions in order through the REST client, so the
decision (what to create, delete, patch, report) is tested without I/O and the I/O is written once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from controllers.machinery.resources import Resource

PatchType = Literal["merge", "strategic", "json", "apply"]
Propagation = Literal["Background", "Foreground", "Orphan"]


@dataclass(frozen=True)
class Create:
    """POST `body` to the collection of `resource` in `namespace` (None for cluster-scoped)."""
    resource: Resource
    namespace: str | None
    body: dict[str, Any]


@dataclass(frozen=True)
class Update:
    """PUT `body` (carrying metadata.resourceVersion as the precondition) to the object or its `subresource`."""
    resource: Resource
    namespace: str | None
    name: str
    body: dict[str, Any]
    subresource: str | None = None  # "status", "scale", "finalize"


@dataclass(frozen=True)
class Patch:
    """PATCH the object (or its `subresource`) with `patch` of `patch_type`."""
    resource: Resource
    namespace: str | None
    name: str
    patch: Any
    patch_type: PatchType = "merge"
    subresource: str | None = None


@dataclass(frozen=True)
class Delete:
    """DELETE the object; `uid` (and `resource_version`) become DeleteOptions.preconditions, so a controller never
    deletes a newer object that took the same name."""
    resource: Resource
    namespace: str | None
    name: str
    uid: str | None = None
    resource_version: str | None = None
    propagation: Propagation | None = None
    grace_period_seconds: int | None = None


@dataclass(frozen=True)
class Event:
    """Record a core/v1 Event about `involved` (the object dict), as kube-controller-manager's recorders do."""
    involved: dict[str, Any]
    type: Literal["Normal", "Warning"]
    reason: str
    message: str


Action = Create | Update | Patch | Delete | Event


@dataclass
class Outcome:
    """What executing one action gave: the object the API server answered with, or its error."""
    action: Action
    object: dict[str, Any] | None = None
    error: Exception | None = None
    extra: dict[str, Any] = field(default_factory=dict)
