"""The one table from domain errors to gRPC status codes, with etcd's messages.

Codes follow etcd's `api/v3rpc/rpctypes/error.go`, so clients that switch on the code
(client-go, python-etcd3, etcdctl) react as they do with etcd. Anything unmapped is
`UNKNOWN` with its message: a bug to fix, never a crash of the member.
"""

from __future__ import annotations

import grpc

from raftkv import errors as e

_CODES: dict[type[e.RaftKVError], grpc.StatusCode] = {
    e.EmptyKey: grpc.StatusCode.INVALID_ARGUMENT,
    e.KeyNotFound: grpc.StatusCode.INVALID_ARGUMENT,
    e.ValueProvided: grpc.StatusCode.INVALID_ARGUMENT,
    e.LeaseProvided: grpc.StatusCode.INVALID_ARGUMENT,
    e.TooManyOps: grpc.StatusCode.INVALID_ARGUMENT,
    e.DuplicateKey: grpc.StatusCode.INVALID_ARGUMENT,
    e.InvalidSortOption: grpc.StatusCode.INVALID_ARGUMENT,
    e.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    e.RequestTooLarge: grpc.StatusCode.INVALID_ARGUMENT,
    e.Compacted: grpc.StatusCode.OUT_OF_RANGE,
    e.FutureRevision: grpc.StatusCode.OUT_OF_RANGE,
    e.NoSpace: grpc.StatusCode.RESOURCE_EXHAUSTED,
    e.TooManyRequests: grpc.StatusCode.RESOURCE_EXHAUSTED,
    e.LeaseNotFound: grpc.StatusCode.NOT_FOUND,
    e.LeaseExists: grpc.StatusCode.FAILED_PRECONDITION,
    e.LeaseTTLTooLarge: grpc.StatusCode.OUT_OF_RANGE,
    e.MemberExist: grpc.StatusCode.FAILED_PRECONDITION,
    e.PeerURLExist: grpc.StatusCode.FAILED_PRECONDITION,
    e.MemberNotFound: grpc.StatusCode.NOT_FOUND,
    e.MemberBadURLs: grpc.StatusCode.INVALID_ARGUMENT,
    e.MemberNotLearner: grpc.StatusCode.FAILED_PRECONDITION,
    e.LearnerNotReady: grpc.StatusCode.FAILED_PRECONDITION,
    e.TooManyLearners: grpc.StatusCode.FAILED_PRECONDITION,
    e.NotEnoughStartedMembers: grpc.StatusCode.FAILED_PRECONDITION,
    e.BadLeaderTransferee: grpc.StatusCode.FAILED_PRECONDITION,
    e.NoLeader: grpc.StatusCode.UNAVAILABLE,
    e.NotLeader: grpc.StatusCode.FAILED_PRECONDITION,
    e.LeaderChanged: grpc.StatusCode.UNAVAILABLE,
    e.Stopped: grpc.StatusCode.UNAVAILABLE,
    e.Timeout: grpc.StatusCode.UNAVAILABLE,
    e.TimeoutDueToLeaderFail: grpc.StatusCode.UNAVAILABLE,
    e.TimeoutDueToConnectionLost: grpc.StatusCode.UNAVAILABLE,
    e.UnhealthyCluster: grpc.StatusCode.UNAVAILABLE,
    e.Corrupt: grpc.StatusCode.DATA_LOSS,
    e.NotCapable: grpc.StatusCode.UNAVAILABLE,
    e.NotSupportedForLearner: grpc.StatusCode.UNAVAILABLE,
    e.AuthNotEnabled: grpc.StatusCode.FAILED_PRECONDITION,
    e.PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    e.RootUserNotExist: grpc.StatusCode.FAILED_PRECONDITION,
    e.RootRoleNotExist: grpc.StatusCode.FAILED_PRECONDITION,
    e.UserAlreadyExist: grpc.StatusCode.FAILED_PRECONDITION,
    e.UserEmpty: grpc.StatusCode.INVALID_ARGUMENT,
    e.UserNotFound: grpc.StatusCode.FAILED_PRECONDITION,
    e.RoleAlreadyExist: grpc.StatusCode.FAILED_PRECONDITION,
    e.RoleNotFound: grpc.StatusCode.FAILED_PRECONDITION,
    e.RoleEmpty: grpc.StatusCode.INVALID_ARGUMENT,
    e.AuthFailed: grpc.StatusCode.INVALID_ARGUMENT,
    e.RoleNotGranted: grpc.StatusCode.FAILED_PRECONDITION,
    e.PermissionNotGranted: grpc.StatusCode.FAILED_PRECONDITION,
    e.InvalidAuthToken: grpc.StatusCode.UNAUTHENTICATED,
    e.InvalidAuthMgmt: grpc.StatusCode.INVALID_ARGUMENT,
}


def to_status(err: BaseException) -> tuple[grpc.StatusCode, str]:
    """The gRPC code and message a client sees for a domain error."""
    if isinstance(err, e.RaftKVError):
        for cls in type(err).__mro__:
            code = _CODES.get(cls)  # type: ignore[arg-type]
            if code is not None:
                return code, err.message
        return grpc.StatusCode.UNKNOWN, err.message
    return grpc.StatusCode.UNKNOWN, f"etcdserver: {type(err).__name__}: {err}"
