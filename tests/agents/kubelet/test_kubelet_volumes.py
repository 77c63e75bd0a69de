"""Volume planning: where each volume lives and which files it holds; FailedMount texts."""

from __future__ import annotations

import base64

import pytest

from agents.kubelet.envvars import EnvSources
from agents.kubelet.volumes import MountError, VolumeInputs, container_mounts, plan_volumes, token_requests
from tests.agents.kubelet.podfixtures import pod

pytestmark = pytest.mark.unit
CM = {"metadata": {"name": "cm"}, "data": {"a.conf": "x=1", "b": "2"}}
ROOT_CA = {"metadata": {"name": "kube-root-ca.crt"}, "data": {"ca.crt": "CERT"}}
SECRET = {"metadata": {"name": "s"}, "data": {"pw": base64.b64encode(b"hunter2").decode()}}
SA_VOLUME = {"name": "kube-api-access-abcde", "projected": {"defaultMode": 420, "sources": [
    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
    {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1",
                                                                   "fieldPath": "metadata.namespace"}}]}}]}}


def inputs(**cms: dict) -> VolumeInputs:
    return VolumeInputs(root_dir="/var/lib/kubelet",
                        sources=EnvSources(config_maps={"cm": CM, "kube-root-ca.crt": ROOT_CA, **cms},
                                           secrets={"s": SECRET}),
                        tokens={("", 3607): "jwt"})


def test_each_kind_gets_the_kubelets_directory_and_files() -> None:
    p = pod({"name": "c", "volumeMounts": [{"name": "cfg", "mountPath": "/etc/cfg"},
                                           {"name": "scratch", "mountPath": "/tmp/s"},
                                           {"name": "cfg", "mountPath": "/etc/a.conf", "subPath": "a.conf"}]},
            volumes=[{"name": "cfg", "configMap": {"name": "cm", "items": [{"key": "a.conf", "path": "a.conf"}]}},
                     {"name": "scratch", "emptyDir": {}}, {"name": "pw", "secret": {"secretName": "s"}},
                     {"name": "host", "hostPath": {"path": "/data", "type": "DirectoryOrCreate"}},
                     {"name": "info", "downwardAPI": {"items": [
                         {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}}, SA_VOLUME])
    plans = {v.name: v for v in plan_volumes(p, inputs())}
    assert plans["cfg"].host_path == "/var/lib/kubelet/pods/u1/volumes/kubernetes.io~configmap/cfg"
    assert plans["cfg"].files == {"a.conf": (b"x=1", 0o644)} and plans["cfg"].read_only
    assert plans["scratch"].host_path.endswith("kubernetes.io~empty-dir/scratch") and not plans["scratch"].files
    assert plans["pw"].files == {"pw": (b"hunter2", 0o644)}
    assert plans["host"].host_path == "/data" and plans["host"].host_path_type == "DirectoryOrCreate"
    assert plans["info"].files == {"labels": (b'app="web"', 0o644)}
    sa = plans["kube-api-access-abcde"]
    assert sa.host_path.endswith("kubernetes.io~projected/kube-api-access-abcde")
    assert sa.files == {"token": (b"jwt", 0o600), "ca.crt": (b"CERT", 0o644), "namespace": (b"ns", 0o644)}
    mounts = container_mounts(p["spec"]["containers"][0], list(plans.values()))
    assert mounts[0] == ("/etc/cfg", plans["cfg"].host_path, True)
    assert mounts[1] == ("/tmp/s", plans["scratch"].host_path, False)
    assert mounts[2] == ("/etc/a.conf", plans["cfg"].host_path + "/a.conf", True)
    assert token_requests(p) == [("", 3607)]


def test_a_missing_config_map_is_a_failed_mount_with_the_kubelets_text() -> None:
    p = pod({"name": "c"}, volumes=[{"name": "cfg", "configMap": {"name": "gone"}}])
    with pytest.raises(MountError) as e:
        plan_volumes(p, inputs())
    assert str(e.value) == 'MountVolume.SetUp failed for volume "cfg" : configmap "gone" not found'


def test_optional_missing_objects_give_empty_volumes() -> None:
    p = pod({"name": "c"}, volumes=[{"name": "cfg", "configMap": {"name": "gone", "optional": True}},
                                    {"name": "sec", "secret": {"secretName": "gone", "optional": True}}])
    assert [v.files for v in plan_volumes(p, inputs())] == [{}, {}]


def test_missing_secret_and_missing_root_ca() -> None:
    p = pod({"name": "c"}, volumes=[{"name": "sec", "secret": {"secretName": "gone"}}])
    with pytest.raises(MountError, match='volume "sec" : secret "gone" not found'):
        plan_volumes(p, inputs())
    v = VolumeInputs(root_dir="/r", sources=EnvSources(), tokens={("", 3607): "jwt"})
    with pytest.raises(MountError, match='volume "kube-api-access-abcde" : configmap "kube-root-ca.crt" not found'):
        plan_volumes(pod({"name": "c"}, volumes=[SA_VOLUME]), v)
