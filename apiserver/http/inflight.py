"""kube-apiserver's max-in-flight limit (`--max-requests-inflight`, `--max-mutating-requests-inflight`); pure.

Requests beyond the limit are refused at once with 429 TooManyRequests and `Retry-After: 1` (clients such as kubectl
and client-go retry them). Long-running requests (watches, followed logs, exec/attach/port-forward/proxy) and
members of system:masters are not counted, as in the real filter. A limit of 0 means unlimited.
"""

from __future__ import annotations

from collections.abc import Mapping

from apiserver.request_info import RequestInfo

READ_ONLY_VERBS = frozenset({"get", "list", "watch"})
LONG_RUNNING_SUBRESOURCES = frozenset({"exec", "attach", "portforward", "proxy"})
PRIVILEGED_GROUP = "system:masters"


def is_long_running(info: RequestInfo, query: Mapping[str, str]) -> bool:
    if info.verb == "watch" or query.get("watch") in ("true", "1"):
        return True
    if info.subresource in LONG_RUNNING_SUBRESOURCES:
        return True
    return info.subresource == "log" and query.get("follow") in ("true", "1")


def is_mutating(info: RequestInfo) -> bool:
    return info.verb not in READ_ONLY_VERBS


class InflightLimiter:
    def __init__(self, max_read_only: int, max_mutating: int) -> None:
        self.limits = {False: max_read_only, True: max_mutating}
        self.current = {False: 0, True: 0}

    def acquire(self, mutating: bool) -> bool:
        limit = self.limits[mutating]
        if limit and self.current[mutating] >= limit:
            return False
        self.current[mutating] += 1
        return True

    def release(self, mutating: bool) -> None:
        self.current[mutating] -= 1
