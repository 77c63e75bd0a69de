"""Golden Raft scenarios in tests/raft/testdata/*.txt (regenerate: python -m tests.raft.interaction --rewrite)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.raft.interaction import TESTDATA, InteractionEnv, ScriptError, parse, run_command, run_script

pytestmark = pytest.mark.unit

SCRIPTS = sorted(TESTDATA.glob("*.txt"))


def test_there_are_golden_scripts() -> None:
    assert len(SCRIPTS) >= 5


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_golden_script(path: Path) -> None:
    problems = run_script(path)
    assert not problems, "\n\n".join(problems)


def test_a_changed_expectation_is_reported(tmp_path: Path) -> None:
    p = tmp_path / "x.txt"
    p.write_text("add-nodes 1\n----\nsomething else\n")
    assert run_script(p)
    run_script(p, rewrite=True)
    assert not run_script(p)
    assert "INFO 1 joined" in p.read_text()


def test_malformed_scripts_are_typed_errors() -> None:
    with pytest.raises(ScriptError):
        parse("campaign 1\nno separator\n")
    with pytest.raises(ScriptError):
        run_command(InteractionEnv(), "no-such-command 1")
