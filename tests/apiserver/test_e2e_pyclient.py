"""The official `kubernetes` Python client (PyPI; not a project dependency yet, so skipped when absent)."""

from __future__ import annotations

import json
import shutil
import tempfile

import pytest

from tests.apiserver.fixtures import apiserver, etcd

kubernetes = pytest.importorskip("kubernetes")
pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not shutil.which("etcd"), reason="needs etcd")]


def test_typed_watch_and_dynamic_clients():
    from kubernetes import client, config, dynamic, watch

    tmp = tempfile.mkdtemp(prefix="apiserver-py-")
    try:
        with etcd(tmp) as url, apiserver(tmp, url) as srv:
            api_client = config.new_client_from_config(srv.kubeconfig)
            v1 = client.CoreV1Api(api_client)
            assert [n.metadata.name for n in v1.list_namespace().items] == [
                "default", "kube-node-lease", "kube-public", "kube-system"]
            v1.create_namespaced_config_map("default", {"metadata": {"name": "py1"}, "data": {"x": "1"}})
            v1.patch_namespaced_config_map("py1", "default", {"data": {"y": "2"}})  # strategic merge
            assert v1.read_namespaced_config_map("py1", "default").data == {"x": "1", "y": "2"}
            rv = v1.list_namespaced_config_map("default").metadata.resource_version
            v1.delete_namespaced_config_map("py1", "default")
            events = [(e["type"], e["object"].metadata.name) for e in watch.Watch().stream(
                v1.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=2)]
            assert events == [("DELETED", "py1")]
            with pytest.raises(client.ApiException) as e:
                v1.read_namespaced_config_map("py1", "default")
            assert e.value.status == 404
            # Optimistic concurrency as controllers do it: a stale resourceVersion is a 409, re-read and retry.
            v1.create_namespaced_config_map("default", {"metadata": {"name": "cc"}, "data": {"n": "0"}})
            stale = v1.read_namespaced_config_map("cc", "default")
            fresh = v1.read_namespaced_config_map("cc", "default")
            fresh.data = {"n": "1"}
            v1.replace_namespaced_config_map("cc", "default", fresh)
            stale.data = {"n": "2"}
            with pytest.raises(client.ApiException) as e:
                v1.replace_namespaced_config_map("cc", "default", stale)
            assert e.value.status == 409 and json.loads(e.value.body)["reason"] == "Conflict"
            for _ in range(3):
                cur = v1.read_namespaced_config_map("cc", "default")
                cur.data = {"n": str(int(cur.data["n"]) + 1)}
                try:
                    v1.replace_namespaced_config_map("cc", "default", cur)
                    break
                except client.ApiException as retry:
                    assert retry.status == 409
            assert v1.read_namespaced_config_map("cc", "default").data == {"n": "2"}
            # Server-side apply through the client: a JSON body with the apply-patch content type.
            apps = client.AppsV1Api(api_client)
            body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "pyd"},
                    "spec": {"replicas": 2, "selector": {"matchLabels": {"a": "b"}},
                             "template": {"metadata": {"labels": {"a": "b"}},
                                          "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]}}}}
            applied = apps.patch_namespaced_deployment("pyd", "default", body, field_manager="py",
                                                       _content_type="application/apply-patch+yaml")
            assert applied.spec.replicas == 2 and applied.metadata.managed_fields[0].manager == "py"
            apps.delete_namespaced_deployment("pyd", "default")
            dyn = dynamic.DynamicClient(api_client)
            deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
            assert deployments.get(namespace="default").items == []
            assert client.VersionApi(api_client).get_code().minor == "32"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
