"""bbolt's file format, read and written in pure Python (bytes in, bytes out).

etcd keeps its state in a bbolt database and its Snapshot RPC streams that file, so a
snapshot that etcd's tools can read has to be one. This package knows the format only — pages,
meta pages, branch and leaf elements, buckets inline or as sub-trees — and does no I/O: the
caller reads or writes the file. `reader.read_db` checks everything it follows and raises
`BoltError` with bbolt's wording on damage; `writer.write_db` lays out buckets of sorted keys.
"""

from raftkv.bbolt.layout import BoltError
from raftkv.bbolt.reader import Bucket, Database, read_db
from raftkv.bbolt.writer import write_db

__all__ = ["BoltError", "Bucket", "Database", "read_db", "write_db"]
