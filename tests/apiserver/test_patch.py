import pytest

from apiserver.errors import APIError
from apiserver.patch import json_patch, merge_patch, strategic_merge_patch

pytestmark = pytest.mark.unit

DEPLOY = {"spec": {"replicas": 1, "template": {"spec": {"containers": [
    {"name": "a", "image": "a:1", "ports": [{"containerPort": 80, "name": "http"}],
     "env": [{"name": "X", "value": "1"}]},
    {"name": "b", "image": "b:1"}]}}}, "metadata": {"finalizers": ["f1"], "labels": {"k": "v"}}}


def containers(obj):
    return obj["spec"]["template"]["spec"]["containers"]


def test_json_patch_ops():
    doc = {"a": [1, 2], "b": {"c": 1}}
    out = json_patch(doc, [{"op": "add", "path": "/a/-", "value": 3}, {"op": "replace", "path": "/b/c", "value": 2},
                           {"op": "move", "from": "/b/c", "path": "/d"}, {"op": "copy", "from": "/a/0", "path": "/e"},
                           {"op": "remove", "path": "/a/1"}, {"op": "test", "path": "/d", "value": 2}])
    assert out == {"a": [1, 3], "b": {}, "d": 2, "e": 1}
    assert doc == {"a": [1, 2], "b": {"c": 1}}, "the input must not be mutated"


@pytest.mark.parametrize("ops", [[{"op": "test", "path": "/a", "value": 9}], [{"op": "remove", "path": "/zz"}],
                                 [{"op": "replace", "path": "/a/7", "value": 1}]])
def test_json_patch_failures_are_422(ops):
    with pytest.raises(APIError) as e:
        json_patch({"a": [1]}, ops)
    assert e.value.code == 422


def test_json_patch_bad_shape_is_400():
    with pytest.raises(APIError) as e:
        json_patch({}, {"op": "add"})
    assert e.value.code == 400


def test_merge_patch_rfc7386():
    assert merge_patch({"a": "b", "c": {"d": "e", "f": "g"}}, {"a": "z", "c": {"f": None}}) == {"a": "z", "c": {"d": "e"}}
    assert merge_patch({"a": [1, 2]}, {"a": [3]}) == {"a": [3]}


def test_smp_merges_containers_by_name_and_ports_by_container_port():
    out = strategic_merge_patch(DEPLOY, {"spec": {"template": {"spec": {"containers": [
        {"name": "a", "image": "a:2", "ports": [{"containerPort": 443}], "env": [{"name": "Y", "value": "2"}]},
        {"name": "c", "image": "c:1"}]}}}})
    cs = containers(out)
    assert [c["name"] for c in cs] == ["a", "b", "c"]
    assert cs[0]["image"] == "a:2"
    assert [p["containerPort"] for p in cs[0]["ports"]] == [80, 443]
    assert [e["name"] for e in cs[0]["env"]] == ["X", "Y"]


def test_smp_directives():
    out = strategic_merge_patch(DEPLOY, {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
        "containers": [{"name": "a", "$patch": "delete"}]}}}})
    assert [c["name"] for c in containers(out)] == ["b"]
    out = strategic_merge_patch(DEPLOY, {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}], "containers": [{"name": "a", "image": "z"}]}}}})
    assert [c["name"] for c in containers(out)] == ["b", "a"]
    out = strategic_merge_patch(DEPLOY, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["f1"]}})
    assert out["metadata"]["finalizers"] == []
    out = strategic_merge_patch(DEPLOY, {"metadata": {"finalizers": ["f2"]}})
    assert out["metadata"]["finalizers"] == ["f1", "f2"]
    out = strategic_merge_patch(DEPLOY, {"metadata": {"labels": {"$patch": "replace", "n": "1"}}})
    assert out["metadata"]["labels"] == {"n": "1"}


def test_smp_list_without_merge_key_replaces():
    out = strategic_merge_patch({"spec": {"args": ["a", "b"]}}, {"spec": {"args": ["c"]}})
    assert out == {"spec": {"args": ["c"]}}


def test_smp_item_without_merge_key_is_rejected():
    with pytest.raises(APIError) as e:
        strategic_merge_patch(DEPLOY, {"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}})
    assert e.value.code == 400
