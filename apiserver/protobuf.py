"""Decoding kubectl's protobuf request bodies (`application/vnd.kubernetes.protobuf`); pure.

A body is the 4-byte magic `k8s\\0` followed by a `runtime.Unknown` whose `raw` field holds the object
encoded with the go-to-protobuf field numbers of k8s.io/api. kubectl sends these for every
`kubectl create <generator>`. Only the messages listed in MESSAGES are known so far (the kinds the generators
create: Namespace, ConfigMap, Secret, ServiceAccount, Deployment, Service, Job, CronJob, RBAC, access and token
reviews); any other kind, or an unknown field number,
is refused with a clear 415/400 rather than silently dropped. Deployment is known only as far as
`kubectl create deployment` fills it in.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

from apiserver.errors import APIError, bad_request

MAGIC = b"k8s\x00"
MAX_DEPTH = 32

# message -> field number -> (json name, type, repeated). Types: string, bytes, bool, int, time,
# map_str (map<string,string>), map_bytes (map<string,bytes>), or another message name.
F = tuple[str, str, bool]
MESSAGES: dict[str, dict[int, F]] = {
    "Unknown": {1: ("typeMeta", "TypeMeta", False), 2: ("raw", "bytes", False),
                3: ("contentEncoding", "string", False), 4: ("contentType", "string", False)},
    "TypeMeta": {1: ("apiVersion", "string", False), 2: ("kind", "string", False)},
    "Time": {1: ("seconds", "int", False), 2: ("nanos", "int", False)},
    "ObjectMeta": {1: ("name", "string", False), 2: ("generateName", "string", False),
                   3: ("namespace", "string", False), 4: ("selfLink", "string", False), 5: ("uid", "string", False),
                   6: ("resourceVersion", "string", False), 7: ("generation", "int", False),
                   8: ("creationTimestamp", "time", False), 9: ("deletionTimestamp", "time", False),
                   10: ("deletionGracePeriodSeconds", "int", False), 11: ("labels", "map_str", False),
                   12: ("annotations", "map_str", False), 13: ("ownerReferences", "OwnerReference", True),
                   14: ("finalizers", "string", True)},
    "OwnerReference": {1: ("kind", "string", False), 3: ("name", "string", False), 4: ("uid", "string", False),
                       5: ("apiVersion", "string", False), 6: ("controller", "bool", False),
                       7: ("blockOwnerDeletion", "bool", False)},
    "ObjectReference": {1: ("kind", "string", False), 2: ("namespace", "string", False),
                        3: ("name", "string", False), 4: ("uid", "string", False), 5: ("apiVersion", "string", False),
                        6: ("resourceVersion", "string", False), 7: ("fieldPath", "string", False)},
    "LocalObjectReference": {1: ("name", "string", False)},
    "ConfigMap": {1: ("metadata", "ObjectMeta", False), 2: ("data", "map_str", False),
                  3: ("binaryData", "map_bytes", False), 4: ("immutable", "bool", False)},
    "Secret": {1: ("metadata", "ObjectMeta", False), 2: ("data", "map_bytes", False), 3: ("type", "string", False),
               4: ("stringData", "map_str", False), 5: ("immutable", "bool", False)},
    "Namespace": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "NamespaceSpec", False),
                  3: ("status", "NamespaceStatus", False)},
    "NamespaceSpec": {1: ("finalizers", "string", True)},
    "NamespaceStatus": {1: ("phase", "string", False)},
    "ServiceAccount": {1: ("metadata", "ObjectMeta", False), 2: ("secrets", "ObjectReference", True),
                       3: ("imagePullSecrets", "LocalObjectReference", True),
                       4: ("automountServiceAccountToken", "bool", False)},
}
# The subset of the workload messages that `kubectl create deployment` fills in.
MESSAGES.update({
    "Deployment": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "DeploymentSpec", False),
                   3: ("status", "DeploymentStatus", False)},
    "DeploymentSpec": {1: ("replicas", "int_ptr", False), 2: ("selector", "LabelSelector", False),
                       3: ("template", "PodTemplateSpec", False), 4: ("strategy", "DeploymentStrategy", False),
                       5: ("minReadySeconds", "int", False), 6: ("revisionHistoryLimit", "int_ptr", False),
                       7: ("paused", "bool", False), 9: ("progressDeadlineSeconds", "int_ptr", False)},
    "DeploymentStrategy": {1: ("type", "string", False)},
    "DeploymentStatus": {1: ("observedGeneration", "int", False), 2: ("replicas", "int", False)},
    "LabelSelector": {1: ("matchLabels", "map_str", False)},
    "PodTemplateSpec": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "PodSpec", False)},
    "PodSpec": {2: ("containers", "Container", True), 3: ("restartPolicy", "string", False),
                6: ("dnsPolicy", "string", False), 8: ("serviceAccountName", "string", False)},
    "Container": {1: ("name", "string", False), 2: ("image", "string", False), 3: ("command", "string", True),
                  4: ("args", "string", True), 5: ("workingDir", "string", False),
                  6: ("ports", "ContainerPort", True), 8: ("resources", "ResourceRequirements", False),
                  14: ("imagePullPolicy", "string", False)},
    "ContainerPort": {1: ("name", "string", False), 2: ("hostPort", "int", False), 3: ("containerPort", "int", False),
                      4: ("protocol", "string", False), 5: ("hostIP", "string", False)},
    "ResourceRequirements": {},
})
# authorization.k8s.io/v1 and authentication.k8s.io/v1 (kubectl auth can-i [--list], auth whoami, create token):
# the spec messages in full, the status messages so that the zero values Go writes into them decode.
MESSAGES.update({
    "ResourceAttributes": {1: ("namespace", "string", False), 2: ("verb", "string", False),
                           3: ("group", "string", False), 4: ("version", "string", False),
                           5: ("resource", "string", False), 6: ("subresource", "string", False),
                           7: ("name", "string", False)},
    "NonResourceAttributes": {1: ("path", "string", False), 2: ("verb", "string", False)},
    "SubjectAccessReviewStatus": {1: ("allowed", "bool", False), 2: ("reason", "string", False),
                                  3: ("evaluationError", "string", False), 4: ("denied", "bool", False)},
    "SelfSubjectAccessReviewSpec": {1: ("resourceAttributes", "ResourceAttributes", False),
                                    2: ("nonResourceAttributes", "NonResourceAttributes", False)},
    "SelfSubjectAccessReview": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "SelfSubjectAccessReviewSpec", False),
                                3: ("status", "SubjectAccessReviewStatus", False)},
    "SubjectAccessReviewSpec": {1: ("resourceAttributes", "ResourceAttributes", False),
                                2: ("nonResourceAttributes", "NonResourceAttributes", False),
                                3: ("user", "string", False), 4: ("groups", "string", True),
                                6: ("uid", "string", False)},
    "SubjectAccessReview": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "SubjectAccessReviewSpec", False),
                            3: ("status", "SubjectAccessReviewStatus", False)},
    "SelfSubjectRulesReviewSpec": {1: ("namespace", "string", False)},
    "SubjectRulesReviewStatus": {3: ("incomplete", "bool", False), 4: ("evaluationError", "string", False)},
    "SelfSubjectRulesReview": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "SelfSubjectRulesReviewSpec", False),
                               3: ("status", "SubjectRulesReviewStatus", False)},
    "UserInfo": {1: ("username", "string", False), 2: ("uid", "string", False), 3: ("groups", "string", True)},
    "SelfSubjectReviewStatus": {1: ("userInfo", "UserInfo", False)},
    "SelfSubjectReview": {1: ("metadata", "ObjectMeta", False), 2: ("status", "SelfSubjectReviewStatus", False)},
    "BoundObjectReference": {1: ("kind", "string", False), 2: ("apiVersion", "string", False),
                             3: ("name", "string", False), 4: ("uid", "string", False)},
    "TokenRequestSpec": {1: ("audiences", "string", True), 3: ("boundObjectRef", "BoundObjectReference", False),
                         4: ("expirationSeconds", "int_ptr", False)},
    "TokenRequestStatus": {1: ("token", "string", False), 2: ("expirationTimestamp", "time", False)},
    "TokenRequest": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "TokenRequestSpec", False),
                     3: ("status", "TokenRequestStatus", False)},
    "TokenReviewSpec": {1: ("token", "string", False), 2: ("audiences", "string", True)},
    "TokenReviewStatus": {1: ("authenticated", "bool", False), 3: ("error", "string", False)},
    "TokenReview": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "TokenReviewSpec", False),
                    3: ("status", "TokenReviewStatus", False)},
})
# rbac.authorization.k8s.io/v1 (kubectl create role / clusterrole / rolebinding / clusterrolebinding).
MESSAGES.update({
    "PolicyRule": {1: ("verbs", "string", True), 2: ("apiGroups", "string", True), 3: ("resources", "string", True),
                   4: ("resourceNames", "string", True), 5: ("nonResourceURLs", "string", True)},
    "Subject": {1: ("kind", "string", False), 2: ("apiGroup", "string", False), 3: ("name", "string", False),
                4: ("namespace", "string", False)},
    "RoleRef": {1: ("apiGroup", "string", False), 2: ("kind", "string", False), 3: ("name", "string", False)},
    "AggregationRule": {1: ("clusterRoleSelectors", "LabelSelector", True)},
    "Role": {1: ("metadata", "ObjectMeta", False), 2: ("rules", "PolicyRule", True)},
    "ClusterRole": {1: ("metadata", "ObjectMeta", False), 2: ("rules", "PolicyRule", True),
                    3: ("aggregationRule", "AggregationRule", False)},
    "RoleBinding": {1: ("metadata", "ObjectMeta", False), 2: ("subjects", "Subject", True),
                    3: ("roleRef", "RoleRef", False)},
    "ClusterRoleBinding": {1: ("metadata", "ObjectMeta", False), 2: ("subjects", "Subject", True),
                           3: ("roleRef", "RoleRef", False)},
})
# batch/v1 and core/v1 Service: what `kubectl create job|cronjob|service <type>` fill in.
MESSAGES.update({
    "Job": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "JobSpec", False), 3: ("status", "JobStatus", False)},
    "JobSpec": {1: ("parallelism", "int_ptr", False), 2: ("completions", "int_ptr", False),
                3: ("activeDeadlineSeconds", "int_ptr", False), 4: ("selector", "LabelSelector", False),
                5: ("manualSelector", "bool", False), 6: ("template", "PodTemplateSpec", False),
                7: ("backoffLimit", "int_ptr", False), 8: ("ttlSecondsAfterFinished", "int_ptr", False),
                9: ("completionMode", "string", False), 10: ("suspend", "bool", False)},
    "JobStatus": {},
    "JobTemplateSpec": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "JobSpec", False)},
    "CronJob": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "CronJobSpec", False),
                3: ("status", "CronJobStatus", False)},
    "CronJobSpec": {1: ("schedule", "string", False), 2: ("startingDeadlineSeconds", "int_ptr", False),
                    3: ("concurrencyPolicy", "string", False), 4: ("suspend", "bool", False),
                    5: ("jobTemplate", "JobTemplateSpec", False), 6: ("successfulJobsHistoryLimit", "int_ptr", False),
                    7: ("failedJobsHistoryLimit", "int_ptr", False), 8: ("timeZone", "string", False)},
    "CronJobStatus": {},
    "Service": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "ServiceSpec", False),
                3: ("status", "ServiceStatus", False)},
    "ServiceSpec": {1: ("ports", "ServicePort", True), 2: ("selector", "map_str", False),
                    3: ("clusterIP", "string", False), 4: ("type", "string", False),
                    5: ("externalIPs", "string", True), 7: ("sessionAffinity", "string", False),
                    8: ("loadBalancerIP", "string", False), 10: ("externalName", "string", False),
                    11: ("externalTrafficPolicy", "string", False), 18: ("clusterIPs", "string", True)},
    "ServicePort": {1: ("name", "string", False), 2: ("protocol", "string", False), 3: ("port", "int", False),
                    4: ("targetPort", "intstr", False), 5: ("nodePort", "int", False),
                    6: ("appProtocol", "string", False)},
    "IntOrString": {1: ("type", "int", False), 2: ("intVal", "int", False), 3: ("strVal", "string", False)},
    "ServiceStatus": {1: ("loadBalancer", "LoadBalancerStatus", False)},
    "LoadBalancerStatus": {},
})
KINDS = {("v1", "ConfigMap"), ("v1", "Service"), ("batch/v1", "Job"), ("batch/v1", "CronJob"), ("v1", "Secret"), ("v1", "Namespace"), ("v1", "ServiceAccount"),
         ("apps/v1", "Deployment"),
         ("authorization.k8s.io/v1", "SelfSubjectAccessReview"), ("authorization.k8s.io/v1", "SubjectAccessReview"),
         ("authorization.k8s.io/v1", "SelfSubjectRulesReview"), ("authentication.k8s.io/v1", "SelfSubjectReview"),
         ("authentication.k8s.io/v1", "TokenRequest"), ("authentication.k8s.io/v1", "TokenReview"),
         ("rbac.authorization.k8s.io/v1", "Role"), ("rbac.authorization.k8s.io/v1", "ClusterRole"),
         ("rbac.authorization.k8s.io/v1", "RoleBinding"), ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding")}


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise bad_request("protobuf body is truncated or has an overlong varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes) -> list[tuple[int, int, Any]]:
    out: list[tuple[int, int, Any]] = []
    pos = 0
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        num, wire = tag >> 3, tag & 7
        value: Any
        if wire in (1, 5) and pos + (8 if wire == 1 else 4) > len(buf):
            raise bad_request("protobuf body is truncated")
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            length, pos = _varint(buf, pos)
            if pos + length > len(buf):
                raise bad_request("protobuf body is truncated")
            value, pos = buf[pos:pos + length], pos + length
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise bad_request(f"protobuf wire type {wire} is not supported")
        out.append((num, wire, value))
    return out


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _decode(message: str, buf: bytes, depth: int = 0) -> dict[str, Any]:
    if depth > MAX_DEPTH:
        raise bad_request("protobuf body nests too deeply")
    schema = MESSAGES[message]
    out: dict[str, Any] = {}
    for num, wire, raw in _fields(buf):
        if num not in schema:
            if raw in (0, b""):
                continue  # a zero value: Go writes non-pointer fields even when empty; JSON omits them
            raise bad_request(f"protobuf field {num} of {message} is not supported by this server yet; "
                              "send JSON instead")
        name, typ, repeated = schema[num]
        if wire != (0 if typ in ("int", "int_ptr", "bool") else 2):
            raise bad_request(f"protobuf field {num} ({name}) of {message} has wire type {wire}")
        value: Any
        if typ in ("map_str", "map_bytes"):
            entry = {n: v for n, _, v in _fields(raw)}
            key = entry.get(1, b"").decode()
            val = entry.get(2, b"")
            out.setdefault(name, {})[key] = val.decode() if typ == "map_str" else base64.b64encode(val).decode()
            continue
        if typ == "string":
            value = raw.decode()
        elif typ == "bytes":
            value = raw
        elif typ == "bool":
            value = bool(raw)
        elif typ in ("int", "int_ptr"):  # int_ptr: a Go *int32, where an explicit 0 is meaningful
            value = _signed(raw)
        elif typ == "intstr":  # IntOrString: JSON has either the number or the string
            v = _decode("IntOrString", raw, depth + 1)
            value = v.get("strVal", "") if v.get("type") == 1 else v.get("intVal", 0)
        elif typ == "time":
            t = _decode("Time", raw, depth + 1)
            value = (dt.datetime.fromtimestamp(t["seconds"], tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                     if t.get("seconds") else None)
        else:
            value = _decode(typ, raw, depth + 1)
        if repeated:
            out.setdefault(name, []).append(value)
        elif value not in ("", False, 0, None) or typ not in ("string", "bool", "int", "time", "intstr"):
            # go-to-protobuf writes zero scalars explicitly; Go's JSON (omitempty) leaves them out.
            out[name] = value
    return out


def decode_object(body: bytes) -> dict[str, Any]:
    """The JSON form of a `k8s\\0`-framed object, for the kinds listed in KINDS."""
    if not body.startswith(MAGIC):
        raise bad_request("protobuf body does not start with the k8s\\0 magic")
    unknown = _decode("Unknown", body[len(MAGIC):])
    tm = unknown.get("typeMeta", {})
    api_version, kind = tm.get("apiVersion", ""), tm.get("kind", "")
    if (api_version, kind) not in KINDS:
        raise APIError(f"protobuf bodies of {kind or 'unknown kind'} ({api_version}) are not supported by this "
                       "server yet; send JSON", "UnsupportedMediaType", 415)
    obj = _decode(kind, unknown.get("raw", b""))
    return {"apiVersion": api_version, "kind": kind, **obj}
