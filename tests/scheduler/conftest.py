"""One control plane per e2e module (etcd store; see tests/controllers/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.controllers.cluster import ControlPlane
from tests.controllers.cluster import control_plane as _control_plane


@pytest.fixture(scope="module")
def control_plane() -> Iterator[ControlPlane]:
    with _control_plane("etcd") as cp:
        yield cp
