"""The resource table: every served resource is declared once here.

Discovery, routing, storage keys, OpenAPI paths and `kubectl get` tables are all derived from these
rows, so adding a resource is one `Resource(...)` line plus (optionally) a strategy and columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
CREATE_ONLY = ("create",)


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    subresources: tuple[str, ...] = ()
    # kube-apiserver's historic storage prefix (nodes live under "minions", services under "services/specs").
    storage_prefix: str = ""
    singular: str = field(default="")
    # A virtual resource (access reviews, TokenReview) is answered by a handler and never stored.
    virtual: bool = False

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular_name(self) -> str:
        return self.singular or self.kind.lower()

    @property
    def key_prefix(self) -> str:
        return "/registry/" + (self.storage_prefix or self.plural) + "/"


RESOURCES: tuple[Resource, ...] = (
    Resource("", "v1", "Namespace", "namespaces", False, ("ns",), verbs=("create", "delete", "get", "list", "patch",
             "update", "watch"), subresources=("status", "finalize")),
    Resource("", "v1", "ConfigMap", "configmaps", True, ("cm",)),
    Resource("", "v1", "Secret", "secrets", True),
    Resource("", "v1", "Pod", "pods", True, ("po",), ("all",),
             subresources=("status", "binding", "eviction", "log", "exec", "attach", "portforward")),
    Resource("", "v1", "Service", "services", True, ("svc",), ("all",),
             verbs=("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"),
             subresources=("status",), storage_prefix="services/specs"),
    Resource("", "v1", "ServiceAccount", "serviceaccounts", True, ("sa",), subresources=("token",)),
    Resource("", "v1", "Node", "nodes", False, ("no",), subresources=("status",), storage_prefix="minions"),
    Resource("", "v1", "Event", "events", True, ("ev",)),
    Resource("apps", "v1", "Deployment", "deployments", True, ("deploy",), ("all",), subresources=("status", "scale")),
    Resource("apps", "v1", "ReplicaSet", "replicasets", True, ("rs",), ("all",), subresources=("status", "scale")),
    Resource("apps", "v1", "StatefulSet", "statefulsets", True, ("sts",), ("all",), subresources=("status", "scale")),
    Resource("apps", "v1", "DaemonSet", "daemonsets", True, ("ds",), ("all",), subresources=("status",)),
    Resource("apps", "v1", "ControllerRevision", "controllerrevisions", True),
    Resource("batch", "v1", "Job", "jobs", True, (), ("all",), subresources=("status",)),
    Resource("batch", "v1", "CronJob", "cronjobs", True, ("cj",), ("all",), subresources=("status",)),
    Resource("", "v1", "Endpoints", "endpoints", True, ("ep",)),
    Resource("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", True, ("pvc",), subresources=("status",)),
    Resource("", "v1", "ReplicationController", "replicationcontrollers", True, ("rc",), ("all",),
             subresources=("status", "scale"), storage_prefix="controllers"),
    Resource("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", True),
    Resource("events.k8s.io", "v1", "Event", "events", True, ("ev",), storage_prefix="events"),
    Resource("", "v1", "LimitRange", "limitranges", True, ("limits",)),
    Resource("", "v1", "ResourceQuota", "resourcequotas", True, ("quota",), subresources=("status",)),
    Resource("coordination.k8s.io", "v1", "Lease", "leases", True),
    Resource("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", True, ("pdb",), subresources=("status",)),
    Resource("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", False, ("pc",)),
    Resource("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False),
    Resource("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False),
    Resource("rbac.authorization.k8s.io", "v1", "Role", "roles", True),
    Resource("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", True),
    Resource("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration", "mutatingwebhookconfigurations",
             False),
    Resource("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration",
             "validatingwebhookconfigurations", False),
    Resource("authentication.k8s.io", "v1", "TokenReview", "tokenreviews", False, verbs=CREATE_ONLY, virtual=True),
    Resource("authentication.k8s.io", "v1", "SelfSubjectReview", "selfsubjectreviews", False, verbs=CREATE_ONLY,
             virtual=True),
    Resource("authorization.k8s.io", "v1", "LocalSubjectAccessReview", "localsubjectaccessreviews", True,
             verbs=CREATE_ONLY, virtual=True),
    Resource("authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews", False,
             verbs=CREATE_ONLY, virtual=True),
    Resource("authorization.k8s.io", "v1", "SelfSubjectRulesReview", "selfsubjectrulesreviews", False,
             verbs=CREATE_ONLY, virtual=True),
    Resource("authorization.k8s.io", "v1", "SubjectAccessReview", "subjectaccessreviews", False, verbs=CREATE_ONLY,
             virtual=True),
)

# Preferred order of groups in discovery; the legacy core group is served under /api, the rest under /apis.
GROUPS: tuple[str, ...] = tuple(dict.fromkeys(r.group for r in RESOURCES if r.group))


def find(group: str, version: str, plural: str) -> Resource | None:
    for r in RESOURCES:
        if r.group == group and r.version == version and r.plural == plural:
            return r
    return None


def by_kind(group: str, kind: str) -> Resource | None:
    for r in RESOURCES:
        if r.group == group and r.kind == kind:
            return r
    return None


def versions_of(group: str) -> list[str]:
    return list(dict.fromkeys(r.version for r in RESOURCES if r.group == group))


def in_group_version(group: str, version: str) -> list[Resource]:
    return [r for r in RESOURCES if r.group == group and r.version == version]
