"""Unknown-field detection for `fieldValidation=Strict|Warn` against the v1.32 definitions; pure.

kube-apiserver's strict decoding reports each unknown field by its path, e.g.
`unknown field "spec.template.spec.containers[0].imagee"`. Strict turns the list into a 400
BadRequest; Warn returns it as `Warning` headers; Ignore (and a missing schema) skips the walk.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MAX_REPORTED = 100
FIELD_VALIDATION_MODES = ("Ignore", "Warn", "Strict")


def _resolve(schema: Mapping[str, Any], defs: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in schema:
        schema = defs.get(schema["$ref"].rsplit("/", 1)[-1], {})
    if "allOf" in schema and len(schema["allOf"]) == 1:
        return _resolve(schema["allOf"][0], defs)
    return schema


def unknown_fields(obj: Any, schema_name: str, defs: Mapping[str, Any], *, prune: bool = False) -> list[str]:
    """Paths of fields the schema does not know; with `prune`, also drop them from `obj` in place,
    as kube-apiserver's decoder does for built-in types."""
    out: list[str] = []
    if schema_name in defs:
        _walk(obj, defs[schema_name], defs, "", out, prune)
    return out[:MAX_REPORTED]


def _walk(value: Any, schema: Mapping[str, Any], defs: Mapping[str, Any], path: str, out: list[str],
          prune: bool) -> None:
    schema = _resolve(schema, defs)
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return
    if isinstance(value, dict):
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        for k, v in list(value.items()):
            sub = f"{path}.{k}" if path else k
            if props is not None and k in props:
                _walk(v, props[k], defs, sub, out, prune)
            elif isinstance(extra, Mapping):
                _walk(v, extra, defs, sub, out, prune)
            elif props is not None and extra is not True:
                out.append(sub)
                if prune:
                    del value[k]
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for i, item in enumerate(value):
            _walk(item, schema["items"], defs, f"{path}[{i}]", out, prune)
