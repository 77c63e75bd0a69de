"""Object metadata rules shared by every resource; pure (time and randomness are arguments).

Mirrors k8s `rest.BeforeCreate`/`BeforeUpdate`: system fields are set by the server, never trusted from
the client; `generateName` gets 5 characters from kube's alphabet; timestamps are RFC 3339 seconds.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

from apiserver.errors import Cause
from apiserver.validation import names

GENERATE_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
GENERATE_NAME_SUFFIX = 5
MAX_NAME_LENGTH = 253
MAX_LABEL_NAME_LENGTH = 63


class RNG(Protocol):
    def choice(self, seq: str) -> str: ...
    def getrandbits(self, k: int) -> int: ...


def rfc3339(now: float) -> str:
    return dt.datetime.fromtimestamp(int(now), tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> float:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC).timestamp()


def new_uid(rng: RNG) -> str:
    n = rng.getrandbits(128)
    n = (n & ~(0xF000 << 64)) | (0x4000 << 64)  # version 4
    n = (n & ~(0xC000 << 48)) | (0x8000 << 48)  # RFC 4122 variant
    h = f"{n:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def generate_name(base: str, rng: RNG) -> str:
    base = base[: MAX_NAME_LENGTH - GENERATE_NAME_SUFFIX] if len(base) > 58 else base
    return base + "".join(rng.choice(GENERATE_NAME_ALPHABET) for _ in range(GENERATE_NAME_SUFFIX))


def before_create(obj: dict[str, Any], *, now: float, rng: RNG, namespace: str, tracks_generation: bool) -> None:
    md = obj.setdefault("metadata", {})
    if not md.get("name") and md.get("generateName"):
        md["name"] = generate_name(md["generateName"], rng)
    if namespace:
        md["namespace"] = namespace
    else:
        md.pop("namespace", None)
    md["uid"] = new_uid(rng)
    md["creationTimestamp"] = rfc3339(now)
    for f in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
        md.pop(f, None)
    if tracks_generation:
        md["generation"] = 1
    else:
        md.pop("generation", None)


def before_update(new: dict[str, Any], old: dict[str, Any], *, tracks_generation: bool) -> None:
    """Carry over fields the client may not change; bump generation when anything but metadata/status changed."""
    md, old_md = new.setdefault("metadata", {}), old["metadata"]
    for f in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "namespace",
              "generateName"):
        if f in old_md:
            md[f] = old_md[f]
        else:
            md.pop(f, None)
    md.pop("selfLink", None)
    if tracks_generation:
        gen = old_md.get("generation", 1)
        changed = {k: v for k, v in new.items() if k not in ("metadata", "status")} != \
                  {k: v for k, v in old.items() if k not in ("metadata", "status")}
        md["generation"] = gen + 1 if changed else gen
    else:
        md.pop("generation", None)


def validate_object_meta(obj: dict[str, Any], *, namespaced: bool, name_is_label: bool,
                         name_is_path_segment: bool = False) -> list[Cause]:
    md = obj.get("metadata")
    if not isinstance(md, dict):
        return [Cause("FieldValueRequired", "Required value", "metadata")]
    causes: list[Cause] = []
    name = md.get("name")
    if not name:
        causes.append(Cause("FieldValueRequired", "Required value: name or generateName is required",
                            "metadata.name"))
    elif not isinstance(name, str):
        causes.append(Cause("FieldValueInvalid", "Invalid value: name must be a string", "metadata.name"))
    elif name_is_path_segment:
        # RBAC objects may be named anything usable as one URL path segment ("system:node" is a real name).
        if name in (".", "..") or "/" in name or "%" in name:
            causes.append(Cause("FieldValueInvalid", f'Invalid value: "{name}": may not be \'.\' or \'..\' and '
                                f"may not contain '/' or '%'", "metadata.name"))
    else:
        problems = names.dns1123_label(name) if name_is_label else names.dns1123_subdomain(name)
        causes.extend(Cause("FieldValueInvalid", f'Invalid value: "{name}": {problem}', "metadata.name")
                      for problem in problems)
    for field in ("labels", "annotations"):
        val = md.get(field)
        if val is not None and (not isinstance(val, dict)
                                or not all(isinstance(k, str) and isinstance(v, str) for k, v in val.items())):
            causes.append(Cause("FieldValueInvalid", "Invalid value: must be a map of string to string",
                                f"metadata.{field}"))
    for k, v in (md.get("labels") or {}).items() if isinstance(md.get("labels"), dict) else ():
        if isinstance(v, str) and len(v) > MAX_LABEL_NAME_LENGTH:
            causes.append(Cause("FieldValueInvalid", f'Invalid value: "{v}": must be no more than 63 characters',
                                f"metadata.labels.{k}"))
    return causes


def validate_update_meta(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """Rules that compare with the stored object: no new finalizers once deletion has begun."""
    old_md, md = old.get("metadata", {}), new.get("metadata", {})
    if old_md.get("deletionTimestamp"):
        added = set(md.get("finalizers") or []) - set(old_md.get("finalizers") or [])
        if added:
            return [Cause("FieldValueForbidden", f"Forbidden: no new finalizers can be added if the object is "
                          f"being deleted, found new finalizers {sorted(added)}", "metadata.finalizers")]
    return []
