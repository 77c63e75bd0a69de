"""Membership changes sent to any member are decided where the leader's progress is known (issue #13).

The same etcdctl 3.4 commands against every member of a 3-member mTLS cluster of etcd 3.4 and of raftkv:
a learner that never started cannot be promoted through the leader nor through a follower (etcd
forwards promote to its leader), the other strict reconfiguration refusals read the same from each
member, and a learner that started and caught up is promoted through a follower.
"""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from tests.conftest import free_port, register_process, stop_process, wait_for
from tests.e2e.cluster import Member, ProcessCluster

pytestmark = pytest.mark.e2e

MEMBER_CHANGE_DEADLINE_S = 30.0
CATCH_UP_DEADLINE_S = 60.0


def ctl(c: ProcessCluster, endpoint: str, *args: str) -> subprocess.CompletedProcess[str]:
    return c.etcdctl(*args, endpoints=[endpoint])


def out(c: ProcessCluster, endpoint: str, *args: str) -> str:
    p = ctl(c, endpoint, *args)
    assert p.returncode == 0, f"etcdctl --endpoints={endpoint} {' '.join(args)}: {p.stderr.strip()}"
    return p.stdout


def error(c: ProcessCluster, endpoint: str, *args: str) -> str:
    """The `Error: ...` line of a command that must fail."""
    p = ctl(c, endpoint, *args)
    assert p.returncode != 0, f"etcdctl --endpoints={endpoint} {' '.join(args)} succeeded: {p.stdout!r}"
    lines = [line for line in p.stderr.splitlines() if line.startswith("Error: ")]
    assert lines, p.stderr
    return lines[-1]


def leader_first(c: ProcessCluster) -> list[str]:
    """The three original members' client URLs, the leader's first, once they name the same leader."""
    def agreed() -> list[dict] | None:
        p = c.etcdctl("endpoint", "status", "-w", "json", endpoints=c.endpoints[:3])
        st = json.loads(p.stdout) if p.returncode == 0 else []
        leaders = {s["Status"]["leader"] for s in st}
        return st if len(st) == 3 and len(leaders) == 1 and 0 not in leaders else None

    st = wait_for(agreed, 20, "every member to name the same leader")
    lead = st[0]["Status"]["leader"]
    return sorted((s["Endpoint"] for s in st), key=lambda ep: next(
        s["Status"]["header"]["member_id"] != lead for s in st if s["Endpoint"] == ep))


def members(c: ProcessCluster, endpoint: str) -> dict[str, dict]:
    return {format(m["ID"], "x"): m for m in json.loads(out(c, endpoint, "member", "list", "-w", "json"))["members"]}


def add_learner(c: ProcessCluster, name: str, url: str) -> str:
    # etcd refuses reconfiguration until its voters have been connected for 5 s ("unhealthy cluster")
    added = wait_for(lambda: out(c, c.endpoints[0], "member", "add", name, f"--peer-urls={url}", "--learner"),
                     MEMBER_CHANGE_DEADLINE_S, "the cluster to accept a learner")
    m = re.search(r"Member\s+([0-9a-f]+) added to cluster\s+([0-9a-f]+)", added)
    assert m, added
    return m.group(1)


def test_no_member_promotes_a_learner_that_never_started(cluster: ProcessCluster) -> None:
    c = cluster
    dead_url = f"https://127.0.0.1:{free_port()}"
    learner = add_learner(c, "never-started", dead_url)
    try:
        endpoints = leader_first(c)
        voter = next(k for k, m in members(c, endpoints[0]).items() if not m.get("isLearner"))
        for ep in endpoints:  # the leader, then both followers
            assert error(c, ep, "member", "promote", learner) == \
                "Error: etcdserver: can only promote a learner member which is in sync with leader"
            assert error(c, ep, "member", "add", "second", f"--peer-urls=https://127.0.0.1:{free_port()}",
                         "--learner") == "Error: etcdserver: too many learner members in cluster"
            # (the same URL set alone, added again within a second, gets the same id: "member ID already exist")
            assert error(c, ep, "member", "add", "same-url",
                         f"--peer-urls={dead_url},https://127.0.0.1:{free_port()}") == \
                "Error: etcdserver: Peer URLs already exists"
            assert error(c, ep, "member", "promote", voter) == "Error: etcdserver: can only promote a learner member"
            assert error(c, ep, "member", "promote", "1234") == "Error: etcdserver: member not found"
            assert error(c, ep, "member", "remove", "1234") == "Error: etcdserver: member not found"
            assert error(c, ep, "member", "update", "1234", f"--peer-urls=https://127.0.0.1:{free_port()}") == \
                "Error: etcdserver: member not found"
            listed = members(c, ep)
            assert listed[learner].get("isLearner") is True and len(listed) == 4  # no dead voter anywhere
    finally:
        wait_for(lambda: out(c, c.endpoints[0], "member", "remove", learner), MEMBER_CHANGE_DEADLINE_S,
                 "the learner to be removed")


def test_a_learner_that_caught_up_is_promoted_through_a_follower(cluster: ProcessCluster) -> None:
    c = cluster
    new = Member("m4", free_port(), free_port(), c.base / "m4.data", c.base / "m4.log")
    learner = add_learner(c, new.name, new.peer_url)
    c.members.append(new)
    cmd = c.command(new)
    cmd[cmd.index("--initial-cluster-state") + 1] = "existing"
    try:
        with open(new.log_path, "ab") as log:
            new.proc = register_process(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT))
        follower = leader_first(c)[-1]
        promoted = wait_for(lambda: out(c, follower, "member", "promote", learner), CATCH_UP_DEADLINE_S,
                            "the started learner to catch up and be promoted through a follower")
        assert re.fullmatch(rf"Member\s+{learner} promoted in cluster\s+[0-9a-f]+\n", promoted), promoted
        for ep in c.endpoints[:3]:
            wait_for(lambda ep=ep: members(c, ep)[learner].get("isLearner") is None, 20,  # type: ignore[misc]
                     f"{ep} to list the promoted member as a voter")
        assert out(c, new.client_url, "put", "rc/k", "from m4") == "OK\n"
        wait_for(lambda: out(c, c.endpoints[0], "member", "remove", learner), MEMBER_CHANGE_DEADLINE_S,
                 "the promoted member to be removed again")
    finally:
        c.members.remove(new)
        if new.proc is not None:
            stop_process(new.proc)


def test_with_a_voter_down_every_member_refuses_changes_that_need_it(cluster: ProcessCluster) -> None:
    c = cluster
    endpoints = leader_first(c)
    down = next(m for m in c.members if m.client_url == endpoints[-1])  # a follower: no election needed
    up = endpoints[:-1]
    live_follower = next(k for k, m in members(c, up[0]).items() if down.client_url not in m["clientURLs"]
                         and up[1] in m["clientURLs"])
    assert down.proc is not None
    stop_process(down.proc)
    try:
        url = f"https://127.0.0.1:{free_port()}"
        # the members notice the lost link when a write to it fails
        wait_for(lambda: error(c, up[0], "member", "add", "x", f"--peer-urls={url}", "--learner") ==
                 "Error: etcdserver: unhealthy cluster", 20, "the leader to see the stopped member's link down")
        for ep in up:
            assert wait_for(lambda ep=ep: error(c, ep, "member", "add", "x", f"--peer-urls={url}", "--learner"),  # type: ignore[misc]
                            20, "a refusal") == "Error: etcdserver: unhealthy cluster"
            # removing a member that is up would leave one of two voters: refused; removing the down one would not be
            assert error(c, ep, "member", "remove", live_follower) == "Error: etcdserver: unhealthy cluster"
    finally:
        with open(down.log_path, "ab") as log:
            down.proc = register_process(subprocess.Popen(c.command(down), stdout=log, stderr=subprocess.STDOUT))
        c.wait_healthy()
