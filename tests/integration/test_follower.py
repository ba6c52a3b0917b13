"""FOLLOWER end to end: learn once with the real SDK/CLI against the scripted server, then
replay in other directories with zero requests, and fall back when a replay no longer fits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmos_tui.devtools.scripted_server import ScriptedServer, text_turn, tool_turn
from llmos_tui.learning.traces import parse_trace
from tests.support.headless import run, trace_file

pytestmark = pytest.mark.llm

CALC = "import sys\nprint(eval(sys.argv[1]) if len(sys.argv) > 1 else 'calc ready')\n"


def test_learn_then_replay_a_paraphrase_with_zero_requests(
    llm_env: ScriptedServer, tmp_path: Path
) -> None:
    ws, first, second = tmp_path / "ws", tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    llm_env.add_turns(
        tool_turn("Write", {"file_path": str(first / "calc.py"), "content": CALC}),
        tool_turn("Bash", {"command": "python3 calc.py"}),
        text_turn("Created calc.py"),
    )
    code, learned, err = run("Create a Python calculator", first, ws)
    assert code == 0, err
    assert learned["mode"] == "LEARNER" and learned["trace_id"]
    trace = parse_trace(trace_file(ws, learned["trace_id"]).read_text())
    assert [c.name for c in trace.calls] == ["Write", "Bash"]
    assert (
        trace.calls[0].input["file_path"] == "{{cwd}}/calc.py"
    )  # stored relative to the run's cwd
    assert trace.calls[1].result["exit_code"] == 0
    assert trace.calls[0].result["files_created"] == ["calc.py"]

    requests_before = llm_env.main_request_count
    code, replayed, err = run("Build a calculator in Python", second, ws)
    assert code == 0, err
    assert replayed["mode"] == "FOLLOWER" and replayed["success"] is True
    assert replayed["trace_id"] == learned["trace_id"] and replayed["confidence"] >= 0.92
    assert (
        replayed["llm_calls"],
        replayed["input_tokens"],
        replayed["output_tokens"],
        replayed["cost_usd"],
    ) == (0, 0, 0, 0)
    assert llm_env.main_request_count == requests_before  # not one request reached the model
    assert (second / "calc.py").read_text() == CALC
    assert (
        subprocess.run(
            [sys.executable, "calc.py", "6*7"], cwd=second, capture_output=True, text=True
        ).stdout
        == "42\n"
    )
    assert "Write" in replayed["output"] and "Bash" in replayed["output"]
    trace = parse_trace(trace_file(ws, learned["trace_id"]).read_text())
    assert (trace.usage_count, trace.success_count, trace.failure_count) == (2, 2, 0)


def test_replay_whose_bash_step_now_fails_falls_back_to_learner(
    llm_env: ScriptedServer, tmp_path: Path
) -> None:
    ws, first, second = tmp_path / "ws", tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    (first / "data.csv").write_text(
        "a,b\n1,2\n"
    )  # present when learned, missing in the new directory
    llm_env.add_turns(
        tool_turn("Bash", {"command": "wc -l data.csv"}), text_turn("data.csv has 2 lines")
    )
    code, learned, err = run("Count the lines in data.csv", first, ws)
    assert code == 0 and learned["mode"] == "LEARNER", err

    llm_env.add_turns(text_turn("There is no data.csv here."))
    before = llm_env.main_request_count
    code, result, err = run("Count the lines in data.csv", second, ws)
    assert result["fallback_from"] == "FOLLOWER", err
    assert result["mode"] == "LEARNER" and result["llm_calls"] == 1
    assert llm_env.main_request_count == before + 1
    assert "falling back to LEARNER" in err
    assert result["decision"]["fallback_reason"].startswith(
        f"replay of {learned['trace_id']} stopped at step 1"
    )
    trace = parse_trace(trace_file(ws, learned["trace_id"]).read_text())
    assert trace.failure_count == 1  # the mismatch counted against the trace


def test_follower_hit_imports_no_llm_or_ui_library(llm_env: ScriptedServer, tmp_path: Path) -> None:
    from tests.support.import_probe import PROBE

    ws, first, second = tmp_path / "ws", tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    llm_env.add_turns(
        tool_turn("Write", {"file_path": str(first / "notes.md"), "content": "# Notes\n"}),
        text_turn("Created notes.md"),
    )
    code, learned, err = run("Create a markdown notes file", first, ws)
    assert code == 0, err
    out = tmp_path / "mods.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            PROBE,
            str(out),
            "--headless",
            "run",
            "Create a markdown notes file",
            "--json",
            "--workspace",
            str(ws),
            "--cwd",
            str(second),
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["mode"] == "FOLLOWER"
    assert json.loads(out.read_text())["heavy"] == []  # no textual, anthropic or claude_agent_sdk
    # Every policy decision of the replay was recorded as an event.
    events = [
        json.loads(line)
        for line in (ws / "observability" / "events.jsonl").read_text().splitlines()
    ]
    decisions = [e for e in events if e["type"] == "POLICY_DECISION"]
    assert len(decisions) >= 2 and all(e["data"]["decision"] == "allow" for e in decisions)


def test_a_goal_that_differs_in_a_file_name_replays_with_the_new_name(
    llm_env: ScriptedServer, tmp_path: Path
) -> None:
    ws, first, second = tmp_path / "ws", tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    llm_env.add_turns(
        tool_turn(
            "Write", {"file_path": str(first / "hello.txt"), "content": "created by llmos\n"}
        ),
        text_turn("Created hello.txt"),
    )
    code, learned, err = run("Create a file named hello.txt", first, ws)
    assert code == 0 and learned["mode"] == "LEARNER", err
    before = llm_env.main_request_count
    code, data, err = run("Create a file named notes.txt", second, ws)
    assert code == 0, err
    assert data["mode"] == "FOLLOWER" and data["llm_calls"] == 0
    assert llm_env.main_request_count == before
    assert (second / "notes.txt").read_text() == "created by llmos\n"
    assert not (second / "hello.txt").exists()
    assert data["decision"]["slot_bindings"] == {"file": "notes.txt"}
