"""core/v1 validation (pkg/apis/core/validation): pod specs, services, config maps, secrets, nodes, quotas; pure.

Quantities that do not parse are not field errors on a real server but decoding errors (400 "cannot be handled
as a Pod"); they raise `QuantityDecodeError`, which the strategy turns into that Status.
"""

from __future__ import annotations

import base64
import binascii
from decimal import Decimal
from typing import Any, TypeGuard

from apiserver.admission.quantity import QuantityError
from apiserver.admission.quantity import parse as parse_quantity
from apiserver.errors import Cause
from apiserver.validation import names
from apiserver.validation.field import (
    as_dict,
    as_list,
    duplicate,
    forbidden,
    invalid,
    nonnegative,
    not_found,
    not_supported,
    one_of,
    required,
    too_long,
)

RESTART_POLICIES = ("Always", "Never", "OnFailure")
DNS_POLICIES = ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
PROTOCOLS = ("SCTP", "TCP", "UDP")
TAINT_EFFECTS = ("NoExecute", "NoSchedule", "PreferNoSchedule")
TOLERATION_OPERATORS = ("Equal", "Exists")
SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
MAX_DATA_BYTES = 1024 * 1024
# Volume sources in the order kube-apiserver checks them: the second one set is the one reported.
VOLUME_SOURCES = ("emptyDir", "hostPath", "gitRepo", "gcePersistentDisk", "awsElasticBlockStore", "secret", "nfs",
                  "iscsi", "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder", "cephfs", "flocker",
                  "downwardAPI", "fc", "azureFile", "vsphereVolume", "quobyte", "azureDisk", "photonPersistentDisk",
                  "projected", "portworxVolume", "scaleIO", "configMap", "storageos", "csi", "ephemeral", "image")
PROBE_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")
QUANTITY_REGEX = "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"


class QuantityDecodeError(ValueError):
    """A quantity that does not parse: the real server fails to decode the object (400)."""

    def __init__(self) -> None:
        super().__init__(f"quantities must match the regular expression {QUANTITY_REGEX}")


def quantity(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise QuantityDecodeError()
    try:
        return parse_quantity(value)
    except QuantityError as e:
        raise QuantityDecodeError() from e


def _is_int(v: Any) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool)


def resource_list(values: Any, path: str) -> tuple[list[Cause], dict[str, Decimal]]:
    """A map of resource name to quantity: each parses (else 400) and is >= 0."""
    causes: list[Cause] = []
    parsed: dict[str, Decimal] = {}
    for name, raw in as_dict(values).items():
        q = quantity(raw)
        parsed[name] = q
        if q < 0:
            causes.append(invalid(f"{path}[{name}]", str(raw), "must be greater than or equal to 0"))
    return causes, parsed


def labels(values: Any, path: str) -> list[Cause]:
    """ValidateLabels: keys are qualified names, values label values; both reported at the map's path."""
    causes = []
    for k, v in as_dict(values).items():
        causes += [invalid(path, k, m) for m in names.qualified_name(str(k))]
        causes += [invalid(path, v, m) for m in names.label_value(str(v))] if isinstance(v, str) else []
    return causes


def _port_or_name(value: Any, path: str) -> list[Cause]:
    if _is_int(value):
        return [invalid(path, value, m) for m in names.port_number(value)]
    if isinstance(value, str):
        return [invalid(path, value, m) for m in names.port_name(value)] if value else [required(path)]
    return [required(path)] if value is None else [invalid(path, value, "must be an integer or a string")]


# ---------------------------------------------------------------------------------------------- pods

def unique_label_name(name: Any, path: str, seen: set[str]) -> list[Cause]:
    """A required DNS-label name that must be unique among its siblings (volumes, containers); adds it to `seen`."""
    if not name:
        return [required(path)]
    if name in seen:
        return [duplicate(path, name)]
    seen.add(str(name))
    return [invalid(path, name, m) for m in names.dns1123_label(str(name))]


def volumes(vols: Any, path: str) -> tuple[list[Cause], set[str]]:
    causes: list[Cause] = []
    seen: set[str] = set()
    for i, v in enumerate(as_list(vols)):
        p = f"{path}[{i}]"
        v = as_dict(v)
        name = v.get("name")
        causes += unique_label_name(name, f"{p}.name", seen)
        sources = [s for s in VOLUME_SOURCES if v.get(s) is not None]
        if not sources:
            causes.append(required(p, "must specify a volume type"))
        causes += [forbidden(f"{p}.{s}", "may not specify more than 1 volume type") for s in sources[1:]]
        pvc = as_dict(v.get("persistentVolumeClaim"))
        if "persistentVolumeClaim" in sources and not pvc.get("claimName"):
            causes.append(required(f"{p}.persistentVolumeClaim.claimName"))
    return causes, seen


def _probe(probe: Any, path: str, *, liveness_like: bool) -> list[Cause]:
    if probe is None:
        return []
    probe = as_dict(probe)
    handlers = [h for h in PROBE_HANDLERS if probe.get(h) is not None]
    causes = [required(path, "must specify a handler type")] if not handlers else []
    causes += [forbidden(f"{path}.{h}", "may not specify more than 1 handler type") for h in handlers[1:]]
    for key in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold"):
        causes += nonnegative(probe, key, path)
    if liveness_like and _is_int(probe.get("successThreshold")) and probe["successThreshold"] != 1:
        causes.append(invalid(f"{path}.successThreshold", probe["successThreshold"], "must be 1"))
    for h, key in (("httpGet", "port"), ("tcpSocket", "port")):
        if h in handlers:
            causes += _port_or_name(as_dict(probe[h]).get(key), f"{path}.{h}.{key}")
    if "exec" in handlers and not as_dict(probe["exec"]).get("command"):
        causes.append(required(f"{path}.exec.command"))
    return causes


def _resources(res: Any, path: str) -> list[Cause]:
    res = as_dict(res)
    limit_causes, limits = resource_list(res.get("limits"), f"{path}.limits")
    request_causes, requests = resource_list(res.get("requests"), f"{path}.requests")
    causes = limit_causes + request_causes
    raw_requests, raw_limits = as_dict(res.get("requests")), as_dict(res.get("limits"))
    for name, req in requests.items():
        if name in limits and req > limits[name]:
            causes.append(invalid(f"{path}.requests", str(raw_requests[name]),
                                  f"must be less than or equal to {name} limit of {raw_limits[name]}"))
    return causes


def container(c: Any, path: str, vol_names: set[str], seen: set[str], *, init: bool = False) -> list[Cause]:
    if not isinstance(c, dict):
        return [invalid(path, c, "must be an object")]
    causes: list[Cause] = []
    name = c.get("name")
    causes += unique_label_name(name, f"{path}.name", seen)
    if not c.get("image"):
        causes.append(required(f"{path}.image"))
    causes += one_of(c, "imagePullPolicy", path, PULL_POLICIES)
    causes += one_of(c, "terminationMessagePolicy", path, ("FallbackToLogsOnError", "File"))
    port_names: set[str] = set()
    for i, port in enumerate(as_list(c.get("ports"))):
        p = f"{path}.ports[{i}]"
        port = as_dict(port)
        pname = port.get("name")
        if pname:
            causes += [invalid(f"{p}.name", pname, m) for m in names.port_name(str(pname))]
            if pname in port_names:
                causes.append(duplicate(f"{p}.name", pname))
            port_names.add(str(pname))
        cport = port.get("containerPort")
        if not cport:
            causes.append(required(f"{p}.containerPort"))
        elif _is_int(cport):
            causes += [invalid(f"{p}.containerPort", cport, m) for m in names.port_number(cport)]
        if _is_int(port.get("hostPort")) and port["hostPort"] != 0:
            causes += [invalid(f"{p}.hostPort", port["hostPort"], m) for m in names.port_number(port["hostPort"])]
        causes += one_of(port, "protocol", p, PROTOCOLS)
    for i, env in enumerate(as_list(c.get("env"))):
        p = f"{path}.env[{i}]"
        env = as_dict(env)
        ename = env.get("name")
        if not ename:
            causes.append(required(f"{p}.name"))
        else:
            causes += [invalid(f"{p}.name", ename, m) for m in names.env_var_name(str(ename))]
        if env.get("value") and env.get("valueFrom") is not None:
            causes.append(invalid(f"{p}.valueFrom", "", "may not be specified when `value` is not empty"))
        sources = [k for k in ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef")
                   if as_dict(env.get("valueFrom")).get(k) is not None]
        if len(sources) > 1:
            causes.append(invalid(f"{p}.valueFrom", "", "may not have more than one field specified at a time"))
    causes += _resources(c.get("resources"), f"{path}.resources")
    mount_paths: set[str] = set()
    for i, m in enumerate(as_list(c.get("volumeMounts"))):
        p = f"{path}.volumeMounts[{i}]"
        m = as_dict(m)
        if not m.get("name"):
            causes.append(required(f"{p}.name"))
        elif m["name"] not in vol_names:
            causes.append(not_found(f"{p}.name", m["name"]))
        mount = m.get("mountPath")
        if not mount:
            causes.append(required(f"{p}.mountPath"))
        elif mount in mount_paths:
            causes.append(invalid(f"{p}.mountPath", mount, "must be unique"))
        else:
            mount_paths.add(str(mount))
    for key in ("livenessProbe", "startupProbe", "readinessProbe"):
        if init and c.get(key) is not None and c.get("restartPolicy") != "Always":
            causes.append(forbidden(f"{path}.{key}", "may not be set for init containers without restartPolicy=Always"))
        else:
            causes += _probe(c.get(key), f"{path}.{key}", liveness_like=key != "readinessProbe")
    return causes


def tolerations(items: Any, path: str) -> list[Cause]:
    causes: list[Cause] = []
    for i, t in enumerate(as_list(items)):
        p = f"{path}[{i}]"
        t = as_dict(t)
        key, op, value, effect = t.get("key") or "", t.get("operator") or "", t.get("value") or "", t.get("effect")
        if key:
            causes += [invalid(f"{p}.key", key, m) for m in names.qualified_name(str(key))]
        elif op != "Exists":
            causes.append(invalid(f"{p}.operator", op, "operator must be Exists when `key` is empty, which means "
                                  "\"match all values and all keys\""))
        if t.get("tolerationSeconds") is not None and effect != "NoExecute":
            causes.append(invalid(f"{p}.effect", effect or "", "effect must be 'NoExecute' when `tolerationSeconds` "
                                  "is set"))
        if op in ("", "Equal"):
            causes += [invalid(f"{p}.value", value, m) for m in names.label_value(str(value))]
        elif op == "Exists":
            if value:
                causes.append(invalid(f"{p}.operator", value, "value must be empty when `operator` is 'Exists'"))
        else:
            causes.append(not_supported(f"{p}.operator", op, TOLERATION_OPERATORS))
        if effect:
            causes += one_of(t, "effect", p, TAINT_EFFECTS)
    return causes


def pod_spec(spec: Any, path: str, *, restart_policies: tuple[str, ...] = RESTART_POLICIES) -> list[Cause]:
    """ValidatePodSpec for the fields users write; `restart_policies` narrows the allowed policies (Jobs,
    DaemonSets) with the same Unsupported message."""
    if not isinstance(spec, dict):
        return [required(path)]
    causes, vol_names = volumes(spec.get("volumes"), f"{path}.volumes")
    seen: set[str] = set()
    for i, c in enumerate(as_list(spec.get("initContainers"))):
        causes += container(c, f"{path}.initContainers[{i}]", vol_names, seen, init=True)
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        causes.append(required(f"{path}.containers"))
    else:
        for i, c in enumerate(containers):
            causes += container(c, f"{path}.containers[{i}]", vol_names, seen)
    causes += one_of(spec, "restartPolicy", path, restart_policies)
    causes += one_of(spec, "dnsPolicy", path, DNS_POLICIES)
    causes += nonnegative(spec, "terminationGracePeriodSeconds", path)
    ads = spec.get("activeDeadlineSeconds")
    if _is_int(ads) and not 1 <= ads <= 2**31 - 1:
        causes.append(invalid(f"{path}.activeDeadlineSeconds", ads, "must be between 1 and 2147483647, inclusive"))
    causes += labels(spec.get("nodeSelector"), f"{path}.nodeSelector")
    causes += tolerations(spec.get("tolerations"), f"{path}.tolerations")
    for key in ("serviceAccountName", "nodeName"):
        if spec.get(key):
            causes += [invalid(f"{path}.{key}", spec[key], m) for m in names.dns1123_subdomain(str(spec[key]))]
    if spec.get("hostname"):
        causes += [invalid(f"{path}.hostname", spec["hostname"], m) for m in names.dns1123_label(spec["hostname"])]
    return causes


POD_UPDATABLE = ("`spec.containers[*].image`", "`spec.initContainers[*].image`", "`spec.activeDeadlineSeconds`",
                 "`spec.tolerations` (only additions to existing tolerations)",
                 "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)")


def pod_update(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """A pod's spec is immutable except images, activeDeadlineSeconds, added tolerations and the grace period."""
    def mutable_cleared(spec: Any) -> Any:
        if not isinstance(spec, dict):
            return spec
        spec = {k: v for k, v in spec.items() if k not in ("activeDeadlineSeconds", "tolerations",
                                                            "terminationGracePeriodSeconds", "schedulingGates")}
        for key in ("containers", "initContainers"):
            if isinstance(spec.get(key), list):
                spec[key] = [{k: v for k, v in c.items() if k != "image"} if isinstance(c, dict) else c
                             for c in spec[key]]
        return spec
    new_spec, old_spec = as_dict(new.get("spec")), as_dict(old.get("spec"))
    causes = []
    if mutable_cleared(new_spec) != mutable_cleared(old_spec):
        causes.append(forbidden("spec", "pod updates may not change fields other than " + ",".join(POD_UPDATABLE)))
    old_tol = as_list(old_spec.get("tolerations"))
    if any(t not in as_list(new_spec.get("tolerations")) for t in old_tol):
        causes.append(forbidden("spec.tolerations", "existing toleration can not be modified except its "
                                "tolerationSeconds"))
    old_gates = {g.get("name") for g in as_list(old_spec.get("schedulingGates")) if isinstance(g, dict)}
    for i, gate in enumerate(as_list(new_spec.get("schedulingGates"))):  # validateOnlyDeletedSchedulingGates
        name = gate.get("name") if isinstance(gate, dict) else None
        if name not in old_gates:
            causes.append(forbidden(f"spec.schedulingGates[{i}].name", "only deletion is allowed, but found new "
                                    f"scheduling gate '{name}'"))
    old_ads, new_ads = old_spec.get("activeDeadlineSeconds"), new_spec.get("activeDeadlineSeconds")
    if old_ads is not None and (new_ads is None or (_is_int(new_ads) and new_ads > old_ads)):
        causes.append(invalid("spec.activeDeadlineSeconds", new_ads, "must be less than or equal to previous value"
                              if new_ads is not None else "must not update from a positive integer to nil value"))
    return causes


# ---------------------------------------------------------------------------------------------- services

def service(obj: dict[str, Any]) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    causes = one_of(spec, "type", "spec", SERVICE_TYPES)
    stype = spec.get("type")
    ports = as_list(spec.get("ports"))
    if stype == "ExternalName":
        if not spec.get("externalName"):
            causes.append(required("spec.externalName"))
        else:
            causes += [invalid("spec.externalName", spec["externalName"], m)
                       for m in names.dns1123_subdomain(str(spec["externalName"]).rstrip("."))]
    elif not ports and spec.get("clusterIP") != "None":
        causes.append(required("spec.ports"))
    seen_names: set[str] = set()
    seen_ports: set[tuple[Any, Any]] = set()
    for i, port in enumerate(ports):
        p = f"spec.ports[{i}]"
        port = as_dict(port)
        name = port.get("name")
        if len(ports) > 1 and not name:
            causes.append(required(f"{p}.name"))
        elif name:
            causes += [invalid(f"{p}.name", name, m) for m in names.dns1123_label(str(name))]
            if name in seen_names:
                causes.append(duplicate(f"{p}.name", name))
            seen_names.add(str(name))
        number = port.get("port")
        if not _is_int(number):
            causes.append(required(f"{p}.port") if number is None else invalid(f"{p}.port", number,
                                                                              "must be an integer"))
        else:
            causes += [invalid(f"{p}.port", number, m) for m in names.port_number(number)]
        causes += one_of(port, "protocol", p, PROTOCOLS)
        pair = (number, port.get("protocol"))
        if pair in seen_ports:
            causes.append(duplicate(p, {"port": number, "protocol": port.get("protocol")}))
        seen_ports.add(pair)
        if "targetPort" in port:
            causes += _port_or_name(port["targetPort"], f"{p}.targetPort")
        node_port = port.get("nodePort")
        if node_port:
            # The range (--service-node-port-range) is the allocator's to check, as in kube-apiserver.
            if stype not in ("NodePort", "LoadBalancer"):
                causes.append(forbidden(f"{p}.nodePort", f"may not be used when `type` is '{stype}'"))
    causes += one_of(spec, "sessionAffinity", "spec", ("ClientIP", "None"))
    for key in ("externalTrafficPolicy", "internalTrafficPolicy"):
        causes += one_of(spec, key, "spec", ("Cluster", "Local"))
    ip = spec.get("clusterIP")
    if ip and ip != "None":
        causes += [invalid("spec.clusterIPs[0]", ip, m) for m in names.ip_address(str(ip))]
    causes += labels(spec.get("selector"), "spec.selector")
    return causes


def service_update(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    old_ip = as_dict(old.get("spec")).get("clusterIP")
    new_spec = as_dict(new.get("spec"))
    if old_ip and new_spec.get("type") != "ExternalName" and new_spec.get("clusterIP") != old_ip:
        ips = new_spec.get("clusterIPs") or ([new_spec["clusterIP"]] if new_spec.get("clusterIP") else [])
        return [invalid("spec.clusterIPs[0]", ips, "may not change once set" if ips else
                        "primary clusterIP can not be unset")]
    return []


# ---------------------------------------------------------------------------------------------- config

def _data_keys(data: Any, path: str) -> list[Cause]:
    return [invalid(f"{path}[{k}]", k, m) for k in as_dict(data) for m in names.config_key(str(k))]


def _b64_len(v: Any, path: str) -> tuple[int, list[Cause]]:
    try:
        return len(base64.b64decode(str(v), validate=True)), []
    except (binascii.Error, ValueError):
        return 0, [invalid(path, "<secret contents redacted>", "illegal base64 data")]


def config_map(obj: dict[str, Any]) -> list[Cause]:
    data, binary = as_dict(obj.get("data")), as_dict(obj.get("binaryData"))
    causes = _data_keys(data, "data") + _data_keys(binary, "binaryData")
    causes += [invalid(f"data[{k}]", k, "duplicate of key present in binaryData") for k in data if k in binary]
    size = sum(len(k) + len(str(v).encode()) for k, v in data.items())
    for k, v in binary.items():
        n, bad = _b64_len(v, f"binaryData[{k}]")
        size += len(k) + n
        causes += bad
    if size > MAX_DATA_BYTES:
        causes.append(too_long("", MAX_DATA_BYTES))
    return causes


def _immutable_data(new: dict[str, Any], old: dict[str, Any], keys: tuple[str, ...]) -> list[Cause]:
    if old.get("immutable") is not True:
        return []
    causes = []
    if new.get("immutable") is not True:
        causes.append(forbidden("immutable", "field is immutable when `immutable` is set"))
    for k in keys:
        if (new.get(k) or {}) != (old.get(k) or {}):
            causes.append(forbidden(k, "field is immutable when `immutable` is set"))
    return causes


def config_map_update(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    return _immutable_data(new, old, ("data", "binaryData"))


SECRET_REQUIRED_KEYS = {"kubernetes.io/dockercfg": (".dockercfg",),
                        "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
                        "kubernetes.io/ssh-auth": ("ssh-privatekey",),
                        "kubernetes.io/tls": ("tls.crt", "tls.key")}


def secret(obj: dict[str, Any]) -> list[Cause]:
    data = as_dict(obj.get("data"))
    causes = _data_keys(data, "data")
    size = 0
    for k, v in data.items():
        n, bad = _b64_len(v, f"data[{k}]")
        size += len(k) + n
        causes += bad
    kind = obj.get("type") or "Opaque"
    annotations = as_dict(as_dict(obj.get("metadata")).get("annotations"))
    if kind == "kubernetes.io/service-account-token" and not annotations.get("kubernetes.io/service-account.name"):
        causes.append(required("metadata.annotations[kubernetes.io/service-account.name]"))
    causes += [required(f"data[{k}]") for k in SECRET_REQUIRED_KEYS.get(kind, ()) if k not in data]
    if kind == "kubernetes.io/basic-auth" and "username" not in data and "password" not in data:
        causes += [required("data[username]"), required("data[password]")]
    if size > MAX_DATA_BYTES:
        causes.append(too_long("data", MAX_DATA_BYTES))
    return causes


def secret_update(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    causes = []
    if (new.get("type") or "Opaque") != (old.get("type") or "Opaque"):
        causes.append(invalid("type", new.get("type"), "field is immutable"))
    return causes + _immutable_data(new, old, ("data",))


# ---------------------------------------------------------------------------------------------- nodes, quotas

def node(obj: dict[str, Any]) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    causes: list[Cause] = []
    seen: set[tuple[Any, Any]] = set()
    for i, t in enumerate(as_list(spec.get("taints"))):
        p = f"spec.taints[{i}]"
        t = as_dict(t)
        if not t.get("key"):
            causes.append(required(f"{p}.key"))
        else:
            causes += [invalid(f"{p}.key", t["key"], m) for m in names.qualified_name(str(t["key"]))]
        if t.get("value"):
            causes += [invalid(f"{p}.value", t["value"], m) for m in names.label_value(str(t["value"]))]
        causes += one_of(t, "effect", p, TAINT_EFFECTS, required_=True)
        key = (t.get("key"), t.get("effect"))
        if key in seen:
            causes.append(duplicate(p, {"key": key[0], "effect": key[1]}))
        seen.add(key)
    for i, cidr in enumerate(as_list(spec.get("podCIDRs")) or ([spec["podCIDR"]] if spec.get("podCIDR") else [])):
        ip, _, bits = str(cidr).partition("/")
        if names.ip_address(ip) or not bits.isdigit():
            causes.append(invalid(f"spec.podCIDRs[{i}]", cidr, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or "
                                  "2001:db8::/64)"))
    return causes


QUOTA_SCOPES = ("BestEffort", "CrossNamespacePodAffinity", "NotBestEffort", "NotTerminating", "PriorityClass",
                "Terminating", "VolumeAttributesClass")


def resource_quota(obj: dict[str, Any]) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    causes, _ = resource_list(spec.get("hard"), "spec.hard")
    for i, scope in enumerate(as_list(spec.get("scopes"))):
        if scope not in QUOTA_SCOPES:
            causes.append(not_supported(f"spec.scopes[{i}]", scope, QUOTA_SCOPES))
    return causes


LIMIT_TYPES = ("Container", "PersistentVolumeClaim", "Pod")


def limit_range(obj: dict[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    for i, item in enumerate(as_list(as_dict(obj.get("spec")).get("limits"))):
        p = f"spec.limits[{i}]"
        item = as_dict(item)
        causes += one_of(item, "type", p, LIMIT_TYPES, required_=True)
        parsed: dict[str, dict[str, Decimal]] = {}
        raw: dict[str, dict[str, Any]] = {}
        for part in ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio"):
            bad, parsed[part] = resource_list(item.get(part), f"{p}.{part}")
            raw[part] = as_dict(item.get(part))
            causes += bad
        for k in set().union(*(parsed[x].keys() for x in parsed)):
            lo, hi, d, dr = (parsed[x].get(k) for x in ("min", "max", "default", "defaultRequest"))

            def r(x: str, k: str = k, raw: dict[str, dict[str, Any]] = raw) -> str:
                return str(raw[x][k])
            if lo is not None and hi is not None and lo > hi:
                causes.append(invalid(f"{p}.min[{k}]", r("min"), f"min value {r('min')} is greater than max value "
                                      f"{r('max')}"))
            if dr is not None and lo is not None and lo > dr:
                causes.append(invalid(f"{p}.defaultRequest[{k}]", r("defaultRequest"), f"min value {r('min')} is "
                                      f"greater than default request value {r('defaultRequest')}"))
            if dr is not None and hi is not None and dr > hi:
                causes.append(invalid(f"{p}.defaultRequest[{k}]", r("defaultRequest"), "default request value "
                                      f"{r('defaultRequest')} is greater than max value {r('max')}"))
            if dr is not None and d is not None and dr > d:
                causes.append(invalid(f"{p}.defaultRequest[{k}]", r("defaultRequest"), "default request value "
                                      f"{r('defaultRequest')} is greater than default limit value {r('default')}"))
            if d is not None and lo is not None and lo > d:
                causes.append(invalid(f"{p}.default[{k}]", r("min"), f"min value {r('min')} is greater than default "
                                      f"value {r('default')}"))
            if d is not None and hi is not None and d > hi:
                causes.append(invalid(f"{p}.default[{k}]", r("max"), f"default value {r('default')} is greater than "
                                      f"max value {r('max')}"))
    return causes
