"""Volumes: ACL by identity, inheritance, changelog, unreadable files, promotion with provenance."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from llmos_tui.errors import UsageError
from llmos_tui.learning.index import TraceIndex
from llmos_tui.learning.store import TraceStore
from llmos_tui.learning.traces import ToolCall, dump_trace, make_trace
from llmos_tui.observability.events import EventLog
from llmos_tui.volumes.acl import Identity, VolumeAccessError, add_member, parse_scope, team_members
from llmos_tui.volumes.promotion import Promoter, PromotionConflict, PromotionCriteria
from llmos_tui.volumes.volume import (
    ArtifactReadError,
    Volume,
    compare_versions,
    inheritance_chain,
    list_scopes,
    resolve_all,
    resolve_artifact,
)
from llmos_tui.workspace import open_workspace


@pytest.fixture
def ws(tmp_path: Path):
    w = open_workspace(tmp_path / "ws", user="alice", team="eng")
    w.ensure(user="bob", team="eng")
    add_member(w, "eng", "alice")
    add_member(w, "eng", "bob")
    return w


def events(ws, kind: str) -> list:
    return EventLog(ws.events_file).read(types=[kind])


ALICE = Identity.user_cron("alice", "eng")
ENG = Identity.team_cron("eng")
SYSTEM = Identity.system_cron()


def tool_files(version: str, body: str = "return 1", uses: int = 0) -> dict:
    return {
        ".py": f"def run():\n    {body}\n",
        ".json": {"version": version, "usage_count": uses, "success_count": uses},
    }


# ---- scopes and ACL ----------------------------------------------------------------------


def test_scopes_parse_and_reject_traversal() -> None:
    assert parse_scope("users/alice") == parse_scope("user:alice") == "users/alice"
    assert parse_scope("team/eng") == "teams/eng" and parse_scope("system") == "system"
    for bad in ("users/../x", "users/", "groups/x", "teams/a/b", ""):
        with pytest.raises(UsageError):
            parse_scope(bad)
    assert inheritance_chain("alice", "eng") == ["users/alice", "teams/eng", "system"]


def test_acl_matrix_and_violations_are_recorded(ws) -> None:
    Volume(ws, "users/alice", identity=ALICE).write_artifact("insights", "mine", "# ok\n")
    assert (
        Volume(ws, "teams/eng", identity=ALICE).list_artifacts("insights") == []
    )  # reads its team
    with pytest.raises(VolumeAccessError, match="user_cron:alice may not write volumes/teams/eng"):
        Volume(ws, "teams/eng", identity=ALICE).write_artifact("insights", "x", "# no\n")
    with pytest.raises(VolumeAccessError, match="may not read volumes/users/bob"):
        Volume(ws, "users/bob", identity=ALICE).list_artifacts("traces")
    Volume(ws, "teams/eng", identity=ENG).write_artifact("insights", "team", "# team\n")
    assert Volume(ws, "users/alice", identity=ENG).list_artifacts("insights") == [
        "mine"
    ]  # a member
    with pytest.raises(VolumeAccessError, match="may not write volumes/users/alice"):
        Volume(ws, "users/alice", identity=ENG).write_artifact("insights", "x", "# no\n")
    with pytest.raises(VolumeAccessError, match="may not write volumes/system"):
        Volume(ws, "system", identity=ENG).write_artifact("insights", "x", "# no\n")
    ws.ensure(user="mallory", team="other")
    with pytest.raises(VolumeAccessError, match="not a member of team eng"):
        Volume(ws, "users/mallory", identity=ENG).list_artifacts("insights")
    with pytest.raises(VolumeAccessError, match="may not read volumes/teams/other"):
        Volume(ws, "teams/other", identity=ENG).list_artifacts("insights")
    for scope in ("system", "teams/other", "users/bob"):
        Volume(ws, scope, identity=SYSTEM).write_artifact("insights", "sys", "# sys\n")
    kernel = Identity.for_user("bob", "eng")
    Volume(ws, "users/bob", identity=kernel).write_artifact("insights", "bobs", "# b\n")
    with pytest.raises(VolumeAccessError):
        Volume(ws, "users/alice", identity=kernel).write_artifact("insights", "x", "# no\n")
    with pytest.raises(VolumeAccessError, match="needs an identity"):
        Volume(ws, "users/alice").write_artifact("insights", "x", "# no\n")
    denied = events(ws, "VOLUME_ACCESS_DENIED")
    assert len(denied) == 8
    assert denied[0].source == "user_cron:alice" and denied[0].data["volume"] == "teams/eng"
    assert not (ws.team_volume("eng") / "insights" / "x.md").exists()
    assert team_members(ws, "eng") == ["alice", "bob"]


def test_names_and_kinds_are_validated(ws) -> None:
    vol = Volume(ws, "users/alice", identity=ALICE)
    for bad in ("../escape", ".hidden", "a/b", ""):
        with pytest.raises(UsageError):
            vol.write_artifact("insights", bad, "x")
    with pytest.raises(UsageError, match="unknown artifact kind"):
        vol.write_artifact("secrets", "x", "x")
    with pytest.raises(UsageError, match="no '.md' file"):
        vol.write_artifact("tools", "t", {".md": "x"})
    with pytest.raises(UsageError, match="not valid JSON"):
        vol.write_artifact("tools", "t", {".py": "x = 1\n", ".json": "{broken"})
    assert vol.write_artifact("tools", "calc.py", "x = 1\n").info.name == "calc"  # suffix stripped


# ---- reading, writing, changelog -------------------------------------------------------------


def test_write_read_stats_and_changelog(ws) -> None:
    vol = Volume(ws, "users/alice", identity=ALICE)
    first = vol.write_artifact("tools", "calc", tool_files("1"), reason="crystallized")
    assert first.action == "created" and first.info.version == "1"
    assert vol.write_artifact("tools", "calc", tool_files("1")).action == "unchanged"
    second = vol.write_artifact("tools", "calc", tool_files("2", "return 2"))
    assert second.action == "updated"
    assert vol.read_artifact("tools", "calc") == "def run():\n    return 2\n"
    assert json.loads(vol.read_artifact_files("tools", "calc")[".json"])["version"] == "2"
    changes = vol.get_recent_changes()
    assert [c["action"] for c in changes] == ["updated", "created"]  # newest first, no "unchanged"
    assert changes[1]["reason"] == "crystallized" and changes[0]["actor"] == "user_cron:alice"
    stats = vol.get_stats()
    assert stats.tool_count == 1 and stats.changes == 2 and stats.problems == []
    assert [e.type for e in EventLog(ws.events_file).read()] == [
        "ARTIFACT_CREATED",
        "ARTIFACT_EVOLVED",
    ]
    assert vol.list_artifacts("tool") == ["calc"]
    leftovers = [p for p in vol.root.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_unreadable_files_are_reported_not_fatal(ws, tmp_path: Path) -> None:
    vol = Volume(ws, "users/alice", identity=ALICE)
    vol.write_artifact("insights", "good", "# fine\n")
    folder = vol.root / "insights"
    (folder / "latin1.md").write_bytes(b"caf\xe9\n")
    (folder / "adir.md").mkdir()
    os.symlink(folder / "missing.md", folder / "dangling.md")
    secret = tmp_path / "secret.md"
    secret.write_text("top secret\n")
    os.symlink(secret, folder / "outside.md")
    names = vol.list_artifacts("insights")
    assert names == ["good", "latin1"]
    reasons = {Path(p["path"]).name: p["reason"] for p in vol.problems}
    assert reasons == {
        "adir.md": "not a regular file",
        "dangling.md": "dangling symlink",
        "outside.md": "symlink leading outside the workspace volumes",
    }
    stats = vol.get_stats()
    assert stats.insight_count == 2 and len(stats.problems) == 3
    good = [info.name for info, _ in vol.iter_artifacts("insights")]
    assert good == ["good", "latin1"]  # bytes are readable; text decoding is the reader's
    with pytest.raises(ArtifactReadError, match="not UTF-8"):
        vol.read_artifact("insights", "latin1")
    with pytest.raises(ArtifactReadError, match="outside the workspace"):
        vol.read_artifact("insights", "outside")
    skipped = events(ws, "ARTIFACT_SKIPPED")
    assert {Path(e.data["path"]).name for e in skipped} == {"adir.md", "dangling.md", "outside.md"}
    list(vol.iter_artifacts("insights"))  # reported once, not on every scan
    assert len(events(ws, "ARTIFACT_SKIPPED")) == 3


def test_inheritance_prefers_user_then_team_then_system(ws) -> None:
    Volume(ws, "system", identity=SYSTEM).write_artifact("agents", "helper", "# system\n")
    assert resolve_artifact(ws, "agents", "helper", user="alice", team="eng").scope == "system"
    Volume(ws, "teams/eng", identity=ENG).write_artifact("agents", "helper", "# team\n")
    found = resolve_artifact(ws, "agents", "helper", user="alice", team="eng")
    assert (found.scope, found.content) == ("teams/eng", "# team\n")
    Volume(ws, "users/alice", identity=ALICE).write_artifact("agents", "helper", "# alice\n")
    assert resolve_artifact(ws, "agents", "helper", user="alice", team="eng").content == "# alice\n"
    assert resolve_artifact(ws, "agents", "helper", user="bob", team="eng").scope == "teams/eng"
    assert resolve_artifact(ws, "agents", "helper", user="bob", team=None).scope == "system"
    assert resolve_artifact(ws, "agents", "nobody", user="alice", team="eng") is None
    # An unreadable nearer copy is reported and the next scope wins.
    path = ws.user_volume("alice") / "agents" / "helper.md"
    path.unlink()
    path.mkdir()
    assert resolve_artifact(ws, "agents", "helper", user="alice", team="eng").scope == "teams/eng"
    assert events(ws, "ARTIFACT_SKIPPED")
    Volume(ws, "system", identity=SYSTEM).write_artifact("agents", "only-system", "# s\n")
    assert resolve_all(ws, "agents", user="bob", team="eng") == {
        "helper": "teams/eng",
        "only-system": "system",
    }


def test_traces_written_through_a_volume_are_indexed_and_archivable(ws) -> None:
    trace = make_trace(
        "Create a Python calculator",
        [ToolCall("Write", {"file_path": "{{cwd}}/calc.py", "content": "x"})],
    )
    vol = Volume(ws, "users/alice", identity=ALICE)
    vol.write_artifact("traces", trace.id, dump_trace(trace))
    entry = TraceIndex(ws).get(trace.id)
    assert entry is not None and entry.volume == "users/alice"
    with pytest.raises(UsageError, match="not a valid trace"):
        vol.write_artifact("traces", "t_bad", "# not a trace\n")
    with pytest.raises(UsageError, match="named after its id"):
        vol.write_artifact("traces", "t_other", dump_trace(trace))
    moved = vol.archive_artifact("traces", trace.id, reason="consolidated")
    assert TraceIndex(ws).get(trace.id) is None
    assert (ws.root / moved[0]).is_file() and "/.archive/traces/" in moved[0]
    assert vol.list_artifacts("traces") == []
    assert events(ws, "ARTIFACT_DELETED")[0].data["archived"] == moved
    assert TraceIndex(ws).rebuild()["traces"] == 0  # archived traces are not indexed again


def test_list_scopes(ws) -> None:
    assert list_scopes(ws) == ["system", "teams/eng", "users/alice", "users/bob"]


# ---- promotion ---------------------------------------------------------------------------


def test_promote_tool_with_provenance_update_and_never_overwrite_newer(ws) -> None:
    alice = Volume(ws, "users/alice", identity=ALICE)
    alice.write_artifact("tools", "calc", tool_files("1", uses=6))
    promoter = Promoter(ws)
    res = promoter.promote(
        "tools", "calc", from_scope="users/alice", to_scope="teams/eng", reason="team uses it"
    )
    assert res.status == "promoted" and res.target_name == "calc"
    team = Volume(ws, "teams/eng")
    assert team.read_artifact("tools", "calc") == alice.read_artifact("tools", "calc")
    prov = team.read_provenance("tools", "calc")
    assert prov["origin"]["scope"] == "users/alice" and prov["origin"]["version"] == "1"
    assert prov["promoted_by"] == "team_cron:eng" and prov["reason"] == "team uses it"
    promoted = events(ws, "ARTIFACT_PROMOTED")
    assert promoted[0].notify_user and promoted[0].data["from"] == "users/alice"
    assert team.get_recent_changes()[0]["action"] == "promoted"
    # Same content again: nothing to do.
    assert (
        promoter.promote("tools", "calc", from_scope="users/alice", to_scope="teams/eng").status
        == "unchanged"
    )
    # Usage counters alone do not make a new version.
    alice.write_artifact("tools", "calc", tool_files("1", uses=9))
    assert (
        promoter.promote("tools", "calc", from_scope="users/alice", to_scope="teams/eng").status
        == "unchanged"
    )
    # A newer source version updates the untouched team copy and keeps history.
    alice.write_artifact("tools", "calc", tool_files("2", "return 2"))
    res = promoter.promote("tools", "calc", from_scope="users/alice", to_scope="teams/eng")
    assert res.status == "updated" and "return 2" in team.read_artifact("tools", "calc")
    prov = team.read_provenance("tools", "calc")
    assert prov["origin"]["version"] == "2" and prov["history"][0]["origin"]["version"] == "1"
    # The team edits its copy: a later promotion must not overwrite it.
    Volume(ws, "teams/eng", identity=ENG).write_artifact(
        "tools", "calc", tool_files("3", "return 'team'")
    )
    alice.write_artifact("tools", "calc", tool_files("4", "return 4"))
    with pytest.raises(PromotionConflict, match="modified in teams/eng since it was promoted"):
        promoter.promote("tools", "calc", from_scope="users/alice", to_scope="teams/eng")
    assert "return 'team'" in team.read_artifact("tools", "calc")
    assert events(ws, "PROMOTION_REFUSED")
    # keep_both writes the source beside the team's copy.
    keep = Promoter(ws, criteria=PromotionCriteria(on_conflict="keep_both"))
    res = keep.promote("tools", "calc", from_scope="users/alice", to_scope="teams/eng")
    assert res.status == "kept_both" and res.target_name == "calc.from-alice"
    assert "return 'team'" in team.read_artifact("tools", "calc")
    assert "return 4" in team.read_artifact("tools", "calc.from-alice")


def test_promotion_refuses_a_newer_target_version_and_foreign_origins(ws) -> None:
    Volume(ws, "users/alice", identity=ALICE).write_artifact("tools", "fmt", tool_files("1"))
    Volume(ws, "users/bob", identity=Identity.user_cron("bob", "eng")).write_artifact(
        "tools", "fmt", tool_files("5", "return 5")
    )
    promoter = Promoter(ws)
    promoter.promote("tools", "fmt", from_scope="users/bob", to_scope="teams/eng")
    with pytest.raises(
        PromotionConflict, match="promoted from volumes/users/bob/tools/fmt, not from users/alice"
    ):
        promoter.promote("tools", "fmt", from_scope="users/alice", to_scope="teams/eng")
    Volume(ws, "teams/eng", identity=ENG).write_artifact("tools", "own", tool_files("9"))
    Volume(ws, "users/alice", identity=ALICE).write_artifact(
        "tools", "own", tool_files("10", "return 10")
    )
    with pytest.raises(PromotionConflict, match="not created by a promotion"):
        promoter.promote("tools", "own", from_scope="users/alice", to_scope="teams/eng")
    # Version order: the target's copy is newer than the source.
    Volume(ws, "users/bob", identity=Identity.user_cron("bob", "eng")).write_artifact(
        "tools", "fmt", tool_files("4", "return 4")
    )
    with pytest.raises(PromotionConflict, match="version 5, newer than the source's 4"):
        promoter.promote("tools", "fmt", from_scope="users/bob", to_scope="teams/eng")
    assert "return 5" in Volume(ws, "teams/eng").read_artifact("tools", "fmt")
    with pytest.raises(UsageError, match="promotion goes up"):
        promoter.promote("tools", "fmt", from_scope="teams/eng", to_scope="users/alice")
    ws.ensure(user="mallory", team="other")
    Volume(ws, "users/mallory", identity=SYSTEM).write_artifact("tools", "m", tool_files("1"))
    with pytest.raises(VolumeAccessError, match="not a member"):
        promoter.promote("tools", "m", from_scope="users/mallory", to_scope="teams/eng")


def _learn(ws, user: str, goal: str, *, uses: int = 1, ok: int | None = None) -> str:
    trace = make_trace(
        goal, [ToolCall("Write", {"file_path": "{{cwd}}/calc.py", "content": "print(1)"})]
    )
    trace.usage_count = uses
    trace.success_count = uses if ok is None else ok
    trace.failure_count = uses - trace.success_count
    TraceStore(ws).save(trace, volume=f"users/{user}")
    return trace.id


def test_trace_promotion_reindexes_and_is_inherited(ws) -> None:
    tid = _learn(ws, "alice", "Create a Python calculator")
    res = Promoter(ws).promote("traces", tid, from_scope="users/alice", to_scope="teams/eng")
    assert res.target_name != tid
    team_entry = TraceIndex(ws).get(res.target_name)
    assert team_entry.volume == "teams/eng"
    team_trace = TraceStore(ws).get(res.target_name)
    assert team_trace.parent_trace == tid and team_trace.goal == "Create a Python calculator"
    prov = Volume(ws, "teams/eng").read_provenance("traces", res.target_name)
    assert prov["origin"]["trace_id"] == tid
    # Bob sees it through inheritance (his chain is users/bob, teams/eng, system).
    visible = TraceIndex(ws).entries(inheritance_chain("bob", "eng"))
    assert [e.id for e in visible] == [res.target_name]
    # The team copy gets used (counters change): promoting again is still "unchanged".
    TraceStore(ws).record_outcome(res.target_name, True)
    assert (
        Promoter(ws).promote("traces", tid, from_scope="users/alice", to_scope="teams/eng").status
        == "unchanged"
    )
    # Then on to system.
    res2 = Promoter(ws).promote(
        "traces", res.target_name, from_scope="teams/eng", to_scope="system"
    )
    sys_prov = Volume(ws, "system").read_provenance("traces", res2.target_name)
    assert (
        sys_prov["origin"]["scope"] == "teams/eng"
        and sys_prov["chain"][0]["origin"]["scope"] == "users/alice"
    )
    assert TraceIndex(ws).rebuild()["skipped"] == 0  # no duplicate ids anywhere


def test_promotion_criteria(ws) -> None:
    goal = "Create a Python calculator"
    _learn(ws, "alice", goal)
    promoter = Promoter(ws)
    assert promoter.user_to_team_candidates("eng") == []  # one user, one use
    _learn(ws, "bob", goal)
    [cand] = promoter.user_to_team_candidates("eng")
    assert cand.rule == "users" and cand.owners == ["alice", "bob"] and cand.kind == "traces"
    _learn(ws, "alice", "Format the JSON files", uses=12, ok=12)
    _learn(ws, "alice", "Lint the repository", uses=12, ok=9)  # 75 %: below 0.9
    found = {c.reason.split()[0]: c for c in promoter.user_to_team_candidates("eng")}
    assert "12" in found and found["12"].rule == "uses"
    assert all(
        "Lint" not in TraceStore(ws).get(c.name).goal
        for c in promoter.user_to_team_candidates("eng")
    )
    # Tools: used by two members (manifest counters).
    Volume(ws, "users/alice", identity=ALICE).write_artifact(
        "tools", "calc", tool_files("1", uses=2)
    )
    Volume(ws, "users/bob", identity=Identity.user_cron("bob", "eng")).write_artifact(
        "tools", "calc", tool_files("1", uses=1)
    )
    tools = [c for c in promoter.user_to_team_candidates("eng") if c.kind == "tools"]
    assert [(c.name, c.rule, c.owners) for c in tools] == [("calc", "users", ["alice", "bob"])]
    promoter.promote("tools", "calc", from_scope=tools[0].from_scope, to_scope="teams/eng")
    assert [c for c in promoter.user_to_team_candidates("eng") if c.kind == "tools"] == []
    assert [
        c.already_promoted
        for c in promoter.user_to_team_candidates("eng", include_done=True)
        if c.kind == "tools"
    ] == [True]
    # Team -> system: present in two teams.
    assert [c for c in promoter.team_to_system_candidates() if c.kind == "tools"] == []
    Volume(ws, "teams/design", identity=SYSTEM).write_artifact("tools", "calc", tool_files("1"))
    [sys_cand] = [c for c in promoter.team_to_system_candidates() if c.kind == "tools"]
    assert sys_cand.owners == ["design", "eng"] and sys_cand.to_scope == "system"


def test_version_comparison() -> None:
    assert compare_versions("1.10", "1.9") == 1
    assert compare_versions("v2", "2.0") == 0
    assert compare_versions(None, "1") is None and compare_versions("abc", "1") is None


# ---- crystallized tools travel with their trace ---------------------------------------------


def _crystallize(ws, user: str, goal: str, *, status: str = "active") -> tuple[str, str]:
    """A tool as the crystallizer writes it (module + manifest), for a trace of ``user``."""
    from llmos_tui.atomic import atomic_write_json, atomic_write_text
    from llmos_tui.evolution.crystallizer import tool_name_for
    from llmos_tui.execution.replay.crystallized import render_module, sha256_bytes, tool_id

    trace = make_trace(
        goal,
        [
            ToolCall(
                "Write",
                {"file_path": "{{cwd}}/calc.py", "content": "print(1)"},
                {"is_error": False, "summary": "created", "files_created": ["calc.py"]},
            )
        ],
    )
    store = TraceStore(ws)
    store.save(trace, volume=f"users/{user}")
    name = tool_name_for(trace)
    text = render_module(
        name=name,
        version=1,
        source_trace=trace.id,
        goal=trace.goal,
        slots=trace.slots,
        calls=trace.calls,
    )
    ident = tool_id(name, 1)
    folder = ws.user_volume(user) / "tools"
    atomic_write_json(
        folder / f"{ident}.json",
        {
            "format": 1,
            "name": name,
            "version": 1,
            "id": ident,
            "module": f"{ident}.py",
            "source_trace": trace.id,
            "source_volume": f"users/{user}",
            "goal": trace.goal,
            "slots": {},
            "tools_used": ["Write"],
            "created_at": trace.created_at,
            "sha256": sha256_bytes(text.encode()),
            "status": status,
            "status_reason": "verified",
            "verification": {"success": True},
            "history": [],
        },
    )
    atomic_write_text(folder / f"{ident}.py", text)
    trace.crystallized_tool = ident
    store.update(trace)
    return trace.id, ident


def test_a_crystallized_tool_is_promoted_with_its_trace_and_loads_for_teammates(ws) -> None:
    from llmos_tui.execution.replay.crystallized import find_tool_for_trace, load_tool

    trace_id, ident = _crystallize(ws, "alice", "Create a Python calculator")
    res = Promoter(ws).promote("tools", ident, from_scope="users/alice", to_scope="teams/eng")
    assert res.status == "promoted" and "with its trace" in res.message
    team_trace = [e for e in TraceIndex(ws).entries(["teams/eng"])]
    assert len(team_trace) == 1 and team_trace[0].crystallized_tool == ident
    assert TraceStore(ws).get(team_trace[0].id).parent_trace == trace_id
    bob_chain = inheritance_chain("bob", "eng")
    tool = load_tool(ws, ident, volumes=bob_chain)  # the real loader accepts the re-rendered module
    assert tool.volume == "teams/eng" and tool.source_trace == team_trace[0].id
    assert find_tool_for_trace(ws, team_trace[0].id, volumes=bob_chain, hint=ident).id == ident
    manifest = json.loads((ws.team_volume("eng") / "tools" / f"{ident}.json").read_text())
    assert manifest["promoted_from"] == {
        "volume": "users/alice",
        "tool": ident,
        "source_trace": trace_id,
    }
    # Alice's copy is untouched and still loads for her.
    assert load_tool(ws, ident, volumes=["users/alice"]).source_trace == trace_id
    # Again: unchanged, nothing rewritten.
    assert (
        Promoter(ws).promote("tools", ident, from_scope="users/alice", to_scope="teams/eng").status
        == "unchanged"
    )
    # A trace promoted alone does not name a tool its readers cannot see.
    other_id, other_tool = _crystallize(ws, "bob", "Create a Rust calculator")
    alone = Promoter(ws).promote("traces", other_id, from_scope="users/bob", to_scope="teams/eng")
    assert TraceStore(ws).get(alone.target_name).crystallized_tool is None


def test_crystallized_tools_refused_when_tampered_or_inactive(ws) -> None:
    _tid, ident = _crystallize(ws, "alice", "Create a Python calculator")
    module = ws.user_volume("alice") / "tools" / f"{ident}.py"
    module.write_text(module.read_text().replace("print(1)", "print(2)"))
    with pytest.raises(UsageError, match="does not match the sha256"):
        Promoter(ws).promote("tools", ident, from_scope="users/alice", to_scope="teams/eng")
    _tid2, ident2 = _crystallize(ws, "alice", "Create a Go calculator", status="demoted")
    with pytest.raises(UsageError, match="only active crystallized tools"):
        Promoter(ws).promote("tools", ident2, from_scope="users/alice", to_scope="teams/eng")
    assert not (ws.team_volume("eng") / "tools" / f"{ident}.py").exists()


def test_two_members_tools_for_one_goal_are_a_candidate(ws) -> None:
    _a, tool_a = _crystallize(ws, "alice", "Create a Python calculator")
    _b, tool_b = _crystallize(ws, "bob", "Create a Python calculator")
    assert tool_a != tool_b  # names carry the trace id
    promoter = Promoter(ws)
    assert [c.kind for c in promoter.user_to_team_candidates("eng")] == [
        "traces"
    ]  # not used as tools yet
    log = EventLog(ws.events_file)
    log.record("TOOL_RUN", tool=tool_a, trace_id=_a, success=True, volume="users/alice")
    log.record("TOOL_RUN", tool=tool_b, trace_id=_b, success=True)
    [cand] = promoter.user_to_team_candidates("eng")  # the trace group is carried by the tool
    assert (cand.kind, cand.rule, cand.owners) == ("tools", "users", ["alice", "bob"])
    promoter.promote(cand.kind, cand.name, from_scope=cand.from_scope, to_scope="teams/eng")
    assert promoter.user_to_team_candidates("eng") == []
