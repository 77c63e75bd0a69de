"""The pod workers' view of the API server (the Host protocol): Events with the container's fieldPath, the
ConfigMaps and Secrets a pod references (read one by one, as the Node authorizer allows), Services for the
service-link variables, and projected service-account tokens from the TokenRequest API."""

from __future__ import annotations

import logging
import time
from typing import Any

from agents.kubelet.envvars import EnvSources
from agents.kubelet.volumes import VolumeInputs, token_requests
from controllers.machinery.client import APIError, RESTClient
from controllers.machinery.events import EventRecorder
from controllers.machinery.informer import Informer
from controllers.machinery.resources import CONFIGMAPS, SECRETS, Resource

log = logging.getLogger(__name__)
Obj = dict[str, Any]
SERVICEACCOUNTS = Resource("", "v1", "serviceaccounts", "ServiceAccount")
TOKEN_REFRESH_FRACTION = 0.8  # the kubelet refreshes a token after 80% of its life


def referenced(pod: Obj) -> tuple[set[str], set[str]]:
    """Names of the ConfigMaps and Secrets a pod's env, envFrom and volumes mention."""
    cms: set[str] = set()
    secrets: set[str] = set()
    spec = pod.get("spec") or {}
    for c in list(spec.get("initContainers") or []) + list(spec.get("containers") or []):
        for e in c.get("env") or []:
            vf = e.get("valueFrom") or {}
            if "configMapKeyRef" in vf:
                cms.add(vf["configMapKeyRef"]["name"])
            if "secretKeyRef" in vf:
                secrets.add(vf["secretKeyRef"]["name"])
        for ef in c.get("envFrom") or []:
            if "configMapRef" in ef:
                cms.add(ef["configMapRef"]["name"])
            if "secretRef" in ef:
                secrets.add(ef["secretRef"]["name"])
    for v in spec.get("volumes") or []:
        if "configMap" in v:
            cms.add(v["configMap"]["name"])
        if "secret" in v:
            secrets.add(v["secret"]["secretName"])
        for s in (v.get("projected") or {}).get("sources") or []:
            if "configMap" in s:
                cms.add(s["configMap"]["name"])
            if "secret" in s:
                secrets.add(s["secret"]["name"])
    return cms, secrets


class APIHost:
    def __init__(self, client: RESTClient, recorder: EventRecorder, services: Informer, root_dir: str,
                 host_ip: str, allocatable: dict[str, str]) -> None:
        self.client = client
        self.recorder = recorder
        self.services = services
        self.root_dir = root_dir
        self.host_ip = host_ip
        self.allocatable = allocatable
        self._tokens: dict[tuple[str, str, int], tuple[str, float]] = {}

    def event(self, pod: Obj, field_path: str, type_: str, reason: str, message: str) -> None:
        ref = {"apiVersion": "v1", "kind": "Pod", "metadata": pod.get("metadata") or {}}
        if field_path:
            ref["fieldPath"] = field_path
        self.recorder.event(ref, type_, reason, message)

    async def _get_all(self, res: Resource, ns: str, names: set[str]) -> dict[str, Obj]:
        out = {}
        for name in sorted(names):
            try:
                out[name] = await self.client.get(res, ns, name)
            except APIError as e:
                if not e.not_found:
                    raise
        return out

    async def env_sources(self, pod: Obj) -> EnvSources:
        ns = pod["metadata"].get("namespace", "default")
        cms, secrets = referenced(pod)
        services = [s for s in self.services.store.list() if s["metadata"].get("namespace") == ns]
        master = [s for s in self.services.store.list()
                  if s["metadata"].get("namespace") == "default" and s["metadata"]["name"] == "kubernetes"]
        ips = [i["ip"] for i in (pod.get("status") or {}).get("podIPs") or []]
        return EnvSources(config_maps=await self._get_all(CONFIGMAPS, ns, cms),
                          secrets=await self._get_all(SECRETS, ns, secrets), services=services,
                          master_services=master, node_allocatable=dict(self.allocatable), host_ip=self.host_ip,
                          pod_ips=ips)

    async def _token(self, pod: Obj, audience: str, expiration: int) -> str | None:
        meta = pod["metadata"]
        key = (meta["uid"], audience, expiration)
        cached = self._tokens.get(key)
        if cached and time.time() < cached[1]:
            return cached[0]
        sa = (pod.get("spec") or {}).get("serviceAccountName") or "default"
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                "spec": {"audiences": [audience] if audience else None, "expirationSeconds": expiration,
                         "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": meta["name"],
                                            "uid": meta["uid"]}}}
        if not audience:
            del body["spec"]["audiences"]  # type: ignore[attr-defined]
        try:
            resp = await self.client.create(SERVICEACCOUNTS, meta.get("namespace"), body, subresource="token",
                                            name=sa)
        except APIError as e:
            log.warning("token for %s/%s: %s", meta.get("namespace"), meta["name"], e.message)
            return None
        token = resp["status"]["token"]
        self._tokens[key] = (token, time.time() + expiration * TOKEN_REFRESH_FRACTION)
        return str(token)

    async def volume_inputs(self, pod: Obj) -> VolumeInputs:
        tokens = {}
        for aud, exp in token_requests(pod):
            tok = await self._token(pod, aud, exp)
            if tok is not None:
                tokens[(aud, exp)] = tok
        return VolumeInputs(root_dir=self.root_dir, sources=await self.env_sources(pod), tokens=tokens)

    async def pull_secrets(self, pod: Obj) -> list[Obj]:
        """The pod's imagePullSecrets that exist (a missing one is skipped, as the kubelet does)."""
        names = {r.get("name", "") for r in (pod.get("spec") or {}).get("imagePullSecrets") or [] if r.get("name")}
        return list((await self._get_all(SECRETS, pod["metadata"].get("namespace", "default"), names)).values())

    def forget(self, uid: str) -> None:
        self._tokens = {k: v for k, v in self._tokens.items() if k[0] != uid}
