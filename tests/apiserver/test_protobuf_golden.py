"""One golden protobuf body per served kind, subresource body and DeleteOptions, built field by field.

Each builder writes the object as Go's go-to-protobuf marshaller would (value fields even when zero, pointer
fields only when set), with the field numbers of k8s.io/api and apimachinery v0.32 spelled out next to
the JSON name, and returns the JSON the decoder must produce. The builders take a name, namespace and
resourceVersion so that `test_protobuf_e2e.py` can create and update the same objects over HTTPS.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from apiserver.k8sproto import schema
from apiserver.protobuf import decode_object
from tests.apiserver.test_protobuf import entry, envelope, int_or_str, ln, meta, qty, time_, vi

pytestmark = pytest.mark.unit
Golden = tuple[bytes, dict[str, Any]]
T0 = 1700000000  # 2023-11-14T22:13:20Z
T0S = "2023-11-14T22:13:20Z"


def _meta_json(name: str, namespace: str, rv: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name}
    if namespace:
        out["namespace"] = namespace
    if rv:
        out["resourceVersion"] = rv
    if labels:
        out["labels"] = labels
    return out


def container(name: str, image: str) -> bytes:
    """core/v1 Container with the value fields Go always writes: name 1, image 2, workingDir 5,
    terminationMessagePath 13, imagePullPolicy 14, stdin 16, stdinOnce 17, tty 18, terminationMessagePolicy 20."""
    return (ln(1, name) + ln(2, image) + ln(5, "") + ln(13, "/dev/termination-log") + ln(14, "IfNotPresent")
            + vi(16, False) + vi(17, False) + vi(18, False) + ln(20, "File"))


def container_json(name: str, image: str, **more: Any) -> dict[str, Any]:
    return {"name": name, "image": image, "terminationMessagePath": "/dev/termination-log",
            "imagePullPolicy": "IfNotPresent", "terminationMessagePolicy": "File", **more}


def template(labels: dict[str, str], spec: bytes) -> bytes:
    """PodTemplateSpec: metadata 1, spec 2."""
    return ln(1, meta("", labels=labels)) + ln(2, spec)


def selector(labels: dict[str, str]) -> bytes:
    """LabelSelector: matchLabels 1 (map)."""
    return b"".join(entry(1, k, v) for k, v in labels.items())


# ------------------------------------------------------------------ core/v1
def pod(name: str = "web-0", namespace: str = "prod", rv: str = "", labels: dict[str, str] | None = None) -> Golden:
    labels = labels or {"app": "web"}
    owner = (ln(5, "apps/v1") + ln(1, "StatefulSet") + ln(3, "web") + ln(4, "u2") + vi(6, True)
             + vi(7, False))  # OwnerReference: apiVersion 5, kind 1, name 3, uid 4, controller 6*, blockOwnerDeletion 7*
    managed = (ln(1, "kubectl") + ln(2, "Update") + ln(3, "v1") + ln(4, time_(T0)) + ln(6, "FieldsV1")
               + ln(7, ln(1, b'{"f:metadata":{"f:labels":{}}}')) + ln(8, ""))  # ManagedFieldsEntry 1-8, FieldsV1.Raw 1
    md = meta(name, namespace, rv=rv, labels=labels,
              extra=entry(12, "note", "x") + ln(13, owner) + ln(14, "example.com/f") + vi(10, 0) + ln(17, managed))
    sa_token = ln(4, ln(1, "api") + vi(2, 3600) + ln(3, "token"))
    secret_proj = ln(1, ln(1, ln(1, "s")) + ln(2, ln(1, "k") + ln(2, "k")))
    downward = ln(2, ln(1, ln(1, "labels") + ln(2, ln(1, "v1") + ln(2, "metadata.labels"))))
    projected = ln(1, sa_token) + ln(1, secret_proj) + ln(1, downward) + vi(2, 292)
    volumes = [
        # Volume: name 1, volumeSource 2 {configMap 19 {localObjectReference 1 {name 1}, items 2, defaultMode 3*, optional 4*}}
        ln(1, "cfg") + ln(2, ln(19, ln(1, ln(1, "app-cfg")) + ln(2, ln(1, "a") + ln(2, "a.txt") + vi(3, 0))
                               + vi(3, 420) + vi(4, False))),
        # persistentVolumeClaim 10 {claimName 1, readOnly 2}
        ln(1, "data") + ln(2, ln(10, ln(1, "data-web-0") + vi(2, False))),
        # emptyDir 2 {medium 1, sizeLimit 2*}
        ln(1, "scratch") + ln(2, ln(2, ln(1, "") + ln(2, qty("1Gi")))),
        # projected 26 {sources 1 [serviceAccountToken 4 {audience 1, expirationSeconds 2*, path 3},
        #   secret 1 {localObjectReference 1, items 2}, downwardAPI 2 {items 1 [{path 1, fieldRef 2 {apiVersion 1, fieldPath 2}}]}],
        #   defaultMode 2*}
        ln(1, "token") + ln(2, ln(26, projected)),
        # hostPath 1 {path 1, type 2*} - an explicit empty type
        ln(1, "host") + ln(2, ln(1, ln(1, "/var/log") + ln(2, ""))),
        # ephemeral 29 {volumeClaimTemplate 1 {metadata 1, spec 2 {accessModes 1, resources 2 {requests 2}, storageClassName 5*}}}
        ln(1, "eph") + ln(2, ln(29, ln(1, ln(1, meta("", labels={"t": "e"})) + ln(2, ln(1, "ReadWriteOnce")
                                        + ln(2, entry(2, "storage", qty("1Gi"))) + ln(5, ""))))),
        # csi 28 {driver 1, readOnly 2*, volumeAttributes 4}
        ln(1, "csi") + ln(2, ln(28, ln(1, "d.example.com") + vi(2, True) + entry(4, "k", "v"))),
        # secret 6 {secretName 1, defaultMode 3*}
        ln(1, "sec") + ln(2, ln(6, ln(1, "tls") + vi(3, 256))),
        # nfs 7 {server 1, path 2, readOnly 3}
        ln(1, "nfs") + ln(2, ln(7, ln(1, "nfs.example.com") + ln(2, "/exports") + vi(3, True))),
        # downwardAPI 16 {items 1 [{path 1, resourceFieldRef 3 {containerName 1, resource 2, divisor 3}}]}
        ln(1, "dapi") + ln(2, ln(16, ln(1, ln(1, "cpu") + ln(3, ln(1, "web") + ln(2, "limits.cpu") + ln(3, qty("1m")))))),
        # image 30 {reference 1, pullPolicy 2}
        ln(1, "img") + ln(2, ln(30, ln(1, "registry.example.com/data:1") + ln(2, "IfNotPresent"))),
    ]
    volumes_json = [
        {"name": "cfg", "configMap": {"name": "app-cfg", "items": [{"key": "a", "path": "a.txt", "mode": 0}],
                                      "defaultMode": 420, "optional": False}},
        {"name": "data", "persistentVolumeClaim": {"claimName": "data-web-0"}},
        {"name": "scratch", "emptyDir": {"sizeLimit": "1Gi"}},
        {"name": "token", "projected": {"sources": [
            {"serviceAccountToken": {"audience": "api", "expirationSeconds": 3600, "path": "token"}},
            {"secret": {"name": "s", "items": [{"key": "k", "path": "k"}]}},
            {"downwardAPI": {"items": [{"path": "labels", "fieldRef": {"apiVersion": "v1",
                                                                       "fieldPath": "metadata.labels"}}]}}],
            "defaultMode": 292}},
        {"name": "host", "hostPath": {"path": "/var/log", "type": ""}},
        {"name": "eph", "ephemeral": {"volumeClaimTemplate": {"metadata": {"labels": {"t": "e"}}, "spec": {
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}, "storageClassName": ""}}}},
        {"name": "csi", "csi": {"driver": "d.example.com", "readOnly": True, "volumeAttributes": {"k": "v"}}},
        {"name": "sec", "secret": {"secretName": "tls", "defaultMode": 256}},
        {"name": "nfs", "nfs": {"server": "nfs.example.com", "path": "/exports", "readOnly": True}},
        {"name": "dapi", "downwardAPI": {"items": [{"path": "cpu", "resourceFieldRef": {
            "containerName": "web", "resource": "limits.cpu", "divisor": "1m"}}]}},
        {"name": "img", "image": {"reference": "registry.example.com/data:1", "pullPolicy": "IfNotPresent"}},
    ]
    web = (container("web", "nginx:1.27") + ln(4, "--port=80")
           # ports 6 [ContainerPort name 1, hostPort 2, containerPort 3, protocol 4, hostIP 5]
           + ln(6, ln(1, "http") + vi(2, 0) + vi(3, 80) + ln(4, "TCP") + ln(5, ""))
           # envFrom 19 [{prefix 1, configMapRef 2 {localObjectReference 1, optional 2*}}]
           + ln(19, ln(1, "P_") + ln(2, ln(1, ln(1, "app-cfg")) + vi(2, True)))
           # env 7 [{name 1, value 2, valueFrom 3 {fieldRef 1 | resourceFieldRef 2 | configMapKeyRef 3 | secretKeyRef 4}}]
           + ln(7, ln(1, "A") + ln(2, "1"))
           + ln(7, ln(1, "POD") + ln(2, "") + ln(3, ln(1, ln(1, "v1") + ln(2, "metadata.name"))))
           + ln(7, ln(1, "PW") + ln(2, "") + ln(3, ln(4, ln(1, ln(1, "s")) + ln(2, "pw") + vi(3, False))))
           + ln(7, ln(1, "CM") + ln(2, "") + ln(3, ln(3, ln(1, ln(1, "app-cfg")) + ln(2, "k"))))
           # resources 8 {limits 1, requests 2, claims 3 [{name 1, request 2}]}
           + ln(8, entry(1, "cpu", qty("500m")) + entry(1, "memory", qty("128Mi")) + entry(2, "cpu", qty("100m"))
                + ln(3, ln(1, "gpu") + ln(2, "")))
           # resizePolicy 23 [{resourceName 1, restartPolicy 2}]
           + ln(23, ln(1, "cpu") + ln(2, "NotRequired"))
           # volumeMounts 9 [{name 1, readOnly 2, mountPath 3, subPath 4, mountPropagation 5*, subPathExpr 6, recursiveReadOnly 7*}]
           + ln(9, ln(1, "cfg") + vi(2, True) + ln(3, "/etc/cfg") + ln(4, "") + ln(5, "None") + ln(6, ""))
           # volumeDevices 21 [{name 1, devicePath 2}]
           + ln(21, ln(1, "data") + ln(2, "/dev/xvda"))
           # livenessProbe 10 {handler 1 (embedded ProbeHandler) {httpGet 2 {path 1, port 2, host 3, scheme 4, httpHeaders 5}},
           #   initialDelaySeconds 2, timeoutSeconds 3, periodSeconds 4, successThreshold 5, failureThreshold 6,
           #   terminationGracePeriodSeconds 7*}
           + ln(10, ln(1, ln(2, ln(1, "/healthz") + ln(2, int_or_str(8080)) + ln(3, "") + ln(4, "HTTP")
                             + ln(5, ln(1, "X-Probe") + ln(2, "1"))))
                + vi(2, 5) + vi(3, 1) + vi(4, 10) + vi(5, 1) + vi(6, 3) + vi(7, 0))
           # readinessProbe 11 {handler {tcpSocket 3 {port 1, host 2}}}
           + ln(11, ln(1, ln(3, ln(1, int_or_str("http")) + ln(2, ""))) + vi(2, 0) + vi(3, 1))
           # startupProbe 22 {handler {exec 1 {command 1}}}
           + ln(22, ln(1, ln(1, ln(1, "cat") + ln(1, "/tmp/ready"))) + vi(6, 30))
           # lifecycle 12 {postStart 1 {exec 1}, preStop 2 {sleep 4 {seconds 1}}}
           + ln(12, ln(1, ln(1, ln(1, "echo") + ln(1, "hi"))) + ln(2, ln(4, vi(1, 5))))
           # securityContext 15 {capabilities 1 {add 1, drop 2}, privileged 2*, runAsUser 4*, runAsNonRoot 5*,
           #   readOnlyRootFilesystem 6*, allowPrivilegeEscalation 7*, seccompProfile 11 {type 1, localhostProfile 2*}}
           + ln(15, ln(1, ln(1, "NET_ADMIN") + ln(2, "ALL")) + vi(2, False) + vi(4, 0) + vi(5, False) + vi(6, True)
                + vi(7, False) + ln(11, ln(1, "RuntimeDefault")))
           # restartPolicy 24* is an init-container field; left unset here
           )
    web_json = container_json(
        "web", "nginx:1.27", args=["--port=80"],
        ports=[{"name": "http", "containerPort": 80, "protocol": "TCP"}],
        envFrom=[{"prefix": "P_", "configMapRef": {"name": "app-cfg", "optional": True}}],
        env=[{"name": "A", "value": "1"},
             {"name": "POD", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
             {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "s", "key": "pw", "optional": False}}},
             {"name": "CM", "valueFrom": {"configMapKeyRef": {"name": "app-cfg", "key": "k"}}}],
        resources={"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": "100m"},
                   "claims": [{"name": "gpu"}]},
        resizePolicy=[{"resourceName": "cpu", "restartPolicy": "NotRequired"}],
        volumeMounts=[{"name": "cfg", "readOnly": True, "mountPath": "/etc/cfg", "mountPropagation": "None"}],
        volumeDevices=[{"name": "data", "devicePath": "/dev/xvda"}],
        livenessProbe={"httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP",
                                   "httpHeaders": [{"name": "X-Probe", "value": "1"}]},
                       "initialDelaySeconds": 5, "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1,
                       "failureThreshold": 3, "terminationGracePeriodSeconds": 0},
        readinessProbe={"tcpSocket": {"port": "http"}, "timeoutSeconds": 1},
        startupProbe={"exec": {"command": ["cat", "/tmp/ready"]}, "failureThreshold": 30},
        lifecycle={"postStart": {"exec": {"command": ["echo", "hi"]}}, "preStop": {"sleep": {"seconds": 5}}},
        securityContext={"capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]}, "privileged": False, "runAsUser": 0,
                         "runAsNonRoot": False, "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
                         "seccompProfile": {"type": "RuntimeDefault"}})
    # grpc probe 4 {port 1, service 2*}
    side = container("side", "envoy:1") + ln(11, ln(1, ln(4, vi(1, 9000) + ln(2, ""))))
    side_json = container_json("side", "envoy:1", readinessProbe={"grpc": {"port": 9000, "service": ""}})
    init = container("init", "busybox:1.36") + ln(3, "sh") + ln(3, "-c") + ln(3, "true") + ln(24, "Always")
    init_json = container_json("init", "busybox:1.36", command=["sh", "-c", "true"], restartPolicy="Always")
    # EphemeralContainer: ephemeralContainerCommon 1 (embedded) {name 1, image 2, stdin 16, tty 18}, targetContainerName 2
    debug = ln(1, container("debug", "busybox:1.36")[:-len(vi(16, False) + vi(17, False) + vi(18, False) + ln(20, "File"))]
               + vi(16, True) + vi(17, False) + vi(18, True) + ln(20, "File")) + ln(2, "web")
    debug_json = container_json("debug", "busybox:1.36", stdin=True, tty=True, targetContainerName="web")
    affinity = (
        # nodeAffinity 1 {required 1 {nodeSelectorTerms 1 [{matchExpressions 1 [{key 1, operator 2, values 3}]}]},
        #   preferred 2 [{weight 1, preference 2 {matchFields 2}}]}
        ln(1, ln(1, ln(1, ln(1, ln(1, "zone") + ln(2, "In") + ln(3, "a") + ln(3, "b"))))
              + ln(2, vi(1, 10) + ln(2, ln(2, ln(1, "metadata.name") + ln(2, "NotIn") + ln(3, "n1")))))
        # podAntiAffinity 3 {required 1 [{labelSelector 1, topologyKey 3}], preferred 2 [{weight 1, podAffinityTerm 2
        #   {labelSelector 1 {matchExpressions 2 [{key 1, operator 2}]}, namespaces 2, topologyKey 3, matchLabelKeys 5}}]}
        + ln(3, ln(1, ln(1, selector({"app": "web"})) + ln(3, "kubernetes.io/hostname"))
             + ln(2, vi(1, 50) + ln(2, ln(1, ln(2, ln(1, "tier") + ln(2, "Exists"))) + ln(2, "prod") + ln(3, "zone")
                                    + ln(5, "pod-template-hash")))))
    affinity_json = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]}]},
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 10, "preference": {"matchFields": [
                    {"key": "metadata.name", "operator": "NotIn", "values": ["n1"]}]}}]},
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}],
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 50, "podAffinityTerm": {"labelSelector": {"matchExpressions": [
                    {"key": "tier", "operator": "Exists"}]}, "namespaces": ["prod"], "topologyKey": "zone",
                    "matchLabelKeys": ["pod-template-hash"]}}]}}
    spec = (b"".join(ln(1, v) for v in volumes) + ln(20, init) + ln(2, web) + ln(2, side) + ln(34, debug)
            + ln(3, "Always") + vi(4, 0) + ln(6, "ClusterFirst") + entry(7, "disk", "ssd") + ln(8, "web")
            + ln(9, "web") + vi(21, False) + ln(10, "") + vi(11, False) + vi(12, False) + vi(13, False)
            # securityContext 14 {runAsUser 2*, runAsGroup 6*, fsGroup 5*, supplementalGroups 4, sysctls 7, fsGroupChangePolicy 9*}
            + ln(14, vi(2, 1000) + vi(6, 0) + vi(5, 2000) + vi(4, 1) + vi(4, 2) + ln(7, ln(1, "net.core.somaxconn")
                                                                                + ln(2, "1024"))
                 + ln(9, "OnRootMismatch"))
            + ln(15, ln(1, "regcred")) + ln(16, "web-0") + ln(17, "web") + ln(18, affinity) + ln(19, "default-scheduler")
            # tolerations 22 [{key 1, operator 2, value 3, effect 4, tolerationSeconds 5*}]
            + ln(22, ln(1, "node.kubernetes.io/not-ready") + ln(2, "Exists") + ln(3, "") + ln(4, "NoExecute") + vi(5, 300))
            + ln(22, ln(1, "node.kubernetes.io/unreachable") + ln(2, "Exists") + ln(3, "") + ln(4, "NoExecute")
                 + vi(5, 300))
            + ln(22, ln(1, "dedicated") + ln(2, "Equal") + ln(3, "gpu") + ln(4, "NoSchedule"))
            + ln(23, ln(1, "10.0.0.1") + ln(2, "db")) + ln(24, "high") + vi(25, 0)
            # dnsConfig 26 {nameservers 1, searches 2, options 3 [{name 1, value 2*}]}
            + ln(26, ln(1, "1.1.1.1") + ln(3, ln(1, "ndots") + ln(2, "2")) + ln(3, ln(1, "edns0")))
            + ln(28, ln(1, "example.com/ready")) + ln(29, "") + vi(30, False) + ln(31, "Never")
            + entry(32, "cpu", qty("10m"))
            # topologySpreadConstraints 33 [{maxSkew 1, topologyKey 2, whenUnsatisfiable 3, labelSelector 4,
            #   minDomains 5*, nodeAffinityPolicy 6*, matchLabelKeys 8}]
            + ln(33, vi(1, 1) + ln(2, "zone") + ln(3, "DoNotSchedule") + ln(4, selector({"app": "web"})) + vi(5, 2)
                 + ln(6, "Honor") + ln(8, "pod-template-hash"))
            + vi(35, False) + ln(36, ln(1, "linux")) + vi(37, False) + ln(38, ln(1, "gate"))
            # resourceClaims 39 [{name 1, resourceClaimName 3*, resourceClaimTemplateName 4*}]
            + ln(39, ln(1, "gpu") + ln(4, "gpu-template"))
            # resources 40 (pod-level)
            + ln(40, entry(1, "memory", qty("1Gi"))))
    spec_json = {
        "volumes": volumes_json, "initContainers": [init_json], "containers": [web_json, side_json],
        "ephemeralContainers": [debug_json], "restartPolicy": "Always", "terminationGracePeriodSeconds": 0,
        "dnsPolicy": "ClusterFirst", "nodeSelector": {"disk": "ssd"}, "serviceAccountName": "web",
        "serviceAccount": "web", "automountServiceAccountToken": False,
        "securityContext": {"runAsUser": 1000, "runAsGroup": 0, "fsGroup": 2000, "supplementalGroups": [1, 2],
                            "sysctls": [{"name": "net.core.somaxconn", "value": "1024"}],
                            "fsGroupChangePolicy": "OnRootMismatch"},
        "imagePullSecrets": [{"name": "regcred"}], "hostname": "web-0", "subdomain": "web", "affinity": affinity_json,
        "schedulerName": "default-scheduler",
        "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
                         "tolerationSeconds": 300},
                        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
                         "tolerationSeconds": 300},
                        {"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}],
        "hostAliases": [{"ip": "10.0.0.1", "hostnames": ["db"]}], "priorityClassName": "high", "priority": 0,
        "dnsConfig": {"nameservers": ["1.1.1.1"], "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]},
        "readinessGates": [{"conditionType": "example.com/ready"}], "runtimeClassName": "",
        "enableServiceLinks": False, "preemptionPolicy": "Never", "overhead": {"cpu": "10m"},
        "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
                                       "labelSelector": {"matchLabels": {"app": "web"}}, "minDomains": 2,
                                       "nodeAffinityPolicy": "Honor", "matchLabelKeys": ["pod-template-hash"]}],
        "setHostnameAsFQDN": False, "os": {"name": "linux"}, "hostUsers": False, "schedulingGates": [{"name": "gate"}],
        "resourceClaims": [{"name": "gpu", "resourceClaimTemplateName": "gpu-template"}],
        "resources": {"limits": {"memory": "1Gi"}}}
    # status: phase 1, conditions 2 [{type 1, status 2, lastProbeTime 3, lastTransitionTime 4}], hostIP 5, podIP 6,
    # startTime 7, containerStatuses 8, qosClass 9, podIPs 12, hostIPs 16
    cstatus = (ln(1, "web") + ln(2, ln(2, ln(1, time_(T0 + 50))))
               + ln(3, ln(3, vi(1, 137) + vi(2, 0) + ln(3, "OOMKilled") + ln(4, "") + ln(5, time_(T0)) + ln(6, time_(T0 + 40))
                          + ln(7, "containerd://abc")))
               + vi(4, True) + vi(5, 1) + ln(6, "nginx:1.27") + ln(7, "sha256:1") + ln(8, "containerd://def") + vi(9, True)
               + entry(10, "cpu", qty("100m")) + ln(13, ln(1, vi(1, 101) + vi(2, 101) + vi(3, 101))))
    status = (ln(1, "Running") + ln(2, ln(1, "Ready") + ln(2, "True") + ln(3, b"") + ln(4, time_(T0 + 100))
                                     + ln(5, "") + ln(6, ""))
              + ln(3, "") + ln(4, "") + ln(5, "10.0.0.5") + ln(6, "10.1.0.7") + ln(7, time_(T0)) + ln(8, cstatus)
              + ln(9, "Burstable") + ln(11, "") + ln(12, ln(1, "10.1.0.7")) + ln(14, "") + ln(16, ln(1, "10.0.0.5")))
    status_json = {
        "phase": "Running", "conditions": [{"type": "Ready", "status": "True",
                                            "lastTransitionTime": "2023-11-14T22:15:00Z"}],
        "hostIP": "10.0.0.5", "podIP": "10.1.0.7", "startTime": T0S,
        "containerStatuses": [{
            "name": "web", "state": {"running": {"startedAt": "2023-11-14T22:14:10Z"}},
            "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled", "startedAt": T0S,
                                         "finishedAt": "2023-11-14T22:14:00Z", "containerID": "containerd://abc"}},
            "ready": True, "restartCount": 1, "image": "nginx:1.27", "imageID": "sha256:1",
            "containerID": "containerd://def", "started": True, "allocatedResources": {"cpu": "100m"},
            "user": {"linux": {"uid": 101, "gid": 101, "supplementalGroups": [101]}}}],
        "qosClass": "Burstable", "podIPs": [{"ip": "10.1.0.7"}], "hostIPs": [{"ip": "10.0.0.5"}]}
    md_json = {**_meta_json(name, namespace, rv, labels), "annotations": {"note": "x"},
               "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "uid": "u2",
                                    "controller": True, "blockOwnerDeletion": False}],
               "finalizers": ["example.com/f"], "deletionGracePeriodSeconds": 0,
               "managedFields": [{"manager": "kubectl", "operation": "Update", "apiVersion": "v1", "time": T0S,
                                  "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:labels": {}}}}]}
    return (ln(1, md) + ln(2, spec) + ln(3, status), {"metadata": md_json, "spec": spec_json, "status": status_json})


def simple_pod_spec() -> tuple[bytes, dict[str, Any]]:
    """A PodSpec a workload template carries: one container, restartPolicy 3, dnsPolicy 6."""
    spec = ln(2, container("c", "busybox:1.36")) + ln(3, "Always") + vi(4, 30) + ln(6, "ClusterFirst")
    return spec, {"containers": [container_json("c", "busybox:1.36")], "restartPolicy": "Always",
                  "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst"}


def namespace(name: str = "team-a", ns: str = "", rv: str = "") -> Golden:
    # Namespace: metadata 1, spec 2 {finalizers 1}, status 3 {phase 1}
    raw = ln(1, meta(name, rv=rv)) + ln(2, ln(1, "kubernetes")) + ln(3, ln(1, "Active"))
    return raw, {"metadata": _meta_json(name, "", rv), "spec": {"finalizers": ["kubernetes"]},
                 "status": {"phase": "Active"}}


def configmap(name: str = "cfg", ns: str = "prod", rv: str = "") -> Golden:
    # ConfigMap: metadata 1, data 2 (map), binaryData 3 (map<string, bytes>), immutable 4*
    raw = ln(1, meta(name, ns, rv=rv)) + entry(2, "a", "1") + entry(3, "bin", b"\x00\xff") + vi(4, False)
    return raw, {"metadata": _meta_json(name, ns, rv), "data": {"a": "1"}, "binaryData": {"bin": "AP8="},
                 "immutable": False}


def secret(name: str = "tls", ns: str = "prod", rv: str = "") -> Golden:
    # Secret: metadata 1, data 2 (bytes), type 3, stringData 4, immutable 5*
    raw = ln(1, meta(name, ns, rv=rv)) + entry(2, "pw", b"hunter2") + ln(3, "Opaque") + entry(4, "user", "me")
    return raw, {"metadata": _meta_json(name, ns, rv), "data": {"pw": "aHVudGVyMg=="}, "type": "Opaque",
                 "stringData": {"user": "me"}}


def service(name: str = "web", ns: str = "prod", rv: str = "") -> Golden:
    # ServiceSpec: ports 1 [{name 1, protocol 2, port 3, targetPort 4, nodePort 5, appProtocol 6*}], selector 2,
    # clusterIP 3, type 4, externalIPs 5, sessionAffinity 7, loadBalancerIP 8, externalName 10,
    # externalTrafficPolicy 11, healthCheckNodePort 12, publishNotReadyAddresses 13, sessionAffinityConfig 14
    # {clientIP 1 {timeoutSeconds 1*}}, ipFamilyPolicy 17*, clusterIPs 18, ipFamilies 19,
    # allocateLoadBalancerNodePorts 20*, internalTrafficPolicy 22*, trafficDistribution 23*
    ports = (ln(1, ln(1, "http") + ln(2, "TCP") + vi(3, 80) + ln(4, int_or_str("http")) + vi(5, 30080) + ln(6, "http"))
             + ln(1, ln(1, "dns") + ln(2, "UDP") + vi(3, 53) + ln(4, int_or_str(5353)) + vi(5, 0)))
    spec = (ports + entry(2, "app", "web") + ln(3, "10.96.0.10") + ln(4, "LoadBalancer") + ln(7, "ClientIP")
            + ln(8, "") + ln(10, "") + ln(11, "Local") + vi(12, 32000) + vi(13, False)
            + ln(14, ln(1, vi(1, 600))) + ln(17, "SingleStack") + ln(18, "10.96.0.10") + ln(19, "IPv4")
            + vi(20, False) + ln(22, "Cluster") + ln(23, "PreferClose"))
    # ServiceStatus: loadBalancer 1 {ingress 1 [{ip 1, hostname 2, ipMode 3*, ports 4 [{port 1, protocol 2, error 3*}]}]},
    # conditions 2 (meta Condition: type 1, status 2, observedGeneration 3, lastTransitionTime 4, reason 5, message 6)
    status = (ln(1, ln(1, ln(1, "203.0.113.9") + ln(2, "") + ln(3, "VIP") + ln(4, vi(1, 80) + ln(2, "TCP"))))
              + ln(2, ln(1, "Ready") + ln(2, "True") + vi(3, 0) + ln(4, time_(T0)) + ln(5, "Ok") + ln(6, "")))
    raw = ln(1, meta(name, ns, rv=rv)) + ln(2, spec) + ln(3, status)
    return raw, {"metadata": _meta_json(name, ns, rv), "spec": {
        "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": "http", "nodePort": 30080,
                   "appProtocol": "http"},
                  {"name": "dns", "protocol": "UDP", "port": 53, "targetPort": 5353}],
        "selector": {"app": "web"}, "clusterIP": "10.96.0.10", "type": "LoadBalancer", "sessionAffinity": "ClientIP",
        "externalTrafficPolicy": "Local", "healthCheckNodePort": 32000,
        "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 600}}, "ipFamilyPolicy": "SingleStack",
        "clusterIPs": ["10.96.0.10"], "ipFamilies": ["IPv4"], "allocateLoadBalancerNodePorts": False,
        "internalTrafficPolicy": "Cluster", "trafficDistribution": "PreferClose"},
        "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.9", "ipMode": "VIP",
                                                 "ports": [{"port": 80, "protocol": "TCP"}]}]},
                   "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": T0S, "reason": "Ok",
                                   "message": ""}]}}  # message has no omitempty, observedGeneration has


def service_account(name: str = "builder", ns: str = "prod", rv: str = "") -> Golden:
    # ServiceAccount: metadata 1, secrets 2 (ObjectReference: kind 1, namespace 2, name 3, uid 4, apiVersion 5,
    # resourceVersion 6, fieldPath 7), imagePullSecrets 3, automountServiceAccountToken 4*
    raw = ln(1, meta(name, ns, rv=rv)) + ln(2, ln(3, "tok")) + ln(3, ln(1, "regcred")) + vi(4, False)
    return raw, {"metadata": _meta_json(name, ns, rv), "secrets": [{"name": "tok"}],
                 "imagePullSecrets": [{"name": "regcred"}], "automountServiceAccountToken": False}


def node(name: str = "node-1", ns: str = "", rv: str = "", labels: dict[str, str] | None = None) -> Golden:
    labels = labels or {"kubernetes.io/hostname": name}
    # NodeSpec: podCIDR 1, externalID 2, providerID 3, unschedulable 4, taints 5 [{key 1, value 2, effect 3,
    # timeAdded 4*}], podCIDRs 7
    spec = (ln(1, "10.244.1.0/24") + ln(2, "") + ln(3, "kind://node-1") + vi(4, True)
            + ln(5, ln(1, "node.kubernetes.io/unschedulable") + ln(2, "") + ln(3, "NoSchedule") + ln(4, time_(T0)))
            + ln(7, "10.244.1.0/24"))
    # NodeStatus: capacity 1, allocatable 2, phase 3, conditions 4 [{type 1, status 2, lastHeartbeatTime 3,
    # lastTransitionTime 4, reason 5, message 6}], addresses 5 [{type 1, address 2}], daemonEndpoints 6
    # {kubeletEndpoint 1 {Port 1}}, nodeInfo 7 {machineID 1 ... architecture 10}, images 8 [{names 1, sizeBytes 2}],
    # volumesInUse 9, volumesAttached 10 [{name 1, devicePath 2}], config 11, runtimeHandlers 12 [{name 1,
    # features 2 {recursiveReadOnlyMounts 1*, userNamespaces 2*}}], features 13 {supplementalGroupsPolicy 1*}
    info = b"".join(ln(i, v) for i, v in enumerate(["m", "s", "b", "6.1", "Debian", "containerd://2", "v1.32.0",
                                                   "", "linux", "amd64"], start=1))
    status = (entry(1, "cpu", qty("4")) + entry(1, "pods", qty("110")) + entry(2, "cpu", qty("3900m"))
              + ln(3, "") + ln(4, ln(1, "Ready") + ln(2, "True") + ln(3, time_(T0)) + ln(4, time_(T0)) + ln(5, "KubeletReady")
                               + ln(6, "kubelet is posting ready status"))
              + ln(5, ln(1, "InternalIP") + ln(2, "172.18.0.2")) + ln(6, ln(1, vi(1, 10250))) + ln(7, info)
              + ln(8, ln(1, "nginx:1.27") + vi(2, 70000000)) + ln(9, "kubernetes.io/csi/d^v1")
              + ln(10, ln(1, "kubernetes.io/csi/d^v1") + ln(2, "")) + ln(12, ln(1, "") + ln(2, vi(1, True) + vi(2, False)))
              + ln(13, vi(1, True)))
    raw = ln(1, meta(name, rv=rv, labels=labels)) + ln(2, spec) + ln(3, status)
    return raw, {"metadata": _meta_json(name, "", rv, labels), "spec": {
        "podCIDR": "10.244.1.0/24", "providerID": "kind://node-1", "unschedulable": True,
        "taints": [{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule", "timeAdded": T0S}],
        "podCIDRs": ["10.244.1.0/24"]},
        "status": {
            "capacity": {"cpu": "4", "pods": "110"}, "allocatable": {"cpu": "3900m"},
            "conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": T0S, "lastTransitionTime": T0S,
                            "reason": "KubeletReady", "message": "kubelet is posting ready status"}],
            "addresses": [{"type": "InternalIP", "address": "172.18.0.2"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {"machineID": "m", "systemUUID": "s", "bootID": "b", "kernelVersion": "6.1",
                         "osImage": "Debian", "containerRuntimeVersion": "containerd://2", "kubeletVersion": "v1.32.0",
                         "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64"},
            "images": [{"names": ["nginx:1.27"], "sizeBytes": 70000000}], "volumesInUse": ["kubernetes.io/csi/d^v1"],
            "volumesAttached": [{"name": "kubernetes.io/csi/d^v1", "devicePath": ""}],
            "runtimeHandlers": [{"features": {"recursiveReadOnlyMounts": True, "userNamespaces": False}}],
            "features": {"supplementalGroupsPolicy": True}}}


def event(name: str = "web-0.1", ns: str = "prod", rv: str = "") -> Golden:
    # core/v1 Event: metadata 1, involvedObject 2, reason 3, message 4, source 5 {component 1, host 2},
    # firstTimestamp 6, lastTimestamp 7, count 8, type 9, eventTime 10 (MicroTime), series 11 {count 1,
    # lastObservedTime 2}, action 12, related 13, reportingComponent 14, reportingInstance 15
    raw = (ln(1, meta(name, ns, rv=rv)) + ln(2, ln(1, "Pod") + ln(2, ns) + ln(3, "web-0") + ln(4, "u1") + ln(5, "v1"))
           + ln(3, "Started") + ln(4, "Started container web") + ln(5, ln(1, "kubelet") + ln(2, "node-1"))
           + ln(6, time_(T0)) + ln(7, time_(T0 + 60)) + vi(8, 2) + ln(9, "Normal") + ln(10, time_(T0, 5_000_000))
           + ln(11, vi(1, 2) + ln(2, time_(T0 + 60, 999_999_999))) + ln(12, "") + ln(14, "kubelet") + ln(15, "node-1"))
    return raw, {"metadata": _meta_json(name, ns, rv),
                 "involvedObject": {"kind": "Pod", "namespace": ns, "name": "web-0", "uid": "u1", "apiVersion": "v1"},
                 "reason": "Started", "message": "Started container web",
                 "source": {"component": "kubelet", "host": "node-1"}, "firstTimestamp": T0S,
                 "lastTimestamp": "2023-11-14T22:14:20Z", "count": 2, "type": "Normal",
                 "eventTime": "2023-11-14T22:13:20.005000Z",
                 "series": {"count": 2, "lastObservedTime": "2023-11-14T22:14:20.999999Z"},
                 "reportingComponent": "kubelet", "reportingInstance": "node-1"}


def endpoints(name: str = "web", ns: str = "prod", rv: str = "") -> Golden:
    # Endpoints: subsets 2 [{addresses 1 [{ip 1, targetRef 2, hostname 3, nodeName 4*}], notReadyAddresses 2,
    # ports 3 [{name 1, port 2, protocol 3, appProtocol 4*}]}]
    subset = (ln(1, ln(1, "10.1.0.7") + ln(2, ln(1, "Pod") + ln(3, "web-0")) + ln(3, "") + ln(4, "node-1"))
              + ln(2, ln(1, "10.1.0.8") + ln(3, "")) + ln(3, ln(1, "http") + vi(2, 80) + ln(3, "TCP")))
    return ln(1, meta(name, ns, rv=rv)) + ln(2, subset), {"metadata": _meta_json(name, ns, rv), "subsets": [{
        "addresses": [{"ip": "10.1.0.7", "targetRef": {"kind": "Pod", "name": "web-0"}, "nodeName": "node-1"}],
        "notReadyAddresses": [{"ip": "10.1.0.8"}], "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}]}


def pvc(name: str = "data", ns: str = "prod", rv: str = "") -> Golden:
    # PersistentVolumeClaimSpec: accessModes 1, resources 2 {limits 1, requests 2}, volumeName 3, selector 4,
    # storageClassName 5*, volumeMode 6*, dataSource 7 {apiGroup 1*, kind 2, name 3}, dataSourceRef 8 {+namespace 4*},
    # volumeAttributesClassName 9*
    spec = (ln(1, "ReadWriteOnce") + ln(2, entry(2, "storage", qty("10Gi"))) + ln(3, "") + ln(4, selector({"tier": "db"}))
            + ln(5, "fast") + ln(6, "Filesystem") + ln(7, ln(2, "PersistentVolumeClaim") + ln(3, "src"))
            + ln(8, ln(1, "snapshot.storage.k8s.io") + ln(2, "VolumeSnapshot") + ln(3, "snap")))
    # status: phase 1, accessModes 2, capacity 3, conditions 4, allocatedResources 5, allocatedResourceStatuses 7,
    # currentVolumeAttributesClassName 8*, modifyVolumeStatus 9 {targetVolumeAttributesClassName 1, status 2}
    status = (ln(1, "Bound") + ln(2, "ReadWriteOnce") + entry(3, "storage", qty("10Gi"))
              + entry(7, "storage", "ControllerResizeInProgress") + ln(9, ln(1, "gold") + ln(2, "InProgress")))
    return ln(1, meta(name, ns, rv=rv)) + ln(2, spec) + ln(3, status), {
        "metadata": _meta_json(name, ns, rv),
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}},
                 "selector": {"matchLabels": {"tier": "db"}}, "storageClassName": "fast", "volumeMode": "Filesystem",
                 "dataSource": {"kind": "PersistentVolumeClaim", "name": "src"},
                 "dataSourceRef": {"apiGroup": "snapshot.storage.k8s.io", "kind": "VolumeSnapshot", "name": "snap"}},
        "status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "10Gi"},
                   "allocatedResourceStatuses": {"storage": "ControllerResizeInProgress"},
                   "modifyVolumeStatus": {"targetVolumeAttributesClassName": "gold", "status": "InProgress"}}}


def replication_controller(name: str = "rc", ns: str = "prod", rv: str = "") -> Golden:
    # ReplicationControllerSpec: replicas 1*, selector 2 (map), template 3, minReadySeconds 4
    pod_spec, pod_spec_json = simple_pod_spec()
    spec = vi(1, 0) + entry(2, "app", "rc") + ln(3, template({"app": "rc"}, pod_spec)) + vi(4, 0)
    # status: replicas 1, fullyLabeledReplicas 2, observedGeneration 3, readyReplicas 4, availableReplicas 5, conditions 6
    status = vi(1, 0) + vi(2, 0) + vi(3, 1) + vi(4, 0) + vi(5, 0)
    return ln(1, meta(name, ns, rv=rv)) + ln(2, spec) + ln(3, status), {
        "metadata": _meta_json(name, ns, rv),
        "spec": {"replicas": 0, "selector": {"app": "rc"},
                 "template": {"metadata": {"labels": {"app": "rc"}}, "spec": pod_spec_json}},
        "status": {"replicas": 0, "observedGeneration": 1}}


def limit_range(name: str = "limits", ns: str = "prod", rv: str = "") -> Golden:
    # LimitRange: spec 2 {limits 1 [{type 1, max 2, min 3, default 4, defaultRequest 5, maxLimitRequestRatio 6}]}
    item = (ln(1, "Container") + entry(2, "cpu", qty("2")) + entry(3, "cpu", qty("10m")) + entry(4, "cpu", qty("500m"))
            + entry(5, "cpu", qty("100m")) + entry(6, "cpu", qty("4")))
    return ln(1, meta(name, ns, rv=rv)) + ln(2, ln(1, item)), {"metadata": _meta_json(name, ns, rv), "spec": {"limits": [{
        "type": "Container", "max": {"cpu": "2"}, "min": {"cpu": "10m"}, "default": {"cpu": "500m"},
        "defaultRequest": {"cpu": "100m"}, "maxLimitRequestRatio": {"cpu": "4"}}]}}


def resource_quota(name: str = "quota", ns: str = "prod", rv: str = "") -> Golden:
    # ResourceQuotaSpec: hard 1, scopes 2, scopeSelector 3 {matchExpressions 1 [{scopeName 1, operator 2, values 3}]}
    # status: hard 1, used 2
    spec = (entry(1, "pods", qty("10")) + ln(2, "NotTerminating")
            + ln(3, ln(1, ln(1, "PriorityClass") + ln(2, "In") + ln(3, "high"))))
    status = entry(1, "pods", qty("10")) + entry(2, "pods", qty("3"))
    return ln(1, meta(name, ns, rv=rv)) + ln(2, spec) + ln(3, status), {
        "metadata": _meta_json(name, ns, rv),
        "spec": {"hard": {"pods": "10"}, "scopes": ["NotTerminating"], "scopeSelector": {"matchExpressions": [
            {"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}]}},
        "status": {"hard": {"pods": "10"}, "used": {"pods": "3"}}}


def binding(name: str = "web-0", ns: str = "prod", rv: str = "") -> Golden:
    # Binding: metadata 1, target 2 (ObjectReference)
    raw = ln(1, meta(name, ns, rv=rv)) + ln(2, ln(1, "Node") + ln(2, "") + ln(3, "node-1") + ln(4, "") + ln(5, "v1"))
    return raw, {"metadata": _meta_json(name, ns, rv), "target": {"kind": "Node", "name": "node-1", "apiVersion": "v1"}}


# ------------------------------------------------------------------ apps/v1
def deployment(name: str = "web", ns: str = "prod", rv: str = "") -> Golden:
    # DeploymentSpec: replicas 1*, selector 2, template 3, strategy 4 {type 1, rollingUpdate 2 {maxUnavailable 1,
    # maxSurge 2}}, minReadySeconds 5, revisionHistoryLimit 6*, paused 7, progressDeadlineSeconds 9*
    pod_spec, pod_spec_json = simple_pod_spec()
    spec = (vi(1, 3) + ln(2, selector({"app": name})) + ln(3, template({"app": name}, pod_spec))
            + ln(4, ln(1, "RollingUpdate") + ln(2, ln(1, int_or_str(0)) + ln(2, int_or_str("25%"))))
            + vi(5, 0) + vi(6, 0) + vi(7, False) + vi(9, 600))
    # status: observedGeneration 1, replicas 2, updatedReplicas 3, availableReplicas 4, unavailableReplicas 5,
    # conditions 6 [{type 1, status 2, reason 4, message 5, lastUpdateTime 6, lastTransitionTime 7}], readyReplicas 7,
    # collisionCount 8*
    status = (vi(1, 1) + vi(2, 3) + vi(3, 3) + vi(4, 3) + vi(5, 0)
              + ln(6, ln(1, "Available") + ln(2, "True") + ln(4, "MinimumReplicasAvailable") + ln(5, "")
                   + ln(6, time_(T0)) + ln(7, time_(T0)))
              + vi(7, 3) + vi(8, 0))
    return ln(1, meta(name, ns, rv=rv)) + ln(2, spec) + ln(3, status), {
        "metadata": _meta_json(name, ns, rv),
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec_json},
                 "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}},
                 "revisionHistoryLimit": 0, "progressDeadlineSeconds": 600},
        "status": {"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3,
                   "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                                   "lastUpdateTime": T0S, "lastTransitionTime": T0S}],
                   "readyReplicas": 3, "collisionCount": 0}}


def replica_set(name: str = "web-7d4b", ns: str = "prod", rv: str = "") -> Golden:
    # ReplicaSetSpec: replicas 1*, selector 2, template 3, minReadySeconds 4; status: replicas 1, fullyLabeledReplicas 2,
    # observedGeneration 3, readyReplicas 4, availableReplicas 5, conditions 6 [{type 1, status 2, lastTransitionTime 3,
    # reason 4, message 5}]
    pod_spec, pod_spec_json = simple_pod_spec()
    spec = vi(1, 2) + ln(2, selector({"app": "web"})) + ln(3, template({"app": "web"}, pod_spec)) + vi(4, 5)
    status = (vi(1, 2) + vi(2, 2) + vi(3, 4) + vi(4, 1) + vi(5, 1)
              + ln(6, ln(1, "ReplicaFailure") + ln(2, "True") + ln(3, time_(T0)) + ln(4, "FailedCreate") + ln(5, "quota")))
    return ln(1, meta(name, ns, rv=rv)) + ln(2, spec) + ln(3, status), {
        "metadata": _meta_json(name, ns, rv),
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": pod_spec_json}, "minReadySeconds": 5},
        "status": {"replicas": 2, "fullyLabeledReplicas": 2, "observedGeneration": 4, "readyReplicas": 1,
                   "availableReplicas": 1, "conditions": [{"type": "ReplicaFailure", "status": "True",
                                                           "lastTransitionTime": T0S, "reason": "FailedCreate",
                                                           "message": "quota"}]}}


def stateful_set(name: str = "db", ns: str = "prod", rv: str = "", replicas: int = 3) -> Golden:
    # StatefulSetSpec: replicas 1*, selector 2, template 3, volumeClaimTemplates 4 (PersistentVolumeClaim),
    # serviceName 5, podManagementPolicy 6, updateStrategy 7 {type 1, rollingUpdate 2 {partition 1*, maxUnavailable 2}},
    # revisionHistoryLimit 8*, minReadySeconds 9, persistentVolumeClaimRetentionPolicy 10 {whenDeleted 1, whenScaled 2},
    # ordinals 11 {start 1}
    pod_spec, pod_spec_json = simple_pod_spec()
    claim = ln(1, meta("data")) + ln(2, ln(1, "ReadWriteOnce") + ln(2, entry(2, "storage", qty("1Gi"))))
    spec = (vi(1, replicas) + ln(2, selector({"app": name})) + ln(3, template({"app": name}, pod_spec)) + ln(4, claim)
            + ln(5, name) + ln(6, "Parallel") + ln(7, ln(1, "RollingUpdate") + ln(2, vi(1, 0) + ln(2, int_or_str(1))))
            + vi(8, 10) + vi(9, 0) + ln(10, ln(1, "Delete") + ln(2, "Retain")) + ln(11, vi(1, 0)))
    # status: observedGeneration 1, replicas 2, readyReplicas 3, currentReplicas 4, updatedReplicas 5,
    # currentRevision 6, updateRevision 7, collisionCount 9*, conditions 10, availableReplicas 11
    status = (vi(1, 1) + vi(2, 3) + vi(3, 3) + vi(4, 3) + vi(5, 3) + ln(6, f"{name}-abc") + ln(7, f"{name}-abc")
              + vi(9, 0) + vi(11, 3))
    return ln(1, meta(name, ns, rv=rv)) + ln(2, spec) + ln(3, status), {
        "metadata": _meta_json(name, ns, rv),
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec_json},
                 "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                     "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}],
                 "serviceName": name, "podManagementPolicy": "Parallel",
                 "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0, "maxUnavailable": 1}},
                 "revisionHistoryLimit": 10,
                 "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete", "whenScaled": "Retain"},
                 "ordinals": {}},
        "status": {"observedGeneration": 1, "replicas": 3, "readyReplicas": 3, "currentReplicas": 3,
                   "updatedReplicas": 3, "currentRevision": f"{name}-abc", "updateRevision": f"{name}-abc",
                   "collisionCount": 0, "availableReplicas": 3}}


def daemon_set(name: str = "agent", ns: str = "kube-system", rv: str = "", max_unavailable: int | str = 1) -> Golden:
    # DaemonSetSpec: selector 1, template 2, updateStrategy 3 {type 1, rollingUpdate 2 {maxUnavailable 1, maxSurge 2}},
    # minReadySeconds 4, revisionHistoryLimit 6*
    pod_spec, pod_spec_json = simple_pod_spec()
    tolerate = ln(22, ln(1, "") + ln(2, "Exists") + ln(3, "") + ln(4, ""))
    spec = (ln(1, selector({"app": name})) + ln(2, template({"app": name}, pod_spec + tolerate))
            + ln(3, ln(1, "RollingUpdate") + ln(2, ln(1, int_or_str(max_unavailable)) + ln(2, int_or_str(0))))
            + vi(4, 0) + vi(6, 10))
    # status: currentNumberScheduled 1, numberMisscheduled 2, desiredNumberScheduled 3, numberReady 4,
    # observedGeneration 5, updatedNumberScheduled 6, numberAvailable 7, numberUnavailable 8, collisionCount 9*,
    # conditions 10
    status = vi(1, 2) + vi(2, 0) + vi(3, 2) + vi(4, 2) + vi(5, 1) + vi(6, 2) + vi(7, 2) + vi(8, 0)
    return ln(1, meta(name, ns, rv=rv)) + ln(2, spec) + ln(3, status), {
        "metadata": _meta_json(name, ns, rv),
        "spec": {"selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {**pod_spec_json, "tolerations": [{"operator": "Exists"}]}},
                 "updateStrategy": {"type": "RollingUpdate",
                                    "rollingUpdate": {"maxUnavailable": max_unavailable, "maxSurge": 0}},
                 "revisionHistoryLimit": 10},
        "status": {"currentNumberScheduled": 2, "numberMisscheduled": 0, "desiredNumberScheduled": 2, "numberReady": 2,
                   "observedGeneration": 1, "updatedNumberScheduled": 2, "numberAvailable": 2}}


def controller_revision(name: str = "db-abc", ns: str = "prod", rv: str = "") -> Golden:
    # ControllerRevision: metadata 1, data 2 (RawExtension: raw 1, JSON), revision 3
    data = b'{"spec":{"template":{"$patch":"replace","spec":{"containers":[{"name":"c"}]}}}}'
    return ln(1, meta(name, ns, rv=rv)) + ln(2, ln(1, data)) + vi(3, 2), {
        "metadata": _meta_json(name, ns, rv), "revision": 2,
        "data": {"spec": {"template": {"$patch": "replace", "spec": {"containers": [{"name": "c"}]}}}}}


# ------------------------------------------------------------------ batch/v1
def job_spec() -> tuple[bytes, dict[str, Any]]:
    # JobSpec: parallelism 1*, completions 2*, activeDeadlineSeconds 3*, selector 4, manualSelector 5*, template 6,
    # backoffLimit 7*, ttlSecondsAfterFinished 8*, completionMode 9*, suspend 10*, podFailurePolicy 11 {rules 1
    # [{action 1, onExitCodes 2 {containerName 1*, operator 2, values 3}, onPodConditions 3 [{type 1, status 2}]}]},
    # backoffLimitPerIndex 12*, maxFailedIndexes 13*, podReplacementPolicy 14*, managedBy 15*, successPolicy 16
    # {rules 1 [{succeededIndexes 1*, succeededCount 2*}]}
    pod_spec, pod_spec_json = simple_pod_spec()
    never = pod_spec.replace(ln(3, "Always"), ln(3, "Never"))
    spec = (vi(1, 2) + vi(2, 4) + vi(3, 600) + ln(6, template({"job": "x"}, never)) + vi(7, 0) + vi(8, 0)
            + ln(9, "Indexed") + vi(10, False)
            + ln(11, ln(1, ln(1, "FailJob") + ln(2, ln(1, "c") + ln(2, "In") + vi(3, 42) + vi(3, 43)))
                 + ln(1, ln(1, "Ignore") + ln(3, ln(1, "DisruptionTarget") + ln(2, "True"))))
            + vi(12, 1) + vi(13, 2) + ln(14, "Failed") + ln(16, ln(1, ln(1, "0-1") + vi(2, 1))))
    return spec, {"parallelism": 2, "completions": 4, "activeDeadlineSeconds": 600,
                  "template": {"metadata": {"labels": {"job": "x"}}, "spec": {**pod_spec_json, "restartPolicy": "Never"}},
                  "backoffLimit": 0, "ttlSecondsAfterFinished": 0, "completionMode": "Indexed", "suspend": False,
                  "podFailurePolicy": {"rules": [
                      {"action": "FailJob", "onExitCodes": {"containerName": "c", "operator": "In", "values": [42, 43]}},
                      {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}]},
                  "backoffLimitPerIndex": 1, "maxFailedIndexes": 2, "podReplacementPolicy": "Failed",
                  "successPolicy": {"rules": [{"succeededIndexes": "0-1", "succeededCount": 1}]}}


def job(name: str = "batch-1", ns: str = "prod", rv: str = "") -> Golden:
    spec, spec_json = job_spec()
    # JobStatus: conditions 1 [{type 1, status 2, lastProbeTime 3, lastTransitionTime 4, reason 5, message 6}],
    # startTime 2, completionTime 3, active 4, succeeded 5, failed 6, completedIndexes 7, uncountedTerminatedPods 8
    # {succeeded 1, failed 2}, ready 9*, failedIndexes 10*, terminating 11*
    status = (ln(2, time_(T0)) + vi(4, 1) + vi(5, 1) + vi(6, 0) + ln(7, "0") + ln(8, ln(1, "u-9")) + vi(9, 0)
              + ln(10, "") + vi(11, 0))
    return ln(1, meta(name, ns, rv=rv)) + ln(2, spec) + ln(3, status), {
        "metadata": _meta_json(name, ns, rv), "spec": spec_json,
        "status": {"startTime": T0S, "active": 1, "succeeded": 1, "completedIndexes": "0",
                   "uncountedTerminatedPods": {"succeeded": ["u-9"]}, "ready": 0, "failedIndexes": "",
                   "terminating": 0}}


def cron_job(name: str = "nightly", ns: str = "prod", rv: str = "") -> Golden:
    # CronJobSpec: schedule 1, startingDeadlineSeconds 2*, concurrencyPolicy 3, suspend 4*, jobTemplate 5
    # {metadata 1, spec 2}, successfulJobsHistoryLimit 6*, failedJobsHistoryLimit 7*, timeZone 8*
    # status: active 1 (ObjectReference), lastScheduleTime 4, lastSuccessfulTime 5
    spec, spec_json = job_spec()
    cron = (ln(1, "0 3 * * *") + vi(2, 0) + ln(3, "Forbid") + vi(4, True) + ln(5, ln(1, meta("", labels={"j": "n"}))
                                                                               + ln(2, spec))
            + vi(6, 0) + vi(7, 1) + ln(8, "Etc/UTC"))
    status = ln(1, ln(1, "Job") + ln(3, "nightly-1")) + ln(4, time_(T0))
    return ln(1, meta(name, ns, rv=rv)) + ln(2, cron) + ln(3, status), {
        "metadata": _meta_json(name, ns, rv),
        "spec": {"schedule": "0 3 * * *", "startingDeadlineSeconds": 0, "concurrencyPolicy": "Forbid", "suspend": True,
                 "jobTemplate": {"metadata": {"labels": {"j": "n"}}, "spec": spec_json},
                 "successfulJobsHistoryLimit": 0, "failedJobsHistoryLimit": 1, "timeZone": "Etc/UTC"},
        "status": {"active": [{"kind": "Job", "name": "nightly-1"}], "lastScheduleTime": T0S}}


# ------------------------------------------------------------------ other groups
def lease(name: str = "node-1", ns: str = "kube-node-lease", rv: str = "", holder: str = "node-1") -> Golden:
    # LeaseSpec: holderIdentity 1*, leaseDurationSeconds 2*, acquireTime 3 (MicroTime), renewTime 4, leaseTransitions 5*,
    # strategy 6*, preferredHolder 7*
    spec = (ln(1, holder) + vi(2, 40) + ln(3, time_(T0, 250_000_000)) + ln(4, time_(T0 + 10, 1_000)) + vi(5, 0)
            + ln(6, "OldestEmulationVersion") + ln(7, ""))
    return ln(1, meta(name, ns, rv=rv)) + ln(2, spec), {
        "metadata": _meta_json(name, ns, rv),
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": 40, "acquireTime": "2023-11-14T22:13:20.250000Z",
                 "renewTime": "2023-11-14T22:13:30.000001Z", "leaseTransitions": 0,
                 "strategy": "OldestEmulationVersion", "preferredHolder": ""}}


def priority_class(name: str = "gold", ns: str = "", rv: str = "") -> Golden:
    # PriorityClass: metadata 1, value 2, globalDefault 3, description 4, preemptionPolicy 5*
    return ln(1, meta(name, ns, rv=rv)) + vi(2, 1000) + vi(3, False) + ln(4, "") + ln(5, "Never"), {
        "metadata": _meta_json(name, ns, rv), "value": 1000, "preemptionPolicy": "Never"}


def pod_disruption_budget(name: str = "web", ns: str = "prod", rv: str = "") -> Golden:
    # PodDisruptionBudget: metadata 1, spec 2 {minAvailable 1, selector 2, maxUnavailable 3,
    # unhealthyPodEvictionPolicy 4*}, status 3 {observedGeneration 1, disruptedPods 2 (map of Time),
    # disruptionsAllowed 3, currentHealthy 4, desiredHealthy 5, expectedPods 6, conditions 7}
    spec = ln(1, int_or_str("50%")) + ln(2, selector({"app": "web"})) + ln(4, "AlwaysAllow")
    cond = ln(1, "DisruptionAllowed") + ln(2, "True") + vi(3, 2) + ln(4, time_(T0)) + ln(5, "SufficientPods") + ln(6, "")
    status = (vi(1, 2) + entry(2, "web-0", time_(T0)) + vi(3, 1) + vi(4, 3) + vi(5, 2) + vi(6, 3) + ln(7, cond))
    return ln(1, meta(name, ns, rv=rv)) + ln(2, spec) + ln(3, status), {
        "metadata": _meta_json(name, ns, rv),
        "spec": {"minAvailable": "50%", "selector": {"matchLabels": {"app": "web"}},
                 "unhealthyPodEvictionPolicy": "AlwaysAllow"},
        "status": {"observedGeneration": 2, "disruptedPods": {"web-0": T0S}, "disruptionsAllowed": 1,
                   "currentHealthy": 3, "desiredHealthy": 2, "expectedPods": 3,
                   "conditions": [{"type": "DisruptionAllowed", "status": "True", "observedGeneration": 2,
                                   "lastTransitionTime": T0S, "reason": "SufficientPods", "message": ""}]}}


def endpoint_slice(name: str = "web-abc", ns: str = "prod", rv: str = "", ready: bool = True) -> Golden:
    # EndpointSlice: metadata 1, endpoints 2 [{addresses 1, conditions 2 {ready 1*, serving 2*, terminating 3*},
    # hostname 3*, targetRef 4, deprecatedTopology 5, nodeName 6*, zone 7*, hints 8 {forZones 1 [{name 1}]}}],
    # ports 3 [{name 1*, protocol 2*, port 3*, appProtocol 4*}], addressType 4
    ep = (ln(1, "10.1.0.7") + ln(2, vi(1, ready) + vi(2, ready) + vi(3, False)) + ln(4, ln(1, "Pod") + ln(3, "web-0"))
          + ln(6, "node-1") + ln(7, "zone-a") + ln(8, ln(1, ln(1, "zone-a"))))
    raw = (ln(1, meta(name, ns, rv=rv, labels={"kubernetes.io/service-name": "web"})) + ln(2, ep)
           + ln(3, ln(1, "") + ln(2, "TCP") + vi(3, 80)) + ln(4, "IPv4"))
    return raw, {"metadata": _meta_json(name, ns, rv, {"kubernetes.io/service-name": "web"}), "addressType": "IPv4",
                 "endpoints": [{"addresses": ["10.1.0.7"],
                                "conditions": {"ready": ready, "serving": ready, "terminating": False},
                                "targetRef": {"kind": "Pod", "name": "web-0"}, "nodeName": "node-1", "zone": "zone-a",
                                "hints": {"forZones": [{"name": "zone-a"}]}}],
                 "ports": [{"name": "", "protocol": "TCP", "port": 80}]}


def events_event(name: str = "web-0.2", ns: str = "prod", rv: str = "") -> Golden:
    # events.k8s.io/v1 Event: metadata 1, eventTime 2 (MicroTime), series 3, reportingController 4,
    # reportingInstance 5, action 6, reason 7, regarding 8, related 9, note 10, type 11, deprecatedSource 12,
    # deprecatedFirstTimestamp 13, deprecatedLastTimestamp 14, deprecatedCount 15
    raw = (ln(1, meta(name, ns, rv=rv)) + ln(2, time_(T0, 123_000)) + ln(4, "kubelet") + ln(5, "node-1")
           + ln(6, "Pulling") + ln(7, "Pulling") + ln(8, ln(1, "Pod") + ln(2, ns) + ln(3, "web-0")) + ln(10, "pulling image")
           + ln(11, "Normal") + ln(12, b"") + ln(13, b"") + ln(14, b"") + vi(15, 0))
    return raw, {"metadata": _meta_json(name, ns, rv), "eventTime": "2023-11-14T22:13:20.000123Z",
                 "reportingController": "kubelet", "reportingInstance": "node-1", "action": "Pulling",
                 "reason": "Pulling", "regarding": {"kind": "Pod", "namespace": ns, "name": "web-0"},
                 "note": "pulling image", "type": "Normal", "deprecatedSource": {}}


def _rule(verbs: list[str], groups: list[str], resources: list[str]) -> bytes:
    """rbac PolicyRule: verbs 1, apiGroups 2, resources 3, resourceNames 4, nonResourceURLs 5."""
    return b"".join(ln(1, v) for v in verbs) + b"".join(ln(2, g) for g in groups) + b"".join(ln(3, r) for r in resources)


def role(name: str = "reader", ns: str = "prod", rv: str = "") -> Golden:
    raw = ln(1, meta(name, ns, rv=rv)) + ln(2, _rule(["get", "list"], [""], ["pods"]) + ln(4, "web-0"))
    return raw, {"metadata": _meta_json(name, ns, rv), "rules": [
        {"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["web-0"]}]}


def cluster_role(name: str = "agg", ns: str = "", rv: str = "") -> Golden:
    # ClusterRole: rules 2, aggregationRule 3 {clusterRoleSelectors 1}
    raw = (ln(1, meta(name, rv=rv)) + ln(2, ln(1, "get") + ln(5, "/healthz"))
           + ln(3, ln(1, selector({"rbac.example.com/aggregate": "true"}))))
    return raw, {"metadata": _meta_json(name, "", rv), "rules": [{"verbs": ["get"], "nonResourceURLs": ["/healthz"]}],
                 "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"rbac.example.com/aggregate": "true"}}]}}


def _binding(name: str, ns: str, rv: str, role_kind: str) -> Golden:
    # RoleBinding / ClusterRoleBinding: subjects 2 [{kind 1, apiGroup 2, name 3, namespace 4}], roleRef 3
    # {apiGroup 1, kind 2, name 3}
    raw = (ln(1, meta(name, ns, rv=rv)) + ln(2, ln(1, "User") + ln(2, "rbac.authorization.k8s.io") + ln(3, "alice") + ln(4, ""))
           + ln(2, ln(1, "ServiceAccount") + ln(2, "") + ln(3, "builder") + ln(4, "prod"))
           + ln(3, ln(1, "rbac.authorization.k8s.io") + ln(2, role_kind) + ln(3, "reader")))
    return raw, {"metadata": _meta_json(name, ns, rv), "subjects": [
        {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"},
        {"kind": "ServiceAccount", "name": "builder", "namespace": "prod"}],
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": "reader"}}


def role_binding(name: str = "read", ns: str = "prod", rv: str = "") -> Golden:
    return _binding(name, ns, rv, "Role")


def cluster_role_binding(name: str = "read-all", ns: str = "", rv: str = "") -> Golden:
    return _binding(name, "", rv, "ClusterRole")


def _webhook_common() -> bytes:
    # name 1, clientConfig 2 {service 1 {namespace 1, name 2, path 3*, port 4*}, caBundle 2, url 3*},
    # rules 3 [{operations 1, rule 2 (embedded Rule) {apiGroups 1, apiVersions 2, resources 3, scope 4*}}],
    # failurePolicy 4*, namespaceSelector 5, sideEffects 6*, timeoutSeconds 7*, admissionReviewVersions 8, matchPolicy 9*
    return (ln(1, "check.example.com")
            + ln(2, ln(1, ln(1, "hooks") + ln(2, "svc") + ln(3, "/validate") + vi(4, 443)) + ln(2, b"\x01\x02"))
            + ln(3, ln(1, "CREATE") + ln(1, "UPDATE") + ln(2, ln(1, "apps") + ln(2, "v1") + ln(3, "deployments")
                                                            + ln(4, "Namespaced")))
            + ln(4, "Fail") + ln(5, b"") + ln(6, "None") + vi(7, 5) + ln(8, "v1") + ln(9, "Equivalent"))


def _webhook_json(**more: Any) -> dict[str, Any]:
    return {"name": "check.example.com",
            "clientConfig": {"service": {"namespace": "hooks", "name": "svc", "path": "/validate", "port": 443},
                             "caBundle": "AQI="},
            "rules": [{"operations": ["CREATE", "UPDATE"], "apiGroups": ["apps"], "apiVersions": ["v1"],
                       "resources": ["deployments"], "scope": "Namespaced"}],
            "failurePolicy": "Fail", "namespaceSelector": {}, "sideEffects": "None", "timeoutSeconds": 5,
            "admissionReviewVersions": ["v1"], "matchPolicy": "Equivalent", **more}


def mutating_webhooks(name: str = "mutate", ns: str = "", rv: str = "") -> Golden:
    # MutatingWebhook: reinvocationPolicy 10*, objectSelector 11, matchConditions 12 [{name 1, expression 2}]
    hook = _webhook_common() + ln(10, "IfNeeded") + ln(12, ln(1, "not-system") + ln(2, "true"))
    return ln(1, meta(name, rv=rv)) + ln(2, hook), {"metadata": _meta_json(name, "", rv), "webhooks": [_webhook_json(
        reinvocationPolicy="IfNeeded", matchConditions=[{"name": "not-system", "expression": "true"}])]}


def validating_webhooks(name: str = "validate", ns: str = "", rv: str = "") -> Golden:
    # ValidatingWebhook: objectSelector 10, matchConditions 11
    hook = _webhook_common() + ln(10, selector({"team": "a"})) + ln(11, ln(1, "c") + ln(2, "object != null"))
    return ln(1, meta(name, rv=rv)) + ln(2, hook), {"metadata": _meta_json(name, "", rv), "webhooks": [_webhook_json(
        objectSelector={"matchLabels": {"team": "a"}}, matchConditions=[{"name": "c", "expression": "object != null"}])]}


def _user_info() -> tuple[bytes, dict[str, Any]]:
    # authentication UserInfo: username 1, uid 2, groups 3, extra 4 (map<string, ExtraValue {items 1}>)
    raw = ln(1, "alice") + ln(2, "u-1") + ln(3, "devs") + ln(4, ln(1, "scopes") + ln(2, ln(1, "a") + ln(1, "b")))
    return raw, {"username": "alice", "uid": "u-1", "groups": ["devs"], "extra": {"scopes": ["a", "b"]}}


def token_review(name: str = "", ns: str = "", rv: str = "") -> Golden:
    # TokenReview: spec 2 {token 1, audiences 2}, status 3 {authenticated 1, user 2, error 3, audiences 4}
    user, user_json = _user_info()
    raw = (ln(1, meta(name, rv=rv)) + ln(2, ln(1, "abc.def") + ln(2, "api"))
           + ln(3, vi(1, False) + ln(2, user) + ln(3, "")))
    return raw, {"metadata": {}, "spec": {"token": "abc.def", "audiences": ["api"]},
                 "status": {"user": user_json}}  # authenticated is `omitempty`


def self_subject_review(name: str = "", ns: str = "", rv: str = "") -> Golden:
    # SelfSubjectReview: metadata 1, status 2 {userInfo 1}
    user, user_json = _user_info()
    return ln(1, meta(name)) + ln(2, ln(1, user)), {"metadata": {}, "status": {"userInfo": user_json}}


def token_request(name: str = "builder", ns: str = "prod", rv: str = "") -> Golden:
    # TokenRequest: spec 2 {audiences 1, boundObjectRef 3 {kind 1, apiVersion 2, name 3, uID 4}, expirationSeconds 4*},
    # status 3 {token 1, expirationTimestamp 2}
    raw = (ln(1, meta(name, ns, rv=rv))
           + ln(2, ln(1, "api") + ln(3, ln(1, "Pod") + ln(2, "v1") + ln(3, "web-0") + ln(4, "u1")) + vi(4, 3600))
           + ln(3, ln(1, "") + ln(2, b"")))
    return raw, {"metadata": _meta_json(name, ns, rv), "spec": {
        "audiences": ["api"], "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "web-0", "uid": "u1"},
        "expirationSeconds": 3600}, "status": {"token": ""}}


def _resource_attributes() -> tuple[bytes, dict[str, Any]]:
    # ResourceAttributes: namespace 1, verb 2, group 3, version 4, resource 5, subresource 6, name 7,
    # fieldSelector 8 {rawSelector 1, requirements 2 [{key 1, operator 2, values 3}]},
    # labelSelector 9 {rawSelector 1, requirements 2}
    raw = (ln(1, "prod") + ln(2, "list") + ln(3, "") + ln(4, "") + ln(5, "pods") + ln(6, "") + ln(7, "")
           + ln(8, ln(1, "") + ln(2, ln(1, "spec.nodeName") + ln(2, "In") + ln(3, "node-1")))
           + ln(9, ln(1, "app=web")))
    return raw, {"namespace": "prod", "verb": "list", "resource": "pods",
                 "fieldSelector": {"requirements": [{"key": "spec.nodeName", "operator": "In", "values": ["node-1"]}]},
                 "labelSelector": {"rawSelector": "app=web"}}


def _sar_status() -> bytes:
    # SubjectAccessReviewStatus: allowed 1, reason 2, evaluationError 3, denied 4 (Go writes them even if empty)
    return vi(1, False) + ln(2, "") + ln(3, "") + vi(4, False)


def _sar_spec() -> tuple[bytes, dict[str, Any]]:
    # SubjectAccessReviewSpec: resourceAttributes 1, nonResourceAttributes 2, user 3, groups 4, extra 5, uid 6
    attrs, attrs_json = _resource_attributes()
    raw = ln(1, attrs) + ln(3, "alice") + ln(4, "devs") + ln(5, ln(1, "scopes") + ln(2, ln(1, "x"))) + ln(6, "u-1")
    return raw, {"resourceAttributes": attrs_json, "user": "alice", "groups": ["devs"], "extra": {"scopes": ["x"]},
                 "uid": "u-1"}


def subject_access_review(name: str = "", ns: str = "", rv: str = "") -> Golden:
    spec, spec_json = _sar_spec()
    return ln(1, meta(name)) + ln(2, spec) + ln(3, _sar_status()), {"metadata": {}, "spec": spec_json,
                                                                    "status": {"allowed": False}}


def local_subject_access_review(name: str = "", ns: str = "prod", rv: str = "") -> Golden:
    spec, spec_json = _sar_spec()
    return ln(1, meta(name, ns)) + ln(2, spec) + ln(3, _sar_status()), {
        "metadata": {"namespace": ns}, "spec": spec_json, "status": {"allowed": False}}


def self_subject_access_review(name: str = "", ns: str = "", rv: str = "") -> Golden:
    # SelfSubjectAccessReviewSpec: resourceAttributes 1, nonResourceAttributes 2 {path 1, verb 2}
    return (ln(1, meta(name)) + ln(2, ln(2, ln(1, "/healthz") + ln(2, "get"))) + ln(3, _sar_status()),
            {"metadata": {}, "spec": {"nonResourceAttributes": {"path": "/healthz", "verb": "get"}},
             "status": {"allowed": False}})


def self_subject_rules_review(name: str = "", ns: str = "", rv: str = "") -> Golden:
    # SelfSubjectRulesReview: spec 2 {namespace 1}, status 3 {resourceRules 1 [{verbs 1, apiGroups 2, resources 3,
    # resourceNames 4}], nonResourceRules 2 [{verbs 1, nonResourceURLs 2}], incomplete 3, evaluationError 4}
    status = (ln(1, ln(1, "get") + ln(2, "") + ln(3, "pods")) + ln(2, ln(1, "get") + ln(2, "/api")) + vi(3, False)
              + ln(4, ""))
    return ln(1, meta(name)) + ln(2, ln(1, "prod")) + ln(3, status), {
        "metadata": {}, "spec": {"namespace": "prod"},
        "status": {"resourceRules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}],
                   "nonResourceRules": [{"verbs": ["get"], "nonResourceURLs": ["/api"]}],
                   "incomplete": False}}


def scale(name: str = "web", ns: str = "prod", rv: str = "") -> Golden:
    # autoscaling/v1 Scale: metadata 1, spec 2 {replicas 1}, status 3 {replicas 1, selector 2}
    return ln(1, meta(name, ns, rv=rv)) + ln(2, vi(1, 0)) + ln(3, vi(1, 3) + ln(2, "app=web")), {
        "metadata": _meta_json(name, ns, rv), "spec": {}, "status": {"replicas": 3, "selector": "app=web"}}


def delete_options_body() -> tuple[bytes, dict[str, Any]]:
    # meta/v1 DeleteOptions: gracePeriodSeconds 1*, preconditions 2 {uid 1*, resourceVersion 2*}, orphanDependents 3*,
    # propagationPolicy 4*, dryRun 5, ignoreStoreReadErrorWithClusterBreakingPotential 6*
    raw = vi(1, 0) + ln(2, ln(1, "u1") + ln(2, "42")) + ln(4, "Foreground") + ln(5, "All")
    return raw, {"gracePeriodSeconds": 0, "preconditions": {"uid": "u1", "resourceVersion": "42"},
                 "propagationPolicy": "Foreground", "dryRun": ["All"]}


def eviction(name: str = "web-0", ns: str = "prod", rv: str = "") -> Golden:
    # policy/v1 Eviction: metadata 1, deleteOptions 2
    opts, opts_json = delete_options_body()
    return ln(1, meta(name, ns)) + ln(2, opts), {"metadata": _meta_json(name, ns, ""), "deleteOptions": opts_json}


def delete_options(name: str = "", ns: str = "", rv: str = "") -> Golden:
    return delete_options_body()


Builder = Callable[..., Golden]
GOLDEN: dict[tuple[str, str], Builder] = {
    ("v1", "Namespace"): namespace, ("v1", "ConfigMap"): configmap, ("v1", "Secret"): secret, ("v1", "Pod"): pod,
    ("v1", "Service"): service, ("v1", "ServiceAccount"): service_account, ("v1", "Node"): node,
    ("v1", "Event"): event, ("v1", "Endpoints"): endpoints, ("v1", "PersistentVolumeClaim"): pvc,
    ("v1", "ReplicationController"): replication_controller, ("v1", "LimitRange"): limit_range,
    ("v1", "ResourceQuota"): resource_quota, ("v1", "Binding"): binding,
    ("apps/v1", "Deployment"): deployment, ("apps/v1", "ReplicaSet"): replica_set,
    ("apps/v1", "StatefulSet"): stateful_set, ("apps/v1", "DaemonSet"): daemon_set,
    ("apps/v1", "ControllerRevision"): controller_revision,
    ("batch/v1", "Job"): job, ("batch/v1", "CronJob"): cron_job,
    ("scheduling.k8s.io/v1", "PriorityClass"): priority_class, ("policy/v1", "PodDisruptionBudget"): pod_disruption_budget,
    ("coordination.k8s.io/v1", "Lease"): lease, ("discovery.k8s.io/v1", "EndpointSlice"): endpoint_slice,
    ("events.k8s.io/v1", "Event"): events_event,
    ("rbac.authorization.k8s.io/v1", "Role"): role, ("rbac.authorization.k8s.io/v1", "ClusterRole"): cluster_role,
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): role_binding,
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): cluster_role_binding,
    ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration"): mutating_webhooks,
    ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration"): validating_webhooks,
    ("authentication.k8s.io/v1", "TokenReview"): token_review,
    ("authentication.k8s.io/v1", "SelfSubjectReview"): self_subject_review,
    ("authentication.k8s.io/v1", "TokenRequest"): token_request,
    ("authorization.k8s.io/v1", "SubjectAccessReview"): subject_access_review,
    ("authorization.k8s.io/v1", "LocalSubjectAccessReview"): local_subject_access_review,
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): self_subject_access_review,
    ("authorization.k8s.io/v1", "SelfSubjectRulesReview"): self_subject_rules_review,
    ("autoscaling/v1", "Scale"): scale, ("policy/v1", "Eviction"): eviction,
    ("v1", "DeleteOptions"): delete_options,
}


def test_every_served_kind_has_a_golden_body():
    assert set(GOLDEN) == set(schema.KINDS) | {("v1", "DeleteOptions")}


@pytest.mark.parametrize("api_version,kind", sorted(GOLDEN), ids=lambda x: str(x))
def test_golden_body_decodes_to_the_expected_json(api_version, kind):
    raw, expected = GOLDEN[(api_version, kind)]()
    assert decode_object(envelope(api_version, kind, raw)) == {"apiVersion": api_version, "kind": kind, **expected}


def test_delete_options_arrive_under_any_served_group_version():
    raw, expected = delete_options_body()
    for gv in ("apps/v1", "batch/v1", "meta.k8s.io/v1", "coordination.k8s.io/v1"):
        assert decode_object(envelope(gv, "DeleteOptions", raw)) == {"apiVersion": gv, "kind": "DeleteOptions",
                                                                     **expected}
