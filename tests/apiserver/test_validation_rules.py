"""Per-field validation, table-driven: each row breaks one rule of a valid, defaulted object and names the exact
cause (field path and message) kube-apiserver v1.32 reports; each valid object has no causes at all."""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable
from typing import Any

import pytest

from apiserver.errors import APIError
from apiserver.registry.strategies import strategy_for
from apiserver.validation import names, workloads

Obj = dict[str, Any]

LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and "
             "end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
             "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
KEY_MSG = ("a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or "
           "'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')")


def pod() -> Obj:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
            "spec": {"containers": [{"name": "c", "image": "nginx:1.25", "ports": [{"containerPort": 80}]}]}}


def template() -> Obj:
    return {"metadata": {"labels": {"app": "a"}}, "spec": pod()["spec"]}


def deployment() -> Obj:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "default"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "a"}}, "template": template()}}


def statefulset() -> Obj:
    obj = deployment()
    obj["kind"] = "StatefulSet"
    obj["spec"]["serviceName"] = "web"
    return obj


def daemonset() -> Obj:
    obj = deployment()
    obj["kind"] = "DaemonSet"
    del obj["spec"]["replicas"]
    return obj


def job() -> Obj:
    tpl = template()
    tpl["spec"]["restartPolicy"] = "Never"
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "namespace": "default"},
            "spec": {"template": tpl, "manualSelector": True, "selector": {"matchLabels": {"app": "a"}}}}


def cronjob() -> Obj:
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "cj", "namespace": "default"},
            "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": job()["spec"]}}}


def service() -> Obj:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "default"},
            "spec": {"selector": {"app": "a"}, "ports": [{"port": 80}]}}


def configmap() -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"k": "v"}}


def secret(kind: str = "Opaque", **data: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "type": kind,
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


def role() -> Obj:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "r"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}


def rolebinding() -> Obj:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "rb"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
            "subjects": [{"kind": "User", "name": "alice"}, {"kind": "ServiceAccount", "name": "default"}]}


def lease() -> Obj:
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l"},
            "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}}


def slice_() -> Obj:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": "e"},
            "addressType": "IPv4", "endpoints": [{"addresses": ["10.0.0.1"]}], "ports": [{"name": "http",
                                                                                            "port": 80}]}


def node() -> Obj:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"},
            "spec": {"taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]}}


def quota() -> Obj:
    return {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q"},
            "spec": {"hard": {"cpu": "2", "pods": "10"}}}


def limitrange() -> Obj:
    return {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "lr"},
            "spec": {"limits": [{"type": "Container", "min": {"cpu": "100m"}, "max": {"cpu": "2"},
                                 "default": {"cpu": "500m"}, "defaultRequest": {"cpu": "200m"}}]}}


BUILDERS: dict[str, tuple[str, str, Callable[[], Obj]]] = {
    "pod": ("", "pods", pod), "deployment": ("apps", "deployments", deployment),
    "statefulset": ("apps", "statefulsets", statefulset), "daemonset": ("apps", "daemonsets", daemonset),
    "job": ("batch", "jobs", job), "cronjob": ("batch", "cronjobs", cronjob), "service": ("", "services", service),
    "configmap": ("", "configmaps", configmap), "secret": ("", "secrets", secret),
    "role": ("rbac.authorization.k8s.io", "roles", role),
    "rolebinding": ("rbac.authorization.k8s.io", "rolebindings", rolebinding),
    "lease": ("coordination.k8s.io", "leases", lease), "endpointslice": ("discovery.k8s.io", "endpointslices", slice_),
    "node": ("", "nodes", node), "quota": ("", "resourcequotas", quota), "limitrange": ("", "limitranges", limitrange),
}


def causes_of(kind: str, mutate: Callable[[Obj], Any] | None = None) -> list[tuple[str, str]]:
    group, plural, build = BUILDERS[kind]
    obj = build()
    strategy = strategy_for(plural, group)
    strategy.default(obj)
    if mutate is not None:
        mutate(obj)
    return [(c.field, c.message) for c in strategy.validate(obj)]


@pytest.mark.unit
@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_valid_objects_have_no_causes(kind):
    assert causes_of(kind) == []


def _c(obj: Obj, i: int = 0) -> Obj:
    return obj["spec"]["containers"][i]


def _set(path: str, value: Any) -> Callable[[Obj], None]:
    """A mutation setting the dotted `path` (list indexes as numbers) to `value`."""
    def mutate(obj: Obj) -> None:
        parts = path.split(".")
        cur: Any = obj
        for p in parts[:-1]:
            cur = cur[int(p)] if isinstance(cur, list) else cur.setdefault(p, {})
        cur[parts[-1]] = value
    return mutate


def _all(*mutations: Callable[[Obj], None]) -> Callable[[Obj], None]:
    def mutate(obj: Obj) -> None:
        for m in mutations:
            m(obj)
    return mutate


CASES: list[tuple[str, str, Callable[[Obj], Any], tuple[str, str]]] = [
    # --- Pod
    ("restartPolicy", "pod", _set("spec.restartPolicy", "Sometimes"),
     ("spec.restartPolicy", 'Unsupported value: "Sometimes": supported values: "Always", "Never", "OnFailure"')),
    ("dnsPolicy", "pod", _set("spec.dnsPolicy", "Google"),
     ("spec.dnsPolicy", 'Unsupported value: "Google": supported values: "ClusterFirst", "ClusterFirstWithHostNet", '
                        '"Default", "None"')),
    ("image required", "pod", _set("spec.containers.0.image", ""), ("spec.containers[0].image", "Required value")),
    ("container name", "pod", _set("spec.containers.0.name", "Web"),
     ("spec.containers[0].name", f'Invalid value: "Web": {LABEL_MSG}')),
    ("imagePullPolicy", "pod", _set("spec.containers.0.imagePullPolicy", "Sometimes"),
     ("spec.containers[0].imagePullPolicy", 'Unsupported value: "Sometimes": supported values: "Always", '
                                            '"IfNotPresent", "Never"')),
    ("volume name duplicate", "pod", _set("spec.volumes", [{"name": "v", "emptyDir": {}},
                                                           {"name": "v", "emptyDir": {}}]),
     ("spec.volumes[1].name", 'Duplicate value: "v"')),
    ("volume name label", "pod", _set("spec.volumes", [{"name": "V_1", "emptyDir": {}}]),
     ("spec.volumes[0].name", f'Invalid value: "V_1": {LABEL_MSG}')),
    ("volume no source", "pod", _set("spec.volumes", [{"name": "v"}]),
     ("spec.volumes[0]", "Required value: must specify a volume type")),
    ("volume two sources", "pod", _set("spec.volumes", [{"name": "v", "emptyDir": {}, "hostPath": {"path": "/x"}}]),
     ("spec.volumes[0].hostPath", "Forbidden: may not specify more than 1 volume type")),
    ("volumeMount unknown", "pod", _set("spec.containers.0.volumeMounts", [{"name": "data", "mountPath": "/d"}]),
     ("spec.containers[0].volumeMounts[0].name", 'Not found: "data"')),
    ("volumeMount path", "pod", _all(_set("spec.volumes", [{"name": "v", "emptyDir": {}}]),
                                     _set("spec.containers.0.volumeMounts", [{"name": "v"}])),
     ("spec.containers[0].volumeMounts[0].mountPath", "Required value")),
    ("env name", "pod", _set("spec.containers.0.env", [{"name": "A=B", "value": "1"}]),
     ("spec.containers[0].env[0].name", "Invalid value: \"A=B\": a valid environment variable name must consist only "
                                        "of printable ASCII characters other than '='")),
    ("env name required", "pod", _set("spec.containers.0.env", [{"value": "1"}]),
     ("spec.containers[0].env[0].name", "Required value")),
    ("requests above limits", "pod", _set("spec.containers.0.resources", {"requests": {"cpu": "2"},
                                                                         "limits": {"cpu": "1"}}),
     ("spec.containers[0].resources.requests", 'Invalid value: "2": must be less than or equal to cpu limit of 1')),
    ("negative quantity", "pod", _set("spec.containers.0.resources", {"limits": {"memory": "-1Gi"}}),
     ("spec.containers[0].resources.limits[memory]", 'Invalid value: "-1Gi": must be greater than or equal to 0')),
    ("probe no handler", "pod", _set("spec.containers.0.livenessProbe", {"periodSeconds": 5}),
     ("spec.containers[0].livenessProbe", "Required value: must specify a handler type")),
    ("probe two handlers", "pod", _set("spec.containers.0.readinessProbe", {"exec": {"command": ["true"]},
                                                                           "tcpSocket": {"port": 80}}),
     ("spec.containers[0].readinessProbe.tcpSocket", "Forbidden: may not specify more than 1 handler type")),
    ("probe negative period", "pod", _set("spec.containers.0.readinessProbe", {"tcpSocket": {"port": 80},
                                                                              "periodSeconds": -5}),
     ("spec.containers[0].readinessProbe.periodSeconds", "Invalid value: -5: must be greater than or equal to 0")),
    ("liveness successThreshold", "pod", _set("spec.containers.0.livenessProbe", {"tcpSocket": {"port": 80},
                                                                                 "successThreshold": 2}),
     ("spec.containers[0].livenessProbe.successThreshold", "Invalid value: 2: must be 1")),
    ("probe port", "pod", _set("spec.containers.0.livenessProbe", {"httpGet": {"port": 70000}}),
     ("spec.containers[0].livenessProbe.httpGet.port", "Invalid value: 70000: must be between 1 and 65535, "
                                                       "inclusive")),
    ("port name syntax", "pod", _set("spec.containers.0.ports", [{"containerPort": 80, "name": "HTTP"}]),
     ("spec.containers[0].ports[0].name", 'Invalid value: "HTTP": must contain only alphanumeric characters (a-z, '
                                          '0-9), and hyphens (-)')),
    ("port name too long", "pod", _set("spec.containers.0.ports", [{"containerPort": 80,
                                                                    "name": "a-very-long-port-name"}]),
     ("spec.containers[0].ports[0].name", 'Invalid value: "a-very-long-port-name": must be no more than 15 '
                                          'characters')),
    ("port names unique", "pod", _set("spec.containers.0.ports", [{"containerPort": 80, "name": "web"},
                                                                  {"containerPort": 81, "name": "web"}]),
     ("spec.containers[0].ports[1].name", 'Duplicate value: "web"')),
    ("containerPort range", "pod", _set("spec.containers.0.ports", [{"containerPort": 70000}]),
     ("spec.containers[0].ports[0].containerPort", "Invalid value: 70000: must be between 1 and 65535, inclusive")),
    ("containerPort required", "pod", _set("spec.containers.0.ports", [{"name": "web"}]),
     ("spec.containers[0].ports[0].containerPort", "Required value")),
    ("hostPort range", "pod", _set("spec.containers.0.ports", [{"containerPort": 80, "hostPort": -1}]),
     ("spec.containers[0].ports[0].hostPort", "Invalid value: -1: must be between 1 and 65535, inclusive")),
    ("port protocol", "pod", _set("spec.containers.0.ports", [{"containerPort": 80, "protocol": "ICMP"}]),
     ("spec.containers[0].ports[0].protocol", 'Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"')),
    ("grace period", "pod", _set("spec.terminationGracePeriodSeconds", -1),
     ("spec.terminationGracePeriodSeconds", "Invalid value: -1: must be greater than or equal to 0")),
    ("nodeSelector key", "pod", _set("spec.nodeSelector", {"bad key": "x"}),
     ("spec.nodeSelector", "Invalid value: \"bad key\": name part must consist of alphanumeric characters, '-', '_' "
                           "or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or "
                           "'my.name',  or '123-abc', regex used for validation is "
                           "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")),
    ("nodeSelector value", "pod", _set("spec.nodeSelector", {"disk": "-ssd"}),
     ("spec.nodeSelector", "Invalid value: \"-ssd\": a valid label must be an empty string or consist of alphanumeric "
                           "characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. "
                           "'MyValue',  or 'my_value',  or '12345', regex used for validation is "
                           "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")),
    ("toleration operator", "pod", _set("spec.tolerations", [{"key": "k", "operator": "In"}]),
     ("spec.tolerations[0].operator", 'Unsupported value: "In": supported values: "Equal", "Exists"')),
    ("toleration effect", "pod", _set("spec.tolerations", [{"key": "k", "operator": "Exists", "effect": "Never"}]),
     ("spec.tolerations[0].effect", 'Unsupported value: "Never": supported values: "NoExecute", "NoSchedule", '
                                    '"PreferNoSchedule"')),
    ("toleration Exists with value", "pod", _set("spec.tolerations", [{"key": "k", "operator": "Exists",
                                                                      "value": "v"}]),
     ("spec.tolerations[0].operator", "Invalid value: \"v\": value must be empty when `operator` is 'Exists'")),
    ("toleration seconds", "pod", _set("spec.tolerations", [{"key": "k", "operator": "Exists", "effect": "NoSchedule",
                                                            "tolerationSeconds": 5}]),
     ("spec.tolerations[0].effect", "Invalid value: \"NoSchedule\": effect must be 'NoExecute' when "
                                    "`tolerationSeconds` is set")),
    # --- Service
    ("service type", "service", _set("spec.type", "Internal"),
     ("spec.type", 'Unsupported value: "Internal": supported values: "ClusterIP", "ExternalName", "LoadBalancer", '
                   '"NodePort"')),
    ("service ports required", "service", _set("spec.ports", []), ("spec.ports", "Required value")),
    ("service port names", "service", _set("spec.ports", [{"port": 80, "name": "http"}, {"port": 81}]),
     ("spec.ports[1].name", "Required value")),
    ("service port names unique", "service", _set("spec.ports", [{"port": 80, "name": "http"},
                                                                 {"port": 81, "name": "http"}]),
     ("spec.ports[1].name", 'Duplicate value: "http"')),
    ("service protocol", "service", _set("spec.ports", [{"port": 80, "protocol": "HTTP"}]),
     ("spec.ports[0].protocol", 'Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"')),
    ("service port range", "service", _set("spec.ports", [{"port": 0}]),
     ("spec.ports[0].port", "Invalid value: 0: must be between 1 and 65535, inclusive")),
    ("targetPort name", "service", _set("spec.ports", [{"port": 80, "targetPort": "Web_Port"}]),
     ("spec.ports[0].targetPort", 'Invalid value: "Web_Port": must contain only alphanumeric characters (a-z, 0-9), '
                                  'and hyphens (-)')),
    ("nodePort on ClusterIP", "service", _set("spec.ports", [{"port": 80, "nodePort": 30080}]),
     ("spec.ports[0].nodePort", "Forbidden: may not be used when `type` is 'ClusterIP'")),
    ("externalName required", "service", _all(_set("spec.type", "ExternalName"), _set("spec.ports", [])),
     ("spec.externalName", "Required value")),
    # --- ConfigMap / Secret
    ("configmap key", "configmap", _set("data", {"bad key": "v"}), ("data[bad key]", f'Invalid value: "bad key": '
                                                                                  f'{KEY_MSG}')),
    ("configmap size", "configmap", _set("data", {"k": "x" * (1024 * 1024)}),
     ("", "Too long: may not be more than 1048576 bytes")),
    ("secret key", "secret", _set("data", {"a/b": "eA=="}), ("data[a/b]", f'Invalid value: "a/b": {KEY_MSG}')),
    ("tls secret", "secret", _set("type", "kubernetes.io/tls"), ("data[tls.crt]", "Required value")),
    ("dockerconfigjson secret", "secret", _set("type", "kubernetes.io/dockerconfigjson"),
     ("data[.dockerconfigjson]", "Required value")),
    ("basic-auth secret", "secret", _set("type", "kubernetes.io/basic-auth"), ("data[username]", "Required value")),
    ("ssh-auth secret", "secret", _set("type", "kubernetes.io/ssh-auth"), ("data[ssh-privatekey]", "Required value")),
    ("sa token secret", "secret", _set("type", "kubernetes.io/service-account-token"),
     ("metadata.annotations[kubernetes.io/service-account.name]", "Required value")),
    # --- apps
    ("deployment strategy", "deployment", _set("spec.strategy", {"type": "BlueGreen"}),
     ("spec.strategy.type", 'Unsupported value: "BlueGreen": supported values: "Recreate", "RollingUpdate"')),
    ("deployment both zero", "deployment", _set("spec.strategy.rollingUpdate", {"maxUnavailable": 0,
                                                                                "maxSurge": "0%"}),
     ("spec.strategy.rollingUpdate.maxUnavailable", "Invalid value: 0: may not be 0 when `maxSurge` is 0")),
    ("deployment percent", "deployment", _set("spec.strategy.rollingUpdate", {"maxUnavailable": "150%"}),
     ("spec.strategy.rollingUpdate.maxUnavailable", 'Invalid value: "150%": must not be greater than 100%')),
    ("deployment recreate", "deployment", _set("spec.strategy.type", "Recreate"),
     ("spec.strategy.rollingUpdate", "Forbidden: may not be specified when strategy `type` is 'Recreate'")),
    ("deployment replicas", "deployment", _set("spec.replicas", -1),
     ("spec.replicas", "Invalid value: -1: must be greater than or equal to 0")),
    ("deployment history", "deployment", _set("spec.revisionHistoryLimit", -2),
     ("spec.revisionHistoryLimit", "Invalid value: -2: must be greater than or equal to 0")),
    ("deployment template restartPolicy", "deployment", _set("spec.template.spec.restartPolicy", "Never"),
     ("spec.template.spec.restartPolicy", 'Unsupported value: "Never": supported values: "Always"')),
    ("deployment pod spec", "deployment", _set("spec.template.spec.containers.0.image", ""),
     ("spec.template.spec.containers[0].image", "Required value")),
    ("statefulset policy", "statefulset", _set("spec.podManagementPolicy", "Random"),
     ("spec.podManagementPolicy", 'Unsupported value: "Random": supported values: "OrderedReady", "Parallel"')),
    ("statefulset serviceName", "statefulset", _set("spec.serviceName", "Web"),
     ("spec.serviceName", f'Invalid value: "Web": {LABEL_MSG}')),
    ("daemonset strategy", "daemonset", _set("spec.updateStrategy", {"type": "Surge"}),
     ("spec.updateStrategy.type", 'Unsupported value: "Surge": supported values: "OnDelete", "RollingUpdate"')),
    ("daemonset both zero", "daemonset", _set("spec.updateStrategy.rollingUpdate", {"maxUnavailable": 0,
                                                                                    "maxSurge": 0}),
     ("spec.updateStrategy.rollingUpdate.maxUnavailable", "Invalid value: 0: may not be 0 when `maxSurge` is 0")),
    # --- batch
    ("job parallelism", "job", _set("spec.parallelism", -1),
     ("spec.parallelism", "Invalid value: -1: must be greater than or equal to 0")),
    ("job completions", "job", _set("spec.completions", -3),
     ("spec.completions", "Invalid value: -3: must be greater than or equal to 0")),
    ("job restartPolicy", "job", _set("spec.template.spec.restartPolicy", "Always"),
     ("spec.template.spec.restartPolicy", 'Unsupported value: "Always": supported values: "OnFailure", "Never"')),
    ("cronjob schedule fields", "cronjob", _set("spec.schedule", "every minute"),
     ("spec.schedule", 'Invalid value: "every minute": expected exactly 5 fields, found 2: [every minute]')),
    ("cronjob schedule range", "cronjob", _set("spec.schedule", "61 * * * *"),
     ("spec.schedule", 'Invalid value: "61 * * * *": end of range (61) above maximum (59): 61')),
    ("cronjob concurrency", "cronjob", _set("spec.concurrencyPolicy", "Sometimes"),
     ("spec.concurrencyPolicy", 'Unsupported value: "Sometimes": supported values: "Allow", "Forbid", "Replace"')),
    ("cronjob job template", "cronjob", _set("spec.jobTemplate.spec.template.spec.restartPolicy", "Always"),
     ("spec.jobTemplate.spec.template.spec.restartPolicy", 'Unsupported value: "Always": supported values: '
                                                           '"OnFailure", "Never"')),
    # --- rbac, lease, endpointslice, node, quota, limitrange
    ("role verbs", "role", _set("rules", [{"apiGroups": [""], "resources": ["pods"]}]),
     ("rules[0].verbs", "Required value: verbs must contain at least one value")),
    ("role nonResourceURLs", "role", _set("rules", [{"nonResourceURLs": ["/healthz"], "verbs": ["get"]}]),
     ("rules[0].nonResourceURLs", 'Invalid value: ["/healthz"]: namespaced rules cannot apply to non-resource URLs')),
    ("binding roleRef kind", "rolebinding", _set("roleRef.kind", "Group"),
     ("roleRef.kind", 'Unsupported value: "Group": supported values: "Role", "ClusterRole"')),
    ("binding subject kind", "rolebinding", _set("subjects", [{"kind": "Robot", "name": "r2"}]),
     ("subjects[0].kind", 'Unsupported value: "Robot": supported values: "ServiceAccount", "User", "Group"')),
    ("lease duration", "lease", _set("spec.leaseDurationSeconds", 0),
     ("spec.leaseDurationSeconds", "Invalid value: 0: must be greater than 0")),
    ("lease transitions", "lease", _set("spec.leaseTransitions", -1),
     ("spec.leaseTransitions", "Invalid value: -1: must be greater than or equal to 0")),
    ("slice addressType", "endpointslice", _set("addressType", "IPv5"),
     ("addressType", 'Unsupported value: "IPv5": supported values: "FQDN", "IPv4", "IPv6"')),
    ("slice address", "endpointslice", _set("endpoints", [{"addresses": ["fe80::1"]}]),
     ("endpoints[0].addresses[0]", 'Invalid value: "fe80::1": must be a valid IPv4 address')),
    ("node taint effect", "node", _set("spec.taints", [{"key": "k", "effect": "Evict"}]),
     ("spec.taints[0].effect", 'Unsupported value: "Evict": supported values: "NoExecute", "NoSchedule", '
                               '"PreferNoSchedule"')),
    ("quota negative", "quota", _set("spec.hard", {"pods": "-1"}),
     ("spec.hard[pods]", 'Invalid value: "-1": must be greater than or equal to 0')),
    ("limitrange type", "limitrange", _set("spec.limits.0.type", "Namespace"),
     ("spec.limits[0].type", 'Unsupported value: "Namespace": supported values: "Container", '
                             '"PersistentVolumeClaim", "Pod"')),
    ("limitrange min above max", "limitrange", _set("spec.limits.0.min", {"cpu": "3"}),
     ("spec.limits[0].min[cpu]", 'Invalid value: "3": min value 3 is greater than max value 2')),
]


@pytest.mark.unit
@pytest.mark.parametrize("name, kind, mutate, expected", CASES, ids=[c[0] for c in CASES])
def test_rule(name, kind, mutate, expected):
    assert expected in causes_of(kind, mutate)


@pytest.mark.unit
def test_unparseable_quantities_are_decoding_errors_like_the_real_server():
    with pytest.raises(APIError) as e:
        causes_of("pod", _set("spec.containers.0.resources", {"limits": {"cpu": "lots"}}))
    assert e.value.code == 400 and e.value.reason == "BadRequest"
    assert e.value.message == ('Pod in version "v1" cannot be handled as a Pod: quantities must match the regular '
                               "expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")


def _update(kind: str, mutate: Callable[[Obj], Any]) -> list[tuple[str, str]]:
    group, plural, build = BUILDERS[kind]
    strategy = strategy_for(plural, group)
    old = build()
    strategy.default(old)
    new = copy.deepcopy(old)
    mutate(new)
    strategy.default(new)
    return [(c.field, c.message) for c in strategy.validate_update(new, old)]


POD_FORBIDDEN = ("Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
                 "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to "
                 "existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was "
                 "previously negative)")
UPDATES: list[tuple[str, str, Callable[[Obj], Any], list[tuple[str, str]] | None]] = [
    ("pod image may change", "pod", _set("spec.containers.0.image", "nginx:1.27"), []),
    ("pod tolerations may be added", "pod", _set("spec.tolerations", [{"key": "k", "operator": "Exists"}]), []),
    ("pod restartPolicy may not", "pod", _set("spec.restartPolicy", "Never"), [("spec", POD_FORBIDDEN)]),
    ("pod ports may not", "pod", _set("spec.containers.0.ports.0.containerPort", 81), [("spec", POD_FORBIDDEN)]),
    ("statefulset template may change", "statefulset", _set("spec.template.spec.containers.0.image", "x:2"), []),
    ("statefulset serviceName may not", "statefulset", _set("spec.serviceName", "other"),
     [("spec", "Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
               "'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and "
               "'minReadySeconds' are forbidden")]),
    ("job template immutable", "job", _set("spec.template.spec.containers.0.image", "x:2"), None),
    ("roleRef immutable", "rolebinding", _set("roleRef.name", "other"),
     [("roleRef", 'Invalid value: rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"Role", Name:"other"}: '
                  "cannot change roleRef")]),
    ("rolebinding subjects may change", "rolebinding", _set("subjects", [{"kind": "Group", "name": "devs"}]), []),
    ("secret type immutable", "secret", _set("type", "kubernetes.io/tls"),
     [("type", 'Invalid value: "kubernetes.io/tls": field is immutable')]),
    ("slice addressType immutable", "endpointslice", _set("addressType", "IPv6"),
     [("addressType", 'Invalid value: "IPv6": field is immutable')]),
]


@pytest.mark.unit
@pytest.mark.parametrize("name, kind, mutate, expected", UPDATES, ids=[u[0] for u in UPDATES])
def test_update_rule(name, kind, mutate, expected):
    got = _update(kind, mutate)
    if expected is None:  # job template: the message carries the whole new template
        assert [f for f, _ in got] == ["spec.template"] and got[0][1].endswith(": field is immutable")
    else:
        assert got == expected


@pytest.mark.unit
def test_immutable_configmaps_and_secrets_refuse_data_changes():
    for kind, key in (("configmap", "data"), ("secret", "data")):
        group, plural, build = BUILDERS[kind]
        old = {**build(), "immutable": True}
        new = {**copy.deepcopy(old), key: {"other": "dg=="}}
        got = [(c.field, c.message) for c in strategy_for(plural, group).validate_update(new, old)]
        assert got == [(key, "Forbidden: field is immutable when `immutable` is set")]
        got = [(c.field, c.message) for c in strategy_for(plural, group).validate_update(
            {**copy.deepcopy(old), "immutable": False}, old)]
        assert got == [("immutable", "Forbidden: field is immutable when `immutable` is set")]


@pytest.mark.unit
def test_service_update_keeps_or_refuses_the_cluster_ip():
    s = strategy_for("services")
    old = service()
    s.default(old)
    old["spec"]["clusterIP"], old["spec"]["clusterIPs"] = "10.96.0.10", ["10.96.0.10"]
    kept = service()
    s.default(kept)
    s.prepare_for_update(kept, old)
    assert kept["spec"]["clusterIP"] == "10.96.0.10" and s.validate_update(kept, old) == []
    moved = copy.deepcopy(old)
    moved["spec"]["clusterIP"], moved["spec"]["clusterIPs"] = "10.96.0.11", ["10.96.0.11"]
    [c] = s.validate_update(moved, old)
    assert (c.field, c.message) == ("spec.clusterIPs[0]", 'Invalid value: ["10.96.0.11"]: may not change once set')


@pytest.mark.unit
def test_secret_string_data_is_merged_into_data():
    obj = {**secret(a="1"), "stringData": {"a": "over", "b": "two"}}
    strategy_for("secrets").default(obj)
    assert "stringData" not in obj
    assert {k: base64.b64decode(v).decode() for k, v in obj["data"].items()} == {"a": "over", "b": "two"}


@pytest.mark.unit
@pytest.mark.parametrize("schedule, error", [
    ("*/5 * * * *", ""), ("0 0 1 JAN MON", ""), ("@hourly", ""), ("@every 1h30m", ""), ("TZ=UTC 0 * * * *", ""),
    ("0 0 * * 7", "end of range (7) above maximum (6): 7"), ("5-1 * * * *", "beginning of range (5) beyond end of "
                                                                          "range (1): 5-1"),
    ("*/0 * * * *", "step of range should be a positive number: */0"), ("@sometimes", "unrecognized descriptor: "
                                                                                      "@sometimes"),
    ("x * * * *", 'failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax'),
])
def test_cron_parser_errors(schedule, error):
    assert workloads.cron_error(schedule) == error


@pytest.mark.unit
@pytest.mark.parametrize("check, value, messages", [
    (names.port_name, "http", []), (names.port_name, "80", ["must contain at least one letter (a-z)"]),
    (names.port_name, "a--b", ["must not contain consecutive hyphens"]),
    (names.port_name, "-ab", ["must not begin or end with a hyphen"]),
    (names.qualified_name, "example.com/app", []), (names.qualified_name, "/app", ["prefix part must be non-empty"]),
    (names.config_key, "..x", ["must not start with '..'"]), (names.env_var_name, "MY VAR", []),
    (names.dns1123_label, "a" * 64, ["must be no more than 63 characters"]),
])
def test_syntax_checks(check, value, messages):
    assert check(value) == messages
