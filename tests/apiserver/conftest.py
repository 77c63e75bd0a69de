"""Fixtures shared by the API server's store-level tests."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator

import pytest

from tests.apiserver.fixtures import etcd


@pytest.fixture(scope="module")
def etcd_url() -> Iterator[str]:
    """A Debian etcd 3.4 of the test module's own, on a free loopback port, removed afterwards."""
    tmp = tempfile.mkdtemp(prefix="apiserver-etcd-")
    try:
        with etcd(tmp) as url:
            yield url
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
