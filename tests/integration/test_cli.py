"""The headless CLI as a user meets it: real processes, exit codes, stdout vs stderr."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from llmos_tui.exitcodes import ExitCode


def llmos(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "llmos_tui", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=timeout,
    )


def test_version_and_help() -> None:
    from llmos_tui import __version__

    proc = llmos("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"llmos {__version__}"
    proc = llmos("--help")
    assert proc.returncode == 0
    for command in ("run", "init", "config", "economy", "traces", "policy", "bench"):
        assert command in proc.stdout


def test_unknown_flag_is_a_usage_error() -> None:
    proc = llmos("--headless", "run", "hi", "--no-such-flag")
    assert proc.returncode == ExitCode.USAGE
    assert "Usage" in proc.stderr and "no-such-flag" in proc.stderr


def test_headless_without_command_is_a_usage_error() -> None:
    proc = llmos("--headless")
    assert proc.returncode == ExitCode.USAGE
    assert "needs a command" in proc.stderr


@pytest.mark.slow
def test_no_llm_configured_exits_5_with_hint(tmp_path: Path) -> None:
    proc = llmos(
        "--headless",
        "run",
        "Say hi",
        "--json",
        "--workspace",
        str(tmp_path / "ws"),
        "--cwd",
        str(tmp_path),
    )
    assert proc.returncode == ExitCode.NO_LLM
    assert "ANTHROPIC_API_KEY" in proc.stderr and "ANTHROPIC_BASE_URL" in proc.stderr
    data = json.loads(proc.stdout)  # stdout is exactly one JSON object
    assert set(data) >= {
        "goal",
        "mode",
        "success",
        "trace_id",
        "confidence",
        "llm_calls",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "duration_ms",
        "output",
    }
    assert data["success"] is False and data["llm_calls"] == 0 and data["goal"] == "Say hi"


@pytest.mark.parametrize("goal", ["", "   ", "?!...", "\t\n"])
@pytest.mark.slow
def test_empty_goal_is_a_usage_error(tmp_path: Path, goal: str) -> None:
    proc = llmos("--headless", "run", goal, "--workspace", str(tmp_path / "ws"))
    assert proc.returncode == ExitCode.USAGE
    assert "goal is empty" in proc.stderr


def test_unknown_mode_is_a_usage_error(tmp_path: Path) -> None:
    proc = llmos("--headless", "run", "hi", "--mode", "turbo", "--workspace", str(tmp_path / "ws"))
    assert proc.returncode == ExitCode.USAGE and "turbo" in proc.stderr


@pytest.mark.slow
def test_missing_cwd_is_a_usage_error(tmp_path: Path) -> None:
    proc = llmos(
        "--headless",
        "run",
        "hi",
        "--cwd",
        str(tmp_path / "nope"),
        "--workspace",
        str(tmp_path / "ws"),
    )
    assert proc.returncode == ExitCode.USAGE and "does not exist" in proc.stderr


@pytest.mark.parametrize(
    ("yaml_text", "needle"),
    [
        ("budget_usd: [1\n", "line 2"),
        ("budget_usd: lots\n", "budget_usd"),
        ("learning:\n  follower_threshold: yes\n", "learning.follower_threshold"),
    ],
)
@pytest.mark.slow
def test_bad_config_exits_2_naming_key_or_line(tmp_path: Path, yaml_text: str, needle: str) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "config.yaml").write_text(yaml_text)
    for args in (("--headless", "run", "hi"), ("config", "show")):
        proc = llmos(*args, "--workspace", str(ws))
        assert proc.returncode == ExitCode.USAGE, proc.stderr
        assert needle in proc.stderr and "config.yaml" in proc.stderr
        assert "Traceback" not in proc.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop privileges")
def test_unwritable_workspace_is_a_clear_error() -> None:
    """As uid 65534 (through tests/support/unprivileged.py, which works even when this checkout
    and its venv's interpreter are readable by root only), in a folder that user may enter."""
    from tests.support import unprivileged

    reason = unprivileged.unavailable()
    if reason:
        pytest.skip(reason)
    base = unprivileged.world_dir()
    try:
        locked = base / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        env = unprivileged.env(dict(os.environ), HOME=str(base))
        proc = subprocess.run(
            unprivileged.command(["-m", "llmos_tui", "init", str(locked / "ws")]),
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            cwd="/",
        )
    finally:
        shutil.rmtree(base, ignore_errors=True)
    assert proc.returncode == ExitCode.USAGE, proc.stderr
    assert "not writable" in proc.stderr and "Traceback" not in proc.stderr
    assert str(locked / "ws") in proc.stderr


@pytest.mark.slow
def test_init_creates_and_config_show_reads(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    proc = llmos("init", str(ws))
    assert proc.returncode == 0 and proc.stdout.strip() == str(ws.resolve())
    (ws / "config.yaml").write_text("budget_usd: 4.5\n")
    proc = llmos(
        "config", "show", "--json", "--workspace", str(ws), env={"LLMOS_PRESET": "production"}
    )
    data = json.loads(proc.stdout)
    assert data["config"]["budget_usd"] == 4.5 and data["config"]["preset"] == "production"
    assert data["source"] == str(ws.resolve() / "config.yaml")


@pytest.mark.slow
def test_forced_mode_that_needs_a_trace_says_so(tmp_path: Path) -> None:
    proc = llmos(
        "--headless",
        "run",
        "Create a Python calculator",
        "--mode",
        "follower",
        "--workspace",
        str(tmp_path / "ws"),
    )
    assert proc.returncode == ExitCode.USAGE
    assert "needs a stored trace" in proc.stderr


@pytest.mark.slow
def test_economy_reports_budget(tmp_path: Path) -> None:
    missing = llmos(
        "economy", "--json", "--workspace", str(tmp_path / "ws")
    )  # read-only: creates nothing
    assert (
        missing.returncode == 2
        and "does not exist" in missing.stderr
        and not (tmp_path / "ws").exists()
    )
    assert llmos("init", str(tmp_path / "ws")).returncode == 0
    proc = llmos("economy", "--json", "--workspace", str(tmp_path / "ws"))
    data = json.loads(proc.stdout)
    assert proc.returncode == 0 and data["budget_usd"] == 10.0 and data["spent_usd"] == 0.0


@pytest.mark.slow
def test_command_groups_load_on_demand_with_the_root_options() -> None:
    """Groups are imported when invoked (cli/_lazy.py) and look as they did under the root app:
    no shell-completion options, and a mistyped group name gets a suggestion."""
    for group in ("traces", "sentience", "inbox"):
        proc = subprocess.run(
            [sys.executable, "-m", "llmos_tui", group, "--help"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0 and "Usage" in proc.stdout, proc.stderr
        assert "completion" not in proc.stdout, proc.stdout
    proc = subprocess.run(
        [sys.executable, "-m", "llmos_tui", "trace", "list"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "traces" in proc.stderr
