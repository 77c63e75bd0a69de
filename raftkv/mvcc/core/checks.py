"""Request checks etcd makes before proposing: pure functions of the request.

They raise the same errors, with the same messages, as etcd's v3rpc layer, so a request
that would be refused never reaches the log.
"""

from __future__ import annotations

from raftkv import errors
from raftkv._pb.etcdserverpb import rpc_pb2 as pb

MAX_TXN_OPS_DEFAULT = 128


def check_range(r: pb.RangeRequest) -> None:
    if not r.key:
        raise errors.EmptyKey()
    if r.sort_order not in (pb.RangeRequest.NONE, pb.RangeRequest.ASCEND, pb.RangeRequest.DESCEND):
        raise errors.InvalidSortOption()
    if r.sort_target not in (pb.RangeRequest.KEY, pb.RangeRequest.VERSION, pb.RangeRequest.CREATE,
                             pb.RangeRequest.MOD, pb.RangeRequest.VALUE):
        raise errors.InvalidSortOption()
    # as etcd 3.4: a revision <= 0 reads the current revision and a limit <= 0 means no limit


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
    """etcd checks nothing before proposing a compaction: any revision at or below the compact
    revision (negative ones too) is refused when applied, with the compacted error."""


def _check_op(op: pb.RequestOp, max_ops: int) -> None:
    kind = op.WhichOneof("request")
    if kind == "request_range":
        check_range(op.request_range)
    elif kind == "request_put":
        check_put(op.request_put)
    elif kind == "request_delete_range":
        check_delete_range(op.request_delete_range)
    elif kind == "request_txn":
        _check_txn_ops(op.request_txn, max_ops)
    else:
        raise errors.KeyNotFound()  # etcd's answer to an empty operation


def _check_txn_ops(r: pb.TxnRequest, max_txn_ops: int) -> None:
    """Sizes and per-operation checks, nested txns included; a nested txn gets the budget its parent
    leaves (etcd passes max - the parent's widest list down)."""
    width = max(len(r.compare), len(r.success), len(r.failure))
    if width > max_txn_ops:
        raise errors.TooManyOps()
    for c in r.compare:
        if not c.key:
            raise errors.EmptyKey()
    for op in list(r.success) + list(r.failure):
        _check_op(op, max_txn_ops - width)


def check_txn(r: pb.TxnRequest, max_txn_ops: int = MAX_TXN_OPS_DEFAULT) -> None:
    """All operation checks first, then the duplicate-key rule per branch, in etcd's order."""
    _check_txn_ops(r, max_txn_ops)
    for branch in (r.success, r.failure):
        _check_intervals(branch)


def _in_deleted(k: bytes, dels: list[tuple[bytes, bytes]]) -> bool:
    """Whether a put key falls in a deleted interval, with the interval rules etcd 3.4 uses here:
    an empty range_end is the single key, any other range_end is taken literally as [key, range_end)
    (so `"\\0"` deletes nothing for this check: etcd does not special-case it), None is unbounded."""
    for dk, de in dels:
        if not de:
            if k == dk:
                return True
        elif dk <= k < de:
            return True
    return False


def _check_intervals(ops: object) -> tuple[set[bytes], list[tuple[bytes, bytes]]]:
    """etcd's duplicate-key rule for one branch, nested txns included; returns (puts, deletes).

    A key may not be put twice, nor put and deleted, on one execution path. The two branches of a
    nested txn exclude each other, so they may put the same key.
    """
    dels: list[tuple[bytes, bytes]] = []
    for op in ops:  # type: ignore[attr-defined]
        if op.WhichOneof("request") == "request_delete_range":
            d = op.request_delete_range
            dels.append((d.key, d.range_end))
    puts: set[bytes] = set()
    for op in ops:  # type: ignore[attr-defined]
        if op.WhichOneof("request") != "request_txn":
            continue
        puts_then, dels_then = _check_intervals(op.request_txn.success)
        puts_else, dels_else = _check_intervals(op.request_txn.failure)
        for k in puts_then:
            if k in puts or _in_deleted(k, dels):
                raise errors.DuplicateKey()
            puts.add(k)
        for k in puts_else:
            if (k in puts and k not in puts_then) or _in_deleted(k, dels):
                raise errors.DuplicateKey()
            puts.add(k)
        dels.extend(dels_then)
        dels.extend(dels_else)
    for op in ops:  # type: ignore[attr-defined]
        if op.WhichOneof("request") != "request_put":
            continue
        k = op.request_put.key
        if k in puts or _in_deleted(k, dels):
            raise errors.DuplicateKey()
        puts.add(k)
    return puts, dels
