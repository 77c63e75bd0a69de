"""Per-container supervisor, like containerd-shim: parent of the container's process, outliving the CRI server.

Run as `python -I -S shim.py <container dir>` in its own session, so a CRI server restart or crash leaves the
container running. It reads `spec.json`, forks the container's process as PID 1 of a new PID namespace (it joins
its cgroups and the pod's namespaces, mounts /proc, enters the rootfs and execs), writes the container's stdout and stderr into the CRI log file, and when the process
ends writes `exit.json` (the raw wait status and the time). `shim.json` records the pids for the server to
adopt. Only stdlib modules are imported: this runs once per container start.
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
import time
import types
import warnings  # noqa: F401 - os.execvpe imports it lazily, after chroot, where no stdlib is


def _load_logformat():  # type: ignore[no-untyped-def]
    """logformat.py's functions, without importing the agents package (its __init__ pulls in protobuf)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "logformat.py")
    namespace = {"__name__": "_cri_logformat"}
    with open(path) as f:
        exec(compile(f.read(), path, "exec"), namespace)  # our own source file, not data
    return types.SimpleNamespace(**{k: v for k, v in namespace.items() if not k.startswith("__")})


def _write_json(path: str, doc: dict) -> None:  # type: ignore[type-arg]
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f)
    os.replace(tmp, path)


CLONE_NEWNS = 0x00020000
CLONE_NEWPID = 0x20000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_SLAVE = 2, 4, 8, 16384, 1 << 19
PR_SET_PDEATHSIG = 1


def _libc():  # type: ignore[no-untyped-def]
    import ctypes

    try:
        return ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:  # not glibc: ask ctypes.util (which costs a fork of ldconfig, hence not first)
        import ctypes.util

        return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def _check(rc: int, what: str) -> None:
    if rc != 0:
        import ctypes

        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")


def _child(spec: dict, libc, w_out: int, w_err: int, r_in: int | None) -> None:  # type: ignore[no-untyped-def, type-arg]
    """In the new PID namespace (we are its PID 1): cgroups, the pod's namespaces, a mount namespace with /proc,
    the rootfs as root, the user, then exec."""
    try:
        for procs in spec["cgroup_procs"]:
            with open(procs, "w") as f:
                f.write("0")  # "0" is the writer itself (our pid here is 1, of the new namespace)
        adj = spec.get("oom_score_adj")
        if adj is not None:
            try:
                with open("/proc/self/oom_score_adj") as f:
                    current = int(f.read())
                # restrict_oom_score_adj: never below our own score, which we could not lower anyway
                with open("/proc/self/oom_score_adj", "w") as f:
                    f.write(str(max(int(adj), current)))
            except OSError:
                pass
        _check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl")
        for path in spec["namespaces"]:
            fd = os.open(path, os.O_RDONLY)
            _check(libc.setns(fd, 0), f"setns {path}")
            os.close(fd)
        rootfs = spec["rootfs"]
        _check(libc.unshare(CLONE_NEWNS), "unshare")
        _check(libc.mount(None, b"/", None, MS_REC | MS_SLAVE, None), "mount --make-rslave /")
        os.makedirs(os.path.join(rootfs, "proc"), exist_ok=True)
        _check(libc.mount(b"proc", os.path.join(rootfs, "proc").encode(), b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                          None), "mount proc")
        os.chroot(rootfs)
        os.chdir(spec["working_dir"] or "/")
        os.dup2(r_in if r_in is not None else os.open("/dev/null", os.O_RDONLY), 0)
        os.dup2(w_out, 1)
        os.dup2(w_err, 2)
        if spec["gid"] or spec["uid"]:
            os.setgroups([])
            os.setgid(spec["gid"])
            os.setuid(spec["uid"])
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        env = dict(e.split("=", 1) for e in spec["env"])
        os.execvpe(spec["argv"][0], spec["argv"], env)
    except BaseException as e:  # noqa: BLE001 - anything here is a failed start; report it on stderr
        os.write(2, f"raftkv-cri shim: cannot start {spec['argv'][0]}: {e}\n".encode())
    os._exit(127)


def pause(sdir: str, namespaces: list[str]) -> None:
    """The holder of a pod's shared PID namespace (what the pause container is under containerd): PID 1 of it,
    reaping the orphans of every container, until SIGTERM or SIGKILL (which ends the whole namespace)."""
    libc = _libc()
    _check(libc.unshare(CLONE_NEWPID), "unshare pid")
    pid = os.fork()
    if pid == 0:
        try:
            _check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl")
            for path in namespaces:
                fd = os.open(path, os.O_RDONLY)
                _check(libc.setns(fd, 0), f"setns {path}")
                os.close(fd)
            signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
            signal.signal(signal.SIGCHLD, lambda *_: None)
            while True:
                try:
                    os.waitpid(-1, 0)
                except ChildProcessError:
                    signal.pause()
        finally:
            os._exit(0)
    _write_json(os.path.join(sdir, "pause.json"), {"shim_pid": os.getpid(), "pid": pid})
    os.waitpid(pid, 0)


def main() -> None:
    if sys.argv[1] == "--pause":
        pause(sys.argv[2], sys.argv[3:])
        return
    cdir = sys.argv[1]
    with open(os.path.join(cdir, "spec.json")) as f:
        spec = json.load(f)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    logformat = _load_logformat()
    log_path = spec.get("log_path") or os.devnull
    os.makedirs(os.path.dirname(log_path) or "/", exist_ok=True)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    reopen = []

    # ReopenContainerLog: the kubelet renamed the file to rotate it; the server asks with SIGUSR1
    signal.signal(signal.SIGUSR1, lambda *_: reopen.append(1))
    tty = bool(spec.get("tty"))
    if tty:
        # tty: true — one pseudo-terminal is the container's stdin, stdout and stderr (logged as stdout)
        r_out, w_out = os.openpty()
        r_err, w_err = os.dup(r_out), os.dup(w_out)
    else:
        r_out, w_out = os.pipe()
        r_err, w_err = os.pipe()
    libc = _libc()
    if spec.get("pid_namespace"):
        # shareProcessNamespace: our next child joins the pod's PID namespace (its PID 1 is the pod's pause)
        fd = os.open(spec["pid_namespace"], os.O_RDONLY)
        _check(libc.setns(fd, CLONE_NEWPID), "setns pid")
        os.close(fd)
    elif spec.get("new_pid_namespace", True):
        # our next child is PID 1 of a new namespace, and our own child: its wait status is the container's
        _check(libc.unshare(CLONE_NEWPID), "unshare pid")
    # stdin: true — the container reads a pipe that attach clients write into through attach.sock
    if tty:
        r_in, w_in = (os.dup(w_out), os.dup(r_out)) if spec.get("stdin") else (None, None)
    else:
        r_in, w_in = os.pipe() if spec.get("stdin") else (None, None)
    pid = os.fork()
    if pid == 0:
        os.close(r_out)
        os.close(r_err)
        if w_in is not None:
            os.close(w_in)
        if tty:
            import fcntl
            import termios

            os.setsid()
            fcntl.ioctl(w_out, termios.TIOCSCTTY, 0)
        _child(spec, libc, w_out, w_err, r_in)
    os.close(w_out)
    os.close(w_err)
    listener = None
    if r_in is not None:
        import socket

        os.close(r_in)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        os.chdir(cdir)  # bound by a relative name: the full path can exceed a unix socket's 108 bytes
        listener.bind("attach.sock")
        listener.listen(4)
    clients: dict = {}  # type: ignore[type-arg]
    _write_json(os.path.join(cdir, "shim.json"), {"shim_pid": os.getpid(), "pid": pid,
                                                  "started_at": time.time_ns()})
    streams = {r_out: ("stdout", logformat.LineSplitter())}
    if tty:
        os.close(r_err)
    else:
        streams[r_err] = ("stderr", logformat.LineSplitter())
    status = None
    while streams or status is None:
        if status is None:
            done, st = os.waitpid(pid, os.WNOHANG)
            if done:
                status = st
        if not streams:
            if status is None:
                status = os.waitpid(pid, 0)[1]
            continue
        extra = ([listener.fileno()] if listener is not None else []) + list(clients)
        ready, _, _ = select.select(list(streams) + extra, [], [], 0.5)
        for fd in ready:
            if listener is not None and fd == listener.fileno():
                conn, _ = listener.accept()
                clients[conn.fileno()] = conn
                continue
            if fd in clients:
                data = clients[fd].recv(65536)
                if data and w_in is not None:
                    try:
                        os.write(w_in, data)
                    except OSError:  # the container closed its stdin
                        pass
                if not data:
                    clients.pop(fd).close()
                    if spec.get("stdin_once") and w_in is not None:
                        # stdinOnce: the first attach session's end is the container's EOF on stdin
                        os.close(w_in)
                        w_in = None
                        if listener is not None:
                            listener.close()
                            listener = None
                continue
            name, splitter = streams[fd]
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: a pty whose other side every process has closed
                data = b""
            now = time.time_ns()
            records = splitter.feed(data) if data else splitter.close()
            if reopen:
                reopen.clear()
                os.close(log)
                log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
            if records:
                os.write(log, b"".join(logformat.record(now, name, tag, c) for tag, c in records))
            if not data:
                os.close(fd)
                del streams[fd]
    _write_json(os.path.join(cdir, "exit.json"), {"status": status, "finished_at": time.time_ns()})


if __name__ == "__main__":
    main()
