"""Environment resolution: service links, envFrom, valueFrom, optional refs, $(VAR) expansion."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from agents.kubelet.envvars import ConfigError, EnvSources, container_env, expand, expand_command, service_env
from tests.agents.kubelet.podfixtures import pod

pytestmark = pytest.mark.unit
CM = {"metadata": {"name": "cm"}, "data": {"color": "blue", "bad key": "x"}}
SECRET = {"metadata": {"name": "s"}, "data": {"pw": base64.b64encode(b"hunter2").decode()}}
SVC = {"metadata": {"name": "my-svc"}, "spec": {"clusterIP": "10.0.0.9",
                                                  "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}}


def src(**kw: object) -> EnvSources:
    base: dict = {"config_maps": {"cm": CM}, "secrets": {"s": SECRET}, "host_ip": "10.0.0.5",
                  "pod_ips": ["10.88.0.7"], "node_allocatable": {"cpu": "4", "memory": "8Gi"}}
    base.update(kw)
    return EnvSources(**base)


def env_of(container: dict, sources: EnvSources | None = None, **spec: Any) -> dict[str, str]:
    p = pod(container, **spec)
    return dict(container_env(p, p["spec"]["containers"][0], sources or src()))


def test_service_link_variables_as_docker_links() -> None:
    assert service_env([SVC]) == {
        "MY_SVC_SERVICE_HOST": "10.0.0.9", "MY_SVC_SERVICE_PORT": "80", "MY_SVC_SERVICE_PORT_HTTP": "80",
        "MY_SVC_PORT": "tcp://10.0.0.9:80", "MY_SVC_PORT_80_TCP": "tcp://10.0.0.9:80",
        "MY_SVC_PORT_80_TCP_PROTO": "tcp", "MY_SVC_PORT_80_TCP_PORT": "80", "MY_SVC_PORT_80_TCP_ADDR": "10.0.0.9"}
    headless = {"metadata": {"name": "h"}, "spec": {"clusterIP": "None", "ports": [{"port": 1}]}}
    assert service_env([headless]) == {}


def test_enable_service_links_false_keeps_only_the_master_service() -> None:
    kube = {"metadata": {"name": "kubernetes"}, "spec": {"clusterIP": "10.0.0.1",
                                                        "ports": [{"name": "https", "port": 443}]}}
    s = src(services=[SVC], master_services=[kube])
    assert "MY_SVC_SERVICE_HOST" in env_of({"name": "c"}, s)
    env = env_of({"name": "c"}, s, enableServiceLinks=False)
    assert "MY_SVC_SERVICE_HOST" not in env and env["KUBERNETES_SERVICE_HOST"] == "10.0.0.1"


def test_value_from_field_resource_config_map_and_secret() -> None:
    c = {"name": "c", "resources": {"limits": {"memory": "64Mi"}}, "env": [
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
        {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "HOST", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
        {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
        {"name": "COLOR", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "color"}}},
        {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "s", "key": "pw"}}}]}
    env = env_of(c)
    assert env == {"POD": "p", "NS": "ns", "APP": "web", "IP": "10.88.0.7", "HOST": "10.0.0.5", "NODE": "n1",
                   "MEM": "64", "CPU": "4", "COLOR": "blue", "PW": "hunter2"}


@pytest.mark.parametrize(("ref", "message"), [
    ({"configMapKeyRef": {"name": "nope", "key": "k"}}, 'configmap "nope" not found'),
    ({"configMapKeyRef": {"name": "cm", "key": "k"}}, "couldn't find key k in ConfigMap ns/cm"),
    ({"secretKeyRef": {"name": "nope", "key": "k"}}, 'secret "nope" not found'),
    ({"secretKeyRef": {"name": "s", "key": "k"}}, "couldn't find key k in Secret ns/s")])
def test_missing_references_are_config_errors_with_the_kubelets_text(ref: dict, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        env_of({"name": "c", "env": [{"name": "X", "valueFrom": ref}]})
    assert str(e.value) == message


def test_optional_missing_references_are_skipped() -> None:
    env = env_of({"name": "c", "env": [
        {"name": "X", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k", "optional": True}}},
        {"name": "Y", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k", "optional": True}}}],
        "envFrom": [{"configMapRef": {"name": "gone", "optional": True}}]})
    assert env == {}


def test_env_from_with_prefix_skips_invalid_names_and_env_wins() -> None:
    env = env_of({"name": "c", "envFrom": [{"prefix": "CM_", "configMapRef": {"name": "cm"}},
                                           {"secretRef": {"name": "s"}}],
                  "env": [{"name": "pw", "value": "override"}]})
    assert env == {"CM_color": "blue", "pw": "override"}


def test_dollar_expansion() -> None:
    assert expand("$(A)-$(B)-$$(A)-$(", {"A": "1"}) == "1-$(B)-$(A)-$("
    env = env_of({"name": "c", "env": [{"name": "A", "value": "x"}, {"name": "B", "value": "$(A)y"}]})
    assert env["B"] == "xy"
    assert expand_command(["echo", "$(B)"], [("B", "xy")]) == ["echo", "xy"]
