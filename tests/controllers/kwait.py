"""Blocking kubectl commands (`wait`, `rollout status`) for the workload e2e tests, robust on a loaded machine.

Each call gets a `--timeout` well under the fixture's kubectl subprocess limit and is repeated until an overall
deadline, so a slow kubectl start-up on two busy cores is not mistaken for a controller that never acted.
"""

from __future__ import annotations

import subprocess
import time

from tests.controllers.cluster import ControlPlane

PER_CALL_S = 25


def kubectl_until(cp: ControlPlane, *args: str, deadline: float = 120.0) -> subprocess.CompletedProcess[str]:
    end = time.monotonic() + deadline
    while True:
        p = cp.kubectl(*args, f"--timeout={PER_CALL_S}s", check=False)
        if p.returncode == 0:
            return p
        if time.monotonic() > end:
            raise AssertionError(f"kubectl {' '.join(args)} did not succeed within {deadline:.0f} s: {p.stderr}")
