"""LEARNER end to end: the real `llmos` process, the real SDK and bundled CLI, the scripted
model server over real HTTP. Nothing of ours is patched."""

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


def test_say_hi_reports_the_servers_usage(llm_env: ScriptedServer, tmp_path: Path) -> None:
    llm_env.add_turns(text_turn("Hi there! How can I help?"))
    work = tmp_path / "work"
    work.mkdir()
    proc = run_llmos(
        "--headless",
        "run",
        "Say hi",
        "--json",
        "--workspace",
        str(tmp_path / "ws"),
        "--cwd",
        str(work),
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["mode"] == "LEARNER" and data["success"] is True
    assert data["output"] == "Hi there! How can I help?"
    main = llm_env.main_requests
    assert len(main) == 1 and data["llm_calls"] == 1
    assert data["input_tokens"] == llm_env.total_input_tokens > 0
    assert data["output_tokens"] == llm_env.total_output_tokens > 0
    assert data["cost_usd"] > 0
    # The goal reached the model; the working directory is in the system context.
    assert "Say hi" in json.dumps(main[0].messages)
    assert str(work) in json.dumps(main[0].raw)
    # The CLI kept its state inside the workspace, not in HOME.
    assert (tmp_path / "ws" / "state" / "claude").is_dir()
    assert not (Path(os.environ["HOME"]) / ".claude").exists()
    # The spend was charged from real usage.
    economy = json.loads((tmp_path / "ws" / "state" / "economy.json").read_text())
    assert economy["spent_usd"] == pytest.approx(data["cost_usd"])


def test_streamed_text_and_tool_calls_reach_the_terminal(
    llm_env: ScriptedServer, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    llm_env.add_turns(
        tool_turn("Write", {"file_path": str(work / "calc.py"), "content": "print(2 + 3)\n"}),
        tool_turn("Bash", {"command": "python3 calc.py"}),
        text_turn("Created calc.py; it prints 5."),
    )
    proc = run_llmos(
        "--headless",
        "run",
        "Create a Python calculator",
        "--workspace",
        str(tmp_path / "ws"),
        "--cwd",
        str(work),
    )
    assert proc.returncode == 0, proc.stderr
    assert (work / "calc.py").read_text() == "print(2 + 3)\n"
    assert proc.stdout.strip() == "Created calc.py; it prints 5."
    assert "-> Write(" in proc.stderr and "-> Bash(python3 calc.py)" in proc.stderr
    assert "ok: 5" in proc.stderr  # the Bash result came back through PostToolUse
    assert "[ok] LEARNER · 3 LLM call(s)" in proc.stderr


def test_blocked_call_is_not_success(llm_env: ScriptedServer, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    outside = tmp_path / "outside.txt"
    llm_env.add_turns(
        tool_turn("Write", {"file_path": str(outside), "content": "x"}), text_turn("Done!")
    )
    proc = run_llmos(
        "--headless",
        "run",
        "Write a file",
        "--json",
        "--workspace",
        str(tmp_path / "ws"),
        "--cwd",
        str(work),
    )
    assert proc.returncode == ExitCode.POLICY_BLOCKED, proc.stderr
    data = json.loads(proc.stdout)
    assert data["success"] is False and "blocked by policy" in data["error"]
    assert not outside.exists()
    # The model was told: the tool result it saw was an error.
    second = llm_env.main_requests[1]
    assert "tool_result" in json.dumps(second.messages)


def test_budget_exhausted_refuses_before_any_request(
    llm_env: ScriptedServer, tmp_path: Path
) -> None:
    llm_env.add_turns(text_turn("never"))
    proc = run_llmos(
        "--headless",
        "run",
        "Say hi",
        "--json",
        "--budget",
        "0",
        "--workspace",
        str(tmp_path / "ws"),
        "--cwd",
        str(tmp_path),
    )
    assert proc.returncode == ExitCode.BUDGET_EXHAUSTED
    assert "budget" in proc.stderr.lower()
    assert llm_env.request_count == 0


def test_a_run_that_spends_its_budget_gets_no_more_tool_calls(
    llm_env: ScriptedServer, tmp_path: Path
) -> None:
    """The budget PreToolUse hook: the balance ($0.02) allows the run to start (per-run estimate
    $0.001), but one request of this session already costs more (about 12k input tokens). Once the
    session's running cost has used up the balance, tool calls are denied; the run ends with
    exit 4, charged what the server reported, and a budget denial is not a safety violation."""
    work = tmp_path / "work"
    work.mkdir()
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "config.yaml").write_text("budget_usd: 0.02\nexecution:\n  per_run_estimate_usd: 0.001\n")
    llm_env.add_turns(
        tool_turn("Write", {"file_path": str(work / "a.txt"), "content": "a\n"}),
        tool_turn("Write", {"file_path": str(work / "b.txt"), "content": "b\n"}),
        text_turn("Done."),
        text_turn("Done."),
    )
    proc = run_llmos(
        "--headless", "run", "Write two files", "--json", "--workspace", str(ws), "--cwd", str(work)
    )
    assert proc.returncode == ExitCode.BUDGET_EXHAUSTED, proc.stderr
    data = json.loads(proc.stdout)
    assert data["success"] is False and data["error"].startswith(
        "the budget ran out during this run: it spent about $"
    )
    assert "the budget ran out during the run" not in data["error"] and "$-" not in data["error"]
    assert not (work / "b.txt").exists()
    stopped = [c for c in data["tool_calls"] if c["decision"] == "deny"]
    assert stopped and all(c["rule"] == "economy.budget" for c in stopped)
    assert data["cost_usd"] > 0.02
    economy = json.loads((ws / "state" / "economy.json").read_text())
    assert abs(economy["spent_usd"] - data["cost_usd"]) < 1e-9
    state = json.loads(
        subprocess.run(
            [sys.executable, "-m", "llmos_tui", "sentience", "--json", "--workspace", str(ws)],
            capture_output=True,
            text=True,
            env=dict(os.environ),
            timeout=60,
        ).stdout
    )
    fired = [t["type"] for t in state["recent_triggers"]]
    assert "task_failure" in fired and "safety_violation" not in fired, fired


def test_server_errors_are_a_clean_failure_and_charge_nothing(
    llm_env: ScriptedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llmos_tui.devtools.scripted_server import error_turn

    monkeypatch.setenv(
        "CLAUDE_CODE_MAX_RETRIES", "1"
    )  # the CLI retries 5xx itself; keep the test short
    llm_env.add_turns(*[error_turn(500)] * 6)
    proc = run_llmos(
        "--headless",
        "run",
        "Say hi",
        "--json",
        "--workspace",
        str(tmp_path / "ws"),
        "--cwd",
        str(tmp_path),
    )
    assert proc.returncode == ExitCode.GOAL_FAILED, proc.stderr
    data = json.loads(proc.stdout)
    assert data["success"] is False and "500" in data["error"]
    assert data["cost_usd"] == 0 and data["input_tokens"] == 0
    assert len(llm_env.main_requests) == 2  # the first try and one retry
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "ws" / "state" / "economy.json").exists()  # nothing was charged
