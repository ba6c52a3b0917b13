"""The UserCron extracts facts from session logs (L4 memory)."""

from __future__ import annotations

from pathlib import Path

from llmos_tui.config import load_config
from llmos_tui.memory.facts import FactStore
from llmos_tui.memory.sessions import SessionLog
from llmos_tui.evolution.crons import run_cycle
from llmos_tui.workspace import open_workspace


def test_user_cron_extracts_facts_from_sessions(tmp_path: Path) -> None:
    ws = open_workspace(tmp_path / "ws")
    config = load_config(ws.root)
    SessionLog(ws, source="tui", user=config.user).append(
        "user", "My name is Ada. We use pytest for tests."
    )
    report = run_cycle(ws, config, "user", user=config.user)
    assert report.ok, report.error
    facts = [f.text for f in FactStore(ws).list()]
    assert any("Ada" in f for f in facts), facts
    assert any(c.get("kind") == "fact" for c in report.created)
