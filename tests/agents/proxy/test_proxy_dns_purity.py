"""The proxy's and DNS's cores import no I/O, clock, randomness or asyncio (the architecture's one rule)."""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
CORES = ["agents/proxy/model.py", "agents/proxy/rules.py", "agents/dns/records.py", "agents/dns/resolver.py"]
FORBIDDEN = {"asyncio", "socket", "time", "random", "os", "threading", "subprocess", "selectors", "signal",
             "dns.query", "dns.asyncquery", "dns.resolver", "aiohttp", "controllers.machinery.client"}


@pytest.mark.parametrize("path", CORES)
def test_core_imports_nothing_impure(path: str) -> None:
    tree = ast.parse((ROOT / path).read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    bad = {n for n in names if n in FORBIDDEN or n.split(".")[0] in FORBIDDEN - {"dns"}}
    assert not bad, f"{path} imports {sorted(bad)}"
