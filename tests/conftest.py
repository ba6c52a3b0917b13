"""Shared fixtures: every test runs against temporary dirs, never the user's own config."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point HOME, XDG dirs and LLMOS_WORKSPACE at temp dirs; drop LLM variables."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local" / "state"))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(home / ".claude"))
    for name in list(os.environ):
        if name.startswith(("LLMOS_", "ANTHROPIC_", "CLAUDE_CODE_")):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LLMOS_PRESET", "testing")
    return home


@pytest.fixture
def workspace_dir(tmp_path: Path) -> Path:
    """An empty folder the kernel will create a workspace in."""
    ws = tmp_path / "ws"
    return ws


@pytest.fixture
def dev_data() -> Path:
    """The development data sets vendored in the repository (bench/data/README.md)."""
    return REPO / "bench" / "data"


# The scripted model server fixtures, for every test module.
from tests.support.llm_fixtures import llm_env, scripted_server  # noqa: E402,F401
from tests.support.hang import no_hang  # noqa: E402,F401
