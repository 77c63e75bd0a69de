"""What a learner serves to clients, as etcd 3.4's v3rpc interceptors decide it; pure.

etcd refuses every client RPC on a member that is a learner (`etcdserver: rpc not supported for learner`,
UNAVAILABLE, so that clients move on to another endpoint) except Maintenance.Status and serializable Ranges
(`isRPCSupportedForLearner`); streaming RPCs (Watch, LeaseKeepAlive, Snapshot) are all refused, and so is the
gRPC health check.
"""

from __future__ import annotations

from typing import Any

from raftkv import errors

STATUS = "/etcdserverpb.Maintenance/Status"
RANGE = "/etcdserverpb.KV/Range"


def refusal(method: str, request: Any, *, streaming: bool) -> errors.RaftKVError | None:
    """Why a learner does not serve `method` (with its decoded `request`, None for a stream), or None."""
    if not streaming and (method == STATUS or (method == RANGE and bool(getattr(request, "serializable", False)))):
        return None
    return errors.NotSupportedForLearner()
