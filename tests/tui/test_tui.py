"""The TUI, driven through Textual's Pilot against temp workspaces and the scripted model server."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Markdown, Static

from llmos_tui.devtools.scripted_server import ScriptedServer, text_turn, tool_turn
from llmos_tui.kernel import LLMOS
from llmos_tui.observability.hub import ObservabilityHub
from llmos_tui.runs import CancelToken
from llmos_tui.tui.app import LLMOSApp, make_app
from llmos_tui.tui.keymap import ACTIONS
from llmos_tui.tui.screens.confirm import ConfirmCallScreen
from llmos_tui.tui.screens.dialogs import PromoteScreen, ReasonScreen, TypedConfirmScreen
from llmos_tui.tui.screens.help import HelpScreen
from llmos_tui.tui.screens.viewers import ToolSourceScreen
from llmos_tui.tui.widgets.chat import GoalInput, GoalView, ToolCallView
from llmos_tui.tui.widgets.gauge import GaugePanel
from tests.support.tui import (
    SIZE,
    drained,
    finished_answer,
    plain,
    propose,
    ready,
    send_goal,
    wait_until,
    workers_done,
)
from tests.support.tui_workspace import ALERT_ID, PROPOSAL_ID, TOOL_TRACE, build_workspace

pytestmark = pytest.mark.slow


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    work = tmp_path / "work"
    work.mkdir()
    return tmp_path / "ws", work


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One built workspace per module; each test gets a copy (building it crystallizes a tool)."""
    import os

    old = os.environ.get("LLMOS_PRESET")
    os.environ["LLMOS_PRESET"] = "testing"
    try:
        return build_workspace(tmp_path_factory.mktemp("tui-template"))
    finally:
        if old is None:
            os.environ.pop("LLMOS_PRESET", None)
        else:
            os.environ["LLMOS_PRESET"] = old


@pytest.fixture
def built(template: Path, tmp_path: Path) -> tuple[Path, Path]:
    ws = tmp_path / "ws"
    shutil.copytree(template, ws)
    work = tmp_path / "work"
    work.mkdir()
    return ws, work


# ---- chat without an LLM -----------------------------------------------------------------------


async def test_without_llm_the_hint_is_shown_and_the_app_keeps_running(
    dirs: tuple[Path, Path],
) -> None:
    ws, work = dirs
    app = make_app(ws, cwd=work, background=False)
    async with app.run_test(size=SIZE) as pilot:
        goal = "Create a [bold]calc[/bold] in calc.py"
        await send_goal(pilot, goal)
        answer = await finished_answer(pilot, timeout=20)
        assert plain(app.query_one(GoalView)) == f"› {goal}"  # brackets are text, not markup
        errors = [plain(w) for w in answer.query(".run-error").results(Static)]
        assert len(errors) == 1
        assert "ANTHROPIC_API_KEY" in errors[0] and "ANTHROPIC_BASE_URL" in errors[0]
        assert answer.result is not None and answer.result.exit_code == 5
        closing = plain(answer.query_one(".result-line", Static))
        assert "failed" in closing and "$0.0000" in closing
        assert app.is_running and not app.running and app.active is None
        assert app.query_one(GoalInput).text == ""
        await send_goal(pilot, "Say hi")
        await finished_answer(pilot, timeout=20)
        assert len(app.chat.answers) == 2
    assert app.return_code in (0, None)
    assert (ws / "config.yaml").is_file()
    assert json.loads((ws / "state" / "tui_history.json").read_text()) == [goal, "Say hi"]


async def test_input_is_multiline_and_recalls_history(dirs: tuple[Path, Path]) -> None:
    ws, work = dirs
    (ws / "state").mkdir(parents=True)
    (ws / "state" / "tui_history.json").write_text(json.dumps(["older goal", "last goal"]))
    app = make_app(ws, cwd=work, background=False)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        field = app.query_one(GoalInput)
        field.focus()
        await pilot.press("l", "i", "n", "e", "ctrl+j", "t", "w", "o")
        assert field.text == "line\ntwo"  # ctrl+j: a new line, not a send
        assert app.chat.answers == []
        await pilot.press("up")  # on the last line: moves up a line
        assert field.text == "line\ntwo" and field.cursor_location[0] == 0
        await pilot.press("up")  # first line: recall
        assert field.text == "last goal"
        await pilot.press("up")
        assert field.text == "older goal"
        await pilot.press("down", "down")
        assert field.text == "line\ntwo"  # back to the draft
        field.load_text("   ")
        await pilot.press("enter")  # blank: ignored
        await drained(pilot, field, app.chat, app.screen, app)  # the enter went all the way up
        assert app.chat.answers == [] and app.active is None
        assert field.text == "   "  # a goal that is sent is cleared from the input


async def test_bad_config_exits_with_its_code_and_message(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "config.yaml").write_text("budget_usd: [not, a, number\n")
    app = make_app(ws, cwd=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.boot_error is not None, 10, "the boot to fail")
        await pilot.pause(0.1)
    assert app.return_code == 2
    assert "config.yaml" in app.boot_error.message
    assert app.kernel is None


async def test_theory_of_mind_check_in_appears_in_the_chat(dirs: tuple[Path, Path]) -> None:
    ws, work = dirs
    app = make_app(ws, cwd=work, background=False)
    async with app.run_test(size=SIZE) as pilot:
        for text in (
            "No, that's wrong",
            "That is not what I asked",
            "Still broken, undo it",
            "You made a mistake again",
        ):
            await send_goal(pilot, text)
            await finished_answer(pilot, timeout=20)
        checked = [a for a in app.chat.answers if a.check_in]
        assert len(checked) == 1 and checked[0].goal == "You made a mistake again"
        shown = plain(checked[0].query_one(".check-in", Static))
        assert "what did I get wrong" in shown
        await wait_until(
            pilot,
            lambda: app._state is not None and app._state.user_model.get("corrections") == 4,
            10,
            "the user model in the gauge",
        )


# ---- confirmation modal ------------------------------------------------------------------------


def _ask_in_thread(
    app: LLMOSApp, outcome: dict, token: CancelToken | None = None
) -> threading.Thread:
    def ask() -> None:
        outcome["allowed"] = app.confirm_call(
            "Bash", {"command": "rm -rf build/[x]"}, "deletes files", token=token
        )

    thread = threading.Thread(target=ask, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize(
    ("keys", "expected"),
    [(("y",), True), (("n",), False), (("escape",), False), (("enter",), False)],
)
async def test_confirmation_blocks_the_worker_until_answered_and_defaults_to_deny(
    dirs: tuple[Path, Path], keys: tuple[str, ...], expected: bool
) -> None:
    ws, work = dirs
    app = make_app(ws, cwd=work, background=False)
    async with app.run_test(size=SIZE) as pilot:
        outcome: dict = {}
        thread = _ask_in_thread(app, outcome)
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmCallScreen), 5, "the modal")
        shown = " ".join(plain(w) for w in app.screen.query(Static).results(Static))
        assert "rm -rf build/[x]" in shown and "deletes files" in shown
        assert thread.is_alive() and "allowed" not in outcome  # the worker waits for the user
        await pilot.press(*keys)  # "enter" presses the focused button: Deny
        await wait_until(pilot, lambda: "allowed" in outcome, 5, "the answer")
        assert outcome["allowed"] is expected
        assert not isinstance(app.screen, ConfirmCallScreen)


async def test_cancelling_the_goal_withdraws_the_confirmation(dirs: tuple[Path, Path]) -> None:
    ws, work = dirs
    app = make_app(ws, cwd=work, background=False)
    async with app.run_test(size=SIZE) as pilot:
        token, outcome = CancelToken(), {}
        _ask_in_thread(app, outcome, token)
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmCallScreen), 5, "the modal")
        token.cancel()
        await wait_until(pilot, lambda: "allowed" in outcome, 5, "the withdrawal")
        assert outcome["allowed"] is False
        await wait_until(
            pilot, lambda: not isinstance(app.screen, ConfirmCallScreen), 5, "the modal to close"
        )


# ---- against the scripted model server ---------------------------------------------------------


@pytest.mark.llm
async def test_goal_streams_text_shows_the_call_the_badge_the_details_and_moves_the_gauge(
    llm_env: ScriptedServer, dirs: tuple[Path, Path]
) -> None:  # noqa: F811
    ws, work = dirs
    target = work / "calc.py"
    llm_env.add_turns(
        tool_turn(
            "Write",
            {"file_path": str(target), "content": "print(2 + 3)\n"},
            text="I will write [bold]calc.py[/bold] now, a small calculator that prints the sum of two numbers.",
        ),
        text_turn(
            "Done: `calc.py` prints 5.", delay=1.0
        ),  # a window where the run is visibly not over
        tool_turn(
            "Write",
            {"file_path": "/etc/llmos-tui-test.conf", "content": "x=1\n"},
            text="Updating /etc.",
        ),
        text_turn("The policy blocked it."),
    )
    app = make_app(ws, cwd=work, background=False)
    async with app.run_test(size=SIZE) as pilot:
        await send_goal(pilot, "Create a calculator in calc.py")
        await wait_until(pilot, lambda: bool(app.chat.answers), 10, "the answer to start")
        answer = app.chat.answers[-1]
        await wait_until(pilot, lambda: "calc.py" in answer.text, 60, "streamed text")
        assert not answer.done  # streamed, not printed at the end
        answer = await finished_answer(pilot)
        assert target.read_text() == "print(2 + 3)\n"
        calls = list(answer.query(ToolCallView).results(ToolCallView))
        assert [(c.call.name, c.call.decision) for c in calls] == [("Write", "allow")]
        line = plain(calls[0])
        assert "calc.py" in line and "allowed" in line and "✓" in line
        children = list(answer.children)
        first_text = next(i for i, w in enumerate(children) if isinstance(w, Markdown))
        last_text = max(i for i, w in enumerate(children) if isinstance(w, Markdown))
        assert first_text < children.index(calls[0]) < last_text
        markdowns = list(answer.query(Markdown).results(Markdown))
        assert "[bold]calc.py[/bold]" in markdowns[0].source  # model text is not markup
        result = answer.result
        assert result is not None and result.success and result.mode == "LEARNER"
        closing = plain(answer.query_one(".result-line", Static))
        assert (
            closing.startswith(" LEARNER ")
            and f"${result.cost_usd:.4f}" in closing
            and "2 LLM calls" in closing
        )

        # The decision on demand: ctrl+g shows confidence and why (no gate: nothing was close).
        await pilot.press("ctrl+g")
        details = plain(answer.query_one(".decision-details", Static))
        assert (
            "decision LEARNER" in details
            and "confidence 0.00" in details
            and "novel goal" in details
        )
        assert "model claude-sonnet-4-5" in details
        await pilot.press("ctrl+g")
        assert not answer.details_shown

        # The gauge follows the run: last mode and budget.
        await wait_until(
            pilot, lambda: app._state is not None and app._state.last_mode == "LEARNER", 10, "gauge"
        )
        before = app._state
        assert before.balance_usd == pytest.approx(before.budget_usd - result.cost_usd, abs=1e-6)

        # A blocked call: the tool line says so, and safety drops on the gauge.
        await send_goal(pilot, "Update the system configuration")
        blocked = await finished_answer(pilot)
        views = list(blocked.query(ToolCallView).results(ToolCallView))
        assert [(v.call.name, v.call.decision) for v in views] == [("Write", "deny")]
        assert "blocked" in plain(views[0])
        await wait_until(
            pilot,
            lambda: app._state.valence["safety"] < before.valence["safety"] - 0.1,
            10,
            "safety to drop",
        )
        gauge = plain(app.query_one("#gauge-body", Static))
        assert "▼" in gauge and f"{app._state.valence['safety']:+.2f}" in gauge


@pytest.mark.llm
async def test_escape_cancels_a_running_goal_promptly(
    llm_env: ScriptedServer, dirs: tuple[Path, Path]
) -> None:  # noqa: F811
    ws, work = dirs
    # the answer would come after 120 s: finishing within the 30 s wait below proves the cancel
    llm_env.add_turns(text_turn("far too late", delay=120))
    app = make_app(ws, cwd=work, background=False)
    async with app.run_test(size=SIZE) as pilot:
        await send_goal(pilot, "Say hi slowly")
        await wait_until(pilot, lambda: bool(llm_env.main_requests), 60, "the model request")
        assert app.running
        field = app.query_one(GoalInput)
        field.load_text("Another goal")
        await pilot.press("enter")  # refused while one runs; kept in the input
        assert len(app.chat.answers) == 1 and field.text == "Another goal"
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.chat.answers[-1].done, 30, "the cancel")
        answer = app.chat.answers[-1]
        assert answer.cancelled and "cancelled" in plain(answer.query_one(".result-line", Static))
        assert "far too late" not in answer.text
        assert not app.running and app.active is None


# ---- inbox --------------------------------------------------------------------------------------


async def test_inbox_review_by_keys_accept_reject_acknowledge_filter(
    built: tuple[Path, Path],
) -> None:
    ws, work = built
    app = make_app(ws, cwd=work)  # background on: proposals written meanwhile arrive by polling
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        hub = ObservabilityHub(ws)
        first = propose(hub, "alpha", "alpha finding")
        second = propose(hub, "beta", "beta finding")
        # Polling brings them in: toasts (a view of the inbox) and the unread count.
        await wait_until(pilot, lambda: app._unread == 4, 10, "the new proposals")
        toasts = [
            f"{n.title} {n.message}" for n in app._notifications
        ]  # one toast may carry both (#17)
        assert any("New insight: alpha" in t for t in toasts) and any(
            "New insight: beta" in t for t in toasts
        )
        assert "4" in plain(app.query_one("#tab-inbox", Static))

        await pilot.press("f5")
        inbox = app.inbox
        assert app.focused is inbox.option_list
        ids = [i.id for i in inbox.shown]
        assert ids[:2] == [second, first] and set(ids[2:]) == {PROPOSAL_ID, ALERT_ID}

        # The proposal shows what it would change before it is accepted.
        inbox.option_list.highlighted = 0
        await pilot.press("j")
        assert inbox.current().id == first
        detail = plain(app.query_one("#inbox-detail-head", Static))
        assert "What it would change" in detail
        preview = app.query_one("#inbox-preview", Static)
        assert preview.display and "alpha finding" in str(preview.content.code)
        assert not (ws / "volumes/users/local/insights/alpha.md").exists()
        await pilot.press("a")
        await wait_until(
            pilot, lambda: (ws / "volumes/users/local/insights/alpha.md").exists(), 10, "accept"
        )
        assert hub.get_notification(first).decision == "accepted"

        await pilot.press("k")
        await wait_until(
            pilot, lambda: inbox.current() is not None and inbox.current().id == second, 5, "move"
        )
        await pilot.press("r")
        await wait_until(
            pilot, lambda: isinstance(app.screen, ReasonScreen), 5, "the reason dialog"
        )
        await pilot.press(*"not useful", "enter")
        await wait_until(
            pilot, lambda: hub.get_notification(second).decision == "rejected", 10, "reject"
        )
        assert hub.get_notification(second).reason == "not useful"
        assert not (ws / "volumes/users/local/insights/beta.md").exists()

        # Filter, then acknowledge the alert with space; A acknowledges the rest.
        await wait_until(
            pilot, lambda: second not in [i.id for i in inbox.shown], 5, "the inbox to reload"
        )
        await pilot.press("slash", *"health")
        await wait_until(pilot, lambda: [i.id for i in inbox.shown] == [ALERT_ID], 5, "the filter")
        await pilot.press("escape")
        assert app.focused is inbox.option_list
        await pilot.press("space")
        await wait_until(
            pilot, lambda: hub.get_notification(ALERT_ID).acknowledged, 10, "acknowledge"
        )
        assert hub.get_notification(PROPOSAL_ID).decision is None
        await pilot.press("A")
        await wait_until(pilot, lambda: app._unread == 1, 10, "acknowledge all")
        # Acknowledged, the still undecided proposal stays in the inbox until decided.
        assert [n.id for n in hub.get_pending_notifications()] == [PROPOSAL_ID]


async def test_cron_cycle_runs_on_ctrl_r_and_a_failing_cron_lands_in_the_inbox(
    built: tuple[Path, Path],
) -> None:
    ws, work = built
    app = make_app(ws, cwd=work, background=False)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert "crons off" in plain(app.query_one("#status-crons", Static))
        await pilot.press("ctrl+r")
        await wait_until(
            pilot,
            lambda: (
                len(app._cron_lines) == 3
                and all(c.last_status for c in app._cron_lines)
                and app._cron_running is None
                and not app._cron_queue
            ),
            30,
            "three cycles",
        )
        assert [(c.level, c.last_status) for c in app._cron_lines] == [
            ("user", "completed"),
            ("team", "completed"),
            ("system", "completed"),
        ]
        events = ObservabilityHub(ws).get_events(["CRON_COMPLETED"])
        assert {e.source for e in events} == {"user_cron:local", "team_cron:default", "system_cron"}

        # A cycle that fails (its lock folder is a file) is reported in the inbox; the app goes on.
        shutil.rmtree(ws / "state" / "locks")
        (ws / "state" / "locks").write_text("not a folder")
        await pilot.press("ctrl+r")
        hub = ObservabilityHub(ws)
        await wait_until(
            pilot,
            lambda: (
                sum(
                    1
                    for n in hub.get_pending_notifications()
                    if n.event.type == "CRON_FAILED" and "failed" in (n.event.title or "")
                )
                == 3
            ),
            30,
            "three failure notifications",
        )
        assert app.is_running
        await wait_until(
            pilot, lambda: any(c.last_status == "failed" for c in app._cron_lines), 10, "status"
        )
        assert "✗" in plain(app.query_one("#status-crons", Static))


# ---- trace browser ---------------------------------------------------------------------------------


async def test_trace_browser_filters_as_you_type_and_deletes_after_typed_confirmation(
    built: tuple[Path, Path],
) -> None:
    ws, work = built
    app = make_app(ws, cwd=work, background=False)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("f3")
        table = app.query_one("#trace-table", DataTable)
        assert app.focused is table
        await wait_until(
            pilot, lambda: table.row_count == 7, 5, "seven rows (six traces and the team's copy)"
        )
        await pilot.press("slash", *"haiku")
        await wait_until(pilot, lambda: table.row_count == 1, 5, "the filter")
        assert app.traces.current_row().id == "t_000000000002"
        await pilot.press("escape")
        assert app.focused is table
        await wait_until(
            pilot,
            lambda: "Write a haiku" in app.query_one("#trace-body", Markdown).source,
            5,
            "the preview",
        )
        meta = plain(app.query_one("#trace-meta", Static))
        assert "67% (2 ok, 1 failed)" in meta and "saved ≈ $0.0205" in meta  # successes only (#17)

        # Delete asks to type the word; anything else keeps the trace.
        await pilot.press("d")
        await wait_until(
            pilot, lambda: isinstance(app.screen, TypedConfirmScreen), 5, "the confirmation"
        )
        await pilot.press(*"yes", "enter")
        assert isinstance(app.screen, TypedConfirmScreen)
        await pilot.press("escape")
        await pilot.press("d")
        await wait_until(
            pilot, lambda: isinstance(app.screen, TypedConfirmScreen), 5, "the confirmation"
        )
        # The second dialog is up, so the first one's answer has been handled; a deletion it
        # started would be a "trace-delete" worker: the trace is still there once they finished.
        await workers_done(app, "trace-delete")
        kernel = LLMOS.boot(ws)
        assert kernel.store.index.get("t_000000000002") is not None
        field = app.screen.query_one(Input)
        field.value = "delete"
        await pilot.press("enter")
        await wait_until(
            pilot, lambda: kernel.store.index.get("t_000000000002") is None, 10, "the delete"
        )
        assert not (ws / "volumes/users/local/traces/t_000000000002.md").exists()
        await wait_until(
            pilot, lambda: table.row_count == 0 and len(app.traces.rows) == 6, 10, "the reload"
        )

        # Sorting: s cycles the column, S reverses.
        app.query_one("#trace-filter", Input).value = ""
        await wait_until(pilot, lambda: table.row_count == 6, 5, "unfiltered")
        await pilot.press("s")  # last used -> uses (descending)
        await wait_until(pilot, lambda: app.traces.listing.query.sort == "uses", 5, "sort")
        assert [r.uses for r in app.traces.listing.rows] == sorted(
            (r.uses for r in app.traces.rows), reverse=True
        )
        await pilot.press("S")
        await wait_until(pilot, lambda: not app.traces.listing.query.descending, 5, "reverse")
        assert app.traces.listing.rows[0].uses == min(r.uses for r in app.traces.rows)


async def test_trace_browser_shows_the_crystallized_tool_and_replays_here(
    built: tuple[Path, Path],
) -> None:
    ws, work = built
    app = make_app(ws, cwd=work, background=False)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("f3", "slash", *"hello", "escape")
        table = app.query_one("#trace-table", DataTable)
        await wait_until(
            pilot, lambda: table.row_count == 2, 5, "the user's trace and the team's copy"
        )
        table.move_cursor(row=[r.id for r in app.traces.listing.rows].index(TOOL_TRACE))
        await pilot.press("t")
        await wait_until(
            pilot, lambda: isinstance(app.screen, ToolSourceScreen), 5, "the tool source"
        )
        source = app.screen.tool.source
        assert 'SOURCE_TRACE = "t_000000000005"' in source and app.screen.tool.status == "active"
        await pilot.press("escape")
        await pilot.press("r")  # replay here: FOLLOWER, no LLM needed
        answer = await finished_answer(pilot, timeout=30)
        assert app.pane == "chat"
        assert answer.result.mode in ("FOLLOWER", "CRYSTALLIZED") and answer.result.success
        assert answer.result.llm_calls == 0
        assert (work / "hello.py").read_text() == "# Write hello.py that prints hello\n"


# ---- volume explorer --------------------------------------------------------------------------------


async def test_volume_explorer_browses_the_promoted_tool_and_promotes_with_criteria(
    built: tuple[Path, Path],
) -> None:
    ws, work = built
    app = make_app(ws, cwd=work, background=False)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("f4")
        explorer = app.volumes
        await wait_until(pilot, lambda: explorer.loaded, 10, "the volumes")
        tree = explorer.volume_tree
        labels = [str(n.label) for n in tree.root.children]
        assert labels[:3] == ["system  0", "teams", "users"]
        team = tree.root.children[1].children[0]
        assert str(team.label).startswith("default (your team)")
        tree.move_cursor(team)
        await pilot.press("right")  # expand the team volume
        tools = next(n for n in team.children if str(n.label).startswith("tools"))
        tree.move_cursor(tools)
        await pilot.press("right")  # list its tools
        await wait_until(
            pilot,
            lambda: bool(tools.children) and tools.children[0].data.level == "artifact",
            10,
            "the team's tools",
        )
        await pilot.press("down")
        await wait_until(
            pilot,
            lambda: "promoted from" in plain(app.query_one("#volume-meta", Static)),
            10,
            "the preview",
        )
        meta = plain(app.query_one("#volume-meta", Static))
        assert "in volumes/teams/default" in meta and "promoted from users/local" in meta
        assert "TOOL_NAME" in str(app.query_one("#volume-code", Static).content.code)

        # Promote a user trace to the team: the criteria are shown, the default is no.
        user_traces = next(
            n
            for n in tree.root.children[2].children[0].children
            if str(n.label).startswith("traces")
        )
        tree.move_cursor(user_traces)
        await pilot.press("right")
        await wait_until(pilot, lambda: len(user_traces.children) == 6, 10, "the user's traces")
        leaf = next(n for n in user_traces.children if n.data.name == "t_000000000004")
        tree.move_cursor(leaf)
        await pilot.press("p")
        await wait_until(
            pilot, lambda: isinstance(app.screen, PromoteScreen), 10, "the promote dialog"
        )
        shown = " ".join(plain(w) for w in app.screen.query(Static).results(Static))
        assert "users/local" in shown and "teams/default" in shown and "at least 10 uses" in shown
        assert "meets" in shown  # 12 uses at 100%
        await pilot.press("enter")  # the focused button is Cancel
        team_traces = ws / "volumes/teams/default/traces"
        await pilot.press("p")
        await wait_until(
            pilot, lambda: isinstance(app.screen, PromoteScreen), 10, "the promote dialog"
        )
        # The second dialog is up, so Cancel has been handled; a promotion it started would be a
        # "promote" worker: nothing was promoted once they finished.
        await workers_done(app, "promote")
        assert len(list(team_traces.glob("*.md"))) == 1
        await pilot.press("y")
        await wait_until(
            pilot, lambda: len(list(team_traces.glob("*.md"))) == 2, 10, "the promotion"
        )


# ---- keys, help, palette ------------------------------------------------------------------------------


async def test_keymap_from_config_help_and_palette_list_every_action(
    dirs: tuple[Path, Path],
) -> None:
    ws, work = dirs
    LLMOS.boot(ws)
    config = ws / "config.yaml"
    config.write_text(
        config.read_text() + "\nkeymap:\n  pane.traces: ctrl+t\n  pane.nonsense: ctrl+x\n"
    )
    app = make_app(ws, cwd=work, background=False)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert any("pane.nonsense" in n.message for n in app._notifications)
        await pilot.press("f3")
        assert app.pane == "chat"  # remapped away
        await pilot.press("ctrl+t")
        assert app.pane == "traces"
        assert "^t Traces" in plain(app.query_one("#tab-traces", Static))
        for key, pane in (("f4", "volumes"), ("f5", "inbox"), ("f6", "state"), ("f2", "chat")):
            await pilot.press(key)
            assert app.pane == pane
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        text = app.screen.text
        for action in ACTIONS:
            assert f"[{action.id}]" in text
        assert (
            "^t" in text
            and "ctrl+j" in text
            and "Saved ≈ cost to record × (successful uses − 1)" in text
        )
        await pilot.press("escape")
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for action in ACTIONS:
            if action.palette:
                assert f"{action.group}: {action.description}" in titles
        # A palette command runs the action of its pane.
        command = next(c for c in app.get_system_commands(app.screen) if c.title == "Panes: Inbox")
        await command.callback()
        assert app.pane == "inbox"


async def test_idle_monologue_thoughts_appear_in_the_gauge(built: tuple[Path, Path]) -> None:
    ws, work = built
    app = make_app(ws, cwd=work)  # background on: the idle worker runs a few seconds after boot
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await wait_until(pilot, lambda: bool(app._state.thoughts), 15, "the first thoughts")
        text = plain(app.query_one(GaugePanel).query_one("#gauge-thoughts", Static))
        assert "failing script broken.sh" in text and "failed recently" in text


# ---- import hygiene ------------------------------------------------------------------------------


def test_opening_the_tui_imports_no_llm_library(tmp_path: Path) -> None:
    """Building and mounting the app (kernel booted) imports neither anthropic nor claude_agent_sdk."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import asyncio, json, sys\n"
        "from llmos_tui.tui.app import make_app\n"
        "async def main():\n"
        "    app = make_app(sys.argv[1], cwd=sys.argv[2])\n"
        "    async with app.run_test(size=(120, 40)) as pilot:\n"
        "        while not app.panes_ready or app.traces.rows is None or app._state is None:\n"
        "            await pilot.pause(0.05)\n"
        "        await pilot.press('f3', 'f4', 'f5', 'f6')\n"
        "        await app.workers.wait_for_complete()\n"
        "        assert app.kernel is not None\n"
        "asyncio.run(main())\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & {'anthropic', 'claude_agent_sdk', 'textual'})))\n"
    )
    proc = subprocess.run(
        [sys.executable, str(probe), str(tmp_path / "ws"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == ["textual"]
