"""Snapshot files: written whole or not at all, verified before use, streamed in bounded memory.

`Snapshotter` keeps each snapshot as two files in its directory:

    <term:016x>-<index:016x>.snap       the state-machine image, byte for byte as the store made it
    <term:016x>-<index:016x>.snap.sum   sidecar: one JSON line (Raft snapshot metadata, image size,
                                        image sha256 in hex), then the 32-byte sha256 of that line

Both are written to temporary files, fsynced and renamed, then the directory is fsynced; the
sidecar is renamed last, so a snapshot exists only once its image is complete. Nothing is
used without verifying the sidecar's own checksum and the image's size and sha256 (computed
in chunks, never the whole image in memory); a bad snapshot is skipped with a warning. The
newest `KEEP_SNAPSHOTS` are kept.

`SnapshotReceiver` assembles an image streamed from the leader (`<term>-<index>.snap.db.part`),
checks its sha256 and only then renames it to `<term>-<index>.snap.db`; on a mismatch it
deletes the partial file and raises `SnapshotCorrupt`.
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
MAX_SNAPSHOT_BYTES = 16 << 30
"""Largest image accepted from a leader (etcd's backend quota tops out at 8 GiB)."""
MAX_SIDECAR_BYTES = 64 << 10
SHA256_BYTES = 32

_IMAGE = ".snap"
_SIDECAR = ".snap.sum"
_RECEIVED = ".snap.db"
_PART = ".part"
_TMP = ".tmp"


class SnapshotCorrupt(Exception):
    """A snapshot file or a streamed image whose contents do not match its checksum."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"snap: {path}: {reason}")
        self.path = path
        self.reason = reason


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


def _stem(meta: SnapshotMetadata) -> str:
    return f"{meta.term:016x}-{meta.index:016x}"


def _parse_stem(name: str, suffix: str) -> tuple[int, int] | None:
    """(index, term) from a `<term>-<index><suffix>` name, or None if it is not one."""
    if not name.endswith(suffix):
        return None
    parts = name[: -len(suffix)].split("-")
    if len(parts) != 2 or not all(len(p) == 16 for p in parts):
        return None
    try:
        term, index = int(parts[0], 16), int(parts[1], 16)
    except ValueError:
        return None
    return index, term


def _sidecar_bytes(meta: SnapshotMetadata, size: int, digest: bytes) -> bytes:
    cs = meta.conf_state
    line = json.dumps({"index": meta.index, "term": meta.term, "voters": cs.voters, "learners": cs.learners,
                       "voters_outgoing": cs.voters_outgoing, "learners_next": cs.learners_next,
                       "auto_leave": cs.auto_leave, "size": size, "sha256": digest.hex()},
                      sort_keys=True).encode() + b"\n"
    return line + hashlib.sha256(line).digest()


def _parse_sidecar(path: str, blob: bytes) -> tuple[SnapshotMetadata, int, bytes]:
    if len(blob) <= SHA256_BYTES or hashlib.sha256(blob[:-SHA256_BYTES]).digest() != blob[-SHA256_BYTES:]:
        raise SnapshotCorrupt(path, "sidecar checksum mismatch")
    try:
        d = json.loads(blob[:-SHA256_BYTES])
        cs = ConfState([int(x) for x in d["voters"]], [int(x) for x in d["learners"]],
                       [int(x) for x in d["voters_outgoing"]], [int(x) for x in d["learners_next"]],
                       bool(d["auto_leave"]))
        digest = bytes.fromhex(d["sha256"])
        return SnapshotMetadata(cs, int(d["index"]), int(d["term"])), int(d["size"]), digest
    except (ValueError, KeyError, TypeError) as exc:
        raise SnapshotCorrupt(path, f"bad sidecar: {exc}") from None


def _write_synced(path: str, chunks: Iterator[bytes]) -> None:
    with open(path, "wb") as out:
        for chunk in chunks:
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())


class Snapshotter:
    """The snapshot directory of one member (single writer: the member loop)."""

    def __init__(self, dirpath: str, keep: int = KEEP_SNAPSHOTS) -> None:
        self.dir = dirpath
        self.keep = keep
        os.makedirs(dirpath, exist_ok=True)
        self._remove_leftovers()

    def path_for(self, meta: SnapshotMetadata) -> str:
        """Path of the image of the snapshot `meta` (whether or not it exists)."""
        return os.path.join(self.dir, _stem(meta) + _IMAGE)

    def save(self, meta: SnapshotMetadata, src_path: str) -> str:
        """Copy the image at `src_path` in as the snapshot `meta`; returns the image's path."""
        image = self.path_for(meta)
        sidecar = image[: -len(_IMAGE)] + _SIDECAR
        h = hashlib.sha256()
        size = 0

        def copy() -> Iterator[bytes]:
            nonlocal size
            with open(src_path, "rb") as src:
                while chunk := src.read(COPY_CHUNK):
                    h.update(chunk)
                    size += len(chunk)
                    yield chunk

        _write_synced(image + _TMP, copy())
        os.replace(image + _TMP, image)
        _write_synced(sidecar + _TMP, iter([_sidecar_bytes(meta, size, h.digest())]))
        os.replace(sidecar + _TMP, sidecar)
        _fsync_dir(self.dir)
        self._purge()
        return image

    def sha256(self, meta: SnapshotMetadata) -> bytes:
        """The image's sha256 as recorded in its (verified) sidecar: what a follower checks a stream against."""
        _meta, _size, digest = self._read_sidecar(os.path.join(self.dir, _stem(meta) + _SIDECAR))
        return digest

    def load_newest(self) -> tuple[SnapshotMetadata, str] | None:
        """The newest snapshot whose sidecar and image both verify: its metadata and image path."""
        for _key, name in reversed(self._listed(_SIDECAR)):
            sidecar = os.path.join(self.dir, name)
            try:
                meta, size, digest = self._read_sidecar(sidecar)
                image = self.path_for(meta)
                if os.path.basename(image) != name[: -len(_SIDECAR)] + _IMAGE:
                    raise SnapshotCorrupt(sidecar, "metadata does not match the file name")
                if os.path.getsize(image) != size:
                    raise SnapshotCorrupt(image, f"size {os.path.getsize(image)}, expected {size}")
                if sha256_of(image) != digest:
                    raise SnapshotCorrupt(image, "sha256 mismatch")
            except (SnapshotCorrupt, OSError) as exc:
                log.warning("snap: skipping snapshot %s: %s", name, exc)
                continue
            return meta, image
        return None

    def open_chunks(self, meta: SnapshotMetadata, chunk_size: int = COPY_CHUNK) -> Iterator[bytes]:
        """The image in chunks of at most `chunk_size` bytes, for streaming to a follower."""
        if chunk_size < 1:
            raise ValueError("chunk_size must be positive")
        with open(self.path_for(meta), "rb") as fh:
            while chunk := fh.read(chunk_size):
                yield chunk

    # ---- housekeeping
    def _read_sidecar(self, path: str) -> tuple[SnapshotMetadata, int, bytes]:
        with open(path, "rb") as fh:
            blob = fh.read(MAX_SIDECAR_BYTES + 1)
        if len(blob) > MAX_SIDECAR_BYTES:
            raise SnapshotCorrupt(path, "sidecar too large")
        return _parse_sidecar(path, blob)

    def _listed(self, suffix: str) -> list[tuple[tuple[int, int], str]]:
        """(index, term) and name of every `<term>-<index><suffix>` file, oldest first."""
        found = []
        for name in os.listdir(self.dir):
            key = _parse_stem(name, suffix)
            if key is not None:
                found.append((key, name))
        return sorted(found)

    def _purge(self) -> None:
        for suffix, companion in ((_SIDECAR, _IMAGE), (_RECEIVED, None)):
            listed = self._listed(suffix)
            for _key, name in listed[: max(0, len(listed) - self.keep)]:
                if companion is not None:  # the sidecar goes first: an image without one is never used
                    os.unlink(os.path.join(self.dir, name))
                    name = name[: -len(suffix)] + companion
                try:
                    os.unlink(os.path.join(self.dir, name))
                except FileNotFoundError:
                    pass

    def _remove_leftovers(self) -> None:
        """Temporary files of interrupted saves and receptions, and images whose sidecar never landed."""
        names = set(os.listdir(self.dir))
        for name in names:
            orphan = _parse_stem(name, _IMAGE) is not None and name[: -len(_IMAGE)] + _SIDECAR not in names
            partial = name.endswith((_IMAGE + _TMP, _SIDECAR + _TMP, _RECEIVED + _PART))
            if orphan or partial:
                log.warning("snap: removing leftover %s", name)
                os.unlink(os.path.join(self.dir, name))


class SnapshotReceiver:
    """Follower side of a streamed image: `write` chunks, then `finish` verifies and publishes.

    Memory is bounded by one chunk; the image is at most `MAX_SNAPSHOT_BYTES`.
    """

    def __init__(self, dirpath: str, meta: SnapshotMetadata) -> None:
        os.makedirs(dirpath, exist_ok=True)
        self.dir = dirpath
        self.final = os.path.join(dirpath, _stem(meta) + _RECEIVED)
        self.tmp = self.final + _PART
        self._fh = open(self.tmp, "wb")  # noqa: SIM115 - closed in finish/abort
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        if self._fh.closed:
            raise ValueError("snap: write after finish/abort")
        if self.size + len(chunk) > MAX_SNAPSHOT_BYTES:
            self.abort()
            raise SnapshotCorrupt(self.final, f"image larger than {MAX_SNAPSHOT_BYTES} bytes")
        self._fh.write(chunk)
        self._hash.update(chunk)
        self.size += len(chunk)

    def finish(self, expected_sha256: bytes) -> str:
        """Verify the image against `expected_sha256`, fsync and publish it; returns its final path."""
        if self._fh.closed:
            raise ValueError("snap: finish after finish/abort")
        try:
            self._fh.flush()
            os.fsync(self._fh.fileno())
        except OSError:
            self.abort()
            raise
        self._fh.close()
        if len(expected_sha256) != SHA256_BYTES or self._hash.digest() != expected_sha256:
            os.unlink(self.tmp)
            raise SnapshotCorrupt(self.final, f"received image ({self.size} bytes) does not match its sha256")
        os.replace(self.tmp, self.final)
        _fsync_dir(self.dir)
        return self.final

    def abort(self) -> None:
        if not self._fh.closed:
            self._fh.close()
        if os.path.exists(self.tmp):
            os.unlink(self.tmp)
