"""Issue acceptance for sentience, through the real CLI and the scripted server's request log:
blocked calls make the system cautious and withhold tools; repetition lowers curiosity; the model
tier follows complexity and track record."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmos_tui.devtools.scripted_server import ScriptedServer, text_turn, tool_turn
from tests.support.headless import run

pytestmark = pytest.mark.llm


def sentience(ws: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "llmos_tui", "sentience", "--json", "--workspace", str(ws)],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_blocked_calls_make_the_system_cautious_and_withhold_tools(
    llm_env: ScriptedServer, tmp_path: Path
) -> None:
    ws, work = tmp_path / "ws", tmp_path / "work"
    work.mkdir()
    home = Path(os.environ["HOME"])
    goals = ["Clean up my ssh keys", "Install my shell aliases", "Reset the system firewall"]
    calls = [
        ("Bash", {"command": "rm -rf ~/.ssh"}),
        ("Write", {"file_path": str(home / ".bashrc"), "content": "x"}),
        ("Bash", {"command": "iptables -F"}),
    ]
    for goal, (tool, tool_input) in zip(goals, calls, strict=True):
        llm_env.add_turns(tool_turn(tool, tool_input), text_turn("I could not do that."))
        code, data, err = run(goal, work, ws)
        assert code == 3 and data["success"] is False, err
    state = sentience(ws)
    assert state["valence"]["safety"] < 0
    assert state["latent_mode"] in ("CAUTIOUS", "RECOVERY")
    assert any(t["type"] == "safety_violation" for t in state["recent_triggers"])

    llm_env.add_turns(text_turn("Here is a summary."))
    n = len(llm_env.main_requests)
    code, data, err = run("Summarize the notes in this folder", work, ws)
    offered = llm_env.main_requests[n].tools
    # Withheld means not offered in any form: neither the built-ins nor llmos's twins.
    assert not {"Bash", "Write", "mcp__llmos__Bash", "mcp__llmos__Write"} & set(offered), offered
    assert "mcp__llmos__Read" in offered


def test_repetition_lowers_curiosity_and_a_novel_goal_raises_it(
    llm_env: ScriptedServer, tmp_path: Path
) -> None:
    ws, work = tmp_path / "ws", tmp_path / "work"
    work.mkdir()
    llm_env.add_turns(
        tool_turn("Write", {"file_path": str(work / "todo.md"), "content": "- [ ] one\n"}),
        text_turn("Created todo.md"),
    )
    for _ in range(6):
        code, data, err = run("Create a todo list file", work, ws)
        assert code == 0, err
    after_repeats = sentience(ws)["valence"]["curiosity"]
    assert after_repeats < 0.0  # set-point 0.0
    llm_env.add_turns(text_turn("Mars has two moons."))
    code, data, err = run("Explain the orbital mechanics of Phobos and Deimos", work, ws)
    assert code == 0, err
    assert sentience(ws)["valence"]["curiosity"] > after_repeats


def test_model_tier_follows_track_record_and_complexity(
    llm_env: ScriptedServer, tmp_path: Path
) -> None:
    ws, work = tmp_path / "ws", tmp_path / "work"
    work.mkdir()
    (ws).mkdir()
    (ws / "config.yaml").write_text(
        "models:\n  cheap: claude-haiku-4-5\n  strong: claude-opus-4-5\n"
    )
    llm_env.add_turns(
        text_turn("Hello!"), text_turn("Hello!"), text_turn("Hello!"), text_turn("Hello!")
    )
    for _ in range(4):
        code, data, err = run("Say hello", work, ws, "--mode", "learner")
        assert code == 0, err
    assert (
        llm_env.main_requests[-1].model == "claude-haiku-4-5"
    )  # simple, with a strong track record

    llm_env.add_turns(text_turn("A plan."))
    code, data, err = run(
        "Design and implement a distributed key-value store with replication, consensus and "
        "automatic failover, then benchmark it under partition",
        work,
        ws,
    )
    assert llm_env.main_requests[-1].model == "claude-opus-4-5"  # complex and novel
