"""Request checks etcd makes before proposing: pure functions of the request.

They raise the same errors, with the same messages, as etcd's v3rpc layer, so a request
that would be refused never reaches the log.
"""

from __future__ import annotations

from raftkv import errors
from raftkv._pb.etcdserverpb import rpc_pb2 as pb
from raftkv.mvcc.core.ranges import overlaps

MAX_TXN_OPS_DEFAULT = 128


def check_range(r: pb.RangeRequest) -> None:
    if not r.key:
        raise errors.EmptyKey()
    if r.sort_order not in (pb.RangeRequest.NONE, pb.RangeRequest.ASCEND, pb.RangeRequest.DESCEND):
        raise errors.InvalidSortOption()
    if r.sort_target not in (pb.RangeRequest.KEY, pb.RangeRequest.VERSION, pb.RangeRequest.CREATE,
                             pb.RangeRequest.MOD, pb.RangeRequest.VALUE):
        raise errors.InvalidSortOption()
    if r.revision < 0:
        raise errors.InvalidArgument("etcdserver: revision must not be negative")
    if r.limit < 0:
        raise errors.InvalidArgument("etcdserver: limit must not be negative")


def check_put(r: pb.PutRequest) -> None:
    if not r.key:
        raise errors.EmptyKey()
    if r.ignore_value and r.value:
        raise errors.ValueProvided()
    if r.ignore_lease and r.lease:
        raise errors.LeaseProvided()


def check_delete_range(r: pb.DeleteRangeRequest) -> None:
    if not r.key:
        raise errors.EmptyKey()


def check_compaction(r: pb.CompactionRequest) -> None:
    if r.revision < 0:
        raise errors.InvalidArgument("etcdserver: revision must not be negative")


def _check_op(op: pb.RequestOp, max_ops: int) -> None:
    kind = op.WhichOneof("request")
    if kind == "request_range":
        check_range(op.request_range)
    elif kind == "request_put":
        check_put(op.request_put)
    elif kind == "request_delete_range":
        check_delete_range(op.request_delete_range)
    elif kind == "request_txn":
        check_txn(op.request_txn, max_ops)
    else:
        raise errors.InvalidArgument("etcdserver: a txn operation has no request")


def check_txn(r: pb.TxnRequest, max_txn_ops: int = MAX_TXN_OPS_DEFAULT) -> None:
    if len(r.compare) > max_txn_ops or len(r.success) > max_txn_ops or len(r.failure) > max_txn_ops:
        raise errors.TooManyOps()
    for c in r.compare:
        if not c.key:
            raise errors.EmptyKey()
    for op in list(r.success) + list(r.failure):
        _check_op(op, max_txn_ops)
    for branch in (r.success, r.failure):
        _check_intervals(branch)


def _collect(ops: object) -> tuple[set[bytes], list[tuple[bytes, bytes]]]:
    """Keys put and ranges deleted by a branch, nested txns included (both of their branches)."""
    puts: set[bytes] = set()
    dels: list[tuple[bytes, bytes]] = []
    for op in ops:  # type: ignore[attr-defined]
        kind = op.WhichOneof("request")
        if kind == "request_put":
            k = op.request_put.key
            if k in puts:
                raise errors.DuplicateKey()
            puts.add(k)
        elif kind == "request_delete_range":
            dels.append((op.request_delete_range.key, op.request_delete_range.range_end))
        elif kind == "request_txn":
            nested = [_collect(branch) for branch in (op.request_txn.success, op.request_txn.failure)]
            for p, _ in nested:  # only one nested branch runs: each is checked against this level alone
                if p & puts:
                    raise errors.DuplicateKey()
            for p, d in nested:
                puts |= p
                dels.extend(d)
    return puts, dels


def _check_intervals(ops: object) -> None:
    puts, dels = _collect(ops)
    for k in puts:
        for dk, de in dels:
            if overlaps(k, b"", dk, de):
                raise errors.DuplicateKey()
