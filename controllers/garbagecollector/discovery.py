"""Which resources the API server serves, from its discovery documents (client-go's ServerPreferredResources).

The garbage collector needs every resource it can list, watch and delete; the namespace controller every
namespaced one it can list and delete. `parse` is pure (documents in, resources out) so the filtering is tested
without a server; `discover` fetches `/api/v1`, `/apis` and each group's preferred version.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from controllers.machinery.client import RESTClient
from controllers.machinery.resources import Resource


@dataclass(frozen=True)
class Discovered:
    resource: Resource
    verbs: frozenset[str]


@dataclass
class Discovery:
    """The served resources and the group versions whose documents could not be fetched (group/version -> error)."""
    resources: list[Discovered] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    def supporting(self, verbs: Iterable[str], *, namespaced: bool | None = None) -> list[Resource]:
        need = set(verbs)
        return [d.resource for d in self.resources
                if need <= d.verbs and (namespaced is None or d.resource.namespaced == namespaced)]

    def by_kind(self) -> dict[tuple[str, str], Resource]:
        """(group, kind) -> resource, to resolve an ownerReference's apiVersion/kind whatever its version."""
        return {(d.resource.group, d.resource.kind): d.resource for d in self.resources}


def parse(group_version: str, resource_list: Mapping[str, Any]) -> list[Discovered]:
    """An APIResourceList's top-level resources (subresources like pods/status skipped)."""
    group, _, version = group_version.rpartition("/")
    out = []
    for r in resource_list.get("resources") or []:
        name = r.get("name") or ""
        if not name or "/" in name:
            continue
        out.append(Discovered(Resource(group, version, name, r.get("kind") or "", bool(r.get("namespaced"))),
                              frozenset(r.get("verbs") or [])))
    return out


def preferred_versions(group_list: Mapping[str, Any]) -> list[str]:
    """The preferred group/version of each group in an APIGroupList."""
    out = []
    for g in group_list.get("groups") or []:
        pv = (g.get("preferredVersion") or {}).get("groupVersion")
        if not pv and g.get("versions"):
            pv = g["versions"][0].get("groupVersion")
        if pv:
            out.append(pv)
    return out


async def discover(client: RESTClient, skip: Sequence[str] = ()) -> Discovery:
    """Fetch and parse the discovery documents; a group version that fails is recorded, the rest still count."""
    found = Discovery()
    gvs = ["v1"]
    try:
        gvs += preferred_versions(await client.request("GET", "/apis", verb="get"))
    except Exception as e:  # noqa: BLE001 - reported per group, as discovery failures are
        found.failed["apis"] = str(e)
    for gv in gvs:
        if gv in skip:
            continue
        path = "/api/v1" if gv == "v1" else f"/apis/{gv}"
        try:
            found.resources.extend(parse(gv, await client.request("GET", path, verb="get")))
        except Exception as e:  # noqa: BLE001
            found.failed[gv] = str(e)
    return found
