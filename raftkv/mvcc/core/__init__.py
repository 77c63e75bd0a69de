"""Pure MVCC logic: revisions, the key index, range arithmetic and request checks (no I/O)."""
