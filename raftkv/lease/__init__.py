"""The lease table (pure; time passed in)."""

from raftkv.lease.lessor import MAX_LEASE_TTL, Lease, Lessor
from raftkv.lease.ttl import min_lease_ttl

MIN_TTL = 5
__all__ = ["MAX_LEASE_TTL", "MIN_TTL", "Lease", "Lessor", "min_lease_ttl"]
