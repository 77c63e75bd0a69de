"""The pod worker over the in-memory CRI on a fake clock: the kubelet's behaviours end to end, without processes."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterator
from typing import Any

import pytest

from agents.kubelet.envvars import EnvSources
from agents.kubelet.fakecri import FakeRuntime
from agents.kubelet.volumes import VolumeInputs
from agents.kubelet.worker import NodeContext, PodWorker, Shared
from raftkv._pb.runtime.v1 import api_pb2 as api

pytestmark = pytest.mark.unit
Obj = dict[str, Any]


class Clock:
    def __init__(self) -> None:
        self.t = 1_767_225_600.0

    def __call__(self) -> float:
        return self.t


class FakeHost:
    def __init__(self, root: str) -> None:
        self.events: list[tuple[str, str, str, str]] = []
        self.config_maps: dict[str, Obj] = {}
        self.secrets: list[Obj] = []
        self.root = root

    def event(self, pod: Obj, field_path: str, type_: str, reason: str, message: str) -> None:
        self.events.append((field_path, type_, reason, message))

    async def env_sources(self, pod: Obj) -> EnvSources:
        return EnvSources(config_maps=dict(self.config_maps), host_ip="10.0.0.5")

    async def volume_inputs(self, pod: Obj) -> VolumeInputs:
        return VolumeInputs(root_dir=self.root, sources=await self.env_sources(pod))

    async def pull_secrets(self, pod: Obj) -> list[Obj]:
        return list(self.secrets)

    def reasons(self) -> list[str]:
        return [e[2] for e in self.events]

    def take(self) -> list[tuple[str, str, str, str]]:
        out, self.events = self.events, []
        return out


class World:
    def __init__(self, root: str) -> None:
        self.clock = Clock()
        self.cri = FakeRuntime(clock=self.clock)
        self.host = FakeHost(root)
        self.node = NodeContext(node_ip="10.0.0.5", root_dir=root, log_root=root + "/logs",
                                memory_capacity=8 << 30, runtime_prefix="fake://",
                                cluster_dns=["10.96.0.10"], cluster_domain="cluster.local")
        self.shared = Shared()

    def worker(self, uid: str = "u1") -> PodWorker:
        return PodWorker(uid, self.cri, self.host, self.node, self.shared, self.clock)

    def sync(self, w: PodWorker, pod: Obj) -> Obj:
        status = asyncio.run(w.sync(pod))
        pod["status"] = status
        return status


@pytest.fixture
def world(tmp_path: Any) -> Iterator[World]:
    yield World(str(tmp_path))


def mkpod(*containers: Obj, policy: str = "Always", inits: tuple[Obj, ...] = (), **spec: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "ns", "uid": "u1"},
            "spec": {"containers": [copy.deepcopy(c) for c in containers], "initContainers": list(inits),
                     "restartPolicy": policy, "nodeName": "n1", "terminationGracePeriodSeconds": 30, **spec},
            "status": {}}


C = {"name": "c", "image": "busybox:latest", "imagePullPolicy": "IfNotPresent", "command": ["sleep", "3600"]}


def state(status: Obj, i: int = 0) -> Obj:
    return status["containerStatuses"][i]["state"]


def test_a_pod_runs_and_is_ready_with_the_kubelets_events(world: World) -> None:
    w, pod = world.worker(), mkpod(C)
    s = world.sync(w, pod)
    assert s["phase"] == "Running" and s["podIP"].startswith("10.88.0.")
    assert s["containerStatuses"][0]["containerID"].startswith("fake://") and s["containerStatuses"][0]["ready"]
    assert world.host.take() == [
        ("spec.containers{c}", "Normal", "Pulled", 'Container image "busybox:latest" already present on machine'),
        ("spec.containers{c}", "Normal", "Created", "Created container: c"),
        ("spec.containers{c}", "Normal", "Started", "Started container c")]
    cfg = next(iter(world.cri.containers.values())).config
    assert cfg.labels["io.kubernetes.pod.uid"] == "u1" and cfg.labels["io.kubernetes.container.name"] == "c"
    assert list(cfg.command) == ["sleep", "3600"]
    assert cfg.linux.security_context.namespace_options.pid == api.CONTAINER  # PID 1 of its own namespace
    world.sync(w, pod)
    assert [m for m, _ in world.cri.calls].count("CreateContainer") == 1  # nothing more to do


def test_crash_loop_restarts_with_growing_back_off(world: World) -> None:
    w, pod = world.worker(), mkpod(C)
    world.sync(w, pod)
    restarts = []
    for _ in range(4):
        cid = world.cri.by_name("c")[-1].id
        world.clock.t += 1
        world.cri.exit(cid, 1)
        s = world.sync(w, pod)
        started = world.clock.t
        while "running" not in state(s):
            assert state(s)["waiting"]["reason"] == "CrashLoopBackOff"
            assert s["containerStatuses"][0]["lastState"]["terminated"]["exitCode"] == 1
            world.clock.t += 1
            s = world.sync(w, pod)
        restarts.append(world.clock.t - started)
        assert s["containerStatuses"][0]["restartCount"] == len(restarts)
    assert restarts == [0, 10, 20, 40]
    assert ("spec.containers{c}", "Warning", "BackOff",
            "Back-off restarting failed container c in pod p_ns(u1)") in world.host.events


def test_crash_loop_message_is_the_kubelets(world: World) -> None:
    w, pod = world.worker(), mkpod(C)
    world.sync(w, pod)
    world.cri.exit(world.cri.by_name("c")[-1].id, 1)
    world.sync(w, pod)
    world.cri.exit(world.cri.by_name("c")[-1].id, 2)
    s = world.sync(w, pod)
    assert state(s) == {"waiting": {"reason": "CrashLoopBackOff",
                                    "message": "back-off 10s restarting failed container=c pod=p_ns(u1)"}}
    assert s["phase"] == "Running"


def test_a_failing_liveness_probe_restarts_the_container(world: World) -> None:
    probe = {"exec": {"command": ["check"]}, "periodSeconds": 1, "failureThreshold": 3}
    w, pod = world.worker(), mkpod({**C, "livenessProbe": probe})
    world.cri.exec_handler = lambda name, cmd: (1, b"not healthy\n")
    world.sync(w, pod)
    first = world.cri.by_name("c")[-1].id
    changed = []
    for _ in range(3):
        changed.append(asyncio.run(w.probe(pod)))
        world.clock.t += 1
    assert changed == [False, False, True]
    assert world.host.reasons().count("Unhealthy") == 3
    assert ("spec.containers{c}", "Warning", "Unhealthy", "Liveness probe failed: not healthy\n") in world.host.events
    s = world.sync(w, pod)
    assert ("spec.containers{c}", "Normal", "Killing",
            "Container c failed liveness probe, will be restarted") in world.host.events
    assert world.cri.by_name("c")[-1].id != first and s["containerStatuses"][0]["restartCount"] == 1
    assert s["containerStatuses"][0]["lastState"]["terminated"]["exitCode"] == 143


def test_readiness_decides_ready(world: World) -> None:
    probe = {"exec": {"command": ["ready"]}, "periodSeconds": 1, "successThreshold": 1, "failureThreshold": 1}
    w, pod = world.worker(), mkpod({**C, "readinessProbe": probe})
    answer = {"code": 1}
    world.cri.exec_handler = lambda name, cmd: (answer["code"], b"")
    s = world.sync(w, pod)
    assert not s["containerStatuses"][0]["ready"]
    answer["code"] = 0
    assert asyncio.run(w.probe(pod))
    assert w.status(pod)["containerStatuses"][0]["ready"]


def test_a_startup_probe_holds_liveness_off(world: World) -> None:
    startup = {"exec": {"command": ["started"]}, "periodSeconds": 1, "failureThreshold": 10}
    liveness = {"exec": {"command": ["live"]}, "periodSeconds": 1, "failureThreshold": 1}
    w, pod = world.worker(), mkpod({**C, "startupProbe": startup, "livenessProbe": liveness})
    ran: list[str] = []
    started = {"ok": False}

    def handler(name: str, cmd: list[str]) -> tuple[int, bytes]:
        ran.append(cmd[0])
        return (0 if started["ok"] else 1), b""
    world.cri.exec_handler = handler
    world.sync(w, pod)
    for _ in range(3):
        asyncio.run(w.probe(pod))
        world.clock.t += 1
    assert ran == ["started"] * 3 and not w.status(pod)["containerStatuses"][0]["started"]
    started["ok"] = True
    asyncio.run(w.probe(pod))
    world.clock.t += 1
    asyncio.run(w.probe(pod))
    assert ran[-1] == "live" and w.status(pod)["containerStatuses"][0]["started"]


def test_missing_image_is_err_image_pull_then_image_pull_back_off(world: World) -> None:
    w, pod = world.worker(), mkpod({**C, "image": "localhost/nope:1"})
    s = world.sync(w, pod)
    assert state(s)["waiting"]["reason"] == "ErrImagePull"
    assert state(s)["waiting"]["message"].startswith(
        'Failed to pull image "localhost/nope:1": rpc error: code = NotFound desc = failed to pull and unpack image')
    assert [e[2:] for e in world.host.take()][0] == ("Pulling", 'Pulling image "localhost/nope:1"')
    world.clock.t += 1
    s = world.sync(w, pod)
    assert state(s)["waiting"] == {"reason": "ImagePullBackOff", "message": 'Back-off pulling image "localhost/nope:1"'}
    assert ("spec.containers{c}", "Normal", "BackOff", 'Back-off pulling image "localhost/nope:1"') in world.host.events
    world.clock.t += 10
    s = world.sync(w, pod)
    assert state(s)["waiting"]["reason"] == "ErrImagePull"
    assert s["phase"] == "Pending"


def test_pull_always_pulls_and_reports_the_time(world: World) -> None:
    w, pod = world.worker(), mkpod({**C, "imagePullPolicy": "Always"})
    world.sync(w, pod)
    pulled = [e[3] for e in world.host.events if e[2] == "Pulled"]
    assert pulled == ['Successfully pulled image "busybox:latest" in 0ms (0ms including waiting). '
                      "Image size: 1000000 bytes."]


def test_never_pull_of_a_missing_image(world: World) -> None:
    w, pod = world.worker(), mkpod({**C, "image": "x:1", "imagePullPolicy": "Never"})
    s = world.sync(w, pod)
    assert state(s)["waiting"] == {"reason": "ErrImageNeverPull",
                                   "message": 'Container image "x:1" is not present with pull policy of Never'}


def test_a_missing_config_map_key_ref_is_create_container_config_error(world: World) -> None:
    c = {**C, "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}}]}
    w, pod = world.worker(), mkpod(c)
    s = world.sync(w, pod)
    assert state(s) == {"waiting": {"reason": "CreateContainerConfigError", "message": 'configmap "cm" not found'}}
    assert ("spec.containers{c}", "Warning", "Failed", 'Error: configmap "cm" not found') in world.host.events
    world.host.config_maps["cm"] = {"metadata": {"name": "cm"}, "data": {"k": "v"}}
    s = world.sync(w, pod)
    assert "running" in state(s)
    env = {kv.key: kv.value for kv in world.cri.by_name("c")[-1].config.envs}
    assert env["X"] == "v"


def test_a_missing_config_map_volume_is_failed_mount(world: World) -> None:
    w = world.worker()
    pod = mkpod({**C, "volumeMounts": [{"name": "v", "mountPath": "/v"}]},
                volumes=[{"name": "v", "configMap": {"name": "cm"}}])
    s = world.sync(w, pod)
    assert state(s) == {"waiting": {"reason": "ContainerCreating"}}
    assert ("", "Warning", "FailedMount",
            'MountVolume.SetUp failed for volume "v" : configmap "cm" not found') in world.host.events
    world.host.config_maps["cm"] = {"metadata": {"name": "cm"}, "data": {"f": "hello"}}
    s = world.sync(w, pod)
    assert "running" in state(s)
    mount = world.cri.by_name("c")[-1].config.mounts[0]
    assert mount.container_path == "/v" and mount.readonly
    assert open(mount.host_path + "/f").read() == "hello"


def test_a_command_that_does_not_exist_is_a_start_error(world: World) -> None:
    w, pod = world.worker(), mkpod({**C, "command": ["/does/not/exist"]})
    s = world.sync(w, pod)
    cs = s["containerStatuses"][0]
    assert state(s)["waiting"]["reason"] == "RunContainerError"
    assert state(s)["waiting"]["message"].startswith("failed to create containerd task")  # the runtime's words
    assert cs["lastState"]["terminated"]["reason"] == "StartError"
    assert cs["lastState"]["terminated"]["exitCode"] == 128
    s = world.sync(w, pod)
    s = world.sync(w, pod)
    assert state(s)["waiting"]["reason"] == "CrashLoopBackOff"


@pytest.mark.parametrize(("policy", "code", "phase", "restarted"), [
    ("Never", 0, "Succeeded", False), ("Never", 3, "Failed", False), ("OnFailure", 0, "Succeeded", False),
    ("OnFailure", 3, "Running", True)])
def test_restart_policies(world: World, policy: str, code: int, phase: str, restarted: bool) -> None:
    w, pod = world.worker(), mkpod(C, policy=policy)
    world.sync(w, pod)
    world.cri.exit(world.cri.by_name("c")[-1].id, code)
    s = world.sync(w, pod)
    assert s["phase"] == phase
    assert (len(world.cri.by_name("c")) == 2) == restarted
    if phase in ("Succeeded", "Failed"):
        assert not any(sb.ready for sb in world.cri.sandboxes.values())  # the sandbox goes, the container stays
        assert s["containerStatuses"][0]["state"]["terminated"]["exitCode"] == code


def test_init_containers_run_in_order_before_the_containers(world: World) -> None:
    i1, i2 = {**C, "name": "i1"}, {**C, "name": "i2"}
    w, pod = world.worker(), mkpod(C, inits=(i1, i2))
    s = world.sync(w, pod)
    assert [c.config.metadata.name for c in world.cri.containers.values()] == ["i1"]
    assert s["phase"] == "Pending" and s["initContainerStatuses"][0]["state"].get("running")
    world.cri.exit(world.cri.by_name("i1")[-1].id, 0)
    world.sync(w, pod)
    world.cri.exit(world.cri.by_name("i2")[-1].id, 0)
    s = world.sync(w, pod)
    assert [c.config.metadata.name for c in world.cri.containers.values()] == ["i1", "i2", "c"]
    assert s["phase"] == "Running"


def test_deletion_stops_with_the_grace_period_then_the_pod_is_gone(world: World) -> None:
    pre_stop = {"exec": {"command": ["drain"]}}
    w = world.worker()
    pod = mkpod({**C, "lifecycle": {"preStop": pre_stop}}, {**C, "name": "d"})
    world.sync(w, pod)
    world.host.take()
    pod["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:30Z"
    pod["metadata"]["deletionGracePeriodSeconds"] = 7
    world.cri.ignores_term.add("d")
    s = world.sync(w, pod)
    assert sorted(world.cri.stop_timeouts.values()) == [7, 7]
    assert ("ExecSync", world.cri.by_name("c")[-1].id) in world.cri.calls  # the preStop hook ran first
    assert sorted(e[3] for e in world.host.events if e[2] == "Killing") == ["Stopping container c",
                                                                           "Stopping container d"]
    assert w.gone() and s["phase"] == "Failed"
    codes = {cs["name"]: cs["state"]["terminated"]["exitCode"] for cs in s["containerStatuses"]}
    assert codes == {"c": 143, "d": 137}
    asyncio.run(w.remove())
    assert not world.cri.containers and not world.cri.sandboxes


def test_a_restarted_kubelet_adopts_running_containers(world: World) -> None:
    pod = mkpod(C)
    world.sync(world.worker(), pod)
    before = dict(world.cri.containers)
    fresh = PodWorker("u1", world.cri, world.host, world.node, Shared(), world.clock)
    s = world.sync(fresh, pod)
    assert world.cri.containers.keys() == before.keys() and "running" in state(s)
    assert s["containerStatuses"][0]["restartCount"] == 0


def test_memory_limit_reaches_the_runtime_and_oom_is_reported(world: World) -> None:
    c = {**C, "resources": {"limits": {"memory": "50Mi", "cpu": "200m"}}}
    w, pod = world.worker(), mkpod(c)
    world.sync(w, pod)
    res = world.cri.by_name("c")[-1].config.linux.resources
    assert res.memory_limit_in_bytes == 50 << 20 and res.cpu_quota == 20000 and res.cpu_period == 100000
    assert res.oom_score_adj == -997
    world.cri.exit(world.cri.by_name("c")[-1].id, 137, reason="OOMKilled")
    s = world.sync(w, pod)
    assert s["containerStatuses"][0]["lastState"]["terminated"]["reason"] == "OOMKilled"
    assert s["qosClass"] == "Guaranteed"


def test_a_sandbox_that_cannot_be_made_is_an_event_and_the_pod_waits(world: World) -> None:
    world.cri.fail_sandbox = "failed to setup network for sandbox: plugin type=\"bridge\" failed"
    w, pod = world.worker(), mkpod(C)
    s = world.sync(w, pod)
    assert s["phase"] == "Pending" and state(s) == {"waiting": {"reason": "ContainerCreating"}}
    ev = [e for e in world.host.events if e[2] == "FailedCreatePodSandBox"]
    assert ev and ev[0][3].startswith("Failed to create pod sandbox: rpc error: code = Unknown desc = failed to")


def test_runtime_health_in_the_kubelets_words(world: World) -> None:
    from agents.kubelet.kubelet import runtime_error

    assert asyncio.run(runtime_error(world.cri)) == ""

    class NoNetwork(FakeRuntime):
        async def Status(self, req: api.StatusRequest) -> api.StatusResponse:
            conds = [api.RuntimeCondition(type="RuntimeReady", status=True),
                     api.RuntimeCondition(type="NetworkReady", status=False, reason="NetworkPluginNotReady",
                                          message="cni plugin not initialized")]
            return api.StatusResponse(status=api.RuntimeStatus(conditions=conds))

    class Down(FakeRuntime):
        async def Status(self, req: api.StatusRequest) -> api.StatusResponse:
            raise OSError("connection refused")

    assert asyncio.run(runtime_error(NoNetwork(clock=world.clock))) == (
        "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady "
        "message:cni plugin not initialized")
    assert asyncio.run(runtime_error(Down(clock=world.clock))) == "container runtime is down"


def test_config_map_volume_changes_reach_a_running_pod(world: World) -> None:
    world.host.config_maps["cm"] = {"metadata": {"name": "cm"}, "data": {"f": "one"}}
    w = world.worker()
    pod = mkpod({**C, "volumeMounts": [{"name": "v", "mountPath": "/v"}]},
                volumes=[{"name": "v", "configMap": {"name": "cm"}}])
    world.sync(w, pod)
    path = world.cri.by_name("c")[-1].config.mounts[0].host_path + "/f"
    assert open(path).read() == "one"
    world.host.config_maps["cm"] = {"metadata": {"name": "cm"}, "data": {"f": "two"}}
    world.sync(w, pod)
    assert open(path).read() == "two" and len(world.cri.by_name("c")) == 1


def test_a_failing_post_start_hook_kills_the_container_with_the_kubelets_texts(world: World) -> None:
    hook = {"exec": {"command": ["sh", "-c", "exit 3"]}}
    w, pod = world.worker(), mkpod({**C, "lifecycle": {"postStart": hook}})
    world.cri.exec_handler = lambda name, cmd: (3, b"nope\n")
    s = world.sync(w, pod)
    msg = ('Exec lifecycle hook ([sh -c exit 3]) for Container "c" in Pod "p_ns(u1)" failed - error: '
           "command 'sh -c exit 3' exited with 3: , message: \"nope\\n\"")
    assert ("spec.containers{c}", "Warning", "FailedPostStartHook", msg) in world.host.events
    assert ("spec.containers{c}", "Normal", "Killing", "FailedPostStartHook") in world.host.events
    assert state(s) == {"waiting": {"reason": "PostStartHookError", "message": msg}}
    assert s["containerStatuses"][0]["lastState"]["terminated"]["exitCode"] == 143


def test_a_failing_pre_stop_hook_is_an_event_and_the_stop_goes_on(world: World) -> None:
    w, pod = world.worker(), mkpod({**C, "lifecycle": {"preStop": {"exec": {"command": ["drain"]}}}})
    world.sync(w, pod)
    world.cri.exec_handler = lambda name, cmd: (1, b"")
    pod["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:30Z"
    world.sync(w, pod)
    failed = [e[3] for e in world.host.events if e[2] == "FailedPreStopHook"]
    assert failed == ['Exec lifecycle hook ([drain]) for Container "c" in Pod "p_ns(u1)" failed - error: '
                      "command 'drain' exited with 1: , message: \"\""]
    assert w.gone()


def test_pod_cgroups_follow_the_kubelets_cgroupfs_layout() -> None:
    from agents.kubelet.crimap import pod_cgroup
    best = mkpod(C)
    guaranteed = mkpod({**C, "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}})
    burstable = mkpod({**C, "resources": {"requests": {"cpu": "100m"}}})
    assert pod_cgroup(best, "") == ""
    assert pod_cgroup(best, "rk1") == "/rk1/kubepods/besteffort/podu1"
    assert pod_cgroup(guaranteed, "/rk1/") == "/rk1/kubepods/podu1"
    assert pod_cgroup(burstable, "rk1") == "/rk1/kubepods/burstable/podu1"


def test_image_pull_secrets_are_tried_in_turn(world: World) -> None:
    import base64
    import json

    def dockerconfig(server: str, user: str, pw: str) -> Obj:
        doc = {"auths": {server: {"auth": base64.b64encode(f"{user}:{pw}".encode()).decode()}}}
        return {"type": "kubernetes.io/dockerconfigjson",
                "data": {".dockerconfigjson": base64.b64encode(json.dumps(doc).encode()).decode()}}
    world.host.secrets = [dockerconfig("other.example:5000", "x", "y"), dockerconfig("reg.local:5000", "bad", "no"),
                          dockerconfig("https://reg.local:5000/v2/", "alice", "s3cret")]
    seen: list[tuple[str, str]] = []
    original = world.cri.PullImage

    async def pull(req: Any) -> Any:
        seen.append((req.auth.username, req.auth.password))
        if req.auth.username != "alice":
            from agents.cri.client import CRIError
            raise CRIError(__import__("grpc").StatusCode.UNKNOWN, "failed to authorize: 401 Unauthorized")
        world.cri.images["reg.local:5000/app:1"] = "sha256:" + "a" * 64
        return await original(req)
    world.cri.PullImage = pull  # type: ignore[method-assign]
    w, pod = world.worker(), mkpod({**C, "image": "reg.local:5000/app:1"})
    s = world.sync(w, pod)
    assert seen == [("bad", "no"), ("alice", "s3cret")]
    assert "running" in state(s)


def test_registry_hosts_and_credentials_match_as_dockers() -> None:
    from agents.kubelet.pullsecrets import registry_host
    assert registry_host("busybox") == "docker.io" and registry_host("library/busybox:1") == "docker.io"
    assert registry_host("localhost/busybox:1.35.0") == "localhost"
    assert registry_host("reg.local:5000/a/b:1") == "reg.local:5000"


def test_a_sidecar_runs_beside_the_main_container_and_stops_after_it(world: World) -> None:
    side = {**C, "name": "side", "restartPolicy": "Always"}
    w, pod = world.worker(), mkpod(C, inits=(side,), policy="Never")
    world.sync(w, pod)
    s = world.sync(w, pod)
    assert [c.config.metadata.name for c in world.cri.containers.values()] == ["side", "c"]
    assert s["phase"] == "Running" and s["initContainerStatuses"][0]["started"]
    world.cri.exit(world.cri.by_name("c")[-1].id, 0)
    s = world.sync(w, pod)
    assert world.cri.by_name("side")[-1].state == 2  # CONTAINER_EXITED: stopped by the kubelet
    assert ("spec.initContainers{side}", "Normal", "Killing", "Stopping container side") in world.host.events
    s = world.sync(w, pod)
    assert s["phase"] == "Succeeded"


def test_the_sandbox_gets_the_pods_dns_and_containers_the_managed_hosts_file(world: World) -> None:
    w, pod = world.worker(), mkpod(C, hostAliases=[{"ip": "10.1.2.3", "hostnames": ["foo"]}])
    s = world.sync(w, pod)
    (sb,) = world.cri.sandboxes.values()
    assert list(sb.config.dns_config.servers) == ["10.96.0.10"]
    assert list(sb.config.dns_config.searches)[:3] == ["ns.svc.cluster.local", "svc.cluster.local", "cluster.local"]
    assert list(sb.config.dns_config.options) == ["ndots:5"]
    (c,) = world.cri.containers.values()
    (hosts,) = [m for m in c.config.mounts if m.container_path == "/etc/hosts"]
    assert hosts.host_path == f"{world.node.root_dir}/pods/u1/etc-hosts"
    text = open(hosts.host_path).read()
    assert f"{s['podIP']}\tp\n" in text and text.endswith("# Entries added by HostAliases.\n10.1.2.3\tfoo\n")
