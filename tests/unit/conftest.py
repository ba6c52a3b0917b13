"""Fixtures the unit tests of the shell policy share (test_shell, test_policy_table)."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmos_tui.execution.policy.engine import PolicyEngine


@pytest.fixture
def cwd(tmp_path: Path) -> Path:
    """A fresh working directory for the command under check."""
    work = tmp_path / "work"
    work.mkdir()
    return work.resolve()


@pytest.fixture
def check(cwd: Path):
    """``check(command, network=False, **kw)``: the policy's verdict on one Bash command."""
    closed, opened = PolicyEngine(), PolicyEngine(allow_network=True)

    def run(command: str, network: bool = False, **kw):
        return (opened if network else closed).check("Bash", {"command": command}, cwd, **kw)

    return run
