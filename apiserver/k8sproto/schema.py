"""The compiled wire schema (k8s.binpb) and which message each (apiVersion, kind) body is.

Loaded once at import into a private descriptor pool, so nothing here touches protobuf's global
registry (raftkv's etcd messages live there). Message classes are built from descriptors on demand.
"""

from __future__ import annotations

import functools
import json
import pathlib

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message

from apiserver.api.resources import RESOURCES

DESCRIPTORS = pathlib.Path(__file__).parent / "k8s.binpb"
# The v1.32 OpenAPI definitions (see apiserver/api/gen_schemas.py): openapi-gen lists a field as required
# exactly when its Go json tag has no `omitempty`, which is when Go's JSON writes the field even at its zero
# value - a fact about the Go structs that a .proto file cannot carry.
DEFINITIONS = pathlib.Path(__file__).parent.parent / "api" / "data" / "definitions-v1.32.json"
META = "k8s.io.apimachinery.pkg.apis.meta.v1"
DELETE_OPTIONS = f"{META}.DeleteOptions"

# Kinds that are request bodies of subresources rather than resources of their own.
SUBRESOURCE_KINDS = (("v1", "Binding"), ("autoscaling/v1", "Scale"), ("policy/v1", "Eviction"),
                     ("authentication.k8s.io/v1", "TokenRequest"))


def _pool() -> descriptor_pool.DescriptorPool:
    files = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTORS.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for f in files.file:
        pool.Add(f)
    return pool


POOL = _pool()


def package_of(api_version: str) -> str:
    """`apps/v1` -> `k8s.io.api.apps.v1`; the core group `v1` -> `k8s.io.api.core.v1`.

    go-to-protobuf names a group's package after the first label of the group name
    (rbac.authorization.k8s.io -> rbac, coordination.k8s.io -> coordination).
    """
    group, _, version = api_version.rpartition("/")
    return f"k8s.io.api.{group.split('.')[0] if group else 'core'}.{version}"


def _kinds() -> dict[tuple[str, str], str]:
    pairs = [(r.group_version, r.kind) for r in RESOURCES] + list(SUBRESOURCE_KINDS)
    return {(gv, kind): f"{package_of(gv)}.{kind}" for gv, kind in pairs}


# (apiVersion, kind) -> full message name, for every served kind and subresource body.
KINDS: dict[tuple[str, str], str] = _kinds()
# DeleteOptions is registered in every group version (client-go sends it with the resource's apiVersion).
DELETE_OPTIONS_VERSIONS = frozenset({"meta.k8s.io/v1"} | {r.group_version for r in RESOURCES})


def _required() -> dict[str, frozenset[str]]:
    definitions = json.loads(DEFINITIONS.read_text())
    out: dict[str, frozenset[str]] = {}
    for name, definition in definitions.items():
        if name.startswith("io.k8s.") and definition.get("required"):
            out["k8s.io." + name[len("io.k8s."):]] = frozenset(definition["required"])
    return out


# message full name -> JSON names Go's JSON always writes (scalars among them are written even when zero).
REQUIRED: dict[str, frozenset[str]] = _required()


def message_name(api_version: str, kind: str) -> str | None:
    if kind == "DeleteOptions" and api_version in DELETE_OPTIONS_VERSIONS:
        return DELETE_OPTIONS
    return KINDS.get((api_version, kind))


def descriptor(full_name: str) -> Descriptor:
    return POOL.FindMessageTypeByName(full_name)


@functools.cache
def message_class(full_name: str) -> type[Message]:
    return message_factory.GetMessageClass(descriptor(full_name))
