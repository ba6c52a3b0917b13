"""Issue #17 deliverable 1: every tool call is recorded and shown (calls the CLI or our MCP server
rejected before running, calls that failed), and a run whose last tool call failed is failed.

The real `llmos` process, the real SDK and bundled CLI, the scripted model server over real HTTP.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmos_tui.devtools.scripted_server import ScriptedServer, text_turn, tool_turn
from llmos_tui.exitcodes import ExitCode

pytestmark = pytest.mark.llm


def run_llmos(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmos_tui", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=timeout,
    )


def _trace(ws: Path, trace_id: str) -> dict:
    from llmos_tui.learning.index import TraceIndex
    from llmos_tui.learning.store import TraceStore
    from llmos_tui.workspace import open_workspace

    workspace = open_workspace(ws)
    trace = TraceStore(workspace, TraceIndex(workspace)).get(trace_id)
    return {
        "calls": [{"name": c.name, "input": c.input, "result": c.result} for c in trace.calls],
        "tools_used": trace.tools_used,
        "outcome": trace.outcome,
    }


def test_malformed_twin_call_and_unknown_tool_are_recorded_with_their_error(
    llm_env: ScriptedServer, tmp_path: Path
) -> None:
    work, ws = tmp_path / "work", tmp_path / "ws"
    work.mkdir()
    llm_env.add_turns(
        tool_turn("Write", {"file_path": 5, "content": "x"}),  # schema: rejected by our server
        tool_turn("mcp__llmos__Nope", {"a": 1}),  # no such tool: the CLI says so
        tool_turn("Write", {"file_path": str(work / "ok.txt"), "content": "fine\n"}),
        text_turn("Wrote ok.txt."),
    )
    proc = run_llmos(
        "--headless",
        "run",
        "Write the ok file",
        "--json",
        "--workspace",
        str(ws),
        "--cwd",
        str(work),
    )
    # The model recovered: the last call worked, so the run succeeded.
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["success"] is True
    calls = data["tool_calls"]
    assert [c["name"] for c in calls] == ["Write", "mcp__llmos__Nope", "Write"]
    bad, unknown, good = calls
    assert bad["decision"] == "reject" and bad["is_error"] and bad["rule"] == "mcp.invalid_input"
    assert "5 is not of type 'string'" in bad["summary"]
    assert unknown["decision"] == "reject" and "No such tool available" in unknown["summary"]
    assert good["decision"] == "allow" and not good["is_error"]
    # Shown on stderr, each with its error.
    assert "!! Write(" in proc.stderr and "5 is not of type 'string'" in proc.stderr
    assert "!! mcp__llmos__Nope(" in proc.stderr
    # In the trace, in order; a replay skips the rejected calls (they had no effect).
    trace = _trace(ws, data["trace_id"])
    assert [c["name"] for c in trace["calls"]] == ["Write", "mcp__llmos__Nope", "Write"]
    assert trace["calls"][0]["result"]["decision"] == "reject"
    assert trace["tools_used"] == ["Write"]
    assert trace["outcome"] == "success"
    # Rejections are not safety violations.
    assert (
        not (ws / "state" / "sentience.json").exists()
        or json.loads((ws / "state" / "sentience.json").read_text()).get("safety", 0) >= 0
    )


def test_a_last_failing_bash_fails_the_run(llm_env: ScriptedServer, tmp_path: Path) -> None:
    work, ws = tmp_path / "work", tmp_path / "ws"
    work.mkdir()
    llm_env.add_turns(
        tool_turn(
            "Write", {"file_path": str(work / "calc.py"), "content": "raise SystemExit(3)\n"}
        ),
        tool_turn("Bash", {"command": "python3 calc.py"}),
        text_turn("Done! The calculator works."),
    )
    proc = run_llmos(
        "--headless",
        "run",
        "Build a calculator in Python",
        "--json",
        "--workspace",
        str(ws),
        "--cwd",
        str(work),
    )
    assert proc.returncode == ExitCode.GOAL_FAILED, proc.stderr
    data = json.loads(proc.stdout)
    assert data["success"] is False
    assert "the last tool call failed: Bash python3 calc.py" in data["error"]
    assert data["tool_calls"][-1]["is_error"] is True and data["tool_calls"][-1]["exit_code"] == 3
    trace = _trace(ws, data["trace_id"])
    assert trace["outcome"] == "failure"
    # memory context never offers it as "tool calls that worked"
    ctx = run_llmos("memory", "context", "Build a calculator in Python", "--workspace", str(ws))
    assert ctx.returncode == 0, ctx.stderr
    assert "python3 calc.py" not in ctx.stdout
    # and it is never a replay candidate: the same goal is not replayed
    decide = run_llmos(
        "--headless",
        "run",
        "Build a calculator in Python",
        "--mode",
        "follower",
        "--json",
        "--workspace",
        str(ws),
        "--cwd",
        str(work),
    )
    assert decide.returncode != 0
    assert json.loads(decide.stdout)["llm_calls"] == 0
