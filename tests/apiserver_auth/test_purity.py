"""The auth cores stay pure: time, storage and HTTP come in as arguments, never through imports."""

from __future__ import annotations

import pathlib

import pytest

from tests.test_purity import FORBIDDEN, imported_roots

ROOT = pathlib.Path(__file__).resolve().parents[2]
FILES = sorted(p for d in ("apiserver/authn", "apiserver/authz", "apiserver/admission")
               for p in (ROOT / d).rglob("*.py"))


@pytest.mark.unit
@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_auth_core_is_pure(path: pathlib.Path) -> None:
    bad = imported_roots(path) & (FORBIDDEN | {"aiohttp", "urllib", "http", "ssl", "logging"})
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"
