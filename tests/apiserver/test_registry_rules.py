"""Metadata, validation, tables and negotiation: the pure rules under the generic store."""

import random

import pytest

from apiserver.api import discovery, openapi, tables
from apiserver.errors import APIError
from apiserver.http.negotiation import discovery_version, object_format
from apiserver.registry import meta
from apiserver.registry.store import decode_continue, encode_continue
from apiserver.registry.strategies import strategy_for

pytestmark = pytest.mark.unit
SEED = 1234


def deployment(**spec):
    base = {"replicas": 1, "selector": {"matchLabels": {"app": "w"}},
            "template": {"metadata": {"labels": {"app": "w"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}
    base.update(spec)
    return {"metadata": {"name": "w"}, "spec": base}


def test_generate_name_and_uid_come_from_the_injected_rng():
    print("seed", SEED)
    obj = {"metadata": {"generateName": "web-"}}
    meta.before_create(obj, now=0, rng=random.Random(SEED), namespace="ns", tracks_generation=True)
    md = obj["metadata"]
    assert md["name"].startswith("web-") and len(md["name"]) == 9
    assert all(ch in meta.GENERATE_NAME_ALPHABET for ch in md["name"][4:])
    assert md["uid"][14] == "4" and md["generation"] == 1 and md["namespace"] == "ns"
    assert md["creationTimestamp"] == "1970-01-01T00:00:00Z"
    other = {"metadata": {"generateName": "web-"}}
    meta.before_create(other, now=0, rng=random.Random(SEED), namespace="ns", tracks_generation=True)
    assert other["metadata"]["name"] == md["name"], "same seed, same name"


def test_generation_bumps_only_on_spec_changes():
    old = deployment()
    old["metadata"].update(generation=3, uid="u")
    new = deployment()
    new["metadata"]["labels"] = {"x": "y"}
    meta.before_update(new, old, tracks_generation=True)
    assert new["metadata"]["generation"] == 3 and new["metadata"]["uid"] == "u"
    new = deployment(replicas=4)
    meta.before_update(new, old, tracks_generation=True)
    assert new["metadata"]["generation"] == 4


@pytest.mark.parametrize("obj,field", [
    (deployment(replicas=-1), "spec.replicas"),
    (deployment(selector={"matchLabels": {"app": "other"}}), "spec.template.metadata.labels"),
    (deployment(template={"metadata": {"labels": {"app": "w"}}, "spec": {"containers": []}}),
     "spec.template.spec.containers"),
])
def test_deployment_validation_causes(obj, field):
    causes = strategy_for("deployments").validate(obj)
    assert field in [c.field for c in causes]


def test_valid_deployment_has_no_causes():
    assert strategy_for("deployments").validate(deployment()) == []


@pytest.mark.parametrize("name,label,ok", [("web", False, True), ("Web", False, False), ("a.b", False, True),
                                           ("a.b", True, False), ("-a", False, False), ("a" * 64, True, False)])
def test_name_validation(name, label, ok):
    causes = meta.validate_object_meta({"metadata": {"name": name}}, namespaced=True, name_is_label=label)
    assert (causes == []) is ok


def test_pod_fields_for_field_selectors():
    s = strategy_for("pods")
    pod = {"metadata": {"name": "p", "namespace": "n"}, "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}}
    fields = s.fields(pod)
    assert fields["spec.nodeName"] == "n1" and fields["status.phase"] == "Running"
    assert fields["spec.hostNetwork"] == "false"
    assert not strategy_for("configmaps").supports_field("spec.nodeName")


@pytest.mark.parametrize("seconds,text", [(5, "5s"), (119, "119s"), (125, "2m5s"), (600, "10m"), (3 * 3600, "3h"),
                                          (3 * 3600 + 60, "3h1m"), (50 * 3600, "2d2h"), (400 * 86400, "400d"),
                                          (3 * 365 * 86400 + 86400, "3y1d")])
def test_human_duration(seconds, text):
    assert tables.human_duration(seconds) == text


def test_pod_table_columns_and_wide_priority():
    pod = {"metadata": {"name": "p", "creationTimestamp": "1970-01-01T00:00:00Z"},
           "spec": {"containers": [{"name": "c"}], "nodeName": "n1"}, "status": {"phase": "Running"}}
    t = tables.to_table("pods", [pod], {"resourceVersion": "5"}, now=30)
    names = [c["name"] for c in t["columnDefinitions"] if c["priority"] == 0]
    assert names == ["Name", "Ready", "Status", "Restarts", "Age"]
    assert t["rows"][0]["cells"][:5] == ["p", "0/1", "Running", 0, "30s"]
    assert t["rows"][0]["object"]["kind"] == "PartialObjectMetadata"


def test_continue_token_round_trip_and_rejection():
    tok = encode_continue(42, "/registry/pods/ns/a\0")
    assert decode_continue(tok, "/registry/pods/") == (42, "/registry/pods/ns/a\0")
    with pytest.raises(APIError):
        decode_continue(tok, "/registry/secrets/")
    with pytest.raises(APIError):
        decode_continue("not-base64!", "/registry/pods/")


def test_negotiation():
    kubectl = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
               "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json")
    assert discovery_version(kubectl) == "v2"
    assert discovery_version("application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList") == "v2beta1"
    assert discovery_version("application/json") is None
    assert object_format("application/json;as=Table;v=v1;g=meta.k8s.io,application/json") == "table-v1"
    assert object_format("application/vnd.kubernetes.protobuf,application/json") == "json"
    with pytest.raises(APIError) as e:
        object_format("application/vnd.kubernetes.protobuf")
    assert e.value.code == 406


def test_discovery_and_openapi_agree_with_the_resource_table():
    agg = discovery.aggregated(False, "v2beta1")
    assert agg["apiVersion"] == "apidiscovery.k8s.io/v2beta1"
    apps = agg["items"][0]["versions"][0]["resources"]
    deploy = next(r for r in apps if r["resource"] == "deployments")
    assert {"subresource": "scale", "verbs": ["get", "patch", "update"],
            "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"}} in deploy["subresources"]
    doc = openapi.document("apps", "v1")
    op = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert op["x-kubernetes-group-version-kind"] == {"group": "apps", "version": "v1", "kind": "Deployment"}
    assert "fieldValidation" in [p["name"] for p in op["parameters"]]
    root, docs = openapi.all_documents()
    assert root["paths"]["apis/apps/v1"]["serverRelativeURL"].startswith("/openapi/v3/apis/apps/v1?hash=")
    assert set(docs) == {"api/v1", "apis/apps/v1", "apis/coordination.k8s.io/v1", "apis/rbac.authorization.k8s.io/v1",
                         "apis/admissionregistration.k8s.io/v1", "apis/authentication.k8s.io/v1",
                         "apis/authorization.k8s.io/v1", "apis/batch/v1", "apis/discovery.k8s.io/v1",
                         "apis/events.k8s.io/v1", "apis/policy/v1", "apis/scheduling.k8s.io/v1"}
    evict = docs["api/v1"]["paths"]["/api/v1/namespaces/{namespace}/pods/{name}/eviction"]["post"]
    assert evict["x-kubernetes-group-version-kind"] == {"group": "policy", "version": "v1", "kind": "Eviction"}
    # Virtual resources (access reviews) are create-only and have no item paths.
    authz = docs["apis/authorization.k8s.io/v1"]["paths"]
    assert list(authz["/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"]) == ["parameters", "post"]
    token = docs["api/v1"]["paths"]["/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token"]["post"]
    assert token["x-kubernetes-group-version-kind"]["kind"] == "TokenRequest"


def test_unknown_fields_against_v132_definitions():
    import json
    import pathlib

    from apiserver.api.fieldvalidation import unknown_fields
    defs = json.loads((pathlib.Path(__file__).parents[2] / "apiserver/api/data/definitions-v1.32.json").read_text())
    good = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "w", "labels": {"a": "b"}},
            "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"spec": {"containers": [
                {"name": "c", "image": "i", "env": [{"name": "X", "value": "1"}]}]}}}}
    assert unknown_fields(good, "io.k8s.api.apps.v1.Deployment", defs) == []
    bad = json.loads(json.dumps(good))
    bad["spec"]["template"]["spec"]["containers"][0]["imagee"] = "x"
    bad["spec"]["bogus"] = 1
    assert unknown_fields(bad, "io.k8s.api.apps.v1.Deployment", defs) == [
        "spec.template.spec.containers[0].imagee", "spec.bogus"]
    assert unknown_fields({"data": {"k": "v"}, "spec": {}}, "io.k8s.api.core.v1.ConfigMap", defs) == ["spec"]
    pruned = {"data": {"k": "v"}, "spec": {}}
    assert unknown_fields(pruned, "io.k8s.api.core.v1.ConfigMap", defs, prune=True) == ["spec"]
    assert pruned == {"data": {"k": "v"}}


def test_invalid_message_is_kubernetes_aggregate_of_its_causes() -> None:
    from apiserver.errors import Cause, invalid

    one = invalid("Pod", "", "p", [Cause("FieldValueRequired", "Required value", "spec.containers")])
    assert one.message == 'Pod "p" is invalid: spec.containers: Required value'
    two = invalid("Deployment", "apps", "d", [Cause("FieldValueInvalid", "Invalid value: -1", "spec.replicas"),
                                                Cause("FieldValueRequired", "Required value", "spec.selector"),
                                                Cause("FieldValueInvalid", "Invalid value: -1", "spec.replicas")])
    assert two.message == ('Deployment.apps "d" is invalid: [spec.replicas: Invalid value: -1, '
                           'spec.selector: Required value]')
    assert len(two.causes) == 3


def test_object_names_are_checked_with_the_real_servers_messages() -> None:
    causes = meta.validate_object_meta({"metadata": {"name": "Bad_Name"}}, namespaced=True, name_is_label=True)
    assert [(c.field, c.message) for c in causes] == [(
        "metadata.name", "Invalid value: \"Bad_Name\": a lowercase RFC 1123 label must consist of lower case "
        "alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  "
        "or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")]
    long = "a" * 254
    causes = meta.validate_object_meta({"metadata": {"name": long}}, namespaced=True, name_is_label=False)
    assert [c.message for c in causes] == [f'Invalid value: "{long}": must be no more than 253 characters']
