"""Discovery documents (legacy and aggregated), built from the resource table.

Legacy: `/api` (APIVersions), `/apis` (APIGroupList), `/api/v1` and `/apis/<g>/<v>` (APIResourceList).
Aggregated: the same paths answer an `APIGroupDiscoveryList` in exactly the apidiscovery version the
client asked for (v2 or v2beta1); kubectl 1.29 asks only for v2beta1 and rejects a v2 body.
"""

from __future__ import annotations

from typing import Any

from apiserver.api.resources import GROUPS, Resource, in_group_version, versions_of

SUBRESOURCE_VERBS = {"status": ["get", "patch", "update"], "scale": ["get", "patch", "update"],
                     "finalize": ["update"], "token": ["create"], "binding": ["create"], "eviction": ["create"],
                     "log": ["get"], "exec": ["create", "get"], "attach": ["create", "get"],
                     "portforward": ["create", "get"]}
SUBRESOURCE_KINDS = {"scale": ("autoscaling", "v1", "Scale"), "token": ("authentication.k8s.io", "v1", "TokenRequest"),
                     "binding": ("", "v1", "Binding"), "eviction": ("policy", "v1", "Eviction"),
                     "exec": ("", "v1", "PodExecOptions"), "attach": ("", "v1", "PodAttachOptions"),
                     "portforward": ("", "v1", "PodPortForwardOptions")}
CONNECT_SUBRESOURCES = ("exec", "attach", "portforward")


def _sub_kind(r: Resource, sub: str) -> tuple[str, str, str]:
    return SUBRESOURCE_KINDS.get(sub, (r.group, r.version, r.kind))


def api_versions(server_address: str) -> dict[str, Any]:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def api_group_list() -> dict[str, Any]:
    groups = []
    for g in GROUPS:
        versions = [{"groupVersion": f"{g}/{v}", "version": v} for v in versions_of(g)]
        groups.append({"name": g, "versions": versions, "preferredVersion": versions[0]})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(group: str) -> dict[str, Any] | None:
    for g in api_group_list()["groups"]:
        if g["name"] == group:
            return {"kind": "APIGroup", "apiVersion": "v1", **g}
    return None


def api_resource_list(group: str, version: str) -> dict[str, Any] | None:
    rows = in_group_version(group, version)
    if not rows:
        return None
    out: list[dict[str, Any]] = []
    for r in rows:
        entry: dict[str, Any] = {"name": r.plural, "singularName": r.singular_name, "namespaced": r.namespaced,
                                 "kind": r.kind, "verbs": list(r.verbs)}
        if r.short_names:
            entry["shortNames"] = list(r.short_names)
        if r.categories:
            entry["categories"] = list(r.categories)
        out.append(entry)
        for sub in r.subresources:
            g, v, k = _sub_kind(r, sub)
            s: dict[str, Any] = {"name": f"{r.plural}/{sub}", "singularName": "", "namespaced": r.namespaced,
                                 "kind": k, "verbs": SUBRESOURCE_VERBS[sub]}
            if (g, v) != (r.group, r.version):
                s["group"], s["version"] = g, v
            out.append(s)
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": out}


def _aggregated_group(group: str, version_label: str) -> dict[str, Any]:
    versions = []
    for v in versions_of(group):
        resources = []
        for r in in_group_version(group, v):
            entry: dict[str, Any] = {
                "resource": r.plural, "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
                "scope": "Namespaced" if r.namespaced else "Cluster", "singularResource": r.singular_name,
                "verbs": list(r.verbs)}
            if r.short_names:
                entry["shortNames"] = list(r.short_names)
            if r.categories:
                entry["categories"] = list(r.categories)
            if r.subresources:
                entry["subresources"] = []
                for sub in r.subresources:
                    g, sv, k = _sub_kind(r, sub)
                    entry["subresources"].append({"subresource": sub, "verbs": SUBRESOURCE_VERBS[sub],
                                                  "responseKind": {"group": g, "version": sv, "kind": k}})
            resources.append(entry)
        versions.append({"version": v, "resources": resources, "freshness": "Current"})
    return {"metadata": {"name": group, "creationTimestamp": None}, "versions": versions}


def aggregated(legacy: bool, version_label: str) -> dict[str, Any]:
    """`version_label` is "v2" or "v2beta1": the body's apiVersion must be the one that was negotiated."""
    groups = [""] if legacy else list(GROUPS)
    return {"kind": "APIGroupDiscoveryList", "apiVersion": f"apidiscovery.k8s.io/{version_label}",
            "metadata": {}, "items": [_aggregated_group(g, version_label) for g in groups]}
