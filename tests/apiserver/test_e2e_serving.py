"""Serving edges: etcd over mTLS with kube-apiserver's flags, client-certificate authentication, anonymous access."""

from __future__ import annotations

import base64
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence

import pytest

from tests.apiserver.fixtures import APIServer, apiserver, etcd, etcd_tls

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not shutil.which("etcd"), reason="needs etcd")]


def get(url: str, ctx: ssl.SSLContext) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, context=ctx, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_etcd_mtls_and_client_cert_required():
    tmp = tempfile.mkdtemp(prefix="apiserver-tls-")
    try:
        with etcd(tmp, tls=True) as url, apiserver(tmp, url, etcd_client=etcd_tls(tmp)) as srv:
            code, ns = get(f"{srv.url}/api/v1/namespaces", srv.ssl_context())
            assert code == 200 and len(ns["items"]) == 4
            anonymous = ssl.create_default_context(cafile=srv.ca)
            code, status = get(f"{srv.url}/api/v1/namespaces", anonymous)
            assert (code, status["reason"]) == (401, "Unauthorized")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_anonymous_auth_lets_requests_without_a_certificate_through():
    tmp = tempfile.mkdtemp(prefix="apiserver-anon-")
    try:
        with etcd(tmp) as url, apiserver(tmp, url, anonymous_auth=True) as srv:
            anonymous = ssl.create_default_context(cafile=srv.ca)
            code, version = get(f"{srv.url}/version", anonymous)
            assert code == 200 and (version["major"], version["minor"]) == ("1", "32")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_etcd_prefix_keeps_two_api_servers_apart_on_one_etcd():
    tmp = tempfile.mkdtemp(prefix="apiserver-prefix-")
    other = os.path.join(tmp, "other")
    os.makedirs(other)
    try:
        with etcd(tmp) as url, apiserver(tmp, url) as a, apiserver(other, url, extra_args=["--etcd-prefix=/other"]) as b:
            body = json.dumps({"metadata": {"name": "only-in-a"}}).encode()
            req = urllib.request.Request(f"{a.url}/api/v1/namespaces/default/configmaps", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, context=a.ssl_context(), timeout=10) as r:
                assert r.status == 201
            code, _ = get(f"{b.url}/api/v1/namespaces/default/configmaps/only-in-a", b.ssl_context())
            assert code == 404
            code, ns = get(f"{b.url}/api/v1/namespaces", b.ssl_context())
            assert code == 200 and len(ns["items"]) == 4, "b bootstrapped its own namespaces under /other"
            keys = subprocess.run(["etcdctl", "--endpoints", url, "get", "--prefix", "--keys-only", "/"],
                                  capture_output=True, text=True, check=True,
                                  env={**os.environ, "ETCDCTL_API": "3"}).stdout.split()
            assert "/registry/configmaps/default/only-in-a" in keys and "/other/namespaces/default" in keys
            assert not any(k.startswith("/other/configmaps/") for k in keys)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_requests_beyond_max_in_flight_get_429_with_retry_after():
    import concurrent.futures
    tmp = tempfile.mkdtemp(prefix="apiserver-inflight-")
    try:
        with etcd(tmp) as url, apiserver(tmp, url, anonymous_auth=True,
                                         extra_args=["--max-requests-inflight=1"]) as srv:
            anonymous = ssl.create_default_context(cafile=srv.ca)

            def one(_: int) -> tuple[int, dict, str]:
                # /readyz reads the store, so concurrent ones overlap in the server (public to anonymous users).
                try:
                    with urllib.request.urlopen(f"{srv.url}/readyz", context=anonymous, timeout=30) as r:
                        return r.status, {}, ""
                except urllib.error.HTTPError as e:
                    return e.code, json.loads(e.read()), e.headers.get("Retry-After", "")

            refused: list[tuple[int, dict, str]] = []
            for _ in range(10):  # bursts until two requests overlap (practically the first one)
                with concurrent.futures.ThreadPoolExecutor(24) as pool:
                    results = list(pool.map(one, range(48)))
                assert {code for code, _, _ in results} <= {200, 429}
                refused = [r for r in results if r[0] == 429]
                if refused:
                    break
            code, status, retry = refused[0]
            assert (status["reason"], status["message"], retry) == (
                "TooManyRequests", "Too many requests, please try again later.", "1")
            assert status["details"]["retryAfterSeconds"] == 1
            # system:masters is never limited.
            with concurrent.futures.ThreadPoolExecutor(16) as pool:
                codes = list(pool.map(lambda _: get(f"{srv.url}/api/v1/namespaces", srv.ssl_context())[0], range(32)))
            assert set(codes) == {200}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


COMPACTION_INTERVAL_S = 0.5
COMPACTION_FLAG = f"--etcd-compaction-interval={int(COMPACTION_INTERVAL_S * 1000)}ms"


def _etcd_key(etcdctl: Sequence[str], key: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["etcdctl", *etcdctl, "get", key, *args], capture_output=True, text=True,
                          env={**os.environ, "ETCDCTL_API": "3"}, timeout=30)


def _compact_rev_key(etcdctl: Sequence[str]) -> tuple[int, int]:
    """(compact_rev_key's version, the revision its value names: the last compaction)."""
    kvs = json.loads(_etcd_key(etcdctl, "compact_rev_key", "-w", "json").stdout).get("kvs") or []
    return (int(kvs[0]["version"]), int(base64.b64decode(kvs[0]["value"]))) if kvs else (0, 0)


def assert_compacted_once_per_interval(a: APIServer, b: APIServer, etcdctl: Sequence[str]) -> None:
    """a and b run with COMPACTION_FLAG on one store (`etcdctl`: the flags that reach it)."""
    body = json.dumps({"metadata": {"name": "before-compaction"}}).encode()
    req = urllib.request.Request(f"{a.url}/api/v1/namespaces/default/configmaps", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, context=a.ssl_context(), timeout=10) as r:
        rv = int(json.loads(r.read())["metadata"]["resourceVersion"])
    start, (version0, _) = time.monotonic(), _compact_rev_key(etcdctl)
    deadline = start + 20
    while True:
        version, compacted = _compact_rev_key(etcdctl)
        elapsed = time.monotonic() - start
        if compacted > rv + 1 and elapsed >= 4 * COMPACTION_INTERVAL_S:
            break
        assert time.monotonic() < deadline, f"no compaction past {rv}: compact_rev_key at {compacted}"
        time.sleep(0.05)
    # successive wins are an interval apart whichever server wins: not one per server per interval
    assert 1 <= version - version0 <= elapsed / COMPACTION_INTERVAL_S + 1, (version0, version, elapsed)
    old = _etcd_key(etcdctl, "/registry/configmaps/default/before-compaction", f"--rev={rv}")
    assert old.returncode != 0 and "required revision has been compacted" in old.stderr
    watch = f"{b.url}/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={rv}&timeoutSeconds=5"
    with urllib.request.urlopen(watch, context=b.ssl_context(), timeout=10) as r:
        event = json.loads(r.readline())
    assert event["type"] == "ERROR" and (event["object"]["code"], event["object"]["reason"]) == (410, "Expired")
    assert event["object"]["message"].startswith(f"too old resource version: {rv} (")


def test_two_api_servers_compact_the_store_once_per_interval_and_old_watches_expire():
    """kube-apiserver's compactor: each interval one Txn on compact_rev_key's version wins across the servers
    and compacts to the revision seen one interval earlier; a watch from before that is 410 Expired. (On raftkv:
    test_e2e_kube_defaults.py.)"""
    tmp = tempfile.mkdtemp(prefix="apiserver-compact-")
    try:
        with etcd(tmp) as url, apiserver(tmp, url, name="a", controllers=(), extra_args=[COMPACTION_FLAG]) as a, \
                apiserver(tmp, url, name="b", controllers=(), extra_args=[COMPACTION_FLAG]) as b:
            assert_compacted_once_per_interval(a, b, [f"--endpoints={url}"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
