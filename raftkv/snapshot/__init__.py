"""Backups in etcd's format: the bbolt database etcd's Snapshot RPC streams, both ways.

`schema` maps raftkv's state to etcd 3.4's buckets and back (pure); `status` is `etcdctl
snapshot status` (pure); `trailer` checks the sha256 trailer as `etcdctl snapshot restore` does
(pure). The adapters: `export` builds the image a member streams, `restore` writes a raftkv data
dir from a snapshot file, `etcd_dir` takes over a data dir made by etcd's tools, `cli` is
`raftkv snapshot status|restore`.
"""
