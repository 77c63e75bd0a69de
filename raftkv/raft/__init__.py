"""raftkv's consensus core: a pure Raft state machine (see `raft.py` for the theory of operation).

The caller drives it through `RawNode` (`tick`, `step`, `propose`, `read_index`, ...) and
handles its output through `Ready` / `advance` (see `rawnode.py` for the order of duties).
"""

from raftkv.raft.log import Compacted, InvariantViolation, MemoryStorage, SnapshotOutOfDate, Unavailable
from raftkv.raft.raft import (
    Config,
    ProposalDropped,
    Raft,
    StepPeerNotFound,
    decode_conf_change,
    encode_conf_change,
)
from raftkv.raft.rawnode import RawNode, Ready, Status

__all__ = ["Compacted", "Config", "InvariantViolation", "MemoryStorage", "ProposalDropped", "Raft", "RawNode",
           "Ready", "SnapshotOutOfDate", "Status", "StepPeerNotFound", "Unavailable", "decode_conf_change",
           "encode_conf_change"]
