"""The apiserver's pure cores import no I/O, clocks, threads or randomness."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CORES = ["apiserver/request_info.py", "apiserver/selectors.py", "apiserver/patch.py", "apiserver/errors.py",
         "apiserver/registry/meta.py", "apiserver/registry/strategies.py", "apiserver/api/resources.py",
         "apiserver/api/discovery.py", "apiserver/api/openapi.py", "apiserver/api/tables.py",
         "apiserver/http/negotiation.py", "apiserver/protobuf.py", "apiserver/api/fieldvalidation.py",
         "apiserver/storage/lister.py",
         "apiserver/storage/watchwindow.py", "apiserver/storage/compaction.py", "apiserver/managedfields.py",
         "apiserver/registry/allocation.py", "apiserver/registry/kubernetes_service.py",
         "apiserver/registry/defaults.py", "apiserver/flags.py", "apiserver/cron.py"]
FORBIDDEN = {"asyncio", "grpc", "socket", "time", "random", "os", "threading", "subprocess", "aiohttp", "ssl"}


@pytest.mark.unit
@pytest.mark.parametrize("path", CORES)
def test_core_is_pure(path):
    tree = ast.parse((ROOT / path).read_text())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    assert not roots & FORBIDDEN, f"{path} imports {sorted(roots & FORBIDDEN)}"
