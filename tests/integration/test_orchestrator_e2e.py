"""ORCHESTRATOR through the real CLI: a planning call, sub-goals through the same mode
selection (a sub-goal seen before replays with zero requests), a synthesis call."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmos_tui.devtools.scripted_server import ScriptedServer, text_turn, tool_turn
from tests.support.headless import run

pytestmark = pytest.mark.llm


def test_plan_runs_subgoals_and_replays_a_known_one(
    llm_env: ScriptedServer, tmp_path: Path
) -> None:
    ws, first, second = tmp_path / "ws", tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    llm_env.add_turns(
        tool_turn("Write", {"file_path": str(first / "notes.md"), "content": "# Notes on llmos\n"}),
        text_turn("Created notes.md"),
    )
    code, learned, err = run("Create a file named notes.md with a title", first, ws)
    assert code == 0 and learned["mode"] == "LEARNER", err

    plan = {
        "subgoals": [
            {
                "id": "s1",
                "goal": "Create a file named notes.md with a title",
                "agent": "writer",
                "depends_on": [],
            },
            {
                "id": "s2",
                "goal": "Count the words in notes.md",
                "agent": "system-agent",
                "depends_on": ["s1"],
            },
        ]
    }
    llm_env.add_turns(
        text_turn(json.dumps(plan)),  # planning (anthropic SDK)
        tool_turn("Bash", {"command": "wc -w notes.md"}),  # s2 is new: LEARNER
        text_turn("notes.md has 4 words."),
        text_turn("notes.md was created and has 4 words."),
    )  # synthesis
    before = llm_env.main_request_count
    code, data, err = run(
        "Create a file named notes.md with a title, then count the words in it",
        second,
        ws,
        "--mode",
        "orchestrator",
    )
    assert code == 0, err
    assert data["mode"] == "ORCHESTRATOR" and data["success"] is True
    assert data["output"] == "notes.md was created and has 4 words."
    assert llm_env.main_request_count - before == 4  # plan + 2 for s2 + synthesis; s1 cost nothing
    subgoals = {s["id"]: s for s in data["decision"]["orchestration"]["subgoals"]}
    assert subgoals["s1"]["status"] == "succeeded" and subgoals["s2"]["status"] == "succeeded"
    assert subgoals["s1"]["mode"] == "FOLLOWER" and subgoals["s1"]["llm_calls"] == 0
    assert (second / "notes.md").read_text() == "# Notes on llmos\n"
    # The LEARNER sub-goal could delegate: the markdown agents reached the model as subagents.
    s2_request = llm_env.main_requests[before + 1]
    assert "Agent" in s2_request.tools
    assert "researcher" in json.dumps(s2_request.raw) and "writer" in json.dumps(s2_request.raw)
    assert data["trace_id"]  # the whole run left a trace


def test_invalid_plan_falls_back_to_learner(llm_env: ScriptedServer, tmp_path: Path) -> None:
    work = tmp_path / "w"
    work.mkdir()
    bad = {
        "subgoals": [
            {"id": "a", "goal": "x one", "agent": "writer", "depends_on": ["b"]},
            {"id": "b", "goal": "y two", "agent": "writer", "depends_on": ["a"]},
        ]
    }
    llm_env.add_turns(text_turn(json.dumps(bad)), text_turn("Did it in one go."))
    code, data, err = run(
        "Research AI trends and write a report", work, tmp_path / "ws", "--mode", "orchestrator"
    )
    assert code == 0, err
    assert data["mode"] == "LEARNER" and data["fallback_from"] == "ORCHESTRATOR"
    assert "cycle" in data["decision"]["fallback_reason"]
