"""Issue #17 in the TUI, driven through Textual's Pilot: a declined confirmation reads as declined
(never "allowed"), F7 resets the internal state, a refused replay asks before any paid run, panes
follow the data without ctrl+e, start-up notifications come as one toast."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable, Static

from llmos_tui.devtools.scripted_server import ScriptedServer, text_turn
from llmos_tui.kernel import LLMOS
from llmos_tui.learning.traces import ToolCall, make_trace
from llmos_tui.tui.app import make_app
from llmos_tui.tui.screens.confirm import ConfirmCallScreen
from llmos_tui.tui.screens.dialogs import ReplayRefusedScreen
from llmos_tui.tui.widgets.chat import ToolCallView
from tests.support.tui import SIZE, finished_answer, plain, ready, wait_until

pytestmark = pytest.mark.slow

CAUTIOUS = ("CAUTIOUS", "RECOVERY")


def workspace(tmp_path: Path, *traces) -> tuple[Path, Path, LLMOS]:
    ws, work = tmp_path / "ws", tmp_path / "work"
    work.mkdir()
    (work / "build").mkdir()
    kernel = LLMOS.boot(ws)
    for trace in traces:
        kernel.store.save(trace, volume=kernel.config.user_volume())
    return ws, work, kernel


def make_cautious(kernel: LLMOS) -> None:
    """Two real policy blocks, recorded the way the kernel records them."""
    for goal in ("Delete everything under /etc", "Wipe the home directory"):
        kernel.sentience.before_run(goal, {"mode": "LEARNER"})
        kernel.sentience.after_run(
            goal,
            mode="LEARNER",
            success=False,
            policy_denials=1,
            denial_reasons=["rm outside the working directory"],
        )
    assert kernel.sentience.latent_mode() in CAUTIOUS


def remove_build():
    return make_trace(
        "Remove the build folder",
        [
            ToolCall(
                "Bash",
                {"command": "rm -rf build"},
                {"is_error": False, "summary": "", "exit_code": 0},
            )
        ],
    )


async def select_trace(pilot, app, trace_id: str) -> None:
    await pilot.press("f3")
    table = app.query_one("#trace-table", DataTable)
    await wait_until(
        pilot, lambda: table.row_count >= 1 and app.traces.listing is not None, 10, "the traces"
    )
    table.move_cursor(row=[r.id for r in app.traces.listing.rows].index(trace_id))


async def test_deny_reads_as_declined_is_not_a_violation_and_f7_resets_the_state(
    tmp_path: Path,
) -> None:
    trace = remove_build()
    ws, work, kernel = workspace(tmp_path, trace)
    make_cautious(kernel)
    app = make_app(ws, cwd=work, background=False)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert "F7" in plain(app.query_one("#gauge-body", Static))  # the way out is on screen
        await select_trace(pilot, app, trace.id)
        await pilot.press("r")  # replay here (FOLLOWER)
        await wait_until(
            pilot, lambda: isinstance(app.screen, ConfirmCallScreen), 20, "the confirmation"
        )
        answer = app.chat.answers[-1]
        assert not list(
            answer.query(ToolCallView).results(ToolCallView)
        )  # nothing shown as allowed meanwhile
        await pilot.press("n")  # Deny
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, ReplayRefusedScreen),
            20,
            "the refused-replay dialog",
        )
        await pilot.press("n")  # and no paid run instead
        answer = await finished_answer(pilot)
        views = list(answer.query(ToolCallView).results(ToolCallView))
        assert len(views) == 1, [plain(v) for v in views]
        line = plain(views[0])
        assert "rm -rf build" in line and "asked → declined by you" in line
        assert "allowed" not in line and "blocked" not in line
        assert answer.result.mode == "FOLLOWER" and answer.result.llm_calls == 0
        assert (work / "build").is_dir()
        counters = kernel.sentience.details()["counters"]
        assert counters.get("safety_violation") == 2 and counters.get("user_negative") == 1, (
            counters
        )
        await wait_until(
            pilot, lambda: len(app.chat.answers) == 1 and app.active is None, 5, "idle"
        )
        # F7: back to the set-points at once.
        await pilot.press("f7")
        await wait_until(
            pilot,
            lambda: app._state is not None and app._state.latent_mode == "BALANCED",
            10,
            "the reset",
        )
        assert kernel.sentience.valence().safety == pytest.approx(0.5)
        assert "F7" not in plain(app.query_one("#gauge-body", Static))
        assert any("reset to its set-points" in n.message for n in app._notifications)


@pytest.mark.llm
async def test_a_refused_replay_runs_the_model_only_when_the_user_says_yes(
    llm_env: ScriptedServer, tmp_path: Path
) -> None:  # noqa: F811
    trace = make_trace(
        "Tidy up my home directory",
        [
            ToolCall(
                "Bash", {"command": "rm -rf ~/"}, {"is_error": False, "summary": "", "exit_code": 0}
            )
        ],
    )
    ws, work, _kernel = workspace(tmp_path, trace)
    llm_env.add_turns(
        text_turn("I will not delete your home directory; here is what I can tidy instead.")
    )
    app = make_app(ws, cwd=work, background=False)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await select_trace(pilot, app, trace.id)
        await pilot.press("r")
        await wait_until(
            pilot, lambda: isinstance(app.screen, ReplayRefusedScreen), 20, "the dialog"
        )
        shown = " ".join(plain(w) for w in app.screen.query(Static).results(Static))
        assert "refused" in shown and "home directory" in shown and "paid" in shown
        first = app.chat.answers[-1]
        assert first.done and first.result.mode == "FOLLOWER" and not first.result.success
        assert llm_env.request_count == 0  # nothing paid so far
        await pilot.press("y")
        await wait_until(pilot, lambda: len(app.chat.answers) == 2, 10, "the LEARNER run")
        second = await finished_answer(pilot)
        assert second.result.mode == "LEARNER" and second.result.success
        assert len(llm_env.main_requests) == 1


async def test_a_dead_model_server_shows_in_the_status_line_and_the_run_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws, work, _kernel = workspace(tmp_path)
    (ws / "config.yaml").write_text(
        (ws / "config.yaml").read_text() + "\nexecution:\n  llm_server_timeout_s: 6\n"
    )
    for name, value in {
        "ANTHROPIC_BASE_URL": "http://127.0.0.1:9",
        "ANTHROPIC_API_KEY": "x",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }.items():
        monkeypatch.setenv(name, value)
    app = make_app(ws, cwd=work, background=False)
    async with app.run_test(size=SIZE) as pilot:
        from tests.support.tui import send_goal

        await send_goal(pilot, "Say hi")
        status = app.query_one("#chat-status", Static)
        await wait_until(
            pilot, lambda: "127.0.0.1:9" in plain(status), 30, "the retry in the status line"
        )
        line = plain(status)
        assert "connection refused" in line and "retry " in line and "gives up after 6 s" in line
        answer = await finished_answer(pilot, timeout=60)
        trouble = plain(answer.query_one(".server-trouble", Static))
        assert "http://127.0.0.1:9" in trouble and "connection refused" in trouble
        error = plain(answer.query_one(".run-error", Static))
        assert "did not answer for 6 s" in error and answer.result.exit_code == 1
        assert "127.0.0.1:9" not in plain(status)  # idle again


# ---- panes follow the data; one toast; a status bar that fits ----------------------------------------


@pytest.fixture
def built(tmp_path: Path) -> tuple[Path, Path]:
    import os

    from tests.support.tui_workspace import build_workspace

    old = os.environ.get("LLMOS_PRESET")
    os.environ["LLMOS_PRESET"] = "testing"
    try:
        ws = build_workspace(tmp_path / "built")
    finally:
        if old is None:
            os.environ.pop("LLMOS_PRESET", None)
        else:
            os.environ["LLMOS_PRESET"] = old
    work = tmp_path / "work"
    work.mkdir()
    return ws, work


async def test_the_trace_preview_and_the_volume_pane_follow_a_run_without_ctrl_e(
    built: tuple[Path, Path],
) -> None:
    trace_id = "t_000000000001"  # "Create a Python calculator in calc.py": 7 uses, no other copy
    ws, work = built
    app = make_app(ws, cwd=work, background=False)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        # The volume explorer, on the trace.
        await pilot.press("f4")
        explorer = app.volumes
        await wait_until(pilot, lambda: explorer.loaded, 10, "the volumes")
        user = explorer.volume_tree.root.children[2].children[0]
        traces = next(n for n in user.children if str(n.label).startswith("traces"))
        explorer.volume_tree.move_cursor(traces)
        await pilot.press("right")
        await wait_until(pilot, lambda: len(traces.children) == 6, 10, "the user's traces")
        leaf = next(n for n in traces.children if n.data and n.data.name == trace_id)
        explorer.volume_tree.move_cursor(leaf)
        body = app.query_one("#volume-body")
        await wait_until(pilot, lambda: "usage_count: 7" in body.source, 10, "the volume preview")
        # The trace browser, on the same trace.
        await select_trace(pilot, app, trace_id)
        meta = app.query_one("#trace-meta", Static)
        await wait_until(pilot, lambda: "uses         7" in plain(meta), 10, "the trace preview")
        await pilot.press("r")  # a replay: one more use
        answer = await finished_answer(pilot)
        assert answer.result.success and answer.result.trace_id == trace_id, answer.result
        await wait_until(
            pilot, lambda: "uses         8" in plain(meta), 10, "the trace preview to follow"
        )
        await wait_until(
            pilot, lambda: "usage_count: 8" in body.source, 10, "the volume preview to follow"
        )


async def test_many_notifications_come_as_one_toast_and_never_over_a_dialog(
    built: tuple[Path, Path],
) -> None:
    from llmos_tui.observability.hub import ObservabilityHub
    from llmos_tui.tui.screens.dialogs import ReasonScreen
    from tests.support.tui import caught_up, propose, record_polls, record_toasts

    ws, work = built
    app = make_app(ws, cwd=work)  # background on: the poller brings the notifications in
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        polls, toasts = record_polls(app), record_toasts(app)
        await wait_until(pilot, lambda: app._unread == 2, 10, "the first look at the inbox")
        await caught_up(pilot, polls)
        before = len(toasts)
        hub = ObservabilityHub(ws)
        for name in ("alpha", "beta", "gamma", "delta", "epsilon"):
            propose(hub, name, f"{name} finding")
        await wait_until(pilot, lambda: app._unread == 7, 10, "the five proposals")
        await caught_up(pilot, polls)  # every notification of the five has been handled
        new = toasts[before:]
        assert len(new) == 1, new
        title, message = new[0]
        assert "5 new" in title and "alpha" in message and "and 2 more" in message
        # A dialog is open: news wait in the inbox, no toast covers the dialog.
        app.push_screen(
            ReasonScreen("Reject this proposal?", plain(app.query_one("#tab-inbox", Static)))
        )
        await wait_until(pilot, lambda: isinstance(app.screen, ReasonScreen), 5, "the dialog")
        count = len(toasts)
        propose(hub, "zeta", "zeta finding")
        await wait_until(pilot, lambda: app._unread == 8, 10, "the sixth proposal")
        await caught_up(pilot, polls)
        assert toasts[count:] == []


async def test_at_80x24_the_unread_count_is_never_cut(built: tuple[Path, Path]) -> None:
    ws, work = built
    app = make_app(ws, cwd=work, background=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        app._last_mode = "LEARNER"  # the longest gauge line ...
        app._load_state()
        await pilot.press("ctrl+r")  # ... and the longest crons line
        await wait_until(
            pilot,
            lambda: (
                app._cron_lines
                and all(c.last_status for c in app._cron_lines)
                and app._cron_running is None
                and not app._cron_queue
            ),
            30,
            "the crons",
        )
        await wait_until(
            pilot,
            lambda: "last LEARNER" in plain(app.query_one("#status-gauge", Static)),
            10,
            "gauge",
        )
        await pilot.pause(0.2)
        inbox = app.query_one("#status-inbox", Static)
        text = plain(inbox)
        assert "unread" in text
        assert inbox.region.right <= 80 and inbox.region.width >= len(text), (inbox.region, text)
        crons = app.query_one("#status-crons", Static)
        assert crons.region.width >= 5  # not squeezed to one letter


# ---- what the trace browser credits, what the monologue suggests ---------------------------------------


def test_saved_credits_successes_only_and_a_promoted_copy_once(built: tuple[Path, Path]) -> None:
    from llmos_tui.tui import data
    from tests.support.tui_workspace import GOALS, TOOL_TRACE

    ws, _work = built
    kernel = LLMOS.boot(ws)
    rows = data.load_trace_rows(kernel)
    by_goal: dict[str, list] = {}
    for row in rows:
        by_goal.setdefault(row.goal, []).append(row)
    failed = next(g for g in GOALS if g[4] == 0)
    assert [r.saved_usd for r in by_goal[failed[1]]] == [0.0]  # a failed recording saves nothing
    haiku = next(g for g in GOALS if g[0] == "t_000000000002")  # 3 uses, 2 successes
    assert by_goal[haiku[1]][0].saved_usd == pytest.approx(haiku[5] * (2 - 1))
    tool_goal = next(g for g in GOALS if g[0] == TOOL_TRACE)
    copies = by_goal[tool_goal[1]]
    assert len(copies) == 2 and {r.volume for r in copies} == {"users/local", "teams/default"}
    assert sorted(r.saved_usd for r in copies) == [
        0.0,
        pytest.approx(tool_goal[5] * (5 - 1)),
    ]  # once


def test_the_monologue_does_not_suggest_crystallizing_a_crystallized_goal() -> None:
    from llmos_tui.config import LLMOSConfig
    from llmos_tui.learning.traces import goal_signature
    from llmos_tui.sentience.cognitive import detect_improvement_opportunities
    from llmos_tui.sentience.monologue import generate_thoughts
    from llmos_tui.sentience_params import SentienceParams
    from llmos_tui.sentience.user_model import UserModel
    from llmos_tui.sentience.valence import Valence

    params = SentienceParams.from_config(LLMOSConfig())
    goal = "Write hello.py that prints hello"
    stats = {goal_signature(goal): {"goal": goal, "runs": 6, "successes": 6, "last": 0.0}}
    plain_trace = make_trace(goal, [ToolCall("Bash", {"command": "ls"}, {"is_error": False})])
    tooled = make_trace(goal, [ToolCall("Bash", {"command": "ls"}, {"is_error": False})])
    tooled.crystallized_tool = "write_hello_v1"
    valence = Valence(0.5, 0.0, 0.7, 0.3)

    def thoughts(traces) -> str:
        return " ".join(
            generate_thoughts(params, valence, "BALANCED", UserModel(), [], stats, traces)
        )

    assert "could become a crystallized tool" in thoughts([plain_trace])  # a real suggestion stays
    assert "crystallized tool" not in thoughts([tooled])
    found = detect_improvement_opportunities(params, valence, entries=[tooled], goal_stats=stats)
    assert not any("crystallized tool" in s.description for s in found), [
        s.description for s in found
    ]
