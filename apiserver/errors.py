"""Kubernetes API errors, and the one place they become `Status` objects.

Every layer raises an `APIError` subclass; the HTTP adapter calls `to_status()` once. The reason/code
pairs are the ones kube-apiserver uses (k8s.io/apimachinery/pkg/api/errors), because kubectl prints
`Error from server (<reason>): <message>` and client libraries branch on the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Cause:
    reason: str
    message: str
    field: str = ""


@dataclass
class APIError(Exception):
    message: str
    reason: str = "InternalError"
    code: int = 500
    name: str = ""
    group: str = ""
    kind: str = ""
    causes: list[Cause] = field(default_factory=list)
    retry_after: int = 0

    def __str__(self) -> str:
        return self.message

    def to_status(self) -> dict[str, Any]:
        details: dict[str, Any] = {}
        if self.name:
            details["name"] = self.name
        if self.group:
            details["group"] = self.group
        if self.kind:
            details["kind"] = self.kind
        if self.causes:
            details["causes"] = [
                {k: v for k, v in (("reason", c.reason), ("message", c.message), ("field", c.field)) if v}
                for c in self.causes
            ]
        if self.retry_after:
            details["retryAfterSeconds"] = self.retry_after
        status: dict[str, Any] = {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": self.message, "reason": self.reason, "code": self.code,
        }
        if not self.reason:
            del status["reason"]  # a bare Status a handler returns (metav1.Status with only a code and message)
        if details:
            status["details"] = details
        return status


def _qualified(resource: str, group: str) -> str:
    return f"{resource}.{group}" if group else resource


def not_found(resource: str, group: str, name: str) -> APIError:
    return APIError(f'{_qualified(resource, group)} "{name}" not found', "NotFound", 404,
                    name=name, group=group, kind=resource)


def already_exists(resource: str, group: str, name: str) -> APIError:
    return APIError(f'{_qualified(resource, group)} "{name}" already exists', "AlreadyExists", 409,
                    name=name, group=group, kind=resource)


def conflict(resource: str, group: str, name: str, why: str = "") -> APIError:
    why = why or "the object has been modified; please apply your changes to the latest version and try again"
    return APIError(f'Operation cannot be fulfilled on {_qualified(resource, group)} "{name}": {why}',
                    "Conflict", 409, name=name, group=group, kind=resource)


def invalid(kind: str, group: str, name: str, causes: list[Cause]) -> APIError:
    parts = list(dict.fromkeys(f"{c.field}: {c.message}" if c.field else c.message for c in causes))
    # Kubernetes' aggregate error: one cause as is, several in brackets (ErrorList.ToAggregate().Error())
    summary = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    return APIError(f'{kind}.{group or ""}'.rstrip(".") + f' "{name}" is invalid: {summary}',
                    "Invalid", 422, name=name, group=group, kind=kind, causes=causes)


def bad_request(message: str) -> APIError:
    return APIError(message, "BadRequest", 400)


def method_not_allowed(message: str = "the server does not allow this method on the requested resource") -> APIError:
    return APIError(message, "MethodNotAllowed", 405)


def not_acceptable(message: str) -> APIError:
    return APIError(message, "NotAcceptable", 406)


def unsupported_media_type(content_type: str) -> APIError:
    return APIError(f"the body of the request was in an unknown format - accepted media types include: "
                    f"application/json, application/yaml (got {content_type!r})", "UnsupportedMediaType", 415)


def too_large(limit: int) -> APIError:
    return APIError(f"the request body is larger than the limit of {limit} bytes", "RequestEntityTooLarge", 413)


def gone(message: str) -> APIError:
    return APIError(message, "Expired", 410)


def too_many_requests(retry_after: int = 1) -> APIError:
    return APIError("Too many requests, please try again later.", "TooManyRequests", 429, retry_after=retry_after)


def forbidden(message: str) -> APIError:
    return APIError(message, "Forbidden", 403)


def unauthorized() -> APIError:
    return APIError("Unauthorized", "Unauthorized", 401)


def internal(message: str) -> APIError:
    return APIError(f"Internal error occurred: {message}", "InternalError", 500)


def timeout(message: str, retry_after: int = 1) -> APIError:
    return APIError(message, "Timeout", 504, retry_after=retry_after)


def from_domain(exc: Exception) -> APIError:
    """The one translation of the auth cores' typed errors (authentication, impersonation, RBAC escalation,
    admission refusals, review and TokenRequest validation) into a Status. Each of those exception classes states
    its own ``http_code`` and ``reason``; admission errors also carry causes and details."""
    code = int(getattr(exc, "http_code", 500))
    reason = str(getattr(exc, "reason", "InternalError"))
    message = str(getattr(exc, "message", "") or exc)
    if code == 401:
        # kube-apiserver never says why a credential failed (that would help an attacker); the log may.
        return unauthorized()
    details = dict(getattr(exc, "details", {}) or {})
    causes = [Cause(c.get("reason", ""), c.get("message", ""), c.get("field", ""))
              for c in getattr(exc, "causes", []) or []]
    return APIError(message, reason, code, name=str(details.get("name", "")), group=str(details.get("group", "")),
                    kind=str(details.get("kind", "")), causes=causes)
