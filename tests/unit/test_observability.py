"""ObservabilityHub: event log (rotation, concurrency, corruption), notifications, proposals, reports."""

from __future__ import annotations

import datetime as _dt
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from llmos_tui.observability.events import Event, EventCursor, EventLog, EventType
from llmos_tui.observability.hub import (
    NotAProposal,
    NotificationNotFound,
    ObservabilityHub,
    ProposalError,
)
from llmos_tui.volumes.acl import Identity
from llmos_tui.volumes.appliers import APPLIER_MODULE, register_appliers
from llmos_tui.volumes.volume import Volume
from llmos_tui.workspace import open_workspace

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def ws(tmp_path: Path):
    return open_workspace(tmp_path / "ws", user="alice", team="eng")


def _wired(ws, **kwargs) -> ObservabilityHub:
    """A hub with the artifact.* appliers, as the CLI and the TUI wire theirs."""
    hub = ObservabilityHub(ws, **kwargs)
    register_appliers(hub)
    return hub


def _run_py(code: str, *args: str, timeout: float = 60) -> subprocess.Popen:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


# ---- the log ---------------------------------------------------------------------------


def test_record_and_read_roundtrip_keeps_the_kernel_api(ws) -> None:
    log = EventLog(ws.events_file)
    ev = log.record("TRACE_RECORDED", trace_id="t_1", goal="g")
    log.record("GOAL_FINISHED", notify_user=False, mode="LEARNER", success=True)
    got = log.read()
    assert [e.type for e in got] == ["TRACE_RECORDED", "GOAL_FINISHED"]
    assert got[0].id == ev.id and got[0].data == {"trace_id": "t_1", "goal": "g"}
    assert [e.type for e in log.read(types=["GOAL_FINISHED"])] == ["GOAL_FINISHED"]
    assert [e.data.get("trace_id") for e in log.read(limit=1)] == [None]
    assert EventType.CRON_STARTED == "CRON_STARTED"
    for name in (
        "CRON_STARTED",
        "CRON_COMPLETED",
        "CRON_FAILED",
        "INSIGHT_GENERATED",
        "ARTIFACT_CREATED",
        "ARTIFACT_EVOLVED",
        "ARTIFACT_PROMOTED",
        "ARTIFACT_DELETED",
        "SUGGESTION_CREATED",
        "PROPOSAL_CREATED",
        "SYSTEM_ALERT",
        "TRACE_RECORDED",
        "TRACE_REPLAYED",
        "MODE_DECIDED",
        "POLICY_DECISION",
        "GOAL_FINISHED",
        "TOOL_CRYSTALLIZED",
        "TOOL_DEMOTED",
        "TRACE_SKIPPED",
    ):
        assert EventType[name] == name


def test_a_value_from_an_undecodable_name_is_logged_escaped(ws) -> None:
    """os.listdir gives lone surrogates for bytes that are not UTF-8: the event is still
    written (escaped), and the run that recorded it is not taken down."""
    log = EventLog(ws.events_file)
    log.record("TRACE_SKIPPED", path=os.fsdecode(b"traces/bad\xff.md"), reason="r")
    raw = ws.events_file.read_bytes()
    raw.decode("utf-8")  # the log stays valid UTF-8
    (got,) = log.read()
    assert got.data["path"] == "traces/bad\\xff.md"


def test_corrupt_lines_are_skipped_and_counted(ws) -> None:
    hub = ObservabilityHub(ws)
    hub.record("A", n=1)
    with open(ws.events_file, "a", encoding="utf-8") as f:
        f.write("{not json\n")
        f.write('{"id": "x"}\n')  # missing fields
        f.write('["a list"]\n')
        f.write("\n")
    hub.record("B", n=2)
    events = hub.get_events()
    assert [e.type for e in events] == ["A", "B"]
    assert hub.corrupt_lines == 3
    assert hub.get_global_summary()["corrupt_lines"] == 3
    # A torn last line (a crash mid-write) is also skipped.
    with open(ws.events_file, "ab") as f:
        f.write(b'{"id": "e_torn", "ts": "2026-')
    assert [e.type for e in hub.get_events()] == ["A", "B"]
    assert hub.corrupt_lines == 4


def test_rotation_keeps_n_files_and_reads_span_them(ws) -> None:
    log = EventLog(ws.events_file, max_bytes=2048, keep=3)
    ids = [log.record("TICK", i=i, pad="x" * 100).id for i in range(200)]
    rotated = sorted(p.name for p in ws.events_file.parent.glob("events.*.jsonl"))
    assert rotated == ["events.1.jsonl", "events.2.jsonl", "events.3.jsonl"]
    for p in log.files():
        assert p.stat().st_size < 2048 + 400
    got = [e.id for e in log.read()]
    assert got == ids[-len(got) :]  # the newest, in order, no gaps
    assert 25 <= len(got) < 200  # the oldest were dropped with the 4th file
    assert [e.data["i"] for e in log.read(limit=5)] == [195, 196, 197, 198, 199]


def test_since_filters_by_time_and_skips_old_rotated_files(ws) -> None:
    hub = ObservabilityHub(ws)
    old = Event(type="OLD", ts="2020-01-01T00:00:00.000000Z")
    hub.event_log.append(old)
    hub.record("NEW")
    assert [e.type for e in hub.get_events(since=_dt.timedelta(hours=1))] == ["NEW"]
    assert [e.type for e in hub.get_events(since="2019-12-31T00:00:00Z")] == ["OLD", "NEW"]
    assert [e.type for e in hub.get_events(types=["OLD"])] == ["OLD"]
    with pytest.raises(Exception) as info:
        hub.get_events(since="yesterday")
    assert "not a timestamp" in str(info.value)


WRITER = """
import sys
from llmos_tui.observability.events import EventLog
path, tag, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
log = EventLog(path, max_bytes=16384, keep=1000)
for i in range(n):
    log.record("CONCURRENT", tag=tag, i=i, pad="y" * 40)
print("ok")
"""


@pytest.mark.slow
def test_concurrent_processes_lose_and_duplicate_nothing_across_rotations(ws) -> None:
    procs = [_run_py(WRITER, str(ws.events_file), f"p{k}", "250") for k in range(4)]
    for proc in procs:
        out, errout = proc.communicate(timeout=120)
        assert proc.returncode == 0, errout
    log = EventLog(ws.events_file, keep=1000)
    events = log.read(types=["CONCURRENT"])
    assert log.corrupt_lines == 0
    pairs = [(e.data["tag"], e.data["i"]) for e in events]
    assert len(pairs) == 1000
    assert set(pairs) == {(f"p{k}", i) for k in range(4) for i in range(250)}
    assert len({e.id for e in events}) == 1000
    assert len(list(ws.events_file.parent.glob("events.*.jsonl"))) >= 5  # it did rotate
    # Each writer's own events stay in its order.
    for k in range(4):
        mine = [i for tag, i in pairs if tag == f"p{k}"]
        assert mine == sorted(mine)


def test_poll_new_follows_other_processes_across_a_rotation(ws) -> None:
    log = EventLog(ws.events_file, max_bytes=4096, keep=5)
    log.record("BEFORE")
    events, cursor = log.poll_new(None)
    assert events == [] and isinstance(cursor, EventCursor)
    proc = _run_py(
        WRITER.replace("max_bytes=16384", "max_bytes=4096").replace("keep=1000", "keep=5"),
        str(ws.events_file),
        "w",
        "30",
    )
    proc.communicate(timeout=60)
    assert proc.returncode == 0
    seen: list[int] = []
    new, cursor = log.poll_new(cursor)
    seen += [e.data["i"] for e in new]
    assert seen == list(range(30))  # across at least one rotation
    assert len(list(ws.events_file.parent.glob("events.*.jsonl"))) >= 1
    # A half-written line is not consumed until complete.
    with open(ws.events_file, "ab") as f:
        f.write(b'{"id": "e_half", "ts": "2026-01-01T00:00:00Z", "type": "HALF"')
    new, cursor2 = log.poll_new(cursor)
    assert new == []
    with open(ws.events_file, "ab") as f:
        f.write(b', "data": {}}\n')
    new, _ = log.poll_new(cursor2)
    assert [e.type for e in new] == ["HALF"]
    assert EventCursor.parse(cursor.to_str()) == cursor


def test_subscribe_hears_every_event_of_this_process_until_unsubscribed(ws) -> None:
    hub = ObservabilityHub(ws)
    heard: list[str] = []
    stop = hub.subscribe(lambda e: heard.append(e.type))
    EventLog(ws.events_file).record("FROM_KERNEL")  # another writer object, same log
    hub.record("FROM_HUB")

    def broken(_e: Event) -> None:
        raise RuntimeError("boom")

    stop_broken = hub.subscribe(broken)
    hub.record("STILL_OK")  # a broken subscriber breaks nothing
    stop()
    stop_broken()
    hub.record("AFTER")
    assert heard == ["FROM_KERNEL", "FROM_HUB", "STILL_OK"]
    assert [e.type for e in hub.get_events()][-1] == "AFTER"


# ---- notifications -----------------------------------------------------------------------


def test_notifications_are_unacknowledged_notify_events(ws) -> None:
    hub = ObservabilityHub(ws)
    hub.record("QUIET")
    a = hub.record_insight("user_cron:alice", "users/alice", "i1", title="Calculator goals repeat")
    b = hub.record_alert("Disk almost full", "3% left")
    pending = hub.get_pending_notifications()
    assert [n.id for n in pending] == [a.id, b.id]
    assert pending[0].to_dict()["title"] == "Calculator goals repeat"
    assert hub.acknowledge(a.id[:8]) is True  # a unique prefix works
    assert hub.acknowledge(a.id) is False  # already read
    assert [n.id for n in hub.get_pending_notifications()] == [b.id]
    assert hub.acknowledge_all() == 1
    assert hub.get_pending_notifications() == []
    assert len(hub.get_notifications(include_read=True)) == 2
    acks = hub.get_events(types=["ACKNOWLEDGED"])
    assert sorted(i for e in acks for i in e.data["ids"]) == sorted([a.id, b.id])
    with pytest.raises(NotificationNotFound):
        hub.acknowledge("e_doesnotexist")
    # History is append-only: the original events are untouched.
    raw = [json.loads(line) for line in ws.events_file.read_text().splitlines()]
    assert [r["id"] for r in raw if r["notify_user"]] == [a.id, b.id]


def test_inbox_is_rebuilt_from_the_log_when_missing_or_corrupt(ws) -> None:
    hub = ObservabilityHub(ws)
    a = hub.record_insight("c", "users/alice", "i1", title="one")
    b = hub.record_insight("c", "users/alice", "i2", title="two")
    hub.acknowledge(a.id)
    inbox = ws.root / "observability" / "inbox.jsonl"
    inbox.unlink()
    hub2 = ObservabilityHub(ws)
    assert [n.id for n in hub2.get_pending_notifications()] == [b.id]
    with open(inbox, "a") as f:
        f.write("garbage\n")
    assert [n.id for n in hub2.get_pending_notifications()] == [b.id]
    assert hub2.inbox.corrupt_lines == 1


# ---- proposals ---------------------------------------------------------------------------


def _write_payload(content: str = "# Better\n", name: str = "calc-agent") -> dict:
    return {
        "scope": "users/alice",
        "kind": "agents",
        "name": name,
        "content": content,
        "identity": Identity.user_cron("alice", "eng").to_dict(),
        "reason": "agent refined",
    }


def test_accept_applies_once_and_reject_is_recorded(ws) -> None:
    hub = _wired(ws)
    vol = Volume(ws, "users/alice")
    pid = hub.propose(
        "artifact.write",
        "Refine the calc agent",
        "more precise prompt",
        "+ # Better",
        _write_payload(),
        source="user_cron:alice",
        volume="users/alice",
    )
    assert not vol.has_artifact("agents", "calc-agent")  # nothing before accept
    [item] = hub.get_proposals()
    assert item.state == "pending" and item.to_dict()["proposal_kind"] == "artifact.write"
    msg = hub.accept(pid)
    assert "created agents/calc-agent" in msg
    assert vol.read_artifact("agents", "calc-agent") == "# Better\n"
    with pytest.raises(ProposalError, match="already accepted"):
        hub.accept(pid)
    with pytest.raises(ProposalError, match="already accepted"):
        hub.reject(pid, "too late")
    pid2 = hub.propose("artifact.write", "Another", "s", None, _write_payload("# Worse\n"))
    hub.reject(pid2, "not better")
    assert vol.read_artifact("agents", "calc-agent") == "# Better\n"
    with pytest.raises(ProposalError, match="already rejected"):
        hub.accept(pid2)
    assert hub.get_proposals() == []
    decided = {n.id: n for n in hub.get_proposals(include_decided=True)}
    assert decided[pid].decision == "accepted" and decided[pid2].reason == "not better"
    types = [e.type for e in hub.get_events()]
    assert types.count("PROPOSAL_ACCEPTED") == 1 and types.count("PROPOSAL_REJECTED") == 1
    insight = hub.record_insight("c", "users/alice", "i", title="t")
    with pytest.raises(NotAProposal):
        hub.accept(insight.id)


def test_a_failing_applier_is_recorded_and_the_proposal_stays_open(ws) -> None:
    hub = _wired(ws)
    bad = _write_payload()
    bad["scope"] = "teams/eng"  # a UserCron may not write the team volume
    pid = hub.propose("artifact.write", "Sneaky", "s", None, bad)
    with pytest.raises(ProposalError, match="may not write volumes/teams/eng"):
        hub.accept(pid)
    [item] = hub.get_proposals()
    assert item.state == "failed" and "may not write" in item.failures[0]["error"]
    assert hub.get_events(types=["VOLUME_ACCESS_DENIED"])
    calls: list[dict] = []
    hub.register_applier("custom.kind", lambda p: calls.append(p) or "done it")
    pid2 = hub.propose("custom.kind", "Custom", "s", None, {"x": 1})
    assert hub.accept(pid2) == "done it" and calls == [{"x": 1}]
    pid3 = hub.propose("unknown.kind", "?", "s", None, {})
    with pytest.raises(ProposalError, match="no applier"):
        hub.accept(pid3)


def test_the_hub_has_no_kind_of_its_own_and_loads_the_module_a_proposal_names(ws) -> None:
    bare = ObservabilityHub(ws)
    assert bare.appliers() == []
    unnamed = bare.propose("artifact.write", "Nobody wired", "s", None, _write_payload())
    with pytest.raises(ProposalError, match="no applier"):
        bare.accept(unnamed)
    # the module the evolvers' artifact.* proposals name (an inbox keeps older ones)
    for module, name in ((APPLIER_MODULE, "a"), ("llmos_tui.evolution.engine", "b")):
        hub = ObservabilityHub(ws)
        payload = {**_write_payload(f"# {name}\n"), "name": name}
        pid = hub.propose("artifact.write", name, "s", None, payload, applier_module=module)
        assert hub.accept(pid).startswith("created")
        assert Volume(ws, "users/alice").read_artifact("agents", name) == f"# {name}\n"
        assert {"artifact.write", "artifact.archive", "artifact.promote"} <= set(hub.appliers())


def test_auto_apply_kinds_are_applied_when_proposed(ws) -> None:
    hub = _wired(ws, auto_apply=["artifact.write"])
    pid = hub.propose("artifact.write", "Auto", "s", None, _write_payload("# Auto\n"))
    assert Volume(ws, "users/alice").read_artifact("agents", "calc-agent") == "# Auto\n"
    item = hub.get_notification(pid)
    assert item.decision == "accepted" and item.decided_by == "auto_apply"
    assert item.pending  # the user is still told it happened


def test_large_payloads_go_to_a_sidecar_file(ws) -> None:
    hub = _wired(ws)
    big = "x" * 200_000
    pid = hub.propose("artifact.write", "Big", "s", big, _write_payload(big))
    line = [ln for ln in ws.events_file.read_text().splitlines() if pid in ln][0]
    assert len(line) < 100_000  # preview capped, payload outside
    assert (ws.root / "observability" / "proposals" / f"{pid}.json").is_file()
    hub.accept(pid)
    assert Volume(ws, "users/alice").read_artifact("agents", "calc-agent") == big


ACCEPTER = """
import sys
from llmos_tui.observability.hub import ObservabilityHub, ProposalError
from llmos_tui.workspace import Workspace
hub = ObservabilityHub(Workspace(__import__("pathlib").Path(sys.argv[1])))
try:
    print("OK", hub.accept(sys.argv[2]))
except ProposalError as exc:
    print("REFUSED", exc)
"""


@pytest.mark.slow
def test_two_processes_accepting_the_same_proposal_apply_it_once(ws) -> None:
    hub = ObservabilityHub(ws)
    pid = hub.propose(
        "artifact.write",
        "Race",
        "s",
        None,
        _write_payload("# Raced\n"),
        applier_module=APPLIER_MODULE,  # the accepting processes load it from there
    )
    procs = [_run_py(ACCEPTER, str(ws.root), pid) for _ in range(3)]
    outs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert sorted(o.split()[0] for o in outs) == ["OK", "REFUSED", "REFUSED"], outs
    assert len(hub.get_events(types=["PROPOSAL_ACCEPTED"])) == 1
    assert len(Volume(ws, "users/alice").get_recent_changes()) == 1


# ---- feeds and the report --------------------------------------------------------------------


def test_activity_report_lists_what_each_cron_did(ws) -> None:
    hub = ObservabilityHub(ws)
    cron = "user_cron:alice"
    hub.record_cron_started(cron, level="user")
    vol = Volume(ws, "users/alice", identity=Identity.user_cron("alice", "eng"), events=hub)
    vol.write_artifact(
        "insights",
        "calc-repeats",
        "# Calculator goals repeat\n",
        event_type="INSIGHT_GENERATED",
        notify_user=True,
        title="Calculator goals repeat",
    )
    vol.write_artifact(
        "suggestions",
        "crystallize-calc",
        "# Crystallize it\n",
        event_type="SUGGESTION_CREATED",
        notify_user=True,
        title="Crystallize the calculator",
    )
    vol.write_artifact("insights", "calc-repeats", "# Calculator goals repeat (7x)\n")
    hub.record_cron_completed(
        cron, level="user", duration_s=1.25, tasks=["analyze_traces", "insights"]
    )
    hub.record_cron_started("team_cron:eng", level="team")
    hub.record_cron_failed("team_cron:eng", level="team", error="disk full")
    hub.record("GOAL_FINISHED", mode="FOLLOWER", success=True)
    text = hub.format_activity_report(24)
    assert "user_cron:alice" in text and "1 cycle(s), 0 failed" in text
    assert "1 insight(s), 1 suggestion(s), 2 created, 1 evolved" in text
    assert "team_cron:eng" in text and "last error: disk full" in text
    assert "insights/calc-repeats" in text and "suggestions/crystallize-calc" in text
    assert "Evolved (1)" in text and "Goals: 1 run (FOLLOWER 1)" in text
    data = hub.activity(24)
    assert {r["cron"] for r in data["crons"]} == {"user_cron:alice", "team_cron:eng"}
    assert data["notifications"]["pending"] == 3  # the two artifacts and the failed cycle
    changes = hub.get_artifact_changes("user")
    assert [e.type for e in changes] == [
        "ARTIFACT_EVOLVED",
        "SUGGESTION_CREATED",
        "INSIGHT_GENERATED",
    ]
    assert hub.get_artifact_changes("team") == []
    feed = hub.get_activity_feed(1)
    assert feed[0].type == "GOAL_FINISHED"  # newest first
    summary = hub.get_global_summary()
    assert (
        summary["insights"] == 1
        and summary["cron_failures"] == 1
        and summary["pending_notifications"] == 3
    )
    old = hub.format_activity_report(0.0001)
    assert "No artifact" in old or "Created" in old


def test_hub_locates_its_folder_from_a_workspace_or_a_path(tmp_path: Path, ws) -> None:
    from llmos_tui.errors import UsageError

    assert ObservabilityHub(ws).folder == ws.root / "observability"
    assert (
        ObservabilityHub(tmp_path / "r").folder == tmp_path / "r" / "observability"
    )  # a Path's .root is "/"
    assert ObservabilityHub(str(tmp_path / "r")).folder == tmp_path / "r" / "observability"
    hub = ObservabilityHub(tmp_path / "r" / "observability")
    assert hub.root == tmp_path / "r" and hub.folder == tmp_path / "r" / "observability"
    hub.record("X")
    assert (tmp_path / "r" / "observability" / "events.jsonl").is_file()
    with pytest.raises(UsageError):
        ObservabilityHub(42)


def test_inbox_compaction_keeps_pending_and_drops_what_is_done(ws) -> None:
    hub = _wired(ws)
    hub.inbox.max_bytes = hub.event_log.inbox_max_bytes = 8192
    first = [
        hub.record_insight("c", "users/alice", f"i{i}", title=f"insight {i}").id for i in range(10)
    ]
    hub.inbox.acknowledge(first[:8])
    pid = hub.propose("artifact.write", "Keep me", "s", None, _write_payload())
    hub.acknowledge(pid)  # read but undecided: must survive
    more = [
        hub.record_insight("c", "users/alice", f"j{i}", title="padding " + "p" * 200).id
        for i in range(40)
    ]
    inbox = ws.root / "observability" / "inbox.jsonl"
    text = inbox.read_text()
    assert not any(i in text for i in first[:8])  # compacted: read notifications dropped
    assert text.count('"k": "n"') < 60  # not one copy per append either
    pending = {n.id for n in hub.get_pending_notifications()}
    assert set(first[8:]) <= pending and pid in pending and set(more) <= pending
    assert not (set(first[:8]) & pending)
    assert hub.get_notification(pid).acknowledged
    assert hub.accept(pid).startswith("created")
    assert len(hub.get_events(types=["INSIGHT_GENERATED"])) == 50  # history untouched


NOTIFIER = """
import sys
from pathlib import Path
from llmos_tui.observability.hub import ObservabilityHub
hub = ObservabilityHub(Path(sys.argv[1]))
for i in range(int(sys.argv[3])):
    hub.record_insight(sys.argv[2], "users/alice", f"{sys.argv[2]}-{i}", title="t")
"""


@pytest.mark.slow
def test_notifications_from_several_processes_reach_the_inbox_once_each(ws) -> None:
    procs = [_run_py(NOTIFIER, str(ws.root), f"p{k}", "60") for k in range(3)]
    for proc in procs:
        _out, errout = proc.communicate(timeout=120)
        assert proc.returncode == 0, errout
    hub = ObservabilityHub(ws)
    pending = hub.get_pending_notifications()
    names = [n.event.data["name"] for n in pending]
    assert len(names) == 180 and len(set(names)) == 180
    assert hub.inbox.corrupt_lines == 0
