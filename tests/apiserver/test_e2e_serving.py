"""Serving edges: etcd over mTLS with kube-apiserver's flags, client-certificate authentication, anonymous access."""

from __future__ import annotations

import json
import shutil
import ssl
import tempfile
import urllib.error
import urllib.request

import pytest

from tests.apiserver.fixtures import apiserver, etcd, etcd_tls

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
