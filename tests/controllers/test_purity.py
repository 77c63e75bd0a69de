"""The controllers' pure parts import no I/O, clocks, threads or randomness: the machinery's decision modules and
every controller's reconcile core (globbed, so a new controller's core is checked the day it lands)."""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
MACHINERY = ["workqueue", "expectations", "labels", "actions", "resources"]
FORBIDDEN = {"asyncio", "grpc", "socket", "time", "random", "os", "threading", "subprocess", "selectors",
             "multiprocessing", "aiohttp", "ssl", "http", "requests", "signal", "tempfile", "shutil"}
# Modules of ours that do I/O: a core importing them is impure by proxy.
IMPURE_OURS = {"controllers.machinery.client", "controllers.machinery.informer", "controllers.machinery.executor",
               "controllers.machinery.events", "controllers.machinery.controller", "controllers.machinery.asyncqueue",
               "controllers.machinery.leaderelection", "controllers.machinery.kubeconfig", "controllers.manager",
               "controllers.credentials", "urllib.request"}  # urllib.parse (quoting) is pure


def cores() -> list[pathlib.Path]:
    files = [ROOT / "controllers" / "machinery" / f"{m}.py" for m in MACHINERY]
    files += sorted((ROOT / "controllers").glob("*/reconcile.py"))
    files += sorted((ROOT / "controllers").glob("*/reconcile/*.py"))
    # pure helpers the endpoints, endpointslice cores share or their adapters drive
    files += [ROOT / "controllers" / p for p in ("endpoints/podutil.py", "endpoints/triggertime.py",
                                                  "endpointslice/tracker.py", "endpointslice/topology.py",
                                                  "replicaset/ranking.py", "deployment/util.py",
                                                  "deployment/hashing.py", "podcontrol.py", "job/indexes.py",
                                                  "job/ttlcore.py", "history.py")]
    return files


def imports(path: pathlib.Path) -> tuple[set[str], set[str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots: set[str] = set()
    full: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
            full |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
            full.add(node.module)
    return roots, full


def test_the_machinery_cores_exist() -> None:
    for m in MACHINERY:
        assert (ROOT / "controllers" / "machinery" / f"{m}.py").is_file(), m


@pytest.mark.unit
@pytest.mark.parametrize("path", cores(), ids=lambda p: str(p.relative_to(ROOT)))
def test_core_is_pure(path: pathlib.Path) -> None:
    roots, full = imports(path)
    bad = sorted(roots & FORBIDDEN) + sorted(full & IMPURE_OURS)
    assert not bad, (f"{path.relative_to(ROOT)} imports {bad}; a reconcile core takes `now` and an RNG as "
                     "arguments and returns actions instead of calling the API")
