"""Regenerate `data/definitions-v1.32.json` from PyPI `kubernetes-validate` (a development tool, not imported).

    pip install kubernetes-validate==1.37.0 && python -m apiserver.api.gen_schemas

Takes the v1.32.0 definitions reachable from the served kinds, rewrites `$ref`s to OpenAPI v3's
`#/components/schemas/`, and turns JSON-schema nullable types (["string", "null"]) into plain types.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

from apiserver.api.openapi import schema_name
from apiserver.api.resources import RESOURCES

OUT = pathlib.Path(__file__).parent / "data" / "definitions-v1.32.json"
META = "io.k8s.apimachinery.pkg.apis.meta.v1"
EXTRA_ROOTS = ["io.k8s.api.autoscaling.v1.Scale", "io.k8s.api.authentication.v1.TokenRequest",
               "io.k8s.api.core.v1.Binding", "io.k8s.api.policy.v1.Eviction",
               # what list, delete, watch and error responses return (OpenAPI v2/v3 operation responses)
               f"{META}.Status", f"{META}.DeleteOptions", f"{META}.WatchEvent", f"{META}.Patch", f"{META}.APIResourceList"]


def _normalize(x: Any, defs: dict[str, Any], seen: set[str]) -> Any:
    if isinstance(x, dict):
        out: dict[str, Any] = {}
        for k, v in x.items():
            if k == "$ref":
                name = v.rsplit("/", 1)[-1]
                if name not in seen:
                    seen.add(name)
                    defs[name] = _normalize(defs[name], defs, seen)
                out[k] = f"#/components/schemas/{name}"
            elif k == "type" and isinstance(v, list):
                types = [t for t in v if t != "null"]
                out[k] = types[0] if len(types) == 1 else types
            else:
                out[k] = _normalize(v, defs, seen)
        return out
    if isinstance(x, list):
        return [_normalize(v, defs, seen) for v in x]
    return x


def main() -> None:
    import kubernetes_validate  # type: ignore[import-not-found]

    src = pathlib.Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema/v1.32.0-local/_definitions.json"
    defs: dict[str, Any] = json.loads(src.read_text())["$defs"]
    seen: set[str] = set()
    lists = [schema_name(r) + "List" for r in RESOURCES if not r.virtual]
    for root in [schema_name(r) for r in RESOURCES] + lists + EXTRA_ROOTS:
        seen.add(root)
        defs[root] = _normalize(defs[root], defs, seen)
    OUT.write_text(json.dumps({k: defs[k] for k in sorted(seen)}, separators=(",", ":"), sort_keys=True))
    print(f"wrote {len(seen)} definitions to {OUT}")


if __name__ == "__main__":
    main()
