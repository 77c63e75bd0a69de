"""The official `kubernetes` Python client (PyPI; not a project dependency yet, so skipped when absent)."""

from __future__ import annotations

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
            dyn = dynamic.DynamicClient(api_client)
            deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
            assert deployments.get(namespace="default").items == []
            assert client.VersionApi(api_client).get_code().minor == "32"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
