"""MIXED: one LLM session guided by a similar trace, with a reduced tool set; cheaper than LEARNER."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmos_tui.devtools.scripted_server import ScriptedServer, text_turn, tool_turn
from llmos_tui.learning.traces import parse_trace
from tests.support.headless import run, trace_file

pytestmark = pytest.mark.llm


def test_mixed_is_guided_by_the_trace_and_sends_fewer_tokens(
    llm_env: ScriptedServer, tmp_path: Path
) -> None:
    ws = tmp_path / "ws"
    dirs = [tmp_path / name for name in ("a", "b", "c")]
    for d in dirs:
        d.mkdir()
    llm_env.add_turns(
        tool_turn("Write", {"file_path": str(dirs[0] / "report.md"), "content": "# Report\n"}),
        text_turn("Wrote report.md"),
    )
    code, learned, err = run("Write a markdown report about the project", dirs[0], ws)
    assert code == 0 and learned["mode"] == "LEARNER", err

    goal = "Write a short markdown report about this project's tests"
    llm_env.add_turns(text_turn("Using the example: done."))
    n = len(llm_env.main_requests)
    code, mixed, err = run(goal, dirs[1], ws, "--mode", "mixed")
    assert code == 0, err
    assert mixed["mode"] == "MIXED" and mixed["llm_calls"] == 1
    mixed_request = llm_env.main_requests[n]
    # The trace's calls reached the model as worked examples, re-rooted into this run's cwd.
    assert "A previous run solved a similar goal" in mixed_request.system
    assert str(dirs[1] / "report.md") in mixed_request.system
    # A reduced tool set: the trace's tools plus Read (llmos's twins; the CLI runs no file tool itself).
    assert sorted(mixed_request.tools) == ["mcp__llmos__Read", "mcp__llmos__Write"]

    llm_env.add_turns(text_turn("Done without help."))
    code, learner, err = run(goal, dirs[2], ws, "--mode", "learner")
    assert code == 0 and learner["mode"] == "LEARNER", err
    learner_request = llm_env.main_requests[n + 1]
    assert len(learner_request.tools) > len(mixed_request.tools)
    assert mixed["input_tokens"] < learner["input_tokens"]
    saved = 1 - mixed["input_tokens"] / learner["input_tokens"]
    print(
        f"MIXED input tokens {mixed['input_tokens']} vs LEARNER {learner['input_tokens']}: {saved:.1%} fewer"
    )
    # The MIXED run left its own trace, linked to the one it came from.
    trace = parse_trace(trace_file(ws, mixed["trace_id"]).read_text())
    assert trace.parent_trace == learned["trace_id"] and trace.mode == "MIXED"


def test_mixed_answer_outside_the_policy_is_blocked(
    llm_env: ScriptedServer, tmp_path: Path
) -> None:
    ws, first, second = tmp_path / "ws", tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    llm_env.add_turns(
        tool_turn("Write", {"file_path": str(first / "report.md"), "content": "# Report\n"}),
        text_turn("Wrote report.md"),
    )
    code, learned, err = run("Write a markdown report about the project", first, ws)
    assert code == 0, err
    escape = tmp_path / "escape.md"
    llm_env.add_turns(
        tool_turn("Write", {"file_path": str(escape), "content": "x"}), text_turn("Done.")
    )
    code, data, err = run(
        "Write a short markdown report about this project's tests", second, ws, "--mode", "mixed"
    )
    assert code == 3 and data["mode"] == "MIXED" and data["success"] is False, err
    assert not escape.exists()
    assert "blocked by policy" in data["error"]
