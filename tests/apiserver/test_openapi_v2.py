"""`/openapi/v2`: the Swagger document (pure), its gnostic protobuf form (parsed back with protoc-generated code from
our own subset of gnostic's schema), the handler's negotiation, and real kubectl's `explain` in the v2 output mode."""

from __future__ import annotations

import gzip
import importlib
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import textwrap
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from apiserver.api import openapi, openapi_v2_pb
from apiserver.api.resources import RESOURCES
from apiserver.http.openapi_v2 import choose
from tests.apiserver.fixtures import APIServer, apiserver, etcd

DEFINITIONS = json.loads((pathlib.Path(openapi.__file__).parent / "data" / "definitions-v1.32.json").read_text())
PROTO_ACCEPT = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
PROTO_TYPE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return openapi.swagger(DEFINITIONS)


def _refs(x: Any) -> Iterator[str]:
    if isinstance(x, dict):
        for k, v in x.items():
            if k == "$ref":
                yield v
            else:
                yield from _refs(v)
    elif isinstance(x, list):
        for v in x:
            yield from _refs(v)


@pytest.mark.unit
def test_swagger_shape_paths_and_operations(doc):
    assert doc["swagger"] == "2.0" and doc["info"] == {"title": "Kubernetes", "version": "v1.32.0"}
    assert doc["security"] == [{"BearerToken": []}]
    pods = doc["paths"]["/api/v1/namespaces/{namespace}/pods"]
    assert [p["name"] for p in pods["parameters"]] == ["namespace", "pretty"]
    lst = pods["get"]
    assert lst["operationId"] == "listCoreV1NamespacedPod" and lst["x-kubernetes-action"] == "list"
    assert lst["tags"] == ["core_v1"] and "application/json;stream=watch" in lst["produces"]
    assert lst["responses"]["200"]["schema"] == {"$ref": "#/definitions/io.k8s.api.core.v1.PodList"}
    assert {"watch", "labelSelector", "fieldSelector", "limit", "continue", "resourceVersion"} <= {
        p["name"] for p in lst["parameters"]}
    create = pods["post"]
    assert create["parameters"][0] == {"name": "body", "in": "body", "required": True,
                                       "schema": {"$ref": "#/definitions/io.k8s.api.core.v1.Pod"}}
    assert {"dryRun", "fieldManager", "fieldValidation"} <= {p["name"] for p in create["parameters"]}
    patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert patch["operationId"] == "patchAppsV1NamespacedDeployment"
    assert patch["x-kubernetes-group-version-kind"] == {"group": "apps", "version": "v1", "kind": "Deployment"}
    assert "application/strategic-merge-patch+json" in patch["consumes"]
    assert {"dryRun", "fieldManager", "fieldValidation", "force"} <= {p["name"] for p in patch["parameters"]}
    scale = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["put"]
    assert scale["operationId"] == "replaceAppsV1NamespacedDeploymentScale"
    assert scale["x-kubernetes-group-version-kind"]["kind"] == "Scale"
    assert doc["paths"]["/api/v1/pods"]["get"]["operationId"] == "listCoreV1PodForAllNamespaces"
    assert (doc["paths"]["/apis/rbac.authorization.k8s.io/v1/clusterroles/{name}"]["delete"]["operationId"]
            == "deleteRbacAuthorizationV1ClusterRole")
    assert (doc["paths"]["/api/v1/namespaces/{namespace}/configmaps"]["delete"]["x-kubernetes-action"]
            == "deletecollection")
    # every served resource has its collection path, and every reference resolves
    for r in RESOURCES:
        base = "/" + openapi.gv_path(r.group, r.version) + ("/namespaces/{namespace}" if r.namespaced else "")
        assert f"{base}/{r.plural}" in doc["paths"], r
    assert {ref.removeprefix("#/definitions/") for ref in _refs(doc)} <= set(doc["definitions"])


@pytest.mark.unit
def test_definitions_keep_patch_metadata_and_speak_swagger_2(doc):
    defs = doc["definitions"]
    containers = defs["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["x-kubernetes-patch-strategy"] == "merge" and containers["x-kubernetes-patch-merge-key"] == "name"
    assert containers["x-kubernetes-list-type"] == "map" and containers["x-kubernetes-list-map-keys"] == ["name"]
    assert defs["io.k8s.api.core.v1.Pod"]["x-kubernetes-group-version-kind"] == [
        {"group": "", "kind": "Pod", "version": "v1"}]
    assert defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["format"] == "int-or-string"
    assert defs["io.k8s.apimachinery.pkg.api.resource.Quantity"] == {"type": "string", "format": "quantity"}
    text = json.dumps(defs)
    assert "oneOf" not in text and "#/components/" not in text


@pytest.mark.unit
def test_v2_and_v3_describe_the_same_operations(doc):
    v2 = {(p, m, op["operationId"]) for p, item in doc["paths"].items() for m, op in item.items() if m != "parameters"}
    _, docs = openapi.all_documents(DEFINITIONS)
    v3 = {(p, m, op["operationId"]) for d in docs.values() for p, item in d["paths"].items()
          for m, op in item.items() if m != "parameters"}
    assert v2 == v3 and len(v2) > 250


# Our own subset of gnostic-models openapiv2/OpenAPIv2.proto (field numbers are the wire facts), enough to read back
# what openapi_v2_pb writes; unknown fields would be skipped by the parser, so the checks below compare content.
SUBSET_PROTO = textwrap.dedent("""\
    syntax = "proto3";
    package openapi.v2;
    message Document { string swagger = 1; Info info = 2; Paths paths = 8; Definitions definitions = 9;
                       repeated SecurityRequirement security = 12; }
    message Info { string title = 1; string version = 2; }
    message Paths { repeated NamedPathItem path = 2; }
    message NamedPathItem { string name = 1; PathItem value = 2; }
    message PathItem { Operation get = 2; Operation put = 3; Operation post = 4; Operation delete = 5;
                       Operation patch = 8; repeated ParametersItem parameters = 9; }
    message Operation { repeated string tags = 1; string description = 3; string operation_id = 5;
                        repeated string produces = 6; repeated string consumes = 7;
                        repeated ParametersItem parameters = 8; Responses responses = 9;
                        repeated string schemes = 10; repeated NamedAny vendor_extension = 13; }
    message ParametersItem { oneof oneof { Parameter parameter = 1; } }
    message Parameter { oneof oneof { BodyParameter body_parameter = 1; NonBodyParameter non_body_parameter = 2; } }
    message BodyParameter { string name = 2; string in = 3; bool required = 4; Schema schema = 5; }
    message NonBodyParameter { oneof oneof { QueryParameterSubSchema query_parameter_sub_schema = 3;
                                             PathParameterSubSchema path_parameter_sub_schema = 4; } }
    message QueryParameterSubSchema { bool required = 1; string in = 2; string name = 4; string type = 6;
                                      bool unique_items = 20; }
    message PathParameterSubSchema { bool required = 1; string in = 2; string name = 4; string type = 5; }
    message Responses { repeated NamedResponseValue response_code = 1; }
    message NamedResponseValue { string name = 1; ResponseValue value = 2; }
    message ResponseValue { oneof oneof { Response response = 1; } }
    message Response { string description = 1; SchemaItem schema = 2; }
    message SchemaItem { oneof oneof { Schema schema = 1; } }
    message Schema { string _ref = 1; string format = 2; string description = 4; repeated string required = 19;
                     repeated Any enum = 20; AdditionalPropertiesItem additional_properties = 21; TypeItem type = 22;
                     ItemsItem items = 23; Properties properties = 25; repeated NamedAny vendor_extension = 31; }
    message AdditionalPropertiesItem { oneof oneof { Schema schema = 1; bool boolean = 2; } }
    message TypeItem { repeated string value = 1; }
    message ItemsItem { repeated Schema schema = 1; }
    message Properties { repeated NamedSchema additional_properties = 1; }
    message NamedSchema { string name = 1; Schema value = 2; }
    message Definitions { repeated NamedSchema additional_properties = 1; }
    message NamedAny { string name = 1; Any value = 2; }
    message Any { string yaml = 2; }
    message SecurityRequirement { repeated NamedStringArray additional_properties = 1; }
    message NamedStringArray { string name = 1; StringArray value = 2; }
    message StringArray { repeated string value = 1; }
    """)


@pytest.fixture(scope="module")
def pb_module() -> Any:
    from grpc_tools import protoc
    tmp = tempfile.mkdtemp(prefix="openapiv2-proto-")
    pathlib.Path(tmp, "oa2subset.proto").write_text(SUBSET_PROTO)
    assert protoc.main(["protoc", f"-I{tmp}", f"--python_out={tmp}", "oa2subset.proto"]) == 0
    sys.path.insert(0, tmp)
    try:
        return importlib.import_module("oa2subset_pb2")
    finally:
        sys.path.remove(tmp)
        shutil.rmtree(tmp, ignore_errors=True)


def _ext(exts: Any) -> dict[str, Any]:
    return {e.name: yaml.safe_load(e.value.yaml) for e in exts}


def _schema_back(s: Any) -> dict[str, Any]:
    """The parts of a parsed Schema the round trip compares, as JSON would spell them."""
    out: dict[str, Any] = {}
    if s._ref:
        out["$ref"] = s._ref
    if s.description:
        out["description"] = s.description
    if s.format:
        out["format"] = s.format
    if s.type.value:
        out["type"] = s.type.value[0]
    if s.required:
        out["required"] = list(s.required)
    if s.enum:
        out["enum"] = [yaml.safe_load(e.yaml) for e in s.enum]
    if s.HasField("additional_properties"):
        ap = s.additional_properties
        out["additionalProperties"] = _schema_back(ap.schema) if ap.HasField("schema") else ap.boolean
    if s.items.schema:
        out["items"] = _schema_back(s.items.schema[0])
    if s.properties.additional_properties:
        out["properties"] = {p.name: _schema_back(p.value) for p in s.properties.additional_properties}
    out.update(_ext(s.vendor_extension))
    return out


@pytest.mark.unit
def test_protobuf_round_trips_through_a_real_protobuf_parser(doc, pb_module):
    parsed = pb_module.Document()
    parsed.ParseFromString(openapi_v2_pb.encode_document(doc))
    assert (parsed.swagger, parsed.info.title, parsed.info.version) == ("2.0", "Kubernetes", "v1.32.0")
    assert [s.name for s in parsed.security[0].additional_properties] == ["BearerToken"]
    # definitions: every one, in order, with the same content (descriptions, types, refs, extensions, enums)
    defs = {d.name: d.value for d in parsed.definitions.additional_properties}
    assert list(defs) == list(doc["definitions"])
    for name in ("io.k8s.api.core.v1.PodSpec", "io.k8s.api.core.v1.Pod", "io.k8s.api.apps.v1.DeploymentSpec",
                 "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "io.k8s.api.core.v1.ConfigMap",
                 "io.k8s.apimachinery.pkg.util.intstr.IntOrString"):
        want = json.loads(json.dumps(doc["definitions"][name]))
        assert _schema_back(defs[name]) == want, name
    # paths and operations
    paths = {p.name: p.value for p in parsed.paths.path}
    assert list(paths) == list(doc["paths"])
    item = paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]
    patch = item.patch
    assert patch.operation_id == "patchAppsV1NamespacedDeployment" and list(patch.tags) == ["apps_v1"]
    assert _ext(patch.vendor_extension) == {"x-kubernetes-action": "patch", "x-kubernetes-group-version-kind": {
        "group": "apps", "version": "v1", "kind": "Deployment"}}
    body = patch.parameters[0].parameter.body_parameter
    assert (body.name, getattr(body, "in"), body.required, body.schema._ref) == (
        "body", "body", True, "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Patch")
    query = [p.parameter.non_body_parameter.query_parameter_sub_schema for p in patch.parameters[1:]]
    assert [q.name for q in query] == ["dryRun", "fieldManager", "fieldValidation", "force"]
    assert [q.type for q in query] == ["string", "string", "string", "boolean"]
    path_params = [p.parameter.non_body_parameter.path_parameter_sub_schema for p in item.parameters[:2]]
    assert [(p.name, p.required, p.type) for p in path_params] == [("namespace", True, "string"),
                                                                   ("name", True, "string")]
    assert item.parameters[2].parameter.non_body_parameter.query_parameter_sub_schema.name == "pretty"
    ok = {r.name: r.value.response for r in item.get.responses.response_code}
    assert ok["200"].schema.schema._ref == "#/definitions/io.k8s.api.apps.v1.Deployment"
    assert ok["401"].description == "Unauthorized" and not ok["401"].HasField("schema")


@pytest.mark.unit
@pytest.mark.parametrize("accept, expected", [
    ("", "application/json"), ("*/*", "application/json"), ("application/json", "application/json"),
    (PROTO_ACCEPT, PROTO_TYPE), (PROTO_TYPE, PROTO_TYPE),
    (f"{PROTO_ACCEPT}, application/json", PROTO_TYPE),
    (f"application/json;q=0.5, {PROTO_ACCEPT}", PROTO_TYPE),
    ("application/*", "application/json"), ("text/html", None), ("application/yaml", None),
    ("application/json;q=0", None),
])
def test_content_negotiation(accept, expected):
    assert choose(accept) == expected


# ---------------------------------------------------------------------------------------------- real processes

@pytest.fixture(scope="module")
def server() -> Iterator[tuple[APIServer, str]]:
    if not (shutil.which("etcd") and shutil.which("kubectl")):
        pytest.skip("needs etcd and kubectl")
    tmp = tempfile.mkdtemp(prefix="openapi-v2-")
    try:
        with etcd(tmp) as url, apiserver(tmp, url) as srv:
            yield srv, tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _get(srv: APIServer, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(srv.url + "/openapi/v2", headers=headers)
    try:
        with urllib.request.urlopen(req, context=srv.ssl_context(), timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


@pytest.mark.e2e
def test_http_etag_304_gzip_protobuf_and_406(server):
    srv, _ = server
    code, headers, body = _get(srv, {"Accept": "application/json"})
    assert code == 200 and headers["Content-Type"] == "application/json"
    assert json.loads(body)["paths"]["/api/v1/namespaces/{namespace}/pods"]["post"]["operationId"] == \
        "createCoreV1NamespacedPod"
    etag = headers["Etag"]
    assert etag.startswith('"') and len(etag) == 130
    code, headers, body = _get(srv, {"Accept": "application/json", "If-None-Match": etag})
    assert code == 304 and body == b""
    code, headers, zipped = _get(srv, {"Accept": "application/json", "Accept-Encoding": "gzip"})
    assert code == 200 and headers["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(zipped))["swagger"] == "2.0"
    code, headers, pb = _get(srv, {"Accept": PROTO_ACCEPT})
    assert code == 200 and headers["Content-Type"] == PROTO_TYPE and headers["Etag"] == etag
    assert pb == openapi_v2_pb.encode_document(json.loads(gzip.decompress(zipped)))  # the same document
    code, _, _ = _get(srv, {"Accept": "text/html"})
    assert code == 406


def kubectl(server: tuple[APIServer, str], *args: str) -> str:
    srv, tmp = server
    env = {**os.environ, "KUBECONFIG": srv.kubeconfig, "HOME": tmp}
    proc = subprocess.run(["kubectl", *args], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"kubectl {' '.join(args)}: {proc.stderr}"
    return proc.stdout


@pytest.mark.e2e
def test_kubectl_explain_reads_openapi_v2(server):
    out = kubectl(server, "explain", "pods.spec.containers", "--output=plaintext-openapiv2")
    assert out.startswith("KIND:     Pod\nVERSION:  v1\n\nRESOURCE: containers <[]Object>")
    assert "FIELDS:\n   args\t<[]string>" in out and "\n   image\t<string>" in out
    assert "\n   name\t<string> -required-" in out
    out = kubectl(server, "explain", "deployment", "--recursive", "--output=plaintext-openapiv2")
    assert out.startswith("KIND:     Deployment\nVERSION:  apps/v1\n")
    for line in ("   spec\t<Object>", "      replicas\t<integer>", "            maxSurge\t<string>",
                 "            containers\t<[]Object>"):
        assert "\n" + line + "\n" in out, line
    out = kubectl(server, "explain", "cronjobs.spec.jobTemplate.spec.template.spec.restartPolicy",
                  "--output=plaintext-openapiv2")
    assert "KIND:     CronJob\nVERSION:  batch/v1" in out and "FIELD:    restartPolicy <string>" in out


@pytest.mark.unit
def test_document_builders_are_pure():
    import ast
    for mod in (openapi, openapi_v2_pb):
        tree = ast.parse(pathlib.Path(mod.__file__).read_text())
        roots = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        roots |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert not roots & {"asyncio", "socket", "time", "random", "os", "aiohttp", "ssl", "threading"}, mod
