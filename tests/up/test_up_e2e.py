"""`raftkv up --simulated-nodes 3` as a user runs it (no root needed): nodes Ready in kubectl, a Deployment's pods
Running, `raftkv status`, kill -9 of an API server and a member while the cluster keeps working and the
supervisor starts them again, a second `raftkv up` refused, a killed supervisor's cluster completed by the next
`raftkv up`, `raftkv down` leaving no process, the data back at the next start, Ctrl-C stopping it, and a damaged member
refused with nothing left running."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from raftkv.up import procs
from tests.conftest import wait_for
from tests.up.harness import Up, up_dir

pytestmark = pytest.mark.e2e


def ready_nodes(u: Up, context: str = "raftkv") -> set[str]:
    body = u.kubectl_json("--context", context, "get", "nodes")
    return {n["metadata"]["name"] for n in body["items"]
            if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])}


def running_pods(u: Up, selector: str, context: str = "raftkv") -> int:
    p = u.kubectl("--context", context, "get", "pods", "-l", selector, "-o", "json", check=False)
    if p.returncode != 0:
        return -1
    import json
    return sum(1 for x in json.loads(p.stdout)["items"] if x["status"].get("phase") == "Running"
               and not x["metadata"].get("deletionTimestamp"))


def test_up_simulated_nodes_survives_kills_restarts_and_goes_down_cleanly() -> None:
    with up_dir() as u:
        u.start("--simulated-nodes", "3")
        u.wait_up()
        out = u.output()
        assert f"export KUBECONFIG={u.d}/kubeconfig" in out
        for name in ("member-1", "apiserver-2", "controller-manager-2", "scheduler-1", "simnodes", "dns"):
            assert f"  {name} " in out
        assert ready_nodes(u) == {"simnode-0", "simnode-1", "simnode-2"}

        # the kubernetes Service's endpoints list both API servers
        ep = u.kubectl_json("get", "endpoints", "kubernetes")
        assert sorted(a["ip"] for a in ep["subsets"][0]["addresses"]) == ["127.0.0.1", "127.0.0.2"]

        u.kubectl("create", "deployment", "web", "--image=busybox", "--replicas=3", "--", "sleep", "3600")
        wait_for(lambda: running_pods(u, "app=web") == 3, 90, "3 web pods Running")

        st = u.run("status", "--dir", u.d)
        assert st.returncode == 0, st.stderr
        lines = {ln.split()[0]: ln for ln in st.stdout.splitlines() if ln.strip()}
        for name in ("member-1", "member-2", "member-3", "apiserver-1", "apiserver-2", "controller-manager-1",
                     "controller-manager-2", "scheduler-1", "scheduler-2", "simnodes", "dns"):
            assert " ok " in lines[name], st.stdout
            assert "Mi" in lines[name], st.stdout
        assert st.stdout.count("raft leader") == 1, st.stdout
        assert st.stdout.count("lease kube-controller-manager") == 1, st.stdout
        assert st.stdout.count("lease kube-scheduler") == 1, st.stdout
        assert "total" in lines

        # a second `raftkv up` on the same directory is refused and starts nothing
        second = u.run("up", "--dir", u.d, timeout=60)
        assert second.returncode == 1
        assert "already runs the cluster in" in second.stderr and "raftkv down" in second.stderr

        # kill -9 of one API server and one member: the other API server keeps serving, the supervisor restarts
        old = {n: u.pid(n) for n in ("apiserver-1", "member-1")}
        for pid in old.values():
            os.kill(pid, signal.SIGKILL)
        # the killed member may have been the Raft leader: writes fail ("etcdserver: no leader") for the election
        wait_for(lambda: u.kubectl("--context", "raftkv-apiserver-2", "scale", "deployment", "web", "--replicas=5",
                                   check=False).returncode == 0, 30, "a write through apiserver-2 to succeed")
        wait_for(lambda: running_pods(u, "app=web", "raftkv-apiserver-2") == 5, 120, "5 web pods Running")

        def restarted() -> bool:
            st = u.state()
            return all(st.procs[n].pid != pid and procs.alive(st.procs[n]) for n, pid in old.items())
        wait_for(restarted, 60, "the supervisor to start apiserver-1 and member-1 again")
        wait_for(lambda: ready_nodes(u, "raftkv-apiserver-1") == {"simnode-0", "simnode-1", "simnode-2"}, 60,
                 "apiserver-1 to serve again")
        assert "apiserver-1 started again" in u.output() and "member-1 started again" in u.output()

        # the supervisor itself dies: the components run on; the next `raftkv up` keeps them and starts what is gone
        assert u.proc is not None
        u.proc.kill()
        u.proc.wait(10)
        gone = u.pid("apiserver-2")
        os.kill(gone, signal.SIGKILL)
        kept = u.pid("member-2")
        u.start()
        u.wait_up(times=2)
        assert "still running from before:" in u.output()
        assert u.pid("member-2") == kept
        assert u.pid("apiserver-2") != gone and procs.alive(u.state().procs["apiserver-2"])
        assert running_pods(u, "app=web", "raftkv-apiserver-2") == 5

        # down: nothing of the cluster runs any more
        down = u.run("down", "--dir", u.d, timeout=180)
        assert down.returncode == 0, down.stderr
        assert u.proc.wait(30) == 0
        assert u.recorded_alive() == []
        assert u.processes_mentioning_dir() == []

        # up again: the same cluster with its data
        u.start()
        u.wait_up(times=3)
        assert u.kubectl_json("get", "deployment", "web")["spec"]["replicas"] == 5
        u.proc.send_signal(signal.SIGINT)  # Ctrl-C
        assert u.proc.wait(60) == 0
        assert "stopped; `raftkv up --dir" in u.output()
        assert u.processes_mentioning_dir() == []

        # a member whose WAL is damaged: a clear message naming it, and nothing left running
        wal = os.path.join(u.d, "data", "member-2", "member", "wal")
        path = os.path.join(wal, sorted(os.listdir(wal))[0])
        with open(path, "r+b") as f:
            data = bytearray(f.read())
            mid = len(data) // 2
            data[mid:mid + 64] = bytes(b ^ 0xFF for b in data[mid:mid + 64])
            f.seek(0)
            f.write(data)
        bad = subprocess.run([*u_cmd(), "up", "--dir", u.d], capture_output=True, text=True, timeout=120)
        assert bad.returncode == 1
        assert "member-2 exited with 1 while starting" in bad.stderr
        assert "corrupt record" in bad.stderr
        assert u.processes_mentioning_dir() == []


def u_cmd() -> list[str]:
    from tests.up.harness import RAFTKV
    return RAFTKV
