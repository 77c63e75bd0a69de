"""The history of one key: which revisions wrote it, and which of them deleted it.

etcd keeps "generations" (create ... tombstone); the same information is kept here as a
flat list of `(main, sub, create_main, version, lease)` per write, where a tombstone has
`version == 0`:

    put@2  put@5  del@7  put@9      ->  (2,0,2,1,0) (5,0,2,2,0) (7,0,0,0,0) (9,0,9,1,0)

Keeping the lease here lets a put detach the previous lease without reading the old value.

Reading at revision r finds the last write with main <= r: a tombstone there means the
key did not exist at r. Compacting at c keeps the last write with main <= c (unless it is
a tombstone) and everything after; the revisions dropped are returned so the backend can
delete their values.
"""

from __future__ import annotations

from bisect import bisect_right

Write = tuple[int, int, int, int, int]  # (main, sub, create_main, version, lease); version 0 = tombstone


class KeyIndex:
    __slots__ = ("writes",)

    def __init__(self) -> None:
        self.writes: list[Write] = []

    def latest(self) -> Write | None:
        return self.writes[-1] if self.writes else None

    def live(self) -> bool:
        return bool(self.writes) and self.writes[-1][3] != 0

    def put(self, main: int, sub: int, lease: int = 0) -> Write:
        last = self.writes[-1] if self.writes else None
        if last is not None and last[3] != 0:
            w = (main, sub, last[2], last[3] + 1, lease)
        else:
            w = (main, sub, main, 1, lease)
        self.writes.append(w)
        return w

    def tombstone(self, main: int, sub: int) -> None:
        self.writes.append((main, sub, 0, 0, 0))

    def at(self, rev: int) -> Write | None:
        """The write visible at `rev` (None if the key did not exist then)."""
        w = self.writes
        i = bisect_right(w, (rev, 1 << 62))
        if i == 0:
            return None
        found = w[i - 1]
        return None if found[3] == 0 else found

    def since(self, rev: int) -> list[Write]:
        """Writes with main >= rev, in order (for watchers catching up)."""
        i = bisect_right(self.writes, (rev - 1, 1 << 62))
        return self.writes[i:]

    def compact(self, rev: int) -> list[Write]:
        """Forget history below `rev`; returns the writes whose values can be removed."""
        w = self.writes
        i = bisect_right(w, (rev, 1 << 62))
        if i == 0:
            return []
        keep_from = i - 1
        if w[keep_from][3] == 0:
            keep_from = i  # the visible write at rev is a tombstone: it goes too
        dropped = w[:keep_from]
        self.writes = w[keep_from:]
        return dropped

    def empty(self) -> bool:
        return not self.writes
