"""What authentication + authorization + admission cost per request, with 200 RBAC bindings present.

    .venv/bin/python scripts/bench_apiserver_auth.py [--iterations 5000] [--seconds 5] [--clients 16]

1. In process (pure cores, no I/O): the chain the server runs for one `POST pods` by a user whose rights come
   from a RoleBinding — x509 authentication, Node,RBAC authorization over 200 RoleBindings + the bootstrap
   ClusterRoleBindings, and the mutating + validating admission chain — timed per request (p50/p99).
2. End to end: Debian's etcd + `python -m apiserver` on loopback, 16 concurrent HTTPS clients for a few seconds of
   GETs and of creates, once with auth (Node,RBAC, default admission plugins, a user bound by RoleBinding) and once
   without (anonymous + AlwaysAllow + no admission plugins): requests/s and p50/p99 latency.

A benchmark, not a test: it prints figures and the command that produced them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import ssl
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from apiserver.admission import Attributes as AdmissionAttributes  # noqa: E402
from apiserver.admission import Operation  # noqa: E402
from apiserver.authn.types import AuthRequest  # noqa: E402
from apiserver.authz.bootstrap import policy_objects  # noqa: E402
from apiserver.authz.request import authorize_request  # noqa: E402
from apiserver.http.security import CACHED_RESOURCES, AuthOptions, Security  # noqa: E402
from apiserver.request_info import parse_request_info  # noqa: E402
from apiserver.storage.lister import Lister  # noqa: E402

BINDINGS = 200
NAMESPACES = 1  # every binding in the namespace of the request: RBAC scans all 200 (the worst case)
DEFAULT_PLUGINS_OFF = ("NamespaceLifecycle,LimitRanger,ServiceAccount,DefaultTolerationSeconds,PodSecurity,"
                       "MutatingAdmissionWebhook,ValidatingAdmissionWebhook,ResourceQuota")


def pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(q * len(s)))]


def rbac_objects() -> list[tuple[str, str, str, dict[str, Any]]]:
    """(resource, namespace, name, object): the bootstrap policy plus BINDINGS RoleBindings in NAMESPACES
    namespaces, the user's own binding last in its namespace (the worst case for a linear scan)."""
    out: list[tuple[str, str, str, dict[str, Any]]] = []
    for obj in policy_objects():
        plural = "clusterroles" if obj["kind"] == "ClusterRole" else "clusterrolebindings"
        out.append((plural, "", obj["metadata"]["name"], obj))
    for i in range(BINDINGS - 1):
        ns = f"ns{i % NAMESPACES}"
        name = f"rb{i}"
        out.append(("rolebindings", ns, name, {
            "kind": "RoleBinding", "metadata": {"name": name, "namespace": ns},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "User", "name": f"user{i}"}]}))
    out.append(("rolebindings", "ns0", "bench-edit", {
        "kind": "RoleBinding", "metadata": {"name": "bench-edit", "namespace": "ns0"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
        "subjects": [{"kind": "User", "name": "bench"}]}))
    return out


def in_process(iterations: int, cert_der: bytes) -> dict[str, list[float]]:
    lister = Lister(CACHED_RESOURCES)
    rev = 1
    for plural, ns, name, obj in rbac_objects():
        lister.apply(plural, ns, name, obj, rev)
        rev += 1
    for i in range(NAMESPACES):
        lister.apply("namespaces", "", f"ns{i}", {"metadata": {"name": f"ns{i}"}}, rev)
        lister.apply("serviceaccounts", f"ns{i}", "default",
                     {"metadata": {"name": "default", "namespace": f"ns{i}", "uid": "u"}}, rev + 1)
        rev += 2
    security = Security(AuthOptions(), lister, clock=time.time, rng=random.Random(1))
    info = parse_request_info("POST", "/api/v1/namespaces/ns0/pods", {})
    req = AuthRequest(headers={}, peer_certificate=cert_der)
    times: dict[str, list[float]] = {"authn": [], "authz": [], "admission": [], "total": []}
    clock = time.perf_counter_ns
    for i in range(iterations):
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"p{i}", "namespace": "ns0"},
               "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]}}
        t0 = clock()
        user, ok, _ = security.authenticator.authenticate(req, time.time())
        assert ok and user is not None
        t1 = clock()
        allowed, msg = authorize_request(security.authorizer, user, info)
        assert allowed, msg
        t2 = clock()
        attrs = AdmissionAttributes(Operation.CREATE, "pods", f"p{i}", "ns0", "", "", "v1", "Pod", pod, None, user)
        security.chain.admit(attrs)
        security.chain.validate(attrs)
        t3 = clock()
        for key, a, b in (("authn", t0, t1), ("authz", t1, t2), ("admission", t2, t3), ("total", t0, t3)):
            times[key].append((b - a) / 1000.0)
    return times


async def load(url: str, ctx: ssl.SSLContext, clients: int, seconds: float,
               request: Callable[[Any, int], Any]) -> tuple[float, list[float], int]:
    import aiohttp

    latencies: list[float] = []
    errors = 0
    counter = 0
    deadline = time.monotonic() + seconds
    conn = aiohttp.TCPConnector(ssl=ctx, limit=clients)
    async with aiohttp.ClientSession(url, connector=conn) as session:
        async def worker() -> None:
            nonlocal errors, counter
            while time.monotonic() < deadline:
                counter += 1
                t0 = time.perf_counter()
                async with request(session, counter) as resp:
                    await resp.read()
                    if resp.status >= 300:
                        errors += 1
                latencies.append((time.perf_counter() - t0) * 1000)
        start = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.monotonic() - start
    return len(latencies) / elapsed, latencies, errors


def end_to_end(clients: int, seconds: float) -> dict[str, tuple[float, float, float, int]]:
    from raftkv import pki
    from tests.apiserver.fixtures import apiserver, etcd

    results: dict[str, tuple[float, float, float, int]] = {}
    for mode in ("auth", "no-auth"):
        tmp = tempfile.mkdtemp(prefix="bench-auth-")
        args = (["--authorization-mode", "AlwaysAllow", "--disable-admission-plugins", DEFAULT_PLUGINS_OFF]
                if mode == "no-auth" else [])
        try:
            with etcd(tmp) as etcd_url, apiserver(tmp, etcd_url, anonymous_auth=mode == "no-auth",
                                                  extra_args=args) as srv:
                admin = srv.ssl_context()
                import urllib.request
                for plural, ns, _name, obj in rbac_objects():
                    if plural != "rolebindings":
                        continue
                    for path, body in ((f"/api/v1/namespaces/{ns}", None),
                                       (f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings", obj)):
                        _post(urllib.request, srv.url, admin, path, body, ns)
                _post(urllib.request, srv.url, admin, "/api/v1/namespaces/ns0/configmaps",
                      {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "probe"}}, "")
                ctx = ssl.create_default_context(cafile=srv.ca)
                if mode == "auth":
                    bench = pki.issue(srv.pki_dir, "client", "bench", cn="bench")
                    ctx.load_cert_chain(bench.cert, bench.key)

                def get(session: Any, i: int) -> Any:
                    return session.get("/api/v1/namespaces/ns0/configmaps/probe")

                def create(session: Any, i: int) -> Any:
                    return session.post("/api/v1/namespaces/ns0/configmaps", json={
                        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"c{i}"}})

                for label, fn in (("GET", get), ("POST", create)):
                    rps, lat, errs = asyncio.run(load(srv.url, ctx, clients, seconds, fn))
                    results[f"{mode} {label}"] = (rps, pct(lat, 0.5), pct(lat, 0.99), errs)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return results


def _post(urllib_request: Any, url: str, ctx: ssl.SSLContext, path: str, body: Any, ns: str) -> None:
    import json
    import urllib.error

    if body is None:
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
        path = "/api/v1/namespaces"
    req = urllib_request.Request(url + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib_request.urlopen(req, context=ctx, timeout=30) as r:
            r.read()
    except urllib.error.HTTPError as e:
        if e.code != 409:
            raise RuntimeError(f"POST {path}: {e.code} {e.read().decode()}") from e


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--iterations", type=int, default=5000)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--skip-e2e", action="store_true")
    args = p.parse_args()
    print("command:", " ".join([os.path.relpath(sys.executable, ROOT), *sys.argv]))

    from cryptography.hazmat.primitives import serialization

    from tests.apiserver_auth.fixtures import client_cert
    cert = client_cert("bench", start_offset=time.time() - 1_800_000_000.0 - 3600, days=3650)
    der = cert.public_bytes(serialization.Encoding.DER)
    times = in_process(args.iterations, der)
    print(f"\nin process, {args.iterations} POST pods by a RoleBinding-bound user, {BINDINGS} RoleBindings + "
          f"bootstrap policy (microseconds):")
    print(f"  {'stage':<10} {'p50':>8} {'p99':>8} {'mean':>8}")
    for key, samples in times.items():
        print(f"  {key:<10} {pct(samples, 0.5):8.1f} {pct(samples, 0.99):8.1f} {statistics.fmean(samples):8.1f}")
    if args.skip_e2e or not (shutil.which("etcd")):
        return 0
    results = end_to_end(args.clients, args.seconds)
    print(f"\nend to end over HTTPS, {args.clients} clients, {args.seconds:.0f} s each, Debian etcd 3.4:")
    print(f"  {'run':<14} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for key, (rps, p50, p99, errs) in results.items():
        print(f"  {key:<14} {rps:8.0f} {p50:8.1f} {p99:8.1f} {errs:7d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
