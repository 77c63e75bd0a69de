"""`raftkv snapshot status FILE [-w FMT]` and `raftkv snapshot restore FILE [flags]`: etcdctl's commands,
flags, output and messages (errors as `Error: ...` on stderr, exit 1; a wrong argument count exits 128)."""

from __future__ import annotations

import argparse
import sys

from raftkv.bbolt import BoltError, read_db
from raftkv.snapshot import status as status_mod
from raftkv.snapshot.restore import RestoreError, restore
from raftkv.snapshot.schema import SchemaError

USAGE = """usage: raftkv snapshot <command> [flags]

commands:
  status FILE [-w simple|table|json|fields]   hash, revision, total keys and size of a snapshot file
  restore FILE --data-dir D [--name N] [--initial-cluster C] [--initial-cluster-token T]
          [--initial-advertise-peer-urls U] [--skip-hash-check]
                                               a raftkv data dir holding the snapshot (etcd's or raftkv's)
"""
BAD_ARGS = 128  # etcdctl's ExitBadArgs


def _fail(msg: str, code: int = 1) -> int:
    print(f"Error: {msg}", file=sys.stderr)
    return code


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise ValueError(message)


def _status(argv: list[str]) -> int:
    p = _Parser(prog="raftkv snapshot status", add_help=False, allow_abbrev=False)
    p.add_argument("-w", "--write-out", default="simple")
    p.add_argument("files", nargs="*")
    try:
        args = p.parse_args(argv)
    except ValueError as exc:
        return _fail(str(exc), BAD_ARGS)
    if len(args.files) != 1:
        return _fail("snapshot status requires exactly one argument", BAD_ARGS)
    path = args.files[0]
    if args.write_out not in status_mod.FORMATS:
        try:
            status_mod.render(status_mod.Status(0, 0, 0, 0), args.write_out)
        except ValueError as exc:
            return _fail(str(exc))
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        return _fail(f"stat {path}: {(exc.strerror or str(exc)).lower()}")
    try:
        st = status_mod.status_of(read_db(data))
    except BoltError as exc:
        return _fail(str(exc))
    except SchemaError as exc:  # a key bucket holding something that is not a revision
        return _fail(f"invalid database: {exc}")
    sys.stdout.write(status_mod.render(st, args.write_out))
    return 0


def _restore(argv: list[str]) -> int:
    p = _Parser(prog="raftkv snapshot restore", add_help=False, allow_abbrev=False)
    p.add_argument("--data-dir", default="")
    p.add_argument("--wal-dir", default="")
    p.add_argument("--name", default="default")
    p.add_argument("--initial-cluster", default="default=http://localhost:2380")
    p.add_argument("--initial-cluster-token", default="etcd-cluster")
    p.add_argument("--initial-advertise-peer-urls", default="http://localhost:2380")
    p.add_argument("--skip-hash-check", nargs="?", const="true", default="false")
    p.add_argument("files", nargs="*")
    try:
        args = p.parse_args(argv)
    except ValueError as exc:
        return _fail(str(exc), BAD_ARGS)
    if len(args.files) != 1:
        return _fail("snapshot restore requires exactly one argument", BAD_ARGS)
    if args.wal_dir:
        return _fail("--wal-dir is not supported: raftkv keeps its WAL in <data-dir>/member/wal")
    if args.skip_hash_check not in ("true", "false"):
        return _fail(f'invalid argument "{args.skip_hash_check}" for "--skip-hash-check" flag', BAD_ARGS)
    data_dir = args.data_dir or f"{args.name}.etcd"
    try:
        restore(args.files[0], data_dir, args.name, args.initial_cluster, args.initial_cluster_token,
                args.initial_advertise_peer_urls, skip_hash_check=args.skip_hash_check == "true")
    except RestoreError as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(str(exc))
    print(f"restored snapshot {args.files[0]} into {data_dir} (member {args.name})", file=sys.stderr)
    return 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE, end="")
        return 0 if argv else 2
    if argv[0] == "status":
        return _status(argv[1:])
    if argv[0] == "restore":
        return _restore(argv[1:])
    print(f"raftkv snapshot: unknown command {argv[0]!r}\n\n{USAGE}", file=sys.stderr, end="")
    return 2
