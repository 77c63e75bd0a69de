"""KubeSchedulerConfiguration (kubescheduler.config.k8s.io/v1) → profiles: 1.32's default plugin set and score
weights, changed per profile by `plugins.<point>.enabled/disabled` (`multiPoint`, `filter`, `score`; `'*'`
disables every default) and `pluginConfig` (NodeResourcesFit's scoringStrategy)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from controllers.scheduler.framework import Plugin, Profile
from controllers.scheduler.plugins.imagelocality import ImageLocality
from controllers.scheduler.plugins.interpodaffinity import InterPodAffinity
from controllers.scheduler.plugins.nodeaffinity import NodeAffinity
from controllers.scheduler.plugins.nodename import NodeName
from controllers.scheduler.plugins.nodeports import NodePorts
from controllers.scheduler.plugins.noderesources import BalancedAllocation, NodeResourcesFit, ScoringStrategy
from controllers.scheduler.plugins.nodeunschedulable import NodeUnschedulable
from controllers.scheduler.plugins.podtopologyspread import PodTopologySpread
from controllers.scheduler.plugins.tainttoleration import TaintToleration
from controllers.scheduler.plugins.volumebinding import VolumeBinding

Object = dict[str, Any]
DEFAULT_SCHEDULER = "default-scheduler"

# filter order of 1.32's default profile (cheap, node-local checks first)
DEFAULT_FILTERS = ["NodeUnschedulable", "NodeName", "TaintToleration", "NodeAffinity", "NodePorts",
                   "NodeResourcesFit", "VolumeBinding", "PodTopologySpread", "InterPodAffinity"]
DEFAULT_SCORES = {"TaintToleration": 3, "NodeAffinity": 2, "PodTopologySpread": 2, "InterPodAffinity": 2,
                  "NodeResourcesFit": 1, "NodeResourcesBalancedAllocation": 1, "ImageLocality": 1}
KNOWN = set(DEFAULT_FILTERS) | set(DEFAULT_SCORES) | {"DefaultPreemption", "PrioritySort", "DefaultBinder"}


class ConfigError(ValueError):
    pass


@dataclass
class SchedulerConfig:
    profiles: list[Profile]
    leader_election: Object = field(default_factory=dict)
    client_connection: Object = field(default_factory=dict)
    preemption: dict[str, bool] = field(default_factory=dict)  # schedulerName -> DefaultPreemption enabled


def _strategy(args: Object) -> ScoringStrategy:
    raw = args.get("scoringStrategy") or {}
    st = ScoringStrategy()
    if raw.get("type"):
        if raw["type"] not in ("LeastAllocated", "MostAllocated", "RequestedToCapacityRatio"):
            raise ConfigError(f'scoringStrategy.type: Unsupported value: "{raw["type"]}"')
        st.type = raw["type"]
    if raw.get("resources"):
        st.resources = [(r["name"], int(r.get("weight") or 1)) for r in raw["resources"]]
    shape = (raw.get("requestedToCapacityRatio") or {}).get("shape")
    if shape:
        st.shape = [(int(p["utilization"]), int(p["score"])) for p in shape]
    return st


def _names(section: Object | None, key: str) -> list[Object]:
    return list(((section or {}).get(key)) or [])


def build_profile(raw: Object, percentage: int) -> tuple[Profile, bool]:
    name = raw.get("schedulerName") or DEFAULT_SCHEDULER
    plugins = raw.get("plugins") or {}
    args = {c.get("name"): c.get("args") or {} for c in raw.get("pluginConfig") or []}
    filters = list(DEFAULT_FILTERS)
    scores = dict(DEFAULT_SCORES)
    preemption = True
    for point in ("multiPoint", "filter", "score", "postFilter"):
        sec = plugins.get(point)
        for d in _names(sec, "disabled"):
            n = d.get("name")
            if n == "*":
                if point in ("multiPoint", "filter"):
                    filters = []
                if point in ("multiPoint", "score"):
                    scores = {}
                if point in ("multiPoint", "postFilter"):
                    preemption = False
                continue
            if n not in KNOWN:
                raise ConfigError(f'plugin "{n}" does not exist')
            if point in ("multiPoint", "filter") and n in filters:
                filters.remove(n)
            if point in ("multiPoint", "score"):
                scores.pop(n, None)
            if point in ("multiPoint", "postFilter") and n == "DefaultPreemption":
                preemption = False
        for e in _names(sec, "enabled"):
            n = e.get("name")
            if n not in KNOWN:
                raise ConfigError(f'plugin "{n}" does not exist')
            if point in ("multiPoint", "filter") and n in DEFAULT_FILTERS and n not in filters:
                filters.append(n)
            if point in ("multiPoint", "score") and n in DEFAULT_SCORES:
                scores[n] = int(e.get("weight") or scores.get(n) or DEFAULT_SCORES[n])
            if n == "DefaultPreemption":
                preemption = True
    instances: dict[str, Plugin] = {
        "NodeUnschedulable": NodeUnschedulable(), "NodeName": NodeName(), "TaintToleration": TaintToleration(),
        "NodeAffinity": NodeAffinity(), "NodePorts": NodePorts(),
        "NodeResourcesFit": NodeResourcesFit(_strategy(args.get("NodeResourcesFit") or {})),
        "VolumeBinding": VolumeBinding(), "PodTopologySpread": PodTopologySpread(),
        "InterPodAffinity": InterPodAffinity(), "NodeResourcesBalancedAllocation": BalancedAllocation(),
        "ImageLocality": ImageLocality(),
    }
    pct = raw.get("percentageOfNodesToScore")
    profile = Profile(name, [instances[n] for n in filters],
                      [(instances[n], w) for n, w in scores.items()],
                      percentage_of_nodes_to_score=int(percentage if pct is None else pct))
    prefilter_only = [instances["VolumeBinding"]] if "VolumeBinding" in filters else []
    profile.pre_filter_plugins = [p for p in profile.pre_filter_plugins if p.filters or p in prefilter_only]
    for p in prefilter_only:
        if p not in profile.pre_filter_plugins:
            profile.pre_filter_plugins.append(p)
    return profile, preemption


def load(raw: Object | None) -> SchedulerConfig:
    raw = raw or {}
    if raw and raw.get("kind") not in (None, "KubeSchedulerConfiguration"):
        raise ConfigError(f'no kind "{raw.get("kind")}" is registered for version "{raw.get("apiVersion")}"')
    pct = int(raw.get("percentageOfNodesToScore") or 0)
    profiles_raw = raw.get("profiles") or [{"schedulerName": DEFAULT_SCHEDULER}]
    profiles: list[Profile] = []
    preemption: dict[str, bool] = {}
    for p in profiles_raw:
        prof, pre = build_profile(p, pct)
        if prof.scheduler_name in preemption:
            raise ConfigError(f'profiles[{len(profiles)}].schedulerName: Duplicate value: "{prof.scheduler_name}"')
        profiles.append(prof)
        preemption[prof.scheduler_name] = pre
    return SchedulerConfig(profiles, raw.get("leaderElection") or {}, raw.get("clientConnection") or {},
                           preemption)
