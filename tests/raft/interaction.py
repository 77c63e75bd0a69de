"""A small data-driven runner for golden Raft scenarios (in the spirit of etcd-io/raft's testdata).

A scenario file is a sequence of blocks::

    # comments and blank lines between blocks are kept as they are
    command arg arg key=value
    ----
    expected output (the trace the command produced)

The runner executes each command against an `InteractionEnv` (a handful of `RawNode`s, an
explicit message queue, no randomness: the RNG always picks the shortest election timeout),
and compares the produced trace with the expected one. In rewrite mode it writes the produced
traces back into the file instead, so a behaviour change shows up as a readable diff.

Commands:
  add-nodes N [voters=1,2,3] [learners=4]   N fresh nodes bootstrapped with that membership
  campaign ID                               ID starts an election (pre-vote first if enabled)
  tick-election ID / tick-heartbeat ID      tick ID for one election / heartbeat timeout
  propose ID DATA                           ID proposes DATA
  propose-conf-change ID add|remove|learner NODE
  read-index ID CTX / transfer-leader ID TO
  process-ready [ID...]                     handle each node's Ready: persist, apply, queue messages
  deliver-msgs [ID...] [drop=true]          step queued messages addressed to those nodes
  stabilize [ID...]                         repeat process-ready + deliver-msgs until nothing changes
  partition A,B / C                         messages between the groups are dropped; no args heals
  status ID / raft-log ID                   print a node's progress view / persisted log
  compact ID INDEX                          snapshot the state machine at INDEX and compact the log
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from raftkv.raft import Config, MemoryStorage, ProposalDropped, RawNode, Ready, decode_conf_change
from raftkv.raft.types import (
    ConfChange,
    ConfChangeType,
    ConfState,
    Entry,
    EntryType,
    HardState,
    Message,
    MessageType,
    Snapshot,
    SnapshotMetadata,
    StateType,
)

SEPARATOR = "----"
MAX_STABILIZE_ROUNDS = 1000


class ScriptError(Exception):
    """A malformed scenario file or a command the runner does not know."""


class ShortestTimeout:
    """An RNG that always picks the lower bound: election timeouts equal `election_tick`."""

    def randrange(self, start: int, stop: int) -> int:
        return start


@dataclass
class Node:
    id: int
    raw: RawNode
    storage: MemoryStorage
    applied: list[Entry] = field(default_factory=list)


# ---------------------------------------------------------------------------- formatting
_STATE = {StateType.FOLLOWER: "Follower", StateType.CANDIDATE: "Candidate", StateType.LEADER: "Leader",
          StateType.PRE_CANDIDATE: "PreCandidate"}


def fmt_entry(e: Entry) -> str:
    if e.type == EntryType.CONF_CHANGE:
        cc = decode_conf_change(e.data)
        return f"{e.term}/{e.index} ConfChange {cc.type.name}({cc.node_id})"
    return f"{e.term}/{e.index} {e.data.decode(errors='replace')!r}"


def fmt_entries(ents: list[Entry]) -> str:
    return "[" + ", ".join(fmt_entry(e) for e in ents) + "]"


def fmt_message(m: Message) -> str:
    parts = [f"{m.frm}->{m.to} {m.type.name} term={m.term}"]
    if m.type in (MessageType.APP, MessageType.PRE_VOTE, MessageType.VOTE) or m.log_term:
        parts.append(f"log={m.log_term}/{m.index}")
    elif m.index:
        parts.append(f"index={m.index}")
    if m.commit:
        parts.append(f"commit={m.commit}")
    if m.reject:
        parts.append(f"rejected(hint={m.reject_hint})")
    if m.entries:
        parts.append(fmt_entries(m.entries))
    if m.snapshot is not None and not m.snapshot.is_empty():
        md = m.snapshot.metadata
        parts.append(f"snapshot={md.term}/{md.index} voters={md.conf_state.voters}")
    if m.context:
        parts.append(f"ctx={m.context.decode(errors='replace')!r}")
    return " ".join(parts)


def fmt_ready(rd: Ready) -> list[str]:
    out = []
    if rd.soft_state is not None:
        out.append(f"State: {_STATE[rd.soft_state.raft_state]} lead={rd.soft_state.lead}")
    if rd.hard_state is not None:
        hs = rd.hard_state
        out.append(f"HardState term={hs.term} vote={hs.vote} commit={hs.commit}")
    if rd.snapshot is not None:
        md = rd.snapshot.metadata
        out.append(f"Snapshot {md.term}/{md.index} voters={md.conf_state.voters} learners={md.conf_state.learners}")
    if rd.entries:
        out.append("Entries: " + fmt_entries(rd.entries))
    if rd.committed_entries:
        out.append("Committed: " + fmt_entries(rd.committed_entries))
    for m in rd.messages:
        out.append("Send: " + fmt_message(m))
    for rs in rd.read_states:
        out.append(f"ReadState index={rs.index} ctx={rs.request_ctx.decode(errors='replace')!r}")
    return out


# ---------------------------------------------------------------------------- the environment
class InteractionEnv:
    def __init__(self) -> None:
        self.nodes: dict[int, Node] = {}
        self.queue: list[Message] = []
        self.groups: list[set[int]] = []

    # ---- helpers
    def _node(self, arg: str) -> Node:
        try:
            return self.nodes[int(arg)]
        except (ValueError, KeyError):
            raise ScriptError(f"no node {arg!r}") from None

    def _ids(self, args: list[str]) -> list[int]:
        return [self._node(a).id for a in args] if args else sorted(self.nodes)

    def _cut(self, a: int, b: int) -> bool:
        if not self.groups:
            return False
        ga = next((i for i, g in enumerate(self.groups) if a in g), -1)
        gb = next((i for i, g in enumerate(self.groups) if b in g), -1)
        return ga != gb

    # ---- commands
    def add_nodes(self, args: list[str], kw: dict[str, str]) -> list[str]:
        n = int(args[0])
        first = max(self.nodes, default=0) + 1
        ids = list(range(first, first + n))
        voters = [int(x) for x in kw["voters"].split(",")] if "voters" in kw else ids
        learners = [int(x) for x in kw["learners"].split(",")] if kw.get("learners") else []
        out = []
        for i in ids:
            storage = MemoryStorage()
            # a bootstrapped cluster: membership known from a snapshot at index 1, term 1
            storage.apply_snapshot(Snapshot(metadata=_meta(ConfState(voters=list(voters), learners=list(learners)))))
            storage.set_hard_state(HardState(term=1, commit=1))
            cfg = Config(id=i, election_tick=10, heartbeat_tick=5, pre_vote=kw.get("prevote", "true") == "true",
                         check_quorum=kw.get("checkquorum", "true") == "true", max_inflight_msgs=256,
                         applied=1, rng=ShortestTimeout())
            self.nodes[i] = Node(i, RawNode(cfg, storage), storage)
            out.append(f"INFO {i} joined: voters={voters} learners={learners} at 1/1")
        return out

    def campaign(self, args: list[str], kw: dict[str, str]) -> list[str]:
        self._node(args[0]).raw.campaign()
        return self._role_line(self._node(args[0]))

    def tick_election(self, args: list[str], kw: dict[str, str]) -> list[str]:
        nd = self._node(args[0])
        for _ in range(nd.raw.raft.cfg.election_tick):
            nd.raw.tick()
        return self._role_line(nd)

    def tick_heartbeat(self, args: list[str], kw: dict[str, str]) -> list[str]:
        nd = self._node(args[0])
        for _ in range(nd.raw.raft.cfg.heartbeat_tick):
            nd.raw.tick()
        return self._role_line(nd)

    def _role_line(self, nd: Node) -> list[str]:
        r = nd.raw.raft
        return [f"{nd.id} is {_STATE[r.state]} at term {r.term} (lead={r.lead})"]

    def propose(self, args: list[str], kw: dict[str, str]) -> list[str]:
        try:
            self._node(args[0]).raw.propose(args[1].encode())
        except ProposalDropped as e:
            return [f"dropped: {e}"]
        return ["ok"]

    def propose_conf_change(self, args: list[str], kw: dict[str, str]) -> list[str]:
        kinds = {"add": ConfChangeType.ADD_NODE, "remove": ConfChangeType.REMOVE_NODE,
                 "learner": ConfChangeType.ADD_LEARNER_NODE}
        try:
            self._node(args[0]).raw.propose_conf_change(ConfChange(kinds[args[1]], int(args[2])))
        except ProposalDropped as e:
            return [f"dropped: {e}"]
        return ["ok"]

    def read_index(self, args: list[str], kw: dict[str, str]) -> list[str]:
        try:
            self._node(args[0]).raw.read_index(args[1].encode())
        except ProposalDropped as e:
            return [f"dropped: {e}"]
        return ["ok"]

    def transfer_leader(self, args: list[str], kw: dict[str, str]) -> list[str]:
        self._node(args[0]).raw.transfer_leader(int(args[1]))
        return ["ok"]

    def process_ready(self, args: list[str], kw: dict[str, str]) -> list[str]:
        out: list[str] = []
        for i in self._ids(args):
            out += self._handle_ready(self.nodes[i])
        return out

    def _handle_ready(self, nd: Node) -> list[str]:
        raw = nd.raw
        if not raw.has_ready():
            return []
        rd = raw.ready()
        out = [f"> {nd.id} handling Ready"] + ["  " + line for line in fmt_ready(rd)]
        # persist first (MemoryStorage stands for the disk here), then apply, then send
        if rd.snapshot is not None:
            nd.storage.apply_snapshot(rd.snapshot)
        if rd.hard_state is not None:
            nd.storage.set_hard_state(rd.hard_state)
        if rd.entries:
            nd.storage.append(rd.entries)
        for e in rd.committed_entries:
            if e.type == EntryType.CONF_CHANGE:
                cs = raw.apply_conf_change(decode_conf_change(e.data))
                out.append(f"  INFO {nd.id} applied conf change: voters={cs.voters} learners={cs.learners}")
            nd.applied.append(e)
        self.queue.extend(rd.messages)
        raw.advance(rd)
        return out

    def deliver_msgs(self, args: list[str], kw: dict[str, str]) -> list[str]:
        return self._deliver(set(self._ids(args)), drop=kw.get("drop") == "true")

    def _deliver(self, to: set[int], drop: bool = False) -> list[str]:
        out: list[str] = []
        keep: list[Message] = []
        todo = self.queue
        self.queue = []
        for m in todo:
            if m.to not in to:
                keep.append(m)
                continue
            if drop or m.to not in self.nodes or self._cut(m.frm, m.to):
                out.append("dropped: " + fmt_message(m))
                continue
            out.append(fmt_message(m))
            self.nodes[m.to].raw.step(m)
        self.queue = keep + self.queue
        return out

    def stabilize(self, args: list[str], kw: dict[str, str]) -> list[str]:
        ids = self._ids(args)
        out: list[str] = []
        for _ in range(MAX_STABILIZE_ROUNDS):
            progressed = False
            for i in ids:
                lines = self._handle_ready(self.nodes[i])
                if lines:
                    progressed = True
                    out += lines
            for i in ids:
                lines = self._deliver({i})
                if lines:
                    progressed = True
                    out.append(f"> {i} receiving messages")
                    out += ["  " + line for line in lines]
            if not progressed:
                return out
        raise ScriptError(f"stabilize did not settle within {MAX_STABILIZE_ROUNDS} rounds")

    def partition(self, args: list[str], kw: dict[str, str]) -> list[str]:
        if not args:
            self.groups = []
            return ["healed"]
        text = " ".join(args)
        self.groups = [{int(x) for x in g.replace(",", " ").split()} for g in text.split("/")]
        return ["partitioned: " + " / ".join(",".join(str(x) for x in sorted(g)) for g in self.groups)]

    def status(self, args: list[str], kw: dict[str, str]) -> list[str]:
        st = self._node(args[0]).raw.status()
        out = [f"{st.id} {_STATE[st.raft_state]} term={st.term} vote={st.vote} commit={st.commit} "
               f"applied={st.applied} lead={st.lead}"]
        for pid, (match, nxt, state) in sorted(st.progress.items()):
            out.append(f"  {pid}: match={match} next={nxt} {state}")
        return out

    def raft_log(self, args: list[str], kw: dict[str, str]) -> list[str]:
        s = self._node(args[0]).storage
        first, last = s.first_index(), s.last_index()
        if last < first:
            return [f"log empty (snapshot at {s.snapshot().metadata.index})"]
        return [fmt_entry(e) for e in s.entries(first, last + 1)]

    def compact(self, args: list[str], kw: dict[str, str]) -> list[str]:
        nd = self._node(args[0])
        idx = int(args[1])
        nd.storage.create_snapshot(idx, nd.raw.raft.conf_state(), b"")
        nd.storage.compact(idx)
        return [f"compacted {nd.id} to {idx}: first index {nd.storage.first_index()}"]


def _meta(cs: ConfState) -> SnapshotMetadata:
    return SnapshotMetadata(conf_state=cs, index=1, term=1)


COMMANDS: dict[str, Callable[[InteractionEnv, list[str], dict[str, str]], list[str]]] = {
    "add-nodes": InteractionEnv.add_nodes,
    "campaign": InteractionEnv.campaign,
    "tick-election": InteractionEnv.tick_election,
    "tick-heartbeat": InteractionEnv.tick_heartbeat,
    "propose": InteractionEnv.propose,
    "propose-conf-change": InteractionEnv.propose_conf_change,
    "read-index": InteractionEnv.read_index,
    "transfer-leader": InteractionEnv.transfer_leader,
    "process-ready": InteractionEnv.process_ready,
    "deliver-msgs": InteractionEnv.deliver_msgs,
    "stabilize": InteractionEnv.stabilize,
    "partition": InteractionEnv.partition,
    "status": InteractionEnv.status,
    "raft-log": InteractionEnv.raft_log,
    "compact": InteractionEnv.compact,
}


# ---------------------------------------------------------------------------- the script runner
@dataclass
class Block:
    preamble: list[str]  # comments / blank lines before the command
    command: str
    expected: list[str]
    line: int


def parse(text: str, name: str = "<script>") -> tuple[list[Block], list[str]]:
    """Split a script into blocks; also returns the trailing lines after the last block."""
    lines = text.splitlines()
    blocks: list[Block] = []
    pre: list[str] = []
    i = 0
    while i < len(lines):
        ln = lines[i]
        if not ln.strip() or ln.lstrip().startswith("#"):
            pre.append(ln)
            i += 1
            continue
        cmd_line = i + 1
        if i + 1 >= len(lines) or lines[i + 1] != SEPARATOR:
            raise ScriptError(f"{name}:{cmd_line}: command {ln!r} must be followed by {SEPARATOR!r}")
        i += 2
        exp: list[str] = []
        while i < len(lines) and lines[i].strip():
            exp.append(lines[i])
            i += 1
        blocks.append(Block(pre, ln, exp, cmd_line))
        pre = []
    return blocks, pre


def run_command(env: InteractionEnv, command: str) -> list[str]:
    words = command.split()
    name, rest = words[0], words[1:]
    args = [w for w in rest if "=" not in w]
    kw = dict(w.split("=", 1) for w in rest if "=" in w)
    fn = COMMANDS.get(name)
    if fn is None:
        raise ScriptError(f"unknown command {name!r}")
    out = fn(env, args, kw)
    return out or ["ok"]


def run_script(path: Path, rewrite: bool = False) -> list[str]:
    """Run one scenario file. Returns a list of mismatch descriptions (empty when it passes)."""
    blocks, tail = parse(path.read_text(), path.name)
    env = InteractionEnv()
    problems: list[str] = []
    rendered: list[str] = []
    for b in blocks:
        got = run_command(env, b.command)
        if got != b.expected:
            problems.append(f"{path.name}:{b.line}: {b.command}\n--- expected\n" + "\n".join(b.expected)
                            + "\n--- got\n" + "\n".join(got))
        rendered += b.preamble + [b.command, SEPARATOR] + got
    if rewrite:
        path.write_text("\n".join(rendered + tail) + "\n")
        return []
    return problems


TESTDATA = Path(__file__).parent / "testdata"


def main(argv: list[str]) -> int:
    rewrite = "--rewrite" in argv
    names = [a for a in argv if not a.startswith("--")]
    paths = [TESTDATA / n for n in names] if names else sorted(TESTDATA.glob("*.txt"))
    failed = 0
    for p in paths:
        problems = run_script(p, rewrite=rewrite)
        for pr in problems:
            print(pr, end="\n\n")
        failed += bool(problems)
        print(f"{'rewrote' if rewrite else ('FAIL' if problems else 'ok')} {p.name}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
