"""Priority (default-on in kube-apiserver): a new Pod's spec.priority and spec.preemptionPolicy come from its
priorityClassName. PriorityClass objects are not served here, so only the two built-in system classes resolve
(and only in kube-system, as `priorityClassPermittedInNamespace` allows); a pod without a class gets the
no-default-class answer: priority 0, PreemptLowerPriority."""

from __future__ import annotations

from apiserver.admission.types import Attributes, Operation, Plugin, forbidden

SYSTEM_CLASSES = {"system-node-critical": 2000001000, "system-cluster-critical": 2000000000}
SYSTEM_NAMESPACE = "kube-system"
DEFAULT_PREEMPTION = "PreemptLowerPriority"


class Priority(Plugin):
    name = "Priority"
    operations = frozenset({Operation.CREATE})
    mutating = True

    def admit(self, attrs: Attributes) -> None:
        if not attrs.is_core("pods") or attrs.object is None:
            return
        spec = attrs.object.setdefault("spec", {})
        if not isinstance(spec, dict):
            return
        class_name = spec.get("priorityClassName") or ""
        if class_name:
            if class_name.startswith("system-") and attrs.namespace != SYSTEM_NAMESPACE:
                raise forbidden(attrs, f"pods with {class_name} priorityClass is not permitted in "
                                       f"{attrs.namespace} namespace")
            if class_name not in SYSTEM_CLASSES:
                raise forbidden(attrs, f"no PriorityClass with name {class_name} was found")
            priority = SYSTEM_CLASSES[class_name]
        else:
            priority = 0
        given = spec.get("priority")
        if given is not None and given != priority:
            raise forbidden(attrs, f"the integer value of priority ({given}) must not be provided in pod spec; "
                                   f"priority admission controller computed {priority} from the given PriorityClass "
                                   "name")
        spec["priority"] = priority
        given_policy = spec.get("preemptionPolicy")
        if given_policy is not None and given_policy != DEFAULT_PREEMPTION:
            raise forbidden(attrs, f"the string value of PreemptionPolicy ({given_policy}) must not be provided in pod "
                                   f"spec; priority admission controller computed {DEFAULT_PREEMPTION} from the given "
                                   "PriorityClass name")
        spec["preemptionPolicy"] = DEFAULT_PREEMPTION
