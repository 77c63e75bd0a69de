"""The pod-template-hash: kube's controller.ComputeHash, as close as Python gets.

kube 1.32 hashes the Go struct of the PodTemplateSpec printed by spew (`%#v`, sorted keys, types, no pointer
addresses) into FNV-1a 32 bits, writes the collisionCount (if any) as 8 little-endian bytes of which the low 4
hold the uint32, and renders the decimal of the sum through rand.SafeEncodeString (each byte of the decimal
string mapped into "bcdfghjklmnpqrstvwxz2456789"; so digits 0-9 become 4,5,6,7,8,9,b,c,d,f).

Go's spew rendering of every field of the typed struct (zero values, Go type names, pointer wrappers) cannot be
reproduced from the JSON without the Go types, so the bytes hashed here are the template's canonical JSON (sorted
keys, no whitespace, empty values dropped) instead. Everything else is the same: the algorithm (FNV-1a 32), the
collisionCount bytes, the alphabet and the length (the decimal digits of a uint32: up to 10 characters). So names
look like kube's (`web-6d4cf56db6`) and are stable across restarts, but a given template does not get the same
hash as on a real cluster.
"""

from __future__ import annotations

import json
import struct
from typing import Any

ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery/pkg/util/rand: no vowels, no 0/1/3
FNV32_OFFSET = 0x811C9DC5
FNV32_PRIME = 0x01000193


def fnv1a_32(data: bytes, h: int = FNV32_OFFSET) -> int:
    for b in data:
        h ^= b
        h = (h * FNV32_PRIME) & 0xFFFFFFFF
    return h


def safe_encode_string(s: str) -> str:
    """rand.SafeEncodeString: every byte to ALPHANUMS[byte % 27]."""
    return "".join(ALPHANUMS[b % len(ALPHANUMS)] for b in s.encode())


def canonical(value: Any) -> Any:
    """The template with nil-equivalent values dropped (null, "", {}, []), so equal templates hash equally."""
    if isinstance(value, dict):
        out = {k: canonical(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, "", {}, [])}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def compute_hash(template: dict[str, Any], collision_count: int | None = None) -> str:
    data = json.dumps(canonical(template), sort_keys=True, separators=(",", ":")).encode()
    h = fnv1a_32(data)
    if collision_count is not None:
        h = fnv1a_32(struct.pack("<Q", collision_count & 0xFFFFFFFF), h)
    return safe_encode_string(str(h))
