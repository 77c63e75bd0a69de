"""kube-apiserver's etcd compactor (storage/etcd3/compact.go) as a pure decision; `compactor.py` runs it.

Every --etcd-compaction-interval each API server sends one Txn on the `compact_rev_key` key (outside
--etcd-prefix, so every server on the store takes part): If version(compact_rev_key) == the version this server
last saw, Then Put(compact_rev_key, <the revision it saw one interval ago>), Else Get(compact_rev_key). The key's
version is a logical clock: the server whose Txn succeeds compacts the store to the revision it saw one interval
earlier (none on its first round); the others learn the new version and the current revision and try again one
interval later, so the store is compacted once per interval whichever servers run (twice the interval at most
when the compacting one stops). Errors leave the state as it was (a failed Txn) or as advanced (a failed
Compact: the round is spent, as kube's loop does).
"""

from __future__ import annotations

from dataclasses import dataclass

COMPACT_REV_KEY = "compact_rev_key"
DEFAULT_INTERVAL_S = 300.0  # kube-apiserver's --etcd-compaction-interval=5m0s


@dataclass(frozen=True)
class CompactState:
    version: int = 0  # compact_rev_key's version as this server last saw it (0: no key yet)
    revision: int = 0  # the store revision seen at the previous round: what the next successful round compacts to


@dataclass(frozen=True)
class Round:
    """The outcome of one Txn: the next state and the revision to compact the store to now (0: none)."""
    state: CompactState
    compact_to: int
    compacted: int  # the last compacted revision known from compact_rev_key's value (0: unknown)


def txn(state: CompactState) -> tuple[int, bytes]:
    """(the version the Txn compares compact_rev_key with, the value it puts when that holds)."""
    return state.version, str(state.revision).encode()


def after_txn(state: CompactState, succeeded: bool, header_revision: int, current_version: int,
              current_value: bytes) -> Round:
    """The next state from the Txn's answer: its header revision, and on failure compact_rev_key's version and
    value from the Else Get (0 and b"" when the key is gone)."""
    if not succeeded:
        try:
            known = int(current_value.decode() or "0")
        except ValueError:
            known = 0
        return Round(CompactState(current_version, header_revision), 0, known)
    # we won this interval: the key's version moved one on; compact to last round's revision (none at bootstrap)
    return Round(CompactState(state.version + 1, header_revision), state.revision, state.revision)


def parse_duration(text: str) -> float:
    """A Go time.Duration string ("5m0s", "1h", "500ms", "0") in seconds; ValueError when it is not one."""
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    s = text.strip()
    sign = -1.0 if s.startswith("-") else 1.0
    s = s.lstrip("+-")
    if s == "0":
        return 0.0
    if not s:
        raise ValueError(f'time: invalid duration "{text}"')
    total, i = 0.0, 0
    while i < len(s):
        j = i
        while j < len(s) and (s[j].isdigit() or s[j] == "."):
            j += 1
        k = j
        while k < len(s) and not (s[k].isdigit() or s[k] == "."):
            k += 1
        number, unit = s[i:j], s[j:k]
        if not number or number == "." or number.count(".") > 1:
            raise ValueError(f'time: invalid duration "{text}"')
        if not unit:
            raise ValueError(f'time: missing unit in duration "{text}"')
        if unit not in units:
            raise ValueError(f'time: unknown unit "{unit}" in duration "{text}"')
        total += float(number) * units[unit]
        i = k
    return sign * total
