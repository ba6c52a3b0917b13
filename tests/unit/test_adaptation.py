"""DynamicAgentManager: each of the six strategies changes the options sent to the model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmos_tui.adaptation.agents import create_agent, list_versions, load_agent
from llmos_tui.adaptation.manager import DynamicAgentManager
from llmos_tui.adaptation.metrics import AgentMetricsStore, categorize
from llmos_tui.adaptation.model_choice import TrackRecord, choose_tier, goal_complexity
from llmos_tui.config import LLMOSConfig
from llmos_tui.sentience_params import SentienceParams
from llmos_tui.sentience.runtime import RunAdjustments, SentienceRuntime


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    from llmos_tui.workspace import open_workspace

    return open_workspace(tmp_path / "ws").root


@pytest.fixture
def cfg() -> LLMOSConfig:
    return LLMOSConfig.testing()


@pytest.fixture
def mgr(ws: Path, cfg: LLMOSConfig) -> DynamicAgentManager:
    return DynamicAgentManager(ws, cfg)


def ok_trace(tid: str, goal: str, calls: list[dict], ok: int = 5, ko: int = 0) -> dict:
    return {
        "id": tid,
        "goal": goal,
        "outcome": "success",
        "success_count": ok,
        "failure_count": ko,
        "usage_count": ok + ko,
        "calls": calls,
    }


# ---- 1. sentience-driven ----------------------------------------------------------------------


def test_cautious_state_withholds_bash_and_write_and_injects_state(
    mgr: DynamicAgentManager, ws: Path, cfg: LLMOSConfig
) -> None:
    rt = SentienceRuntime(ws, cfg)
    for _ in range(3):
        rt.after_run("Delete /etc", mode="LEARNER", success=False, policy_denials=1)
    adj = rt.before_run("Create notes.txt", {"mode": "LEARNER"})
    a = mgr.adapt("system-agent", "Create notes.txt", adj)
    assert a.base_tools == ["Read", "Write", "Edit", "MultiEdit", "Bash", "Glob", "Grep"]
    assert a.tools == ["Read", "Glob", "Grep"]
    assert "[INTERNAL_STATE]" in a.system_append and "latent_mode=RECOVERY" in a.system_append
    assert "removed Write, Edit, MultiEdit, Bash" in a.strategies["sentience"]


def test_curious_state_adds_exploration_tools(mgr: DynamicAgentManager) -> None:
    adj = RunAdjustments(
        latent_mode="AUTO_CREATIVE", add_tools=["Glob", "Grep"], inject="[INTERNAL_STATE]\n…"
    )
    a = mgr.adapt("writer", "Write a README", adj)
    assert a.tools == ["Read", "Write", "Edit", "Glob", "Grep"]
    assert "added Grep" in a.strategies["sentience"]


def test_without_adjustments_the_agent_is_unchanged(mgr: DynamicAgentManager) -> None:
    a = mgr.adapt("writer", "Write a README", None)
    assert a.tools == ["Read", "Write", "Edit", "Glob"]
    assert a.system_append == load_agent(mgr.agents_dir, "writer").system_text()
    assert "sentience" not in a.strategies


# ---- 2. trace-driven warnings --------------------------------------------------------------------


def test_failed_traces_become_warnings(mgr: DynamicAgentManager) -> None:
    failed = {
        "id": "t_bad",
        "goal": "Clean the build folder",
        "outcome": "failure",
        "error": "rm: cannot remove",
        "success_count": 0,
        "failure_count": 1,
        "calls": [
            {
                "name": "Bash",
                "input": {"command": "rm -rf /"},
                "result": {
                    "is_error": True,
                    "decision": "deny",
                    "summary": "blocked by policy: deletes /",
                },
            }
        ],
    }
    a = mgr.adapt("system-agent", "Clean the build folder", None, [failed])
    assert any("failed: rm: cannot remove" in w for w in a.warnings)
    assert any(w.startswith('Do not call Bash with {"command": "rm -rf /"}') for w in a.warnings)
    assert "## Warnings from earlier attempts" in a.system_append
    assert a.strategies["trace_warnings"] == "2 warning(s) from failed attempts"


def test_recorded_failures_of_similar_goals_warn_too(mgr: DynamicAgentManager) -> None:
    mgr.record_execution(
        "system-agent", "Convert sales.csv to JSON", success=False, error="KeyError: 'price'"
    )
    a = mgr.adapt("system-agent", "Convert orders.csv to JSON", None)
    assert any("KeyError: 'price'" in w for w in a.warnings)
    b = mgr.adapt("system-agent", "Write a poem about autumn", None)
    assert b.warnings == []


# ---- 3. memory-guided ------------------------------------------------------------------------------


def test_agent_choice_by_relevance_and_track_record(mgr: DynamicAgentManager) -> None:
    assert mgr.select_agent("Write a README summary of the project")[0] == "writer"
    assert mgr.select_agent("Count to ten")[0] == "system-agent"
    create_agent(
        mgr.agents_dir,
        "scribe",
        "Writes and edits prose documents, reports and summaries in Markdown.",
        ["Read", "Write"],
        "You are a scribe.",
    )
    first = mgr.select_agent("Write a report summary")[0]
    other = "scribe" if first == "writer" else "writer"
    for _ in range(4):
        mgr.record_execution(first, "Write a report about sales", success=False)
        mgr.record_execution(other, "Write a report about costs", success=True)
    name, why = mgr.select_agent("Write a report summary")
    assert name == other and "4/4 successes on writing goals" in why
    a = mgr.adapt(None, "Write a report summary", None)
    assert a.name == other and a.strategies["memory_guided"].startswith(f"chose {other}")


def test_successful_tool_patterns(mgr: DynamicAgentManager) -> None:
    traces = [
        ok_trace(
            "t1",
            "Create calc.py",
            [
                {"name": "Write", "input": {"file_path": "calc.py"}},
                {"name": "Bash", "input": {"command": "python calc.py"}},
            ],
            ok=3,
        )
    ]
    a = mgr.adapt("system-agent", "Create calc.py", None, traces)
    assert "Write -> Bash (succeeded 3x)" in a.system_append


# ---- 4. model selection --------------------------------------------------------------------------


def test_model_follows_the_tier(mgr: DynamicAgentManager, cfg: LLMOSConfig) -> None:
    assert mgr.adapt("writer", "x", RunAdjustments(model_tier="cheap")).model == cfg.models.cheap
    assert mgr.adapt("writer", "x", RunAdjustments(model_tier="strong")).model == cfg.models.strong
    assert (
        mgr.adapt("writer", "x", RunAdjustments(model_tier="default")).model == "claude-sonnet-4-5"
    )


def test_struggling_agent_gets_a_stronger_model(mgr: DynamicAgentManager, cfg: LLMOSConfig) -> None:
    mgr.params.auto_evolve = False
    for i in range(5):
        mgr.record_execution("writer", f"Write doc {i}", success=i == 0)
    a = mgr.adapt("writer", "Write doc 9", RunAdjustments(model_tier="cheap"))
    assert a.model_tier == "default" and "20% of the time" in a.strategies["model_selection"]


def test_tier_without_adjustments_uses_complexity_and_traces(
    mgr: DynamicAgentManager, cfg: LLMOSConfig
) -> None:
    simple = [ok_trace("t1", "Create hello.txt", [{"name": "Write", "input": {}}], ok=4)]
    assert mgr.adapt("writer", "Create hello.txt", None, simple).model == cfg.models.cheap
    hard = "Design and implement a distributed consensus protocol with a benchmark"
    assert mgr.adapt("writer", hard, None, []).model == cfg.models.strong


def test_choose_tier_rules() -> None:
    p = SentienceParams()
    assert choose_tier(0.1, TrackRecord(3, 3), p)[0] == "cheap"
    assert choose_tier(0.1, TrackRecord(3, 2), p)[0] == "default"  # 67% < 80%
    assert choose_tier(0.7, TrackRecord(0, 0), p)[0] == "strong"
    assert choose_tier(0.7, TrackRecord(5, 5), p)[0] == "default"  # complex but known
    assert choose_tier(0.4, TrackRecord(0, 0), p, prefer_cheap=True)[0] == "cheap"
    assert choose_tier(0.1, TrackRecord(3, 3), p, low_confidence=True)[0] == "default"
    assert goal_complexity("List the files") == 0.0
    assert goal_complexity(
        "Research AI trends and write a report", multi_step=True
    ) == pytest.approx(0.5613)


# ---- 5. examples -----------------------------------------------------------------------------------


def test_successful_traces_become_few_shot_examples(mgr: DynamicAgentManager) -> None:
    good = ok_trace(
        "t_good",
        "Create calc.py",
        [{"name": "Write", "input": {"file_path": "{{cwd}}/calc.py", "content": "print(1)"}}],
        ok=10,
    )
    shaky = ok_trace(
        "t_shaky", "Create calc2.py", [{"name": "Write", "input": {"file_path": "x"}}], ok=5, ko=2
    )
    a = mgr.adapt("system-agent", "Create calc.py", None, [shaky, good])
    assert a.examples == ["t_good"]  # 71% < tool_example_min_success 0.9
    assert "## Examples of solved goals" in a.system_append
    assert '"file_path": "{{cwd}}/calc.py"' in a.system_append
    mgr.params.max_examples = 0
    assert mgr.adapt("system-agent", "Create calc.py", None, [good]).examples == []


def test_long_examples_are_truncated(mgr: DynamicAgentManager) -> None:
    big = ok_trace(
        "t_big", "Write big.txt", [{"name": "Write", "input": {"content": "x" * 10_000}}]
    )
    a = mgr.adapt("system-agent", "Write big.txt", None, [big])
    assert (
        len(a.system_append) < len(load_agent(mgr.agents_dir, "system-agent").system_text()) + 2000
    )


# ---- 6. evolution ------------------------------------------------------------------------------------


def test_evolution_thresholds(mgr: DynamicAgentManager) -> None:
    for i in range(4):
        mgr.record_execution("writer", f"Write {i}", success=False, error="boom")
    assert not mgr.evolution_due("writer")  # 4 < 5 executions
    mgr.record_execution("writer", "Write 4", success=True)
    assert mgr.evolution_due("writer")  # 5 executions, 80% failures


def test_low_failure_rate_does_not_evolve(mgr: DynamicAgentManager) -> None:
    for i in range(10):
        mgr.record_execution("writer", f"Write {i}", success=i > 2)  # 30% failures: not > 30%
    assert not mgr.evolution_due("writer")
    assert not mgr.evolve("writer").applied


def test_evolution_writes_a_new_version_with_learned_constraints(
    mgr: DynamicAgentManager, ws: Path
) -> None:
    for i in range(5):
        mgr.record_execution(
            "system-agent",
            f"Clean build {i}",
            success=i >= 3,
            tools_used=["Bash", "Read"],
            error="Command failed with exit code 1" if i < 3 else None,
            blocked=[{"tool": "Bash", "reason": "deletes outside the working directory"}]
            if i < 2
            else [],
            timed_out=i == 2,
        )
    before = (ws / "agents" / "system-agent.md").read_text()
    adj = RunAdjustments(model_tier="default")
    a = mgr.adapt("system-agent", "Clean build 9", adj)  # due: evolves before use
    assert a.version == 2 and a.strategies["evolution"].startswith("evolved system-agent v1 -> v2")
    spec = load_agent(ws / "agents", "system-agent")
    assert spec.version == 2
    assert spec.constraints[:2] == [
        "Stay inside the working directory.",
        "Prefer small, verifiable steps and check each result.",
    ]
    learned = spec.constraints[2:]
    assert learned[0] == (
        "Do not use Bash for what the policy blocks: it refused 2 call(s) "
        "(deletes outside the working directory)."
    )
    assert any("timed out (1x)" in c for c in learned)
    assert any('An earlier failure (1x): "Command failed with exit code N"' in c for c in learned)
    assert "Do not use Bash" in a.system_append
    assert (ws / "agents" / ".versions" / "system-agent.v1.md").read_text() == before
    assert list_versions(ws / "agents", "system-agent") == [1]
    # Cooldown: no second evolution until 5 more runs.
    assert not mgr.evolution_due("system-agent")
    assert mgr.metrics.get("system-agent").evolutions[0]["to"] == 2


def test_tools_that_only_fail_and_get_blocked_are_removed(
    mgr: DynamicAgentManager, ws: Path
) -> None:
    create_agent(
        ws / "agents", "ops", "Operations helper.", ["Read", "Bash", "Write"], "You run ops tasks."
    )
    for i in range(6):
        mgr.record_execution(
            "ops",
            f"Tidy logs {i}",
            success=i == 5,
            tools_used=["Bash"] if i < 5 else ["Write"],
            blocked=[{"tool": "Bash", "reason": "rm outside cwd"}] if i < 5 else [],
        )
    res = mgr.evolve("ops")
    assert res.applied and res.tools_removed == ["Bash"]
    assert load_agent(ws / "agents", "ops").tools == ["Read", "Write"]


# ---- metrics ----------------------------------------------------------------------------------------


def test_metrics_persist_and_survive_corruption(ws: Path, cfg: LLMOSConfig) -> None:
    m1 = DynamicAgentManager(ws, cfg)
    m1.record_execution(
        "writer", "Write a haiku", success=True, cost_usd=0.02, duration_ms=1500, model="m"
    )
    m2 = DynamicAgentManager(ws, cfg)
    s = m2.metrics.get("writer")
    assert (s.executions, s.successes, s.cost_usd, s.duration_ms) == (1, 1, 0.02, 1500)
    assert s.by_category == {"writing": {"runs": 1, "successes": 1}}
    path = ws / "state" / "agent_metrics.json"
    path.write_text("not json")
    warnings: list[str] = []
    store = AgentMetricsStore(path, on_warning=warnings.append)
    assert store.get("writer").executions == 0 and warnings
    store.record("writer", "Write", success=False)
    assert json.loads(path.read_text())["agents"]["writer"]["failures"] == 1


@pytest.mark.parametrize(
    "goal,cat",
    [
        ("Create a Python calculator", "code"),
        ("Write a haiku about rain", "writing"),
        ("Convert data.csv to JSON", "data"),
        ("Say hello", "other"),
    ],
)
def test_categorize(goal: str, cat: str) -> None:
    assert categorize(goal) == cat
