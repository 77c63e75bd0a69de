"""A value whose JSON type does not fit the Go field is a 400 with encoding/json's message, as kube-apiserver 1.32
answers (`... cannot be handled as a Pod: json: cannot unmarshal number into Go struct field
ObjectMeta.metadata.labels of type string`); YAML bodies are read as go-yaml v2 does (`y` is a bool)."""

from __future__ import annotations

import http.client
import json
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from apiserver.api.fieldvalidation import decode_error
from apiserver.http.app import DEFINITIONS_FILE
from apiserver.http.server import GoYAMLLoader
from tests.apiserver.fixtures import APIServer, apiserver, etcd

DEFS = json.loads(DEFINITIONS_FILE.read_text())
POD, DEPLOY = "io.k8s.api.core.v1.Pod", "io.k8s.api.apps.v1.Deployment"
PREFIX = "json: cannot unmarshal "


@pytest.mark.parametrize("schema,obj,message", [
    (POD, {"metadata": {"labels": {"a": 1}}}, "number into Go struct field ObjectMeta.metadata.labels of type string"),
    (POD, {"metadata": {"annotations": {"a": True}}},
     "bool into Go struct field ObjectMeta.metadata.annotations of type string"),
    (POD, {"metadata": {"labels": ["a"]}}, "array into Go struct field ObjectMeta.metadata.labels of type "
                                           "map[string]string"),
    (POD, {"metadata": {"name": 5}}, "number into Go struct field ObjectMeta.metadata.name of type string"),
    (DEPLOY, {"spec": {"replicas": "3"}}, "string into Go struct field DeploymentSpec.spec.replicas of type int32"),
    (DEPLOY, {"spec": {"replicas": 1.5}}, "number 1.5 into Go struct field DeploymentSpec.spec.replicas of type int32"),
    (DEPLOY, {"spec": {"replicas": 2 ** 31}},
     "number 2147483648 into Go struct field DeploymentSpec.spec.replicas of type int32"),
    (DEPLOY, {"spec": "x"}, "string into Go struct field Deployment.spec of type v1.DeploymentSpec"),
    (POD, {"spec": {"containers": [{"name": "c", "ports": [{"containerPort": "80"}]}]}},
     "string into Go struct field ContainerPort.spec.containers.ports.containerPort of type int32"),
    (POD, {"spec": {"containers": {"name": "c"}}},
     "object into Go struct field PodSpec.spec.containers of type []v1.Container"),
    (POD, {"spec": {"containers": [{"name": "c", "imagePullPolicy": 1}]}},
     "number into Go struct field Container.spec.containers.imagePullPolicy of type v1.PullPolicy"),
    (POD, {"spec": {"hostNetwork": "true"}}, "string into Go struct field PodSpec.spec.hostNetwork of type bool"),
])
def test_type_errors_read_as_encoding_json(schema: str, obj: dict[str, Any], message: str) -> None:
    assert decode_error(obj, schema, DEFS) == PREFIX + message


def test_values_go_decodes_are_accepted() -> None:
    # quantities and int-or-strings take numbers, null fits anything, unknown fields are another check's
    assert decode_error({"metadata": {"labels": {"a": "1"}, "creationTimestamp": None, "x": 1},
                         "spec": {"containers": [{"name": "c", "resources": {"limits": {"cpu": 1}},
                                                  "ports": [{"containerPort": 80}],
                                                  "livenessProbe": {"httpGet": {"port": 8080}}}]}},
                        POD, DEFS) == ""


def test_yaml_is_read_as_go_yaml_v2() -> None:
    assert yaml.load("a: y\nb: N\nc: 'y'\nd: yy\ne: on", Loader=GoYAMLLoader) == {
        "a": True, "b": False, "c": "y", "d": "yy", "e": True}


@pytest.fixture(scope="module")
def server() -> Iterator[APIServer]:
    if not shutil.which("etcd"):
        pytest.skip("needs etcd")
    tmp = tempfile.mkdtemp(prefix="decode-types-")
    try:
        with etcd(tmp) as url, apiserver(tmp, url) as srv:
            yield srv
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def post(srv: APIServer, path: str, body: str, ctype: str = "application/json") -> tuple[int, dict[str, Any]]:
    host, port = srv.url.split("//", 1)[1].rsplit(":", 1)
    conn = http.client.HTTPSConnection(host, int(port), context=srv.ssl_context(), timeout=30)
    try:
        conn.request("POST", path, body=body.encode(), headers={"Content-Type": ctype})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


@pytest.mark.e2e
def test_the_server_refuses_mistyped_values_and_keeps_serving(server: APIServer) -> None:
    cm = '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","labels":{"a":1}}}'
    code, status = post(server, "/api/v1/namespaces/default/configmaps", cm)
    assert (code, status["reason"], status["message"]) == (400, "BadRequest", (
        'ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot unmarshal number into Go struct '
        "field ObjectMeta.metadata.labels of type string"))
    code, status = post(server, "/api/v1/namespaces/default/configmaps?fieldValidation=Ignore",
                        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  labels:\n    app: y\n",
                        "application/yaml")
    assert code == 400 and status["message"].endswith(
        "json: cannot unmarshal bool into Go struct field ObjectMeta.metadata.labels of type string")
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
              "spec": {"replicas": "2", "selector": {"matchLabels": {"a": "b"}}, "template": {
                  "metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}}
    code, status = post(server, "/apis/apps/v1/namespaces/default/deployments", json.dumps(deploy))
    assert code == 400 and status["message"] == (
        'Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal string into Go '
        "struct field DeploymentSpec.spec.replicas of type int32")
    deploy["spec"]["replicas"] = 2
    assert post(server, "/apis/apps/v1/namespaces/default/deployments", json.dumps(deploy))[0] == 201
    code, _ = post(server, "/api/v1/namespaces/default/configmaps", cm.replace('"a":1', '"a":"1"'))
    assert code == 201
