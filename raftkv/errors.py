"""Domain errors of the store, raised by the cores and mapped to the wire in one table.

Rules of this file: no gRPC here. Each class names one condition a client can see; the
server's error table (`raftkv.server.errors`) maps each class to a gRPC status code and
etcd's exact message text, which is also kept here as `message` so that the cores and the
table agree on wording.
"""

from __future__ import annotations


class RaftKVError(Exception):
    """Base of every error a client may be shown."""

    message = "etcdserver: unknown error"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)
        if message:
            self.message = message


# --- mvcc ---------------------------------------------------------------------------------
class Compacted(RaftKVError):
    message = "etcdserver: mvcc: required revision has been compacted"

    def __init__(self, compact_revision: int = 0) -> None:
        super().__init__()
        self.compact_revision = compact_revision


class FutureRevision(RaftKVError):
    message = "etcdserver: mvcc: required revision is a future revision"


class KeyNotFound(RaftKVError):
    message = "etcdserver: key not found"


class EmptyKey(RaftKVError):
    message = "etcdserver: key is not provided"


class ValueProvided(RaftKVError):
    message = "etcdserver: value is provided"


class LeaseProvided(RaftKVError):
    message = "etcdserver: lease is provided"


class TooManyOps(RaftKVError):
    message = "etcdserver: too many operations in txn request"


class DuplicateKey(RaftKVError):
    message = "etcdserver: duplicate key given in txn request"


class InvalidSortOption(RaftKVError):
    message = "etcdserver: invalid sort option"


class RequestTooLarge(RaftKVError):
    message = "etcdserver: request is too large"


class NoSpace(RaftKVError):
    message = "etcdserver: mvcc: database space exceeded"


class Corrupt(RaftKVError):
    message = "etcdserver: corrupt cluster"


# --- lease --------------------------------------------------------------------------------
class LeaseNotFound(RaftKVError):
    message = "etcdserver: requested lease not found"


class LeaseExists(RaftKVError):
    message = "etcdserver: lease already exists"


class LeaseTTLTooLarge(RaftKVError):
    message = "etcdserver: too large lease TTL"


# --- server / raft ------------------------------------------------------------------------
class NoLeader(RaftKVError):
    message = "etcdserver: no leader"


class NotLeader(RaftKVError):
    message = "etcdserver: not leader"


class LeaderChanged(RaftKVError):
    message = "etcdserver: leader changed"


class Stopped(RaftKVError):
    message = "etcdserver: server stopped"


class Timeout(RaftKVError):
    message = "etcdserver: request timed out"


class TimeoutDueToLeaderFail(RaftKVError):
    message = "etcdserver: request timed out, possibly due to previous leader failure"


class TimeoutDueToConnectionLost(RaftKVError):
    message = "etcdserver: request timed out, possibly due to connection lost"


class TooManyRequests(RaftKVError):
    message = "etcdserver: too many requests"


class UnhealthyCluster(RaftKVError):
    message = "etcdserver: unhealthy cluster"


class NotCapable(RaftKVError):
    message = "etcdserver: not capable"


class NotSupportedForLearner(RaftKVError):
    """etcd's ErrGPRCNotSupportedForLearner: a learner serves only Maintenance.Status and serializable Ranges."""
    message = "etcdserver: rpc not supported for learner"


class LearnerNotReady(RaftKVError):
    message = "etcdserver: can only promote a learner member which is in sync with leader"


class TooManyLearners(RaftKVError):
    message = "etcdserver: too many learner members in cluster"


class MemberNotLearner(RaftKVError):
    message = "etcdserver: can only promote a learner member"


class MemberNotFound(RaftKVError):
    message = "etcdserver: member not found"


class MemberExist(RaftKVError):
    message = "etcdserver: member ID already exist"


class PeerURLExist(RaftKVError):
    message = "etcdserver: Peer URLs already exists"


class MemberBadURLs(RaftKVError):
    message = "etcdserver: given member URLs are invalid"


class NotEnoughStartedMembers(RaftKVError):
    message = "etcdserver: re-configuration failed due to not enough started members"


class BadLeaderTransferee(RaftKVError):
    message = "etcdserver: bad leader transferee"


class InvalidArgument(RaftKVError):
    """A malformed request (bad field combination); the message says which."""

    message = "etcdserver: invalid argument"


# --- auth ---------------------------------------------------------------------------------
class AuthNotEnabled(RaftKVError):
    message = "etcdserver: authentication is not enabled"


class PermissionDenied(RaftKVError):
    message = "etcdserver: permission denied"


class RootUserNotExist(RaftKVError):
    message = "etcdserver: root user does not exist"


class RootRoleNotExist(RaftKVError):
    message = "etcdserver: root user does not have root role"


class UserAlreadyExist(RaftKVError):
    message = "etcdserver: user name already exists"


class UserEmpty(RaftKVError):
    message = "etcdserver: user name is empty"


class UserNotFound(RaftKVError):
    message = "etcdserver: user name not found"


class RoleAlreadyExist(RaftKVError):
    message = "etcdserver: role name already exists"


class RoleNotFound(RaftKVError):
    message = "etcdserver: role name not found"


class RoleEmpty(RaftKVError):
    message = "etcdserver: role name is empty"


class AuthFailed(RaftKVError):
    message = "etcdserver: authentication failed, invalid user ID or password"


class RoleNotGranted(RaftKVError):
    message = "etcdserver: role is not granted to the user"


class PermissionNotGranted(RaftKVError):
    message = "etcdserver: permission is not granted to the role"


class InvalidAuthToken(RaftKVError):
    message = "etcdserver: invalid auth token"


class InvalidAuthMgmt(RaftKVError):
    message = "etcdserver: invalid auth management"
