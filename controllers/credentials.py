"""--use-service-account-credentials: each controller calls the API as `kube-system/<its service account>`.

As kube-controller-manager's DynamicControllerClientBuilder: the manager (with its own identity) makes sure the
service account exists, asks the TokenRequest API for a token (1 h), and asks again before 80% of the token's life
has passed. The API server's bootstrap policy binds `system:controller:<sa>` ClusterRoles to those accounts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from controllers.machinery.client import APIError, RESTClient
from controllers.machinery.resources import SERVICEACCOUNTS

log = logging.getLogger(__name__)

NAMESPACE = "kube-system"
TOKEN_EXPIRATION_S = 3600
REFRESH_FRACTION = 0.8


class ServiceAccountTokenSource:
    """An async callable returning a valid bearer token for `kube-system/<name>`."""

    def __init__(self, root: RESTClient, name: str, namespace: str = NAMESPACE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.root = root
        self.name = name
        self.namespace = namespace
        self.clock = clock
        self._token = ""
        self._refresh_at = 0.0
        self._lock = asyncio.Lock()
        self.fetches = 0  # tokens requested so far (tests, metrics)

    async def __call__(self) -> str:
        if self._token and self.clock() < self._refresh_at:
            return self._token
        async with self._lock:
            if not self._token or self.clock() >= self._refresh_at:
                await self._fetch()
        return self._token

    def invalidate(self) -> None:
        """Forget the token (the API server refused it): the next call asks for a new one."""
        self._token = ""
        self._refresh_at = 0.0

    async def ensure_service_account(self) -> None:
        try:
            await self.root.get(SERVICEACCOUNTS, self.namespace, self.name)
        except APIError as e:
            if not e.not_found:
                raise
            try:
                await self.root.create(SERVICEACCOUNTS, self.namespace,
                                       {"apiVersion": "v1", "kind": "ServiceAccount",
                                        "metadata": {"name": self.name, "namespace": self.namespace}})
            except APIError as e2:
                if not e2.already_exists:
                    raise

    async def _fetch(self) -> None:
        self.fetches += 1
        started = self.clock()
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                "spec": {"expirationSeconds": TOKEN_EXPIRATION_S}}
        try:
            answer = await self.root.create(SERVICEACCOUNTS, self.namespace, body, subresource="token",
                                            name=self.name)
        except APIError as e:
            if not e.not_found:
                raise
            await self.ensure_service_account()
            answer = await self.root.create(SERVICEACCOUNTS, self.namespace, body, subresource="token",
                                            name=self.name)
        self._token = answer["status"]["token"]
        life = float((answer.get("spec") or {}).get("expirationSeconds") or TOKEN_EXPIRATION_S)
        self._refresh_at = started + life * REFRESH_FRACTION
        log.debug("got a token for %s/%s, valid %ds", self.namespace, self.name, life)
