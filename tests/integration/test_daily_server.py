"""Issue #17, deliverable 5: a dead or slow model server is visible and bounded. The real `llmos`
process, the real SDK and bundled CLI, against nothing (127.0.0.1:9) or the scripted model server
answering with HTTP errors or late. ``execution.llm_server_timeout_s`` (default 60 s) is lowered
in config.yaml so the tests are short; the default is checked apart."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmos_tui.devtools.scripted_server import ScriptedServer, error_turn, text_turn, tool_turn
from llmos_tui.exitcodes import ExitCode

pytestmark = pytest.mark.llm
DEAD = "http://127.0.0.1:9"


def workspace(tmp_path: Path, limit_s: float) -> tuple[Path, Path]:
    ws, work = tmp_path / "ws", tmp_path / "work"
    ws.mkdir()
    work.mkdir()
    (ws / "config.yaml").write_text(f"execution:\n  llm_server_timeout_s: {limit_s}\n")
    return ws, work


def run(
    goal: str,
    ws: Path,
    work: Path,
    *extra: str,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    full = dict(os.environ)
    full.update(env or {})
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "llmos_tui",
            "--headless",
            "run",
            goal,
            "--workspace",
            str(ws),
            "--cwd",
            str(work),
            *extra,
        ],
        capture_output=True,
        text=True,
        env=full,
        timeout=timeout,
    )


def test_the_default_limit_is_60_seconds() -> None:
    from llmos_tui.config import LLMOSConfig

    assert LLMOSConfig().execution.llm_server_timeout_s == 60.0


def test_a_dead_server_shows_each_retry_then_fails_with_exit_1(tmp_path: Path) -> None:
    ws, work = workspace(tmp_path, 6)
    env = {
        "ANTHROPIC_BASE_URL": DEAD,
        "ANTHROPIC_API_KEY": "x",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    proc = run("Say hi", ws, work, "--json", env=env)
    assert proc.returncode == ExitCode.GOAL_FAILED, proc.stderr
    retries = [line for line in proc.stderr.splitlines() if line.startswith("[retry] ")]
    assert len(retries) >= 2, proc.stderr  # each retry, as it happens
    assert all(DEAD in line and "(connection refused)" in line for line in retries), retries
    assert "retry 1/10" in retries[0] and "giving up after 6 s" in retries[0]
    data = json.loads(proc.stdout)
    assert data["success"] is False and data["llm_calls"] == 0 and data["cost_usd"] == 0
    assert data["error"].startswith(f"the model server at {DEAD} did not answer for 6 s")
    assert (
        "connection refused" in data["error"] and "execution.llm_server_timeout_s" in data["error"]
    )
    assert data["trace_id"] is None  # nothing to learn from a run that never ran


def test_server_errors_are_shown_with_the_url_and_the_run_goes_on_when_it_answers(
    llm_env: ScriptedServer, tmp_path: Path
) -> None:
    ws, work = workspace(tmp_path, 60)
    llm_env.add_turns(error_turn(529), error_turn(500), text_turn("Hi there!"))
    proc = run("Say hi", ws, work)
    assert proc.returncode == 0, proc.stderr
    retries = [line for line in proc.stderr.splitlines() if line.startswith("[retry] ")]
    assert len(retries) == 2, proc.stderr
    assert (
        llm_env.url in retries[0]
        and "HTTP 529 overloaded" in retries[0]
        and "retry 1/" in retries[0]
    )
    assert "HTTP 500" in retries[1] and "retry 2/" in retries[1]
    assert proc.stdout.strip() == "Hi there!"


def test_a_server_that_keeps_failing_is_given_up_after_the_limit(
    llm_env: ScriptedServer, tmp_path: Path
) -> None:
    ws, work = workspace(tmp_path, 4)
    llm_env.add_turns(*[error_turn(500)] * 30)
    proc = run("Say hi", ws, work, "--json")
    assert proc.returncode == ExitCode.GOAL_FAILED, proc.stderr
    error = json.loads(proc.stdout)["error"]
    assert (
        error.startswith(f"the model server at {llm_env.url} did not answer for 4 s")
        and "HTTP 500" in error
    )
    assert len(llm_env.main_requests) < 30  # stopped long before the CLI's own retries ran out


def test_a_server_that_never_answers_is_given_up_after_the_limit(
    llm_env: ScriptedServer, tmp_path: Path
) -> None:
    ws, work = workspace(tmp_path, 3)
    llm_env.add_turns(text_turn("far too late", delay=30))
    proc = run("Say hi", ws, work, "--json", timeout=60)
    assert proc.returncode == ExitCode.GOAL_FAILED, proc.stderr
    error = json.loads(proc.stdout)["error"]
    assert f"the model server at {llm_env.url} did not answer for 3 s (no answer at all)" in error


def test_time_spent_in_a_tool_call_is_not_the_servers(
    llm_env: ScriptedServer, tmp_path: Path
) -> None:
    """A slow command (4 s) under a 2 s server limit: the server answered each time it was asked."""
    ws, work = workspace(tmp_path, 2)
    llm_env.add_turns(
        tool_turn("Bash", {"command": "sleep 4; echo slept"}), text_turn("Done, I slept.")
    )
    proc = run("Sleep a little", ws, work, "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["success"] is True and data["output"] == "Done, I slept."
    assert "[retry]" not in proc.stderr and "did not answer" not in proc.stderr
