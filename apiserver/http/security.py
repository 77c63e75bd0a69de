"""Assembly of authentication, authorization and admission from kube-apiserver's flags, and the per-request
admission hook the registry calls.

Everything that decides lives in the pure cores; this file wires them to the auth state cache (`Lister`), the
store (fresh ResourceQuota reads and guarded writes), the clock, and the network (admission webhooks):

- authentication: x509 client certificates, --token-auth-file, service account JWTs (--service-account-key-file,
  --service-account-signing-key-file, --service-account-issuer), then anonymous when --anonymous-auth is on;
- authorization: system:masters first, then --authorization-mode in order (default Node,RBAC);
- admission: the chain enabled by --enable/--disable-admission-plugins, mutating then validating, except
  ResourceQuota, which this file runs itself as the last validating step so that the quota's new usage is written
  in the same Txn as the object (quota never exceeded under concurrent creates).
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import ssl
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from apiserver import errors
from apiserver.admission import AdmissionError, Attributes, Operation, build_chain
from apiserver.admission.resource_quota import QuotaExceeded, check_quotas, usage_delta
from apiserver.admission.service_account import DEFAULT_SA, MIRROR_POD_ANNOTATION
from apiserver.admission.types import forbidden as admission_forbidden
from apiserver.admission.webhook import MutatingAdmissionWebhook, ValidatingAdmissionWebhook
from apiserver.api.resources import Resource
from apiserver.authn import jwt
from apiserver.authn.serviceaccount import ServiceAccountAuthenticator, TokenIssuer
from apiserver.authn.tokenfile import TokenFileAuthenticator
from apiserver.authn.types import Authenticator, UserInfo
from apiserver.authn.union import UnionAuthenticator, build_authenticator
from apiserver.authn.x509 import X509Authenticator
from apiserver.authz.modes import build_authorizer
from apiserver.authz.rbac import EscalationError, RBACAuthorizer, check_binding_write, check_role_write
from apiserver.registry.store import Guard, ListOptions, Registry
from apiserver.request_info import RequestInfo
from apiserver.storage.lister import Lister

DEFAULT_ISSUER = "https://kubernetes.default.svc.cluster.local"
MAX_WEBHOOK_RESPONSE_BYTES = 3 * 1024 * 1024
SA_LOOKUP_ATTEMPTS = 10  # kube-apiserver's for the `default` service account
# What the auth state cache holds: RBAC, the Node authorizer's pod graph, service account token checks, and the
# objects admission plugins read.
CACHED_RESOURCES = ("namespaces", "pods", "serviceaccounts", "secrets", "limitranges", "resourcequotas",
                    "priorityclasses", "roles",
                    "rolebindings",
                    "clusterroles", "clusterrolebindings", "mutatingwebhookconfigurations",
                    "validatingwebhookconfigurations")
RBAC_KINDS = {"roles": "Role", "clusterroles": "ClusterRole", "rolebindings": "RoleBinding",
              "clusterrolebindings": "ClusterRoleBinding"}


@dataclass(frozen=True)
class AuthOptions:
    anonymous_auth: bool = False
    token_auth_file: str = ""
    authorization_mode: tuple[str, ...] = ("Node", "RBAC")
    enable_admission_plugins: tuple[str, ...] = ()
    disable_admission_plugins: tuple[str, ...] = ()
    service_account_key_files: tuple[str, ...] = ()
    service_account_signing_key_file: str = ""
    service_account_issuers: tuple[str, ...] = ()
    api_audiences: tuple[str, ...] = ()


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def https_transport(url: str, body: dict[str, Any], timeout: float, ca_bundle: str) -> dict[str, Any]:
    """POSTs an AdmissionReview to a webhook over HTTPS, trusting the hook's caBundle (else the system roots).
    Blocking: the adapter runs the admission chain in a worker thread whenever a webhook is configured."""
    if not url.startswith("https://"):
        raise ValueError(f"webhook URL must use https: {url}")
    ctx = ssl.create_default_context(cadata=base64.b64decode(ca_bundle).decode() if ca_bundle else None)
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "Accept": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:  # noqa: S310 — https only, above
        result = json.loads(resp.read(MAX_WEBHOOK_RESPONSE_BYTES + 1))
    if not isinstance(result, dict):
        raise ValueError("webhook response is not a JSON object")
    return result


class Security:
    def __init__(self, opts: AuthOptions, lister: Lister, *, clock: Callable[[], float], rng: random.Random,
                 transport: Callable[[str, dict[str, Any], float, str], dict[str, Any]] = https_transport) -> None:
        self.opts = opts
        self.lister = lister
        self.clock = clock
        self.issuer: TokenIssuer | None = None
        self.issuers = list(opts.service_account_issuers) or [DEFAULT_ISSUER]
        self.api_audiences = list(opts.api_audiences) or self.issuers
        bearer: list[Authenticator] = []
        if opts.token_auth_file:
            bearer.append(TokenFileAuthenticator.from_csv(_read(opts.token_auth_file).decode()))
        keys: list[jwt.PublicKey] = []
        for path in opts.service_account_key_files:
            keys += jwt.load_public_keys(_read(path))
        if opts.service_account_signing_key_file:
            private = jwt.load_private_key(_read(opts.service_account_signing_key_file))
            self.issuer = TokenIssuer(private, self.issuers[0])
            if not opts.service_account_key_files:
                keys.append(private.public_key())
        if keys:
            bearer.append(ServiceAccountAuthenticator(keys, self.issuers, self.api_audiences, lister.lookup))
        # TokenReview judges bearer tokens only: never a certificate, never anonymous.
        self.token_authenticator = UnionAuthenticator(bearer)
        self.authenticator = build_authenticator([X509Authenticator(), *bearer], opts.anonymous_auth)
        self.authorizer = build_authorizer(opts.authorization_mode, lister, lister)
        self.rbac = RBACAuthorizer(lister)
        self.rules_complete = tuple(opts.authorization_mode) == ("RBAC",)

        def uid() -> str:
            return str(uuid.UUID(int=rng.getrandbits(128), version=4))

        def suffix() -> str:
            return "".join(rng.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))

        from apiserver.admission.service_account import ServiceAccount
        chain = build_chain(opts.enable_admission_plugins, lister, opts.disable_admission_plugins, extra={
            "ServiceAccount": lambda s: ServiceAccount(s, suffix),
            "MutatingAdmissionWebhook": lambda s: MutatingAdmissionWebhook(s, transport, uid),
            "ValidatingAdmissionWebhook": lambda s: ValidatingAdmissionWebhook(s, transport, uid)})
        self.quota_enabled = "ResourceQuota" in chain.names
        chain.plugins = [p for p in chain.plugins if p.name != "ResourceQuota"]
        self.chain = chain

    @property
    def admission_plugins(self) -> list[str]:
        return self.chain.names + (["ResourceQuota"] if self.quota_enabled else [])

    def has_webhooks(self) -> bool:
        return bool(self.lister.list("mutatingwebhookconfigurations", "")
                    or self.lister.list("validatingwebhookconfigurations", ""))


class RequestAdmission:
    """The `AdmissionHook` for one request: the admission chain, RBAC escalation checks on Role and Binding writes,
    and ResourceQuota accounting, all with the request's user and attributes."""

    def __init__(self, security: Security, registry: Registry, info: RequestInfo, resource: Resource,
                 user: UserInfo, dry_run: bool) -> None:
        self.security = security
        self.registry = registry
        self.info = info
        self.resource = resource
        self.user = user
        self.dry_run = dry_run

    def attributes(self, operation: str, obj: dict[str, Any] | None, old: dict[str, Any] | None) -> Attributes:
        r = self.resource
        name = self.info.name or ((obj or {}).get("metadata") or {}).get("name", "")
        return Attributes(Operation(operation), r.plural, name, self.info.namespace if r.namespaced else "",
                          self.info.subresource, r.group, r.version, r.kind, obj, old, self.user, self.dry_run)

    async def _run(self, phase: Callable[[Attributes], None], attrs: Attributes) -> None:
        try:
            if self.security.has_webhooks():
                await asyncio.to_thread(phase, attrs)  # a webhook call blocks; keep the event loop serving
            else:
                phase(attrs)
        except AdmissionError as e:
            raise errors.from_domain(e) from e

    async def mutate(self, operation: str, obj: dict[str, Any] | None,
                     old: dict[str, Any] | None) -> dict[str, Any] | None:
        attrs = self.attributes(operation, obj, old)
        if operation == "CREATE" and attrs.is_core("pods") and not attrs.subresource and obj is not None \
                and "ServiceAccount" in self.security.chain.names:
            await self._look_up_service_account(attrs.namespace, obj)
        await self._run(self.security.chain.admit, attrs)
        return attrs.object

    async def _look_up_service_account(self, namespace: str, pod: dict[str, Any]) -> None:
        """kube-apiserver's ServiceAccount plugin: a service account missing from the cache is read from the store,
        `default` up to 10 times 100-200 ms apart (kube-controller-manager's serviceaccount controller creates it
        just after the namespace). What is found goes into the cache the plugin reads."""
        if MIRROR_POD_ANNOTATION in ((pod.get("metadata") or {}).get("annotations") or {}):
            return
        name = (pod.get("spec") or {}).get("serviceAccountName") or DEFAULT_SA
        lister = self.security.lister
        if lister.get("serviceaccounts", namespace, name) is not None:
            return
        store = self.registry.store("", "serviceaccounts")
        assert store is not None
        interval = random.uniform(0.1, 0.2)
        for attempt in range(SA_LOOKUP_ATTEMPTS if name == DEFAULT_SA else 1):
            if attempt:
                await asyncio.sleep(interval)
                if lister.get("serviceaccounts", namespace, name) is not None:
                    return  # the watch brought it meanwhile
            try:
                sa = await store.get(namespace, name)
            except errors.APIError as e:
                if e.code != 404:
                    raise
                continue
            lister.apply("serviceaccounts", namespace, name, sa, int(sa["metadata"]["resourceVersion"]))
            return

    async def validate(self, operation: str, obj: dict[str, Any] | None, old: dict[str, Any] | None) -> list[Guard]:
        attrs = self.attributes(operation, obj, old)
        if operation in ("CREATE", "UPDATE") and obj is not None and self.resource.plural in RBAC_KINDS \
                and self.resource.group == "rbac.authorization.k8s.io":
            self._check_escalation(obj)
        await self._run(self.security.chain.validate, attrs)
        if operation == "CREATE" and self.security.quota_enabled and attrs.namespace and not attrs.subresource \
                and obj is not None:
            return await self._quota_guards(attrs, obj)
        return []

    def _check_escalation(self, obj: dict[str, Any]) -> None:
        if "system:masters" in self.user.groups:
            return  # kube's EscalationAllowed: the superuser group may grant anything, even unknown roles
        obj = {**obj, "kind": RBAC_KINDS[self.resource.plural]}
        try:
            if self.resource.plural in ("roles", "clusterroles"):
                check_role_write(self.user, obj, self.security.rbac)
            else:
                check_binding_write(self.user, obj, self.security.rbac)
        except EscalationError as e:
            name = (obj.get("metadata") or {}).get("name", "")
            raise errors.APIError(f'{self.resource.plural}.{self.resource.group} "{name}" is forbidden: {e}',
                                  "Forbidden", 403, name=name, group=self.resource.group,
                                  kind=self.resource.plural) from e

    # ------------------------------------------------------------------ ResourceQuota
    async def _fresh_quotas(self, namespace: str) -> list[dict[str, Any]]:
        store = self.registry.store("", "resourcequotas")
        if store is None:
            return []
        listed = await store.list(namespace, ListOptions())
        return list(listed["items"])

    async def _quota_guards(self, attrs: Attributes, obj: dict[str, Any]) -> list[Guard]:
        """Checks the create against the quotas as stored NOW and returns their new usage as Txn guards. The cache
        only says whether the namespace has quotas at all (this server's own writes reach it at once), so a
        namespace without quotas costs no store read."""
        if not self.security.lister.list("resourcequotas", attrs.namespace):
            return []
        quotas = await self._fresh_quotas(attrs.namespace)
        if not quotas:
            return []
        try:
            updates = check_quotas(quotas, usage_delta(attrs.resource, attrs.api_group, obj))
        except QuotaExceeded as e:
            raise errors.from_domain(admission_forbidden(attrs, e.message)) from e
        return self._guards(attrs.namespace, quotas, updates)

    def _guards(self, namespace: str, quotas: list[dict[str, Any]],
                updates: list[tuple[str, dict[str, str]]]) -> list[Guard]:
        store = self.registry.store("", "resourcequotas")
        assert store is not None
        by_name = {q["metadata"]["name"]: q for q in quotas}
        guards = []
        for name, used in updates:
            q = by_name[name]
            new = {**q, "status": {**(q.get("status") or {}), "used": used}}
            guards.append((store.key(namespace, name), int(q["metadata"]["resourceVersion"]), store.encode(new)))
        return guards


def parse_list(values: Sequence[str]) -> tuple[str, ...]:
    """Flags given as comma lists, possibly repeated (kube-apiserver accepts both)."""
    return tuple(v.strip() for item in values for v in item.split(",") if v.strip())
