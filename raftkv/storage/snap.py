"""Snapshot files: written whole or not at all, verified before use.

`Snapshotter` keeps `<term:016x>-<index:016x>.snap` files: a JSON header line (the Raft
snapshot metadata), the data, and a 32-byte SHA-256 of everything before it. Each is
written to a temporary file, fsynced, renamed and the directory fsynced; a file whose
checksum does not match is skipped with a warning, never used.

`SnapshotReceiver` assembles a state-machine image streamed from the leader in chunks
(bounded memory), checks its SHA-256 and only then renames it into place.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterator

from raftkv.raft.types import ConfState, SnapshotMetadata

log = logging.getLogger("raftkv.snap")

KEEP_SNAPSHOTS = 5
COPY_CHUNK = 1 << 20


class SnapshotCorrupt(Exception):
    pass


def sha256_of(path: str) -> bytes:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(COPY_CHUNK):
            h.update(chunk)
    return h.digest()


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _meta_to_json(meta: SnapshotMetadata) -> bytes:
    cs = meta.conf_state
    return json.dumps({"index": meta.index, "term": meta.term, "voters": cs.voters, "learners": cs.learners,
                       "voters_outgoing": cs.voters_outgoing, "learners_next": cs.learners_next,
                       "auto_leave": cs.auto_leave}).encode() + b"\n"


def _meta_from_json(line: bytes) -> SnapshotMetadata:
    d = json.loads(line)
    return SnapshotMetadata(ConfState(list(d["voters"]), list(d["learners"]), list(d["voters_outgoing"]),
                                      list(d["learners_next"]), bool(d["auto_leave"])), int(d["index"]), int(d["term"]))


class Snapshotter:
    def __init__(self, dirpath: str) -> None:
        self.dir = dirpath
        os.makedirs(dirpath, exist_ok=True)

    def path_for(self, meta: SnapshotMetadata) -> str:
        return os.path.join(self.dir, f"{meta.term:016x}-{meta.index:016x}.snap")

    def save(self, meta: SnapshotMetadata, src_path: str) -> str:
        final = self.path_for(meta)
        tmp = final + ".tmp"
        h = hashlib.sha256()
        with open(tmp, "wb") as out, open(src_path, "rb") as src:
            header = _meta_to_json(meta)
            out.write(header)
            h.update(header)
            while chunk := src.read(COPY_CHUNK):
                out.write(chunk)
                h.update(chunk)
            out.write(h.digest())
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, final)
        _fsync_dir(self.dir)
        self._purge()
        return final

    def _names(self) -> list[str]:
        return sorted((n for n in os.listdir(self.dir) if n.endswith(".snap")),
                      key=lambda n: int(n[:-5].split("-")[1], 16) if "-" in n else -1)

    def _purge(self) -> None:
        names = self._names()
        for n in names[:-KEEP_SNAPSHOTS]:
            os.unlink(os.path.join(self.dir, n))

    def read(self, path: str) -> tuple[SnapshotMetadata, bytes]:
        """Metadata and data of a snapshot file; SnapshotCorrupt if its checksum does not match."""
        with open(path, "rb") as fh:
            blob = fh.read()
        if len(blob) < 33 or hashlib.sha256(blob[:-32]).digest() != blob[-32:]:
            raise SnapshotCorrupt(f"snap: {path}: checksum mismatch")
        nl = blob.index(b"\n")
        try:
            meta = _meta_from_json(blob[:nl])
        except (ValueError, KeyError) as exc:
            raise SnapshotCorrupt(f"snap: {path}: bad header: {exc}") from None
        return meta, blob[nl + 1:-32]

    def load_newest(self) -> tuple[SnapshotMetadata, str] | None:
        """The newest intact snapshot: its metadata and the path of a file holding only its data."""
        for name in reversed(self._names()):
            path = os.path.join(self.dir, name)
            try:
                meta, data = self.read(path)
            except (SnapshotCorrupt, OSError) as exc:
                log.warning("snap: skipping %s: %s", name, exc)
                continue
            data_path = path + ".data"
            with open(data_path, "wb") as fh:
                fh.write(data)
            return meta, data_path
        return None

    def open_chunks(self, meta: SnapshotMetadata, chunk_size: int = COPY_CHUNK) -> Iterator[bytes]:
        with open(self.path_for(meta), "rb") as fh:
            while chunk := fh.read(chunk_size):
                yield chunk


class SnapshotReceiver:
    """Follower side of a streamed image: write chunks, then `finish` verifies and publishes."""

    def __init__(self, dirpath: str, meta: SnapshotMetadata) -> None:
        os.makedirs(dirpath, exist_ok=True)
        self.final = os.path.join(dirpath, f"{meta.term:016x}-{meta.index:016x}.snap.db")
        self.tmp = self.final + ".part"
        self._fh = open(self.tmp, "wb")  # noqa: SIM115 - closed in finish/abort
        self._hash = hashlib.sha256()

    def write(self, chunk: bytes) -> None:
        self._fh.write(chunk)
        self._hash.update(chunk)

    def finish(self, expected_sha256: bytes) -> str:
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        if self._hash.digest() != expected_sha256:
            os.unlink(self.tmp)
            raise SnapshotCorrupt("snap: received image does not match its checksum")
        os.replace(self.tmp, self.final)
        _fsync_dir(os.path.dirname(self.final))
        return self.final

    def abort(self) -> None:
        if not self._fh.closed:
            self._fh.close()
        if os.path.exists(self.tmp):
            os.unlink(self.tmp)
