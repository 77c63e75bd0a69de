"""kubectl logs/exec/cp/port-forward and the Python client's stream()/portforward, end to end: real kubectl and
API server processes, the real kubelet HTTPS server (agents/kubelet/server.py) in a thread with a fake
runtime whose containers are host processes (fakehost.py). The kubelet authorizes every request by a
SubjectAccessReview to the API server, as its webhook mode does."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from agents.kubelet.server import WebhookAuthorizer
from agents.streaming.process import HostProcess
from controllers.machinery.client import RESTClient
from controllers.machinery.kubeconfig import load_kubeconfig
from raftkv import pki
from tests.agents.streaming.fakehost import FakeHost, LoopThread, cri_line, echo_server, http_server, kubelet
from tests.conftest import free_port, register_process, stop_process, wait_for
from tests.controllers.cluster import ControlPlane, control_plane

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
NS = "streaming"


@dataclass
class World:
    cp: ControlPlane
    host: FakeHost
    loop: LoopThread
    node: str
    tmp: str
    kubelet_port: int
    kubelet_pki: str

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.cp.kubectl("-n", NS, *args, stdin=stdin, check=check)

    def pod(self, name: str, containers: list[str], *, waiting: str = "", phase: str = "Running",
            labels: dict[str, str] | None = None, stdin: bool = False) -> Any:
        obj = self.cp.api("POST", f"/api/v1/namespaces/{NS}/pods", {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {}},
            "spec": {"nodeName": self.node,
                     "containers": [{"name": c, "image": "busybox", "stdin": stdin} for c in containers]}})
        fake = self.host.add(NS, name, obj["metadata"]["uid"], containers, waiting_reason=waiting)
        status = fake.api_status()["status"]
        self.cp.api("PATCH", f"/api/v1/namespaces/{NS}/pods/{name}/status",
                    {"status": {"phase": "Pending" if waiting else phase, **status}},
                    "application/merge-patch+json")
        return fake


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    tmp = os.path.realpath(os.path.join("/tmp", f"streaming-{uuid.uuid4().hex[:8]}"))
    certs = os.path.join(tmp, "kubelet-pki")
    pki.init_ca(certs, common_name="kubelet-ca")
    client = pki.issue(certs, "client", "apiserver-kubelet-client", cn="kube-apiserver-kubelet-client",
                       orgs=["system:masters"])
    serving = pki.issue(certs, "server", "kubelet", hosts=["127.0.0.1"])
    ca = os.path.join(certs, "ca.crt")
    port = free_port()
    node = f"n-{uuid.uuid4().hex[:6]}"
    try:
        with control_plane("etcd", extra_apiserver_args=(
                "--kubelet-client-certificate", client.cert, "--kubelet-client-key", client.key,
                "--kubelet-certificate-authority", ca)) as cp:
            cp.create_namespace(NS)
            cp.api("POST", "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}})
            cp.api("PATCH", f"/api/v1/nodes/{node}/status", {"status": {
                "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": node}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": port}}}}, "application/merge-patch+json")
            host = FakeHost(os.path.join(tmp, "pods"))
            rest = RESTClient(load_kubeconfig(cp.kubeconfig_for("kubelet", f"system:node:{node}", ["system:nodes"])))

            async def review(body: dict[str, Any]) -> dict[str, Any]:
                answer: dict[str, Any] = await rest.request(
                    "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", body=body)
                return answer
            with kubelet(host, node, port, serving.cert, serving.key, ca, WebhookAuthorizer(review)) as loop:
                try:
                    yield World(cp, host, loop, node, tmp, port, certs)
                finally:
                    loop.run(rest.close())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_logs_whole_tail_timestamps_limit_and_since(world: World) -> None:
    pod = world.pod("logs", ["c"])
    old = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with open(pod.containers["c"].log_path, "w") as f:
        f.write(cri_line("ancient", when=old) + cri_line("one") + cri_line("tw", partial=True) + cri_line("o")
                + cri_line("oops", "stderr") + cri_line("three"))
    assert world.kubectl("logs", "logs").stdout == "ancient\none\ntwo\noops\nthree\n"
    assert world.kubectl("logs", "logs", "--tail=2").stdout == "oops\nthree\n"
    assert world.kubectl("logs", "logs", "--limit-bytes=10").stdout == "ancient\non"
    assert world.kubectl("logs", "logs", "--since=1h").stdout == "one\ntwo\noops\nthree\n"
    assert world.kubectl("logs", "logs", "--since-time=2025-12-31T00:00:00Z", "-c", "c").stdout.startswith("ancient")
    stamped = world.kubectl("logs", "logs", "--timestamps", "--tail=1").stdout
    assert stamped.endswith(" three\n") and stamped.startswith(str(dt.date.today().year))
    bad = world.cp.request("GET", f"/api/v1/namespaces/{NS}/pods/logs/log?container=nope")  # kubectl checks first
    assert (bad.code, bad.body["message"]) == (400, "container nope is not valid for pod logs")
    bad = world.cp.request("GET", f"/api/v1/namespaces/{NS}/pods/logs/log?tailLines=-1")
    assert (bad.code, bad.body["reason"]) == (422, "Invalid")


def test_logs_of_a_deployment_and_a_replication_controller_pick_a_pod(world: World) -> None:
    pod = world.pod("picked", ["c"], labels={"app": "picked"})
    with open(pod.containers["c"].log_path, "w") as f:
        f.write(cri_line("from the picked pod"))
    selector = {"matchLabels": {"app": "picked"}}
    template = {"metadata": {"labels": {"app": "picked"}}, "spec": {"containers": [{"name": "c", "image": "b"}]}}
    world.cp.api("POST", f"/apis/apps/v1/namespaces/{NS}/deployments", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "dep"},
        "spec": {"replicas": 0, "selector": selector, "template": template}})
    world.cp.api("POST", f"/api/v1/namespaces/{NS}/replicationcontrollers", {
        "apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "rc"},
        "spec": {"replicas": 0, "selector": {"app": "picked"}, "template": template}})
    assert world.kubectl("logs", "deploy/dep").stdout == "from the picked pod\n"
    assert world.kubectl("logs", "rc/rc").stdout == "from the picked pod\n"


def test_attach_streams_the_containers_own_output_and_input(world: World) -> None:
    pod = world.pod("attached", ["c"], stdin=True)
    main = world.loop.run(HostProcess.start(["sh", "-c", 'while read l; do echo "got $l"; done; echo bye'],
                                            stdin=True, stdout=True, stderr=True, tty=False))
    pod.containers["c"].main = main
    try:
        out = world.kubectl("attach", "-i", "attached", stdin="one\ntwo\n")
        assert "got one\ngot two\nbye\n" in out.stdout, (out.stdout, out.stderr)
    finally:
        main.kill()


def test_logs_of_a_waiting_container_and_previous_instances(world: World) -> None:
    world.pod("waits", ["c"], waiting="ContainerCreating")
    out = world.kubectl("logs", "waits", check=False)
    assert out.returncode != 0
    assert 'Error from server (BadRequest): container "c" in pod "waits" is waiting to start: ContainerCreating' \
        in out.stderr
    pod = world.pod("restarted", ["c"])
    out = world.kubectl("logs", "restarted", "--previous", check=False)
    assert 'previous terminated container "c" in pod "restarted" not found' in out.stderr
    prev = os.path.join(pod.directory, "c-0.log")
    with open(prev, "w") as f:
        f.write(cri_line("from the first run"))
    pod.containers["c"].previous_log_path = prev
    assert world.kubectl("logs", "restarted", "--previous").stdout == "from the first run\n"


def test_logs_follow_streams_until_the_container_stops(world: World) -> None:
    pod = world.pod("follow", ["c"])
    path = pod.containers["c"].log_path
    with open(path, "w") as f:
        f.write(cri_line("before"))
    env = dict(os.environ, HOME=world.cp.tmp)
    out_path = os.path.join(world.tmp, "follow.out")
    with open(out_path, "wb") as out:
        proc = register_process(subprocess.Popen(
            ["kubectl", "--kubeconfig", world.cp.admin_kubeconfig, "-n", NS, "logs", "-f", "follow"],
            stdout=out, stderr=subprocess.STDOUT, env=env))
    try:
        wait_for(lambda: b"before\n" in open(out_path, "rb").read(), 30, "the existing line")
        with open(path, "a") as f:
            f.write(cri_line("after"))
        wait_for(lambda: open(out_path, "rb").read() == b"before\nafter\n", 30, "the appended line")
        assert proc.poll() is None, "follow keeps the stream open while the container runs"
        pod.containers["c"].running = False
        wait_for(lambda: proc.poll() is not None, 30, "kubectl logs -f to end with the container")
        assert proc.returncode == 0
    finally:
        stop_process(proc)


def test_an_abandoned_follow_of_a_quiet_container_ends_at_both_servers(world: World) -> None:
    pod = world.pod("quiet", ["c"])
    c = pod.containers["c"]
    with open(c.log_path, "w") as f:
        f.write(cri_line("only line"))
    out_path = os.path.join(world.tmp, "quiet.out")
    with open(out_path, "wb") as out:
        proc = register_process(subprocess.Popen(
            ["kubectl", "--kubeconfig", world.cp.admin_kubeconfig, "-n", NS, "logs", "-f", "quiet"],
            stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ, HOME=world.cp.tmp)))
    try:
        wait_for(lambda: b"only line" in open(out_path, "rb").read(), 30, "the log line")
        wait_for(lambda: time.monotonic() - c.polled < 0.5, 30, "the kubelet to follow")
    finally:
        stop_process(proc)
    # the API server notices its client left within a second, closes the kubelet stream, the kubelet stops
    wait_for(lambda: time.monotonic() - c.polled > 1.5, 30, "the kubelet to stop following")


def test_exec_output_exit_codes_and_stdin(world: World) -> None:
    world.pod("shell", ["c"])
    assert world.kubectl("exec", "shell", "--", "echo", "hi").stdout == "hi\n"
    err = world.kubectl("exec", "shell", "--", "sh", "-c", "echo out; echo err >&2", check=False)
    assert (err.stdout, err.stderr) == ("out\n", "err\n")
    three = world.kubectl("exec", "shell", "--", "sh", "-c", "exit 3", check=False)
    assert three.returncode == 3, three.stderr
    assert "command terminated with exit code 3" in three.stderr
    assert world.kubectl("exec", "-i", "shell", "--", "tr", "a-z", "A-Z", stdin="hello\nworld\n").stdout == \
        "HELLO\nWORLD\n"
    big = "x" * 300_000 + "\n"
    assert world.kubectl("exec", "-i", "shell", "--", "wc", "-c", stdin=big).stdout.strip() == "300001"
    missing = world.kubectl("exec", "shell", "-c", "other", "--", "true", check=False)
    assert "container other is not valid for pod shell" in missing.stderr


@pytest.mark.skipif(shutil.which("script") is None, reason="util-linux script(1) gives kubectl a terminal")
def test_exec_with_a_terminal(world: World) -> None:
    world.pod("terminal", ["c"])
    out = exec_in_terminal(world.cp, NS, "terminal", "tty; stty size; exit 4")
    assert out.returncode == 4, (out.stdout, out.stderr)
    lines = out.stdout.splitlines()
    assert lines[0].startswith("/dev/pts/"), out.stdout
    assert lines[1] == "33 91", "the command starts once kubectl's terminal size is set"
    assert "command terminated with exit code 4" in out.stdout


def test_exec_with_a_terminal_starts_on_the_size_not_on_input_typed_ahead(world: World) -> None:
    """kubectl sends stdin and the size concurrently: a keystroke may arrive first. The command still starts
    only once the size is set; the keystroke waits in the terminal (echoed, as typed ahead)."""
    from kubernetes import client, config
    from kubernetes.stream import stream

    world.pod("typeahead", ["c"])
    api = client.CoreV1Api(config.new_client_from_config(world.cp.admin_kubeconfig))
    try:
        tty = stream(api.connect_get_namespaced_pod_exec, "typeahead", NS, command=["sh", "-c", "stty size"],
                     stderr=True, stdin=True, stdout=True, tty=True, _preload_content=False)
        tty.write_stdin("\x00")
        time.sleep(0.3)  # the keystroke is in well before the size
        tty.write_channel(4, '{"Width":91,"Height":33}')
        tty.run_forever(timeout=30)
        out = tty.read_stdout() if tty.peek_stdout() else ""
        assert "33 91" in out, out
        tty.close()
    finally:
        api.api_client.close()


def exec_in_terminal(cp: ControlPlane, ns: str, pod: str, script: str) -> subprocess.CompletedProcess[str]:
    """`kubectl exec -it` inside script(1), whose terminal is 91x33."""
    cmd = (f"stty cols 91 rows 33; kubectl --kubeconfig {cp.admin_kubeconfig} -n {ns} exec -it {pod} -- "
           f"sh -c '{script}'")
    # script's own stdin stays open and silent: at its end script would type into kubectl's terminal
    proc = subprocess.Popen(["script", "-qec", cmd, "/dev/null"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, HOME=cp.tmp))
    try:
        assert proc.stdout is not None and proc.stderr is not None
        out, err = proc.stdout.read(), proc.stderr.read()
        proc.wait(60)
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_exec_is_authorized_as_kube_apiserver_1_32_does(world: World) -> None:
    """A WebSocket exec is a GET: `get pods/exec` allows it in 1.32 (the `create` check came in 1.35); without
    any pods/exec right kubectl ends on its SPDY retry, a POST, refused for `create`."""
    world.pod("guarded", ["c"])
    rules = {"viewer": [{"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list"]}],
             "getter": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
                        {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["get"]}]}
    for user, role_rules in rules.items():
        world.cp.api("POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{NS}/roles", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": user},
            "rules": role_rules})
        world.cp.api("POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{NS}/rolebindings", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": user},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": user},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]})
    env = dict(os.environ, HOME=world.cp.tmp)

    def kubectl_as(user: str, *args: str) -> subprocess.CompletedProcess[str]:
        kc = world.cp.kubeconfig_for(user, user)
        return subprocess.run(["kubectl", "--kubeconfig", kc, "-n", NS, *args], capture_output=True, text=True,
                              env=env, timeout=60)
    out = kubectl_as("viewer", "exec", "guarded", "--", "echo", "hi")
    assert out.returncode == 1
    assert 'Error from server (Forbidden): pods "guarded" is forbidden: User "viewer" cannot create resource ' \
           '"pods/exec" in API group "" in the namespace "streaming"' in out.stderr, out.stderr
    assert kubectl_as("viewer", "logs", "guarded").returncode == 0
    out = kubectl_as("getter", "exec", "guarded", "--", "echo", "hi")
    assert (out.returncode, out.stdout) == (0, "hi\n"), out.stderr


def test_exec_into_a_container_that_does_not_run(world: World) -> None:
    world.pod("idle", ["c"], waiting="ContainerCreating")
    out = world.kubectl("exec", "idle", "--", "true", check=False)
    assert out.returncode == 1
    assert out.stderr == 'Error from server (InternalError): Internal error occurred: container not found ("c")\n'
    out = world.kubectl("port-forward", "pod/idle", "0:80", check=False)
    assert "unable to forward port because pod is not running. Current status=Pending" in out.stderr


def test_a_node_whose_kubelet_is_down_and_a_pod_without_node(world: World) -> None:
    node, port = f"gone-{uuid.uuid4().hex[:6]}", free_port()
    world.cp.api("POST", "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}})
    world.cp.api("PATCH", f"/api/v1/nodes/{node}/status", {"status": {
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": port}}}}, "application/merge-patch+json")
    spec = {"containers": [{"name": "c", "image": "busybox"}]}
    world.cp.api("POST", f"/api/v1/namespaces/{NS}/pods", {"apiVersion": "v1", "kind": "Pod",
                                                           "metadata": {"name": "stranded"},
                                                           "spec": {"nodeName": node, **spec}})
    world.cp.api("PATCH", f"/api/v1/namespaces/{NS}/pods/stranded/status", {"status": {"phase": "Running"}},
                 "application/merge-patch+json")
    out = world.kubectl("exec", "stranded", "--", "true", check=False)
    assert f"error dialing backend: dial tcp 127.0.0.1:{port}: connect: connection refused" in out.stderr, out.stderr
    out = world.kubectl("logs", "stranded", check=False)
    assert f'Get "https://127.0.0.1:{port}/containerLogs/{NS}/stranded/c?' in out.stderr, out.stderr
    assert f"dial tcp 127.0.0.1:{port}: connect: connection refused" in out.stderr, out.stderr
    world.cp.api("POST", f"/api/v1/namespaces/{NS}/pods", {"apiVersion": "v1", "kind": "Pod",
                                                           "metadata": {"name": "unbound"}, "spec": spec})
    r = world.cp.request("GET", f"/api/v1/namespaces/{NS}/pods/unbound/exec?command=true&stdout=true")
    assert (r.code, r.body["message"]) == (400, "pod unbound does not have a host assigned")
    assert world.cp.request("GET", f"/api/v1/namespaces/{NS}/pods/unbound/log").code == 200  # empty, no node yet


@pytest.mark.parametrize("protocol", ["v4.channel.k8s.io", "channel.k8s.io"])
def test_exec_over_older_channel_protocols(world: World, protocol: str) -> None:
    import websocket

    name = "old-" + protocol.split(".")[0]
    world.pod(name, ["c"])
    ctx = world.cp.server
    url = (world.cp.url.replace("https://", "wss://") + f"/api/v1/namespaces/{NS}/pods/{name}/exec?"
           "command=sh&command=-c&command=echo+out%3B+echo+err+%3E%262%3B+exit+2&stdout=true&stderr=true")
    ws = websocket.create_connection(url, subprotocols=[protocol], timeout=20, sslopt={
        "ca_certs": ctx.ca, "certfile": ctx.client_cert, "keyfile": ctx.client_key})
    frames: dict[int, bytes] = {}
    try:
        assert ws.subprotocol == protocol
        while True:
            opcode, data = ws.recv_data(control_frame=False)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                break
            if data:
                frames[data[0]] = frames.get(data[0], b"") + data[1:]
    except websocket.WebSocketConnectionClosedException:
        pass
    finally:
        ws.close()
    assert frames[1] == b"out\n" and frames[2] == b"err\n"
    if protocol.startswith("v4"):
        status = json.loads(frames[3])
        assert status["reason"] == "NonZeroExitCode" and status["details"]["causes"][0]["message"] == "2"
    else:  # before v4 the error channel carried only the message
        assert frames[3].decode().endswith("exit code 2")


def test_cp_both_ways(world: World) -> None:
    pod = world.pod("files", ["c"])
    src = os.path.join(world.tmp, "upload.txt")
    with open(src, "w") as f:
        f.write("payload\n" * 1000)
    world.kubectl("cp", src, f"files:{pod.directory}/uploaded.txt")
    with open(os.path.join(pod.directory, "uploaded.txt")) as f:
        assert f.read() == "payload\n" * 1000
    back = os.path.join(world.tmp, "downloaded.txt")
    world.kubectl("cp", f"files:{pod.directory}/uploaded.txt", back)
    with open(back) as f:
        assert f.read() == "payload\n" * 1000


def test_port_forward_then_http_get(world: World) -> None:
    pod = world.pod("web", ["c"])
    server, port = world.loop.run(http_server(b"hello from the pod\n"))
    pod.containers["c"].ports[80] = port
    local = free_port()
    env = dict(os.environ, HOME=world.cp.tmp)
    out_path = os.path.join(world.tmp, "pf.out")
    with open(out_path, "wb") as out:
        proc = register_process(subprocess.Popen(
            ["kubectl", "--kubeconfig", world.cp.admin_kubeconfig, "-n", NS, "port-forward", "pod/web",
             f"{local}:80"], stdout=out, stderr=subprocess.STDOUT, env=env))
    try:
        wait_for(lambda: b"Forwarding from 127.0.0.1" in open(out_path, "rb").read(), 30, "port-forward to listen")
        for _ in range(3):  # each GET is a new forwarded connection (a new SPDY stream pair)
            conn = http.client.HTTPConnection("127.0.0.1", local, timeout=20)
            conn.request("GET", "/")
            resp = conn.getresponse()
            assert (resp.status, resp.read()) == (200, b"hello from the pod\n")
            conn.close()
        assert proc.poll() is None
    finally:
        stop_process(proc)
        world.loop.run(_close(server))
    # nothing listens on 81: the connection is closed and kubectl reports the kubelet's error text
    local = free_port()
    with open(out_path, "wb") as out:
        proc = register_process(subprocess.Popen(
            ["kubectl", "--kubeconfig", world.cp.admin_kubeconfig, "-n", NS, "port-forward", "pod/web",
             f"{local}:81"], stdout=out, stderr=subprocess.STDOUT, env=env))
    try:
        wait_for(lambda: b"Forwarding from 127.0.0.1" in open(out_path, "rb").read(), 30, "port-forward to listen")
        conn = http.client.HTTPConnection("127.0.0.1", local, timeout=20)
        with pytest.raises((http.client.HTTPException, ConnectionError)):
            conn.request("GET", "/")
            conn.getresponse()
        conn.close()
        wait_for(lambda: b"error forwarding port 81 to pod web, uid " in open(out_path, "rb").read(), 30,
                 "the forwarding error")
        assert b"connection refused" in open(out_path, "rb").read()
    finally:
        stop_process(proc)


async def _close(server: Any) -> None:
    server.close()
    await server.wait_closed()


def test_python_client_exec_and_portforward(world: World) -> None:
    from kubernetes import client, config
    from kubernetes.stream import portforward, stream

    pod = world.pod("py", ["c"])
    server, port = world.loop.run(http_server(b"py says hi\n"))
    pod.containers["c"].ports[8080] = port
    api = client.CoreV1Api(config.new_client_from_config(world.cp.admin_kubeconfig))
    try:
        out = stream(api.connect_get_namespaced_pod_exec, "py", NS, command=["sh", "-c", "echo hi; echo e >&2"],
                     stderr=True, stdin=False, stdout=True, tty=False)
        assert "hi" in out
        resp = stream(api.connect_get_namespaced_pod_exec, "py", NS, command=["sh", "-c", "read x; echo got-$x; exit 7"],
                      stderr=True, stdin=True, stdout=True, tty=False, _preload_content=False)
        resp.write_stdin("abc\n")
        resp.run_forever(timeout=30)
        assert "got-abc" in resp.read_stdout() + resp._all.getvalue()
        assert resp.returncode == 7
        resp.close()
        tty = stream(api.connect_get_namespaced_pod_exec, "py", NS, command=["sh", "-c", "tty; read x; stty size"],
                     stderr=True, stdin=True, stdout=True, tty=True, _preload_content=False)
        tty.write_channel(4, '{"Width":100,"Height":30}')  # applied before the line that lets stty run
        tty.write_stdin("go\n")
        tty.run_forever(timeout=30)
        out = tty.read_stdout() if tty.peek_stdout() else ""
        assert "/dev/pts/" in out and "30 100" in out, out
        tty.close()
        pf = portforward(api.connect_get_namespaced_pod_portforward, "py", NS, ports="8080")
        sock = pf.socket(8080)
        sock.setblocking(True)
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = b""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        assert data.startswith(b"HTTP/1.0 200 OK") and data.endswith(b"py says hi\n")
        sock.close()
        assert pf.error(8080) is None
        pf.close()
    finally:
        world.loop.run(_close(server))
        api.api_client.close()


def test_python_client_interactive_shell_and_several_ports(world: World) -> None:
    from kubernetes import client, config
    from kubernetes.stream import portforward, stream
    from kubernetes.stream.ws_client import ERROR_CHANNEL

    pod = world.pod("multi", ["c"])
    servers = [world.loop.run(echo_server()) for _ in range(2)]
    pod.containers["c"].ports.update({1234: servers[0][1], 1235: servers[1][1]})
    api = client.CoreV1Api(config.new_client_from_config(world.cp.admin_kubeconfig))
    try:
        sh = stream(api.connect_post_namespaced_pod_exec, "multi", NS, command=["/bin/sh"], stderr=True, stdin=True,
                    stdout=True, tty=False, _preload_content=False)
        sh.write_stdin("echo to stdout\n")
        assert sh.readline_stdout(timeout=20) == "to stdout"
        sh.write_stdin("echo to stderr >&2\n")
        assert sh.readline_stderr(timeout=20) == "to stderr"
        sh.write_stdin("exit\n")
        wait_for(lambda: sh.update(timeout=1) or not sh.is_open(), 20, "the shell's end")
        assert json.loads(sh.peek_channel(ERROR_CHANNEL))["status"] == "Success"
        assert sh.returncode == 0
        pf = portforward(api.connect_get_namespaced_pod_portforward, "multi", NS, ports="1234,1235,1236")
        socks = [pf.socket(p) for p in (1234, 1235)]
        for i, sock in enumerate(socks):
            sock.setblocking(True)
            sock.sendall(b"ping %d" % i)
        for i, sock in enumerate(socks):
            got = b""
            while len(got) < 6:
                got += sock.recv(64)
            assert got == b"ping %d" % i
        refused = pf.socket(1236)
        refused.setblocking(True)
        assert refused.recv(64) == b""
        assert "error forwarding port 1236 to pod multi" in (pf.error(1236) or "")
        assert pf.error(1234) is None and pf.error(1235) is None
        for sock in socks:
            sock.close()
        wait_for(lambda: not pf.connected, 20, "the port-forward to end once every local socket closed")
    finally:
        for server, _ in servers:
            world.loop.run(_close(server))
        api.api_client.close()


def test_kubelet_answers_only_verified_and_authorized_clients(world: World) -> None:
    ctx = ssl.create_default_context(cafile=os.path.join(world.kubelet_pki, "ca.crt"))
    path = f"/containerLogs/{NS}/logs/c"

    def get(context: ssl.SSLContext) -> tuple[int, bytes]:
        conn = http.client.HTTPSConnection("127.0.0.1", world.kubelet_port, context=context, timeout=20)
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    assert get(ctx) == (401, b"Unauthorized")
    mallory = pki.issue(world.kubelet_pki, "client", "mallory", cn="mallory", orgs=["devs"])
    ctx_m = ssl.create_default_context(cafile=os.path.join(world.kubelet_pki, "ca.crt"))
    ctx_m.load_cert_chain(mallory.cert, mallory.key)
    assert get(ctx_m) == (403, b"Forbidden (user=mallory, verb=get, resource=nodes, subresource(s)=[proxy])")
    other = os.path.join(world.tmp, "other-ca")
    pki.init_ca(other, common_name="other")
    stranger = pki.issue(other, "client", "stranger", cn="stranger")
    ctx_s = ssl.create_default_context(cafile=os.path.join(world.kubelet_pki, "ca.crt"))
    ctx_s.load_cert_chain(stranger.cert, stranger.key)
    with pytest.raises((ssl.SSLError, ConnectionError, socket.error)):
        get(ctx_s)
