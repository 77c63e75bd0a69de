"""The ServiceAccount controller's and the root-ca-cert-publisher's pure cores, table-driven."""

from __future__ import annotations

from typing import Any

import pytest

from controllers.machinery.actions import Create, Update
from controllers.machinery.resources import CONFIGMAPS, SERVICEACCOUNTS
from controllers.rootcacert import reconcile as rootca
from controllers.serviceaccount import reconcile as sa
from tests.controllers.svcpods import body

pytestmark = pytest.mark.unit

Obj = dict[str, Any]
CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def ns(name: str = "team", phase: str | None = "Active") -> Obj:
    obj: Obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    if phase:
        obj["status"] = {"phase": phase}
    return obj


DEFAULT_SA = Create(SERVICEACCOUNTS, "team", {"apiVersion": "v1", "kind": "ServiceAccount",
                                              "metadata": {"name": "default", "namespace": "team"}})

SA_CASES = [
    ("a new namespace gets its default account", ns(), set(), [DEFAULT_SA]),
    ("recreated after deletion: only the missing one", ns(), {"builder"}, [DEFAULT_SA]),
    ("an existing default account is left alone", ns(), {"default"}, []),
    ("a terminating namespace gets nothing", ns(phase="Terminating"), set(), []),
    ("a namespace without a phase yet gets nothing", ns(phase=None), set(), []),
    ("a deleted namespace gets nothing", None, set(), []),
]


@pytest.mark.parametrize("namespace,existing,want", [c[1:] for c in SA_CASES], ids=[c[0] for c in SA_CASES])
def test_service_accounts(namespace: Obj | None, existing: set[str], want: list[Any]) -> None:
    assert sa.reconcile(namespace, existing) == want


def test_several_accounts_to_ensure() -> None:
    got = sa.reconcile(ns(), {"a"}, wanted=("a", "b", "default"))
    assert [body(a)["metadata"]["name"] for a in got if isinstance(a, Create)] == ["b", "default"]


DESCRIPTION = ("Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such "
               "as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across "
               "distributions of Kubernetes clusters.")


def cm(data: Obj | None = None, annotations: Obj | None = None, **meta: Any) -> Obj:
    md: Obj = {"name": "kube-root-ca.crt", "namespace": "team", "resourceVersion": "4", "uid": "u1", **meta}
    if annotations is not None:
        md["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": md, "data": {"ca.crt": CA} if data is None else data}


def test_missing_configmap_is_created_with_the_bundle_and_description() -> None:
    assert rootca.reconcile("team", None, CA) == [Create(CONFIGMAPS, "team", {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "kube-root-ca.crt", "namespace": "team",
                     "annotations": {"kubernetes.io/description": DESCRIPTION}},
        "data": {"ca.crt": CA}})]


ROOTCA_CASES = [
    ("correct: no write", cm(annotations={"kubernetes.io/description": DESCRIPTION}), None),
    ("any non-empty description is accepted", cm(annotations={"kubernetes.io/description": "mine"}), None),
    ("edited bundle is put back", cm(data={"ca.crt": "forged"}, annotations={"kubernetes.io/description": "x"}),
     {"data": {"ca.crt": CA}, "annotations": {"kubernetes.io/description": DESCRIPTION}}),
    ("an added key is removed", cm(data={"ca.crt": CA, "extra": "1"}, annotations={"kubernetes.io/description": "x"}),
     {"data": {"ca.crt": CA}, "annotations": {"kubernetes.io/description": DESCRIPTION}}),
    ("a removed description comes back, other annotations kept", cm(annotations={"team": "a"}),
     {"data": {"ca.crt": CA}, "annotations": {"team": "a", "kubernetes.io/description": DESCRIPTION}}),
    ("an empty description counts as missing", cm(annotations={"kubernetes.io/description": ""}),
     {"data": {"ca.crt": CA}, "annotations": {"kubernetes.io/description": DESCRIPTION}}),
]


@pytest.mark.parametrize("current,want", [c[1:] for c in ROOTCA_CASES], ids=[c[0] for c in ROOTCA_CASES])
def test_root_ca_configmap_kept_correct(current: Obj, want: Obj | None) -> None:
    got = rootca.reconcile("team", current, CA)
    if want is None:
        assert got == []
        return
    [action] = got
    assert isinstance(action, Update) and action.name == "kube-root-ca.crt"
    assert body(action)["data"] == want["data"]
    assert body(action)["metadata"]["annotations"] == want["annotations"]
    assert body(action)["metadata"]["resourceVersion"] == "4"
