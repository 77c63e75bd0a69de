"""The workload adapters' helpers that only talk to the API: ControllerRevision collisions and orphan adoption,
driven against an in-memory fake client (what the e2e tests cannot easily provoke)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from controllers import adoption, revisions
from controllers.machinery.actions import Create
from controllers.machinery.client import APIError
from controllers.machinery.resources import CONTROLLERREVISIONS, JOBS, PODS, STATEFULSETS, Resource
from controllers.replicaset.reconcile import Kind

pytestmark = pytest.mark.unit
Obj = dict[str, Any]


class FakeClient:
    def __init__(self, objects: dict[tuple[str, str], Obj]) -> None:
        self.objects = objects  # (plural, name) -> object
        self.calls: list[tuple[str, str, str, Any]] = []

    async def get(self, resource: Resource, namespace: str | None, name: str, subresource: str | None = None) -> Obj:
        self.calls.append(("get", resource.plural, name, None))
        try:
            return self.objects[(resource.plural, name)]
        except KeyError:
            raise APIError(404, "NotFound", f'{resource.plural} "{name}" not found') from None

    async def create(self, resource: Resource, namespace: str | None, body: Obj, subresource: str | None = None) -> Obj:
        name = body["metadata"]["name"]
        self.calls.append(("create", resource.plural, name, body))
        if (resource.plural, name) in self.objects:
            raise APIError(409, "AlreadyExists", f'{resource.plural} "{name}" already exists')
        self.objects[(resource.plural, name)] = body
        return body

    async def update(self, resource: Resource, namespace: str | None, name: str, body: Obj,
                     subresource: str | None = None) -> Obj:
        self.calls.append(("update", f"{resource.plural}/{subresource}", name, body))
        return body

    async def patch(self, resource: Resource, namespace: str | None, name: str, patch: Any, patch_type: str = "merge",
                    subresource: str | None = None) -> Obj:
        self.calls.append(("patch", resource.plural, name, patch))
        obj = self.objects[(resource.plural, name)]
        obj["metadata"]["ownerReferences"] = patch["metadata"]["ownerReferences"]
        return obj


SET: Obj = {"metadata": {"name": "web", "namespace": "ns", "uid": "set-uid"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}}, "status": {"collisionCount": 2}}


def revision(data: Obj, owner_uid: str | None) -> Obj:
    md: Obj = {"name": "web-abc", "namespace": "ns", "uid": "rev-uid", "labels": {"app": "web"}}
    if owner_uid:
        md["ownerReferences"] = [{"uid": owner_uid, "controller": True, "kind": "StatefulSet", "name": "web"}]
    return {"metadata": md, "data": data, "revision": 1}


def create_action(data: Obj) -> Create:
    return Create(CONTROLLERREVISIONS, "ns", {"metadata": {"name": "web-abc", "namespace": "ns"}, "data": data})


def test_a_name_taken_by_another_template_bumps_the_collision_count() -> None:
    client = FakeClient({("controllerrevisions", "web-abc"): revision({"x": 1}, "set-uid")})
    with pytest.raises(revisions.HashCollision):
        asyncio.run(revisions.write(client, STATEFULSETS, SET, [create_action({"x": 2})]))  # type: ignore[arg-type]
    (update,) = [c for c in client.calls if c[0] == "update"]
    assert update[1] == "statefulsets/status" and update[3]["status"]["collisionCount"] == 3


def test_our_own_revision_already_there_is_no_collision() -> None:
    client = FakeClient({("controllerrevisions", "web-abc"): revision({"x": 1}, "set-uid")})
    asyncio.run(revisions.write(client, STATEFULSETS, SET, [create_action({"x": 1})]))  # type: ignore[arg-type]
    assert not [c for c in client.calls if c[0] == "update"]


def test_same_template_of_someone_else_is_a_collision() -> None:
    client = FakeClient({("controllerrevisions", "web-abc"): revision({"x": 1}, "other-uid")})
    with pytest.raises(revisions.HashCollision):
        asyncio.run(revisions.write(client, STATEFULSETS, SET, [create_action({"x": 1})]))  # type: ignore[arg-type]


def test_orphan_revisions_matching_the_selector_are_adopted() -> None:
    orphan = revision({"x": 1}, None)
    foreign = {**revision({"x": 2}, "other-uid"), "metadata": {**revision({}, "other-uid")["metadata"],
                                                                 "name": "web-def"}}
    unrelated = {"metadata": {"name": "db-1", "namespace": "ns", "uid": "u", "labels": {"app": "db"}}}
    client = FakeClient({("controllerrevisions", "web-abc"): orphan})
    out = asyncio.run(revisions.adopt_orphans(client, STATEFULSETS, SET,  # type: ignore[arg-type]
                                              [orphan, foreign, unrelated]))
    (patch,) = [c for c in client.calls if c[0] == "patch"]
    assert patch[2] == "web-abc" and patch[3]["metadata"]["uid"] == "rev-uid"
    assert patch[3]["metadata"]["ownerReferences"][0] == {"apiVersion": "apps/v1", "kind": "StatefulSet",
                                                          "name": "web", "uid": "set-uid", "controller": True,
                                                          "blockOwnerDeletion": True}
    assert [r["metadata"]["name"] for r in out] == ["web-abc", "web-def", "db-1"]


def test_job_adoption_adds_the_tracking_finalizer_in_the_same_patch() -> None:
    job = {"metadata": {"name": "j", "namespace": "ns", "uid": "job-uid"},
           "spec": {"selector": {"matchLabels": {"app": "j"}}}}
    pod = {"metadata": {"name": "p", "namespace": "ns", "uid": "pod-uid", "labels": {"app": "j"}}}
    client = FakeClient({("jobs", "j"): job, ("pods", "p"): pod})
    kind = Kind(JOBS, "job-controller", map_selector=False)
    claimed = asyncio.run(adoption.claim(client, kind, job, [pod],  # type: ignore[arg-type]
                                         finalizer="batch.kubernetes.io/job-tracking"))
    (patch,) = [c for c in client.calls if c[0] == "patch" and c[1] == PODS.plural]
    assert patch[3]["metadata"]["finalizers"] == ["batch.kubernetes.io/job-tracking"]
    assert claimed[0]["metadata"]["finalizers"] == ["batch.kubernetes.io/job-tracking"]
    assert claimed[0]["metadata"]["ownerReferences"][0]["uid"] == "job-uid"
    assert ("get", "jobs", "j", None) in client.calls  # canAdopt re-read before adopting
