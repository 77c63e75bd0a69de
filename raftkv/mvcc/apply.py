"""Applying etcd v3 requests to the store: the state-machine side of every KV and lease request.

Every member applies the same committed requests in the same order and so reaches the same
state: nothing here reads a clock or anything member-local. Requests are the etcdserverpb
messages themselves; responses are built directly, with `header.revision` filled.
"""

from __future__ import annotations

from raftkv import errors
from raftkv._pb.etcdserverpb import rpc_pb2 as pb
from raftkv._pb.mvccpb import kv_pb2
from raftkv.lease.lessor import Lessor
from raftkv.mvcc.core.key_index import Write
from raftkv.mvcc.core.ranges import in_range
from raftkv.mvcc.store import KVStore, WriteTxn

RR = pb.RangeRequest
_SORT_FIELD = {RR.VERSION: 3, RR.CREATE: 2, RR.MOD: 0}


class Applier:
    def __init__(self, store: KVStore, lessor: Lessor, max_txn_ops: int = 128,
                 quota_bytes: int = 2 * 1024**3) -> None:
        self.s = store
        self.lessor = lessor
        self.max_txn_ops = max_txn_ops
        self.quota_bytes = quota_bytes
        self.alarm_nospace_active = False
        for lid, ttl in store.b.leases():
            lessor.restore(lid, ttl)
        for lid, key in store.live_leases():
            lessor.attach(lid, key)
        store.restore_listeners.append(self.reload)

    def reload(self) -> None:
        """After the store was replaced by a snapshot image: rebuild the lease table from it
        (registered with the store, so `store.restore_from` runs it)."""
        self.lessor.clear()
        for lid, ttl in self.s.b.leases():
            self.lessor.restore(lid, ttl)
        for lid, key in self.s.live_leases():
            self.lessor.attach(lid, key)

    def set_nospace(self, active: bool) -> None:
        self.alarm_nospace_active = active

    def quota_exceeded(self, r: object) -> bool:
        """Whether a write would take the backend past its quota (etcd's check before proposing).

        Only requests that can grow the database count (puts, txns with puts, lease grants); on True
        the server raises the NOSPACE alarm through Raft and answers NoSpace, as etcd's quota layer does.
        """
        cost = request_cost(r)
        return cost > 0 and self.s.db_size() + cost >= self.quota_bytes

    # ------------------------------------------------------------------ range
    def range(self, r: pb.RangeRequest) -> pb.RangeResponse:
        resp = pb.RangeResponse()
        self._range_into(r, self.s.check_read_rev(r.revision), resp)
        resp.header.revision = self.s.rev
        return resp

    def _range_into(self, r: pb.RangeRequest, rev: int, resp: pb.RangeResponse) -> None:
        s = self.s
        filtered = bool(r.min_mod_revision or r.max_mod_revision or r.min_create_revision or r.max_create_revision)
        # without filters, and in key order (or in no order, which takes the first limit+1 keys), a page
        # and the count come from the live-key index without walking the whole range
        in_key_order = r.sort_order == RR.NONE or (r.sort_target == RR.KEY and r.sort_order == RR.ASCEND)
        page = (s.visible_page(r.key, r.range_end, rev, r.limit, r.count_only)
                if r.range_end and not filtered and in_key_order else None)
        if page is not None:
            resp.count, found = page
        else:
            found = s.visible(r.key, r.range_end, rev)
            resp.count = len(found)
        if r.count_only:
            return  # as etcd: no kvs, so `more` stays false too
        if filtered:
            found = [(k, w) for k, w in found if _passes(r, w)]
        elif r.sort_order == RR.NONE and r.limit > 0:
            # etcd 3.4 fetches limit+1 keys in key order before sorting when no sort order is given, so a
            # non-key sort target (which defaults to ascending) only orders those keys
            found = found[: r.limit + 1]
        order, target = r.sort_order, r.sort_target
        if order == RR.NONE and target != RR.KEY:
            order = RR.ASCEND
        kvs: list[kv_pb2.KeyValue] | None = None
        if order != RR.NONE and not (target == RR.KEY and order == RR.ASCEND):
            desc = order == RR.DESCEND
            if target == RR.KEY:
                found.sort(key=lambda x: x[0], reverse=desc)
            elif target == RR.VALUE:
                pairs = [(s.fetch(k, w), (k, w)) for k, w in found]
                pairs.sort(key=lambda p: p[0].value, reverse=desc)
                kvs = [p[0] for p in pairs]
                found = [p[1] for p in pairs]
            else:
                field = _SORT_FIELD[target]
                found.sort(key=lambda x: x[1][field], reverse=desc)
        if r.limit > 0 and len(found) > r.limit:
            found = found[: r.limit]
            if kvs is not None:
                kvs = kvs[: r.limit]
            resp.more = True
        if kvs is None:
            kvs = [s.fetch(k, w) for k, w in found]
        if r.keys_only:
            for kv in kvs:
                kv.value = b""
        resp.kvs.extend(kvs)

    # ------------------------------------------------------------------ writes
    def _check_space(self) -> None:
        if self.alarm_nospace_active:
            raise errors.NoSpace()

    def put(self, r: pb.PutRequest) -> pb.PutResponse:
        self._check_space()
        txn = self.s.write_txn()
        resp = pb.PutResponse()
        self._put(txn, r, resp)
        resp.header.revision = txn.end()
        return resp

    def _put(self, txn: WriteTxn, r: pb.PutRequest, resp: pb.PutResponse) -> None:
        s = self.s
        if r.lease and r.lease not in self.lessor:
            raise errors.LeaseNotFound()  # before the key check, as etcd's put does
        prev_w = s.get_write(r.key, txn.read_rev)
        # the old value is read only when the request needs it (the index knows version and lease)
        prev = s.fetch(r.key, prev_w) if prev_w is not None and (r.prev_kv or r.ignore_value) else None
        value, lease = r.value, r.lease
        if r.ignore_value or r.ignore_lease:
            if prev_w is None:
                raise errors.KeyNotFound()
            if r.ignore_value:
                assert prev is not None
                value = prev.value
            if r.ignore_lease:
                lease = prev_w[4]
        if prev is not None and r.prev_kv:
            resp.prev_kv.CopyFrom(prev)
        txn.put(r.key, value, lease)
        if prev_w is not None and prev_w[4] and prev_w[4] != lease:
            self.lessor.detach(prev_w[4], r.key)
        if lease:
            self.lessor.attach(lease, r.key)

    def delete_range(self, r: pb.DeleteRangeRequest) -> pb.DeleteRangeResponse:
        txn = self.s.write_txn()
        resp = pb.DeleteRangeResponse()
        self._delete(txn, r.key, r.range_end, r.prev_kv, resp)
        resp.header.revision = txn.end()
        return resp

    def _delete(self, txn: WriteTxn, key: bytes, end: bytes, want_prev: bool, resp: pb.DeleteRangeResponse) -> None:
        s = self.s
        found = s.visible(key, end, txn.read_rev)
        resp.deleted = len(found)
        for k, w in found:
            if want_prev:
                resp.prev_kvs.append(s.fetch(k, w))
            if w[4]:
                self.lessor.detach(w[4], k)
            txn.delete(k)

    # ------------------------------------------------------------------ txn
    def txn(self, r: pb.TxnRequest) -> pb.TxnResponse:
        # As etcd: every compare (nested ones too) is evaluated against the state at the start, and
        # every put on the chosen path is checked, before anything is written: a txn applies whole or not at all.
        if self.alarm_nospace_active and request_cost(r) > 0:
            raise errors.NoSpace()  # as etcd: any txn with a put in either branch, whichever runs
        path: list[bool] = []
        self._compare_path(r, self.s.rev, path)
        self._check_path(r, iter(path), self.s.rev, puts=True, deleted=[])
        self._check_path(r, iter(path), self.s.rev, puts=False, deleted=[])
        txn = self.s.write_txn()
        resp = pb.TxnResponse()
        self._txn(txn, r, resp, iter(path))
        rev = txn.end()
        resp.header.revision = rev
        return resp

    def _compare_path(self, r: pb.TxnRequest, rev: int, path: list[bool]) -> None:
        ok = all(self._compare(c, rev) for c in r.compare)
        path.append(ok)
        for op in (r.success if ok else r.failure):
            if op.WhichOneof("request") == "request_txn":
                self._compare_path(op.request_txn, rev, path)

    def _check_path(self, r: pb.TxnRequest, path: object, rev: int, puts: bool,
                    deleted: list[tuple[bytes, bytes]]) -> None:
        """etcd's checks of the ops on the chosen path: all puts first, then all ranges.

        Deviation: a put with ignore_value/ignore_lease of a key an earlier delete of the same txn
        removed (possible only with a `"\\0"` range end, which etcd's duplicate check lets through)
        is refused here with KeyNotFound before anything is written; etcd 3.4 panics on it mid-txn.
        """
        ok = next(path)  # type: ignore[call-overload]
        for op in (r.success if ok else r.failure):
            kind = op.WhichOneof("request")
            if kind == "request_put" and puts:
                p = op.request_put
                if (p.ignore_value or p.ignore_lease) and (
                        self.s.get_write(p.key, rev) is None or any(in_range(p.key, k, e) for k, e in deleted)):
                    raise errors.KeyNotFound()
                if p.lease and p.lease not in self.lessor:
                    raise errors.LeaseNotFound()
            elif kind == "request_delete_range":
                deleted.append((op.request_delete_range.key, op.request_delete_range.range_end))
            elif kind == "request_range" and not puts and op.request_range.revision:
                # as etcd: any non-zero revision is checked, so a negative one is "compacted" once
                # anything was compacted (it is below the compact revision), though ranges read it as current
                want = op.request_range.revision
                if want > self.s.rev:
                    raise errors.FutureRevision()
                if want < self.s.compact_rev:
                    raise errors.Compacted(self.s.compact_rev)
            elif kind == "request_txn":
                self._check_path(op.request_txn, path, rev, puts, deleted)

    def _txn(self, txn: WriteTxn, r: pb.TxnRequest, resp: pb.TxnResponse, path: object) -> None:
        ok = next(path)  # type: ignore[call-overload]
        resp.succeeded = ok
        ops = r.success if ok else r.failure
        for op in ops:
            out = resp.responses.add()
            kind = op.WhichOneof("request")
            if kind is not None:  # the response is present even when all its fields are empty
                getattr(out, kind.replace("request_", "response_")).SetInParent()
            # inner headers carry the revision etcd 3.4 puts there: a range the revision it read at,
            # a put the txn's revision, a delete that too once the txn has written (else the old one),
            # a nested txn none
            if kind == "request_range":
                rr = out.response_range
                self._range_into(op.request_range, self._txn_read_rev(op.request_range, txn), rr)
                rr.header.revision = txn.read_rev
            elif kind == "request_put":
                self._put(txn, op.request_put, out.response_put)
                out.response_put.header.revision = txn.main
            elif kind == "request_delete_range":
                d = op.request_delete_range
                self._delete(txn, d.key, d.range_end, d.prev_kv, out.response_delete_range)
                out.response_delete_range.header.revision = txn.read_rev
            elif kind == "request_txn":
                out.response_txn.header.SetInParent()
                self._txn(txn, op.request_txn, out.response_txn, path)

    def _txn_read_rev(self, r: pb.RangeRequest, txn: WriteTxn) -> int:
        if r.revision > 0:
            return self.s.check_read_rev(r.revision)
        return txn.read_rev  # 0 or negative: the txn's own view, its writes so far included

    def _compare(self, c: pb.Compare, rev: int) -> bool:
        found = self.s.visible(c.key, c.range_end, rev)
        if not found:
            if c.target == pb.Compare.VALUE:
                return False  # a missing key has no value to compare
            return _cmp(0, _target_int(c), c.result)
        for k, w in found:
            if c.target == pb.Compare.VALUE:
                kv = self.s.fetch(k, w)
                if not _cmp(kv.value, c.value, c.result):
                    return False
            elif c.target == pb.Compare.LEASE:
                if not _cmp(w[4], c.lease, c.result):
                    return False
            else:
                actual = {pb.Compare.VERSION: w[3], pb.Compare.CREATE: w[2], pb.Compare.MOD: w[0]}[c.target]
                if not _cmp(actual, _target_int(c), c.result):
                    return False
        return True

    # ------------------------------------------------------------------ compaction and leases
    def compact(self, r: pb.CompactionRequest) -> pb.CompactionResponse:
        self.s.compact(r.revision)
        resp = pb.CompactionResponse()
        resp.header.revision = self.s.rev
        return resp

    def lease_grant(self, lid: int, ttl: int) -> pb.LeaseGrantResponse:
        self._check_space()
        lease = self.lessor.grant(lid, ttl)
        self.s.b.put_lease(lid, lease.ttl)
        resp = pb.LeaseGrantResponse(ID=lid, TTL=lease.ttl)
        resp.header.revision = self.s.rev
        return resp

    def lease_revoke(self, lid: int) -> pb.LeaseRevokeResponse:
        keys = self.lessor.revoke(lid)
        self.s.b.delete_lease(lid)
        txn = self.s.write_txn()
        for k in keys:
            ki = self.s.index.get(k)
            if ki is not None and ki.live():
                txn.delete(k)
        resp = pb.LeaseRevokeResponse()
        resp.header.revision = txn.end()
        return resp


KV_OVERHEAD = 256  # etcd's per-put charge against the quota on top of key and value
LEASE_OVERHEAD = 64


def request_cost(r: object) -> int:
    """etcd's quota charge for a request: 0 for requests that cannot grow the database.

    A txn costs its larger branch; as in etcd, only the branch's own puts count (not nested txns).
    """
    if isinstance(r, pb.PutRequest):
        return KV_OVERHEAD + len(r.key) + len(r.value)
    if isinstance(r, pb.TxnRequest):
        return max(sum(request_cost(op.request_put) for op in branch if op.WhichOneof("request") == "request_put")
                   for branch in (r.success, r.failure))
    if isinstance(r, pb.LeaseGrantRequest):
        return LEASE_OVERHEAD
    return 0


def _passes(r: pb.RangeRequest, w: Write) -> bool:
    mod, create = w[0], w[2]
    if r.min_mod_revision and mod < r.min_mod_revision:
        return False
    if r.max_mod_revision and mod > r.max_mod_revision:
        return False
    if r.min_create_revision and create < r.min_create_revision:
        return False
    if r.max_create_revision and create > r.max_create_revision:
        return False
    return True


def _target_int(c: pb.Compare) -> int:
    which = c.WhichOneof("target_union")
    return int(getattr(c, which)) if which and which != "value" else 0


def _cmp(a: int | bytes, b: int | bytes, result: int) -> bool:
    """A compare's result operator applied to the key's value and the compare's target (both ints or bytes)."""
    if result == pb.Compare.EQUAL:
        return a == b
    if result == pb.Compare.GREATER:
        return a > b  # type: ignore[operator]
    if result == pb.Compare.LESS:
        return a < b  # type: ignore[operator]
    return a != b
