"""Crons: User/Team/System cycles write real artifacts under their identity, record events, propose
through the inbox, promote with provenance, fail and retry with backoff, and never raise."""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from llmos_tui.cli.activity import activity
from llmos_tui.cli.cron import cron_app
from llmos_tui.cli.inbox import inbox_app
from llmos_tui.config import load_config
from llmos_tui.learning.index import TraceIndex
from llmos_tui.learning.store import TraceStore
from llmos_tui.learning.traces import ToolCall, make_trace, parse_trace
from llmos_tui.observability.events import EventLog
from llmos_tui.observability.hub import ObservabilityHub
from llmos_tui.volumes.acl import add_member
from llmos_tui.evolution.crons import cron_status, due_cycles, load_state, run_cycle, run_due
from llmos_tui.workspace import open_workspace

APP = typer.Typer()
APP.add_typer(cron_app, name="cron")
APP.add_typer(inbox_app, name="inbox")
APP.command("activity")(activity)


@pytest.fixture
def ws(tmp_path: Path):
    w = open_workspace(tmp_path / "ws", user="alice", team="eng")
    w.ensure(user="bob", team="eng")
    add_member(w, "eng", "alice")
    add_member(w, "eng", "bob")
    (w.root / "config.yaml").write_text("user: alice\nteam: eng\n")
    return w


def cfg(ws, **sections):
    config = load_config(ws.root)
    for section, values in sections.items():
        for key, value in values.items():
            assert hasattr(getattr(config, section), key), f"no config key {section}.{key}"
            setattr(getattr(config, section), key, value)
    return config


def write_call(name: str = "out.txt", content: str = "hello") -> ToolCall:
    return ToolCall(
        "Write",
        {"file_path": "{{cwd}}/" + name, "content": content},
        {"is_error": False, "summary": "created", "files_created": [name]},
    )


def learn(
    ws,
    user: str,
    goal: str,
    *,
    uses: int = 1,
    ok: int | None = None,
    calls=None,
    outcome="success",
    error=None,
    when=None,
) -> str:
    from llmos_tui.learning.slots import extract_slots

    trace = make_trace(
        goal,
        calls or [write_call(content=goal)],
        outcome=outcome,
        error=error,
        cost_usd=0.04,
        slots=extract_slots(goal),
        when=when,
    )
    trace.usage_count = uses
    trace.success_count = uses if ok is None else ok
    trace.failure_count = uses - trace.success_count
    TraceStore(ws).save(trace, volume=f"users/{user}")
    return trace.id


def events(ws, *types: str) -> list:
    return EventLog(ws.events_file).read(types=list(types) or None)


def cli(ws, *args: str):
    return CliRunner().invoke(APP, [*args, "--workspace", str(ws.root)])


def failing_bash(path: str = "/srv/site") -> list[ToolCall]:
    return [
        ToolCall(
            "Bash",
            {"command": f"ls {path}"},
            {
                "is_error": True,
                "summary": f"ls: cannot access '{path}': No such file or directory",
                "exit_code": 2,
            },
        )
    ]


def volume_files(ws, scope: str) -> set[str]:
    root = ws.volumes_dir / scope
    return {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and not p.name.endswith(".lock")
    }


# ---- UserCron ----------------------------------------------------------------------------------


def test_user_cycle_writes_insights_suggestions_proposals_and_events(ws) -> None:
    learn(ws, "alice", "Count the lines in data.csv", uses=3)
    learn(ws, "alice", "Count the lines in report.csv", uses=2)
    dup_a = learn(
        ws,
        "alice",
        "Deploy the site",
        uses=3,
        ok=0,
        outcome="failure",
        error="exit 2",
        calls=failing_bash(),
    )
    dup_b = learn(
        ws,
        "alice",
        "Deploy the site",
        uses=1,
        ok=0,
        outcome="failure",
        error="exit 2",
        calls=failing_bash(),
    )
    team_before, bob_before = volume_files(ws, "teams/eng"), volume_files(ws, "users/bob")

    result = cli(ws, "cron", "run", "--level", "user", "--user", "alice", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["status"] == "completed" and report["cron_id"] == "user_cron:alice"
    alice = ws.user_volume("alice")
    usage = (alice / "insights" / "usage-patterns.md").read_text()
    assert (
        "count the lines in {file}" in usage
        and "| Count the lines in data.csv | 1 | 3 | 100% |" in usage
    )
    failures = (alice / "insights" / "failure-patterns.md").read_text()
    assert "missing-file" in failures and "Deploy the site" in failures
    [fix] = list((alice / "suggestions").glob("fix-missing-file-*.md"))
    assert dup_a in fix.read_text() and dup_b in fix.read_text()
    assert (
        "Count the lines in data.csv: 3 of 5 uses"
        in (alice / "suggestions" / "crystallization-candidates.md").read_text()
    )
    # The cron wrote only alice's volume (ACL): the team and bob's volume are untouched.
    assert (
        volume_files(ws, "teams/eng") == team_before and volume_files(ws, "users/bob") == bob_before
    )
    # Events: started, completed with counts; artifacts attributed to the cron.
    [started] = events(ws, "CRON_STARTED")
    [done] = events(ws, "CRON_COMPLETED")
    assert started.source == done.source == "user_cron:alice"
    assert done.data["counts"]["insights"] == 2 and done.data["counts"]["suggestions"] == 2
    assert done.data["counts"]["proposals"] == 2
    assert {e.source for e in events(ws, "INSIGHT_GENERATED", "SUGGESTION_CREATED")} == {
        "user_cron:alice"
    }
    kinds = {p["kind"]: p for p in report["proposals"]}
    assert set(kinds) == {"traces.merge", "artifact.write"}

    # The inbox shows the insights and the proposals.
    listing = json.loads(cli(ws, "inbox", "list", "--json").stdout)
    types = [n["type"] for n in listing["notifications"]]
    assert types.count("INSIGHT_GENERATED") == 2 and types.count("PROPOSAL_CREATED") == 2
    assert listing["open_proposals"] == 2

    # Accepting applies the change, visible in the volume.
    agent_id = kinds["artifact.write"]["event_id"]
    res = cli(ws, "inbox", "accept", agent_id)
    assert res.exit_code == 0, res.output
    agent = (alice / "agents" / "count-lines-agent.md").read_text()
    assert "count the lines in {file}" in agent and "tools: [Write]" in agent
    from llmos_tui.adaptation.agents import parse_agent

    assert parse_agent(agent).name == "count-lines-agent"
    res = cli(ws, "inbox", "accept", kinds["traces.merge"]["event_id"])
    assert res.exit_code == 0, res.output
    [keep] = [t for t in (dup_a, dup_b) if (alice / "traces" / f"{t}.md").exists()]
    [gone] = {dup_a, dup_b} - {keep}
    kept = parse_trace((alice / "traces" / f"{keep}.md").read_text())
    assert (kept.usage_count, kept.failure_count) == (4, 4)
    assert list((alice / ".archive" / "traces").glob(f"{gone}.*.md"))  # recoverable
    assert TraceIndex(ws).get(gone) is None

    # A second cycle: nothing re-proposed, unchanged findings not rewritten.
    second = run_cycle(ws, cfg(ws), "user", user="alice")
    assert second.status == "completed" and second.proposals == []
    assert "usage-patterns" not in {c["name"] for c in second.created}


def test_user_cycle_crystallizes_eligible_traces_and_flags_promotion(ws) -> None:
    goal = "Write the greeting file"
    tid = learn(ws, "alice", goal, uses=12, calls=[write_call("greeting.txt", "hi")])
    report = run_cycle(ws, cfg(ws), "user", user="alice")
    assert report.status == "completed", report.error
    [tool] = report.crystallized
    manifest = json.loads((ws.user_volume("alice") / "tools" / f"{tool}.json").read_text())
    assert manifest["status"] == "active" and manifest["source_trace"] == tid
    assert TraceStore(ws).get(tid).crystallized_tool == tool
    crystallized = events(ws, "TOOL_CRYSTALLIZED")
    assert [e.source for e in crystallized] == ["user_cron:alice"]  # attributed to the cron
    flag = (ws.user_volume("alice") / "suggestions" / "promotion-candidates.md").read_text()
    assert tid in flag and "teams/eng" in flag


def test_auto_crystallization_off_proposes_and_accept_crystallizes(ws) -> None:
    tid = learn(
        ws, "alice", "Write the greeting file", uses=6, calls=[write_call("greeting.txt", "hi")]
    )
    config = cfg(ws, learning={"auto_crystallization": False})
    report = run_cycle(ws, config, "user", user="alice")
    assert report.crystallized == []
    [prop] = [p for p in report.proposals if p["kind"] == "tool.crystallize"]
    hub = ObservabilityHub(ws, config=config)
    message = hub.accept(prop["event_id"])
    assert "verified" in message
    tool = TraceStore(ws).get(tid).crystallized_tool
    assert tool and (ws.user_volume("alice") / "tools" / f"{tool}.py").is_file()


def test_auto_apply_kinds_are_applied_in_the_cycle(ws) -> None:
    a = learn(ws, "alice", "Lint the repo", uses=2, calls=[write_call("lint.txt")])
    b = learn(ws, "alice", "Lint the repo", uses=1, calls=[write_call("lint.txt")])
    report = run_cycle(ws, cfg(ws, crons={"auto_apply": ["traces.merge"]}), "user", user="alice")
    [merge] = [p for p in report.proposals if p["kind"] == "traces.merge"]
    assert merge["status"] == "applied"
    remaining = {e.id for e in TraceIndex(ws).entries(["users/alice"])}
    assert len(remaining & {a, b}) == 1
    assert [e["name"] for e in report.archived] in ([a], [b])


def test_stale_traces_are_consolidated_into_a_digest_and_archived_recoverably(ws) -> None:
    old = learn(ws, "alice", "Resize the photos", uses=1)
    proven = learn(ws, "alice", "Build the docs", uses=8)
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=45)
    report = run_cycle(ws, cfg(ws), "user", user="alice", now=later)
    [prop] = [p for p in report.proposals if p["kind"] == "artifacts.archive"]
    hub = ObservabilityHub(ws, config=cfg(ws))
    assert "archived 1 of 1 traces" in hub.accept(prop["event_id"])
    alice = ws.user_volume("alice")
    [digest] = list((alice / "insights").glob("trace-digest-*.md"))
    assert old in digest.read_text() and "Resize the photos" in digest.read_text()
    [archived] = list((alice / ".archive" / "traces").glob(f"{old}.*.md"))
    assert parse_trace(archived.read_text()).goal == "Resize the photos"  # the original, intact
    assert TraceIndex(ws).get(old) is None and TraceIndex(ws).get(proven) is not None


def test_workspace_agent_evolution_is_proposed_and_applied(ws) -> None:
    from llmos_tui.adaptation.agents import AgentRegistry
    from llmos_tui.adaptation.manager import DynamicAgentManager

    config = cfg(ws, adaptation={"auto_evolve": False})
    manager = DynamicAgentManager(ws, config)
    for i in range(6):
        manager.record_execution(
            "writer",
            f"Write report {i}",
            success=i == 0,
            error="Permission denied: /etc/report.txt" if i else None,
            tools_used=["Write"],
        )
    assert manager.evolution_due("writer")
    version = AgentRegistry(ws.agents_dir).get("writer").version
    report = run_cycle(ws, config, "user", user="alice")
    [prop] = [p for p in report.proposals if p["kind"] == "agent.evolve"]
    result = cli(ws, "inbox", "accept", prop["event_id"])
    assert result.exit_code == 0, result.output
    evolved = AgentRegistry(ws.agents_dir).get("writer")
    assert evolved.version == version + 1
    assert any("Permission denied" in c for c in evolved.constraints)


# ---- TeamCron and inheritance -------------------------------------------------------------------


def test_team_cycle_promotes_the_shared_tool_with_provenance_and_bob_runs_it(
    ws, tmp_path: Path
) -> None:
    from llmos_tui.execution.replay.crystallized import load_tool
    from llmos_tui.kernel import LLMOS, RunOptions
    from llmos_tui.volumes.volume import Volume, inheritance_chain, resolve_artifact

    goal = "Write the greeting file"
    calls = [write_call("greeting.txt", "hello team")]
    alice_trace = learn(ws, "alice", goal, uses=6, calls=calls)
    bob_trace = learn(ws, "bob", goal, uses=1, calls=calls)
    user_report = run_cycle(ws, cfg(ws), "user", user="alice")
    [tool] = user_report.crystallized
    EventLog(ws.events_file).record(
        "TOOL_RUN", tool=tool, trace_id=alice_trace, success=True, volume="users/alice"
    )

    report = run_cycle(ws, cfg(ws), "team", team="eng")
    assert report.status == "completed", report.error
    promoted = {(p["kind"], p["name"]) for p in report.promoted}
    assert ("tools", tool) in promoted
    team = Volume(ws, "teams/eng")
    prov = team.read_provenance("tools", tool)
    assert prov["origin"] == {**prov["origin"], "scope": "users/alice", "name": tool}
    assert prov["promoted_by"] == "team_cron:eng" and prov["evidence"]["owners"] == ["alice", "bob"]
    assert [e.source for e in events(ws, "ARTIFACT_PROMOTED")] == [
        "team_cron:eng"
    ] * 2  # tool + its trace
    shared = (ws.team_volume("eng") / "insights" / "team-patterns.md").read_text()
    assert goal in shared and "alice (6), bob (1)" in shared
    # Bob finds it through inheritance (user -> team -> system) and runs it: no LLM at all.
    found = resolve_artifact(ws, "tools", tool, user="bob", team="eng")
    assert found is not None and found.scope == "teams/eng"
    assert load_tool(ws, tool, volumes=inheritance_chain("bob", "eng")).volume == "teams/eng"
    # Bob's own copy of the goal would win (the team copy's counts were not recorded by runs of it
    # here: learning/trust.py); without it, the team copy (own content, promoted here) runs as a tool.
    TraceStore(ws).delete(bob_trace)
    kernel = LLMOS.boot(ws.root, user="bob", team="eng")
    cwd = tmp_path / "bob-run"
    cwd.mkdir()
    result = kernel.execute("Write the greeting file", options=RunOptions(cwd=cwd))
    assert result.success, result.error
    assert result.mode == "CRYSTALLIZED" and result.llm_calls == 0
    assert (cwd / "greeting.txt").read_text() == "hello team"
    # Nothing to promote the next time.
    again = run_cycle(ws, cfg(ws), "team", team="eng")
    assert again.promoted == [] and again.refused == []


def test_team_cron_reads_only_its_members(ws) -> None:
    ws.ensure(user="carol", team="eng")  # a volume, but carol is not a recorded member
    learn(ws, "alice", "Format the JSON files", uses=1)
    learn(ws, "bob", "Format the JSON files", uses=1)
    learn(ws, "carol", "Compile the thesis", uses=1)
    learn(ws, "bob", "Compile the thesis", uses=1)
    report = run_cycle(ws, cfg(ws), "team", team="eng")
    shared = (ws.team_volume("eng") / "insights" / "team-patterns.md").read_text()
    assert "Format the JSON files" in shared and "Compile the thesis" not in shared
    assert "carol" not in json.dumps(report.to_dict())


def test_promotion_can_wait_for_the_user(ws) -> None:
    goal = "Format the JSON files"
    learn(ws, "alice", goal, uses=2)
    learn(ws, "bob", goal, uses=1)
    report = run_cycle(ws, cfg(ws, crons={"auto_promote": False}), "team", team="eng")
    assert report.promoted == []
    [prop] = [p for p in report.proposals if p["kind"] == "artifact.promote"]
    ObservabilityHub(ws, config=cfg(ws)).accept(prop["event_id"])
    assert [e.goal for e in TraceIndex(ws).entries(["teams/eng"])] == [goal]


def test_system_cycle_promotes_across_teams_and_reports_health(ws) -> None:
    from llmos_tui.volumes.acl import Identity
    from llmos_tui.volumes.volume import Volume

    ws.ensure(user="dana", team="design")
    add_member(ws, "design", "dana")
    for team, users in (("eng", ("alice", "bob")), ("design", ("dana",))):
        for user in users:
            learn(ws, user, "Export the slides", uses=2)
        if team == "design":
            learn(ws, "dana", "Export the slides", uses=1)  # two traces of dana: still one member
    for team in ("eng", "design"):
        Volume(ws, f"teams/{team}", identity=Identity.team_cron(team)).write_artifact(
            "tools",
            "slides",
            {
                ".py": "def run():\n    return 1\n",
                ".json": {"version": "1", "usage_count": 3, "success_count": 3},
            },
        )
    (ws.team_volume("design") / "insights" / "broken.md").write_bytes(b"\xff\xfe not utf-8")
    report = run_cycle(ws, cfg(ws), "system")
    assert report.status == "completed", report.error
    assert ("tools", "slides") in {(p["kind"], p["name"]) for p in report.promoted}
    health = (ws.system_volume() / "insights" / "system-health.md").read_text()
    assert "volumes/teams/design/insights/broken.md" in health
    alerts = [e for e in events(ws, "SYSTEM_ALERT") if e.source == "system_cron"]
    assert alerts and "unreadable" in alerts[0].title
    assert (
        "Export the slides" in (ws.system_volume() / "insights" / "global-patterns.md").read_text()
    )


# ---- bad input, failure, retry -------------------------------------------------------------------


def test_unreadable_files_are_reported_not_fatal(ws) -> None:
    learn(ws, "alice", "Count the lines in data.csv", uses=2)
    alice = ws.user_volume("alice")
    (alice / "traces" / "t_broken000001.md").write_text("---\nid: [unclosed\n---\n")
    (alice / "insights" / "latin1.md").write_bytes(b"caf\xe9\n")
    os.symlink(alice / "nowhere.py", alice / "tools" / "dangling.py")
    (alice / "agents" / "folder.md").mkdir()
    report = run_cycle(ws, cfg(ws), "user", user="alice")
    assert report.status == "completed", report.error
    paths = {p["path"] for p in report.problems}
    assert "volumes/users/alice/traces/t_broken000001.md" in paths
    assert (
        "volumes/users/alice/tools/dangling.py" in paths
        and "volumes/users/alice/agents/folder.md" in paths
    )
    assert any(p.endswith("insights/latin1.md") for p in paths)
    assert (alice / "insights" / "usage-patterns.md").is_file()  # the rest was analysed
    skipped = {e.data.get("path") for e in events(ws, "ARTIFACT_SKIPPED", "TRACE_SKIPPED")}
    assert "volumes/users/alice/tools/dangling.py" in skipped


def test_a_failing_cycle_is_recorded_and_retried_with_backoff(ws) -> None:
    learn(ws, "alice", "Format the JSON files", uses=1)
    learn(ws, "bob", "Format the JSON files", uses=1)
    broken = cfg(ws, volumes={"git": {"not/a-volume": "/nowhere.git"}})
    now = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.timezone.utc)
    first = run_cycle(ws, broken, "team", team="eng", now=now)
    assert first.status == "failed" and "volumes.git" in first.error
    assert "promote" in first.tasks and first.promoted  # the other tasks still ran
    assert first.next_due == "2030-01-01T12:01:00Z" and first.consecutive_failures == 1
    second = run_cycle(ws, broken, "team", team="eng", now=now + dt.timedelta(minutes=2))
    assert second.next_due == "2030-01-01T12:04:00Z" and second.consecutive_failures == 2
    [failed, _] = events(ws, "CRON_FAILED")
    assert failed.source == "team_cron:eng" and "volumes.git" in failed.data["error"]
    assert [
        j["cron_id"]
        for j in due_cycles(ws, broken, now + dt.timedelta(minutes=3))
        if j["level"] == "team"
    ] == []
    assert "team_cron:eng" in [
        j["cron_id"] for j in due_cycles(ws, broken, now + dt.timedelta(minutes=4))
    ]
    healed = run_cycle(ws, cfg(ws), "team", team="eng", now=now + dt.timedelta(minutes=5))
    assert healed.status == "completed"
    row = load_state(ws)["team_cron:eng"]
    assert (
        row["consecutive_failures"] == 0
        and row["failures"] == 2
        and row["next_due"] == "2030-01-01T13:05:00Z"
    )


def test_run_cycle_never_raises(ws) -> None:
    bad_level = run_cycle(ws, cfg(ws), "galaxy")
    assert bad_level.status == "failed" and "unknown cron level" in bad_level.error
    bad_user = run_cycle(ws, cfg(ws), "user", user="../etc")
    assert bad_user.status == "failed" and "user" in bad_user.error
    missing = run_cycle(ws.root / "does-not-exist", cfg(ws), "system")
    assert missing.status == "failed" and "no workspace" in missing.error
    assert not (ws.root / "does-not-exist").exists()


def test_a_second_cycle_of_the_same_cron_is_skipped(ws) -> None:
    lock = ws.state_dir / "locks" / "cron-user_cron-alice.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        report = run_cycle(ws, cfg(ws), "user", user="alice")
    finally:
        os.close(fd)
    assert report.status == "skipped" and "running" in report.error
    assert events(ws, "CRON_STARTED") == []


def test_due_cycles_run_due_and_status(ws) -> None:
    now = dt.datetime(2030, 1, 1, 8, 0, tzinfo=dt.timezone.utc)
    config = cfg(ws)
    due = [j["cron_id"] for j in due_cycles(ws, config, now)]
    assert due == ["user_cron:alice", "user_cron:bob", "team_cron:eng", "system_cron"]
    reports = run_due(ws, config, now)
    assert [r.status for r in reports] == ["completed"] * 4
    assert due_cycles(ws, config, now + dt.timedelta(minutes=29)) == []
    assert [j["level"] for j in due_cycles(ws, config, now + dt.timedelta(minutes=31))] == [
        "user",
        "user",
    ]
    status = cron_status(ws, config, now + dt.timedelta(minutes=61))
    rows = {r["cron_id"]: r for r in status["crons"]}
    assert rows["team_cron:eng"]["due"] and not rows["system_cron"]["due"]
    assert rows["system_cron"]["interval_minutes"] == 120 and rows["user_cron:alice"]["runs"] == 1
    result = cli(ws, "cron", "status")
    assert result.exit_code == 0 and "system_cron" in result.output and "120m" in result.output


def test_cli_run_text_json_usage_and_the_morning_report(ws) -> None:
    learn(ws, "alice", "Format the JSON files", uses=3)
    learn(ws, "bob", "Format the JSON files", uses=1)
    text = cli(ws, "cron", "run", "--level", "user", "--user", "alice")
    assert text.exit_code == 0 and "user_cron:alice: completed" in text.output
    assert "+ volumes/users/alice/insights/usage-patterns.md" in text.output
    team = cli(ws, "cron", "run", "--level", "team", "--team", "eng", "--json")
    assert team.exit_code == 0 and json.loads(team.stdout)["counts"]["promoted"] == 1
    assert cli(ws, "cron", "run", "--level", "galaxy").exit_code == 2
    assert cli(ws, "cron", "run", "--level", "system", "--user", "alice").exit_code == 2
    report = cli(ws, "activity", "--since-hours", "24")
    assert report.exit_code == 0
    lines = report.output.splitlines()
    [user_line] = [ln for ln in lines if ln.strip().startswith("user_cron:alice")]
    [team_line] = [ln for ln in lines if ln.strip().startswith("team_cron:eng")]
    assert "1 cycle(s)" in user_line and "insight(s)" in user_line
    assert "promoted" in team_line and "created" in team_line
    assert "tasks: pull, aggregate, promote, analyse, push" in report.output
    assert "Promoted (1)" in report.output and "users/alice -> teams/eng" in report.output
    data = json.loads(cli(ws, "activity", "--json").stdout)
    crons = {row["cron"]: row for row in data["crons"]}
    assert crons["team_cron:eng"]["promoted"] == 1 and crons["user_cron:alice"]["insights"] >= 1
