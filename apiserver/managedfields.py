"""Field ownership (`metadata.managedFields`) and server-side apply; pure.

Modelled on structured-merge-diff as kube-apiserver uses it, on plain JSON:
- A field set is a set of paths in FieldsV1 tokens: `f:<field>` for a map/struct field, `k:{"name":"c"}` for an
  item of a list with a patch merge key (containers by name, ...), `v:<json>` for a value of a set list
  (finalizers). Other lists, and scalars, are leaves. An item of a keyed list is itself a path (FieldsV1's ".").
- Every write records which fields the writer changed, under its field manager (operation Update); fields it
  changed are taken from the other managers, fields removed from the object are dropped from every manager.
- Apply (operation Apply) makes the manager own exactly the fields of its configuration. A field it sets to a
  value other than the live one, while another manager owns it, is a conflict (409 listing each one) unless
  `force`, which moves ownership to the applier. Fields the applier owned before, no longer applies, and nobody
  else owns are removed from the object. The manager `kubectl` may take over, without conflicts, the fields its
  last client-side apply recorded (the upgrade from `kubectl apply` to `kubectl apply --server-side`).
- Writes through the `status` subresource are recorded apart, in entries with `subresource: status`, and own only
  `status` (and the tracked metadata); writes to the main resource own everything but `status` (kube-apiserver's
  reset fields: each endpoint ignores what the other one owns). Entries of the other endpoint are kept as they are.
Not modelled: per-version conversion of field sets, and the `.` marker on maps.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from apiserver.errors import APIError, Cause
from apiserver.patch import MERGE_PRIMITIVE, merge_key_for, strategic_merge_patch

Path = tuple[str, ...]
TRACKED_METADATA = ("labels", "annotations", "finalizers", "ownerReferences")


def _token_value(v: Any) -> str:
    return json.dumps(v, separators=(",", ":"), sort_keys=True)


def _walk(value: Any, path: Path, names: tuple[str, ...], out: dict[Path, Any]) -> None:
    if isinstance(value, dict) and value:
        for k, v in value.items():
            _walk(v, path + (f"f:{k}",), names + (k,), out)
        return
    if isinstance(value, list) and value and names:
        key = merge_key_for(names)
        if key and all(isinstance(i, dict) and key in i for i in value):
            for item in value:
                item_path = path + (f"k:{_token_value({key: item[key]})}",)
                out[item_path] = {key: item[key]}
                for k, v in item.items():
                    _walk(v, item_path + (f"f:{k}",), names + (k,), out)
            return
        if names[-1] in MERGE_PRIMITIVE and all(not isinstance(i, (dict, list)) for i in value):
            for item in value:
                out[path + (f"v:{_token_value(item)}",)] = item
            return
    out[path] = value


MAIN, STATUS, EVERYTHING = "", "status", "*"


def leaves(obj: dict[str, Any] | None, scope: str = MAIN) -> dict[Path, Any]:
    """Every path of `obj` a writer through `scope` may own, and the value there (for a keyed list item: its key).
    MAIN: all but status; STATUS: status only; EVERYTHING: both. Tracked metadata belongs to every scope."""
    out: dict[Path, Any] = {}
    if not obj:
        return out
    for k, v in obj.items():
        if k in ("apiVersion", "kind", "metadata"):
            continue
        if (k == "status") == (scope == STATUS) or scope == EVERYTHING:
            _walk(v, (f"f:{k}",), (k,), out)
    md = obj.get("metadata") or {}
    for k in TRACKED_METADATA:
        if k in md and md[k] not in (None, {}, []):
            _walk(md[k], ("f:metadata", f"f:{k}"), ("metadata", k), out)
    return out


def to_fields_v1(paths: set[Path]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for p in sorted(paths):
        node = tree
        for tok in p:
            node = node.setdefault(tok, {})
    for p in paths:  # a keyed item that also has owned children carries FieldsV1's "." marker
        node = tree
        for tok in p:
            node = node[tok]
        if node and p[-1].startswith("k:"):
            node["."] = {}
    return tree


def from_fields_v1(tree: Any, prefix: Path = ()) -> set[Path]:
    out: set[Path] = set()
    if not isinstance(tree, dict):
        return out
    if "." in tree or (not tree and prefix):
        out.add(prefix)
    for tok, sub in tree.items():
        if tok != ".":
            out |= from_fields_v1(sub, prefix + (tok,))
    return out


def _entry(manager: str, operation: str, api_version: str, now: str, paths: set[Path],
           subresource: str = "") -> dict[str, Any]:
    e: dict[str, Any] = {"manager": manager, "operation": operation, "apiVersion": api_version, "time": now,
                         "fieldsType": "FieldsV1", "fieldsV1": to_fields_v1(paths)}
    if subresource:
        e["subresource"] = subresource
    return e


def _same(e: dict[str, Any], manager: str, operation: str, subresource: str) -> bool:
    return (e.get("manager"), e.get("operation"), e.get("subresource", "")) == (manager, operation, subresource)


def _entries(obj: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [e for e in ((obj or {}).get("metadata") or {}).get("managedFields") or [] if isinstance(e, dict)]


def record_update(old: dict[str, Any] | None, new: dict[str, Any], manager: str, api_version: str, now: str,
                  subresource: str = "") -> None:
    """Set `new.metadata.managedFields` after a create/update/patch by `manager`. A body that carries its own
    managedFields replaces the old ones (an empty list resets them, as kube-apiserver does)."""
    md = new.setdefault("metadata", {})
    base = _entries(new) if md.get("managedFields") is not None else _entries(old)
    if md.get("managedFields") == []:
        base = []
    scope = STATUS if subresource == "status" else MAIN
    before, after = leaves(old, scope), leaves(new, scope)
    changed = {p for p, v in after.items() if p not in before or before[p] != v}
    present = set(leaves(new, EVERYTHING))
    result: list[dict[str, Any]] = []
    mine: set[Path] = set(changed)
    kept: dict[str, Any] | None = None
    for e in base:
        paths = from_fields_v1(e.get("fieldsV1")) & present
        if _same(e, manager, "Update", subresource):
            mine |= paths
            kept = e
            continue
        paths -= changed
        if paths:
            result.append({**e, "fieldsV1": to_fields_v1(paths)})
    if mine:
        # Unchanged fields keep the entry (and its time) as it was, so a no-op write stays a no-op.
        same = kept is not None and not changed and from_fields_v1(kept.get("fieldsV1")) == mine
        result.append(kept if same and kept is not None else
                      _entry(manager, "Update", api_version, now, mine, subresource))
    if result:
        md["managedFields"] = result
    else:
        md.pop("managedFields", None)


def _describe(e: dict[str, Any]) -> str:
    if e.get("operation") == "Update":
        return f'"{e.get("manager")}" using {e.get("apiVersion")}'
    return f'"{e.get("manager")}"'


def path_string(p: Path) -> str:
    """A path as the apiserver prints it in conflicts: .spec.containers[name="c"].image"""
    out = ""
    for tok in p:
        kind, _, rest = tok.partition(":")
        if kind == "f":
            out += f".{rest}"
        elif kind == "k":
            key = json.loads(rest)
            out += "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in sorted(key.items())) + "]"
        else:
            out += f"[={rest}]"
    return out


def conflict_error(conflicts: list[tuple[Path, dict[str, Any]]], kind: str, group: str, name: str) -> APIError:
    causes = [Cause("FieldManagerConflict", f"conflict with {_describe(e)}", path_string(p)) for p, e in conflicts]
    if len(conflicts) == 1:
        p, e = conflicts[0]
        message = f"Apply failed with 1 conflict: conflict with {_describe(e)}: {path_string(p)}"
    else:
        by_manager: dict[str, list[str]] = {}
        for p, e in conflicts:
            by_manager.setdefault(_describe(e), []).append(path_string(p))
        lines = []
        for who in sorted(by_manager):
            lines.append(f"conflicts with {who}:")
            lines += [f"- {p}" for p in by_manager[who]]
        message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    return APIError(message, "Conflict", 409, name=name, group=group, kind=kind, causes=causes)


def _lookup(obj: Any, p: Path) -> Any:
    cur = obj
    for tok in p:
        kind, _, rest = tok.partition(":")
        if kind == "f" and isinstance(cur, dict):
            cur = cur.get(rest)
        elif kind == "k" and isinstance(cur, list):
            key = json.loads(rest)
            cur = next((i for i in cur if isinstance(i, dict) and all(i.get(k) == v for k, v in key.items())), None)
        else:
            return None
    return cur


def _remove_and_prune(obj: dict[str, Any], p: Path) -> None:
    """Remove `p`, then the maps and lists it leaves empty (as structured-merge-diff does)."""
    _remove(obj, p)
    for i in range(len(p) - 1, 0, -1):
        if _lookup(obj, p[:i]) not in ({}, []):
            return
        _remove(obj, p[:i])


def _remove(obj: dict[str, Any], p: Path) -> None:
    parent: Any = obj
    for tok in p[:-1]:
        kind, _, rest = tok.partition(":")
        if kind == "f":
            if not isinstance(parent, dict) or rest not in parent:
                return
            parent = parent[rest]
        elif kind == "k":
            key = json.loads(rest)
            match = [i for i in parent or [] if isinstance(i, dict) and all(i.get(k) == v for k, v in key.items())]
            if not match:
                return
            parent = match[0]
    kind, _, rest = p[-1].partition(":")
    if kind == "f" and isinstance(parent, dict):
        parent.pop(rest, None)
    elif kind in ("k", "v") and isinstance(parent, list):
        target = json.loads(rest)
        keep = [i for i in parent if not (i == target if kind == "v" else
                                          isinstance(i, dict) and all(i.get(k) == v for k, v in target.items()))]
        parent[:] = keep


UPGRADING_MANAGER = "kubectl"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _last_applied_fields(live: dict[str, Any], current: dict[Path, Any]) -> set[Path]:
    """kube-apiserver's lastAppliedManager: `kubectl apply --server-side` may take over, without conflicts, the
    fields of the client-side apply configuration recorded in the object's annotation — only those whose live
    value is still the one last applied; a field someone changed since (`kubectl patch`) stays a conflict."""
    raw = ((live.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
    try:
        cfg = json.loads(raw) if raw else None
    except ValueError:
        return set()
    if not isinstance(cfg, dict):
        return set()
    return {p for p, v in leaves(cfg).items() if p in current and current[p] == v}


def apply(live: dict[str, Any] | None, config: dict[str, Any], manager: str, *, force: bool, api_version: str,
          now: str, kind: str, group: str, name: str, subresource: str = "") -> dict[str, Any]:
    """The object after `manager` applies `config` to `live` (None: create), with managedFields updated.
    Raises a 409 Conflict listing every conflicting field unless `force`. Through the status subresource only
    the configuration's `status` (and tracked metadata) is applied and owned."""
    live = copy.deepcopy(live) if live is not None else {}
    entries = _entries(live)
    scope = STATUS if subresource == "status" else MAIN
    applied = leaves(config, scope)
    current = leaves(live, scope)
    conflicts: list[tuple[Path, dict[str, Any]]] = []
    others: list[tuple[dict[str, Any], set[Path]]] = []
    previous: set[Path] = set()
    previous_entry: dict[str, Any] | None = None
    for e in entries:
        paths = from_fields_v1(e.get("fieldsV1"))
        if _same(e, manager, "Apply", subresource):
            previous, previous_entry = paths, e
            continue
        others.append((e, paths))
        for p in sorted(paths & set(applied)):
            if p in current and current[p] != applied[p]:
                conflicts.append((p, e))
    if conflicts and not force:
        allowed = _last_applied_fields(live, current) if manager == UPGRADING_MANAGER else set()
        if not {p for p, _ in conflicts} <= allowed:
            raise conflict_error([(p, e) for p, e in conflicts if p not in allowed], kind, group, name)
        force = True  # the upgrade from client-side apply: kubectl takes over what it applied before
    body = {k: v for k, v in config.items() if k not in ("apiVersion", "kind")
            and (k == "status") == (scope == STATUS) or k == "metadata"}
    cfg_md = body.pop("metadata", None) or {}
    new: dict[str, Any] = strategic_merge_patch(live, body) if live else copy.deepcopy(body)
    md = new.setdefault("metadata", {})
    for k, v in cfg_md.items():
        if k in TRACKED_METADATA:
            md[k] = strategic_merge_patch({k: md.get(k)}, {k: v})[k] if md.get(k) is not None else v
        elif k not in md:
            md[k] = v
    if force:
        conflicting = {p for p, _ in conflicts}
        others = [(e, paths - conflicting) for e, paths in others]
    still_owned = set().union(*(paths for _, paths in others)) if others else set()
    for p in sorted(previous - set(applied) - still_owned, key=len, reverse=True):
        _remove_and_prune(new, p)
    present = set(leaves(new, EVERYTHING))
    result = [{**e, "fieldsV1": to_fields_v1(paths & present)} for e, paths in others if paths & present]
    unchanged = previous_entry is not None and previous == set(applied) and all(
        current.get(p) == v for p, v in applied.items())
    result.append(previous_entry if unchanged and previous_entry is not None else
                  _entry(manager, "Apply", api_version, now, set(applied), subresource))
    md["managedFields"] = result
    return new
