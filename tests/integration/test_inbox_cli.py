"""`llmos inbox`, `llmos activity` and `llmos volumes` through typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from llmos_tui.cli.activity import activity
from llmos_tui.cli.inbox import inbox_app
from llmos_tui.cli.volumes import volumes_app
from llmos_tui.observability.hub import ObservabilityHub
from llmos_tui.volumes.acl import Identity, add_member
from llmos_tui.volumes.volume import Volume
from llmos_tui.workspace import open_workspace


def make_app() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(inbox_app, name="inbox")
    app.add_typer(volumes_app, name="volumes")
    app.command("activity")(activity)
    return app


APP = make_app()
ALICE = Identity.user_cron("alice", "eng")


@pytest.fixture
def ws(tmp_path: Path):
    w = open_workspace(tmp_path / "ws", user="alice", team="eng")
    w.ensure(user="bob", team="eng")
    return w


def run(ws, *args: str):
    return CliRunner().invoke(APP, [*args, "--workspace", str(ws.root)])


def seed(ws) -> tuple[str, str]:
    hub = ObservabilityHub(ws)
    hub.record_cron_started("user_cron:alice", level="user")
    vol = Volume(ws, "users/alice", identity=ALICE, events=hub)
    res = vol.write_artifact(
        "insights",
        "calc-repeats",
        "# Calculator goals repeat\n",
        event_type="INSIGHT_GENERATED",
        notify_user=True,
        title="Calculator goals repeat",
    )
    pid = hub.propose(
        "artifact.write",
        "Add a calc agent",
        "An agent for calculators",
        "+ # Calc agent\n",
        {
            "scope": "users/alice",
            "kind": "agents",
            "name": "calc",
            "content": "# Calc agent\n",
            "identity": ALICE.to_dict(),
        },
        source="user_cron:alice",
        volume="users/alice",
    )
    hub.record_cron_completed("user_cron:alice", level="user", duration_s=0.5, tasks=["insights"])
    return res.event_id, pid


def test_inbox_list_show_accept_and_refusals(ws) -> None:
    insight_id, pid = seed(ws)
    result = run(ws, "inbox", "list", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [n["id"] for n in data["notifications"]] == [pid, insight_id]  # newest first
    assert data["unread"] == 2 and data["open_proposals"] == 1
    text = run(ws, "inbox", "list")
    assert "Calculator goals repeat" in text.stdout and "pending" in text.stdout
    shown = run(ws, "inbox", "show", pid)
    assert (
        shown.exit_code == 0 and "+ # Calc agent" in shown.stdout and "inbox accept" in shown.stdout
    )
    shown_json = json.loads(run(ws, "inbox", "show", pid, "--json").stdout)
    assert (
        shown_json["payload"]["name"] == "calc" and shown_json["proposal_kind"] == "artifact.write"
    )

    accepted = run(ws, "inbox", "accept", pid)
    assert accepted.exit_code == 0, accepted.output
    assert "created agents/calc in volumes/users/alice" in accepted.stdout
    vol = json.loads(run(ws, "volumes", "show", "users/alice", "--json").stdout)
    assert [a["name"] for a in vol["artifacts"]["agents"]] == ["calc"]
    again = run(ws, "inbox", "accept", pid)
    assert again.exit_code == 1 and "already accepted" in again.stderr

    assert run(ws, "inbox", "accept", "e_unknown000000").exit_code == 1
    not_proposal = run(ws, "inbox", "accept", insight_id)
    assert not_proposal.exit_code == 2 and "not a proposal" in not_proposal.stderr
    assert run(ws, "inbox", "ack").exit_code == 2
    assert run(ws, "inbox", "ack", insight_id, "--all").exit_code == 2
    ack = run(ws, "inbox", "ack", "--all", "--json")
    assert ack.exit_code == 0 and json.loads(ack.stdout) == {"acknowledged": 1}
    assert json.loads(run(ws, "inbox", "list", "--json").stdout)["notifications"] == []
    assert len(json.loads(run(ws, "inbox", "list", "--all", "--json").stdout)["notifications"]) == 2


def test_inbox_reject_records_the_reason(ws) -> None:
    _insight, pid = seed(ws)
    result = run(ws, "inbox", "reject", pid, "--reason", "not needed")
    assert result.exit_code == 0 and "not needed" in result.stdout
    assert not (ws.user_volume("alice") / "agents" / "calc.md").exists()
    shown = json.loads(run(ws, "inbox", "show", pid, "--json").stdout)
    assert shown["decision"] == "rejected" and shown["reason"] == "not needed"
    assert run(ws, "inbox", "accept", pid).exit_code == 1


def test_activity_report_and_json(ws) -> None:
    seed(ws)
    result = run(ws, "activity", "--since-hours", "24")
    assert result.exit_code == 0, result.output
    assert "user_cron:alice" in result.stdout and "insights/calc-repeats" in result.stdout
    assert "1 waiting for a decision" in result.stdout
    data = json.loads(run(ws, "activity", "--json").stdout)
    assert data["crons"][0]["cron"] == "user_cron:alice" and data["crons"][0]["insights"] == 1
    assert run(ws, "activity", "--since-hours", "0").exit_code == 2


def test_volumes_list_show_promote_and_members(ws) -> None:
    alice = Volume(ws, "users/alice", identity=ALICE)
    alice.write_artifact(
        "tools", "calc", {".py": "def run():\n    return 1\n", ".json": {"version": "1"}}
    )
    (alice.root / "insights" / "broken.md").mkdir()
    listed = run(ws, "volumes", "list", "--json")
    assert listed.exit_code == 0
    scopes = {v["scope"]: v for v in json.loads(listed.stdout)["volumes"]}
    assert {"system", "teams/eng", "users/alice", "users/bob"} <= set(scopes)
    assert scopes["users/alice"]["counts"]["tools"] == 1
    shown = run(ws, "volumes", "show", "users/alice")
    assert shown.exit_code == 0 and "calc" in shown.stdout
    assert "unreadable" in shown.stderr and "broken.md" in shown.stderr

    denied = run(
        ws, "volumes", "promote", "tools", "calc", "--from", "users/alice", "--to", "teams/eng"
    )
    assert denied.exit_code == 3 and "not a member of team eng" in denied.stderr
    members = run(ws, "volumes", "members", "eng", "--add", "alice", "--json")
    assert json.loads(members.stdout) == {"team": "eng", "members": ["alice"]}
    done = run(
        ws,
        "volumes",
        "promote",
        "tools",
        "calc",
        "--from",
        "users/alice",
        "--to",
        "teams/eng",
        "--json",
    )
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["status"] == "promoted"
    team = json.loads(run(ws, "volumes", "show", "teams/eng", "--json").stdout)
    assert team["artifacts"]["tools"][0]["promoted_from"] == "users/alice/tools/calc"
    assert team["members"] == ["alice"]
    # The team changes its copy; promoting again is refused with the reason (exit 1).
    Volume(ws, "teams/eng", identity=Identity.team_cron("eng")).write_artifact(
        "tools", "calc", {".py": "def run():\n    return 'team'\n", ".json": {"version": "2"}}
    )
    alice.write_artifact(
        "tools", "calc", {".py": "def run():\n    return 3\n", ".json": {"version": "3"}}
    )
    conflict = run(
        ws, "volumes", "promote", "tools", "calc", "--from", "users/alice", "--to", "teams/eng"
    )
    assert conflict.exit_code == 1 and "modified in teams/eng" in conflict.stderr
    bad = run(
        ws, "volumes", "promote", "tools", "calc", "--from", "users/../x", "--to", "teams/eng"
    )
    assert bad.exit_code == 2
    missing = run(
        ws, "volumes", "promote", "tools", "nope", "--from", "users/alice", "--to", "teams/eng"
    )
    assert missing.exit_code == 1 and "no tool named 'nope'" in missing.stderr
    assert run(ws, "volumes", "show", "groups/x").exit_code == 2


def test_volumes_candidates(ws) -> None:
    add_member(ws, "eng", "alice")
    add_member(ws, "eng", "bob")
    for user in ("alice", "bob"):
        Volume(ws, f"users/{user}", identity=Identity.user_cron(user, "eng")).write_artifact(
            "tools",
            "calc",
            {".py": "def run():\n    return 1\n", ".json": {"version": "1", "usage_count": 3}},
        )
    result = run(ws, "volumes", "candidates", "--to", "teams/eng", "--json")
    assert result.exit_code == 0, result.output
    cands = json.loads(result.stdout)["candidates"]
    assert [(c["kind"], c["name"], c["rule"]) for c in cands] == [("tools", "calc", "users")]
