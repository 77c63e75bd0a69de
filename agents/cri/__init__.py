"""raftkv's container runtime: a CRI (runtime.v1) server running pods as processes, its client and image store.

`api` is the generated runtime.v1 message module (proto/runtime/v1/api.proto), re-exported so callers import
one name: `from agents.cri import api`.
"""

from raftkv._pb.runtime.v1 import api_pb2 as api

__all__ = ["api"]
