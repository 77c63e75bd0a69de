"""`raftkv cluster`: a local 3- or 5-member cluster with mutual TLS on loopback, for trying raftkv.

Creates a PKI and free ports on first start and records them in `<dir>/cluster.json`, so a
second start of the same directory brings the same cluster (and its data) back. Prints the
endpoints and the `etcdctl` flags, then waits; Ctrl-C stops every member it started.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from typing import Any

import grpc

from raftkv._pb.etcdserverpb import rpc_pb2 as pb
from raftkv._pb.etcdserverpb import rpc_pb2_grpc as pb_grpc

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _layout(base: str, members: int) -> dict[str, Any]:
    ports = [(free_port(), free_port(), free_port()) for _ in range(members)]
    return {"members": [{"name": f"m{i + 1}", "client": c, "peer": p, "metrics": x}
                        for i, (c, p, x) in enumerate(ports)], "token": f"raftkv-local-{os.getpid()}"}


def member_command(base: str, pki: str, layout: dict[str, Any], m: dict[str, Any]) -> list[str]:
    cluster = ",".join(f"{x['name']}=https://127.0.0.1:{x['peer']}" for x in layout["members"])
    return [sys.executable, "-m", "raftkv", "serve", "--name", m["name"],
            "--data-dir", os.path.join(base, m["name"]),
            "--listen-client-urls", f"https://127.0.0.1:{m['client']}",
            "--advertise-client-urls", f"https://127.0.0.1:{m['client']}",
            "--listen-peer-urls", f"https://127.0.0.1:{m['peer']}",
            "--initial-advertise-peer-urls", f"https://127.0.0.1:{m['peer']}",
            "--listen-metrics-urls", f"http://127.0.0.1:{m['metrics']}",
            "--initial-cluster", cluster, "--initial-cluster-state", "new",
            "--initial-cluster-token", layout["token"],
            "--client-cert-auth", "--trusted-ca-file", os.path.join(pki, "ca.crt"),
            "--cert-file", os.path.join(pki, "server.crt"), "--key-file", os.path.join(pki, "server.key"),
            "--peer-client-cert-auth", "--peer-trusted-ca-file", os.path.join(pki, "ca.crt"),
            "--peer-cert-file", os.path.join(pki, "peer.crt"), "--peer-key-file", os.path.join(pki, "peer.key")]


def wait_ready(endpoints: list[str], pki: str, timeout: float) -> None:
    """Until every member answers Status with a leader, or raise TimeoutError."""
    creds = grpc.ssl_channel_credentials(*(open(os.path.join(pki, f), "rb").read()
                                           for f in ("ca.crt", "client.key", "client.crt")))
    deadline = time.monotonic() + timeout
    pending = list(endpoints)
    while pending:
        ep = pending[0]
        try:
            with grpc.secure_channel(ep, creds) as ch:
                st = pb_grpc.MaintenanceStub(ch).Status(pb.StatusRequest(), timeout=2)
            if st.leader:
                pending.pop(0)
                continue
        except grpc.RpcError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"member at {ep} not ready after {timeout:.0f}s")
        time.sleep(0.2)


def stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="raftkv cluster", description=__doc__)
    ap.add_argument("--members", type=int, default=3, choices=(1, 3, 5))
    ap.add_argument("--dir", default=os.path.join(".local", "cluster"), help="state directory (PKI, data, logs)")
    ap.add_argument("--fresh", action="store_true", help="delete the directory's previous cluster first")
    args = ap.parse_args(argv)
    base = os.path.abspath(args.dir)
    state_file = os.path.join(base, "cluster.json")
    if args.fresh and os.path.isdir(base):
        shutil.rmtree(base)
    pki = os.path.join(base, "pki")
    if os.path.exists(state_file):
        with open(state_file) as fh:
            layout = json.load(fh)
        if len(layout["members"]) != args.members:
            print(f"raftkv cluster: {base} holds a {len(layout['members'])}-member cluster; "
                  f"use --members {len(layout['members'])} or --fresh", file=sys.stderr)
            return 2
        for m in layout["members"]:  # the recorded ports must still be free
            try:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", m["client"]))
            except OSError:
                print(f"raftkv cluster: port {m['client']} of {m['name']} is in use; is the cluster already "
                      f"running? (or start with --fresh)", file=sys.stderr)
                return 1
    else:
        os.makedirs(base, exist_ok=True)
        from raftkv.pki import create_local_pki

        create_local_pki(pki, ["127.0.0.1", "localhost"])
        layout = _layout(base, args.members)
        with open(state_file, "w") as fh:
            json.dump(layout, fh, indent=2)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for m in layout["members"]:
            logf = open(os.path.join(base, f"{m['name']}.log"), "ab")
            procs.append(subprocess.Popen(member_command(base, pki, layout, m), stdout=logf,
                                          stderr=subprocess.STDOUT, start_new_session=True))
        endpoints = [f"127.0.0.1:{m['client']}" for m in layout["members"]]
        try:
            wait_ready(endpoints, pki, READY_TIMEOUT_S)
        except TimeoutError as exc:
            print(f"raftkv cluster: {exc}; logs in {base}/*.log", file=sys.stderr)
            return 1
        eps = ",".join(f"https://{e}" for e in endpoints)
        flags = (f"--endpoints={eps} --cacert={pki}/ca.crt --cert={pki}/client.crt --key={pki}/client.key")
        print(f"raftkv: {len(procs)}-member cluster is up (mutual TLS on loopback)")
        for m in layout["members"]:
            print(f"  {m['name']}: client https://127.0.0.1:{m['client']}  peer https://127.0.0.1:{m['peer']}"
                  f"  metrics http://127.0.0.1:{m['metrics']}/metrics")
        print(f"  data and logs: {base}")
        print("\nReach it with etcdctl:")
        print(f"  ETCDCTL_API=3 etcdctl {flags} endpoint status -w table")
        print(f"  ETCDCTL_API=3 etcdctl {flags} put hello world")
        print("\nCtrl-C stops the cluster; starting it again with the same --dir brings the data back.",
              flush=True)
        stop = {"now": False}

        def on_signal(signum: int, frame: Any) -> None:
            stop["now"] = True

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        while not stop["now"]:
            for m, p in zip(layout["members"], procs, strict=True):
                if p.poll() is not None:
                    print(f"raftkv cluster: member {m['name']} exited with {p.returncode}; "
                          f"see {base}/{m['name']}.log", file=sys.stderr, flush=True)
                    stop["now"] = True
            time.sleep(0.5)
        return 0
    finally:
        stop_all(procs)
        print("raftkv cluster: stopped", flush=True)
