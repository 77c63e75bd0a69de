"""The three patch formats kubectl sends, applied to plain JSON values; pure.

- JSON patch (RFC 6902): add, remove, replace, move, copy, test.
- JSON merge patch (RFC 7386): maps merge recursively, null deletes, everything else replaces.
- Strategic merge patch (k8s.io/apimachinery/pkg/util/strategicpatch): like merge patch, except that
  lists with a patch merge key (containers by name, ports by containerPort, ...) merge item by item,
  and the directives `$patch` (replace/delete/merge), `$setElementOrder/<list>`,
  `$deleteFromPrimitiveList/<list>` and `$retainKeys` are honoured. The merge keys come from the
  table below, keyed by the path of field names (list indices dropped) that leads to the list.
"""

from __future__ import annotations

import copy
from typing import Any

from apiserver.errors import APIError, bad_request

MAX_PATCH_OPERATIONS = 10_000

# (parent field, list field) -> merge key; None parent matches any. Primitive lists listed in MERGE_PRIMITIVE.
_MERGE_KEYS: dict[tuple[str | None, str], str] = {
    (None, "containers"): "name", (None, "initContainers"): "name", (None, "ephemeralContainers"): "name",
    ("containers", "ports"): "containerPort", ("initContainers", "ports"): "containerPort",
    ("spec", "ports"): "port",
    (None, "env"): "name", (None, "volumes"): "name", (None, "volumeMounts"): "mountPath",
    (None, "volumeDevices"): "devicePath", (None, "imagePullSecrets"): "name", (None, "conditions"): "type",
    (None, "ownerReferences"): "uid", (None, "hostAliases"): "ip", (None, "topologySpreadConstraints"): "topologyKey",
}
MERGE_PRIMITIVE = frozenset({"finalizers"})


def merge_key_for(path: tuple[str, ...]) -> str | None:
    if not path:
        return None
    parent = path[-2] if len(path) > 1 else ""
    return _MERGE_KEYS.get((parent, path[-1])) or _MERGE_KEYS.get((None, path[-1]))


def _invalid_patch(message: str) -> APIError:
    return APIError(message, "Invalid", 422)


# ---------------------------------------------------------------- JSON patch

def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, tokens: list[str], op: str) -> tuple[Any, str]:
    cur = doc
    for t in tokens[:-1]:
        if isinstance(cur, dict):
            if t not in cur:
                raise _invalid_patch(f"the server rejected our request due to an error in our request: "
                                     f"{op} operation does not apply: doc is missing path: /{'/'.join(tokens)}")
            cur = cur[t]
        elif isinstance(cur, list):
            cur = cur[_index(cur, t, False)]
        else:
            raise _invalid_patch(f"{op} operation does not apply: /{'/'.join(tokens)}")
    return cur, tokens[-1]


def _index(lst: list[Any], token: str, allow_end: bool) -> int:
    if token == "-" and allow_end:
        return len(lst)
    if not token.isdigit():
        raise _invalid_patch(f"invalid array index {token!r}")
    i = int(token)
    if i > len(lst) or (i == len(lst) and not allow_end):
        raise _invalid_patch(f"array index {i} out of bounds")
    return i


def _get(doc: Any, tokens: list[str]) -> Any:
    cur = doc
    for t in tokens:
        if isinstance(cur, dict) and t in cur:
            cur = cur[t]
        elif isinstance(cur, list):
            cur = cur[_index(cur, t, False)]
        else:
            raise _invalid_patch(f"doc is missing path: /{'/'.join(tokens)}")
    return cur


def _remove(doc: Any, tokens: list[str]) -> Any:
    parent, last = _parent(doc, tokens, "remove")
    if isinstance(parent, dict):
        if last not in parent:
            raise _invalid_patch(f"remove operation does not apply: doc is missing path: /{'/'.join(tokens)}")
        return parent.pop(last)
    if isinstance(parent, list):
        return parent.pop(_index(parent, last, False))
    raise _invalid_patch(f"remove operation does not apply: /{'/'.join(tokens)}")


def _add(doc: Any, tokens: list[str], value: Any) -> Any:
    if not tokens:
        return value
    parent, last = _parent(doc, tokens, "add")
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, True), value)
    else:
        raise _invalid_patch(f"add operation does not apply: /{'/'.join(tokens)}")
    return doc


def json_patch(doc: Any, ops: Any) -> Any:
    if not isinstance(ops, list):
        raise bad_request("json patch must be a list of operations")
    if len(ops) > MAX_PATCH_OPERATIONS:
        raise APIError(f"the json patch has {len(ops)} operations, more than the limit of "
                       f"{MAX_PATCH_OPERATIONS}", "RequestEntityTooLarge", 413)
    doc = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise bad_request(f"invalid json patch operation: {op!r}")
        kind, tokens = op["op"], _pointer(op["path"])
        if kind in ("add", "replace", "test") and "value" not in op:
            raise bad_request(f"{kind} operation needs a value")
        if kind == "add":
            doc = _add(doc, tokens, copy.deepcopy(op["value"]))
        elif kind == "remove":
            _remove(doc, tokens)
        elif kind == "replace":
            if not tokens:
                doc = copy.deepcopy(op["value"])
                continue
            _get(doc, tokens)
            parent, last = _parent(doc, tokens, "replace")
            if isinstance(parent, list):
                parent[_index(parent, last, False)] = copy.deepcopy(op["value"])
            else:
                parent[last] = copy.deepcopy(op["value"])
        elif kind in ("move", "copy"):
            src = _pointer(op.get("from", ""))
            if kind == "move" and len(tokens) > len(src) and tokens[:len(src)] == src:
                raise bad_request("cannot move a value into one of its children")
            value = _remove(doc, src) if kind == "move" else copy.deepcopy(_get(doc, src))
            doc = _add(doc, tokens, value)
        elif kind == "test":
            if _get(doc, tokens) != op["value"]:
                raise _invalid_patch(f"testing value /{'/'.join(tokens)} failed")
        else:
            raise bad_request(f"unknown json patch operation {kind!r}")
    return doc


# ---------------------------------------------------------------- merge patch

def merge_patch(doc: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(doc) if isinstance(doc, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


# ---------------------------------------------------------------- strategic merge patch

def strategic_merge_patch(doc: Any, patch: Any, path: tuple[str, ...] = ()) -> Any:
    if not isinstance(patch, dict):
        raise bad_request("strategic merge patch must be a JSON object")
    return _smp_map(doc if isinstance(doc, dict) else {}, patch, path)


def _smp_map(doc: dict[str, Any], patch: dict[str, Any], path: tuple[str, ...]) -> Any:
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None
    if directive not in (None, "merge"):
        raise bad_request(f"unknown patch directive {directive!r}")
    out = copy.deepcopy(doc)
    orders: dict[str, list[Any]] = {}
    retain = patch.get("$retainKeys")
    for k, v in patch.items():
        if k in ("$patch", "$retainKeys"):
            continue
        if k.startswith("$setElementOrder/"):
            orders[k.split("/", 1)[1]] = v
            continue
        if k.startswith("$deleteFromPrimitiveList/"):
            field = k.split("/", 1)[1]
            out[field] = [x for x in out.get(field) or [] if x not in v]
            continue
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict):
            cur = out.get(k)
            merged = _smp_map(cur if isinstance(cur, dict) else {}, v, path + (k,))
            if merged is None:
                out.pop(k, None)
            else:
                out[k] = merged
        elif isinstance(v, list):
            cur_list = out.get(k)
            out[k] = _smp_list(cur_list if isinstance(cur_list, list) else [], v, path + (k,))
        else:
            out[k] = copy.deepcopy(v)
    if isinstance(retain, list):
        out = {k: v for k, v in out.items() if k in retain}
    for field, order in orders.items():
        if isinstance(out.get(field), list):
            out[field] = _reorder(out[field], order, merge_key_for(path + (field,)))
    return out


def _smp_list(cur: list[Any], patch: list[Any], path: tuple[str, ...]) -> list[Any]:
    key = merge_key_for(path)
    if path and path[-1] in MERGE_PRIMITIVE:
        return list(dict.fromkeys([*cur, *patch]))
    if key is None:
        return copy.deepcopy([p for p in patch if not (isinstance(p, dict) and "$patch" in p)])
    if any(isinstance(p, dict) and p.get("$patch") == "replace" for p in patch):
        return copy.deepcopy([p for p in patch if not (isinstance(p, dict) and "$patch" in p)])
    out = copy.deepcopy(cur)
    for item in patch:
        if not isinstance(item, dict):
            raise bad_request(f"list {'.'.join(path)} has merge key {key!r}; items must be objects")
        if key not in item:
            raise bad_request(f"map: {item} does not contain declared merge key: {key}")
        idx = next((i for i, x in enumerate(out) if isinstance(x, dict) and x.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                out.pop(idx)
            continue
        if idx is None:
            out.append({k: copy.deepcopy(v) for k, v in item.items() if k != "$patch"})
        else:
            out[idx] = _smp_map(out[idx], item, path)
    return out


def _reorder(items: list[Any], order: list[Any], key: str | None) -> list[Any]:
    """`$setElementOrder`: listed items first in the given order, the rest after in their old order."""
    def ident(x: Any) -> Any:
        return x.get(key) if key and isinstance(x, dict) else x
    wanted = [ident(o) for o in order]
    rank = {w: i for i, w in enumerate(wanted) if isinstance(w, str | int)}
    listed = sorted((x for x in items if ident(x) in rank), key=lambda x: rank[ident(x)])
    return listed + [x for x in items if ident(x) not in rank]
