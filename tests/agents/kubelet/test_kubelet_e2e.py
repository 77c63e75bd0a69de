"""raftkv-kubelet against a real API server and raftkv-cri (real netns, cgroups, processes), as root.

One node per module: it registers, renews its Lease, runs pods bound to it to Ready, restarts on a failing
liveness probe with growing back-off, reports image, config and start errors as the kubelet does, stops pods
within their grace period, honours restart policies and memory limits, adopts running containers after a
restart, and runs static pods with mirror pods.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import shutil
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import pytest

from agents.cri import api
from raftkv import pki
from tests.agents.kubelet.harness import (
    CLUSTER_DNS,
    HOST_RESOLV_CONF,
    PIDS_LIMIT,
    KubeletProcess,
    Pods,
    container,
    cstatus,
    drain,
    pod_manifest,
    start_cri,
    stop_cri,
    waiting_reason,
)
from tests.conftest import wait_for
from tests.controllers.cluster import ControlPlane, control_plane
from tests.cri.conftest import CRI, missing_tools

pytestmark = pytest.mark.e2e
Obj = dict[str, Any]
HTTPD = ("httpd", "-f", "-p", "8080", "-h", "/www")


class Env:
    def __init__(self, cp: ControlPlane, kubelet: KubeletProcess, cri: CRI, ns: str) -> None:
        self.cp, self.kubelet, self.cri, self.image, self.ns = cp, kubelet, cri, cri.image, ns
        self.node = kubelet.node
        self.pods = Pods(cp, ns)

    def pod(self, name: str, *containers: Obj, **spec: Any) -> Obj:
        return self.pods.create(pod_manifest(name, self.node, *containers, **spec))

    def c(self, name: str, *command: str, **more: Any) -> Obj:
        return container(name, self.image, *command, **more)


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    reason = missing_tools()
    if reason:
        pytest.skip(reason)
    tmp = tempfile.mkdtemp(prefix="kubelet-e2e-")
    with control_plane("etcd", background=("serviceaccount", "root-ca-cert-publisher")) as cp:
        cri = start_cri(os.path.join(tmp, "cri"))
        kubelet = KubeletProcess(cp, cri, tmp, "kn-" + secrets.token_hex(3))
        try:
            kubelet.start()
            ns = "kl-" + secrets.token_hex(3)
            cp.create_namespace(ns)
            cp.wait(lambda: cp.get(f"/api/v1/namespaces/{ns}/serviceaccounts/default"), 30, "the default SA")
            cp.wait(lambda: cp.get(f"/api/v1/namespaces/{ns}/configmaps/kube-root-ca.crt"), 30, "kube-root-ca.crt")
            yield Env(cp, kubelet, cri, ns)
            drain(cp, ns, cri.socket)
        finally:
            kubelet.stop()
            stop_cri(cri)
            shutil.rmtree(tmp, ignore_errors=True)


def ready(pod: Obj) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in (pod.get("status") or {}).get("conditions") or [])


def test_the_node_registers_with_its_identity_and_renews_its_lease(env: Env) -> None:
    node = env.cp.api("GET", f"/api/v1/nodes/{env.node}")
    assert node["status"]["nodeInfo"]["kubeletVersion"] == "v1.32.0"
    version = env.cri.runtime.Version(api.VersionRequest(), timeout=5)
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"] == \
        f"{version.runtime_name}://{version.runtime_version}"
    assert node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"] == env.kubelet.port
    assert {"type": "InternalIP", "address": "127.0.0.1"} in node["status"]["addresses"]
    assert node["metadata"]["labels"]["raftkv.io/test"] == "kubelet"
    assert node["status"]["capacity"]["pods"] == "20"
    conds = {c["type"]: c["status"] for c in node["status"]["conditions"]}
    assert conds == {"MemoryPressure": "False", "DiskPressure": "False", "PIDPressure": "False", "Ready": "True"}
    path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{env.node}"
    first = env.cp.api("GET", path)["spec"]["renewTime"]
    # nodeLeaseDurationSeconds 8 in the KubeletConfiguration: renewed every 2 s
    env.cp.wait(lambda: env.cp.api("GET", path)["spec"]["renewTime"] != first, 15, "the lease to be renewed")
    # the Node authorizer and NodeRestriction apply to the kubelet's identity: another node is off limits
    other = "other-" + secrets.token_hex(3)
    env.cp.api("POST", "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": other}})
    try:
        env_ = dict(os.environ, HOME=env.kubelet.tmp)
        p = subprocess.run(["kubectl", "--kubeconfig", env.kubelet.kubeconfig, "label", "node", other, "x=y"],
                           capture_output=True, text=True, env=env_, timeout=60)
        assert p.returncode != 0 and "forbidden" in p.stderr.lower(), p.stderr
        p = subprocess.run(["kubectl", "--kubeconfig", env.kubelet.kubeconfig, "label", "node", env.node, "x=y"],
                           capture_output=True, text=True, env=env_, timeout=60)
        assert p.returncode == 0, p.stderr
    finally:
        env.cp.api("DELETE", f"/api/v1/nodes/{other}")


def test_a_pod_runs_and_is_ready(env: Env) -> None:
    probe = {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 1}
    env.pod("web", env.c("web", "sh", "-c", "mkdir -p /www && echo hello > /www/index.html && exec " +
                         " ".join(HTTPD), readinessProbe=probe, ports=[{"containerPort": 8080}]))
    pod = env.pods.wait("web", ready, "the pod to be Ready")
    st = pod["status"]
    assert st["phase"] == "Running" and st["hostIP"] == "127.0.0.1" and st["podIP"]
    assert [c["type"] for c in st["conditions"]] == ["PodReadyToStartContainers", "Initialized", "Ready",
                                                     "ContainersReady", "PodScheduled"]
    cs = cstatus(pod)
    assert cs["ready"] and cs["started"] and cs["restartCount"] == 0 and "running" in cs["state"]
    assert cs["containerID"].split("://")[1] and cs["imageID"]
    assert st["qosClass"] == "BestEffort"
    reasons = [(e["reason"], e["message"]) for e in env.pods.events("web")]
    assert ("Created", "Created container: web") in reasons and ("Started", "Started container web") in reasons
    assert ("Pulled", f'Container image "{env.image}" already present on machine') in reasons
    out = env.cp.kubectl("get", "pod", "web", "-n", env.ns).stdout
    assert "1/1" in out and "Running" in out


def _kubelet_get(env: Env, path: str, cert: str, key: str) -> tuple[int, str]:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the kubelet's self-signed serving certificate
    ctx.load_cert_chain(cert, key)
    conn = http.client.HTTPSConnection("127.0.0.1", env.kubelet.port, context=ctx, timeout=10)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read().decode(errors="replace")
    finally:
        conn.close()


def test_container_logs_from_the_kubelets_https_server_with_authorization(env: Env) -> None:
    env.pod("talker", env.c("c", "sh", "-c", "echo hello-from-talker; echo oops >&2; exec sleep 3600"))
    env.pods.wait("talker", lambda p: "running" in cstatus(p).get("state", {}), "running", 30)
    admin = env.cp.server
    path = f"/containerLogs/{env.ns}/talker/c"
    seen: list[tuple[int, str]] = []

    def both_lines() -> bool:
        seen.append(_kubelet_get(env, path, admin.client_cert, admin.client_key))
        return "oops" in seen[-1][1]
    wait_for(both_lines, 20, "both lines in the log", interval=0.1)
    code, body = seen[-1]
    assert code == 200 and "hello-from-talker\n" in body and "oops\n" in body, (code, body)
    # a verified certificate without RBAC rights on nodes/proxy is refused by the SubjectAccessReview
    nobody = pki.issue(admin.pki_dir, "client", "nobody-" + secrets.token_hex(2), cn="nobody", orgs=[])
    code, body = _kubelet_get(env, path, nobody.cert, nobody.key)
    assert code == 403, (code, body)
    code, body = _kubelet_get(env, f"/containerLogs/{env.ns}/no-such-pod/c", admin.client_cert, admin.client_key)
    assert code == 404, (code, body)


def _liveness_pod(env: Env, name: str) -> None:
    probe = {"httpGet": {"path": "/healthz", "port": 8080}, "initialDelaySeconds": 1, "periodSeconds": 1,
             "failureThreshold": 2}
    env.pod(name, env.c(name, "sh", "-c", "mkdir -p /www && exec " + " ".join(HTTPD), livenessProbe=probe),
            terminationGracePeriodSeconds=1)


def test_liveness_failure_restarts_into_crash_loop_back_off(env: Env) -> None:
    _liveness_pod(env, "live")
    pod = env.pods.wait("live", lambda p: waiting_reason(p) == "CrashLoopBackOff", "CrashLoopBackOff", timeout=60)
    assert cstatus(pod)["restartCount"] >= 1
    assert cstatus(pod)["state"]["waiting"]["message"].startswith("back-off 10s restarting failed container=live pod=live_")
    assert cstatus(pod)["lastState"]["terminated"]["exitCode"] in (137, 143)
    reasons = [(e["reason"], e["message"]) for e in env.pods.events("live")]
    assert ("Unhealthy", "Liveness probe failed: HTTP probe failed with statuscode: 404") in reasons
    assert ("Killing", "Container live failed liveness probe, will be restarted") in reasons


@pytest.mark.slow
def test_liveness_restarts_climb_with_growing_back_off(env: Env) -> None:
    _liveness_pod(env, "live2")
    pod = env.pods.wait("live2", lambda p: cstatus(p).get("restartCount", 0) >= 2 and
                        "back-off 20s" in cstatus(p).get("state", {}).get("waiting", {}).get("message", ""),
                        "the second back-off", timeout=90)
    assert waiting_reason(pod) == "CrashLoopBackOff"


def test_missing_image_is_err_image_pull_then_image_pull_back_off(env: Env) -> None:
    env.pod("noimg", container("c", "localhost/does-not-exist:1", "true"))
    # ErrImagePull shows until the next sync (a second later) turns it into ImagePullBackOff: the events keep both
    pod = env.pods.wait("noimg", lambda p: waiting_reason(p) == "ImagePullBackOff", "ImagePullBackOff", timeout=30)
    failed = [e["message"] for e in env.pods.events("noimg") if e["reason"] == "Failed"]
    assert "Error: ErrImagePull" in failed and "Error: ImagePullBackOff" in failed, failed
    assert cstatus(pod)["state"]["waiting"]["message"] == 'Back-off pulling image "localhost/does-not-exist:1"'
    assert pod["status"]["phase"] == "Pending"
    assert any(e["reason"] == "Failed" and e["message"].startswith('Failed to pull image "localhost/does-not-exist:1"')
               for e in env.pods.events("noimg"))


def test_missing_config_map_is_create_container_config_error(env: Env) -> None:
    env.pod("nocm", env.c("c", "sleep", "3600", env=[
        {"name": "X", "valueFrom": {"configMapKeyRef": {"name": "missing-cm", "key": "k"}}}]))
    pod = env.pods.wait("nocm", lambda p: waiting_reason(p) == "CreateContainerConfigError", "config error", 30)
    assert cstatus(pod)["state"]["waiting"]["message"] == 'configmap "missing-cm" not found'
    env.cp.api("POST", f"/api/v1/namespaces/{env.ns}/configmaps",
               {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "missing-cm"}, "data": {"k": "v"}})
    env.pods.wait("nocm", lambda p: "running" in cstatus(p).get("state", {}), "the container to start", 30)


def test_a_command_that_does_not_exist_is_a_start_error(env: Env) -> None:
    env.pod("nocmd", env.c("c", "/no/such/binary"))
    pod = env.pods.wait("nocmd", lambda p: cstatus(p).get("lastState", {}).get("terminated", {}).get("reason")
                        == "StartError", "StartError", 30)
    assert cstatus(pod)["lastState"]["terminated"]["exitCode"] == 128


@pytest.mark.parametrize(("policy", "code", "phase"), [("Never", 3, "Failed"), ("Never", 0, "Succeeded"),
                                                       ("OnFailure", 0, "Succeeded")])
def test_restart_policies_end_in_the_right_phase(env: Env, policy: str, code: int, phase: str) -> None:
    name = f"rp-{policy.lower()}-{code}"
    env.pod(name, env.c("c", "sh", "-c", f"exit {code}"), restartPolicy=policy)
    pod = env.pods.wait(name, lambda p: p["status"].get("phase") == phase, phase, 30)
    term = cstatus(pod)["state"]["terminated"]
    assert term["exitCode"] == code and term["reason"] == ("Completed" if code == 0 else "Error")
    assert cstatus(pod)["restartCount"] == 0


def test_on_failure_restarts_a_failing_container(env: Env) -> None:
    env.pod("onfail", env.c("c", "sh", "-c", "exit 1"), restartPolicy="OnFailure")
    pod = env.pods.wait("onfail", lambda p: cstatus(p).get("restartCount", 0) >= 1, "a restart", 30)
    assert pod["status"]["phase"] in ("Running", "Pending")


def test_memory_limit_is_oom_killed(env: Env) -> None:
    env.pod("oom", env.c("c", "sh", "-c", "x=a; while true; do x=$x$x; done",
                         resources={"limits": {"memory": "20Mi", "cpu": "500m"}}), restartPolicy="Never")
    pod = env.pods.wait("oom", lambda p: p["status"].get("phase") == "Failed", "the pod to fail", 60)
    assert cstatus(pod)["state"]["terminated"]["reason"] == "OOMKilled"
    assert pod["status"]["qosClass"] == "Guaranteed"


def test_delete_waits_for_the_grace_period_unless_sigterm_is_handled(env: Env) -> None:
    env.pod("stubborn", env.c("c", "sleep", "3600"), terminationGracePeriodSeconds=3)
    env.pod("polite", env.c("c", "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"),
            terminationGracePeriodSeconds=20)
    uids = {}
    for name in ("stubborn", "polite"):
        running_pod = env.pods.wait(name, lambda p: "running" in cstatus(p).get("state", {}), "running", 30)
        uids[name] = running_pod["metadata"]["uid"]
        assert os.path.isdir(f"/sys/fs/cgroup/memory/{env.cri.prefix}/kubepods/besteffort/pod{uids[name]}")
    took = {}
    for name in ("stubborn", "polite"):
        start = env.pods.delete(name)
        wait_for(lambda: env.pods.get(name) is None, 40, f"{name} to be gone", interval=0.1)  # noqa: B023
        took[name] = time.monotonic() - start
    assert 3 <= took["stubborn"] < 12, took
    assert took["polite"] < 3, took
    kills = [e["message"] for e in env.pods.events("stubborn") if e["reason"] == "Killing"]
    assert kills == ["Stopping container c"]
    # nothing of the pods is left on the node: no sandbox in the runtime, no pod cgroup
    def left_on_node(uid: str) -> bool:
        flt = api.PodSandboxFilter(label_selector={"io.kubernetes.pod.uid": uid})
        return bool(env.cri.runtime.ListPodSandbox(api.ListPodSandboxRequest(filter=flt), timeout=5).items) or \
            os.path.exists(f"/sys/fs/cgroup/memory/{env.cri.prefix}/kubepods/besteffort/pod{uid}")
    wait_for(lambda: not any(left_on_node(u) for u in uids.values()), 20, "the sandboxes and pod cgroups to go")


def test_a_restarted_kubelet_adopts_running_containers(env: Env) -> None:
    env.pod("adopt", env.c("c", "sleep", "3600"))
    before = env.pods.wait("adopt", lambda p: "running" in cstatus(p).get("state", {}), "running", 30)
    env.kubelet.stop()
    env.kubelet.start()
    # the restarted kubelet writes the pod's status afresh (a new Ready heartbeat is not needed: the
    # container keeps its id, start time and zero restarts, and no second container is created)
    after = env.pods.wait("adopt", lambda p: ready(p), "still ready", 30)
    assert cstatus(after)["containerID"] == cstatus(before)["containerID"]
    assert cstatus(after)["restartCount"] == 0
    assert cstatus(after)["state"]["running"]["startedAt"] == cstatus(before)["state"]["running"]["startedAt"]
    created = [e for e in env.pods.events("adopt") if e["reason"] == "Created"]
    assert len(created) == 1 and created[0].get("count", 1) == 1, created


def test_static_pods_run_with_a_mirror_pod(env: Env) -> None:
    manifest = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "static-web", "namespace": env.ns},
                "spec": {"containers": [env.c("c", "sleep", "3600")]}}
    path = os.path.join(env.kubelet.manifests, "static-web.yaml")
    with open(path, "w") as f:
        json.dump(manifest, f)
    name = f"static-web-{env.node}"
    pod = env.pods.wait(name, lambda p: p["status"].get("phase") == "Running", "the mirror pod Running", 30)
    ann = pod["metadata"]["annotations"]
    assert ann["kubernetes.io/config.source"] == "file"
    assert ann["kubernetes.io/config.mirror"] == ann["kubernetes.io/config.hash"]
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "Node"
    os.remove(path)
    wait_for(lambda: env.pods.get(name) is None, 30, "the mirror pod to go", interval=0.2)


def _exec(env: Env, pod: Obj, *cmd: str) -> str:
    cid = cstatus(pod)["containerID"].split("://", 1)[1]
    resp = env.cri.runtime.ExecSync(api.ExecSyncRequest(container_id=cid, cmd=list(cmd), timeout=10), timeout=30)
    assert resp.exit_code == 0, (cmd, resp.stderr)
    return resp.stdout.decode()


def test_env_and_volumes_reach_the_container(env: Env) -> None:
    for kind, body in (("configmaps", {"data": {"greeting": "hi there", "color": "blue"}}),
                       ("secrets", {"stringData": {"password": "hunter2"}})):
        env.cp.api("POST", f"/api/v1/namespaces/{env.ns}/{kind}",
                   {"apiVersion": "v1", "kind": "ConfigMap" if kind == "configmaps" else "Secret",
                    "metadata": {"name": "app"}, **body})
    c = env.c("c", "sleep", "3600", env=[
        {"name": "MY_POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "MY_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "COLOR", "valueFrom": {"configMapKeyRef": {"name": "app", "key": "color"}}},
        {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "app", "key": "password"}}},
        {"name": "BOTH", "value": "$(COLOR)-$(MY_POD)"}],
        volumeMounts=[{"name": "cfg", "mountPath": "/etc/cfg"}, {"name": "sec", "mountPath": "/etc/sec"},
                      {"name": "info", "mountPath": "/etc/info"}, {"name": "scratch", "mountPath": "/scratch"}])
    env.pod("vols", c, volumes=[
        {"name": "cfg", "configMap": {"name": "app"}}, {"name": "sec", "secret": {"secretName": "app"}},
        {"name": "info", "downwardAPI": {"items": [{"path": "name", "fieldRef": {"fieldPath": "metadata.name"}}]}},
        {"name": "scratch", "emptyDir": {}}])
    pod = env.pods.wait("vols", lambda p: "running" in cstatus(p).get("state", {}), "running", 30)
    assert _exec(env, pod, "cat", "/etc/cfg/greeting") == "hi there"
    assert _exec(env, pod, "cat", "/etc/sec/password") == "hunter2"
    assert _exec(env, pod, "cat", "/etc/info/name") == "vols"
    sa = "/var/run/secrets/kubernetes.io/serviceaccount"
    assert _exec(env, pod, "cat", f"{sa}/namespace") == env.ns
    assert _exec(env, pod, "cat", f"{sa}/ca.crt").startswith("-----BEGIN CERTIFICATE-----")
    token = _exec(env, pod, "cat", f"{sa}/token")
    review = env.cp.api("POST", "/apis/authentication.k8s.io/v1/tokenreviews",
                        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}})
    assert review["status"]["authenticated"], review["status"]
    assert review["status"]["user"]["username"] == f"system:serviceaccount:{env.ns}:default"
    environ = dict(line.split("=", 1) for line in _exec(env, pod, "env").splitlines() if "=" in line)
    assert environ["MY_POD"] == "vols" and environ["COLOR"] == "blue" and environ["PW"] == "hunter2"
    assert environ["BOTH"] == "blue-vols" and environ["MY_IP"] == pod["status"]["podIP"]
    assert environ["KUBERNETES_SERVICE_HOST"] and environ["KUBERNETES_SERVICE_PORT"] == "443"
    _exec(env, pod, "sh", "-c", "echo x > /scratch/f")


def test_a_startup_probe_holds_liveness_off(env: Env) -> None:
    startup = {"exec": {"command": ["test", "-f", "/tmp/started"]}, "periodSeconds": 1, "failureThreshold": 30}
    liveness = {"tcpSocket": {"port": 8080}, "periodSeconds": 1, "failureThreshold": 1}
    env.pod("slow", env.c("c", "sh", "-c", "sleep 3; touch /tmp/started; mkdir -p /www; exec " + " ".join(HTTPD),
                          startupProbe=startup, livenessProbe=liveness))
    pod = env.pods.wait("slow", lambda p: cstatus(p).get("started") is True, "the startup probe to pass", 30)
    assert cstatus(pod)["restartCount"] == 0 and cstatus(pod)["ready"]
    messages = [e["message"] for e in env.pods.events("slow") if e["reason"] == "Unhealthy"]
    assert messages and all(m.startswith("Startup probe failed") for m in messages), messages


def test_a_runtime_crash_makes_the_node_not_ready_and_running_pods_survive_it(env: Env) -> None:
    env.pod("survivor", env.c("c", "sleep", "3600"))
    before = env.pods.wait("survivor", ready, "ready", 30)

    def node_ready() -> dict[str, Any]:
        node = env.cp.api("GET", f"/api/v1/nodes/{env.node}")
        return next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
    env.cri.kill()
    try:
        cond = env.cp.wait(lambda: node_ready() if node_ready()["status"] == "False" else None, 20,
                           "the node to be NotReady")
        assert cond["reason"] == "KubeletNotReady" and cond["message"] == "container runtime is down"
    finally:
        env.cri.start()
    env.cp.wait(lambda: node_ready()["status"] == "True", 20, "the node to be Ready again")
    after = env.pods.wait("survivor", ready, "still ready", 30)
    assert cstatus(after)["containerID"] == cstatus(before)["containerID"] and cstatus(after)["restartCount"] == 0


def test_pod_pids_limit_caps_forks(env: Env) -> None:
    env.pod("forky", env.c("c", "sh", "-c", "for i in $(seq 60); do sleep 600 & done; echo done; exec sleep 3600"))
    pod = env.pods.wait("forky", lambda p: cstatus(p).get("containerID"), "a container", 30)
    cgroup = f"/sys/fs/cgroup/pids/{env.cri.prefix}/kubepods/besteffort/pod{pod['metadata']['uid']}"
    assert open(f"{cgroup}/pids.max").read().strip() == str(PIDS_LIMIT)
    cid = cstatus(pod)["containerID"].split("://", 1)[1]
    log_path = env.cri.runtime.ContainerStatus(api.ContainerStatusRequest(container_id=cid), timeout=5).status.log_path
    wait_for(lambda: "can't fork" in open(log_path).read(), 20, "the shell to be refused a fork")


def test_resolv_conf_and_hosts_as_the_kubelet_writes_them(env: Env) -> None:
    env.pod("dns", env.c("c", "sleep", "3600"), hostname="web-0", subdomain="web",
            hostAliases=[{"ip": "10.1.2.3", "hostnames": ["foo.local", "bar"]}])
    env.pod("dns-default", env.c("c", "sleep", "3600"), dnsPolicy="Default")
    pod = env.pods.wait("dns", lambda p: cstatus(p).get("state", {}).get("running") and p["status"].get("podIP"),
                        "running", 30)
    assert _exec(env, pod, "cat", "/etc/resolv.conf") == (
        f"search {env.ns}.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example\n"
        f"nameserver {CLUSTER_DNS}\noptions ndots:5\n")
    hosts = _exec(env, pod, "cat", "/etc/hosts")
    assert hosts.startswith("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n")
    assert hosts.endswith(f"{pod['status']['podIP']}\tweb-0.web.{env.ns}.svc.cluster.local\tweb-0\n\n"
                          "# Entries added by HostAliases.\n10.1.2.3\tfoo.local\tbar\n")
    default = env.pods.wait("dns-default", lambda p: cstatus(p).get("state", {}).get("running"), "running", 30)
    assert _exec(env, default, "cat", "/etc/resolv.conf") == (
        "search corp.example lab.example\nnameserver 192.0.2.53\noptions timeout:2\n") != HOST_RESOLV_CONF
