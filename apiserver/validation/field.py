"""Field errors as k8s.io/apimachinery/pkg/util/validation/field renders them; pure.

A value is shown as Go's field.Error does: strings quoted, numbers and booleans bare, anything else as JSON,
missing as null. The reason of each Status cause is the error type's (`FieldValueRequired`, ...).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from apiserver.errors import Cause


def show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def _with(detail: str) -> str:
    return f": {detail}" if detail else ""


def required(path: str, detail: str = "") -> Cause:
    return Cause("FieldValueRequired", "Required value" + _with(detail), path)


def invalid(path: str, value: Any, detail: str = "") -> Cause:
    return Cause("FieldValueInvalid", f"Invalid value: {show(value)}" + _with(detail), path)


def not_supported(path: str, value: Any, supported: Iterable[str]) -> Cause:
    allowed = ", ".join(json.dumps(s) for s in supported)
    return Cause("FieldValueNotSupported", f"Unsupported value: {show(value)}: supported values: {allowed}", path)


def duplicate(path: str, value: Any) -> Cause:
    return Cause("FieldValueDuplicate", f"Duplicate value: {show(value)}", path)


def forbidden(path: str, detail: str) -> Cause:
    return Cause("FieldValueForbidden", "Forbidden" + _with(detail), path)


def not_found(path: str, value: Any) -> Cause:
    return Cause("FieldValueNotFound", f"Not found: {show(value)}", path)


def too_long(path: str, limit: int) -> Cause:
    return Cause("FieldValueTooLong", f"Too long: may not be more than {limit} bytes", path)


def nonnegative(obj: dict[str, Any], key: str, path: str) -> list[Cause]:
    """apimachinery's ValidateNonnegativeField, for an optional integer field."""
    v = obj.get(key)
    if isinstance(v, int) and not isinstance(v, bool) and v < 0:
        return [invalid(f"{path}.{key}" if path else key, v, "must be greater than or equal to 0")]
    return []


def positive(obj: dict[str, Any], key: str, path: str) -> list[Cause]:
    v = obj.get(key)
    if isinstance(v, int) and not isinstance(v, bool) and v <= 0:
        return [invalid(f"{path}.{key}" if path else key, v, "must be greater than 0")]
    return []


def one_of(obj: dict[str, Any], key: str, path: str, supported: Iterable[str], *, required_: bool = False
           ) -> list[Cause]:
    """An enum field: Unsupported when set to something else; Required when `required_` and empty (fields the
    server defaults are never empty by validation time, so they are not marked required)."""
    v = obj.get(key)
    p = f"{path}.{key}" if path else key
    allowed = list(supported)
    if v in (None, ""):
        return [required(p)] if required_ else []
    if v not in allowed:
        return [not_supported(p, v, allowed)]
    return []


def as_dict(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def as_list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []
