"""Issue 16, item 2 (TUI): a close trace is replayed only after the user says so, in a dialog.

Driven through Textual's Pilot against a temp workspace; no LLM is configured, so "run with the
model" ends with the no-LLM hint (exit 5). Phrasings are written for these tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Static

from llmos_tui.learning.index import TraceIndex
from llmos_tui.learning.store import TraceStore
from llmos_tui.learning.traces import ToolCall, make_trace
from llmos_tui.tui.app import make_app
from llmos_tui.tui.screens.confirm import ReplayConfirmScreen
from llmos_tui.workspace import Workspace
from tests.support.tui import SIZE, finished_answer, plain, send_goal, wait_until

pytestmark = pytest.mark.slow

GOAL = "Write the names of the spool files into names.txt"
CLOSE = "Write the names of only the spool files into list.txt"


@pytest.fixture
def stored(tmp_path: Path) -> tuple[Path, Path, str]:
    ws = tmp_path / "ws"
    store = TraceStore(Workspace(ws).ensure(user="local", team="default"), None)
    trace = make_trace(
        GOAL,
        [
            ToolCall(
                "Write",
                {"file_path": "{{cwd}}/names.txt", "content": "spool-a\nspool-b\n"},
                {"is_error": False, "summary": "created", "files_created": ["names.txt"]},
            )
        ],
        slots={"file": "names.txt"},
    )
    store.save(trace, volume="users/local")
    work = tmp_path / "work"
    work.mkdir()
    return ws, work, trace.id


@pytest.mark.parametrize(
    "key, outcome", [("r", "replay"), ("m", "model"), ("enter", "model"), ("escape", "cancel")]
)
async def test_the_dialog_shows_the_trace_and_only_a_yes_replays(
    stored: tuple[Path, Path, str], key: str, outcome: str
) -> None:
    ws, work, trace_id = stored
    app = make_app(ws, cwd=work, background=False)
    async with app.run_test(size=SIZE) as pilot:
        await send_goal(pilot, CLOSE)
        await wait_until(
            pilot, lambda: isinstance(app.screen, ReplayConfirmScreen), 15, "the replay dialog"
        )
        screen = app.screen
        shown = "\n".join(plain(w) for w in screen.query(Static).results(Static))
        assert f"trace: {GOAL}" in shown and f"goal:  {CLOSE}" in shown and trace_id in shown
        assert "only / -  unaccounted" in shown  # the difference that blocks a blind replay
        assert "names.txt → list.txt" in shown  # the planned substitution
        assert '1. Write {"file_path": "{{cwd}}/names.txt"' in shown  # the calls
        assert app.running and not (work / "list.txt").exists()  # the run waits for the answer
        await pilot.press(key)
        answer = await finished_answer(pilot, timeout=30)
        assert not isinstance(app.screen, ReplayConfirmScreen)
        result = answer.result
        assert result is not None
        store = TraceStore(Workspace(ws), TraceIndex(Workspace(ws)))
        aliases = store.get(trace_id).aliases
        if outcome == "replay":
            assert result.mode == "FOLLOWER" and result.success and result.llm_calls == 0
            assert (work / "list.txt").read_text() == "spool-a\nspool-b\n" and not (
                work / "names.txt"
            ).exists()
            assert result.decision["approved_by"] == "user"
            assert aliases == [{"phrase": CLOSE, "substitutions": {"names.txt": "list.txt"}}]
        elif outcome == "model":
            assert (
                result.mode in ("MIXED", "LEARNER") and result.exit_code == 5
            )  # no LLM configured here
            assert not (work / "list.txt").exists() and aliases == []
        else:
            assert (
                result.success is False
                and result.error == "cancelled by the user"
                and result.llm_calls == 0
            )
            assert not (work / "list.txt").exists() and aliases == []


async def test_cancelling_the_goal_withdraws_the_replay_dialog(
    stored: tuple[Path, Path, str],
) -> None:
    ws, work, _trace_id = stored
    app = make_app(ws, cwd=work, background=False)
    async with app.run_test(size=SIZE) as pilot:
        await send_goal(pilot, CLOSE)
        await wait_until(
            pilot, lambda: isinstance(app.screen, ReplayConfirmScreen), 15, "the replay dialog"
        )
        app.active.token.cancel()
        answer = await finished_answer(pilot, timeout=30)
        assert not isinstance(app.screen, ReplayConfirmScreen)
        assert answer.result is not None and answer.result.success is False
        assert not (work / "list.txt").exists()
