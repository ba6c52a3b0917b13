"""Issue #17 in the TUI (Pilot): the working directory in the header and changed from the TUI
(validated), a file tool's diff in the chat, a rejected call shown with its error, and the undo key."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input

from llmos_tui.devtools.scripted_server import ScriptedServer, text_turn, tool_turn
from llmos_tui.tui.app import cwd_problem, make_app
from llmos_tui.tui.screens.dialogs import CwdScreen
from llmos_tui.tui.widgets.chat import ToolCallView
from tests.support.tui import SIZE, finished_answer, plain, ready, send_goal, wait_until

pytestmark = pytest.mark.slow


async def test_the_working_directory_is_shown_and_changed_from_the_tui(tmp_path: Path) -> None:
    ws, first, second = tmp_path / "ws", tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    app = make_app(ws, cwd=first, background=False)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert f"cwd {first}" in app.sub_title or "first" in app.sub_title
        for bad, why in (
            (str(tmp_path / "missing"), "does not exist"),
            ("/etc", "system folder"),
            (str(ws), "workspace"),
        ):
            await pilot.press("ctrl+o")
            await wait_until(
                pilot, lambda: isinstance(app.screen, CwdScreen), 5, "the folder dialog"
            )
            field = app.screen.query_one("#cwd", Input)
            field.value = bad
            await pilot.press("enter")
            await wait_until(
                pilot, lambda: not isinstance(app.screen, CwdScreen), 5, "the dialog to close"
            )
            assert app.cwd == first.resolve(), bad
            assert any(why in n.message for n in app._notifications), why
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: isinstance(app.screen, CwdScreen), 5, "the folder dialog")
        app.screen.query_one("#cwd", Input).value = str(second)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.cwd == second.resolve(), 5, "the new working directory")
        assert "second" in app.sub_title and app.chat.cwd == second.resolve()


def test_cwd_problem_rules(tmp_path: Path) -> None:
    assert cwd_problem(str(tmp_path))[0] is None
    assert "system folder" in cwd_problem("/")[0]
    assert "system folder" in cwd_problem("/usr/lib")[0]
    assert "does not exist" in cwd_problem(str(tmp_path / "nope"))[0]


@pytest.mark.llm
async def test_chat_shows_diffs_and_rejections_and_the_undo_key_restores(
    llm_env: ScriptedServer, tmp_path: Path
) -> None:  # noqa: F811
    ws, work = tmp_path / "ws", tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text("alpha\nbeta\n")
    llm_env.add_turns(
        tool_turn("Write", {"file_path": 7, "content": "x"}),
        tool_turn(
            "Edit",
            {"file_path": str(work / "notes.txt"), "old_string": "beta", "new_string": "gamma"},
        ),
        text_turn("Edited."),
    )
    app = make_app(ws, cwd=work, background=False)
    async with app.run_test(size=SIZE) as pilot:
        await send_goal(pilot, "Fix the notes")
        answer = await finished_answer(pilot)
        calls = list(answer.query(ToolCallView).results(ToolCallView))
        assert [(c.call.name, c.call.decision) for c in calls] == [
            ("Write", "reject"),
            ("Edit", "allow"),
        ]
        rejected, edited = plain(calls[0]), plain(calls[1])
        assert "rejected" in rejected and "7 is not of type 'string'" in rejected
        assert "-beta" in edited and "+gamma" in edited
        assert (work / "notes.txt").read_text() == "alpha\ngamma\n"
        await pilot.press("ctrl+z")
        await wait_until(
            pilot, lambda: (work / "notes.txt").read_text() == "alpha\nbeta\n", 10, "the undo"
        )
        await wait_until(
            pilot,
            lambda: any("restored notes.txt" in n.message for n in app._notifications),
            5,
            "the undo notice",
        )
