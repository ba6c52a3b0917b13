"""EvolutionEngine and the Trace/Tool/AgentEvolver: deterministic analysis, proposals submitted
once per evidence, appliers that act under the proposing identity."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from llmos_tui.config import load_config
from llmos_tui.errors import UsageError
from llmos_tui.evolution.crystallizer import Crystallizer
from llmos_tui.evolution.engine import EvolutionEngine, apply_merge, register_appliers
from llmos_tui.evolution.evolvers import (
    Finding,
    TraceEvolver,
    VolumeSnapshot,
    failure_cause,
    goal_template,
    merge_keeper,
    shared_patterns,
)
from llmos_tui.learning.slots import extract_slots
from llmos_tui.learning.store import TraceStore
from llmos_tui.learning.traces import ToolCall, make_trace
from llmos_tui.observability.hub import ObservabilityHub
from llmos_tui.volumes.acl import Identity, VolumeAccessError, add_member
from llmos_tui.volumes.volume import Volume, frontmatter_of
from llmos_tui.workspace import open_workspace

ALICE = Identity.user_cron("alice", "eng")


@pytest.fixture
def ws(tmp_path: Path):
    w = open_workspace(tmp_path / "ws", user="alice", team="eng")
    w.ensure(user="bob", team="eng")
    add_member(w, "eng", "alice")
    return w


def trace(
    goal: str, *, uses: int = 1, ok: int | None = None, calls=None, outcome="success", error=None
):
    t = make_trace(
        goal,
        calls
        if calls is not None
        else [
            ToolCall(
                "Write",
                {"file_path": "{{cwd}}/o.txt", "content": goal},
                {"is_error": False, "summary": "created", "files_created": ["o.txt"]},
            )
        ],
        outcome=outcome,
        error=error,
        slots=extract_slots(goal),
        cost_usd=0.1,
    )
    t.usage_count = uses
    t.success_count = uses if ok is None else ok
    t.failure_count = uses - t.success_count
    return t


def engine(ws, identity=ALICE, config=None):
    config = config or load_config(ws.root)
    hub = ObservabilityHub(ws, config=config)
    register_appliers(hub)
    store = TraceStore(ws, events=hub)
    return EvolutionEngine(
        ws,
        config,
        identity,
        hub,
        store=store,
        crystallizer=Crystallizer(ws, store, config, events=hub),
    ), hub


def test_goal_templates_group_goals_that_differ_in_a_slot() -> None:
    a, b = trace("Count the lines in data.csv"), trace("Count the lines in report.csv")
    assert goal_template(a) == goal_template(b) == "count the lines in {file}"
    assert goal_template(trace("Create a Rust calculator")) == "create a {language} calculator"
    fams = TraceEvolver().families([a, b, trace("Delete the build folder")])
    assert [f["template"] for f in fams] == ["count the lines in {file}"]


def test_failure_causes_are_normalised_and_classified() -> None:
    bash = [
        ToolCall(
            "Bash",
            {"command": "ls /srv/a"},
            {
                "is_error": True,
                "exit_code": 2,
                "summary": "ls: /srv/a/123: No such file or directory",
            },
        )
    ]
    one = failure_cause(trace("Deploy A", uses=2, ok=0, outcome="failure", calls=bash))
    bash2 = [
        ToolCall(
            "Bash",
            {"command": "ls /srv/b"},
            {
                "is_error": True,
                "exit_code": 2,
                "summary": "ls: /srv/b/987: No such file or directory",
            },
        )
    ]
    two = failure_cause(trace("Deploy B", uses=1, ok=0, outcome="failure", calls=bash2))
    assert one == two and one[0] == "missing-file"
    blocked = [
        ToolCall(
            "Write",
            {"file_path": "/etc/x"},
            {
                "is_error": True,
                "decision": "deny",
                "summary": "write outside the working directory",
            },
        )
    ]
    assert failure_cause(trace("Edit etc", outcome="failure", ok=0, calls=blocked))[0] == "policy"
    assert failure_cause(trace("Fine")) is None


def test_findings_are_deterministic_and_valid_markdown() -> None:
    traces = [
        trace("Count the lines in data.csv", uses=3),
        trace("Count the lines in report.csv", uses=2),
    ]
    snap = VolumeSnapshot("users/alice", traces=traces)
    first = [
        f.render(scope="users/alice", source="user_cron:alice")
        for f in TraceEvolver().patterns(snap)
    ]
    again = [
        f.render(scope="users/alice", source="user_cron:alice")
        for f in TraceEvolver().patterns(snap)
    ]
    assert first == again and len(first) == 1
    front = frontmatter_of(first[0])
    assert front["title"] == "Usage patterns" and front["generated_by"] == "user_cron:alice"
    assert front["families"] == 1
    assert TraceEvolver().patterns(VolumeSnapshot("users/alice", traces=[trace("Once")])) == []


def test_shared_patterns_need_two_owners() -> None:
    goal = "Format the JSON files"
    found = shared_patterns(
        {"alice": [trace(goal, uses=2)], "bob": [trace(goal)], "carol": [trace("Solo")]},
        name="team-patterns",
        title="T",
        owner_word="member",
        where="team eng",
    )
    [finding] = found
    assert "alice (2), bob (1)" in finding.body and "Solo" not in finding.body
    assert (
        shared_patterns({"alice": [trace(goal)]}, name="x", title="x", owner_word="m", where="w")
        == []
    )


def test_merge_keeper_prefers_a_crystallized_trace() -> None:
    a, b, c = trace("X", uses=9), trace("X", uses=1), trace("X", uses=2)
    c.crystallized_tool = "x_v1"
    assert merge_keeper([a, b, c]) is c
    assert merge_keeper([a, b]) is a


def test_proposals_are_submitted_once_per_evidence(ws) -> None:
    store = TraceStore(ws)
    for _ in range(2):
        store.save(trace("Lint the repo"), volume="users/alice")
    eng, hub = engine(ws)
    volume = Volume(ws, "users/alice", identity=ALICE, events=hub)
    [prop] = [p for p in eng.analyze(volume) if p.kind == "traces.merge"]
    [sub] = eng.submit([prop])
    assert sub.status == "proposed"
    hub.reject(sub.event_id, "keep them apart")
    eng2, _ = engine(ws)
    [again] = [p for p in eng2.analyze(volume) if p.kind == "traces.merge"]
    assert (
        again.key == prop.key and eng2.submit([again])[0].status == "duplicate"
    )  # rejected: not re-asked
    store.save(trace("Lint the repo"), volume="users/alice")  # new evidence
    [changed] = [p for p in eng2.analyze(volume) if p.kind == "traces.merge"]
    assert changed.key != prop.key and eng2.submit([changed])[0].status == "proposed"
    state = json.loads((ws.state_dir / "evolution.json").read_text())
    assert set(state["proposal_keys"]) == {prop.key, changed.key}


def test_merge_applier_checks_identity_and_evidence(ws) -> None:
    store = TraceStore(ws)
    a, b = trace("Lint the repo"), trace("Lint the repo")
    store.save(a, volume="users/alice")
    store.save(b, volume="users/alice")
    _eng, hub = engine(ws)
    payload = {
        "scope": "users/alice",
        "identity": Identity.user_cron("bob", "eng").to_dict(),
        "keep": a.id,
        "merge": [b.id],
    }
    with pytest.raises(VolumeAccessError):
        apply_merge(hub, payload)  # bob's cron may not touch alice's volume
    b.calls = [
        ToolCall(
            "Bash", {"command": "ruff ."}, {"is_error": False, "summary": "ok", "exit_code": 0}
        )
    ]
    store.update(b)
    with pytest.raises(UsageError, match="no longer matches"):
        apply_merge(hub, dict(payload, identity=ALICE.to_dict()))
    assert store.get(b.id).usage_count == 1  # nothing merged


def test_superseded_tool_versions_are_proposed_for_archiving(ws) -> None:
    from llmos_tui.execution.replay.crystallized import load_tool

    config = load_config(ws.root)
    store = TraceStore(ws)
    t = trace("Write the greeting file", uses=6)
    store.save(t, volume="users/alice")
    crystallizer = Crystallizer(ws, store, config)
    v1 = crystallizer.crystallize(store.get(t.id))
    v2 = crystallizer.crystallize(store.get(t.id))
    assert v1.active and v2.active and v1.id != v2.id
    eng, hub = engine(ws, config=config)
    review = eng.review(Volume(ws, "users/alice", identity=ALICE, events=hub))
    [prop] = [
        p
        for p in review.proposals
        if p.kind == "artifacts.archive" and p.payload["kind"] == "tools"
    ]
    assert prop.payload["names"] == [v1.id]
    [sub] = eng.submit([prop])
    assert "archived 1 of 1 tools" in hub.accept(sub.event_id)
    assert not v1.path.exists() and load_tool(ws, v2.id).active


def test_engine_respects_read_access(ws) -> None:
    eng, hub = engine(ws, identity=Identity.user_cron("bob", "eng"))
    with pytest.raises(VolumeAccessError):
        eng.review(Volume(ws, "users/alice", identity=Identity.user_cron("bob", "eng"), events=hub))


def test_finding_render_escapes_yaml() -> None:
    f = Finding("insights", "x", "Title: with colon", "a 'quoted' summary: yes", "body")
    front = frontmatter_of(f.render(scope="users/alice", source="user_cron:alice"))
    assert front["title"] == "Title: with colon" and front["summary"] == "a 'quoted' summary: yes"


def test_old_proven_traces_are_not_stale() -> None:
    old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=60)
    t_old_once = make_trace("Resize photos", [], when=old)
    t_old_proven = make_trace("Build docs", [], when=old)
    t_old_proven.usage_count = t_old_proven.success_count = 9
    t_new = make_trace("Fresh", [])
    snap = VolumeSnapshot("users/alice", traces=[t_old_once, t_old_proven, t_new])
    assert [t.id for t in TraceEvolver().stale(snap)] == [t_old_once.id]
