"""LLM-written insights of the crons: real HTTP to the scripted Messages-API server, a per-cycle
budget, the spend charged to the economy; off by default and never imported when off."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from llmos_tui.config import load_config
from llmos_tui.devtools.scripted_server import ScriptedServer, text_turn
from llmos_tui.learning.store import TraceStore
from llmos_tui.learning.traces import ToolCall, make_trace
from llmos_tui.evolution.crons import LLM_SYSTEM, run_cycle
from llmos_tui.workspace import open_workspace

REVIEW = "- Calculator goals repeat: 5 runs, all replayed.\n\nRecommendation: keep the tool."


@pytest.fixture
def ws(tmp_path: Path):
    w = open_workspace(tmp_path / "ws", user="alice", team="eng")
    (w.root / "config.yaml").write_text("user: alice\nteam: eng\n")
    t = make_trace(
        "Create a Python calculator",
        [
            ToolCall(
                "Bash",
                {"command": "python3 --version"},
                {"is_error": False, "summary": "ok", "exit_code": 0},
            )
        ],
    )
    t.usage_count = t.success_count = 4
    TraceStore(w).save(t, volume="users/alice")
    return w


def config(ws, budget: float = 0.05, enabled: bool = True):
    cfg = load_config(ws.root)
    cfg.crons.llm_insights = enabled
    cfg.crons.llm_budget_usd = budget
    return cfg


@pytest.mark.slow
def test_llm_insight_is_written_within_budget_and_charged(ws, llm_env: ScriptedServer) -> None:
    llm_env.add_turns(text_turn(REVIEW))
    report = run_cycle(ws, config(ws), "user", user="alice")
    assert report.status == "completed", report.error
    assert llm_env.main_request_count == 1
    [request] = llm_env.main_requests
    assert request.system == LLM_SYSTEM and request.model == "claude-haiku-4-5"
    prompt = json.dumps(request.messages)
    assert "Usage patterns" in prompt and "Create a Python calculator" in prompt
    assert report.llm["input_tokens"] == request.input_tokens and report.llm["output_tokens"] > 0
    assert 0 < report.llm["cost_usd"] <= 0.05
    [path] = [p for p in report.insights if "llm-review-" in p]
    text = (ws.root / path).read_text()
    assert REVIEW in text and "generated_by: user_cron:alice" in text
    economy = json.loads(ws.economy_file.read_text())
    assert economy["by_mode"]["CRON"]["runs"] == 1
    assert economy["spent_usd"] == pytest.approx(report.llm["cost_usd"], rel=1e-3)
    # Nothing changed since: no call.
    again = run_cycle(ws, config(ws), "user", user="alice")
    assert again.llm["skipped"].startswith("no finding changed") and llm_env.main_request_count == 1


def test_llm_insight_over_budget_is_skipped_without_a_request(ws, llm_env: ScriptedServer) -> None:
    report = run_cycle(ws, config(ws, budget=0.000001), "user", user="alice")
    assert report.status == "completed"
    assert "exceeds crons.llm_budget_usd" in report.llm["skipped"]
    assert llm_env.request_count == 0


def test_llm_insight_failure_does_not_fail_the_cycle(ws, llm_env: ScriptedServer) -> None:
    from llmos_tui.devtools.scripted_server import error_turn

    llm_env.add_turns(error_turn(400), error_turn(400))
    report = run_cycle(ws, config(ws), "user", user="alice")
    assert report.status == "completed" and "error" in report.llm
    assert (ws.user_volume("alice") / "insights" / "usage-patterns.md").is_file()


def test_without_an_llm_the_insight_is_skipped(ws) -> None:
    report = run_cycle(ws, config(ws), "user", user="alice")
    assert report.status == "completed" and "no LLM is configured" in report.llm["skipped"]


PROBE = r"""
import json, sys
from pathlib import Path
from llmos_tui.config import load_config
from llmos_tui.evolution.crons import run_cycle
from llmos_tui.workspace import Workspace
ws = Workspace(Path(sys.argv[1]))
for level in ("user", "team", "system"):
    assert run_cycle(ws, load_config(ws.root), level).status == "completed"
print(json.dumps(sorted({m.split('.')[0] for m in sys.modules if m.split('.')[0] in ('anthropic', 'claude_agent_sdk', 'textual')})))
"""


@pytest.mark.slow
def test_cycles_without_llm_insights_import_no_llm_or_ui_library(ws) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, str(ws.root)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []
