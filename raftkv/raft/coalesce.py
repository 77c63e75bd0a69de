"""Merge outgoing messages that a later message to the same peer makes redundant.

Under load one Ready holds many appends to each follower: a commit advance broadcasts an empty append,
the next batch of proposals another append, and each is answered separately. Every message costs a
peer round of encoding, stepping and (in Python) a good fraction of a millisecond, so a Ready's
messages are merged before they leave:

- appends to one peer in one term that continue each other (the later one starts where the earlier
  one ends) become one append carrying both runs of entries and the later commit index;
- positive append responses to one peer in one term collapse into the one with the highest index,
  which acknowledges everything the others did.

Each merged message is one the sender could have sent at the time of the later message, so the
protocol's reasoning (which already allows loss and reordering) is unchanged. Rejections, heartbeats,
votes and everything else pass through untouched and in order.
"""

from __future__ import annotations

from raftkv.raft.types import Message, MessageType


def coalesce(msgs: list[Message], max_bytes: int) -> list[Message]:
    """`msgs` in order with redundant appends and append responses merged; never grows an append past
    `max_bytes` of entry data (the per-message limit the leader honours when it reads the log)."""
    if len(msgs) < 2:
        return msgs
    out: list[Message] = []
    last_app: dict[int, tuple[Message, int]] = {}  # peer -> (its latest append in `out`, entry bytes)
    last_ack: dict[int, int] = {}  # peer -> position in `out` of its latest positive append response
    for m in msgs:
        if m.type == MessageType.APP:
            prev = last_app.get(m.to)
            size = _entry_bytes(m)
            if prev is not None:
                p, p_size = prev
                if p.term == m.term and m.index == p.index + len(p.entries) and p_size + size <= max_bytes:
                    if m.entries:
                        p.entries = p.entries + m.entries
                    p.commit = max(p.commit, m.commit)
                    last_app[m.to] = (p, p_size + size)
                    continue
            last_app[m.to] = (m, size)
        elif m.type == MessageType.APP_RESP and not m.reject:
            at = last_ack.get(m.to)
            if at is not None and out[at].term == m.term:
                if m.index > out[at].index:
                    out[at] = m
                continue
            last_ack[m.to] = len(out)
        out.append(m)
    return out


def _entry_bytes(m: Message) -> int:
    return sum(len(e.data) for e in m.entries)
