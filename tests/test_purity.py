"""The cores stay pure: no module under a core package imports I/O, clocks, threads or randomness.

This is the architecture's one rule, enforced by parsing imports rather than trusting reviews.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORES = ["raftkv/raft", "raftkv/mvcc/core", "raftkv/lease", "raftkv/auth", "raftkv/chaos/checkers", "raftkv/server/batching",
         "raftkv/server/reconfig", "raftkv/server/membership",
         "raftkv/grpcwire/connection", "raftkv/grpcwire/headers", "raftkv/grpcwire/errors",
         "raftkv/grpcwire/http1", "raftkv/bbolt", "raftkv/snapshot/schema", "raftkv/snapshot/status",
         "raftkv/snapshot/trailer", "raftkv/snapshot/cluster_flags", "raftkv/snapshot/etcd_wal"]
FORBIDDEN = {"asyncio", "grpc", "socket", "time", "random", "os", "threading", "subprocess", "selectors",
             "multiprocessing", "sqlite3", "lmdb", "shutil", "tempfile", "signal"}


def core_files() -> list[pathlib.Path]:
    files: list[pathlib.Path] = []
    for core in CORES:
        base = ROOT / core
        if base.is_dir():
            files.extend(sorted(base.rglob("*.py")))
        elif base.with_suffix(".py").is_file():
            files.append(base.with_suffix(".py"))
    return files


def imported_roots(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_raft_core_exists() -> None:
    assert (ROOT / "raftkv/raft/types.py").is_file()
    assert core_files(), "no core modules found"


@pytest.mark.unit
@pytest.mark.parametrize("path", core_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_core_module_is_pure(path: pathlib.Path) -> None:
    bad = imported_roots(path) & FORBIDDEN
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}; cores take time, randomness and I/O as inputs"
