"""etcd 3.4's backend schema: which bucket holds what, encoded exactly as etcd encodes it.

    key              8-byte main revision, "_", 8-byte sub revision (+ "t" for a tombstone), big-endian
                     -> mvccpb.KeyValue (a tombstone's value carries only the key)
    meta             consistent_index -> u64; scheduledCompactRev, finishedCompactRev -> a revision key
    lease            8-byte lease id -> leasepb.Lease {ID, TTL}
    members          member id in hex -> JSON {"id","peerURLs","isLearner","name","clientURLs"}
    members_removed  member id in hex -> "removed"
    auth             authEnabled -> 1 byte, authRevision -> u64
    authUsers        name -> authpb.User; authRoles: name -> authpb.Role
    cluster          clusterVersion -> "3.4.0"
    alarm            etcdserverpb.AlarmMember -> empty
raftkv keeps its own revision keys (17 bytes ending in "p" or "t") and stores a tombstone with its
mod_revision; both are converted here, so a file round-trips to the same bytes etcd would write.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from raftkv._pb.authpb import auth_pb2
from raftkv._pb.etcdserverpb import rpc_pb2 as pb
from raftkv._pb.mvccpb import kv_pb2
from raftkv.auth.store import AuthStore, Permission, User
from raftkv.server.membership import Member

BUCKETS = (b"alarm", b"auth", b"authRoles", b"authUsers", b"cluster", b"key", b"lease", b"members",
           b"members_removed", b"meta")
CLUSTER_VERSION = b"3.4.0"
_U64 = struct.Struct(">Q")
_REV = struct.Struct(">Q")


class SchemaError(Exception):
    """The database is bbolt but not etcd's (a bucket or key that etcd would never write)."""


# ---------------------------------------------------------------- revisions
def etcd_rev_key(main: int, sub: int, tombstone: bool) -> bytes:
    return _REV.pack(main) + b"_" + _REV.pack(sub) + (b"t" if tombstone else b"")


def parse_etcd_rev_key(k: bytes) -> tuple[int, int, bool]:
    if len(k) not in (17, 18) or k[8:9] != b"_" or (len(k) == 18 and k[17:] != b"t"):
        raise SchemaError(f"key bucket: {k!r} is not an etcd revision key")
    return _REV.unpack_from(k, 0)[0], _REV.unpack_from(k, 9)[0], len(k) == 18


# ---------------------------------------------------------------- protobuf for leasepb.Lease (no schema here)
def _varint(n: int) -> bytes:
    n &= 0xFFFFFFFFFFFFFFFF
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def encode_lease(lid: int, ttl: int) -> bytes:
    """leasepb.Lease{ID: 1, TTL: 2} as gogoproto writes it (zero fields left out)."""
    return (b"\x08" + _varint(lid) if lid else b"") + (b"\x10" + _varint(ttl) if ttl else b"")


def decode_lease(data: bytes) -> tuple[int, int]:
    fields: dict[int, int] = {}
    i = 0
    while i < len(data):
        tag, i = _read_varint(data, i)
        if tag & 7 != 0:
            raise SchemaError(f"lease bucket: unexpected wire type {tag & 7} in a leasepb.Lease")
        fields[tag >> 3], i = _read_varint(data, i)
    lid, ttl = fields.get(1, 0), fields.get(2, 0)
    return (lid - (1 << 64) if lid >= 1 << 63 else lid), (ttl - (1 << 64) if ttl >= 1 << 63 else ttl)


def _read_varint(data: bytes, i: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        if i >= len(data) or shift > 63:
            raise SchemaError("truncated or overlong varint")
        b = data[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


# ---------------------------------------------------------------- the state both sides agree on
@dataclass
class State:
    """What a snapshot carries, in raftkv's terms. `kvs` are (main, sub, tombstone, mvccpb.KeyValue bytes)
    in revision order, tombstones as raftkv stores them (with mod_revision)."""

    kvs: Sequence[tuple[int, int, bool, bytes]] = ()
    consistent_index: int = 0
    compact_rev: int = -1  # -1: never compacted
    scheduled_compact_rev: int = -1
    leases: Sequence[tuple[int, int]] = ()
    members: Sequence[Member] = ()
    removed: Iterable[int] = ()
    auth: AuthStore = field(default_factory=AuthStore)
    alarms: Iterable[tuple[int, int]] = ()

    @property
    def revision(self) -> int:
        """The store's revision: its newest write, or the compaction revision if that is newer (etcd's rule)."""
        newest = self.kvs[-1][0] if self.kvs else 1
        return max(newest, self.compact_rev, 1)


def _member_json(m: Member) -> bytes:
    doc: dict[str, object] = {"id": m.id, "peerURLs": list(m.peer_urls)}
    if m.is_learner:
        doc["isLearner"] = True
    if m.name:
        doc["name"] = m.name
    if m.client_urls:
        doc["clientURLs"] = list(m.client_urls)
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def member_from_json(v: bytes) -> Member:
    """A member as etcd writes it (members bucket, conf change context)."""
    try:
        d = json.loads(v)
        return Member(int(d["id"]), str(d.get("name", "")), list(d.get("peerURLs") or []),
                      list(d.get("clientURLs") or []), bool(d.get("isLearner", False)))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SchemaError(f"{v!r} is not an etcd member") from exc


def _tombstone_value(raw: bytes) -> bytes:
    return kv_pb2.KeyValue(key=kv_pb2.KeyValue.FromString(raw).key).SerializeToString()


def _role(name: str, perms: Sequence[Permission]) -> bytes:
    keys = [auth_pb2.Permission(permType=p.perm_type, key=p.key, range_end=p.range_end)  # type: ignore[arg-type]
            for p in perms]
    return auth_pb2.Role(name=name.encode(), keyPermission=keys).SerializeToString()


def bucket_stream(s: State, kvs: Iterable[tuple[int, int, bool, bytes]] | None = None
                  ) -> list[tuple[bytes, Iterable[tuple[bytes, bytes]]]]:
    """The ten buckets of etcd 3.4 holding `s`, in name order, each sorted by key; the `key` bucket is read
    lazily from `kvs` (default `s.kvs`), so a large store need not be held in memory to be written."""
    keys = ((etcd_rev_key(main, sub, tomb), _tombstone_value(raw) if tomb else raw)
            for main, sub, tomb, raw in (s.kvs if kvs is None else kvs))
    small = to_buckets(State(consistent_index=s.consistent_index, compact_rev=s.compact_rev,
                             scheduled_compact_rev=s.scheduled_compact_rev, leases=s.leases, members=s.members,
                             removed=s.removed, auth=s.auth, alarms=s.alarms))
    return [(name, keys if name == b"key" else small[name]) for name in sorted(small)]


def to_buckets(s: State) -> dict[bytes, list[tuple[bytes, bytes]]]:
    """The ten buckets of etcd 3.4 holding `s`, each sorted by key."""
    out: dict[bytes, list[tuple[bytes, bytes]]] = {name: [] for name in BUCKETS}
    out[b"key"] = [(etcd_rev_key(main, sub, tomb), _tombstone_value(raw) if tomb else raw)
                   for main, sub, tomb, raw in s.kvs]
    meta = [(b"consistent_index", _U64.pack(s.consistent_index))]
    if s.compact_rev >= 0:
        meta.append((b"finishedCompactRev", etcd_rev_key(s.compact_rev, 0, False)))
        scheduled = max(s.scheduled_compact_rev, s.compact_rev)
        meta.append((b"scheduledCompactRev", etcd_rev_key(scheduled, 0, False)))
    out[b"meta"] = sorted(meta)
    out[b"lease"] = sorted((struct.pack(">q", lid), encode_lease(lid, ttl)) for lid, ttl in s.leases)
    out[b"members"] = sorted((format(m.id, "x").encode(), _member_json(m)) for m in s.members)
    out[b"members_removed"] = sorted((format(i, "x").encode(), b"removed") for i in s.removed)
    auth = [(b"authRevision", _U64.pack(s.auth.revision))]
    if s.auth.enabled:
        auth.insert(0, (b"authEnabled", b"\x01"))
    out[b"auth"] = auth
    out[b"authUsers"] = sorted((u.name.encode(), auth_pb2.User(
        name=u.name.encode(), password=u.password.encode(), roles=sorted(u.roles),
        options=auth_pb2.UserAddOptions(no_password=u.no_password)).SerializeToString())
        for u in s.auth.users.values())
    out[b"authRoles"] = sorted((name.encode(), _role(name, perms)) for name, perms in s.auth.roles.items())
    out[b"cluster"] = [(b"clusterVersion", CLUSTER_VERSION)]
    out[b"alarm"] = sorted((pb.AlarmMember(memberID=mid, alarm=a).SerializeToString(), b"")  # type: ignore[arg-type]
                           for mid, a in s.alarms)
    return out


def _pairs(buckets: Mapping[bytes, Sequence[tuple[bytes, bytes]]], name: bytes) -> Sequence[tuple[bytes, bytes]]:
    return buckets.get(name, ())


def from_buckets(buckets: Mapping[bytes, Sequence[tuple[bytes, bytes]]], token_key: str = "") -> State:
    """The state held in etcd's buckets. `token_key` signs raftkv's simple auth tokens (etcd has none)."""
    if b"key" not in buckets or b"meta" not in buckets:
        raise SchemaError("not an etcd backend: the buckets 'key' and 'meta' are missing")
    kvs = []
    for k, v in _pairs(buckets, b"key"):
        main, sub, tomb = parse_etcd_rev_key(k)
        try:
            kv = kv_pb2.KeyValue.FromString(v)
        except Exception as exc:  # protobuf's DecodeError
            raise SchemaError(f"key bucket: the value at revision {main} is not an mvccpb.KeyValue") from exc
        if tomb:  # etcd keeps only the key; raftkv's watch replay wants the deletion's revision too
            v = kv_pb2.KeyValue(key=kv.key, mod_revision=main).SerializeToString()
        kvs.append((main, sub, tomb, v))
    meta = dict(_pairs(buckets, b"meta"))
    ci = meta.get(b"consistent_index")
    finished = meta.get(b"finishedCompactRev")
    scheduled = meta.get(b"scheduledCompactRev")
    leases = []
    for _k, v in _pairs(buckets, b"lease"):
        leases.append(decode_lease(v))
    members = [member_from_json(v) for _k, v in _pairs(buckets, b"members")]
    removed = []
    for k, _v in _pairs(buckets, b"members_removed"):
        try:
            removed.append(int(k, 16))
        except ValueError as exc:
            raise SchemaError(f"members_removed bucket: {k!r} is not a member id") from exc
    return State(kvs=kvs, consistent_index=_U64.unpack(ci)[0] if ci and len(ci) == 8 else 0,
                 compact_rev=parse_etcd_rev_key(finished)[0] if finished else -1,
                 scheduled_compact_rev=parse_etcd_rev_key(scheduled)[0] if scheduled else -1,
                 leases=leases, members=members, removed=removed,
                 auth=_auth_from(buckets, token_key), alarms=_alarms_from(buckets))


def _auth_from(buckets: Mapping[bytes, Sequence[tuple[bytes, bytes]]], token_key: str) -> AuthStore:
    flags = dict(_pairs(buckets, b"auth"))
    rev = flags.get(b"authRevision")
    store = AuthStore(enabled=flags.get(b"authEnabled", b"\x00") == b"\x01",
                      revision=_U64.unpack(rev)[0] if rev and len(rev) == 8 else 1, token_key=token_key)
    try:
        for _k, v in _pairs(buckets, b"authUsers"):
            u = auth_pb2.User.FromString(v)
            store.users[u.name.decode()] = User(u.name.decode(), u.password.decode(), list(u.roles),
                                                u.options.no_password or not u.password)
        for _k, v in _pairs(buckets, b"authRoles"):
            r = auth_pb2.Role.FromString(v)
            store.roles[r.name.decode()] = [Permission(int(p.permType), p.key, p.range_end) for p in r.keyPermission]
    except Exception as exc:  # protobuf's DecodeError, or a name that is not UTF-8
        raise SchemaError(f"auth buckets: not etcd's users and roles ({exc})") from exc
    return store


def _alarms_from(buckets: Mapping[bytes, Sequence[tuple[bytes, bytes]]]) -> list[tuple[int, int]]:
    out = []
    for k, _v in _pairs(buckets, b"alarm"):
        try:
            a = pb.AlarmMember.FromString(k)
        except Exception as exc:
            raise SchemaError(f"alarm bucket: {k!r} is not an AlarmMember") from exc
        out.append((a.memberID, int(a.alarm)))
    return out


def derived_token_key(db_sha256: bytes, cluster_token: str) -> str:
    """A token-signing key every member restored from the same file with the same cluster token agrees on
    (etcd's snapshot has no such key; raftkv's simple tokens need one shared by all members)."""
    return hashlib.sha256(b"raftkv auth token key\0" + db_sha256 + cluster_token.encode()).hexdigest()
