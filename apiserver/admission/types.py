"""Admission interfaces in the shape of k8s.io/apiserver/pkg/admission: an Attributes view of the request,
plugins that handle some operations, and typed errors that carry the HTTP status the HTTP layer must answer."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Protocol

from apiserver.authn.types import UserInfo

Obj = dict[str, Any]


class Operation(enum.StrEnum):
    CREATE = "CREATE"
    UPDATE = "UPDATE"
    DELETE = "DELETE"
    CONNECT = "CONNECT"


class AdmissionError(Exception):
    """Base of every admission refusal. ``status()`` is the metav1.Status body for the response."""

    http_code = 500
    reason = "InternalError"

    def __init__(self, message: str, causes: list[Obj] | None = None, details: Obj | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.causes = causes or []
        self.details = details or {}

    def status(self) -> Obj:
        details = dict(self.details)
        if self.causes:
            details["causes"] = self.causes
        out: Obj = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": self.message, "reason": self.reason, "code": self.http_code}
        if details:
            out["details"] = details
        return out


class Forbidden(AdmissionError):
    http_code = 403
    reason = "Forbidden"


class Invalid(AdmissionError):
    http_code = 422
    reason = "Invalid"


class NotFound(AdmissionError):
    http_code = 404
    reason = "NotFound"


class BadRequest(AdmissionError):
    http_code = 400
    reason = "BadRequest"


class InternalError(AdmissionError):
    http_code = 500
    reason = "InternalError"


@dataclass
class Attributes:
    """The request as admission sees it. ``object`` may be mutated in place by mutating plugins."""

    operation: Operation
    resource: str
    name: str = ""
    namespace: str = ""
    subresource: str = ""
    api_group: str = ""
    api_version: str = "v1"
    kind: str = ""
    object: Obj | None = None
    old_object: Obj | None = None
    user: UserInfo = field(default_factory=lambda: UserInfo(""))
    dry_run: bool = False

    @property
    def qualified_resource(self) -> str:
        return self.resource + (f".{self.api_group}" if self.api_group else "")

    def is_core(self, resource: str, subresource: str = "") -> bool:
        return self.api_group == "" and self.resource == resource and self.subresource == subresource


def forbidden(attrs: Attributes, message: str, causes: list[Obj] | None = None) -> Forbidden:
    """admission.NewForbidden: ``<resource> "<name>" is forbidden: <message>``."""
    name = attrs.name or ((attrs.object or {}).get("metadata") or {}).get("name", "")
    head = f'{attrs.qualified_resource} "{name}" is forbidden' if name else f"{attrs.qualified_resource} is forbidden"
    details: Obj = {"kind": attrs.resource}
    if name:
        details["name"] = name
    if attrs.api_group:
        details["group"] = attrs.api_group
    return Forbidden(f"{head}: {message}", causes, details)


def invalid(attrs: Attributes, kind: str, errors: list[tuple[str, str]]) -> Invalid:
    """apierrors.NewInvalid: ``<Kind> "<name>" is invalid: <field>: <detail>`` (several joined in brackets)."""
    name = attrs.name or ((attrs.object or {}).get("metadata") or {}).get("name", "")
    texts = [f"{f}: {d}" for f, d in errors]
    body = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    causes = [{"reason": "FieldValueInvalid", "message": d, "field": f} for f, d in errors]
    return Invalid(f'{kind} "{name}" is invalid: {body}', causes, {"name": name, "kind": kind,
                                                                  **({"group": attrs.api_group} if attrs.api_group
                                                                     else {})})


class State(Protocol):
    """Read-only view of stored objects (an informer cache in the server, dicts in tests)."""

    def get(self, resource: str, namespace: str, name: str) -> Obj | None: ...
    def list(self, resource: str, namespace: str) -> list[Obj]: ...


class DictState:
    def __init__(self, objects: dict[str, list[Obj]] | None = None) -> None:
        self.objects = objects or {}

    def get(self, resource: str, namespace: str, name: str) -> Obj | None:
        for obj in self.objects.get(resource, []):
            meta = obj.get("metadata") or {}
            if meta.get("name") == name and meta.get("namespace", "") == namespace:
                return obj
        return None

    def list(self, resource: str, namespace: str) -> list[Obj]:
        return [o for o in self.objects.get(resource, [])
                if not namespace or (o.get("metadata") or {}).get("namespace", "") == namespace]


class Plugin:
    """A plugin handles a set of operations; it may mutate (``admit``), validate (``validate``), or both.
    The defaults do nothing, so a plugin overrides only the phases it takes part in."""

    name = ""
    operations: frozenset[Operation] = frozenset(Operation)
    mutating = False
    validating = False

    def __init__(self, state: State) -> None:
        self.state = state

    def handles(self, op: Operation) -> bool:
        return op in self.operations

    def admit(self, attrs: Attributes) -> None:
        """Mutating phase: may change ``attrs.object``; raises an AdmissionError to refuse."""

    def validate(self, attrs: Attributes) -> None:
        """Validating phase: must not change anything; raises an AdmissionError to refuse."""
