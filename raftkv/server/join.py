"""Joining an existing cluster: learn the member's own id and its peers' ids from a running member.

A member started with `--initial-cluster-state existing` was added through `MemberAdd`, which gave it
an id the new process cannot compute from its flags (ids of added members are salted with the time,
as etcd's are, so a member removed and added again with the same URLs gets a new id). Like etcd, the
new member asks the peers named in `--initial-cluster` for the membership and finds itself in it by
its advertised peer URLs.
"""

from __future__ import annotations

import asyncio
import logging

import grpc

from raftkv._pb.raftpb import raft_pb2 as rpb
from raftkv._pb.raftpb import raft_pb2_grpc as rpb_grpc
from raftkv.server.config import ConfigError
from raftkv.server.membership import Member, Membership
from raftkv.server.transport import grpc_target

log = logging.getLogger("raftkv.join")

DISCOVERY_ATTEMPT_TIMEOUT_S = 2.0


def find_self(membership: Membership, advertise_peer_urls: list[str]) -> Member:
    """The member whose peer URLs are ours; a clear error if the cluster does not know us."""
    mine = sorted(advertise_peer_urls)
    for m in membership.members.values():
        if sorted(m.peer_urls) == mine:
            return m
    known = ", ".join(f"{m.id:x}={','.join(m.peer_urls)}" for m in membership.members.values())
    raise ConfigError(f"this member ({','.join(mine)}) is not a member of the existing cluster "
                      f"{membership.cluster_id:x} (members: {known}); add it first with `etcdctl member add`, "
                      f"and pass the peer URLs given there as --initial-advertise-peer-urls")


async def fetch_membership(peer_urls: list[str], creds: grpc.ChannelCredentials | None,
                           deadline_s: float) -> Membership:
    """The membership from the first peer that answers, retried until `deadline_s` has passed."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    errors: dict[str, str] = {}
    while True:
        for url in peer_urls:
            target = grpc_target(url)
            ch = grpc.aio.secure_channel(target, creds) if creds else grpc.aio.insecure_channel(target)
            try:
                resp = await rpb_grpc.RaftPeerStub(ch).Members(rpb.MembersRequest(),
                                                               timeout=DISCOVERY_ATTEMPT_TIMEOUT_S)
                return Membership.from_json(resp.membership)
            except grpc.aio.AioRpcError as exc:
                errors[url] = f"{exc.code().name}: {exc.details()}"
            finally:
                await ch.close()
        if loop.time() >= end:
            detail = "; ".join(f"{u}: {e}" for u, e in errors.items())
            raise ConfigError(f"cannot fetch the cluster's membership from the peers in --initial-cluster ({detail})")
        await asyncio.sleep(0.5)
