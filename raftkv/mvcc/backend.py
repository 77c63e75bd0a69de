"""The on-disk value store: SQLite, keyed by revision, committed in batches.

Why SQLite: it ships with Python, keeps values off the heap (the key index stays in
memory, values are read by revision as etcd reads bbolt), gives atomic multi-row commits
(data + `consistent_index` in one transaction) and a consistent online copy (`backup`) for
snapshots. Commits are not fsynced (`synchronous=NORMAL` in WAL mode): the Raft WAL is the
source of truth and entries above the backend's `consistent_index` are replayed after a
crash. `checkpoint()` makes everything durable before the Raft log is compacted.

Tables: `kv(rev BLOB PRIMARY KEY, value BLOB)` (rev = 17-byte revision key, value = a
serialized mvccpb.KeyValue), `meta(name TEXT PRIMARY KEY, value BLOB)`,
`lease(id INTEGER PRIMARY KEY, ttl INTEGER)`.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Iterator

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (rev BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS lease (id INTEGER PRIMARY KEY, ttl INTEGER NOT NULL);
"""
DB_FILE = "db.sqlite"


class Backend:
    def __init__(self, path: str | None) -> None:
        """`path` is a directory for the database file, or None for a private in-memory database."""
        self.dir = path
        if path:
            os.makedirs(path, exist_ok=True)
        self.file = os.path.join(path, DB_FILE) if path else ":memory:"
        self._open()

    def _open(self) -> None:
        self.conn = sqlite3.connect(self.file, isolation_level=None, check_same_thread=False)
        c = self.conn
        if self.dir:
            c.execute("PRAGMA journal_mode=WAL")
            c.execute("PRAGMA synchronous=NORMAL")
            c.execute("PRAGMA journal_size_limit=16777216")  # the WAL file shrinks back after checkpoints
        c.execute("PRAGMA cache_size=-65536")
        c.executescript(_SCHEMA)
        c.execute("BEGIN")
        self.dirty = False
        self._file_size: int | None = None

    # ---- writes (inside the open transaction)
    def put(self, rev: bytes, value: bytes) -> None:
        self.conn.execute("INSERT OR REPLACE INTO kv VALUES (?, ?)", (rev, value))
        self.dirty = True

    def delete_revs(self, revs: list[bytes]) -> None:
        self.conn.executemany("DELETE FROM kv WHERE rev = ?", [(r,) for r in revs])
        self.dirty = True

    def set_meta(self, name: str, value: bytes) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (name, value))
        self.dirty = True

    def put_lease(self, lid: int, ttl: int) -> None:
        self.conn.execute("INSERT OR REPLACE INTO lease VALUES (?, ?)", (lid, ttl))
        self.dirty = True

    def delete_lease(self, lid: int) -> None:
        self.conn.execute("DELETE FROM lease WHERE id = ?", (lid,))
        self.dirty = True

    def commit(self) -> None:
        if self.dirty:
            self.conn.execute("COMMIT")
            self.conn.execute("BEGIN")
            self.dirty = False
            self._file_size = None

    def checkpoint(self) -> None:
        """Commit and make everything durable in the database file."""
        self.commit()
        if self.dir:
            self.conn.execute("COMMIT")
            try:
                self.conn.execute("PRAGMA wal_checkpoint(FULL)")
            finally:
                self.conn.execute("BEGIN")
                self._file_size = None

    # ---- reads
    def get(self, rev: bytes) -> bytes | None:
        row = self.conn.execute("SELECT value FROM kv WHERE rev = ?", (rev,)).fetchone()
        return row[0] if row else None

    def get_meta(self, name: str) -> bytes | None:
        row = self.conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def scan(self, lo: bytes = b"", hi: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        if hi is None:
            cur = self.conn.execute("SELECT rev, value FROM kv WHERE rev >= ? ORDER BY rev", (lo,))
        else:
            cur = self.conn.execute("SELECT rev, value FROM kv WHERE rev >= ? AND rev < ? ORDER BY rev", (lo, hi))
        while rows := cur.fetchmany(4096):
            yield from rows

    def leases(self) -> list[tuple[int, int]]:
        return list(self.conn.execute("SELECT id, ttl FROM lease ORDER BY id"))

    # ---- files
    def size(self) -> int:
        """Bytes on disk. The files change only when a transaction commits, so the figure is cached until the
        next commit: the quota check asks for it on every write request."""
        if not self.dir:
            pages = self.conn.execute("PRAGMA page_count").fetchone()[0]
            return int(pages) * int(self.conn.execute("PRAGMA page_size").fetchone()[0])
        if self._file_size is None:
            total = 0
            for suffix in ("", "-wal"):
                try:
                    total += os.path.getsize(self.file + suffix)
                except OSError:
                    pass
            self._file_size = total
        return self._file_size

    def size_in_use(self) -> int:
        page = int(self.conn.execute("PRAGMA page_size").fetchone()[0])
        count = int(self.conn.execute("PRAGMA page_count").fetchone()[0])
        free = int(self.conn.execute("PRAGMA freelist_count").fetchone()[0])
        return (count - free) * page

    def snapshot_to(self, path: str) -> None:
        """A consistent copy of everything committed, as a standalone database file."""
        self.commit()
        dest = sqlite3.connect(path)
        try:
            self.conn.backup(dest)
        finally:
            dest.close()

    def restore_from(self, path: str) -> None:
        """Replace the whole database with an image made by `snapshot_to`."""
        self.conn.execute("ROLLBACK")
        self.conn.close()
        if self.dir:
            for suffix in ("-wal", "-shm"):
                if os.path.exists(self.file + suffix):
                    os.unlink(self.file + suffix)
            tmp = self.file + ".restore"
            shutil.copyfile(path, tmp)
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, self.file)
            self._open()
        else:
            self._open()
            src = sqlite3.connect(path)
            try:
                self.conn.execute("ROLLBACK")
                src.backup(self.conn)
                self.conn.execute("BEGIN")
            finally:
                src.close()

    def defragment(self) -> None:
        """Rewrite the database without free pages and shrink the SQLite WAL, so the file size drops."""
        self.conn.execute("COMMIT")
        try:
            self.conn.execute("VACUUM")
            if self.dir:
                self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            self.conn.execute("BEGIN")
            self._file_size = None

    def close(self, commit: bool = True) -> None:
        try:
            if commit:
                self.commit()
            self.conn.execute("COMMIT" if commit else "ROLLBACK")
        finally:
            self.conn.close()
