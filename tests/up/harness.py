"""`raftkv up` as a user runs it, in a directory of its own: start it, read what it prints, run kubectl with its
kubeconfig, and a teardown that leaves no process behind whatever the test did (`raftkv down`, then every
recorded PID)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from raftkv.up import procs
from tests.conftest import GiveUp, register_process, stop_process, wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RAFTKV = [sys.executable, "-m", "raftkv"]
UP_TIMEOUT_S = 150


class Up:
    def __init__(self, d: str) -> None:
        self.d = d
        self.out_path = f"{d}.out"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, *flags: str) -> None:
        with open(self.out_path, "ab") as out:
            self.proc = register_process(subprocess.Popen([*RAFTKV, "up", "--dir", self.d, *flags], cwd=ROOT,
                                                          stdout=out, stderr=subprocess.STDOUT))

    def output(self) -> str:
        try:
            with open(self.out_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def wait_up(self, times: int = 1) -> None:
        proc = self.proc
        assert proc is not None

        def up() -> bool:
            if proc.poll() is not None:
                raise GiveUp(f"raftkv up exited with {proc.returncode}:\n{self.output()[-6000:]}")
            return self.output().count("the cluster is up") >= times
        wait_for(up, UP_TIMEOUT_S, "raftkv up to say the cluster is up", interval=0.2)

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*RAFTKV, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)

    def kubectl(self, *args: str, check: bool = True, stdin: str | None = None,
                timeout: float = 60) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, KUBECONFIG=os.path.join(self.d, "kubeconfig"), HOME=self.d)
        p = subprocess.run(["kubectl", *args], env=env, capture_output=True, text=True, input=stdin, timeout=timeout)
        if check:
            assert p.returncode == 0, f"kubectl {' '.join(args)}: {p.stderr}"
        return p

    def kubectl_json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def state(self) -> procs.State:
        return procs.State(os.path.join(self.d, "run", "state.json")).load()

    def pid(self, name: str) -> int:
        return self.state().procs[name].pid

    def recorded_alive(self) -> list[str]:
        st = self.state()
        return [n for n, r in st.procs.items() if procs.alive(r)]

    def processes_mentioning_dir(self) -> list[int]:
        return [p for p in procs.cmdline_mentions(self.d) if p != os.getpid()]

    def teardown(self) -> None:
        if os.path.exists(os.path.join(self.d, "cluster.json")):
            self.run("down", "--dir", self.d, timeout=180)
        if self.proc is not None:
            stop_process(self.proc)
        st = self.state()
        for rec in st.procs.values():
            procs.terminate(rec, 5)


@contextmanager
def up_dir(prefix: str = "up-") -> Iterator[Up]:
    tmp = tempfile.mkdtemp(prefix=prefix)
    u = Up(os.path.join(tmp, "cluster"))
    try:
        yield u
    finally:
        u.teardown()
        shutil.rmtree(tmp, ignore_errors=True)
