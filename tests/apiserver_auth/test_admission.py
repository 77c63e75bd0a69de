"""Admission plugins, one table per plugin, with the messages kube-apiserver gives."""

from __future__ import annotations

import base64
import copy
import json
from decimal import Decimal
from typing import Any

import pytest

from apiserver.admission import AdmissionError, Attributes, DictState, Forbidden, Invalid, NotFound, Operation
from apiserver.admission.always_pull_images import AlwaysPullImages
from apiserver.admission.chain import build_chain
from apiserver.admission.default_toleration_seconds import DefaultTolerationSeconds
from apiserver.admission.limit_ranger import LimitRanger
from apiserver.admission.namespace_lifecycle import NamespaceLifecycle
from apiserver.admission.node_restriction import NodeRestriction
from apiserver.admission.pod_security import PodSecurity, evaluate
from apiserver.admission.priority import Priority
from apiserver.admission.resource_quota import ResourceQuota, usage_delta
from apiserver.admission.service_account import ServiceAccount
from apiserver.admission.types import InternalError
from apiserver.admission.webhook import MutatingAdmissionWebhook, ValidatingAdmissionWebhook, WebhookDenied
from apiserver.authn.types import UserInfo
from apiserver.errors import APIError
from apiserver.patch import json_patch
from tests.apiserver_auth.fixtures import meta, pod

pytestmark = pytest.mark.unit
Obj = dict[str, Any]


def ns(name: str, phase: str = "Active", labels: dict[str, str] | None = None) -> Obj:
    return {"kind": "Namespace", "metadata": meta(name, labels=labels or {}), "status": {"phase": phase}}


def pod_attrs(obj: Obj, op: Operation = Operation.CREATE, sub: str = "", old: Obj | None = None,
              user: UserInfo | None = None) -> Attributes:
    return Attributes(op, "pods", obj["metadata"]["name"], obj["metadata"]["namespace"], sub, kind="Pod",
                      object=obj, old_object=old, user=user or UserInfo("alice"))


def refusal(fn: Any, attrs: Attributes) -> AdmissionError:
    with pytest.raises(AdmissionError) as exc:
        fn(attrs)
    return exc.value


# --- NamespaceLifecycle -----------------------------------------------------------------------------------------

LIFECYCLE = NamespaceLifecycle(DictState({"namespaces": [ns("default"), ns("dying", "Terminating"), ns("apps")]}))


def test_lifecycle_create_in_terminating_namespace() -> None:
    err = refusal(LIFECYCLE.validate, pod_attrs(pod("p", "dying")))
    assert isinstance(err, Forbidden) and err.http_code == 403
    assert err.message == ('pods "p" is forbidden: unable to create new content in namespace dying because it is '
                           'being terminated')
    assert err.status()["details"]["causes"][0]["reason"] == "NamespaceTerminating"


def test_lifecycle_missing_namespace_is_404() -> None:
    err = refusal(LIFECYCLE.validate, pod_attrs(pod("p", "ghost")))
    assert isinstance(err, NotFound) and err.message == 'namespaces "ghost" not found' and err.http_code == 404


@pytest.mark.parametrize("name,refused", [("default", True), ("kube-system", True), ("kube-public", True),
                                          ("apps", False)])
def test_lifecycle_immortal_namespaces(name: str, refused: bool) -> None:
    attrs = Attributes(Operation.DELETE, "namespaces", name)
    if refused:
        assert refusal(LIFECYCLE.validate, attrs).message == \
            f'namespaces "{name}" is forbidden: this namespace may not be deleted'
    else:
        LIFECYCLE.validate(attrs)


def test_lifecycle_allows_updates_and_deletes_in_terminating_namespace() -> None:
    LIFECYCLE.validate(pod_attrs(pod("p", "dying"), Operation.DELETE))
    LIFECYCLE.validate(pod_attrs(pod("p", "dying"), Operation.UPDATE))
    LIFECYCLE.validate(pod_attrs(pod("p", "apps")))


# --- LimitRanger -------------------------------------------------------------------------------------------------

LIMITS = {"limitranges": [{"metadata": meta("lr", "apps"), "spec": {"limits": [
    {"type": "Container", "default": {"cpu": "500m", "memory": "256Mi"}, "defaultRequest": {"cpu": "100m"},
     "min": {"cpu": "50m"}, "max": {"cpu": "1", "memory": "1Gi"}}]}}]}


def test_limit_ranger_defaults() -> None:
    p = pod("p", "apps")
    LimitRanger(DictState(LIMITS)).admit(pod_attrs(p))
    assert p["spec"]["containers"][0]["resources"] == {"limits": {"cpu": "500m", "memory": "256Mi"},
                                                       "requests": {"cpu": "100m", "memory": "256Mi"}}
    assert p["metadata"]["annotations"]["kubernetes.io/limit-ranger"] == (
        "LimitRanger plugin set: cpu, memory request for container c; cpu, memory limit for container c")
    explicit = pod("q", "apps", containers=[{"name": "c", "image": "x", "resources": {
        "limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}}}])
    LimitRanger(DictState(LIMITS)).admit(pod_attrs(explicit))
    assert "annotations" not in explicit["metadata"], "nothing defaulted, nothing annotated"


@pytest.mark.parametrize("resources,msg", [
    ({"limits": {"cpu": "2", "memory": "128Mi"}, "requests": {"cpu": "100m"}},
     'pods "p" is forbidden: maximum cpu usage per Container is 1, but limit is 2'),
    ({"limits": {"cpu": "1", "memory": "128Mi"}, "requests": {"cpu": "10m"}},
     'pods "p" is forbidden: minimum cpu usage per Container is 50m, but request is 10m'),
    ({"limits": {"cpu": "2", "memory": "2Gi"}, "requests": {"cpu": "100m"}},
     'pods "p" is forbidden: [maximum cpu usage per Container is 1, but limit is 2, maximum memory usage per '
     'Container is 1Gi, but limit is 2Gi]'),
])
def test_limit_ranger_min_max(resources: Obj, msg: str) -> None:
    p = pod("p", "apps", containers=[{"name": "c", "image": "x", "resources": resources}])
    assert refusal(LimitRanger(DictState(LIMITS)).validate, pod_attrs(p)).message == msg


def test_limit_ranger_missing_limit_without_default() -> None:
    state = DictState({"limitranges": [{"metadata": meta("lr", "apps"), "spec": {"limits": [
        {"type": "Container", "max": {"cpu": "1"}}]}}]})
    assert refusal(LimitRanger(state).validate, pod_attrs(pod("p", "apps"))).message == \
        'pods "p" is forbidden: maximum cpu usage per Container is 1.  No limit is specified'


# --- ServiceAccount ----------------------------------------------------------------------------------------------

SAS = DictState({"serviceaccounts": [{"metadata": meta("default", "apps")},
                                     {"metadata": meta("quiet", "apps"), "automountServiceAccountToken": False}]})


def test_service_account_defaults_and_projects_token() -> None:
    p = pod("p", "apps")
    plugin = ServiceAccount(SAS, suffix=lambda: "x7k2q")
    plugin.admit(pod_attrs(p))
    plugin.validate(pod_attrs(p))
    assert p["spec"]["serviceAccountName"] == "default"
    vol = p["spec"]["volumes"][0]
    assert vol["name"] == "kube-api-access-x7k2q"
    assert vol["projected"]["sources"][0] == {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}
    assert p["spec"]["containers"][0]["volumeMounts"] == [
        {"name": "kube-api-access-x7k2q", "readOnly": True, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]


def test_service_account_automount_off_and_missing_sa() -> None:
    p = pod("p", "apps", serviceAccountName="quiet")
    ServiceAccount(SAS).admit(pod_attrs(p))
    assert "volumes" not in p["spec"]
    err = refusal(ServiceAccount(SAS).admit, pod_attrs(pod("p", "apps", serviceAccountName="ghost")))
    assert err.message == ('pods "p" is forbidden: error looking up service account apps/ghost: '
                           'serviceaccount "ghost" not found')


# --- NodeRestriction ---------------------------------------------------------------------------------------------

N1 = UserInfo("system:node:n1", groups=("system:nodes",))
MIRROR = {"kubernetes.io/config.mirror": "hash"}


def node_obj(name: str, labels: dict[str, str] | None = None) -> Obj:
    return {"kind": "Node", "metadata": meta(name, labels=labels or {})}


@pytest.mark.parametrize("attrs,msg", [
    (pod_attrs(pod("p", "apps", node="n1"), user=N1),
     'pods "p" is forbidden: pod does not have "kubernetes.io/config.mirror" annotation, node "n1" can only create '
     'mirror pods'),
    (pod_attrs({**pod("p", "apps", node="n2"), "metadata": meta("p", "apps", annotations=MIRROR)}, user=N1),
     'pods "p" is forbidden: node "n1" can only create pods with spec.nodeName set to itself'),
    (pod_attrs(pod("p", "apps", node="n2"), Operation.UPDATE, "status", old=pod("p", "apps", node="n2"), user=N1),
     'pods "p" is forbidden: node "n1" can only update pod status for pods with spec.nodeName set to itself'),
    (pod_attrs(pod("p", "apps", node="n1"), Operation.UPDATE, old=pod("p", "apps", node="n1"), user=N1),
     'pods "p" is forbidden: unexpected operation "UPDATE", node "n1" can only create and delete mirror pods'),
    (Attributes(Operation.UPDATE, "nodes", "n2", object=node_obj("n2"), old_object=node_obj("n2"), user=N1),
     'nodes "n2" is forbidden: node "n1" is not allowed to modify node "n2"'),
    (Attributes(Operation.UPDATE, "nodes", "n1", object=node_obj("n1", {"node-restriction.kubernetes.io/x": "y"}),
                old_object=node_obj("n1"), user=N1),
     'nodes "n1" is forbidden: node "n1" is not allowed to modify the following labels: '
     'node-restriction.kubernetes.io/x'),
    (Attributes(Operation.UPDATE, "leases", "n2", "kube-node-lease", api_group="coordination.k8s.io", user=N1),
     'leases.coordination.k8s.io "n2" is forbidden: can only access node lease with the same name as the '
     'requesting node'),
])
def test_node_restriction_refusals(attrs: Attributes, msg: str) -> None:
    state = DictState({"pods": [pod("p", "apps", node="n2")]})
    assert refusal(NodeRestriction(state).validate, attrs).message == msg


def test_node_restriction_allows_own_objects_and_ignores_others() -> None:
    plugin = NodeRestriction(DictState({"pods": [pod("mine", "apps", node="n1")]}))
    plugin.validate(pod_attrs({**pod("m", "apps", node="n1"), "metadata": meta("m", "apps", annotations=MIRROR)},
                              user=N1))
    plugin.validate(pod_attrs(pod("mine", "apps", node="n1"), Operation.UPDATE, "status",
                              old=pod("mine", "apps", node="n1"), user=N1))
    plugin.validate(Attributes(Operation.DELETE, "pods", "mine", "apps", user=N1))
    plugin.validate(Attributes(Operation.UPDATE, "nodes", "n1", object=node_obj("n1", {"a": "b"}),
                               old_object=node_obj("n1"), user=N1))
    plugin.validate(pod_attrs(pod("p", "apps")))  # not a node: not this plugin's business


# --- DefaultTolerationSeconds, AlwaysPullImages ------------------------------------------------------------------

def test_default_toleration_seconds() -> None:
    p = pod("p", "apps", tolerations=[{"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                                        "effect": "NoExecute", "tolerationSeconds": 10}])
    DefaultTolerationSeconds(DictState()).admit(pod_attrs(p))
    assert p["spec"]["tolerations"] == [
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 10},
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]


def test_always_pull_images() -> None:
    p = pod("p", "apps", containers=[{"name": "a", "image": "x", "imagePullPolicy": "IfNotPresent"}],
            initContainers=[{"name": "i", "image": "y"}])
    plugin = AlwaysPullImages(DictState())
    err = refusal(plugin.validate, pod_attrs(copy.deepcopy(p)))
    assert isinstance(err, Invalid) and err.http_code == 422
    assert err.message == ('Pod "p" is invalid: [spec.initContainers[0].imagePullPolicy: Unsupported value: "": '
                           'supported values: "Always", spec.containers[0].imagePullPolicy: Unsupported value: '
                           '"IfNotPresent": supported values: "Always"]')
    plugin.admit(pod_attrs(p))
    plugin.validate(pod_attrs(p))
    assert [c["imagePullPolicy"] for c in p["spec"]["containers"] + p["spec"]["initContainers"]] == ["Always"] * 2


# --- PodSecurity -------------------------------------------------------------------------------------------------

ENFORCE = "pod-security.kubernetes.io/enforce"
PSA_STATE = DictState({"namespaces": [ns("base", labels={ENFORCE: "baseline"}), ns("strict", labels={ENFORCE: "restricted"}),
                                      ns("open")]})
GOOD_RESTRICTED = {"securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                                       "runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}}


@pytest.mark.parametrize("namespace,spec,msg", [
    ("base", {"hostNetwork": True, "containers": [{"name": "c", "image": "x", "securityContext": {"privileged": True}}]},
     'pods "p" is forbidden: violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true), '
     'privileged (container "c" must not set securityContext.privileged=true)'),
    ("base", {"containers": [{"name": "a", "image": "x", "ports": [{"containerPort": 80, "hostPort": 8080}]}],
              "volumes": [{"name": "h", "hostPath": {"path": "/"}}]},
     'pods "p" is forbidden: violates PodSecurity "baseline:latest": hostPath volumes (volume "h"), hostPort '
     '(container "a" uses hostPort 8080)'),
    ("strict", {"containers": [{"name": "c", "image": "x"}]},
     'pods "p" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false '
     '(container "c" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities '
     '(container "c" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or container '
     '"c" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container "c" must set '
     'securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")'),
])
def test_pod_security_refusals(namespace: str, spec: Obj, msg: str) -> None:
    p = {"metadata": meta("p", namespace), "spec": spec}
    assert refusal(PodSecurity(PSA_STATE).validate, pod_attrs(p)).message == msg


def test_pod_security_passes() -> None:
    plugin = PodSecurity(PSA_STATE)
    plugin.validate(pod_attrs({"metadata": meta("p", "strict"),
                               "spec": {"containers": [{"name": "c", "image": "x", **GOOD_RESTRICTED}]}}))
    plugin.validate(pod_attrs({"metadata": meta("p", "open"), "spec": {"hostPID": True, "containers": []}}))
    assert evaluate("baseline", {"spec": {"containers": [{"name": "c", **GOOD_RESTRICTED}]}}) == []
    assert evaluate("privileged", {"spec": {"hostPID": True}}) == []


# --- ResourceQuota -----------------------------------------------------------------------------------------------

def quota(name: str, hard: Obj, used: Obj) -> Obj:
    return {"metadata": meta(name, "apps"), "spec": {"hard": hard}, "status": {"hard": hard, "used": used}}


def test_quota_usage_and_new_used() -> None:
    state = DictState({"resourcequotas": [quota("compute", {"pods": "3", "requests.cpu": "2", "requests.memory": "1Gi"},
                                                {"pods": "1", "requests.cpu": "500m", "requests.memory": "512Mi"})]})
    plugin = ResourceQuota(state)
    p = pod("p", "apps", containers=[{"name": "c", "image": "x",
                                      "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}}}])
    plugin.validate(pod_attrs(p))
    assert plugin.last_updates == [("compute", {"pods": "2", "requests.cpu": "750m", "requests.memory": "768Mi"})]


def test_quota_exceeded_message() -> None:
    state = DictState({"resourcequotas": [quota("count", {"pods": "2"}, {"pods": "2"})]})
    err = refusal(ResourceQuota(state).validate, pod_attrs(pod("p", "apps")))
    assert err.message == ('pods "p" is forbidden: exceeded quota: count, requested: pods=1, used: pods=2, '
                           'limited: pods=2')


def test_quota_requires_declared_resources() -> None:
    state = DictState({"resourcequotas": [quota("compute", {"limits.cpu": "2"}, {})]})
    err = refusal(ResourceQuota(state).validate, pod_attrs(pod("p", "apps")))
    assert err.message == 'pods "p" is forbidden: failed quota: compute: must specify limits.cpu'


def test_quota_without_usage_stats_is_refused_until_the_controller_fills_them() -> None:
    from apiserver.admission.resource_quota import check_quotas

    q = quota("fresh", {"pods": "10", "services": "2"}, {})
    err = refusal(ResourceQuota(DictState({"resourcequotas": [q]})).validate, pod_attrs(pod("p", "apps")))
    assert err.message == 'pods "p" is forbidden: status unknown for quota: fresh, resources: pods'
    assert check_quotas([q], {"pods": Decimal(1)}, require_usage_stats=False) == [("fresh", {"pods": "1"})]
    # Before the controller's first look (no status at all) kube-apiserver enforces nothing: only status.hard counts.
    unseen = {"metadata": meta("unseen", "apps"), "spec": {"hard": {"pods": "0", "limits.cpu": "1"}}}
    assert check_quotas([unseen], {"pods": Decimal(1)}) == []
    ResourceQuota(DictState({"resourcequotas": [unseen]})).validate(pod_attrs(pod("p", "apps")))


def test_usage_delta_counts() -> None:
    assert usage_delta("configmaps", "", {}) == {"count/configmaps": 1, "configmaps": 1}
    assert usage_delta("deployments", "apps", {}) == {"count/deployments.apps": 1}


# --- JSON patch and webhooks ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("patch,expected", [
    ([{"op": "add", "path": "/a/-", "value": 3}], {"a": [1, 2, 3], "b": {"c": 1}}),
    ([{"op": "replace", "path": "/b/c", "value": 9}], {"a": [1, 2], "b": {"c": 9}}),
    ([{"op": "remove", "path": "/a/0"}], {"a": [2], "b": {"c": 1}}),
    ([{"op": "move", "from": "/b/c", "path": "/d"}], {"a": [1, 2], "b": {}, "d": 1}),
    ([{"op": "copy", "from": "/a", "path": "/e~1f"}], {"a": [1, 2], "b": {"c": 1}, "e/f": [1, 2]}),
    ([{"op": "test", "path": "/b/c", "value": 1}, {"op": "add", "path": "/x", "value": None}],
     {"a": [1, 2], "b": {"c": 1}, "x": None}),
])
def test_json_patch(patch: list[Obj], expected: Obj) -> None:
    doc = {"a": [1, 2], "b": {"c": 1}}
    assert json_patch(doc, patch) == expected
    assert doc == {"a": [1, 2], "b": {"c": 1}}, "the input must not change"


@pytest.mark.parametrize("patch", [[{"op": "test", "path": "/b/c", "value": 2}], [{"op": "remove", "path": "/zz"}],
                                   [{"op": "add", "path": "/a/9", "value": 1}], [{"op": "jump", "path": "/a"}],
                                   [{"op": "move", "from": "/b", "path": "/b/c/d"}]])
def test_json_patch_errors(patch: list[Obj]) -> None:
    with pytest.raises(APIError):
        json_patch({"a": [1, 2], "b": {"c": 1}}, patch)


def hook_state(kind: str, policy: str = "Fail") -> DictState:
    return DictState({kind: [{"metadata": meta("cfg"), "webhooks": [{
        "name": "labels.example.com", "clientConfig": {"url": "https://hook.example/admit"}, "failurePolicy": policy,
        "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}],
        "namespaceSelector": {"matchLabels": {"hooked": "yes"}}}]}],
        "namespaces": [ns("apps", labels={"hooked": "yes"}), ns("plain")]})


def test_mutating_webhook_applies_patch() -> None:
    seen: list[Obj] = []

    def transport(url: str, body: Obj, timeout: float, ca_bundle: str = "") -> Obj:
        seen.append(body)
        patch = base64.b64encode(json.dumps([{"op": "add", "path": "/metadata/labels",
                                              "value": {"hooked": "true"}}]).encode()).decode()
        return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                "response": {"uid": body["request"]["uid"], "allowed": True, "patchType": "JSONPatch",
                             "patch": patch}}

    plugin = MutatingAdmissionWebhook(hook_state("mutatingwebhookconfigurations"), transport, lambda: "uid-1")
    attrs = pod_attrs(pod("p", "apps"))
    plugin.admit(attrs)
    assert attrs.object is not None and attrs.object["metadata"]["labels"] == {"hooked": "true"}
    req = seen[0]["request"]
    assert (req["operation"], req["resource"], req["userInfo"]["username"]) == (
        "CREATE", {"group": "", "version": "v1", "resource": "pods"}, "alice")
    other = pod_attrs(pod("q", "plain"))
    plugin.admit(other)
    assert len(seen) == 1, "namespaceSelector must skip namespaces without the label"


def test_validating_webhook_denial_and_failure_policy() -> None:
    def deny(url: str, body: Obj, timeout: float, ca_bundle: str = "") -> Obj:
        return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                "response": {"uid": body["request"]["uid"], "allowed": False,
                             "status": {"code": 403, "message": "no latest tags"}}}

    def broken(url: str, body: Obj, timeout: float, ca_bundle: str = "") -> Obj:
        raise ConnectionRefusedError("connection refused")

    err = refusal(ValidatingAdmissionWebhook(hook_state("validatingwebhookconfigurations"), deny, lambda: "u").validate,
                  pod_attrs(pod("p", "apps")))
    assert isinstance(err, WebhookDenied) and err.http_code == 403
    assert err.message == 'admission webhook "labels.example.com" denied the request: no latest tags'
    err = refusal(ValidatingAdmissionWebhook(hook_state("validatingwebhookconfigurations"), broken,
                                             lambda: "u").validate, pod_attrs(pod("p", "apps")))
    assert isinstance(err, InternalError) and err.http_code == 500
    assert err.message == ('Internal error occurred: failed calling webhook "labels.example.com": '
                           'connection refused')
    ValidatingAdmissionWebhook(hook_state("validatingwebhookconfigurations", "Ignore"), broken,
                               lambda: "u").validate(pod_attrs(pod("p", "apps")))


# --- Priority ------------------------------------------------------------------------------------------------------

def priority_class(name: str, value: int, global_default: bool = False, policy: str = "PreemptLowerPriority") -> Obj:
    return {"metadata": meta(name, ""), "value": value, "globalDefault": global_default, "preemptionPolicy": policy}


SYSTEM_CLASSES = [priority_class("system-node-critical", 2000001000),
                  priority_class("system-cluster-critical", 2000000000)]


def test_priority_fills_priority_and_preemption_policy_from_the_class() -> None:
    plugin = Priority(DictState({"priorityclasses": list(SYSTEM_CLASSES)}))
    p = pod("p", "apps")
    plugin.admit(pod_attrs(p))
    assert (p["spec"]["priority"], p["spec"]["preemptionPolicy"]) == (0, "PreemptLowerPriority")
    critical = pod("c", "kube-system")
    critical["spec"]["priorityClassName"] = "system-node-critical"
    plugin.admit(pod_attrs(critical))
    assert critical["spec"]["priority"] == 2000001000
    elsewhere = pod("e", "apps")
    elsewhere["spec"]["priorityClassName"] = "system-cluster-critical"
    assert refusal(plugin.admit, pod_attrs(elsewhere)).message == (
        'pods "e" is forbidden: pods with system-cluster-critical priorityClass is not permitted in apps namespace')
    unknown = pod("u", "apps")
    unknown["spec"]["priorityClassName"] = "gold"
    assert refusal(plugin.admit, pod_attrs(unknown)).message == (
        'pods "u" is forbidden: no PriorityClass with name gold was found')
    given = pod("g", "apps")
    given["spec"]["priority"] = 5
    assert refusal(plugin.admit, pod_attrs(given)).message == (
        'pods "g" is forbidden: the integer value of priority (5) must not be provided in pod spec; priority '
        'admission controller computed 0 from the given PriorityClass name')


def test_priority_resolves_served_classes_and_the_global_default() -> None:
    classes = [*SYSTEM_CLASSES, priority_class("gold", 1000, policy="Never"), priority_class("low", 10, True)]
    plugin = Priority(DictState({"priorityclasses": classes}))
    gold = pod("g", "apps")
    gold["spec"]["priorityClassName"] = "gold"
    plugin.admit(pod_attrs(gold))
    assert (gold["spec"]["priority"], gold["spec"]["preemptionPolicy"]) == (1000, "Never")
    plain = pod("p", "apps")
    plugin.admit(pod_attrs(plain))
    assert (plain["spec"]["priorityClassName"], plain["spec"]["priority"]) == ("low", 10)
    wrong_policy = pod("w", "apps")
    wrong_policy["spec"].update(priorityClassName="gold", preemptionPolicy="PreemptLowerPriority")
    assert refusal(plugin.admit, pod_attrs(wrong_policy)).message == (
        'pods "w" is forbidden: the string value of PreemptionPolicy (PreemptLowerPriority) must not be provided in '
        'pod spec; priority admission controller computed Never from the given PriorityClass name')
    # updates keep what creation computed when the body drops it
    update = pod("g", "apps")
    plugin.admit(pod_attrs(update, Operation.UPDATE, old=gold))
    assert (update["spec"]["priority"], update["spec"]["preemptionPolicy"]) == (1000, "Never")


def test_priority_allows_one_global_default_class() -> None:
    plugin = Priority(DictState({"priorityclasses": [priority_class("low", 10, True)]}))

    def attrs(obj: Obj, op: Operation = Operation.CREATE) -> Attributes:
        return Attributes(op, "priorityclasses", obj["metadata"]["name"], "", api_group="scheduling.k8s.io",
                          kind="PriorityClass", object=obj)

    assert refusal(plugin.validate, attrs(priority_class("high", 100, True))).message == (
        'priorityclasses.scheduling.k8s.io "high" is forbidden: PriorityClass low is already marked as default. '
        'Only one default can exist')
    assert refusal(plugin.validate, attrs(priority_class("high", 100, True), Operation.UPDATE)).message.endswith(
        "Only one default can exist")
    plugin.validate(attrs(priority_class("low", 10, True), Operation.UPDATE))
    plugin.validate(attrs(priority_class("high", 100)))


# --- the chain ---------------------------------------------------------------------------------------------------

def test_chain_order_and_flags() -> None:
    state = DictState({"namespaces": [ns("apps")], "serviceaccounts": [{"metadata": meta("default", "apps")}]})
    chain = build_chain(["AlwaysPullImages", "NodeRestriction"], state, disabled=["LimitRanger"])
    assert chain.names == ["NamespaceLifecycle", "ServiceAccount", "NodeRestriction", "PodSecurity",
                           "AlwaysPullImages", "Priority", "DefaultTolerationSeconds", "ResourceQuota"]
    p = pod("p", "apps")
    attrs = pod_attrs(p)
    chain.admit(attrs)
    chain.validate(attrs)
    assert p["spec"]["serviceAccountName"] == "default" and len(p["spec"]["tolerations"]) == 2
    with pytest.raises(ValueError, match="unknown admission plugin 'Nope'"):
        build_chain(["Nope"], state)
    deny = build_chain(["AlwaysDeny"], state)
    assert refusal(deny.admit, pod_attrs(pod("p", "apps"))).message == \
        "admission control is denying all modifications"


def test_pod_security_reports_in_check_order_and_restricted_overrides() -> None:
    # Observed on a live cluster: host namespaces, then hostPath volumes (plural), then privileged.
    spec = {"hostNetwork": True, "hostPID": True,
            "containers": [{"name": "t", "image": "x", "securityContext": {"privileged": True}}],
            "volumes": [{"name": "a", "hostPath": {"path": "/a"}}, {"name": "b", "hostPath": {"path": "/b"}}]}
    assert evaluate("baseline", {"spec": spec}) == [
        "host namespaces (hostNetwork=true, hostPID=true)", 'hostPath volumes (volumes "a", "b")',
        'privileged (container "t" must not set securityContext.privileged=true)']
    restricted = evaluate("restricted", {"spec": {"containers": [{"name": "c", **GOOD_RESTRICTED}],
                                                  "volumes": [{"name": "h", "hostPath": {"path": "/"}}]}})
    assert restricted == ['restricted volume types (volume "h" uses restricted volume type "hostPath")']


def test_pod_security_warn_label_and_exemptions() -> None:
    state = DictState({"namespaces": [ns("w", labels={"pod-security.kubernetes.io/warn": "baseline"}),
                                      ns("strict", labels={ENFORCE: "restricted"})]})
    plugin = PodSecurity(state, exempt_usernames=["system:serviceaccount:kube-system:replicaset-controller"])
    plugin.validate(pod_attrs({"metadata": meta("p", "w"), "spec": {"hostIPC": True, "containers": []}}))
    assert plugin.last_warnings == ['would violate PodSecurity "baseline:latest": host namespaces (hostIPC=true)']
    exempt = UserInfo("system:serviceaccount:kube-system:replicaset-controller")
    plugin.validate(pod_attrs(pod("root", "strict"), user=exempt))
    with pytest.raises(Forbidden):
        plugin.validate(pod_attrs(pod("root", "strict")))


def test_webhooks_skip_their_own_configuration_objects() -> None:
    calls: list[str] = []

    def transport(url: str, body: Obj, timeout: float, ca_bundle: str = "") -> Obj:
        calls.append(url)
        raise ConnectionRefusedError("down")

    state = DictState({"validatingwebhookconfigurations": [{"metadata": meta("cfg"), "webhooks": [{
        "name": "all.example.com", "clientConfig": {"url": "https://h/"},
        "rules": [{"operations": ["*"], "apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*"]}]}]}]})
    plugin = ValidatingAdmissionWebhook(state, transport, lambda: "u")
    plugin.validate(Attributes(Operation.DELETE, "validatingwebhookconfigurations", "cfg",
                               api_group="admissionregistration.k8s.io"))
    assert calls == []
    with pytest.raises(InternalError):
        plugin.validate(Attributes(Operation.CREATE, "configmaps", "x", "ns", object={"metadata": {}}))
    assert calls == ["https://h/"]
