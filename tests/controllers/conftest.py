"""Fixtures for controller tests: one control plane per test module (etcd store), or on raftkv when asked.

Use `control_plane` (the API server on etcd; create your own namespace per test) and `controller_manager` (a
factory: `controller_manager("--controllers=replicaset", "--leader-elect=false")` starts `python -m controllers`
and stops it after the test). `raftkv_control_plane` is the same on a 3-member raftkv over mTLS. Both run a
controller manager of their own with the serviceaccount controller (pods need `default`); a module changes that
with `BACKGROUND_CONTROLLERS = (...)`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.controllers.cluster import SYSTEM_CONTROLLERS, ControllerManager, ControlPlane
from tests.controllers.cluster import control_plane as _control_plane


def _background(request: pytest.FixtureRequest) -> tuple[str, ...]:
    """The controllers the control plane's own manager runs: a module sets BACKGROUND_CONTROLLERS to change them
    (e.g. `()` where the serviceaccount controller is what is tested)."""
    return tuple(getattr(request.module, "BACKGROUND_CONTROLLERS", SYSTEM_CONTROLLERS))


@pytest.fixture(scope="module")
def control_plane(request: pytest.FixtureRequest) -> Iterator[ControlPlane]:
    with _control_plane("etcd", background=_background(request)) as cp:
        yield cp


@pytest.fixture(scope="module")
def raftkv_control_plane(request: pytest.FixtureRequest) -> Iterator[ControlPlane]:
    with _control_plane("raftkv", background=_background(request)) as cp:
        yield cp


@pytest.fixture
def controller_manager(control_plane: ControlPlane) -> Iterator[Callable[..., ControllerManager]]:
    started: list[ControllerManager] = []

    def start(*flags: str, kubeconfig: str | None = None) -> ControllerManager:
        m = control_plane.start_controller_manager(*flags, kubeconfig=kubeconfig)
        started.append(m)
        return m
    yield start
    for m in started:
        m.stop()
