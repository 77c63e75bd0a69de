"""The scheduler's core stays pure: no I/O, clock, threads or randomness imported (they arrive as arguments)."""

from __future__ import annotations

import pathlib

import pytest

from tests.test_purity import FORBIDDEN, imported_roots

ROOT = pathlib.Path(__file__).resolve().parents[2] / "controllers" / "scheduler"
CORE = ["quantity.py", "podinfo.py", "nodeinfo.py", "framework.py", "queue.py", "cache.py", "preemption.py",
        "config.py", *(f"plugins/{p.name}" for p in sorted((ROOT / "plugins").glob("*.py")))]
ADAPTER_ONLY = {"aiohttp", "controllers.machinery.client", "controllers.machinery.informer"}


@pytest.mark.unit
@pytest.mark.parametrize("name", CORE)
def test_core_module_is_pure(name: str) -> None:
    path = ROOT / name
    bad = imported_roots(path) & FORBIDDEN
    assert not bad, f"{name} imports {sorted(bad)}"
    text = path.read_text()
    assert not [m for m in ADAPTER_ONLY if f"import {m}" in text or f"from {m} " in text], name
