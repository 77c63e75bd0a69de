"""Field ownership and server-side apply (apiserver/managedfields.py), as pure functions."""

from __future__ import annotations

import copy
import json

import pytest

from apiserver import managedfields as mf
from apiserver.errors import APIError

pytestmark = pytest.mark.unit
T0, T1 = "2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z"


def deploy(image: str = "nginx:1.25", replicas: int = 1) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "labels": {"app": "d"}},
            "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "c", "image": image}]}}}}


def owned(obj: dict, manager: str) -> set:
    [entry] = [e for e in obj["metadata"]["managedFields"] if e["manager"] == manager]
    return mf.from_fields_v1(entry["fieldsV1"])


def test_fields_v1_round_trip_with_keyed_items():
    paths = set(mf.leaves(deploy()))
    tree = mf.to_fields_v1(paths)
    item = tree["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"c"}']
    assert item == {".": {}, "f:name": {}, "f:image": {}}
    assert tree["f:metadata"] == {"f:labels": {"f:app": {}}}
    assert mf.from_fields_v1(tree) == paths


def test_apply_conflicts_with_another_manager_unless_forced():
    live = mf.apply(None, deploy(), "alice", force=False, api_version="apps/v1", now=T0, kind="", group="", name="")
    assert owned(live, "alice") == set(mf.leaves(deploy()))
    with pytest.raises(APIError) as e:
        mf.apply(live, deploy(image="nginx:1.26", replicas=3), "bob", force=False, api_version="apps/v1", now=T1,
                 kind="", group="", name="")
    assert (e.value.code, e.value.reason) == (409, "Conflict")
    assert e.value.message == ('Apply failed with 2 conflicts: conflicts with "alice":\n- .spec.replicas\n'
                               '- .spec.template.spec.containers[name="c"].image')
    assert [c.field for c in e.value.causes] == [".spec.replicas", '.spec.template.spec.containers[name="c"].image']
    # Agreeing on a value is shared ownership, not a conflict.
    shared = mf.apply(live, {"spec": {"replicas": 1}}, "bob", force=False, api_version="apps/v1", now=T1, kind="",
                      group="", name="")
    assert ("f:spec", "f:replicas") in owned(shared, "alice") & owned(shared, "bob")
    forced = mf.apply(live, {"spec": {"replicas": 3}}, "bob", force=True, api_version="apps/v1", now=T1, kind="",
                      group="", name="")
    assert forced["spec"]["replicas"] == 3 and ("f:spec", "f:replicas") not in owned(forced, "alice")


def test_fields_no_longer_applied_are_removed_unless_someone_else_owns_them():
    cfg = {"metadata": {"labels": {"a": "1", "b": "2"}}, "data": {"x": "1", "y": "2"}}
    live = mf.apply(None, cfg, "m", force=False, api_version="v1", now=T0, kind="", group="", name="")
    other = {**live, "metadata": {**live["metadata"], "labels": {"a": "1", "b": "2", "c": "3"}}}
    mf.record_update(live, other, "editor", "v1", T1)
    after = mf.apply(other, {"metadata": {"labels": {"a": "1"}}, "data": {"x": "1"}}, "m", force=False,
                     api_version="v1", now=T1, kind="", group="", name="")
    assert after["metadata"]["labels"] == {"a": "1", "c": "3"} and after["data"] == {"x": "1"}


def test_update_takes_changed_fields_and_a_noop_keeps_the_entry():
    live = mf.apply(None, {"data": {"k": "v"}}, "applier", force=False, api_version="v1", now=T0, kind="",
                    group="", name="")
    changed = {**live, "data": {"k": "w"}}
    mf.record_update(live, changed, "kubectl-edit", "v1", T1)
    assert owned(changed, "kubectl-edit") == {("f:data", "f:k")}
    assert all(e["manager"] != "applier" for e in changed["metadata"]["managedFields"]), "the only field moved"
    same = {**changed, "metadata": {**changed["metadata"]}}
    mf.record_update(changed, same, "kubectl-edit", "v1", "2030-01-01T00:00:00Z")
    assert same["metadata"]["managedFields"] == changed["metadata"]["managedFields"]
    with pytest.raises(APIError) as e:
        mf.apply(changed, {"data": {"k": "z"}}, "applier", force=False, api_version="v1", now=T1, kind="", group="",
                 name="")
    assert e.value.message == 'Apply failed with 1 conflict: conflict with "kubectl-edit" using v1: .data.k'


def test_upgrade_from_client_side_apply_takes_over_only_unchanged_fields():
    """kubectl apply (client-side), then kubectl patch of replicas, then kubectl apply --server-side: the fields
    still as last applied move to "kubectl" without conflict; replicas, changed by the patch, is a conflict."""
    last = deploy(replicas=2)
    live = {**deploy(replicas=2), "metadata": {
        "name": "d", "labels": {"app": "d"}, "annotations": {mf.LAST_APPLIED: json.dumps(last)}}}
    mf.record_update(None, live, "kubectl-client-side-apply", "apps/v1", T0)
    patched = copy.deepcopy(live)
    patched["spec"]["replicas"] = 3
    mf.record_update(live, patched, "kubectl-patch", "apps/v1", T0)
    with pytest.raises(APIError) as e:
        mf.apply(patched, deploy(image="nginx:1.26", replicas=5), "kubectl", force=False, api_version="apps/v1",
                 now=T1, kind="deployments", group="apps", name="d")
    assert e.value.message == 'Apply failed with 1 conflict: conflict with "kubectl-patch" using apps/v1: .spec.replicas'
    # Without the patch every conflict is with the client-side apply's own unchanged fields: taken over.
    took = mf.apply(live, deploy(image="nginx:1.26", replicas=2), "kubectl", force=False, api_version="apps/v1",
                    now=T1, kind="deployments", group="apps", name="d")
    assert took["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.26"
