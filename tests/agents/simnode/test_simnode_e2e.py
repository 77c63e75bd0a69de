"""`python -m agents.simnode` against the real API server (etcd store, Node,RBAC): 20 hollow nodes register and
are Ready for kubectl, a Deployment's pods (controller manager running; bound by the scheduler, or by a test
binder where there is none) become Running/Ready with addresses from their node, a graceful delete finishes,
Job-like and crash-looping pods show the kubelet's states, and a stopped node goes NotReady (Unknown) through
the node lifecycle controller."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.agents.simnode.harness import Binder, SchedulerProcess, SimNodeProcess, scheduler_available
from tests.controllers.cluster import ControllerManager, ControlPlane, control_plane

pytestmark = pytest.mark.e2e
NS = "sim"
PREFIX = "e2e-sim-"
NODES = [f"{PREFIX}{i}" for i in range(20)]
DEADLINE_S = 60.0
KCM_FLAGS = ("--controllers=replicaset,deployment,nodelifecycle", "--leader-elect=false",
             "--node-monitor-period=1s", "--node-monitor-grace-period=6s", "--node-startup-grace-period=6s")


@pytest.fixture(scope="module")
def cp() -> Iterator[ControlPlane]:
    with control_plane("etcd") as plane:
        plane.create_namespace(NS)
        # the serviceaccount controller's job (not run here): ServiceAccount admission refuses pods without it
        r = plane.request("POST", f"/api/v1/namespaces/{NS}/serviceaccounts",
                          {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}})
        assert r.code in (201, 409), r.body
        yield plane


@pytest.fixture(scope="module")
def sim(cp: ControlPlane) -> Iterator[SimNodeProcess]:
    p = SimNodeProcess(cp.admin_kubeconfig, os.path.join(cp.tmp, "simnode.log"), "--nodes", str(len(NODES)),
                       "--node-name-prefix", PREFIX, "--zones", "zone-a,zone-b", "--instance-type", "sim.large",
                       "--pod-start-delay", "0.3s", "--pod-delete-delay", "0.3s", "--node-lease-duration-seconds",
                       "8", "--backoff-initial", "1s", "--backoff-max", "4s", "--crash-after", "0.3s",
                       "--job-run-time", "0.5s")
    try:
        p.wait_registered(DEADLINE_S)
        yield p
    finally:
        p.stop()


@pytest.fixture(scope="module")
def manager(cp: ControlPlane, sim: SimNodeProcess) -> Iterator[ControllerManager]:
    m = cp.start_controller_manager(*KCM_FLAGS)
    cp.wait_for_log(m, "Caches are synced for nodelifecycle", timeout=60)
    yield m
    m.stop()


@pytest.fixture(scope="module")
def binder(cp: ControlPlane, sim: SimNodeProcess) -> Iterator[object]:
    """The real scheduler when it is there (`controllers.scheduler`), else the test binder."""
    if scheduler_available():
        s = SchedulerProcess(cp)
        try:
            yield s
        finally:
            s.stop()
        return
    with Binder(cp, NS, NODES) as b:
        yield b


def pods(cp: ControlPlane, selector: str = "") -> list[dict[str, Any]]:
    q = f"?labelSelector={selector}" if selector else ""
    return cp.api("GET", f"/api/v1/namespaces/{NS}/pods{q}")["items"]


def condition(obj: dict[str, Any], ctype: str) -> dict[str, Any]:
    return next((c for c in obj.get("status", {}).get("conditions") or [] if c["type"] == ctype), {})


def test_nodes_register_ready_with_kubelet_fields_and_leases(cp: ControlPlane, sim: SimNodeProcess) -> None:
    out = cp.kubectl("get", "nodes", "--no-headers").stdout.splitlines()
    ours = [line.split() for line in out if line.startswith(PREFIX)]
    assert len(ours) == 20 and all(cols[1] == "Ready" and cols[4] == "v1.32.0" for cols in ours), out
    node = cp.api("GET", f"/api/v1/nodes/{PREFIX}3")
    labels = node["metadata"]["labels"]
    assert labels["kubernetes.io/hostname"] == f"{PREFIX}3" and labels["kubernetes.io/os"] == "linux"
    assert labels["topology.kubernetes.io/zone"] == "zone-b"
    assert labels["node.kubernetes.io/instance-type"] == "sim.large"
    assert node["spec"]["podCIDR"] == "10.244.3.0/24"
    status = node["status"]
    assert [c["type"] for c in status["conditions"]] == ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]
    ready = condition(node, "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == ("True", "KubeletReady",
                                                                     "kubelet is posting ready status")
    assert status["capacity"]["pods"] == "110" and status["allocatable"]["cpu"] == "4"
    assert {a["type"] for a in status["addresses"]} == {"InternalIP", "Hostname"}
    assert status["daemonEndpoints"]["kubeletEndpoint"]["Port"] == 10250
    # written by the node's own identity (impersonated): the Node authorizer allowed it, kubelet's user agent
    assert any(f.get("manager") == "kubelet" for f in node["metadata"].get("managedFields") or [])
    lease = cp.api("GET", f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{PREFIX}3")
    assert lease["spec"]["holderIdentity"] == f"{PREFIX}3" and lease["spec"]["leaseDurationSeconds"] == 8
    assert lease["metadata"]["ownerReferences"][0]["uid"] == node["metadata"]["uid"]
    described = " ".join(cp.kubectl("describe", "node", f"{PREFIX}3").stdout.split())
    for text in (f"HolderIdentity: {PREFIX}3", "KubeletReady kubelet is posting ready status",
                 "PodCIDR: 10.244.3.0/24", "Kubelet Version: v1.32.0", "Starting kubelet."):
        assert text in described, described
    starting = cp.api("GET", f"/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3D{PREFIX}3")
    assert {"Starting", "NodeHasSufficientMemory", "NodeReady"} <= {e["reason"] for e in starting["items"]}
    first = lease["spec"]["renewTime"]
    cp.wait(lambda: cp.api("GET", f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{PREFIX}3")
            ["spec"]["renewTime"] != first, DEADLINE_S, "the lease to be renewed")


def test_deployment_pods_run_and_a_graceful_delete_finishes(cp: ControlPlane, sim: SimNodeProcess,
                                                           manager: ControllerManager, binder: object) -> None:
    cp.api("POST", f"/apis/apps/v1/namespaces/{NS}/deployments", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 6, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25", "resources": {
                                  "requests": {"cpu": "100m", "memory": "64Mi"},
                                  "limits": {"cpu": "100m", "memory": "64Mi"}}}]}}}})

    def all_ready() -> list[dict[str, Any]] | None:
        items = [p for p in pods(cp, "app%3Dweb") if not p["metadata"].get("deletionTimestamp")]
        ok = len(items) == 6 and all(condition(p, "Ready").get("status") == "True" for p in items)
        return items if ok else None
    items = cp.wait(all_ready, DEADLINE_S, "6 Running/Ready pods")
    for p in items:
        st = p["status"]
        node = cp.api("GET", f"/api/v1/nodes/{p['spec']['nodeName']}")
        assert st["phase"] == "Running" and st["qosClass"] == "Guaranteed"
        assert ipaddress.ip_address(st["podIP"]) in ipaddress.ip_network(node["spec"]["podCIDR"])
        assert st["hostIP"] == node["status"]["addresses"][0]["address"]
        cs = st["containerStatuses"][0]
        assert cs["ready"] and cs["started"] and cs["restartCount"] == 0 and "running" in cs["state"]
        assert cs["image"] == "docker.io/library/nginx:1.25" and cs["containerID"].startswith("containerd://")
        assert [c["type"] for c in st["conditions"]] == ["PodReadyToStartContainers", "Initialized", "Ready",
                                                         "ContainersReady", "PodScheduled"]
    name = items[1]["metadata"]["name"]
    events = cp.api("GET", f"/api/v1/namespaces/{NS}/events?fieldSelector=involvedObject.name%3D{name}")["items"]
    kubelet = {e["reason"]: e for e in events if e["source"].get("component") == "kubelet"}
    assert {"Pulled", "Created", "Started"} <= set(kubelet), events
    assert kubelet["Started"]["message"] == "Started container nginx"
    assert kubelet["Started"]["source"]["host"] == items[1]["spec"]["nodeName"]
    assert kubelet["Started"]["involvedObject"]["fieldPath"] == "spec.containers{nginx}"
    table = cp.kubectl("get", "pods", "-n", NS, "-l", "app=web", "--no-headers").stdout
    assert table.count("Running") == 6 and table.count("1/1") == 6, table
    victim = items[0]["metadata"]["name"]
    cp.kubectl("delete", "pod", "-n", NS, victim, "--wait=true", "--timeout=60s")
    assert cp.get(f"/api/v1/namespaces/{NS}/pods/{victim}") is None
    cp.wait(all_ready, DEADLINE_S, "the Deployment to be back at 6 Ready pods")


def test_job_pods_complete_and_fail_with_their_exit_code(cp: ControlPlane, sim: SimNodeProcess,
                                                        binder: object) -> None:
    def pod(name: str, annotations: dict[str, str]) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "annotations": annotations},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]}}
    cp.api("POST", f"/api/v1/namespaces/{NS}/pods", pod("done", {"simnode.raftkv.io/run-seconds": "0.5"}))
    cp.api("POST", f"/api/v1/namespaces/{NS}/pods", pod("fails", {"simnode.raftkv.io/run-seconds": "0.5",
                                                                  "simnode.raftkv.io/exit-code": "3"}))

    def phase(name: str) -> str:
        return str(cp.api("GET", f"/api/v1/namespaces/{NS}/pods/{name}")["status"].get("phase"))
    cp.wait(lambda: phase("done") == "Succeeded", DEADLINE_S, "the pod to succeed")
    cp.wait(lambda: phase("fails") == "Failed", DEADLINE_S, "the pod to fail")
    done = cp.api("GET", f"/api/v1/namespaces/{NS}/pods/done")
    term = done["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (term["exitCode"], term["reason"]) == (0, "Completed")
    assert condition(done, "Ready")["reason"] == "PodCompleted"
    failed = cp.api("GET", f"/api/v1/namespaces/{NS}/pods/fails")
    term = failed["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (term["exitCode"], term["reason"]) == (3, "Error")
    assert condition(failed, "Ready")["reason"] == "PodFailed"


def test_a_crash_looping_container_restarts_with_back_off(cp: ControlPlane, sim: SimNodeProcess,
                                                          binder: object) -> None:
    cp.api("POST", f"/api/v1/namespaces/{NS}/pods", {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "crashy", "annotations": {"simnode.raftkv.io/crash-loop": "true"}},
        "spec": {"containers": [{"name": "app", "image": "busybox"}]}})
    seen: set[str] = set()

    def looping() -> bool:
        st = cp.api("GET", f"/api/v1/namespaces/{NS}/pods/crashy")["status"]
        cs = (st.get("containerStatuses") or [{}])[0]
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") == "CrashLoopBackOff":
            seen.add(waiting["message"].split(" restarting")[0])
            assert waiting["message"].endswith(f"restarting failed container=app pod=crashy_{NS}("
                                               f"{cp.api('GET', f'/api/v1/namespaces/{NS}/pods/crashy')['metadata']['uid']})")
            assert cs["lastState"]["terminated"]["exitCode"] == 1 and st["phase"] == "Running"
        return bool(cs.get("restartCount", 0) >= 3 and {"back-off 1s", "back-off 2s"} <= seen)
    cp.wait(looping, DEADLINE_S, "restartCount ≥ 3 through CrashLoopBackOff 1s then 2s")
    table = cp.kubectl("get", "pod", "-n", NS, "crashy", "--no-headers").stdout
    assert "CrashLoopBackOff" in table or "Running" in table, table


def test_a_stopped_node_goes_unknown_and_comes_back(cp: ControlPlane, sim: SimNodeProcess,
                                                    manager: ControllerManager) -> None:
    name = f"{PREFIX}19"
    assert sim.control("POST", f"/nodes/{name}/stop")["alive"] is False

    def ready_status() -> str:
        return str(condition(cp.api("GET", f"/api/v1/nodes/{name}"), "Ready").get("status"))
    cp.wait(lambda: ready_status() == "Unknown", DEADLINE_S, "the stopped node's Ready to become Unknown")
    node = cp.api("GET", f"/api/v1/nodes/{name}")
    assert condition(node, "Ready")["reason"] == "NodeStatusUnknown"
    assert "NotReady" in cp.kubectl("get", "node", name, "--no-headers").stdout
    assert ready_status() == "Unknown" and condition(cp.api("GET", f"/api/v1/nodes/{PREFIX}18"),
                                                     "Ready")["status"] == "True"
    sim.control("POST", f"/nodes/{name}/start")
    cp.wait(lambda: ready_status() == "True", DEADLINE_S, "the node to be Ready again")


def test_a_restarted_simnode_adopts_its_nodes_and_running_pods(cp: ControlPlane, sim: SimNodeProcess,
                                                                binder: object) -> None:
    before = {p["metadata"]["name"]: p for p in pods(cp, "app%3Dweb") if p["status"].get("phase") == "Running"}
    assert before
    sim.stop()
    again = SimNodeProcess(cp.admin_kubeconfig, os.path.join(cp.tmp, "simnode-2.log"), *sim.flags)
    try:
        again.wait_registered(DEADLINE_S)
        assert "Unable" not in again.log() and "Traceback" not in again.log()
        out = cp.kubectl("get", "nodes", "--no-headers").stdout.splitlines()
        assert sum(1 for line in out if line.startswith(PREFIX) and line.split()[1] == "Ready") == 20, out
        after = {p["metadata"]["name"]: p for p in pods(cp, "app%3Dweb")}
        for name, old in before.items():
            st = after[name]["status"]
            assert st["phase"] == "Running" and st["podIP"] == old["status"]["podIP"]
            assert st["containerStatuses"][0]["state"] == old["status"]["containerStatuses"][0]["state"]
        # a new pod on a node that already runs one gets an address no running pod there holds
        node = next(iter(before.values()))["spec"]["nodeName"]
        cp.api("POST", f"/api/v1/namespaces/{NS}/pods", {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "late"},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "nginx"}]}})
        late = cp.wait(lambda: (lambda p: p if p["status"].get("podIP") else None)(
            cp.api("GET", f"/api/v1/namespaces/{NS}/pods/late")), DEADLINE_S, "the late pod's IP")
        taken = {p["status"].get("podIP") for p in pods(cp) if p["spec"].get("nodeName") == node
                 and p["metadata"]["name"] != "late" and p["status"].get("phase") == "Running"}
        assert late["status"]["podIP"] not in taken
    finally:
        again.stop()


def test_nodes_with_their_own_client_certificates(cp: ControlPlane) -> None:
    """--node-identity certs: each node authenticates as system:node:<name> with its own certificate. The process
    reads as e2e-cert-40 (which may neither impersonate nor modify another node), so e2e-cert-41's registration,
    Lease and status can only have come through its own certificate."""
    reader = cp.kubeconfig_for("cert-reader", "system:node:e2e-cert-40", ["system:nodes"])
    p = SimNodeProcess(reader, os.path.join(cp.tmp, "simnode-certs.log"), "--nodes", "2", "--node-name-prefix",
                       "e2e-cert-", "--node-index-offset", "40", "--node-identity", "certs", "--node-certs-dir",
                       cp.server.pki_dir, "--node-lease-duration-seconds", "8")
    try:
        p.wait_registered(DEADLINE_S)
        for name in ("e2e-cert-40", "e2e-cert-41"):
            node = cp.api("GET", f"/api/v1/nodes/{name}")
            assert condition(node, "Ready")["reason"] == "KubeletReady"
            lease = cp.api("GET", f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}")
            assert lease["spec"]["holderIdentity"] == name
            assert os.path.exists(os.path.join(cp.server.pki_dir, f"kubelet-{name}.crt"))
        assert "Traceback" not in p.log() and "WARNING" not in p.log(), p.log()
    finally:
        p.stop()
