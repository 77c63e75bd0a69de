"""Pure checkers over recorded histories (no I/O, no clock: deadlines arrive as arguments)."""

from raftkv.chaos.checkers.history import (
           KV,
           Event,
           HistoryError,
           Op,
           Result,
           Violation,
           WatchResponse,
           from_json,
           to_json,
)
from raftkv.chaos.checkers.invariants import (
           HashKV,
           check_hashkv,
           check_logs,
           check_monotonic,
           check_no_lost_writes,
)
from raftkv.chaos.checkers.log import Log
from raftkv.chaos.checkers.watch import check_watches
from raftkv.chaos.checkers.wgl import check_wgl
from raftkv.chaos.checkers.witness import check_witness

__all__ = ["KV", "Event", "HashKV", "HistoryError", "Log", "Op", "Result", "Violation", "WatchResponse",
           "check_hashkv", "check_logs", "check_monotonic", "check_no_lost_writes", "check_watches", "check_wgl",
           "check_witness", "from_json", "to_json"]
