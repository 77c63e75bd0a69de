"""The kubelet's decision cores import no I/O, clock or randomness (the architecture's one rule)."""

from __future__ import annotations

import pathlib

import pytest

from tests.test_purity import FORBIDDEN, imported_roots

pytestmark = pytest.mark.unit
ROOT = pathlib.Path(__file__).resolve().parents[3]
CORES = ["backoff", "podsync", "probes", "status", "envvars", "volumes", "runtimeview", "qos", "quantity",
         "durations", "pullsecrets", "dns"]


@pytest.mark.parametrize("name", CORES)
def test_core_is_pure(name: str) -> None:
    path = ROOT / "agents" / "kubelet" / f"{name}.py"
    assert not imported_roots(path) & FORBIDDEN
