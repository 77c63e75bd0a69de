"""Defaulting as kube-apiserver v1.32 applies it (`pkg/apis/{core,apps,batch,discovery,rbac,admissionregistration}
/v1/defaults.go` plus the generated `zz_generated.defaults.go` walks), on JSON objects. Pure.

The generated walks apply the leaf defaulters (container, probe, HTTP action, volume sources, field selectors,
ports) wherever the type occurs — in Pods and in every pod template; `pod` adds what only a Pod gets
(enableServiceLinks, requests from limits, host-network ports)."""

from __future__ import annotations

from typing import Any

RBAC_GROUP = "rbac.authorization.k8s.io"
FILE_MODE = 0o644  # SecretVolumeSourceDefaultMode & co.
VOLUME_SOURCES_WITH_MODE = ("secret", "configMap", "downwardAPI", "projected")


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _dict(obj: dict[str, Any], key: str) -> dict[str, Any] | None:
    v = obj.get(key)
    return v if isinstance(v, dict) else None


def _unset(obj: dict[str, Any], key: str) -> bool:
    return obj.get(key) in (None, "")


# ------------------------------------------------------------------ core/v1 leaves
def http_get(action: dict[str, Any]) -> None:
    if _unset(action, "path"):
        action["path"] = "/"
    if _unset(action, "scheme"):
        action["scheme"] = "HTTP"


def _handler(h: dict[str, Any] | None) -> None:
    if h is not None and (get := _dict(h, "httpGet")) is not None:
        http_get(get)


def probe(p: dict[str, Any]) -> None:
    for key, value in (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1),
                       ("failureThreshold", 3)):
        if not p.get(key):
            p[key] = value
    _handler(p)


def field_selector(sel: dict[str, Any] | None) -> None:
    if sel is not None and _unset(sel, "apiVersion"):
        sel["apiVersion"] = "v1"


def _image_tag_is_latest(image: str) -> bool:
    name = image.split("@", 1)[0]
    if "@" in image:
        return False
    last = name.rsplit("/", 1)[-1]
    return ":" not in last or last.rsplit(":", 1)[1] == "latest"


def container(c: dict[str, Any]) -> None:
    if _unset(c, "imagePullPolicy"):
        c["imagePullPolicy"] = "Always" if _image_tag_is_latest(str(c.get("image", ""))) else "IfNotPresent"
    if _unset(c, "terminationMessagePath"):
        c["terminationMessagePath"] = "/dev/termination-log"
    if _unset(c, "terminationMessagePolicy"):
        c["terminationMessagePolicy"] = "File"
    c.setdefault("resources", {})  # a Go struct, never omitted
    for port in _dicts(c.get("ports")):
        if _unset(port, "protocol"):
            port["protocol"] = "TCP"
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        if (p := _dict(c, key)) is not None:
            probe(p)
    if (lifecycle := _dict(c, "lifecycle")) is not None:
        _handler(_dict(lifecycle, "postStart"))
        _handler(_dict(lifecycle, "preStop"))
    for env in _dicts(c.get("env")):
        if (src := _dict(env, "valueFrom")) is not None:
            field_selector(_dict(src, "fieldRef"))


def pvc_spec(spec: dict[str, Any]) -> None:
    if _unset(spec, "volumeMode"):
        spec["volumeMode"] = "Filesystem"


def volume(v: dict[str, Any]) -> None:
    sources = [k for k in v if k != "name"]
    if not sources:
        v["emptyDir"] = {}
    for key in VOLUME_SOURCES_WITH_MODE:
        if (src := _dict(v, key)) is not None and src.get("defaultMode") is None:
            src["defaultMode"] = FILE_MODE
    if (host := _dict(v, "hostPath")) is not None and host.get("type") is None:
        host["type"] = ""
    if (down := _dict(v, "downwardAPI")) is not None:
        for item in _dicts(down.get("items")):
            field_selector(_dict(item, "fieldRef"))
    if (proj := _dict(v, "projected")) is not None:
        for src in _dicts(proj.get("sources")):
            if (token := _dict(src, "serviceAccountToken")) is not None and token.get("expirationSeconds") is None:
                token["expirationSeconds"] = 3600
            if (down := _dict(src, "downwardAPI")) is not None:
                for item in _dicts(down.get("items")):
                    field_selector(_dict(item, "fieldRef"))
    eph = _dict(v, "ephemeral")
    tpl = _dict(eph, "volumeClaimTemplate") if eph is not None else None
    if tpl is not None and (spec := _dict(tpl, "spec")) is not None:
        pvc_spec(spec)


def pod_spec(spec: dict[str, Any]) -> None:
    """SetDefaults_PodSpec and the leaf defaulters under it (pod templates get exactly this)."""
    if _unset(spec, "dnsPolicy"):
        spec["dnsPolicy"] = "ClusterFirst"
    if _unset(spec, "restartPolicy"):
        spec["restartPolicy"] = "Always"
    if spec.get("securityContext") is None:
        spec["securityContext"] = {}
    if spec.get("terminationGracePeriodSeconds") is None:
        spec["terminationGracePeriodSeconds"] = 30
    if _unset(spec, "schedulerName"):
        spec["schedulerName"] = "default-scheduler"
    # v1 conversion keeps the deprecated `serviceAccount` equal to serviceAccountName (either may be sent)
    if _unset(spec, "serviceAccountName") and not _unset(spec, "serviceAccount"):
        spec["serviceAccountName"] = spec["serviceAccount"]
    if not _unset(spec, "serviceAccountName"):
        spec["serviceAccount"] = spec["serviceAccountName"]
    for key in ("containers", "initContainers", "ephemeralContainers"):
        for c in _dicts(spec.get(key)):
            container(c)
    for v in _dicts(spec.get("volumes")):
        volume(v)


def pod_template(tpl: Any) -> None:
    if isinstance(tpl, dict):
        md = tpl.setdefault("metadata", {})
        if isinstance(md, dict):
            md.setdefault("creationTimestamp", None)
        if (spec := _dict(tpl, "spec")) is not None:
            pod_spec(spec)


def pod(obj: dict[str, Any]) -> None:
    """SetDefaults_Pod: only a Pod (not a template) gets these."""
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    pod_spec(spec)
    for key in ("containers", "initContainers"):
        for c in _dicts(spec.get(key)):
            resources: dict[str, Any] = c["resources"] if isinstance(c.get("resources"), dict) else {}
            limits = resources.get("limits")
            if isinstance(limits, dict) and limits:
                requests = resources.setdefault("requests", {})
                if isinstance(requests, dict):
                    for name, value in limits.items():
                        requests.setdefault(name, value)
            if spec.get("hostNetwork") is True:
                for port in _dicts(c.get("ports")):
                    if not port.get("hostPort"):
                        port["hostPort"] = port.get("containerPort")
    if spec.get("enableServiceLinks") is None:
        spec["enableServiceLinks"] = True


def endpoints(obj: dict[str, Any]) -> None:
    for subset in _dicts(obj.get("subsets")):
        for port in _dicts(subset.get("ports")):
            if _unset(port, "protocol"):
                port["protocol"] = "TCP"


def limit_range(obj: dict[str, Any]) -> None:
    spec = _dict(obj, "spec")
    for item in _dicts(spec.get("limits")) if spec is not None else []:
        if item.get("type") != "Container":
            continue
        default = item.setdefault("default", {}) if item.get("default") is None else item["default"]
        request = item.setdefault("defaultRequest", {}) if item.get("defaultRequest") is None else \
            item["defaultRequest"]
        if not isinstance(default, dict) or not isinstance(request, dict):
            continue
        for src, dst in (("max", default), ("default", request), ("min", request)):
            values = item.get(src) if src != "default" else default
            for name, value in (values or {}).items() if isinstance(values, dict) else ():
                dst.setdefault(name, value)


def node(obj: dict[str, Any]) -> None:
    status = _dict(obj, "status")
    if status is not None and status.get("allocatable") is None and isinstance(status.get("capacity"), dict):
        status["allocatable"] = dict(status["capacity"])


# ------------------------------------------------------------------ apps/v1
def _rolling(strategy: dict[str, Any], rolling_type: str, fields: tuple[tuple[str, Any], ...]) -> None:
    if _unset(strategy, "type"):
        strategy["type"] = rolling_type
    if strategy["type"] == rolling_type:
        ru = strategy.get("rollingUpdate")
        if not isinstance(ru, dict):
            ru = strategy["rollingUpdate"] = {}
        for key, value in fields:
            if ru.get(key) is None:
                ru[key] = value


def deployment(spec: dict[str, Any]) -> None:
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    strategy = spec.get("strategy")
    if not isinstance(strategy, dict):
        strategy = spec["strategy"] = {}
    _rolling(strategy, "RollingUpdate", (("maxUnavailable", "25%"), ("maxSurge", "25%")))
    if spec.get("revisionHistoryLimit") is None:
        spec["revisionHistoryLimit"] = 10
    if spec.get("progressDeadlineSeconds") is None:
        spec["progressDeadlineSeconds"] = 600
    pod_template(spec.get("template"))


def daemon_set(spec: dict[str, Any]) -> None:
    strategy = spec.get("updateStrategy")
    if not isinstance(strategy, dict):
        strategy = spec["updateStrategy"] = {}
    _rolling(strategy, "RollingUpdate", (("maxUnavailable", 1), ("maxSurge", 0)))
    if spec.get("revisionHistoryLimit") is None:
        spec["revisionHistoryLimit"] = 10
    pod_template(spec.get("template"))


def stateful_set(spec: dict[str, Any]) -> None:
    if _unset(spec, "podManagementPolicy"):
        spec["podManagementPolicy"] = "OrderedReady"
    strategy = spec.get("updateStrategy")
    if not isinstance(strategy, dict):
        strategy = spec["updateStrategy"] = {}
    if _unset(strategy, "type"):
        strategy["type"] = "RollingUpdate"
        if not isinstance(strategy.get("rollingUpdate"), dict):
            strategy["rollingUpdate"] = {}
    ru = strategy.get("rollingUpdate")
    if strategy["type"] == "RollingUpdate" and isinstance(ru, dict) and ru.get("partition") is None:
        ru["partition"] = 0
    policy = spec.get("persistentVolumeClaimRetentionPolicy")
    if not isinstance(policy, dict):
        policy = spec["persistentVolumeClaimRetentionPolicy"] = {}
    for key in ("whenDeleted", "whenScaled"):
        if _unset(policy, key):
            policy[key] = "Retain"
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    if spec.get("revisionHistoryLimit") is None:
        spec["revisionHistoryLimit"] = 10
    pod_template(spec.get("template"))
    for claim in _dicts(spec.get("volumeClaimTemplates")):
        if (cspec := _dict(claim, "spec")) is not None:
            pvc_spec(cspec)
        status = claim.get("status") if isinstance(claim.get("status"), dict) else claim.setdefault("status", {})
        if isinstance(status, dict) and _unset(status, "phase"):
            status["phase"] = "Pending"


def replica_set(spec: dict[str, Any]) -> None:
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    pod_template(spec.get("template"))


def replication_controller(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    tpl = _dict(spec, "template")
    labels = (_dict(tpl, "metadata") or {}).get("labels") if tpl is not None else None
    if isinstance(labels, dict):
        if not spec.get("selector"):
            spec["selector"] = dict(labels)
        md = obj.setdefault("metadata", {})
        if not md.get("labels"):
            md["labels"] = dict(labels)
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    pod_template(tpl)


# ------------------------------------------------------------------ batch/v1
MAX_INT32 = 2**31 - 1


def job(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    if spec.get("parallelism") is None:
        spec["parallelism"] = 1
    if spec.get("backoffLimit") is None:
        spec["backoffLimit"] = MAX_INT32 if spec.get("backoffLimitPerIndex") is not None else 6
    tpl = _dict(spec, "template")
    labels = (_dict(tpl, "metadata") or {}).get("labels") if tpl is not None else None
    md = obj.setdefault("metadata", {})
    if isinstance(labels, dict) and not md.get("labels"):
        md["labels"] = dict(labels)
    if _unset(spec, "completionMode"):
        spec["completionMode"] = "NonIndexed"
    if spec.get("suspend") is None:
        spec["suspend"] = False
    policy = _dict(spec, "podFailurePolicy")
    for rule in _dicts(policy.get("rules")) if policy is not None else []:
        for pattern in _dicts(rule.get("onPodConditions")):
            if _unset(pattern, "status"):
                pattern["status"] = "True"
    if spec.get("podReplacementPolicy") is None:
        spec["podReplacementPolicy"] = "Failed" if policy is not None else "TerminatingOrFailed"
    pod_template(tpl)


def cron_job(spec: dict[str, Any]) -> None:
    """SetDefaults_CronJob; the job template gets only the pod template's defaults (SetDefaults_Job is for Jobs)."""
    if _unset(spec, "concurrencyPolicy"):
        spec["concurrencyPolicy"] = "Allow"
    if spec.get("suspend") is None:
        spec["suspend"] = False
    if spec.get("successfulJobsHistoryLimit") is None:
        spec["successfulJobsHistoryLimit"] = 3
    if spec.get("failedJobsHistoryLimit") is None:
        spec["failedJobsHistoryLimit"] = 1
    tpl = _dict(spec, "jobTemplate")
    if tpl is not None:
        md = tpl.setdefault("metadata", {})
        if isinstance(md, dict):
            md.setdefault("creationTimestamp", None)
        if (job_spec := _dict(tpl, "spec")) is not None:
            pod_template(job_spec.get("template"))


# ------------------------------------------------------------------ discovery, rbac, admissionregistration
def endpoint_slice(obj: dict[str, Any]) -> None:
    for port in _dicts(obj.get("ports")):
        if port.get("name") is None:
            port["name"] = ""
        if port.get("protocol") is None:
            port["protocol"] = "TCP"


def rbac(obj: dict[str, Any]) -> None:
    """SetDefaults_Subject, and a binding's roleRef in the RBAC group (SetDefaults_*RoleBinding)."""
    for subject in _dicts(obj.get("subjects")):
        if _unset(subject, "apiGroup"):
            if subject.get("kind") in ("User", "Group"):
                subject["apiGroup"] = RBAC_GROUP
            elif subject.get("kind") == "ServiceAccount":
                subject["apiGroup"] = ""
    ref = _dict(obj, "roleRef")
    if ref is not None and _unset(ref, "apiGroup"):
        ref["apiGroup"] = RBAC_GROUP


def webhook_configuration(obj: dict[str, Any], mutating: bool) -> None:
    """SetDefaults_{Validating,Mutating}Webhook, _Rule and _ServiceReference."""
    for hook in _dicts(obj.get("webhooks")):
        if _unset(hook, "failurePolicy"):
            hook["failurePolicy"] = "Fail"
        if _unset(hook, "matchPolicy"):
            hook["matchPolicy"] = "Equivalent"
        for key in ("namespaceSelector", "objectSelector"):
            if hook.get(key) is None:
                hook[key] = {}
        if hook.get("timeoutSeconds") is None:
            hook["timeoutSeconds"] = 10
        if mutating and _unset(hook, "reinvocationPolicy"):
            hook["reinvocationPolicy"] = "Never"
        for rule in _dicts(hook.get("rules")):
            if rule.get("scope") is None:
                rule["scope"] = "*"
        cfg = _dict(hook, "clientConfig")
        svc = _dict(cfg, "service") if cfg is not None else None
        if svc is not None and svc.get("port") is None:
            svc["port"] = 443
