"""The same authentication, authorization and admission, on raftkv instead of etcd: one `raftkv serve` member
over mTLS under `python -m apiserver`, driven by the real kubectl (proof the auth path needs only the etcd API)."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.apiserver_auth.cluster import STATIC_TOKENS, auth_cluster

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not (shutil.which("etcdctl") and shutil.which("kubectl")),
                                                  reason="needs etcdctl and kubectl")]
CREATES, LIMIT = 10, 4


def test_rbac_quota_and_tokens_on_raftkv() -> None:
    with auth_cluster(anonymous_auth=False, store_kind="raftkv") as c:
        c.kubectl_ok("admin", "create", "namespace", "team")
        c.add_identity("vera", token=STATIC_TOKENS["vera"])
        c.kubectl_ok("admin", "create", "rolebinding", "vera-view", "--clusterrole=view", "--user=vera", "-n", "team")
        assert c.kubectl("vera", "auth", "can-i", "list", "pods", "-n", "team").stdout.split()[0] == "yes"
        assert c.kubectl("vera", "auth", "can-i", "create", "pods", "-n", "team").stdout.split()[0] == "no"
        assert c.request("vera", "GET", "/api/v1/namespaces/team/pods").code == 200
        assert c.request("vera", "GET", "/api/v1/namespaces/team/secrets").code == 403
        assert c.request("nobody", "GET", "/api/v1/namespaces/team/pods").code == 401
        c.kubectl_ok("admin", "create", "serviceaccount", "bot", "-n", "team")
        token = c.kubectl_ok("admin", "create", "token", "bot", "-n", "team").strip()
        c.add_identity("bot", token=token)
        assert "system:serviceaccount:team:bot" in c.kubectl_ok("bot", "auth", "whoami")
        c.create_quota("team", "q", {"configmaps": str(LIMIT)})

        def create(i: int) -> int:
            return c.request("admin", "POST", "/api/v1/namespaces/team/configmaps", {
                "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"m{i}"}}).code

        with ThreadPoolExecutor(CREATES) as pool:
            codes = list(pool.map(create, range(CREATES)))
        assert sorted(codes) == [201] * LIMIT + [403] * (CREATES - LIMIT), codes
        assert c.admin("GET", "/api/v1/namespaces/team/resourcequotas/q")["status"]["used"] == {
            "configmaps": str(LIMIT)}
