"""Which peer links a partition cuts: pure functions of (pattern, member names, leader, seeded RNG).

A cut set is a frozenset of directed pairs (src, dst): Raft messages from src to dst are held. Symmetric
partitions contain both directions; `one-way` only one. The nemesis turns a cut set into per-proxy rules with
`proxy_rules`, which needs one fact about the implementation: on which TCP connection a message travels.
raftkv's sender dials the receiver and writes on the request stream (bytes flow dialler -> listener only);
etcd 3.4 also streams messages on the *response* of a connection the receiver dialled (rafthttp's stream
readers), so for etcd a cut src->dst also holds the response bytes src sends back to dst.

No I/O, no clock, no global randomness: every choice comes from the `random.Random` passed in, so a seed
reproduces the same partitions.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence

Cut = frozenset[tuple[str, str]]
NO_CUT: Cut = frozenset()

PATTERNS = ("isolate-leader", "split", "one-way-leader-in", "bridge", "ring", "random")


class PartitionError(ValueError):
    """A pattern that makes no sense for these members (unknown name, too few members, leader not a member)."""


def between(a: Iterable[str], b: Iterable[str]) -> Cut:
    """Both directions between every member of `a` and every member of `b`."""
    a, b = list(a), list(b)
    return frozenset({(x, y) for x in a for y in b if x != y} | {(y, x) for x in a for y in b if x != y})


def isolate(target: str, members: Sequence[str]) -> Cut:
    """`target` can neither send to nor receive from any other member."""
    return between([target], [m for m in members if m != target])


def one_way_in(target: str, members: Sequence[str]) -> Cut:
    """`target` can send to everyone but receives from no one (its heartbeats go out, the replies never come)."""
    return frozenset((m, target) for m in members if m != target)


def split(members: Sequence[str], leader: str | None, rng: random.Random) -> tuple[Cut, list[str], list[str]]:
    """A minority/majority split. The leader (if known) is put in the minority, the side that must lose it."""
    n = len(members)
    k = (n - 1) // 2
    if k < 1:
        raise PartitionError(f"a split needs at least 3 members, got {n}")
    first = leader if leader is not None and leader in members else rng.choice(list(members))
    rest = [m for m in members if m != first]
    minority = [first, *rng.sample(rest, k - 1)]
    majority = [m for m in members if m not in minority]
    return between(minority, majority), sorted(minority), sorted(majority)


def bridge(members: Sequence[str], leader: str | None, rng: random.Random) -> tuple[Cut, str]:
    """Two halves joined through one bridge member, which talks to both; the halves cannot talk directly.

    3 members: a - b - c (a and c cut). 5 members: {a, b} - c - {d, e}. The leader, if known, is never the bridge.
    """
    n = len(members)
    if n < 3:
        raise PartitionError(f"a bridge needs at least 3 members, got {n}")
    candidates = [m for m in members if m != leader] or list(members)
    middle = rng.choice(candidates)
    rest = [m for m in members if m != middle]
    rng.shuffle(rest)
    if leader in rest:  # keep the leader in the first half so the bridge is the interesting case
        rest.remove(leader)
        rest.insert(0, leader)
    half = len(rest) // 2
    return between(rest[:half], rest[half:]), middle


def ring(members: Sequence[str], rng: random.Random) -> tuple[Cut, list[str]]:
    """Jepsen's majorities-ring: members in a random ring, each talking only to its neighbours, so every member
    sees a majority (itself and two neighbours of 5; of 4, all but one) but no two see the same one.

    3 members: each must see one other for a majority; a ring of 3 cuts nothing, so the ring is opened into a
    path a - b - c (the bridge). Returns the cut and the ring order.
    """
    n = len(members)
    if n < 3:
        raise PartitionError(f"a ring needs at least 3 members, got {n}")
    order = list(members)
    rng.shuffle(order)
    links = {frozenset((order[i], order[(i + 1) % n])) for i in range(n if n > 3 else n - 1)}
    cut = frozenset((a, b) for a in order for b in order if a != b and frozenset((a, b)) not in links)
    return cut, order


def random_partition(members: Sequence[str], rng: random.Random) -> Cut:
    """One of: nothing cut, one member isolated, a random minority split, a random one-way cut (flapping)."""
    shape = rng.choice(["none", "isolate", "split", "one-way"])
    if shape == "none":
        return NO_CUT
    if shape == "isolate":
        return isolate(rng.choice(list(members)), members)
    if shape == "one-way":
        return one_way_in(rng.choice(list(members)), members)
    return split(members, None, rng)[0]


def cuts_for(pattern: str, members: Sequence[str], leader: str | None, rng: random.Random) -> tuple[Cut, str]:
    """The cut set for a named pattern, with a sentence saying what it does (for the report)."""
    if len(set(members)) != len(members):
        raise PartitionError(f"duplicate member names {list(members)}")
    if leader is not None and leader not in members:
        raise PartitionError(f"leader {leader!r} is not one of {list(members)}")
    needs_leader = pattern in ("isolate-leader", "one-way-leader-in")
    if needs_leader and leader is None:
        raise PartitionError(f"{pattern} needs a known leader")
    if pattern == "isolate-leader":
        assert leader is not None
        return isolate(leader, members), f"isolate leader {leader} from {sorted(set(members) - {leader})}"
    if pattern == "one-way-leader-in":
        assert leader is not None
        return one_way_in(leader, members), f"leader {leader} can send but receives nothing"
    if pattern == "split":
        cut, minority, majority = split(members, leader, rng)
        return cut, f"split minority {minority} | majority {majority}"
    if pattern == "bridge":
        cut, middle = bridge(members, leader, rng)
        return cut, f"bridge through {middle}: {describe(cut)}"
    if pattern == "ring":
        cut, order = ring(members, rng)
        return cut, f"ring {' - '.join(order)} - {order[0]}: each member talks only to its neighbours"
    if pattern == "random":
        cut = random_partition(members, rng)
        return cut, f"random partition: {describe(cut)}"
    raise PartitionError(f"unknown partition pattern {pattern!r}; known: {', '.join(PATTERNS)}")


def describe(cut: Cut) -> str:
    if not cut:
        return "no links cut"
    sym = sorted({tuple(sorted(p)) for p in cut if (p[1], p[0]) in cut})
    one = sorted(p for p in cut if (p[1], p[0]) not in cut)
    parts = [f"{a}<->{b}" for a, b in sym] + [f"{a}->{b}" for a, b in one]
    return "cut " + ", ".join(parts)


def proxy_rules(cut: Cut, members: Sequence[str], responses_carry_messages: bool
                ) -> dict[str, tuple[frozenset[str], frozenset[str]]]:
    """Per listening member: (dialler names whose bytes INTO it are held, dialler names whose reply bytes are held).

    Every peer connection is dialler -> listener through the listener's proxy. A message src -> dst travels on
    a connection src dialled to dst (request bytes), and for etcd also on one dst dialled to src (reply bytes).
    """
    rules: dict[str, tuple[frozenset[str], frozenset[str]]] = {}
    for m in members:
        into = frozenset(src for src, dst in cut if dst == m)
        replies = frozenset(dst for src, dst in cut if src == m) if responses_carry_messages else frozenset()
        rules[m] = (into, replies)
    return rules
