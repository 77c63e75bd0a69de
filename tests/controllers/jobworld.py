"""A tiny in-memory API for driving the Job core through whole scenarios: it applies a Plan the way the API server
would (generateName, finalizers holding a deleted pod, /status writes) and records events. No I/O."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from controllers import podcontrol as pc
from controllers.job import reconcile as jr
from controllers.machinery.actions import Create, Delete, Event, Patch

Obj = dict[str, Any]


def make_job(name: str = "pi", **spec: Any) -> Obj:
    uid = f"uid-{name}"
    base: Obj = {"parallelism": 1, "completions": 1, "backoffLimit": 6, "completionMode": "NonIndexed",
                 "suspend": False, "podReplacementPolicy": "TerminatingOrFailed",
                 "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}},
                 "template": {"metadata": {"labels": {"batch.kubernetes.io/controller-uid": uid,
                                                      "batch.kubernetes.io/job-name": name}},
                              "spec": {"restartPolicy": "Never",
                                       "containers": [{"name": "c", "image": "busybox"}]}}}
    base.update(spec)
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": "ns", "uid": uid, "resourceVersion": "1",
                         "creationTimestamp": pc.rfc3339(0)},
            "spec": base, "status": {}}


@dataclass
class World:
    job: Obj
    now: float = 1000.0
    pods: dict[str, Obj] = field(default_factory=dict)
    events: list[tuple[str, str, str]] = field(default_factory=list)
    backoff: jr.Backoff | None = None
    requeue_after: float | None = None
    serial: int = 0
    writes: int = 0

    def pod_list(self) -> list[Obj]:
        return [copy.deepcopy(p) for p in self.pods.values()]

    def sync(self) -> jr.Plan:
        planned = jr.plan(copy.deepcopy(self.job), self.pod_list(), self.now, self.backoff)
        self.backoff = planned.backoff
        self.requeue_after = planned.requeue_after
        for patch in planned.pre_delete_removals:
            self._patch(patch)
        for d in planned.deletes:
            self._delete(d)
        for c in planned.creates:
            self._create(c)
        current = self.job
        if planned.status is not None:
            current = self._write(planned.status)
        removed = set()
        for patch in planned.removals:
            removed.add(self._patch(patch))
        status, events = jr.finish(copy.deepcopy(current), planned, removed, self.now)
        if status is not None:
            self._write(status)
        for e in [*planned.events, *events]:
            self._event(e)
        return planned

    def _write(self, status: Obj) -> Obj:
        self.writes += 1
        self.job = {**self.job, "status": jr._wire_status(copy.deepcopy(status))}
        return self.job

    def _event(self, e: Event) -> None:
        self.events.append((e.type, e.reason, e.message))

    def _create(self, c: Create) -> None:
        self.serial += 1
        pod = copy.deepcopy(c.body)
        md = pod["metadata"]
        md["name"] = md.pop("generateName") + f"{self.serial:05d}"
        md["uid"] = f"pod-{self.serial}"
        md["creationTimestamp"] = pc.rfc3339(self.now)
        pod["status"] = {"phase": "Pending"}
        self.pods[md["name"]] = pod
        self.events.append(("Normal", "SuccessfulCreate", f"Created pod: {md['name']}"))

    def _delete(self, d: Delete) -> None:
        pod = self.pods.get(d.name)
        if pod is None:
            return
        if pod["metadata"].get("finalizers"):
            pod["metadata"]["deletionTimestamp"] = pc.rfc3339(self.now)
            pod["metadata"]["deletionGracePeriodSeconds"] = 0
        else:
            del self.pods[d.name]

    def _patch(self, p: Patch) -> str:
        pod = self.pods.get(p.name)
        if pod is None:
            return ""
        md = pod["metadata"]
        md["finalizers"] = [f for f in md.get("finalizers") or [] if f != jr.TRACKING_FINALIZER]
        if not md["finalizers"] and md.get("deletionTimestamp"):
            del self.pods[p.name]
        return str(md["uid"])

    # what a kubelet would do
    def finish_pod(self, name: str, phase: str, exit_code: int = 0, at: float | None = None) -> None:
        pod = self.pods[name]
        t = pc.rfc3339(self.now if at is None else at)
        pod["status"] = {"phase": phase, "conditions": [{"type": "Ready", "status": "False",
                                                        "lastTransitionTime": t}],
                         "containerStatuses": [{"name": "c", "restartCount": 0, "state": {"terminated": {
                             "exitCode": exit_code, "finishedAt": t}}}]}

    def run_pod(self, name: str, ready: bool = True) -> None:
        pod = self.pods[name]
        pod["spec"]["nodeName"] = "node-1"
        pod["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                                            "lastTransitionTime": pc.rfc3339(self.now)}]}

    def gone(self, name: str) -> None:
        """The kubelet finished a deleted pod's termination."""
        pod = self.pods[name]
        if pod["metadata"].get("finalizers"):
            pod["status"]["phase"] = "Failed"
        else:
            del self.pods[name]

    def names(self) -> list[str]:
        return sorted(self.pods)

    def condition(self, ctype: str) -> Obj | None:
        return jr.find_condition(self.job, ctype)

    def status(self) -> Obj:
        return self.job.get("status") or {}
