"""`kubectl get` tables (meta.k8s.io/v1 Table) with kube-apiserver's columns per resource; pure.

Columns with priority 1 appear only under `-o wide`. `now` is passed in for the AGE column.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from apiserver.registry.meta import parse_rfc3339
from apiserver.selectors import format_selector, selector_from_spec

Obj = dict[str, Any]
Column = tuple[str, str, int, str, Callable[[Obj, float], Any]]  # name, type, priority, format, cell


def human_duration(seconds: float) -> str:
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m" if s % 60 == 0 else f"{m}m{s % 60}s"
    if m < 180:
        return f"{m}m"
    h = m // 60
    if h < 8:
        return f"{h}h" if m % 60 == 0 else f"{h}h{m % 60}m"
    if h < 48:
        return f"{h}h"
    if h < 24 * 8:
        return f"{h // 24}d" if h % 24 == 0 else f"{h // 24}d{h % 24}h"
    if h < 24 * 365 * 2:
        return f"{h // 24}d"
    if h < 24 * 365 * 8:
        dy = (h // 24) % 365
        return f"{h // 24 // 365}y" if dy == 0 else f"{h // 24 // 365}y{dy}d"
    return f"{h // 24 // 365}y"


def _age(o: Obj, now: float) -> str:
    ts = o.get("metadata", {}).get("creationTimestamp")
    return human_duration(now - parse_rfc3339(ts)) if ts else "<unknown>"


def _name(o: Obj, now: float) -> str:
    return str(o.get("metadata", {}).get("name", ""))


def _get(o: Any, *path: str, default: Any = None) -> Any:
    for p in path:
        if not isinstance(o, dict) or p not in o:
            return default
        o = o[p]
    return o


def _pod_ready(o: Obj, now: float) -> str:
    containers = _get(o, "spec", "containers", default=[]) or []
    statuses = _get(o, "status", "containerStatuses", default=[]) or []
    return f"{sum(1 for s in statuses if s.get('ready'))}/{len(containers)}"


def _pod_status(o: Obj, now: float) -> str:
    if _get(o, "metadata", "deletionTimestamp"):
        return "Terminating"
    reason = _get(o, "status", "reason")
    if any(c.get("type") == "PodScheduled" and c.get("reason") == "SchedulingGated"
           for c in _get(o, "status", "conditions", default=[]) or []):
        reason = "SchedulingGated"
    if reason:
        return str(reason)
    for s in _get(o, "status", "containerStatuses", default=[]) or []:
        waiting = _get(s, "state", "waiting", "reason")
        if waiting:
            return str(waiting)
    return str(_get(o, "status", "phase", default="Pending"))


def _restarts(o: Obj, now: float) -> int:
    return sum(int(s.get("restartCount", 0)) for s in _get(o, "status", "containerStatuses", default=[]) or [])


def _ports(o: Obj, now: float) -> str:
    out = []
    for p in _get(o, "spec", "ports", default=[]) or []:
        s = str(p.get("port"))
        if p.get("nodePort"):
            s += f":{p['nodePort']}"
        out.append(f"{s}/{p.get('protocol', 'TCP')}")
    return ",".join(out) or "<none>"


def _selector_map(o: Obj, now: float) -> str:
    sel = _get(o, "spec", "selector") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(sel.items())) or "<none>"


def _label_selector(o: Obj, now: float) -> str:
    return format_selector(selector_from_spec(_get(o, "spec", "selector"))) or "<none>"


def _containers(o: Obj, now: float) -> str:
    return ",".join(c.get("name", "") for c in _get(o, "spec", "template", "spec", "containers", default=[]) or [])


def _images(o: Obj, now: float) -> str:
    return ",".join(c.get("image", "") for c in _get(o, "spec", "template", "spec", "containers", default=[]) or [])


def _node_status(o: Obj, now: float) -> str:
    ready = [c for c in _get(o, "status", "conditions", default=[]) or [] if c.get("type") == "Ready"]
    status = "Ready" if ready and ready[0].get("status") == "True" else ("NotReady" if ready else "Unknown")
    if _get(o, "spec", "unschedulable"):
        status += ",SchedulingDisabled"
    return status


def _node_roles(o: Obj, now: float) -> str:
    labels = _get(o, "metadata", "labels", default={}) or {}
    roles = sorted(k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/"))
    return ",".join(roles) or "<none>"


def _node_address(kind: str) -> Callable[[Obj, float], str]:
    def cell(o: Obj, now: float) -> str:
        for a in _get(o, "status", "addresses", default=[]) or []:
            if a.get("type") == kind:
                return str(a.get("address"))
        return "<none>"
    return cell


def _field(*path: str, default: Any = "<none>") -> Callable[[Obj, float], Any]:
    return lambda o, now: _get(o, *path, default=default)


def _count(*path: str) -> Callable[[Obj, float], int]:
    return lambda o, now: len(_get(o, *path, default={}) or {})


def _svc_external(o: Obj, now: float) -> str:
    ips = list(_get(o, "spec", "externalIPs", default=[]) or [])
    ips += [i.get("ip") or i.get("hostname") for i in _get(o, "status", "loadBalancer", "ingress", default=[]) or []]
    if ips:
        return ",".join(ips)
    return "<pending>" if _get(o, "spec", "type") == "LoadBalancer" else "<none>"


def _ready_of(status_field: str) -> Callable[[Obj, float], str]:
    return lambda o, now: f"{_get(o, 'status', status_field, default=0)}/{_get(o, 'spec', 'replicas', default=0)}"


def _node_selector(o: Obj, now: float) -> str:
    sel = _get(o, "spec", "template", "spec", "nodeSelector", default={}) or {}
    return ",".join(f"{k}={v}" for k, v in sorted(sel.items())) or "<none>"


def _int_or_na(key: str) -> Callable[[Obj, float], str]:
    def cell(o: Obj, now: float) -> str:
        v = _get(o, "spec", key)
        return "N/A" if v is None else str(v)
    return cell


def _created_at(o: Obj, now: float) -> str:
    return str(_get(o, "metadata", "creationTimestamp", default=""))


def _controller(o: Obj, now: float) -> str:
    for ref in _get(o, "metadata", "ownerReferences", default=[]) or []:
        if ref.get("controller"):
            group = str(ref.get("apiVersion", "")).rpartition("/")[0]
            return f"{str(ref.get('kind', '')).lower()}{'.' + group if group else ''}/{ref.get('name', '')}"
    return "<none>"


def _job_status(o: Obj, now: float) -> str:
    conds = {c.get("type"): c.get("status") for c in _get(o, "status", "conditions", default=[]) or []}
    for t in ("Complete", "Failed", "FailureTarget", "SuccessCriteriaMet", "Suspended"):
        if conds.get(t) == "True":
            return t
    return "Running"


def _job_duration(o: Obj, now: float) -> str:
    start = _get(o, "status", "startTime")
    if not start:
        return ""
    end = _get(o, "status", "completionTime")
    return human_duration((parse_rfc3339(end) if end else now) - parse_rfc3339(start))


def _since(*path: str) -> Callable[[Obj, float], str]:
    def cell(o: Obj, now: float) -> str:
        ts = _get(o, *path)
        return human_duration(now - parse_rfc3339(ts)) if ts else "<none>"
    return cell


def _job_containers(key: str) -> Callable[[Obj, float], str]:
    return lambda o, now: ",".join(str(c.get(key, "")) for c in _get(o, "spec", "jobTemplate", "spec", "template",
                                                                      "spec", "containers", default=[]) or [])


def _endpoints(o: Obj, now: float) -> str:
    out: list[str] = []
    for subset in o.get("subsets") or []:
        ports = [p.get("port") for p in subset.get("ports") or []] or [None]
        for a in subset.get("addresses") or []:
            out += [f"{a.get('ip')}:{p}" if p is not None else str(a.get("ip")) for p in ports]
    if not out:
        return "<none>"
    return ",".join(out[:3]) + (f" + {len(out) - 3} more..." if len(out) > 3 else "")


def _slice_ports(o: Obj, now: float) -> str:
    ports = [str(p.get("port")) for p in o.get("ports") or [] if p.get("port") is not None]
    return ",".join(ports) if ports else "<unset>"


def _slice_endpoints(o: Obj, now: float) -> str:
    addrs = [a for e in o.get("endpoints") or [] for a in e.get("addresses") or []]
    if not addrs:
        return "<unset>"
    return ",".join(addrs[:3]) + (f" + {len(addrs) - 3} more..." if len(addrs) > 3 else "")


ACCESS_MODES = {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX", "ReadWriteOncePod": "RWOP"}


def _access_modes(o: Obj, now: float) -> str:
    return ",".join(ACCESS_MODES.get(m, m) for m in _get(o, "status", "accessModes", default=[]) or [])


def _subjects(kind: str) -> Callable[[Obj, float], str]:
    def cell(o: Obj, now: float) -> str:
        names = [(f"{s.get('namespace')}/{s.get('name')}" if kind == "ServiceAccount" else str(s.get("name")))
                 for s in o.get("subjects") or [] if s.get("kind") == kind]
        return ", ".join(names)
    return cell


def _role_ref(o: Obj, now: float) -> str:
    return f"{_get(o, 'roleRef', 'kind', default='')}/{_get(o, 'roleRef', 'name', default='')}"


def _quota(kind: str) -> Callable[[Obj, float], str]:
    def cell(o: Obj, now: float) -> str:
        hard = _get(o, "status", "hard", default={}) or {}
        used = _get(o, "status", "used", default={}) or {}
        keys = sorted(k for k in hard if (k.startswith("limits.") if kind == "limit" else not k.startswith("limits.")))
        return ", ".join(f"{k}: {used.get(k, '0')}/{hard[k]}" for k in keys)
    return cell


def _event_object(o: Obj, now: float) -> str:
    ref = o.get("involvedObject") or o.get("regarding") or {}
    return f"{str(ref.get('kind', '')).lower()}/{ref.get('name', '')}"


def _event_last_seen(o: Obj, now: float) -> str:
    ts = o.get("lastTimestamp") or o.get("deprecatedLastTimestamp") or o.get("eventTime")
    return human_duration(now - parse_rfc3339(ts)) if ts else "<unknown>"


NAME: Column = ("Name", "string", 0, "name", _name)
AGE: Column = ("Age", "string", 0, "", _age)
COLUMNS: dict[str, list[Column]] = {
    "namespaces": [NAME, ("Status", "string", 0, "", _field("status", "phase", default="")), AGE],
    "configmaps": [NAME, ("Data", "string", 0, "", lambda o, n: len(o.get("data") or {}) + len(o.get("binaryData")
                                                                                                 or {})), AGE],
    "secrets": [NAME, ("Type", "string", 0, "", _field("type", default="")), ("Data", "string", 0, "",
                                                                                _count("data")), AGE],
    "serviceaccounts": [NAME, ("Secrets", "string", 0, "", lambda o, n: len(o.get("secrets") or [])), AGE],
    "pods": [NAME, ("Ready", "string", 0, "", _pod_ready), ("Status", "string", 0, "", _pod_status),
             ("Restarts", "string", 0, "", _restarts), AGE,
             ("IP", "string", 1, "", _field("status", "podIP")), ("Node", "string", 1, "", _field("spec", "nodeName")),
             ("Nominated Node", "string", 1, "", _field("status", "nominatedNodeName")),
             ("Readiness Gates", "string", 1, "", lambda o, n: "<none>")],
    "services": [NAME, ("Type", "string", 0, "", _field("spec", "type", default="ClusterIP")),
                 ("Cluster-IP", "string", 0, "", _field("spec", "clusterIP")),
                 ("External-IP", "string", 0, "", _svc_external), ("Port(s)", "string", 0, "", _ports), AGE,
                 ("Selector", "string", 1, "", _selector_map)],
    "nodes": [NAME, ("Status", "string", 0, "", _node_status), ("Roles", "string", 0, "", _node_roles), AGE,
              ("Version", "string", 0, "", _field("status", "nodeInfo", "kubeletVersion", default="")),
              ("Internal-IP", "string", 1, "", _node_address("InternalIP")),
              ("External-IP", "string", 1, "", _node_address("ExternalIP")),
              ("OS-Image", "string", 1, "", _field("status", "nodeInfo", "osImage", default="<unknown>")),
              ("Kernel-Version", "string", 1, "", _field("status", "nodeInfo", "kernelVersion", default="<unknown>")),
              ("Container-Runtime", "string", 1, "", _field("status", "nodeInfo", "containerRuntimeVersion",
                                                            default="<unknown>"))],
    "deployments": [NAME, ("Ready", "string", 0, "", lambda o, n: f"{_get(o, 'status', 'readyReplicas', default=0)}"
                                                                   f"/{_get(o, 'spec', 'replicas', default=0)}"),
                    ("Up-to-date", "integer", 0, "", _field("status", "updatedReplicas", default=0)),
                    ("Available", "integer", 0, "", _field("status", "availableReplicas", default=0)), AGE,
                    ("Containers", "string", 1, "", _containers), ("Images", "string", 1, "", _images),
                    ("Selector", "string", 1, "", _label_selector)],
    "replicasets": [NAME, ("Desired", "integer", 0, "", _field("spec", "replicas", default=0)),
                    ("Current", "integer", 0, "", _field("status", "replicas", default=0)),
                    ("Ready", "integer", 0, "", _field("status", "readyReplicas", default=0)), AGE,
                    ("Containers", "string", 1, "", _containers), ("Images", "string", 1, "", _images),
                    ("Selector", "string", 1, "", _label_selector)],
    "events": [("Last Seen", "string", 0, "", _event_last_seen),
               ("Type", "string", 0, "", _field("type", default="")),
               ("Reason", "string", 0, "", _field("reason", default="")),
               ("Object", "string", 0, "", _event_object),
               ("Message", "string", 0, "", lambda o, n: o.get("message") or o.get("note") or "")],
    "statefulsets": [NAME, ("Ready", "string", 0, "", _ready_of("readyReplicas")), AGE,
                     ("Containers", "string", 1, "", _containers), ("Images", "string", 1, "", _images)],
    "daemonsets": [NAME, ("Desired", "integer", 0, "", _field("status", "desiredNumberScheduled", default=0)),
                   ("Current", "integer", 0, "", _field("status", "currentNumberScheduled", default=0)),
                   ("Ready", "integer", 0, "", _field("status", "numberReady", default=0)),
                   ("Up-to-date", "integer", 0, "", _field("status", "updatedNumberScheduled", default=0)),
                   ("Available", "integer", 0, "", _field("status", "numberAvailable", default=0)),
                   ("Node Selector", "string", 0, "", _node_selector), AGE,
                   ("Containers", "string", 1, "", _containers), ("Images", "string", 1, "", _images),
                   ("Selector", "string", 1, "", _label_selector)],
    "controllerrevisions": [NAME, ("Controller", "string", 0, "", _controller),
                            ("Revision", "integer", 0, "", _field("revision", default=0)), AGE],
    "jobs": [NAME, ("Status", "string", 0, "", _job_status),
             ("Completions", "string", 0, "", lambda o, n: f"{_get(o, 'status', 'succeeded', default=0)}/"
                                                           f"{_get(o, 'spec', 'completions', default=1)}"),
             ("Duration", "string", 0, "", _job_duration), AGE,
             ("Containers", "string", 1, "", _containers), ("Images", "string", 1, "", _images),
             ("Selector", "string", 1, "", _label_selector)],
    "cronjobs": [NAME, ("Schedule", "string", 0, "", _field("spec", "schedule", default="")),
                 ("Timezone", "string", 0, "", _field("spec", "timeZone")),
                 ("Suspend", "boolean", 0, "", lambda o, n: bool(_get(o, "spec", "suspend", default=False))),
                 ("Active", "integer", 0, "", lambda o, n: len(_get(o, "status", "active", default=[]) or [])),
                 ("Last Schedule", "date", 0, "", _since("status", "lastScheduleTime")), AGE,
                 ("Containers", "string", 1, "", _job_containers("name")),
                 ("Images", "string", 1, "", _job_containers("image")),
                 ("Selector", "string", 1, "", lambda o, n: "<none>")],
    "endpoints": [NAME, ("Endpoints", "string", 0, "", _endpoints), AGE],
    "endpointslices": [NAME, ("AddressType", "string", 0, "", _field("addressType", default="")),
                       ("Ports", "string", 0, "", _slice_ports), ("Endpoints", "string", 0, "", _slice_endpoints),
                       AGE],
    "persistentvolumeclaims": [NAME, ("Status", "string", 0, "", _field("status", "phase", default="")),
                               ("Volume", "string", 0, "", _field("spec", "volumeName", default="")),
                               ("Capacity", "string", 0, "", _field("status", "capacity", "storage", default="")),
                               ("Access Modes", "string", 0, "", _access_modes),
                               ("StorageClass", "string", 0, "", _field("spec", "storageClassName", default="")),
                               ("VolumeAttributesClass", "string", 0, "", _field(
                                   "spec", "volumeAttributesClassName", default="<unset>")), AGE,
                               ("VolumeMode", "string", 1, "", _field("spec", "volumeMode", default=""))],
    "replicationcontrollers": [NAME, ("Desired", "integer", 0, "", _field("spec", "replicas", default=0)),
                               ("Current", "integer", 0, "", _field("status", "replicas", default=0)),
                               ("Ready", "integer", 0, "", _field("status", "readyReplicas", default=0)), AGE,
                               ("Containers", "string", 1, "", _containers), ("Images", "string", 1, "", _images),
                               ("Selector", "string", 1, "", _selector_map)],
    "leases": [NAME, ("Holder", "string", 0, "", _field("spec", "holderIdentity", default="")), AGE],
    "roles": [NAME, ("Created At", "date", 0, "", _created_at)],
    "clusterroles": [NAME, ("Created At", "date", 0, "", _created_at)],
    "rolebindings": [NAME, ("Role", "string", 0, "", _role_ref), AGE,
                     ("Users", "string", 1, "", _subjects("User")), ("Groups", "string", 1, "", _subjects("Group")),
                     ("ServiceAccounts", "string", 1, "", _subjects("ServiceAccount"))],
    "clusterrolebindings": [NAME, ("Role", "string", 0, "", _role_ref), AGE,
                            ("Users", "string", 1, "", _subjects("User")),
                            ("Groups", "string", 1, "", _subjects("Group")),
                            ("ServiceAccounts", "string", 1, "", _subjects("ServiceAccount"))],
    "limitranges": [NAME, ("Created At", "date", 0, "", _created_at)],
    "priorityclasses": [NAME, ("Value", "integer", 0, "", _field("value", default=0)),
                        ("Global-Default", "boolean", 0, "", _field("globalDefault", default=False)), AGE,
                        ("PreemptionPolicy", "string", 0, "", _field("preemptionPolicy",
                                                                     default="PreemptLowerPriority"))],
    "poddisruptionbudgets": [NAME, ("Min Available", "string", 0, "", _int_or_na("minAvailable")),
                             ("Max Unavailable", "string", 0, "", _int_or_na("maxUnavailable")),
                             ("Allowed Disruptions", "integer", 0, "",
                              _field("status", "disruptionsAllowed", default=0)), AGE],
    "resourcequotas": [NAME, AGE, ("Request", "string", 0, "", _quota("request")),
                       ("Limit", "string", 0, "", _quota("limit"))],
}


def columns_for(plural: str) -> list[Column]:
    return COLUMNS.get(plural, [NAME, AGE])


def _partial(o: Obj) -> Obj:
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o.get("metadata", {})}


def to_table(plural: str, items: list[Obj], list_meta: Obj, now: float, *, include_object: str = "Metadata",
             with_headers: bool = True) -> Obj:
    cols = columns_for(plural)
    rows = []
    for o in items:
        row: Obj = {"cells": [c[4](o, now) for c in cols]}
        if include_object == "Object":
            row["object"] = o
        elif include_object != "None":
            row["object"] = _partial(o)
        rows.append(row)
    table: Obj = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta, "rows": rows}
    table["columnDefinitions"] = [{"name": c[0], "type": c[1], "format": c[3], "description": "",
                                   "priority": c[2]} for c in cols] if with_headers else []
    return table
