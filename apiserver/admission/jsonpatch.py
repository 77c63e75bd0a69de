"""RFC 6902 JSON Patch application, for mutating webhook responses. Works on a deep copy; any failing operation
aborts the whole patch with PatchError."""

from __future__ import annotations

import copy
from typing import Any

MAX_PATCH_OPERATIONS = 10_000


class PatchError(ValueError):
    pass


def _tokens(pointer: str) -> list[str]:
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise PatchError(f"invalid JSON pointer {pointer!r}")
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def _parent(doc: Any, tokens: list[str]) -> tuple[Any, str]:
    cur = doc
    for t in tokens[:-1]:
        cur = _child(cur, t)
    return cur, tokens[-1]


def _child(cur: Any, t: str) -> Any:
    if isinstance(cur, dict):
        if t not in cur:
            raise PatchError(f"path component {t!r} not found")
        return cur[t]
    if isinstance(cur, list):
        return cur[_index(cur, t, False)]
    raise PatchError(f"cannot descend into {type(cur).__name__} at {t!r}")


def _index(lst: list[Any], t: str, for_add: bool) -> int:
    if for_add and t == "-":
        return len(lst)
    if not t.isdigit() or (len(t) > 1 and t.startswith("0")):
        raise PatchError(f"invalid array index {t!r}")
    i = int(t)
    if i > len(lst) or (i == len(lst) and not for_add):
        raise PatchError(f"array index {i} out of range")
    return i


def _get(doc: Any, pointer: str) -> Any:
    cur = doc
    for t in _tokens(pointer):
        cur = _child(cur, t)
    return cur


def _add(doc: Any, pointer: str, value: Any) -> Any:
    tokens = _tokens(pointer)
    if not tokens:
        return value
    parent, last = _parent(doc, tokens)
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, True), value)
    else:
        raise PatchError(f"cannot add to {type(parent).__name__}")
    return doc


def _remove(doc: Any, pointer: str) -> tuple[Any, Any]:
    tokens = _tokens(pointer)
    if not tokens:
        raise PatchError("cannot remove the whole document")
    parent, last = _parent(doc, tokens)
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"path {pointer!r} not found")
        return doc, parent.pop(last)
    if isinstance(parent, list):
        return doc, parent.pop(_index(parent, last, False))
    raise PatchError(f"cannot remove from {type(parent).__name__}")


def apply_patch(doc: Any, patch: list[dict[str, Any]]) -> Any:
    if not isinstance(patch, list):
        raise PatchError("a JSON patch must be an array of operations")
    if len(patch) > MAX_PATCH_OPERATIONS:
        raise PatchError(f"JSON patch has more than {MAX_PATCH_OPERATIONS} operations")
    doc = copy.deepcopy(doc)
    for op in patch:
        if not isinstance(op, dict) or "path" not in op:
            raise PatchError("each operation needs 'op' and 'path'")
        kind, path = op.get("op"), op["path"]
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            doc, _ = _remove(doc, path)
        elif kind == "replace":
            _get(doc, path)
            doc, _ = _remove(doc, path) if path else (doc, None)
            doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind in ("move", "copy"):
            src = op.get("from")
            if not isinstance(src, str):
                raise PatchError(f"{kind} needs 'from'")
            if kind == "move":
                if path.startswith(src + "/"):
                    raise PatchError("cannot move a value into one of its children")
                doc, value = _remove(doc, src)
            else:
                value = copy.deepcopy(_get(doc, src))
            doc = _add(doc, path, value)
        elif kind == "test":
            if _get(doc, path) != op.get("value"):
                raise PatchError(f"test operation failed at {path!r}")
        else:
            raise PatchError(f"unknown JSON patch operation {kind!r}")
    return doc
