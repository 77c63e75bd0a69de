"""The CRI server's pure decisions: log records, command lines, environment, users, exit reasons, and finding
the executable in a rootfs — each as containerd/runc decide it, since the kubelet shows the results to users."""

from __future__ import annotations

import os
import pathlib
import signal

import pytest

from agents.cri import logformat, state

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("ns", "text"), [
    (1_796_000_000_123_456_789, "2026-11-30T00:53:20.123456789Z"),
    (1_796_000_000_120_000_000, "2026-11-30T00:53:20.12Z"),
    (1_796_000_000_000_000_000, "2026-11-30T00:53:20Z"),
])
def test_timestamps_are_go_rfc3339nano(ns: int, text: str) -> None:
    assert logformat.timestamp(ns) == text


def test_records_split_lines_and_mark_partials() -> None:
    s = logformat.LineSplitter(max_line=8)
    assert s.feed(b"ab") == []
    assert s.feed(b"c\nde\n") == [("F", b"abc"), ("F", b"de")]
    assert s.feed(b"0123456789abcdefXY\nz") == [("P", b"01234567"), ("P", b"89abcdef"), ("F", b"XY")]
    assert s.close() == [("P", b"z")]
    assert s.close() == []
    line = logformat.record(1_796_000_000_000_000_000, "stderr", "F", b"boom")
    assert line == b"2026-11-30T00:53:20Z stderr F boom\n"
    rec = logformat.parse(line)
    assert (rec.stream, rec.partial, rec.content) == ("stderr", False, b"boom")
    assert logformat.parse(b"2026-11-30T00:53:20Z stdout P ").content == b""
    with pytest.raises(ValueError):
        logformat.parse(b"garbage")


IMAGE = {"config": {"Entrypoint": ["/entry"], "Cmd": ["--default"], "Env": ["PATH=/bin", "A=image"]}}


@pytest.mark.parametrize(("command", "args", "argv"), [
    ([], [], ["/entry", "--default"]),
    ([], ["x"], ["/entry", "x"]),
    (["sh"], [], ["sh"]),
    (["sh"], ["-c", "true"], ["sh", "-c", "true"]),
])
def test_command_line_is_dockers_rule(command: list[str], args: list[str], argv: list[str]) -> None:
    assert state.command_line(IMAGE, command, args) == argv


def test_environment_request_wins_and_hostname_is_set() -> None:
    env = state.environment(IMAGE, [("A", "pod"), ("B", "1")], "web-0")
    assert env == ["PATH=/bin", "A=pod", "HOSTNAME=web-0", "B=1"]
    assert state.environment({}, [], "")[0].startswith("PATH=/usr/local/sbin:")


def test_exit_codes_and_reasons() -> None:
    assert state.exit_code_of(3 << 8) == 3
    assert state.exit_code_of(signal.SIGKILL) == 137
    assert state.exit_code_of(signal.SIGTERM) == 143
    assert state.exit_reason(0, False) == "Completed"
    assert state.exit_reason(143, False) == "Error"
    assert state.exit_reason(137, True) == "OOMKilled"
    assert state.exit_reason(0, True) == "OOMKilled"


def _rootfs(tmp: pathlib.Path) -> str:
    (tmp / "bin").mkdir()
    (tmp / "bin" / "busybox").write_text("")
    (tmp / "bin" / "busybox").chmod(0o755)
    os.symlink("busybox", tmp / "bin" / "sh")
    os.symlink("/bin", tmp / "usrbin")  # absolute: must resolve inside the rootfs, not on the host
    (tmp / "etc").mkdir()
    (tmp / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\nweb:x:33:44::/:/bin/sh\n")
    (tmp / "etc" / "group").write_text("root:x:0:\nwww:x:55:\n")
    (tmp / "data").write_text("not executable")
    return str(tmp)


def test_executables_resolve_inside_the_rootfs(tmp_path: pathlib.Path) -> None:
    root = _rootfs(tmp_path)
    env = ["PATH=/usr/local/bin:/bin"]
    assert state.resolve_executable(root, "sh", env, "/") == "/bin/sh"
    assert state.resolve_executable(root, "/usrbin/sh", env, "/") == "/usrbin/sh"
    assert state.resolve_executable(root, "nosuch", env, "/") is None
    assert state.resolve_executable(root, "/data", env, "/") is None
    assert state.resolve_executable(root, "python3", ["PATH=/usr/bin"], "/") is None  # host has it; rootfs not
    assert 'executable file not found in $PATH' in state.not_found_message("nosuch")
    assert "stat /x: no such file or directory" in state.not_found_message("/x")


def test_users_from_the_image(tmp_path: pathlib.Path) -> None:
    root = _rootfs(tmp_path)
    assert state.lookup_user(root, "") == (0, 0)
    assert state.lookup_user(root, "web") == (33, 44)
    assert state.lookup_user(root, "33") == (33, 44)
    assert state.lookup_user(root, "1000") == (1000, 0)
    assert state.lookup_user(root, "web:www") == (33, 55)
    assert state.lookup_user(root, "1000:7") == (1000, 7)
    assert state.lookup_user(root, "nobody") is None
    assert state.lookup_user(root, "web:nogroup") is None
