"""Defaulting per served kind, field by field against v1.32's defaults.go (apiserver/registry/defaults.py through
each kind's strategy): the whole defaulted object is compared, so a missing or extra default fails."""

from __future__ import annotations

import copy

import pytest

from apiserver.registry.strategies import strategy_for

pytestmark = pytest.mark.unit

CONTAINER = {"name": "c", "image": "nginx:1.25"}
CONTAINER_DEFAULTED = {"name": "c", "image": "nginx:1.25", "imagePullPolicy": "IfNotPresent",
                       "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
                       "resources": {}}
POD_SPEC_DEFAULTED = {"containers": [CONTAINER_DEFAULTED], "dnsPolicy": "ClusterFirst", "restartPolicy": "Always",
                      "securityContext": {}, "terminationGracePeriodSeconds": 30,
                      "schedulerName": "default-scheduler"}
TEMPLATE = {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [CONTAINER]}}
TEMPLATE_DEFAULTED = {"metadata": {"labels": {"app": "a"}, "creationTimestamp": None}, "spec": POD_SPEC_DEFAULTED}


def defaulted(plural: str, obj: dict, group: str = "") -> dict:
    out = copy.deepcopy(obj)
    strategy_for(plural, group).default(out)
    return out


def test_pod():
    pod = defaulted("pods", {"metadata": {"name": "p"}, "spec": {"containers": [
        {**CONTAINER, "image": "busybox", "resources": {"limits": {"cpu": "1"}},
         "ports": [{"containerPort": 80}],
         "livenessProbe": {"httpGet": {"port": 80}},
         "lifecycle": {"preStop": {"httpGet": {"port": 80, "path": "/stop"}}},
         "env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]}],
        "hostNetwork": True,
        "volumes": [{"name": "e"}, {"name": "s", "secret": {"secretName": "x"}},
                    {"name": "cm", "configMap": {"name": "x"}}, {"name": "h", "hostPath": {"path": "/x"}},
                    {"name": "d", "downwardAPI": {"items": [{"path": "n", "fieldRef": {"fieldPath": "x"}}]}},
                    {"name": "pr", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}},
                    {"name": "eph", "ephemeral": {"volumeClaimTemplate": {"spec": {"accessModes": ["RWO"]}}}}]}})
    spec = pod["spec"]
    assert spec["enableServiceLinks"] is True and spec["serviceAccountName"] == spec["serviceAccount"] == "default"
    c = spec["containers"][0]
    assert c["imagePullPolicy"] == "Always"  # no tag = latest
    assert c["resources"] == {"limits": {"cpu": "1"}, "requests": {"cpu": "1"}}
    assert c["ports"] == [{"containerPort": 80, "protocol": "TCP", "hostPort": 80}]
    assert c["livenessProbe"] == {"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1,
                                  "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
    assert c["lifecycle"]["preStop"]["httpGet"] == {"port": 80, "path": "/stop", "scheme": "HTTP"}
    assert c["env"][0]["valueFrom"]["fieldRef"] == {"fieldPath": "metadata.name", "apiVersion": "v1"}
    vols = {v["name"]: v for v in spec["volumes"]}
    assert vols["e"] == {"name": "e", "emptyDir": {}}
    assert vols["s"]["secret"]["defaultMode"] == vols["cm"]["configMap"]["defaultMode"] == 420
    assert vols["h"]["hostPath"] == {"path": "/x", "type": ""}
    assert vols["d"]["downwardAPI"] == {"defaultMode": 420, "items": [
        {"path": "n", "fieldRef": {"fieldPath": "x", "apiVersion": "v1"}}]}
    assert vols["pr"]["projected"] == {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"path": "t", "expirationSeconds": 3600}}]}
    assert vols["eph"]["ephemeral"]["volumeClaimTemplate"]["spec"]["volumeMode"] == "Filesystem"
    for key, value in POD_SPEC_DEFAULTED.items():
        if key != "containers":
            assert spec[key] == value


def test_pod_templates_get_pod_spec_defaults_but_not_pod_only_ones():
    d = defaulted("deployments", {"spec": {"selector": {"matchLabels": {"app": "a"}}, "template": TEMPLATE}}, "apps")
    assert d["spec"] == {"selector": {"matchLabels": {"app": "a"}}, "template": TEMPLATE_DEFAULTED, "replicas": 1,
                         "strategy": {"type": "RollingUpdate",
                                      "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
                         "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600}
    assert "enableServiceLinks" not in d["spec"]["template"]["spec"]
    partial = defaulted("deployments", {"spec": {"strategy": {"rollingUpdate": {"maxSurge": 1}}}}, "apps")
    assert partial["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1,
                                                                                      "maxUnavailable": "25%"}}
    recreate = defaulted("deployments", {"spec": {"strategy": {"type": "Recreate"}}}, "apps")
    assert recreate["spec"]["strategy"] == {"type": "Recreate"}


def test_replica_set_and_replication_controller():
    rs = defaulted("replicasets", {"spec": {"template": TEMPLATE}}, "apps")
    assert rs["spec"] == {"template": TEMPLATE_DEFAULTED, "replicas": 1}
    rc = defaulted("replicationcontrollers", {"metadata": {"name": "r"}, "spec": {"template": TEMPLATE}})
    assert rc["spec"] == {"template": TEMPLATE_DEFAULTED, "replicas": 1, "selector": {"app": "a"}}
    assert rc["metadata"]["labels"] == {"app": "a"}


def test_stateful_set():
    sts = defaulted("statefulsets", {"spec": {"template": TEMPLATE, "volumeClaimTemplates": [
        {"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}]}}, "apps")
    assert sts["spec"] == {
        "template": TEMPLATE_DEFAULTED, "podManagementPolicy": "OrderedReady",
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
        "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
        "replicas": 1, "revisionHistoryLimit": 10,
        "volumeClaimTemplates": [{"metadata": {"name": "data"}, "status": {"phase": "Pending"},
                                  "spec": {"accessModes": ["ReadWriteOnce"], "volumeMode": "Filesystem"}}]}
    explicit = defaulted("statefulsets", {"spec": {"updateStrategy": {"type": "RollingUpdate"}}}, "apps")
    assert explicit["spec"]["updateStrategy"] == {"type": "RollingUpdate"}  # no rollingUpdate is added then
    on_delete = defaulted("statefulsets", {"spec": {"updateStrategy": {"type": "OnDelete"}}}, "apps")
    assert on_delete["spec"]["updateStrategy"] == {"type": "OnDelete"}


def test_daemon_set():
    ds = defaulted("daemonsets", {"spec": {"template": TEMPLATE}}, "apps")
    assert ds["spec"] == {"template": TEMPLATE_DEFAULTED, "revisionHistoryLimit": 10, "updateStrategy": {
        "type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}}


def test_job():
    job = defaulted("jobs", {"metadata": {"name": "j"}, "spec": {"template": TEMPLATE}}, "batch")
    assert job["spec"] == {"template": TEMPLATE_DEFAULTED, "completions": 1, "parallelism": 1, "backoffLimit": 6,
                           "completionMode": "NonIndexed", "suspend": False,
                           "podReplacementPolicy": "TerminatingOrFailed"}
    assert job["metadata"]["labels"] == {"app": "a"}
    parallel = defaulted("jobs", {"spec": {"parallelism": 3, "backoffLimitPerIndex": 1,
                                           "podFailurePolicy": {"rules": [{"action": "Ignore", "onPodConditions": [
                                               {"type": "DisruptionTarget"}]}]}}}, "batch")
    assert "completions" not in parallel["spec"] and parallel["spec"]["backoffLimit"] == 2**31 - 1
    assert parallel["spec"]["podReplacementPolicy"] == "Failed"
    assert parallel["spec"]["podFailurePolicy"]["rules"][0]["onPodConditions"][0]["status"] == "True"


def test_cron_job_template_gets_only_pod_template_defaults():
    cj = defaulted("cronjobs", {"spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": TEMPLATE}}}},
                   "batch")
    assert cj["spec"] == {"schedule": "* * * * *", "concurrencyPolicy": "Allow", "suspend": False,
                          "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1,
                          "jobTemplate": {"metadata": {"creationTimestamp": None},
                                          "spec": {"template": TEMPLATE_DEFAULTED}}}


def test_service():
    svc = defaulted("services", {"spec": {"ports": [{"port": 80}]}})
    assert svc["spec"] == {"ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}], "type": "ClusterIP",
                           "sessionAffinity": "None", "internalTrafficPolicy": "Cluster"}
    lb = defaulted("services", {"spec": {"type": "LoadBalancer", "sessionAffinity": "ClientIP",
                                         "ports": [{"port": 80, "targetPort": "http"}]}})
    assert lb["spec"] == {"type": "LoadBalancer", "sessionAffinity": "ClientIP",
                          "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}},
                          "ports": [{"port": 80, "targetPort": "http", "protocol": "TCP"}],
                          "externalTrafficPolicy": "Cluster", "internalTrafficPolicy": "Cluster",
                          "allocateLoadBalancerNodePorts": True}
    ext = defaulted("services", {"spec": {"type": "ExternalName", "externalName": "x.example"}})
    assert ext["spec"] == {"type": "ExternalName", "externalName": "x.example", "sessionAffinity": "None"}
    with_ips = defaulted("services", {"spec": {"externalIPs": ["192.0.2.1"], "ports": [{"port": 1}]}})
    assert with_ips["spec"]["externalTrafficPolicy"] == "Cluster"


def test_pvc_endpoints_endpointslice_secret_namespace_node_limitrange():
    assert defaulted("persistentvolumeclaims", {"spec": {}})["spec"] == {"volumeMode": "Filesystem"}
    ep = defaulted("endpoints", {"subsets": [{"ports": [{"port": 80}]}]})
    assert ep["subsets"][0]["ports"] == [{"port": 80, "protocol": "TCP"}]
    sl = defaulted("endpointslices", {"ports": [{"port": 80}]}, "discovery.k8s.io")
    assert sl["ports"] == [{"port": 80, "name": "", "protocol": "TCP"}]
    assert defaulted("secrets", {})["type"] == "Opaque"
    ns = defaulted("namespaces", {"metadata": {"name": "n"}})
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": "n"}
    node = defaulted("nodes", {"status": {"capacity": {"cpu": "2"}}})
    assert node["status"]["allocatable"] == {"cpu": "2"}
    lr = defaulted("limitranges", {"spec": {"limits": [{"type": "Container", "max": {"cpu": "2"},
                                                        "min": {"memory": "1Mi"}}, {"type": "Pod"}]}})
    assert lr["spec"]["limits"] == [{"type": "Container", "max": {"cpu": "2"}, "min": {"memory": "1Mi"},
                                     "default": {"cpu": "2"}, "defaultRequest": {"cpu": "2", "memory": "1Mi"}},
                                    {"type": "Pod"}]


def test_rbac_and_webhooks():
    rb = defaulted("rolebindings", {"roleRef": {"kind": "ClusterRole", "name": "view"}, "subjects": [
        {"kind": "User", "name": "u"}, {"kind": "ServiceAccount", "name": "s", "namespace": "n"}]},
        "rbac.authorization.k8s.io")
    assert rb["roleRef"]["apiGroup"] == "rbac.authorization.k8s.io"
    assert [s["apiGroup"] for s in rb["subjects"]] == ["rbac.authorization.k8s.io", ""]
    hook = {"name": "h.example.com", "clientConfig": {"service": {"namespace": "n", "name": "s"}},
            "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}],
            "sideEffects": "None", "admissionReviewVersions": ["v1"]}
    m = defaulted("mutatingwebhookconfigurations", {"webhooks": [hook]}, "admissionregistration.k8s.io")
    assert m["webhooks"][0] == {**hook, "failurePolicy": "Fail", "matchPolicy": "Equivalent",
                                "namespaceSelector": {}, "objectSelector": {}, "timeoutSeconds": 10,
                                "reinvocationPolicy": "Never",
                                "clientConfig": {"service": {"namespace": "n", "name": "s", "port": 443}},
                                "rules": [{**hook["rules"][0], "scope": "*"}]}
    v = defaulted("validatingwebhookconfigurations", {"webhooks": [hook]}, "admissionregistration.k8s.io")
    assert "reinvocationPolicy" not in v["webhooks"][0] and v["webhooks"][0]["failurePolicy"] == "Fail"
