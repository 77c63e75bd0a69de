"""What the scheduler needs of a pod, computed once per pod version: requests (kube's PodRequests: containers,
init containers incl. restartable sidecars, overhead), non-zero requests for scoring, host ports, priority,
affinity terms. Plugins read these instead of walking the pod's JSON on every node."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from controllers.machinery.labels import Selector, SelectorError, from_label_selector
from controllers.scheduler.quantity import QuantityError, amount

Object = dict[str, Any]
NamespaceLabels = Mapping[str, Mapping[str, str]]

# schedutil.DefaultMilliCPURequest / DefaultMemoryRequest: what a container without requests counts for in scores.
DEFAULT_MILLI_CPU = 100
DEFAULT_MEMORY = 200 * 1024 * 1024


class PodSpecError(ValueError):
    """A field the scheduler cannot interpret (the API server took it without validation)."""


@dataclass(frozen=True)
class AffinityTerm:
    """A PodAffinityTerm with its selector compiled and its namespaces resolved (the pod's own when none)."""

    selector: Selector
    namespaces: frozenset[str]
    topology_key: str
    all_namespaces: bool = False  # namespaceSelector: {}
    weight: int = 0
    namespace_selector: Selector | None = None  # a non-empty namespaceSelector

    def matches(self, pod: PodInfo, ns_labels: NamespaceLabels | None = None) -> bool:
        """The term selects `pod`: its namespace is listed (or selected by labels, from `ns_labels`: namespace
        name -> labels) and its labels match."""
        if not self.all_namespaces and pod.namespace not in self.namespaces:
            sel = self.namespace_selector
            if sel is None or ns_labels is None or not sel.matches(ns_labels.get(pod.namespace)):
                return False
        return self.selector.matches(pod.labels)


@dataclass
class PodInfo:
    pod: Object
    key: str
    uid: str
    namespace: str
    name: str
    labels: Mapping[str, str]
    priority: int
    requests: dict[str, int]
    nonzero_cpu: int
    nonzero_memory: int
    ports: list[tuple[str, str, int]]
    tolerations: list[Object]
    node_selector: Mapping[str, str]
    node_affinity: Object
    required_affinity: list[AffinityTerm] = field(default_factory=list)
    required_anti_affinity: list[AffinityTerm] = field(default_factory=list)
    preferred_affinity: list[AffinityTerm] = field(default_factory=list)
    preferred_anti_affinity: list[AffinityTerm] = field(default_factory=list)
    spread_constraints: list[Object] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    pvcs: list[str] = field(default_factory=list)
    node_name: str = ""
    scheduler_name: str = "default-scheduler"
    preemption_policy: str = "PreemptLowerPriority"
    nominated_node: str = ""
    start_time: str = ""
    terminating: bool = False
    # uid of the controlling ReplicaSet/ReplicationController/StatefulSet: the system default spreading's selector
    spread_owner: str = ""
    error: str = ""  # set when the pod's spec could not be interpreted (the scheduling cycle reports it)
    # (resource, amount, "Insufficient <resource>") for every non-zero request, in kube's reporting order
    fit_order: list[tuple[str, int, str]] = field(default_factory=list)

    @property
    def has_affinity(self) -> bool:
        return bool(self.required_affinity or self.required_anti_affinity or self.preferred_affinity
                    or self.preferred_anti_affinity)


def _add(total: dict[str, int], reqs: Mapping[str, int]) -> None:
    for k, v in reqs.items():
        total[k] = total.get(k, 0) + v


def _max(total: dict[str, int], reqs: Mapping[str, int]) -> None:
    for k, v in reqs.items():
        if v > total.get(k, 0):
            total[k] = v


def _requests(container: Object) -> dict[str, int]:
    raw = ((container.get("resources") or {}).get("requests")) or {}
    try:
        return {k: amount(k, v) for k, v in raw.items()}
    except QuantityError as e:
        raise PodSpecError(str(e)) from None


def pod_requests(spec: Object) -> dict[str, int]:
    """resourcehelper.PodRequests: max(sum of containers + sidecars, each init container over the sidecars
    started before it) + overhead."""
    reqs: dict[str, int] = {}
    for c in spec.get("containers") or []:
        _add(reqs, _requests(c))
    init_max: dict[str, int] = {}
    sidecars: dict[str, int] = {}
    for c in spec.get("initContainers") or []:
        r = _requests(c)
        if c.get("restartPolicy") == "Always":
            _add(reqs, r)
            _add(sidecars, r)
            _max(init_max, sidecars)
        else:
            tmp = dict(r)
            _add(tmp, sidecars)
            _max(init_max, tmp)
    _max(reqs, init_max)
    try:
        _add(reqs, {k: amount(k, v) for k, v in (spec.get("overhead") or {}).items()})
    except QuantityError as e:
        raise PodSpecError(str(e)) from None
    return reqs


def nonzero_requests(spec: Object) -> tuple[int, int]:
    """The cpu/memory used for scoring: a container without a request counts as 100m / 200Mi."""
    cpu = mem = 0
    for c in spec.get("containers") or []:
        r = _requests(c)
        cpu += r.get("cpu", DEFAULT_MILLI_CPU)
        mem += r.get("memory", DEFAULT_MEMORY)
    return cpu, mem


FIRST_RESOURCES = ("cpu", "memory", "ephemeral-storage")
SPREAD_OWNER_KINDS = ("ReplicaSet", "ReplicationController", "StatefulSet")


def fit_order(reqs: Mapping[str, int]) -> list[tuple[str, int, str]]:
    """cpu, memory, ephemeral-storage, then the others by name; zero requests are never checked."""
    names = [n for n in FIRST_RESOURCES if reqs.get(n)]
    names += sorted(n for n in reqs if n not in FIRST_RESOURCES and n != "pods" and reqs[n])
    return [(n, reqs[n], f"Insufficient {n}") for n in names]


def _terms(pod_ns: str, raw: list[Object] | None, weighted: bool) -> list[AffinityTerm]:
    out = []
    for item in raw or []:
        term = (item.get("podAffinityTerm") or {}) if weighted else item
        try:
            sel = from_label_selector(term.get("labelSelector"))
        except SelectorError as e:
            raise PodSpecError(str(e)) from None
        ns_sel = term.get("namespaceSelector")
        namespaces = frozenset(term.get("namespaces") or ())
        all_ns = ns_sel is not None and not ns_sel.get("matchLabels") and not ns_sel.get("matchExpressions")
        if not namespaces and ns_sel is None:
            namespaces = frozenset((pod_ns,))
        try:
            ns_selector = from_label_selector(ns_sel) if ns_sel is not None and not all_ns else None
        except SelectorError as e:
            raise PodSpecError(str(e)) from None
        key = term.get("topologyKey") or ""
        if not key:
            raise PodSpecError("topologyKey: Required value: can not be empty")
        out.append(AffinityTerm(sel, namespaces, key, all_ns, int(item.get("weight") or 0) if weighted else 0,
                                ns_selector))
    return out


def pod_info(pod: Object) -> PodInfo:
    """The PodInfo of `pod`; a spec the scheduler cannot read gives a PodInfo with `error` set."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    ns = meta.get("namespace") or "default"
    info = PodInfo(
        pod=pod, key=f"{ns}/{meta.get('name', '')}", uid=meta.get("uid") or "", namespace=ns,
        name=meta.get("name") or "", labels=meta.get("labels") or {}, priority=int(spec.get("priority") or 0),
        requests={}, nonzero_cpu=0, nonzero_memory=0, ports=[], tolerations=spec.get("tolerations") or [],
        node_selector=spec.get("nodeSelector") or {},
        node_affinity=((spec.get("affinity") or {}).get("nodeAffinity")) or {},
        node_name=spec.get("nodeName") or "", scheduler_name=spec.get("schedulerName") or "default-scheduler",
        preemption_policy=spec.get("preemptionPolicy") or "PreemptLowerPriority",
        nominated_node=status.get("nominatedNodeName") or "", start_time=status.get("startTime") or "",
        terminating=bool(meta.get("deletionTimestamp")))
    for ref in meta.get("ownerReferences") or []:
        if ref.get("controller") and ref.get("kind") in SPREAD_OWNER_KINDS:
            info.spread_owner = ref.get("uid") or ""
    for c in spec.get("containers") or []:
        if c.get("image"):
            info.images.append(c["image"])
        for p in c.get("ports") or []:
            if p.get("hostPort"):
                info.ports.append((p.get("hostIP") or "0.0.0.0", p.get("protocol") or "TCP", int(p["hostPort"])))
    for v in spec.get("volumes") or []:
        claim = v.get("persistentVolumeClaim")
        if claim and claim.get("claimName"):
            info.pvcs.append(claim["claimName"])
    info.spread_constraints = spec.get("topologySpreadConstraints") or []
    try:
        info.requests = pod_requests(spec)
        info.nonzero_cpu, info.nonzero_memory = nonzero_requests(spec)
        info.fit_order = fit_order(info.requests)
        aff = spec.get("affinity") or {}
        pa, paa = aff.get("podAffinity") or {}, aff.get("podAntiAffinity") or {}
        info.required_affinity = _terms(ns, pa.get("requiredDuringSchedulingIgnoredDuringExecution"), False)
        info.preferred_affinity = _terms(ns, pa.get("preferredDuringSchedulingIgnoredDuringExecution"), True)
        info.required_anti_affinity = _terms(ns, paa.get("requiredDuringSchedulingIgnoredDuringExecution"), False)
        info.preferred_anti_affinity = _terms(ns, paa.get("preferredDuringSchedulingIgnoredDuringExecution"), True)
        for c in info.spread_constraints:
            from_label_selector(c.get("labelSelector"))
    except (PodSpecError, SelectorError) as e:
        info.error = str(e)
    return info
