"""Priority (default-on in kube-apiserver), as 1.32's plugin/pkg/admission/priority:

- a new Pod's spec.priority and spec.preemptionPolicy come from its priorityClassName, resolved among the served
  PriorityClass objects; a pod without a class gets the globalDefault class (the lowest value if several), else
  priority 0 and PreemptLowerPriority. The two system classes are permitted in kube-system only.
- on update the stored priority and policy are kept when the body drops them;
- a PriorityClass may be marked globalDefault only while no other class is."""

from __future__ import annotations

from typing import Any

from apiserver.admission.types import Attributes, Operation, Plugin, forbidden

SYSTEM_CLASSES = {"system-node-critical": 2000001000, "system-cluster-critical": 2000000000}
SYSTEM_NAMESPACE = "kube-system"
DEFAULT_PREEMPTION = "PreemptLowerPriority"


class Priority(Plugin):
    name = "Priority"
    operations = frozenset({Operation.CREATE, Operation.UPDATE})
    mutating = True
    validating = True

    def _default_class(self) -> dict[str, Any] | None:
        best: dict[str, Any] | None = None
        for pc in self.state.list("priorityclasses", ""):
            if pc.get("globalDefault") and (best is None or int(pc.get("value", 0)) < int(best.get("value", 0))):
                best = pc
        return best

    def admit(self, attrs: Attributes) -> None:
        if attrs.subresource or not attrs.is_core("pods") or attrs.object is None:
            return
        spec = attrs.object.setdefault("spec", {})
        if not isinstance(spec, dict):
            return
        if attrs.operation == Operation.UPDATE:
            old_spec = (attrs.old_object or {}).get("spec") or {}
            for key in ("priority", "preemptionPolicy"):
                if spec.get(key) is None and old_spec.get(key) is not None:
                    spec[key] = old_spec[key]
            return
        class_name = spec.get("priorityClassName") or ""
        policy: str | None
        if class_name:
            if class_name in SYSTEM_CLASSES and attrs.namespace != SYSTEM_NAMESPACE:
                raise forbidden(attrs, f"pods with {class_name} priorityClass is not permitted in "
                                       f"{attrs.namespace} namespace")
            pc = self.state.get("priorityclasses", "", class_name)
            if pc is None:
                raise forbidden(attrs, f"no PriorityClass with name {class_name} was found")
            priority, policy = int(pc.get("value", 0)), pc.get("preemptionPolicy")
        else:
            default = self._default_class()
            if default is None:
                priority, policy = 0, DEFAULT_PREEMPTION
            else:
                spec["priorityClassName"] = (default.get("metadata") or {}).get("name", "")
                priority, policy = int(default.get("value", 0)), default.get("preemptionPolicy")
        given = spec.get("priority")
        if given is not None and given != priority:
            raise forbidden(attrs, f"the integer value of priority ({given}) must not be provided in pod spec; "
                                   f"priority admission controller computed {priority} from the given PriorityClass "
                                   "name")
        spec["priority"] = priority
        if policy is not None:
            given_policy = spec.get("preemptionPolicy")
            if given_policy is not None and given_policy != policy:
                raise forbidden(attrs, f"the string value of PreemptionPolicy ({given_policy}) must not be provided "
                                       f"in pod spec; priority admission controller computed {policy} from the given "
                                       "PriorityClass name")
            spec["preemptionPolicy"] = policy

    def validate(self, attrs: Attributes) -> None:
        if attrs.subresource or attrs.api_group != "scheduling.k8s.io" or attrs.resource != "priorityclasses":
            return
        pc = attrs.object or {}
        if not pc.get("globalDefault"):
            return
        default = self._default_class()
        if default is None:
            return
        default_name = (default.get("metadata") or {}).get("name", "")
        own = (pc.get("metadata") or {}).get("name", "") or attrs.name
        if attrs.operation == Operation.CREATE or default_name != own:
            raise forbidden(attrs, f"PriorityClass {default_name} is already marked as default. Only one default can "
                                   "exist")
