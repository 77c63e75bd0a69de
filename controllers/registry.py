"""kube-controller-manager's `--controllers` names and the module that builds each controller.

Each entry is "module:function"; the function takes the manager's `ControllerContext` and returns a
`machinery.controller.Controller`. Modules are imported only when their controller is enabled, so one controller's
import error names that controller instead of stopping the manager.
"""

from __future__ import annotations

CONTROLLERS: dict[str, str] = {
    "replicationcontroller": "controllers.replicaset.controller:new_replication_controller",
    "replicaset": "controllers.replicaset.controller:new_replicaset_controller",
    "deployment": "controllers.deployment.controller:new_controller",
    "daemonset": "controllers.daemonset.controller:new_controller",
    "job": "controllers.job.controller:new_controller",
    "cronjob": "controllers.cronjob.controller:new_controller",
    "statefulset": "controllers.statefulset.controller:new_controller",
    "endpoint": "controllers.endpoints.controller:new_controller",
    "endpointslice": "controllers.endpointslice.controller:new_controller",
    "namespace": "controllers.namespace.controller:new_controller",
    "serviceaccount": "controllers.serviceaccount.controller:new_controller",
    "root-ca-cert-publisher": "controllers.rootcacert.controller:new_controller",
    "garbagecollector": "controllers.garbagecollector.controller:new_controller",
    "podgc": "controllers.podgc.controller:new_controller",
    "nodelifecycle": "controllers.nodelifecycle.controller:new_controller",
    "resourcequota": "controllers.resourcequota.controller:new_controller",
    "ttl-after-finished": "controllers.job.ttl:new_controller",
    "disruption": "controllers.disruption.controller:new_controller",
}
