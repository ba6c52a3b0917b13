"""The TUI's data layer and pure helpers, and the workspace the TUI tests browse.

``build_workspace`` makes a real workspace through the engine's own APIs (trace store,
crystallizer, promoter, observability hub), with fixed ids and timestamps where they are shown,
so snapshots do not depend on the clock.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from llmos_tui.kernel import LLMOS
from llmos_tui.tui import data
from llmos_tui.tui.format import decision_details, format_when, money, valence_bar
from llmos_tui.tui.history import GoalHistory, load_history, save_history
from llmos_tui.tui.keymap import ACTIONS, BY_ID, bindings_for, display_key, keys_for, unknown_ids
from tests.support.tui_workspace import ALERT_ID, GOALS, PROPOSAL_ID, TOOL_TRACE, build_workspace

# ---- the workspace builder itself --------------------------------------------------------------------


def test_build_workspace_makes_what_the_tui_tests_browse(tmp_path: Path) -> None:
    ws = build_workspace(tmp_path)
    kernel = LLMOS.boot(ws)
    rows = data.load_trace_rows(kernel)
    assert {r.id for r in rows} >= {g[0] for g in GOALS}
    tool_rows = [r for r in rows if r.tool]
    assert [r.id for r in tool_rows if r.volume == "users/local"] == [TOOL_TRACE]
    team_tools = list((ws / "volumes" / "teams" / "default" / "tools").glob("*.py"))
    assert len(team_tools) == 1
    from llmos_tui.observability.hub import ObservabilityHub

    items = data.inbox_items(ObservabilityHub(ws))
    assert [i.id for i in items] == [
        PROPOSAL_ID,
        ALERT_ID,
    ]  # newest first; the promotion was acknowledged
    assert (
        items[0].is_proposal
        and items[0].state == "pending"
        and "+# Weekly review" in items[0].preview
    )


# ---- traces ---------------------------------------------------------------------------------------------


def test_cost_saved_is_cost_times_successes_after_the_first() -> None:
    assert data.cost_saved(0.04, 7) == pytest.approx(0.24)
    assert data.cost_saved(0.04, 1) == 0.0
    assert data.cost_saved(0.04, 0) == 0.0
    assert data.cost_saved(0.04, 7, "failure") == 0.0  # a failed recording saved nothing (#17)


def _rows() -> list[data.TraceRow]:
    class E:  # an IndexEntry look-alike
        def __init__(self, ident, goal, mode, uses, ok, cost, file, day):
            self.id, self.goal, self.mode, self.usage_count = ident, goal, mode, uses
            self.success_rate = ok / uses if uses else 0.0
            self.success_count, self.outcome = ok, "success" if ok else "failure"
            self.cost_usd, self.last_used, self.created_at = cost, f"2026-11-{day}T00:00:00Z", None
            self.crystallized_tool = "hello_tool_v1" if ident == TOOL_TRACE else None
            self.volume, self.tools_used = "users/local", ["Write"]

    return [data.TraceRow.from_entry(E(*g, day)) for day, g in enumerate(GOALS, start=10)]


def test_filter_matches_every_word_anywhere_in_goal_mode_id_or_tool() -> None:
    rows = _rows()
    assert [r.id for r in data.filter_rows(rows, "create  TXT")] == ["t_000000000004"]
    assert [r.id for r in data.filter_rows(rows, "mixed")] == ["t_000000000003"]
    assert [r.id for r in data.filter_rows(rows, "hello_tool")] == [TOOL_TRACE]
    assert len(data.filter_rows(rows, "")) == len(rows)
    assert data.filter_rows(rows, "nothing-like-this") == []


def test_sort_orders_and_query_limits() -> None:
    rows = _rows()
    by_uses = data.sort_rows(rows, "uses", True)
    assert [r.uses for r in by_uses] == sorted((r.uses for r in rows), reverse=True)
    by_saved = data.sort_rows(rows, "saved", True)
    assert by_saved[0].id == "t_000000000004"  # 0.033 * 11
    newest = data.sort_rows(rows, "last_used", True)
    assert newest[0].id == "t_000000000006"
    listing = data.query_rows(rows, data.TraceQuery("create", "uses", False), limit=2)
    assert listing.matched == 3 and listing.total == 6 and len(listing.rows) == 2
    assert listing.rows[0].uses <= listing.rows[1].uses


# ---- inbox, crons ----------------------------------------------------------------------------------------


def test_inbox_filter_and_seconds_until() -> None:
    item = data.InboxItem(
        id="e_1",
        ts="2026-11-20T09:00:00Z",
        type="PROPOSAL_CREATED",
        title="New suggestion",
        source="user_cron:local",
        summary="drawn from goals",
        state="pending",
        is_proposal=True,
        pending=True,
        preview="",
        kind="artifact.write",
        detail={},
        haystack="new suggestion proposal_created user_cron:local drawn from goals artifact.write",
    )
    assert data.filter_inbox([item], "suggestion cron") == [item]
    assert data.filter_inbox([item], "alert") == []
    assert data.seconds_until(None) is None and data.seconds_until("garbage") is None
    ahead = time.time() + 120
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ahead))
    assert 100 < data.seconds_until(iso) <= 121


def test_promotion_target_goes_one_level_up() -> None:
    assert data.promotion_target("users/alice", "eng") == "teams/eng"
    assert data.promotion_target("teams/eng", "eng") == "system"
    assert data.promotion_target("system", "eng") is None


# ---- history ------------------------------------------------------------------------------------------------


def test_history_recall_keeps_the_draft_and_persists(tmp_path: Path) -> None:
    h = GoalHistory(["one", "two"])
    assert h.previous("draft") == "two"
    assert h.previous("two") == "one"
    assert h.previous("one") is None  # nothing older
    assert h.following() == "two"
    assert h.following() == "draft"  # back to what was being typed
    assert h.following() is None and not h.recalling
    h.add("three")
    h.add("three")  # no duplicate in a row
    assert h.entries == ["one", "two", "three"]
    save_history(tmp_path, h.entries)
    assert load_history(tmp_path) == ["one", "two", "three"]
    (tmp_path / "tui_history.json").write_text("{not json")
    assert load_history(tmp_path) == []


# ---- keymap, formatting -----------------------------------------------------------------------------------


def test_every_binding_has_a_unique_id_a_description_and_help() -> None:
    ids = [a.id for a in ACTIONS]
    assert len(ids) == len(set(ids))
    for action in ACTIONS:
        assert action.description and action.help and action.keys
    app_ids = {b.id for b in bindings_for("app")}
    assert {
        "pane.chat",
        "pane.traces",
        "pane.volumes",
        "pane.inbox",
        "pane.state",
        "app.help",
        "crons.run_now",
        "chat.cancel",
        "chat.details",
    } <= app_ids
    assert unknown_ids({"pane.traces": "ctrl+t", "pane.tracez": "x"}) == ["pane.tracez"]
    assert keys_for(BY_ID["pane.traces"], {"pane.traces": "ctrl+t, f9"}) == ["ctrl+t", "f9"]
    assert (
        display_key("ctrl+r") == "^r"
        and display_key("question_mark") == "?"
        and display_key("f3") == "F3"
    )


def test_valence_bar_fills_from_the_centre() -> None:
    assert valence_bar(0.0, 5).plain == "··┃··"
    assert valence_bar(1.0, 5).plain == "··┃██"
    assert valence_bar(-0.5, 5).plain == "·█┃··"
    assert valence_bar(0.0, 5, setpoint=1.0).plain == "··┃·╎"


def test_decision_details_show_confidence_gates_and_candidates() -> None:
    text = decision_details(
        {
            "mode": "MIXED",
            "confidence": 0.81,
            "reason": "guided",
            "trace_id": "t_1",
            "matched_goal": "Create a calculator",
            "gates": [
                {"name": "verb", "passed": True, "penalty": 0, "reason": "same action"},
                {"name": "slots", "passed": False, "penalty": 0.1, "reason": "file differs"},
            ],
            "candidates": [{"trace_id": "t_1", "goal": "Create a calculator", "score": 0.91}],
        }
    ).plain
    assert "MIXED" in text and "confidence 0.81" in text
    assert "✓ verb" in text and "✗ slots" in text and "-0.10" in text and "file differs" in text
    assert "0.91 Create a calculator" in text


def test_money_and_dates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        assert format_when("2026-11-21T12:05:00Z") == "2026-11-21 12:05"
        assert format_when("2026-11-21T12:05:00Z", with_time=False) == "2026-11-21"
        assert format_when(None) == "—"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert money(0) == "$0" and money(0.0123) == "$0.0123" and money(12.5) == "$12.50"
