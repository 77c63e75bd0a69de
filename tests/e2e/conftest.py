"""The `cluster` fixture: one 3-member cluster per test module and backend (etcd 3.4, raftkv).

When a test that used the cluster fails, the tail of every member's log is attached to its
report as a "member logs" section.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator

import pytest

from tests.e2e.cluster import KINDS, ProcessCluster, running_cluster


@pytest.fixture(scope="module", params=KINDS)
def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessCluster]:
    with running_cluster(request.param, tmp_path_factory.mktemp(request.param)) as c:
        yield c


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, None, None]:
    outcome = yield
    report = outcome.get_result()
    c = getattr(item, "funcargs", {}).get("cluster")
    if report.failed and isinstance(c, ProcessCluster):
        report.sections.append(("member logs", c.logs()))
