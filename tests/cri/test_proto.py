"""runtime.v1 wire facts: our hand-written CRI subset must put every field at cri-api's number and type, and the
gRPC paths must be the ones a kubelet and containerd use, or the two sides silently misread each other.

The expected bytes are written out by hand from cri-api's published field numbers (tag = field << 3 | wire type).
"""

from __future__ import annotations

import pytest

from agents.cri import api
from raftkv._pb.runtime.v1 import api_pb2_grpc

pytestmark = pytest.mark.unit


def test_service_paths() -> None:
    rt = api.DESCRIPTOR.services_by_name["RuntimeService"]
    img = api.DESCRIPTOR.services_by_name["ImageService"]
    assert api.DESCRIPTOR.package == "runtime.v1"
    assert rt.full_name == "runtime.v1.RuntimeService" and img.full_name == "runtime.v1.ImageService"
    kubelet_needs = {"Version", "Status", "RunPodSandbox", "StopPodSandbox", "RemovePodSandbox", "PodSandboxStatus",
                     "ListPodSandbox", "CreateContainer", "StartContainer", "StopContainer", "RemoveContainer",
                     "ListContainers", "ContainerStatus", "UpdateContainerResources", "ReopenContainerLog",
                     "ExecSync", "Exec", "Attach", "PortForward", "ContainerStats", "ListContainerStats",
                     "UpdateRuntimeConfig", "RuntimeConfig"}
    assert kubelet_needs <= set(rt.methods_by_name)
    assert {"ListImages", "ImageStatus", "PullImage", "RemoveImage", "ImageFsInfo"} == set(img.methods_by_name)
    assert hasattr(api_pb2_grpc, "RuntimeServiceStub")


def test_container_status_bytes() -> None:
    msg = api.ContainerStatus(id="c", state=api.CONTAINER_EXITED, exit_code=137, reason="OOMKilled",
                              finished_at=5, log_path="l", image_ref="r", image_id="i")
    expected = bytes.fromhex(
        "0a0163"        # 1 id "c"
        "1802"          # 3 state EXITED = 2
        "3005"          # 6 finished_at 5
        "388901"        # 7 exit_code 137
        "4a0172"        # 9 image_ref "r"
        "52094f4f4d4b696c6c6564"  # 10 reason "OOMKilled"
        "7a016c"        # 15 log_path "l"
        "8a010169"      # 17 image_id "i" (tag 17<<3|2 = 138 = 0x8a 0x01)
    )
    assert msg.SerializeToString() == expected


def test_sandbox_config_and_image_spec_numbers() -> None:
    cfg = api.PodSandboxConfig(metadata=api.PodSandboxMetadata(name="p", uid="u", namespace="n", attempt=1),
                               hostname="h", log_directory="d")
    assert cfg.SerializeToString() == bytes.fromhex(
        "0a0b" "0a0170" "120175" "1a016e" "2001"   # 1 metadata {1 name, 2 uid, 3 namespace, 4 attempt}
        "120168"                                    # 2 hostname
        "1a0164"                                    # 3 log_directory
    )
    spec = api.ImageSpec(image="x", user_specified_image="y")
    assert spec.SerializeToString() == bytes.fromhex("0a0178" "920101" "79")  # 1 image, 18 user_specified_image


@pytest.mark.parametrize(("message", "field", "number"), [
    ("LinuxContainerResources", "memory_limit_in_bytes", 4),
    ("LinuxContainerResources", "cpu_quota", 2),
    ("LinuxSandboxSecurityContext", "run_as_group", 8),
    ("LinuxContainerSecurityContext", "run_as_group", 12),
    ("LinuxContainerSecurityContext", "no_new_privs", 11),
    ("ContainerConfig", "log_path", 11),
    ("ContainerConfig", "linux", 15),
    ("PodSandboxStatus", "network", 5),
    ("PodSandboxStatusResponse", "containers_statuses", 3),
    ("StopContainerRequest", "timeout", 2),
    ("AttachRequest", "tty", 3),
    ("ExecRequest", "stdin", 4),
    ("PortForwardRequest", "port", 2),
    ("Image", "pinned", 8),
    ("AuthConfig", "registry_token", 6),
    ("UpdateContainerResourcesRequest", "annotations", 4),
    ("StatusResponse", "features", 4),
])
def test_field_numbers(message: str, field: str, number: int) -> None:
    assert api.DESCRIPTOR.message_types_by_name[message].fields_by_name[field].number == number
