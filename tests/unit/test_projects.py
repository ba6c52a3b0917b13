"""Projects: folders, run statistics, summaries, and learning across projects (patterns that recur,
agents worth reusing, cron insight artifacts)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmos_tui.adaptation.metrics import AgentMetricsStore
from llmos_tui.cli.projects import projects_app
from llmos_tui.errors import UsageError
from llmos_tui.learning.store import TraceStore
from llmos_tui.learning.traces import ToolCall, make_trace
from llmos_tui.projects.insights import (
    cross_project_insight_artifacts,
    get_cross_project_insights,
    get_project_summary,
    get_reusable_agents,
)
from llmos_tui.projects.manager import ProjectManager, ProjectNotFound
from llmos_tui.workspace import open_workspace

WRITE_RUN = [
    ToolCall(
        "Write",
        {"file_path": "{{cwd}}/calc.py", "content": "print(1)\n"},
        {"is_error": False, "summary": "create {{cwd}}/calc.py"},
    ),
    ToolCall(
        "Bash", {"command": "python3 calc.py"}, {"is_error": False, "summary": "1", "exit_code": 0}
    ),
]
READ_ONLY = [
    ToolCall("Read", {"file_path": "{{cwd}}/README.md"}, {"is_error": False, "summary": "read"})
]


def trace(
    goal: str,
    project: str | None,
    calls=WRITE_RUN,
    outcome: str = "success",
    agent: str = "system-agent",
):
    return make_trace(
        goal,
        list(calls),
        project=project,
        outcome=outcome,
        agent=agent,
        error=None if outcome == "success" else "failed",
    )


@pytest.fixture
def ws(tmp_path: Path):
    return open_workspace(tmp_path / "ws")


def test_projects_are_folders_with_their_parts(ws) -> None:
    manager = ProjectManager(ws)
    shop = manager.create("shop", "An online shop")
    for sub in ("components", "memory", "output", "state"):
        assert (ws.projects_dir / "shop" / sub).is_dir()
    assert shop.output_dir == ws.projects_dir / "shop" / "output"
    assert manager.get("shop").description == "An online shop"
    with pytest.raises(UsageError, match="already exists"):
        manager.create("shop")
    assert manager.create("shop", exist_ok=True).name == "shop"
    for bad in ("", "Shop", "../x", "a b", "-x", "x" * 65):
        with pytest.raises(UsageError):
            manager.create(bad)
    with pytest.raises(ProjectNotFound, match="known: shop"):
        manager.get("blog")
    (shop.components_dir / "cart-expert.md").write_text("---\nname: cart-expert\n---\nprompt\n")
    assert shop.agents() == ["cart-expert"]
    manager.record_run(
        "shop", goal="Create a cart", mode="LEARNER", success=True, cost_usd=0.25, trace_id="t_1"
    )
    stats = manager.record_run("shop", goal="Create a cart", mode="FOLLOWER", success=False)
    assert (
        stats["runs"] == 2
        and stats["successes"] == 1
        and stats["by_mode"] == {"LEARNER": 1, "FOLLOWER": 1}
    )
    assert stats["cost_usd"] == 0.25 and [r["mode"] for r in stats["recent"]] == [
        "LEARNER",
        "FOLLOWER",
    ]


def test_projects_cli(ws) -> None:
    runner = CliRunner()
    args = ["--workspace", str(ws.root)]
    out = runner.invoke(projects_app, ["create", "shop", "-d", "An online shop", "--json", *args])
    assert out.exit_code == 0 and json.loads(out.stdout)["output"].endswith("projects/shop/output")
    out = runner.invoke(projects_app, ["create", "shop", *args])
    assert out.exit_code == 2 and "already exists" in out.output
    out = runner.invoke(projects_app, ["create", "Bad Name", *args])
    assert out.exit_code == 2 and "invalid project name" in out.output
    store = TraceStore(ws)
    store.save(trace("Create a Python calculator", "shop"), volume="users/local")
    store.save(
        trace("Summarize the README", "shop", READ_ONLY, outcome="failure"), volume="users/local"
    )
    store.save(trace("Create a Python calculator", None), volume="users/local")
    out = runner.invoke(projects_app, ["list", "--json", *args])
    assert [p["name"] for p in json.loads(out.stdout)["projects"]] == ["shop"]
    out = runner.invoke(projects_app, ["show", "shop", "--json", *args])
    summary = json.loads(out.stdout)
    assert summary["traces"] == 2 and summary["trace_success_rate"] == 0.5
    assert {g["goal"] for g in summary["recent_goals"]} == {
        "Create a Python calculator",
        "Summarize the README",
    }
    out = runner.invoke(projects_app, ["show", "shop", *args])
    assert out.exit_code == 0 and "Create a Python calculator" in out.stdout
    out = runner.invoke(projects_app, ["show", "nope", *args])
    assert out.exit_code == 2 and "no project 'nope'" in out.output


def test_a_pattern_used_in_two_projects_is_a_cross_project_insight(ws) -> None:
    store = TraceStore(ws)
    for project in ("shop", "blog"):
        ProjectManager(ws).create(project)
    # The same goal in two projects (same signature), another phrasing with the same tools in a third.
    store.save(trace("Create a Python calculator", "shop"), volume="users/local")
    store.save(trace("Create a Python calculator", "blog"), volume="users/local")
    store.save(trace("Build a calculator in Python", "docs"), volume="users/local")
    # Similar words but other tools: not the same pattern.
    store.save(trace("Create a Python calculator", "wiki", calls=READ_ONLY), volume="users/local")
    # Only one project, or failed, or not in a project: never a cross-project pattern.
    store.save(trace("Summarize the README", "shop", READ_ONLY), volume="users/local")
    store.save(
        trace("Summarize the README", "blog", READ_ONLY, outcome="failure"), volume="users/local"
    )
    store.save(trace("Delete the Python calculator", None), volume="users/local")
    store.save(trace("Delete the Python calculator", "shop"), volume="users/local")

    found = get_cross_project_insights(ws, store, min_projects=2, min_confidence=0.7)
    assert len(found) == 1, [i.to_dict() for i in found]
    insight = found[0]
    # "wiki" shares the goal's signature: one signature joins whatever the tools; "docs" joined as similar.
    assert insight.projects == ["blog", "docs", "shop", "wiki"]
    assert (
        insight.kind == "similar_goal" and 0.7 <= insight.confidence <= 1.0
    )  # a rewording the matcher accounts for may score 1.0
    assert "Build a calculator in Python" in insight.goals and insight.uses == 4
    assert "llmos volumes promote" in insight.suggestion
    assert get_cross_project_insights(ws, store, min_projects=5) == []
    strict = get_cross_project_insights(ws, store, min_confidence=0.999)
    # (the matcher accounts for "build"/"create" and the word order: the rewording scores 1.0 too)
    assert strict and all(i.confidence >= 0.999 for i in strict)

    artifacts = cross_project_insight_artifacts(ws, store)
    assert [name for name, _text in artifacts] == ["cross-project-insights.md"]
    text = artifacts[0][1]
    assert "Create a Python calculator" in text and "blog, docs, shop, wiki" in text
    out = CliRunner().invoke(
        projects_app, ["insights", "--json", "--write", "--workspace", str(ws.root)]
    )
    data = json.loads(out.stdout)
    assert data["insights"][0]["projects"] == insight.projects
    written = Path(data["written"][0])
    assert written.parent == ws.system_volume() / "insights" and written.read_text() == text


def test_reusable_agents_come_from_the_agent_metrics(ws) -> None:
    metrics = AgentMetricsStore(ws.state_dir / "agent_metrics.json")
    for i in range(4):
        metrics.record("python-coder", f"Create a Python script {i}", success=True)
    metrics.record("flaky", "Research trends", success=True)
    for _ in range(3):
        metrics.record("flaky", "Research trends", success=False)
    metrics.record("newbie", "Write a haiku", success=True)
    store = TraceStore(ws)
    store.save(
        trace("Create a Python calculator", "shop", agent="python-coder"), volume="users/local"
    )
    store.save(
        trace("Create a Python web scraper", "blog", agent="python-coder"), volume="users/local"
    )
    found = get_reusable_agents(ws, min_success_rate=0.8, min_usage_count=3, store=store)
    assert [a.name for a in found] == ["python-coder"]
    assert (
        found[0].projects == ["blog", "shop"]
        and found[0].executions == 4
        and found[0].success_rate == 1.0
    )
    assert [a.name for a in get_reusable_agents(ws, min_success_rate=0.2, min_usage_count=1)] == [
        "python-coder",
        "newbie",
        "flaky",
    ]
    out = CliRunner().invoke(projects_app, ["agents", "--json", "--workspace", str(ws.root)])
    assert [a["name"] for a in json.loads(out.stdout)["agents"]] == ["python-coder"]


def test_project_summary_includes_project_facts(ws) -> None:
    from llmos_tui.memory.facts import extract_from_sessions
    from llmos_tui.memory.sessions import SessionLog

    ProjectManager(ws).create("shop")
    log = SessionLog(ws, project="shop")
    log.append("user", "Our payment provider is Stripe.")
    extract_from_sessions(ws)
    summary = get_project_summary(ws, TraceStore(ws), "shop")
    assert summary["facts"] == ["The team's payment provider is Stripe."]
    assert summary["traces"] == 0 and summary["trace_success_rate"] is None
