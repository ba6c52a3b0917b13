"""The acceptance path end to end: alice runs one goal five times through the real kernel (LEARNER
against the scripted model server, then replays); a UserCron cycle writes insights and a
proposal; the inbox shows them; accepting applies the proposal and the next run uses it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from llmos_tui.cli.activity import activity
from llmos_tui.cli.cron import cron_app
from llmos_tui.cli.inbox import inbox_app
from llmos_tui.devtools.scripted_server import ScriptedServer, text_turn, tool_turn
from llmos_tui.observability.events import EventLog

pytestmark = pytest.mark.llm

APP = typer.Typer()
APP.add_typer(cron_app, name="cron")
APP.add_typer(inbox_app, name="inbox")
APP.command("activity")(activity)
GOAL = "Write notes.txt saying hello"


def run(goal: str, cwd: Path, ws: Path) -> dict:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "llmos_tui",
            "--headless",
            "run",
            goal,
            "--json",
            "--workspace",
            str(ws),
            "--cwd",
            str(cwd),
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def cli(ws: Path, *args: str):
    return CliRunner().invoke(APP, [*args, "--workspace", str(ws)])


def test_five_runs_then_a_user_cycle_then_accept(llm_env: ScriptedServer, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "config.yaml").write_text(
        "user: alice\nteam: eng\nlearning:\n  auto_crystallization: false\n"
    )
    first = tmp_path / "run0"
    first.mkdir()
    llm_env.add_turns(
        tool_turn("Write", {"file_path": str(first / "notes.txt"), "content": "hello\n"}),
        text_turn("Wrote notes.txt"),
    )
    modes = []
    for i in range(5):
        cwd = tmp_path / f"run{i}"
        cwd.mkdir(exist_ok=True)
        result = run(GOAL, cwd, ws)
        assert result["success"], result
        modes.append(result["mode"])
        assert (cwd / "notes.txt").read_text() == "hello\n"
    assert modes == ["LEARNER"] + ["FOLLOWER"] * 4 and llm_env.main_request_count == 2

    cycle = cli(ws, "cron", "run", "--level", "user", "--user", "alice", "--json")
    assert cycle.exit_code == 0, cycle.output
    report = json.loads(cycle.stdout)
    alice = ws / "volumes" / "users" / "alice"
    usage = (alice / "insights" / "usage-patterns.md").read_text()
    assert f"| {GOAL} | 1 | 5 | 100% |" in usage
    [prop] = [p for p in report["proposals"] if p["kind"] == "tool.crystallize"]
    types = [e.type for e in EventLog(ws / "observability" / "events.jsonl").read()]
    assert "CRON_STARTED" in types and "CRON_COMPLETED" in types

    listing = json.loads(cli(ws, "inbox", "list", "--json").stdout)
    ids = {n["id"]: n for n in listing["notifications"]}
    assert prop["event_id"] in ids and ids[prop["event_id"]]["type"] == "PROPOSAL_CREATED"
    assert any(n["type"] == "INSIGHT_GENERATED" for n in listing["notifications"])

    accepted = cli(ws, "inbox", "accept", prop["event_id"])
    assert accepted.exit_code == 0, accepted.output
    tools = sorted(p.name for p in (alice / "tools").glob("*.py"))
    assert len(tools) == 1
    manifest = json.loads((alice / "tools" / tools[0].replace(".py", ".json")).read_text())
    assert manifest["status"] == "active"

    sixth = tmp_path / "run5"
    sixth.mkdir()
    before = llm_env.main_request_count
    result = run(GOAL, sixth, ws)
    assert result["mode"] == "CRYSTALLIZED" and result["llm_calls"] == 0
    assert llm_env.main_request_count == before and (sixth / "notes.txt").read_text() == "hello\n"

    morning = cli(ws, "activity", "--since-hours", "24")
    assert "user_cron:alice" in morning.output and "insight(s)" in morning.output
