"""Workload parameters are validated with a typed error before any client starts."""

from __future__ import annotations

import pytest

from raftkv.chaos.workload import WorkloadConfig, WorkloadError, prefix_end

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("change", [
    {"endpoints": []}, {"clients": 0}, {"keys": 0}, {"duration_s": 0}, {"max_ops": 0}, {"max_ops": 10**9},
    {"op_timeout_s": 0}, {"mix": {"put": 0}}, {"mix": {"put": -1, "get": 2}},
])
def test_bad_configs_are_refused(change: dict) -> None:
    cfg = WorkloadConfig(["127.0.0.1:1"])
    cfg.validate()
    for k, v in change.items():
        setattr(cfg, k, v)
    with pytest.raises(WorkloadError):
        cfg.validate()


def test_prefix_end_is_the_next_key_after_the_prefix() -> None:
    assert prefix_end("/chaos/") == b"/chaos0"
