"""Pytest fixtures for tests that drive an LLM client against the scripted model server.

Import them into a test module (``from tests.support.llm_fixtures import scripted_server, llm_env``) or
re-export them from conftest. The server is real HTTP on loopback; nothing here patches our code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from llmos_tui.devtools.scripted_server import ScriptedServer


@pytest.fixture
def scripted_server() -> Iterator[ScriptedServer]:
    """A started ScriptedServer with an empty script; tests call ``add_turns``."""
    server = ScriptedServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def llm_env(
    scripted_server: ScriptedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> ScriptedServer:
    """Point ANTHROPIC_BASE_URL / ANTHROPIC_API_KEY / CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC at the
    scripted server in ``os.environ`` (and give Claude Code its own config dir); return the server."""
    for name, value in scripted_server.env().items():
        monkeypatch.setenv(name, value)
    config_dir = tmp_path / "claude-config"
    config_dir.mkdir(exist_ok=True)
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(config_dir))
    return scripted_server
