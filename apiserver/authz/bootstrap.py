"""The default RBAC policy of a fresh cluster, as rbac.authorization.k8s.io/v1 objects ready for storage.

Role contents follow kube-apiserver's bootstrap policy in spirit (names, bindings, aggregation labels and the
main rules); they are not a byte-for-byte copy of every controller role.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]
API = "rbac.authorization.k8s.io/v1"
READ = ["get", "list", "watch"]
WRITE = ["create", "delete", "deletecollection", "patch", "update"]
AGG = "rbac.authorization.k8s.io/aggregate-to-"
BOOTSTRAP_LABELS = {"kubernetes.io/bootstrapping": "rbac-defaults"}
ANNOTATIONS = {"rbac.authorization.kubernetes.io/autoupdate": "true"}


def rule(verbs: list[str], groups: list[str], resources: list[str], names: list[str] | None = None) -> Obj:
    r: Obj = {"verbs": list(verbs), "apiGroups": list(groups), "resources": list(resources)}
    if names:
        r["resourceNames"] = list(names)
    return r


def url_rule(verbs: list[str], urls: list[str]) -> Obj:
    return {"verbs": list(verbs), "nonResourceURLs": list(urls)}


def cluster_role(name: str, rules: list[Obj], labels: dict[str, str] | None = None,
                 aggregate_from: list[str] | None = None) -> Obj:
    obj: Obj = {"apiVersion": API, "kind": "ClusterRole",
                "metadata": {"name": name, "labels": {**BOOTSTRAP_LABELS, **(labels or {})},
                             "annotations": dict(ANNOTATIONS)},
                "rules": rules}
    if aggregate_from is not None:
        obj["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": {AGG + t: "true"}}
                                                           for t in aggregate_from]}
    return obj


def cluster_role_binding(name: str, role: str, subjects: list[Obj]) -> Obj:
    return {"apiVersion": API, "kind": "ClusterRoleBinding",
            "metadata": {"name": name, "labels": dict(BOOTSTRAP_LABELS), "annotations": dict(ANNOTATIONS)},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": subjects}


def group(name: str) -> Obj:
    return {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": name}


def user(name: str) -> Obj:
    return {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": name}


def sa(namespace: str, name: str) -> Obj:
    return {"kind": "ServiceAccount", "name": name, "namespace": namespace}


_VIEW_CORE = ["configmaps", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status", "pods",
              "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts", "services",
              "services/status", "bindings", "events", "limitranges", "namespaces/status", "pods/log", "pods/status",
              "replicationcontrollers/status", "resourcequotas", "resourcequotas/status", "namespaces"]
_APPS = ["controllerrevisions", "daemonsets", "daemonsets/status", "deployments", "deployments/scale",
         "deployments/status", "replicasets", "replicasets/scale", "replicasets/status", "statefulsets",
         "statefulsets/scale", "statefulsets/status"]


def _view_rules() -> list[Obj]:
    return [rule(READ, [""], _VIEW_CORE), rule(READ, ["apps"], _APPS),
            rule(READ, ["autoscaling"], ["horizontalpodautoscalers", "horizontalpodautoscalers/status"]),
            rule(READ, ["batch"], ["cronjobs", "cronjobs/status", "jobs", "jobs/status"]),
            rule(READ, ["policy"], ["poddisruptionbudgets", "poddisruptionbudgets/status"]),
            rule(READ, ["networking.k8s.io"], ["ingresses", "ingresses/status", "networkpolicies"]),
            rule(READ, ["discovery.k8s.io"], ["endpointslices"])]


def _edit_rules() -> list[Obj]:
    return [rule(["create", "delete", "deletecollection", "patch", "update"], [""],
                 ["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"]),
            rule(["create"], [""], ["pods/eviction"]),
            rule(WRITE, [""], ["configmaps", "events", "persistentvolumeclaims", "replicationcontrollers",
                               "replicationcontrollers/scale", "secrets", "serviceaccounts", "services",
                               "services/proxy"]),
            rule(["create"], [""], ["serviceaccounts/token"]),
            rule(WRITE, ["apps"], ["daemonsets", "deployments", "deployments/rollback", "deployments/scale",
                                   "replicasets", "replicasets/scale", "statefulsets", "statefulsets/scale"]),
            rule(WRITE, ["autoscaling"], ["horizontalpodautoscalers"]),
            rule(WRITE, ["batch"], ["cronjobs", "jobs"]),
            rule(WRITE, ["policy"], ["poddisruptionbudgets"]),
            rule(WRITE, ["networking.k8s.io"], ["ingresses", "networkpolicies"]),
            rule(READ, [""], ["secrets", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy",
                              "services/proxy"]),
            rule(["impersonate"], [""], ["serviceaccounts"])]


def _admin_rules() -> list[Obj]:
    return [rule(["create"], ["authorization.k8s.io"], ["localsubjectaccessreviews"]),
            rule(WRITE + READ, ["rbac.authorization.k8s.io"], ["rolebindings", "roles"])]


EVENTS = rule(["create", "patch", "update"], ["", "events.k8s.io"], ["events"])
_CRUD = ["create", "delete", "get", "list", "patch", "update", "watch"]
# One ClusterRole per controller, bound to the controller's service account in kube-system
# (kube-controller-manager --use-service-account-credentials).
CONTROLLER_RULES: dict[str, list[Obj]] = {
    "replicaset-controller": [
        rule(["get", "list", "watch", "update"], ["apps"], ["replicasets"]),
        rule(["update"], ["apps"], ["replicasets/status", "replicasets/finalizers"]),
        rule(["list", "watch", "patch", "create", "delete"], [""], ["pods"])],
    "replication-controller": [
        rule(["get", "list", "watch", "update"], [""], ["replicationcontrollers"]),
        rule(["update"], [""], ["replicationcontrollers/status", "replicationcontrollers/finalizers"]),
        rule(["list", "watch", "patch", "create", "delete"], [""], ["pods"])],
    "deployment-controller": [
        rule(["get", "list", "watch", "update"], ["apps"], ["deployments"]),
        rule(["update"], ["apps"], ["deployments/status", "deployments/finalizers"]),
        rule(_CRUD, ["apps"], ["replicasets"]),
        rule(["get", "list", "watch", "update"], [""], ["pods"])],
    "daemon-set-controller": [
        rule(["get", "list", "watch"], ["apps"], ["daemonsets"]),
        rule(["update"], ["apps"], ["daemonsets/status", "daemonsets/finalizers"]),
        rule(["list", "watch"], [""], ["nodes"]),
        rule(["list", "watch", "create", "delete", "patch"], [""], ["pods"]),
        rule(["create"], [""], ["pods/binding"]),
        rule(_CRUD, ["apps"], ["controllerrevisions"])],
    "statefulset-controller": [
        rule(["list", "watch"], ["apps"], ["statefulsets"]),
        rule(["update"], ["apps"], ["statefulsets/status", "statefulsets/finalizers"]),
        rule(_CRUD, [""], ["pods"]),
        rule(_CRUD, ["apps"], ["controllerrevisions"]),
        rule(["get", "create", "update", "patch"], [""], ["persistentvolumeclaims"])],
    "job-controller": [
        rule(["get", "list", "watch", "update", "patch"], ["batch"], ["jobs"]),
        rule(["update"], ["batch"], ["jobs/status", "jobs/finalizers"]),
        rule(["list", "watch", "create", "delete", "patch"], [""], ["pods"])],
    "cronjob-controller": [
        rule(["get", "list", "watch", "update"], ["batch"], ["cronjobs"]),
        rule(_CRUD, ["batch"], ["jobs"]),
        rule(["update"], ["batch"], ["cronjobs/status", "cronjobs/finalizers"]),
        rule(["list", "delete"], [""], ["pods"])],
    "ttl-after-finished-controller": [rule(["delete", "get", "list", "watch"], ["batch"], ["jobs"])],
    "endpoint-controller": [
        rule(READ, [""], ["services", "pods"]),
        rule(["get", "list", "create", "update", "delete"], [""], ["endpoints"]),
        rule(["create"], [""], ["endpoints/restricted"])],
    "endpointslice-controller": [
        rule(READ, [""], ["services", "pods", "nodes"]),
        rule(_CRUD, ["discovery.k8s.io"], ["endpointslices"])],
    "namespace-controller": [
        rule(["delete", "get", "list", "watch"], [""], ["namespaces"]),
        rule(["update"], [""], ["namespaces/finalize", "namespaces/status"]),
        rule(["delete", "deletecollection", "get", "list"], ["*"], ["*"])],
    "service-account-controller": [rule(["create"], [""], ["serviceaccounts"])],
    "root-ca-cert-publisher": [rule(["create", "update"], [""], ["configmaps"])],
    "resourcequota-controller": [
        rule(["list", "watch"], ["*"], ["*"]),
        rule(["update"], [""], ["resourcequotas/status"])],
    "pod-garbage-collector": [
        rule(["list", "watch", "delete"], [""], ["pods"]),
        rule(["get", "list"], [""], ["nodes"]),
        rule(["patch"], [""], ["pods/status"])],
    "generic-garbage-collector": [rule(["get", "list", "watch", "patch", "update", "delete"], ["*"], ["*"])],
    "disruption-controller": [
        rule(READ, ["extensions", "apps"], ["deployments"]),
        rule(READ, ["apps", "extensions"], ["replicasets"]),
        rule(READ, [""], ["replicationcontrollers"]),
        rule(READ, ["policy"], ["poddisruptionbudgets"]),
        rule(READ, ["apps"], ["statefulsets"]),
        rule(["update"], ["policy"], ["poddisruptionbudgets/status"]),
        rule(["patch", "update"], [""], ["pods/status"]),
        rule(["get"], ["*"], ["*/scale"])],
    "node-controller": [
        rule(["get", "list", "update", "delete", "patch"], [""], ["nodes"]),
        rule(["patch", "update"], [""], ["nodes/status", "pods/status"]),
        rule(["list", "delete"], [""], ["pods"])],
}


def cluster_roles() -> list[Obj]:
    """Every bootstrap ClusterRole. Aggregated roles (admin, edit, view) carry an aggregationRule and empty rules,
    as on a real cluster; run ``rbac.aggregate_all`` (the aggregation controller's job) to fill them."""
    return [
        cluster_role("cluster-admin", [rule(["*"], ["*"], ["*"]), url_rule(["*"], ["*"])]),
        cluster_role("admin", [], aggregate_from=["admin"]),
        cluster_role("edit", [], {AGG + "admin": "true"}, aggregate_from=["edit"]),
        cluster_role("view", [], {AGG + "edit": "true"}, aggregate_from=["view"]),
        cluster_role("system:aggregate-to-admin", _admin_rules(), {AGG + "admin": "true"}),
        cluster_role("system:aggregate-to-edit", _edit_rules(), {AGG + "edit": "true"}),
        cluster_role("system:aggregate-to-view", _view_rules(), {AGG + "view": "true"}),
        cluster_role("system:discovery", [url_rule(["get"], ["/api", "/api/*", "/apis", "/apis/*", "/healthz",
                                                             "/livez", "/openapi", "/openapi/*", "/readyz",
                                                             "/version", "/version/"])]),
        cluster_role("system:basic-user", [
            rule(["create"], ["authorization.k8s.io"], ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]),
            rule(["create"], ["authentication.k8s.io"], ["selfsubjectreviews"])]),
        cluster_role("system:public-info-viewer", [url_rule(["get"], ["/healthz", "/livez", "/readyz", "/version",
                                                                      "/version/"])]),
        cluster_role("system:node", [
            rule(["create"], ["authentication.k8s.io"], ["tokenreviews"]),
            rule(["create"], ["authorization.k8s.io"], ["localsubjectaccessreviews", "subjectaccessreviews"]),
            rule(READ, [""], ["services", "endpoints", "nodes", "pods"]),
            rule(["create", "get", "list", "watch", "delete", "update", "patch"], [""], ["nodes"]),
            rule(["patch", "update"], [""], ["nodes/status", "pods/status"]),
            rule(["create", "delete"], [""], ["pods"]),
            rule(["create"], [""], ["pods/eviction"]),
            rule(["get"], [""], ["secrets", "configmaps", "persistentvolumeclaims", "persistentvolumes"]),
            rule(["create", "patch", "update"], ["", "events.k8s.io"], ["events"]),
            rule(["create", "get", "list", "watch"], ["certificates.k8s.io"], ["certificatesigningrequests"]),
            rule(["create", "delete", "get", "patch", "update"], ["coordination.k8s.io"], ["leases"]),
            rule(["create"], [""], ["serviceaccounts/token"])]),
        cluster_role("system:kube-scheduler", [
            rule(["create", "patch", "update"], ["", "events.k8s.io"], ["events"]),
            rule(["create"], ["coordination.k8s.io"], ["leases"]),
            rule(["get", "update"], ["coordination.k8s.io"], ["leases"], ["kube-scheduler"]),
            rule(READ, [""], ["nodes", "namespaces", "pods", "persistentvolumeclaims", "persistentvolumes",
                              "replicationcontrollers", "services"]),
            rule(["delete"], [""], ["pods"]),
            rule(["create"], [""], ["bindings", "pods/binding"]),
            rule(["patch", "update"], [""], ["pods/status"]),
            rule(READ, ["apps"], ["replicasets", "statefulsets"]),
            rule(READ, ["policy"], ["poddisruptionbudgets"]),
            rule(READ, ["storage.k8s.io"], ["csinodes", "csidrivers", "csistoragecapacities", "storageclasses"]),
            rule(["create"], ["authentication.k8s.io"], ["tokenreviews"]),
            rule(["create"], ["authorization.k8s.io"], ["subjectaccessreviews"])]),
        # kube-proxy's: informers on services, endpoints and endpointslices (list/watch, never get), its node,
        # and its events
        cluster_role("system:node-proxier", [
            rule(["list", "watch"], [""], ["services", "endpoints"]),
            rule(READ, [""], ["nodes"]),
            EVENTS,
            rule(["list", "watch"], ["discovery.k8s.io"], ["endpointslices"])]),
        cluster_role("system:kube-controller-manager", [
            rule(["create", "patch", "update"], ["", "events.k8s.io"], ["events"]),
            rule(["create"], ["coordination.k8s.io"], ["leases"]),
            rule(["get", "update"], ["coordination.k8s.io"], ["leases"], ["kube-controller-manager"]),
            rule(["create"], [""], ["secrets", "serviceaccounts"]),
            rule(["delete"], [""], ["secrets"]),
            rule(["get"], [""], ["configmaps", "namespaces", "secrets", "serviceaccounts"]),
            rule(["update"], [""], ["secrets", "serviceaccounts"]),
            rule(["create"], ["authentication.k8s.io"], ["tokenreviews"]),
            rule(["create"], ["authorization.k8s.io"], ["subjectaccessreviews"]),
            rule(["list", "watch"], ["*"], ["*"]),
            rule(["create"], [""], ["serviceaccounts/token"])]),
        *[cluster_role(f"system:controller:{name}", rules + [EVENTS]) for name, rules in CONTROLLER_RULES.items()],
    ]


def cluster_role_bindings() -> list[Obj]:
    return [
        cluster_role_binding("cluster-admin", "cluster-admin", [group("system:masters")]),
        cluster_role_binding("system:discovery", "system:discovery", [group("system:authenticated")]),
        cluster_role_binding("system:basic-user", "system:basic-user", [group("system:authenticated")]),
        cluster_role_binding("system:public-info-viewer", "system:public-info-viewer",
                             [group("system:authenticated"), group("system:unauthenticated")]),
        # Since 1.8 system:node is bound to nobody: the Node authorizer grants kubelets their rights.
        cluster_role_binding("system:node", "system:node", []),
        cluster_role_binding("system:kube-scheduler", "system:kube-scheduler", [user("system:kube-scheduler")]),
        cluster_role_binding("system:node-proxier", "system:node-proxier", [user("system:kube-proxy")]),
        cluster_role_binding("system:kube-controller-manager", "system:kube-controller-manager",
                             [user("system:kube-controller-manager")]),
        *[cluster_role_binding(f"system:controller:{name}", f"system:controller:{name}", [sa("kube-system", name)])
          for name in CONTROLLER_RULES],
    ]


def policy_objects(aggregated: bool = True) -> list[Obj]:
    """All bootstrap ClusterRoles (aggregated roles filled in when ``aggregated``) followed by the bindings."""
    from apiserver.authz.rbac import aggregate_all

    roles = cluster_roles()
    return (aggregate_all(roles) if aggregated else roles) + cluster_role_bindings()
