"""Cluster membership as the state machine sees it: who the members are, their names and URLs.

Pure data and transitions, applied from committed log entries in the same order on every
member, so every member agrees. The Raft core's ConfState says who votes; this says how to
reach them and what to call them. Serialized as JSON (never pickle) into snapshots.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from raftkv import errors


@dataclass
class Member:
    id: int
    name: str = ""
    peer_urls: list[str] = field(default_factory=list)
    client_urls: list[str] = field(default_factory=list)
    is_learner: bool = False


@dataclass
class Membership:
    cluster_id: int = 0
    members: dict[int, Member] = field(default_factory=dict)
    removed: set[int] = field(default_factory=set)

    def add(self, m: Member) -> None:
        """Idempotent: re-applying the same add (WAL replay) leaves the same state."""
        if m.id in self.removed:
            return
        existing = self.members.get(m.id)
        if existing is not None:
            existing.peer_urls = m.peer_urls or existing.peer_urls
            existing.is_learner = m.is_learner
            existing.name = existing.name or m.name
            return
        self.members[m.id] = Member(m.id, m.name, list(m.peer_urls), list(m.client_urls), m.is_learner)

    def remove(self, member_id: int) -> None:
        self.members.pop(member_id, None)
        self.removed.add(member_id)

    def promote(self, member_id: int) -> None:
        m = self.members.get(member_id)
        if m is not None:
            m.is_learner = False

    def set_attributes(self, member_id: int, name: str, client_urls: list[str]) -> None:
        m = self.members.get(member_id)
        if m is not None:
            m.name = name
            m.client_urls = list(client_urls)

    def update_peer_urls(self, member_id: int, peer_urls: list[str]) -> None:
        """Applied from the log, so checked here too: every member refuses the same update."""
        self.check_update(member_id, peer_urls)
        self.members[member_id].peer_urls = list(peer_urls)

    def check_update(self, member_id: int, peer_urls: list[str]) -> None:
        """What etcd refuses in a MemberUpdate: an unknown member, URLs another member has."""
        if member_id not in self.members:
            raise errors.MemberNotFound()
        taken = {u for x in self.members.values() if x.id != member_id for u in x.peer_urls}
        if any(u in taken for u in peer_urls):
            raise errors.PeerURLExist()

    def check_add(self, m: Member) -> None:
        """What etcd refuses before proposing a MemberAdd."""
        if m.id in self.members:
            raise errors.MemberExist()
        if m.id in self.removed:
            raise errors.MemberExist("etcdserver: member ID already removed")
        taken = {u for x in self.members.values() for u in x.peer_urls}
        if any(u in taken for u in m.peer_urls):
            raise errors.PeerURLExist()

    def sorted(self) -> list[Member]:
        return [self.members[k] for k in sorted(self.members)]

    def to_json(self) -> bytes:
        return json.dumps({"cluster_id": self.cluster_id, "members": [asdict(m) for m in self.sorted()],
                           "removed": sorted(self.removed)}).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Membership:
        doc = json.loads(data)
        ms = cls(cluster_id=int(doc["cluster_id"]))
        for d in doc["members"]:
            ms.members[int(d["id"])] = Member(int(d["id"]), d["name"], list(d["peer_urls"]),
                                              list(d["client_urls"]), bool(d["is_learner"]))
        ms.removed = {int(x) for x in doc.get("removed", [])}
        return ms


def member_context(m: Member) -> bytes:
    """The ConfChange context for adding `m`: what the other members need to know."""
    return json.dumps(asdict(m)).encode()


def member_from_context(data: bytes) -> Member:
    d = json.loads(data)
    return Member(int(d["id"]), d.get("name", ""), list(d.get("peer_urls", [])), list(d.get("client_urls", [])),
                  bool(d.get("is_learner", False)))
