"""Issue #17 in the TUI, driven through Textual's Pilot: a declined confirmation reads as declined
(never "allowed"), F7 resets the internal state, a refused replay asks before any paid run, panes
follow the data without ctrl+e, start-up notifications come as one toast."""

from __future__ import annotations

import shutil
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
from tests.llm_fixtures import llm_env, scripted_server  # noqa: F401 - pytest fixtures
from tests.test_tui import SIZE, finished_answer, plain, ready, wait_until

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
        kernel.sentience.after_run(goal, mode="LEARNER", success=False, policy_denials=1,
                                   denial_reasons=["rm outside the working directory"])
    assert kernel.sentience.latent_mode() in CAUTIOUS


def remove_build():
    return make_trace("Remove the build folder", [
        ToolCall("Bash", {"command": "rm -rf build"}, {"is_error": False, "summary": "", "exit_code": 0})])


async def select_trace(pilot, app, trace_id: str) -> None:
    await pilot.press("f3")
    table = app.query_one("#trace-table", DataTable)
    await wait_until(pilot, lambda: table.row_count >= 1 and app.traces.listing is not None, 10, "the traces")
    table.move_cursor(row=[r.id for r in app.traces.listing.rows].index(trace_id))


async def test_deny_reads_as_declined_is_not_a_violation_and_f7_resets_the_state(tmp_path: Path) -> None:
    trace = remove_build()
    ws, work, kernel = workspace(tmp_path, trace)
    make_cautious(kernel)
    app = make_app(ws, cwd=work, background=False)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert "F7" in plain(app.query_one("#gauge-body", Static))       # the way out is on screen
        await select_trace(pilot, app, trace.id)
        await pilot.press("r")                                              # replay here (FOLLOWER)
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmCallScreen), 20, "the confirmation")
        answer = app.chat.answers[-1]
        assert not list(answer.query(ToolCallView).results(ToolCallView))   # nothing shown as allowed meanwhile
        await pilot.press("n")                                              # Deny
        await wait_until(pilot, lambda: isinstance(app.screen, ReplayRefusedScreen), 20, "the refused-replay dialog")
        await pilot.press("n")                                              # and no paid run instead
        answer = await finished_answer(pilot)
        views = list(answer.query(ToolCallView).results(ToolCallView))
        assert len(views) == 1, [plain(v) for v in views]
        line = plain(views[0])
        assert "rm -rf build" in line and "asked → declined by you" in line
        assert "allowed" not in line and "blocked" not in line
        assert answer.result.mode == "FOLLOWER" and answer.result.llm_calls == 0
        assert (work / "build").is_dir()
        counters = kernel.sentience.details()["counters"]
        assert counters.get("safety_violation") == 2 and counters.get("user_negative") == 1, counters
        await wait_until(pilot, lambda: len(app.chat.answers) == 1 and app.active is None, 5, "idle")
        # F7: back to the set-points at once.
        await pilot.press("f7")
        await wait_until(pilot, lambda: app._state is not None and app._state.latent_mode == "BALANCED", 10,
                         "the reset")
        assert kernel.sentience.valence().safety == pytest.approx(0.5)
        assert "F7" not in plain(app.query_one("#gauge-body", Static))
        assert any("reset to its set-points" in n.message for n in app._notifications)


@pytest.mark.llm
async def test_a_refused_replay_runs_the_model_only_when_the_user_says_yes(
        llm_env: ScriptedServer, tmp_path: Path) -> None:  # noqa: F811
    trace = make_trace("Tidy up my home directory", [
        ToolCall("Bash", {"command": "rm -rf ~/"}, {"is_error": False, "summary": "", "exit_code": 0})])
    ws, work, _kernel = workspace(tmp_path, trace)
    llm_env.add_turns(text_turn("I will not delete your home directory; here is what I can tidy instead."))
    app = make_app(ws, cwd=work, background=False)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await select_trace(pilot, app, trace.id)
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, ReplayRefusedScreen), 20, "the dialog")
        shown = " ".join(plain(w) for w in app.screen.query(Static).results(Static))
        assert "refused" in shown and "home directory" in shown and "paid" in shown
        first = app.chat.answers[-1]
        assert first.done and first.result.mode == "FOLLOWER" and not first.result.success
        assert llm_env.request_count == 0                                   # nothing paid so far
        await pilot.press("y")
        await wait_until(pilot, lambda: len(app.chat.answers) == 2, 10, "the LEARNER run")
        second = await finished_answer(pilot)
        assert second.result.mode == "LEARNER" and second.result.success
        assert len(llm_env.main_requests) == 1


async def test_a_dead_model_server_shows_in_the_status_line_and_the_run_stops(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws, work, _kernel = workspace(tmp_path)
    (ws / "config.yaml").write_text((ws / "config.yaml").read_text() + "\nexecution:\n  llm_server_timeout_s: 6\n")
    for name, value in {"ANTHROPIC_BASE_URL": "http://127.0.0.1:9", "ANTHROPIC_API_KEY": "x",
                        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}.items():
        monkeypatch.setenv(name, value)
    app = make_app(ws, cwd=work, background=False)
    async with app.run_test(size=SIZE) as pilot:
        from tests.test_tui import send_goal

        await send_goal(pilot, "Say hi")
        status = app.query_one("#chat-status", Static)
        await wait_until(pilot, lambda: "127.0.0.1:9" in plain(status), 30, "the retry in the status line")
        line = plain(status)
        assert "connection refused" in line and "retry " in line and "gives up after 6 s" in line
        answer = await finished_answer(pilot, timeout=60)
        trouble = plain(answer.query_one(".server-trouble", Static))
        assert "http://127.0.0.1:9" in trouble and "connection refused" in trouble
        error = plain(answer.query_one(".run-error", Static))
        assert "did not answer for 6 s" in error and answer.result.exit_code == 1
        assert "127.0.0.1:9" not in plain(status)                         # idle again
