"""Issue #13, as a new user meets it: one raftkv member over mTLS and `python -m apiserver` started with only the
flags a kube-apiserver user passes (no flag of our own), then the machine's kubectl 1.32 as an admin
(system:masters) and as a plain user. Each check is what a real kube-apiserver answers; the Service allocators are
also run through two API servers on one store and across a restart."""

from __future__ import annotations

import concurrent.futures
import contextlib
import http.client
import json
import os
import pathlib
import shutil
import ssl
import subprocess
import tempfile
import textwrap
import time
from collections.abc import Iterator

import pytest

from apiserver.kubeconfig import write_kubeconfig
from apiserver.registry import allocation
from raftkv import pki
from tests.apiserver.fixtures import APIServer, EtcdTLS, apiserver, etcd
from tests.apiserver.test_e2e_serving import COMPACTION_FLAG, assert_compacted_once_per_interval

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not (shutil.which("etcd") and shutil.which("kubectl")),
                                                  reason="needs etcd and kubectl")]
ADMISSION = "NamespaceLifecycle,LimitRanger,ServiceAccount,ResourceQuota,AlwaysPullImages,NodeRestriction"


def kube_flags(tls: EtcdTLS | None) -> list[str]:
    """The issue's flags beyond what the fixture always passes (--etcd-servers, --secure-port, --tls-*,
    --client-ca-file)."""
    flags = ["--bind-address", "127.0.0.1", "--authorization-mode", "Node,RBAC",
             "--enable-admission-plugins", ADMISSION]
    if tls is not None:
        flags += ["--etcd-cafile", tls.ca, "--etcd-certfile", tls.cert, "--etcd-keyfile", tls.key]
    return flags


@contextlib.contextmanager
def raftkv_member(tmp: str) -> Iterator[tuple[str, EtcdTLS]]:
    from tests.e2e.cluster import running_cluster
    with running_cluster("raftkv", pathlib.Path(tmp) / "raftkv", size=1) as cluster:
        p = cluster.pki
        yield cluster.endpoints[0], EtcdTLS(str(p / "ca.crt"), str(p / "client.crt"), str(p / "client.key"))


class User:
    def __init__(self, srv: APIServer, tmp: str, name: str, orgs: tuple[str, ...] = ()) -> None:
        self.tmp = tmp
        self.srv = srv
        if name == "admin":
            self.kubeconfig, self.cert, self.key = srv.kubeconfig, srv.client_cert, srv.client_key
        else:
            cert = pki.issue(srv.pki_dir, "client", name, cn=name, orgs=list(orgs))
            self.kubeconfig, self.cert, self.key = os.path.join(tmp, f"{name}.kubeconfig"), cert.cert, cert.key
            write_kubeconfig(self.kubeconfig, srv.url, ca_file=srv.ca, cert_file=cert.cert, key_file=cert.key)

    def request(self, method: str, path: str, body: object = None) -> tuple[int, dict]:
        ctx = ssl.create_default_context(cafile=self.srv.ca)
        ctx.load_cert_chain(self.cert, self.key)
        host, port = self.srv.url.split("//", 1)[1].rsplit(":", 1)
        conn = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=30)
        try:
            conn.request(method, path, body=json.dumps(body) if body is not None else None,
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            return resp.status, json.loads(resp.read())
        finally:
            conn.close()

    def kubectl(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "KUBECONFIG": self.kubeconfig, "HOME": self.tmp}
        return subprocess.run(["kubectl", *args], env=env, input=stdin, capture_output=True, text=True, timeout=60)

    def ok(self, *args: str, stdin: str | None = None) -> str:
        proc = self.kubectl(*args, stdin=stdin)
        assert proc.returncode == 0, f"kubectl {' '.join(args)}: {proc.stderr}"
        return proc.stdout

    def fails(self, *args: str, stdin: str | None = None) -> str:
        proc = self.kubectl(*args, stdin=stdin)
        assert proc.returncode != 0, f"kubectl {' '.join(args)} succeeded: {proc.stdout}"
        return proc.stderr.strip()

    def json(self, *args: str) -> dict:
        return json.loads(self.ok(*args, "-o", "json"))


@pytest.fixture(scope="module")
def kube_tmp() -> Iterator[str]:
    tmp = tempfile.mkdtemp(prefix="apiserver-kube-defaults-")
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def member(kube_tmp: str) -> Iterator[tuple[str, EtcdTLS]]:
    with raftkv_member(kube_tmp) as (url, tls):
        yield url, tls


@pytest.fixture(scope="module")
def kube(kube_tmp: str, member: tuple[str, EtcdTLS]) -> Iterator[tuple[APIServer, str]]:
    url, tls = member
    with apiserver(kube_tmp, url, etcd_client=tls, kube_flags_only=True, extra_args=kube_flags(tls)) as srv:
        yield srv, kube_tmp


@pytest.fixture(scope="module")
def admin(kube: tuple[APIServer, str]) -> User:
    srv, tmp = kube
    return User(srv, tmp, "admin")


def test_kubernetes_service_and_endpoints_exist_with_no_flag_given(kube, admin):
    srv, _ = kube
    port = int(srv.url.rsplit(":", 1)[1])
    svc = admin.json("get", "svc", "kubernetes")
    assert svc["metadata"]["labels"] == {"component": "apiserver", "provider": "kubernetes"}
    assert (svc["spec"]["clusterIP"], svc["spec"]["clusterIPs"], svc["spec"]["ipFamilies"]) == (
        "10.0.0.1", ["10.0.0.1"], ["IPv4"])
    assert svc["spec"]["ports"] == [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}]
    ep = admin.json("get", "endpoints", "kubernetes")
    assert ep["subsets"] == [{"addresses": [{"ip": "127.0.0.1"}],
                              "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}]
    sl = admin.json("get", "endpointslice", "kubernetes")
    assert sl["endpoints"][0]["addresses"] == ["127.0.0.1"] and sl["ports"][0]["port"] == port
    assert admin.ok("get", "svc", "kubernetes").splitlines()[1].split()[:3] == ["kubernetes", "ClusterIP",
                                                                              "10.0.0.1"]


def test_a_deleted_kubernetes_endpoints_comes_back(kube, admin):
    """Every API server re-adds itself every 10 s (kube's --endpoint-reconciler-interval)."""
    port = int(kube[0].url.rsplit(":", 1)[1])
    admin.ok("delete", "endpoints", "kubernetes")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        got = admin.kubectl("get", "endpoints", "kubernetes", "-o", "json")
        if got.returncode == 0:
            assert json.loads(got.stdout)["subsets"][0]["ports"][0]["port"] == port
            return
        time.sleep(0.5)
    pytest.fail("the kubernetes Endpoints were not re-created")


def test_cluster_ips_and_node_ports_are_allocated_checked_and_released(admin):
    admin.ok("create", "service", "clusterip", "web", "--tcp=80:8080")
    row = admin.ok("get", "svc", "web").splitlines()[1].split()
    ip = row[2]
    assert ip != "<none>" and allocation.IPRange.parse("10.0.0.0/24").offset(ip) is not None
    svc = admin.json("get", "svc", "web")
    assert (svc["spec"]["internalTrafficPolicy"], svc["spec"]["ipFamilyPolicy"]) == ("Cluster", "SingleStack")
    assert admin.fails("create", "service", "clusterip", "dup", "--tcp=80", f"--clusterip={ip}") == (
        f'error: failed to create ClusterIP service: Service "dup" is invalid: spec.clusterIPs: Invalid value: '
        f'[]string{{"{ip}"}}: failed to allocate IP {ip}: provided IP is already allocated')
    assert admin.fails("create", "service", "clusterip", "far", "--tcp=80", "--clusterip=10.9.9.9").endswith(
        "failed to allocate IP 10.9.9.9: provided IP is not in the valid range. The range of valid IPs is "
        "10.0.0.0/24")
    admin.ok("create", "service", "clusterip", "headless", "--clusterip=None")
    assert admin.json("get", "svc", "headless")["spec"]["clusterIPs"] == ["None"]

    admin.ok("create", "service", "nodeport", "np", "--tcp=80:8080", "--node-port=30080")
    assert admin.fails("create", "service", "nodeport", "np2", "--tcp=80:8080", "--node-port=30080") == (
        'error: failed to create NodePort service: Service "np2" is invalid: spec.ports[0].nodePort: Invalid value: '
        '30080: provided port is already allocated')
    assert admin.fails("create", "service", "nodeport", "np3", "--tcp=80:8080", "--node-port=8080").endswith(
        "spec.ports[0].nodePort: Invalid value: 8080: provided port is not in the valid range. The range of valid "
        "ports is 30000-32767")
    admin.ok("create", "service", "nodeport", "auto", "--tcp=80:8080")
    assert 30000 <= admin.json("get", "svc", "auto")["spec"]["ports"][0]["nodePort"] <= 32767
    # A type change and a delete give the port and the address back.
    admin.ok("patch", "svc", "np", "-p", '{"spec":{"type":"ClusterIP"}}')
    assert "nodePort" not in admin.json("get", "svc", "np")["spec"]["ports"][0]
    admin.ok("create", "service", "nodeport", "np2", "--tcp=80:8080", "--node-port=30080")
    admin.ok("delete", "svc", "web")
    admin.ok("create", "service", "clusterip", "dup", "--tcp=80", f"--clusterip={ip}")


def test_defaults_written_for_pods_and_services(admin):
    admin.ok("run", "p", "--image=nginx:1.25")
    pod = admin.json("get", "pod", "p")
    assert pod["spec"]["enableServiceLinks"] is True
    # the default-on Priority plugin, and the ServiceAccount plugin's token volume with its defaulted modes
    assert (pod["spec"]["priority"], pod["spec"]["preemptionPolicy"]) == (0, "PreemptLowerPriority")
    [token] = [v for v in pod["spec"]["volumes"] if v["name"].startswith("kube-api-access-")]
    assert token["projected"]["defaultMode"] == 420
    assert token["projected"]["sources"][2]["downwardAPI"]["items"][0]["fieldRef"] == {
        "apiVersion": "v1", "fieldPath": "metadata.namespace"}
    assert pod["spec"]["containers"][0]["imagePullPolicy"] == "Always"  # AlwaysPullImages is enabled


def test_deployment_selector_mismatch_is_kube_apiservers_message(admin):
    manifest = textwrap.dedent("""\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: bad}
        spec:
          selector: {matchLabels: {app: x}}
          template:
            metadata: {labels: {app: other}}
            spec: {containers: [{name: c, image: nginx:1.25}]}
        """)
    assert admin.fails("apply", "-f", "-", stdin=manifest) == (
        'The Deployment "bad" is invalid: spec.template.metadata.labels: Invalid value: '
        'map[string]string{"app":"other"}: `selector` does not match template `labels`')


def test_patch_then_server_side_apply_conflicts_with_kubectl_patch(admin, tmp_path):
    def manifest(replicas: int) -> str:
        return textwrap.dedent(f"""\
            apiVersion: apps/v1
            kind: Deployment
            metadata: {{name: ssa}}
            spec:
              replicas: {replicas}
              selector: {{matchLabels: {{app: ssa}}}}
              template:
                metadata: {{labels: {{app: ssa}}}}
                spec: {{containers: [{{name: c, image: nginx:1.25}}]}}
            """)
    admin.ok("apply", "-f", "-", stdin=manifest(2))
    admin.ok("patch", "deployment", "ssa", "-p", '{"spec":{"replicas":3}}')
    managers = {e["manager"] for e in admin.json("get", "deploy", "ssa", "--show-managed-fields")["metadata"][
        "managedFields"]}
    assert managers == {"kubectl-client-side-apply", "kubectl-patch"}
    path = tmp_path / "ssa.yaml"
    path.write_text(manifest(5))
    diff = admin.kubectl("diff", "-f", str(path))
    assert diff.returncode == 1 and "-  replicas: 3\n+  replicas: 5" in diff.stdout
    err = admin.fails("apply", "--server-side", "-f", str(path))
    assert 'Apply failed with 1 conflict: conflict with "kubectl-patch" using apps/v1: .spec.replicas' in err
    assert admin.json("get", "deploy", "ssa")["spec"]["replicas"] == 3


def test_plain_user_cannot_escalate_and_missing_namespace_is_not_found(kube, admin):
    srv, tmp = kube
    bob = User(srv, tmp, "bob")
    admin.ok("create", "rolebinding", "bob-view", "--clusterrole=view", "--user=bob", "-n", "default")
    assert bob.fails("create", "rolebinding", "x", "--clusterrole=cluster-admin", "--user=bob", "-n",
                     "default") == (
        'error: failed to create rolebinding: rolebindings.rbac.authorization.k8s.io is forbidden: User "bob" cannot '
        'create resource "rolebindings" in API group "rbac.authorization.k8s.io" in the namespace "default"')
    # The Status is apimachinery's NewForbidden: its details name the group and the resource (as kind).
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "x"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
               "subjects": [{"kind": "User", "name": "bob"}]}
    code, status = bob.request("POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings", binding)
    assert (code, status["reason"], status["details"]) == (
        403, "Forbidden", {"group": "rbac.authorization.k8s.io", "kind": "rolebindings"})
    code, status = admin.request("POST", "/api/v1/namespaces/nosuchns/configmaps",
                                 {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "q"}})
    assert (code, status["reason"], status["details"]) == (404, "NotFound", {"name": "nosuchns", "kind": "namespaces"})
    # With the right to create bindings, granting more than one holds is the escalation check's refusal.
    admin.ok("create", "role", "binder", "--verb=create", "--resource=rolebindings", "-n", "default")
    admin.ok("create", "rolebinding", "bob-binder", "--role=binder", "--user=bob", "-n", "default")
    assert bob.fails("create", "rolebinding", "x", "--clusterrole=cluster-admin", "--user=bob", "-n",
                     "default") == (
        'error: failed to create rolebinding: rolebindings.rbac.authorization.k8s.io "x" is forbidden: user "bob" '
        '(groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n'
        '{APIGroups:["*"], Resources:["*"], Verbs:["*"]}\n{NonResourceURLs:["*"], Verbs:["*"]}')
    assert admin.fails("create", "configmap", "q", "-n", "nosuchns") == (
        'error: failed to create configmap: namespaces "nosuchns" not found')


def _status(srv: APIServer, method: str, path: str, body: object = None) -> tuple[int, dict]:
    host, port = srv.url.split("//", 1)[1].rsplit(":", 1)
    conn = http.client.HTTPSConnection(host, int(port), context=srv.ssl_context(), timeout=30)
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None,
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def _stored_bits(etcd_url: str, key: str) -> int:
    out = subprocess.run(["etcdctl", f"--endpoints={etcd_url}", "get", key, "--print-value-only"], check=True,
                         capture_output=True, text=True, timeout=30, env={**os.environ, "ETCDCTL_API": "3"}).stdout
    return allocation.decode_bits(json.loads(out)["data"])


def _service(name: str, **spec: object) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"ports": [{"port": 80}], **spec}}


def test_two_api_servers_on_one_store_never_share_an_address_and_a_restart_keeps_them():
    """24 concurrent creates through two servers; then a restart after the bitmaps were deleted."""
    tmp = tempfile.mkdtemp(prefix="apiserver-alloc-")
    try:
        with etcd(tmp) as url:
            with apiserver(tmp, url, kube_flags_only=True, name="a") as a, \
                    apiserver(tmp, url, kube_flags_only=True, name="b") as b:
                jobs = [(srv, f"s{i}-{'a' if srv is a else 'b'}", "NodePort" if i % 3 == 0 else "ClusterIP")
                        for i in range(12) for srv in (a, b)]
                with concurrent.futures.ThreadPoolExecutor(len(jobs)) as pool:
                    results = list(pool.map(lambda j: _status(j[0], "POST", "/api/v1/namespaces/default/services",
                                                              _service(j[1], type=j[2])), jobs))
                assert [code for code, _ in results] == [201] * len(jobs), results
                ips = [body["spec"]["clusterIP"] for _, body in results]
                ports = [body["spec"]["ports"][0]["nodePort"] for _, body in results if body["spec"]["type"] ==
                         "NodePort"]
                assert len(set(ips)) == len(ips) and "10.0.0.1" not in ips and len(set(ports)) == len(ports)
                # The stored bitmaps hold exactly what the Services hold (kube-apiserver's RangeAllocation keys).
                cidr, node_ports = allocation.IPRange.parse("10.0.0.0/24"), allocation.PortRange.parse("30000-32767")
                assert _stored_bits(url, allocation.SERVICE_IPS_KEY) == sum(
                    1 << cidr.offset(ip) for ip in [*ips, "10.0.0.1"])
                assert _stored_bits(url, allocation.NODE_PORTS_KEY) == sum(1 << (p - node_ports.base) for p in ports)
                # Both servers listed themselves in the kubernetes Endpoints.
                _, ep = _status(a, "GET", "/api/v1/namespaces/default/endpoints/kubernetes")
                assert sorted(s["ports"][0]["port"] for s in ep["subsets"]) == sorted(
                    int(s.url.rsplit(":", 1)[1]) for s in (a, b))
                taken_ip, taken_port, a_port = ips[0], ports[0], int(a.url.rsplit(":", 1)[1])
            # A restart reads the allocations back from the store; with the bitmaps lost (deleted while no server
            # ran), the start-up repair rebuilds them from the stored Services.
            subprocess.run(["etcdctl", f"--endpoints={url}", "del", "--prefix", "/registry/ranges/"], check=True,
                           capture_output=True, timeout=30, env={**os.environ, "ETCDCTL_API": "3"})
            with apiserver(tmp, url, kube_flags_only=True, name="a", port=a_port) as again:
                code, body = _status(again, "POST", "/api/v1/namespaces/default/services",
                                     _service("late", clusterIP=taken_ip))
                assert code == 422 and body["message"].endswith("provided IP is already allocated")
                code, body = _status(again, "POST", "/api/v1/namespaces/default/services",
                                     _service("late", type="NodePort", ports=[{"port": 80, "nodePort": taken_port}]))
                assert code == 422 and body["message"].endswith("provided port is already allocated")
                code, _ = _status(again, "DELETE", f"/api/v1/namespaces/default/services/{jobs[0][1]}")
                assert code == 200
                code, body = _status(again, "POST", "/api/v1/namespaces/default/services",
                                     _service("late", clusterIP=taken_ip))
                assert code == 201 and body["spec"]["clusterIP"] == taken_ip
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_started_as_the_documented_minimal_kube_apiserver_command(tmp_path):
    """kube-apiserver's minimal working flag set (etcd, the service account issuer and keys, serving TLS), written
    `--flag=value` as its documentation does; everything else is left to the defaults."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "sa.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                        serialization.PrivateFormat.TraditionalOpenSSL,
                                                        serialization.NoEncryption()))
    (tmp_path / "sa.pub").write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                                    serialization.PublicFormat.SubjectPublicKeyInfo))
    tmp = str(tmp_path)
    with etcd(tmp) as url, apiserver(tmp, url, kube_flags_only=True, extra_args=[
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={tmp_path / 'sa.pub'}",
            f"--service-account-signing-key-file={tmp_path / 'sa.key'}"]) as srv:
        admin = User(srv, tmp, "admin")
        assert admin.json("get", "svc", "kubernetes")["spec"]["clusterIP"] == "10.0.0.1"
        admin.ok("create", "deployment", "web", "--image=nginx:1.25")
        admin.ok("expose", "deployment", "web", "--port=80")
        assert admin.json("get", "svc", "web")["spec"]["clusterIP"].startswith("10.0.0.")
        token = admin.ok("create", "token", "default").strip()
        whoami = admin.ok("auth", "whoami", f"--token={token}", "--kubeconfig", os.devnull, f"--server={srv.url}",
                          f"--certificate-authority={srv.ca}")
        assert "system:serviceaccount:default:default" in whoami
        # --anonymous-auth defaults to true: an anonymous caller may read /version (system:public-info-viewer).
        host, port = srv.url.split("//", 1)[1].rsplit(":", 1)
        conn = http.client.HTTPSConnection(host, int(port), context=ssl.create_default_context(cafile=srv.ca),
                                           timeout=30)
        conn.request("GET", "/version")
        resp = conn.getresponse()
        assert resp.status == 200 and json.loads(resp.read())["major"] == "1"
        conn.request("GET", "/api/v1/namespaces/default/pods")
        resp = conn.getresponse()
        assert resp.status == 403 and 'User "system:anonymous" cannot list resource "pods"' in json.loads(
            resp.read())["message"]
        conn.close()


def test_a_quota_is_enforced_from_its_status_only(admin):
    """kube-apiserver charges creates against status.hard and status.used, which only kube-controller-manager's
    resourcequota controller writes (none runs here): a quota without status limits nothing yet, one whose
    status.used lacks a resource of status.hard refuses with "status unknown", and a create that fits is charged
    in the quota's status."""
    admin.ok("create", "namespace", "quota-status")
    base = "/api/v1/namespaces/quota-status"
    code, q = admin.request("POST", f"{base}/resourcequotas", {
        "apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q"},
        "spec": {"hard": {"configmaps": "1", "secrets": "1"}},
        "status": {"hard": {"configmaps": "1"}, "used": {"configmaps": "0"}}})
    assert code == 201 and q["status"] == {}, "a quota's status is emptied on create"
    for name in ("free-1", "free-2"):
        code, _ = admin.request("POST", f"{base}/configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                                                               "metadata": {"name": name}})
        assert code == 201, "no status yet: the quota limits nothing"
    q["status"] = {"hard": {"configmaps": "1", "secrets": "1"}, "used": {"configmaps": "2"}}
    code, q = admin.request("PUT", f"{base}/resourcequotas/q/status", q)
    assert code == 200, q
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}
    code, status = admin.request("POST", f"{base}/secrets", secret)
    assert (code, status["message"]) == (403, 'secrets "s" is forbidden: status unknown for quota: q, resources: '
                                               'secrets')
    code, status = admin.request("POST", f"{base}/configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                                                                "metadata": {"name": "over"}})
    assert (code, status["message"]) == (403, 'configmaps "over" is forbidden: exceeded quota: q, requested: '
                                               'configmaps=1, used: configmaps=2, limited: configmaps=1')
    q["status"]["used"]["secrets"] = "0"
    code, q = admin.request("PUT", f"{base}/resourcequotas/q/status", q)
    assert code == 200, q
    code, _ = admin.request("POST", f"{base}/secrets", secret)
    assert code == 201
    code, q = admin.request("GET", f"{base}/resourcequotas/q")
    assert q["status"]["used"] == {"configmaps": "2", "secrets": "1"}


def test_a_node_keeps_its_status_on_create(admin):
    """As kubelets register: 1.32's nodeStrategy keeps a Node's status on create (a pod's or a quota's is reset)."""
    status = {"capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
              "addresses": [{"type": "InternalIP", "address": "10.9.0.7"}],
              "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "ok",
                              "lastHeartbeatTime": "2026-01-01T00:00:00Z",
                              "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
    code, node = admin.request("POST", "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node",
                                                         "metadata": {"name": "registered"}, "status": status})
    assert code == 201, node
    assert node["status"]["capacity"] == status["capacity"] and node["status"]["allocatable"] == status["capacity"]
    assert node["status"]["addresses"] == status["addresses"] and node["status"]["conditions"] == status["conditions"]
    assert "10.9.0.7" in admin.ok("get", "node", "registered", "-o", "wide")
    admin.ok("delete", "node", "registered")


def test_two_api_servers_on_raftkv_compact_it_once_per_interval(kube, member):
    """kube-apiserver's compactor on the module's raftkv member (last here: it compacts the member's history)."""
    (url, tls), tmp = member, kube[1]
    with apiserver(tmp, url, etcd_client=tls, name="compact-a", controllers=(), extra_args=[COMPACTION_FLAG]) as a, \
            apiserver(tmp, url, etcd_client=tls, name="compact-b", controllers=(), extra_args=[COMPACTION_FLAG]) as b:
        assert_compacted_once_per_interval(a, b, [f"--endpoints={url}", f"--cacert={tls.ca}", f"--cert={tls.cert}",
                                                  f"--key={tls.key}"])
