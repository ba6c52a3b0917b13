"""The chat TUI, driven through Textual's Pilot against temp workspaces and the scripted model server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from textual.widgets import Input, Markdown, Static

from llmos_tui.devtools.scripted_server import ScriptedServer, text_turn, tool_turn
from llmos_tui.runs import CancelToken
from llmos_tui.tui.app import LLMOSApp, make_app
from llmos_tui.tui.screens.confirm import ConfirmCallScreen
from llmos_tui.tui.widgets.chat import AnswerView, GoalView, ToolCallView
from tests.llm_fixtures import llm_env, scripted_server  # noqa: F401 - pytest fixtures

SIZE = (120, 40)


def plain(widget: Static) -> str:
    content = widget.content
    return content.plain if hasattr(content, "plain") else str(content)


async def wait_until(pilot, predicate, timeout: float = 60.0, what: str = "condition") -> float:
    """Let the app run until ``predicate()`` is true; return the seconds it took."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await pilot.pause(0.02)
    return time.monotonic() - start


async def send_goal(pilot, goal: str) -> None:
    app: LLMOSApp = pilot.app
    await wait_until(pilot, lambda: app.kernel is not None, 10, "the kernel to boot")
    field = app.query_one("#goal-input", Input)
    field.focus()
    field.value = goal
    await pilot.press("enter")


async def finished_answer(pilot, index: int = -1, timeout: float = 60.0) -> AnswerView:
    app: LLMOSApp = pilot.app
    await wait_until(pilot, lambda: bool(app.chat.answers) and app.chat.answers[index].done, timeout,
                     "the answer to finish")
    return app.chat.answers[index]


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    work = tmp_path / "work"
    work.mkdir()
    return tmp_path / "ws", work


# ---- no LLM configured -----------------------------------------------------------------------

async def test_without_llm_the_hint_is_shown_and_the_app_keeps_running(dirs: tuple[Path, Path]) -> None:
    ws, work = dirs
    app = make_app(ws, cwd=work)
    async with app.run_test(size=SIZE) as pilot:
        goal = "Create a [bold]calc[/bold] in calc.py"
        await send_goal(pilot, goal)
        answer = await finished_answer(pilot, timeout=20)
        # The goal is shown literally: the brackets are text, not markup.
        assert plain(app.query_one(GoalView)) == f"› {goal}"
        errors = [plain(w) for w in answer.query(".run-error").results(Static)]
        assert len(errors) == 1
        assert "ANTHROPIC_API_KEY" in errors[0] and "ANTHROPIC_BASE_URL" in errors[0]
        assert answer.result is not None and answer.result.exit_code == 5
        closing = plain(answer.query_one(".result-line", Static))
        assert "failed" in closing and "$0.0000" in closing
        # Still running and usable: the input is free and a second goal gets its own answer.
        assert app.is_running and not app.running and app.active is None
        assert app.query_one("#goal-input", Input).value == ""
        await send_goal(pilot, "Say hi")
        await finished_answer(pilot, timeout=20)
        assert len(app.chat.answers) == 2
    assert app.return_code in (0, None)
    assert (ws / "config.yaml").is_file()  # the workspace was booted by the app itself


async def test_blank_goal_is_ignored(dirs: tuple[Path, Path]) -> None:
    ws, work = dirs
    app = make_app(ws, cwd=work)
    async with app.run_test(size=SIZE) as pilot:
        await send_goal(pilot, "   ")
        await pilot.pause(0.1)
        assert app.chat.answers == [] and app.active is None


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


# ---- confirmation modal ------------------------------------------------------------------------

def _ask_in_thread(app: LLMOSApp, outcome: dict, token: CancelToken | None = None) -> threading.Thread:
    def ask() -> None:
        outcome["allowed"] = app.confirm_call("Bash", {"command": "rm -rf build/[x]"}, "deletes files", token=token)
    thread = threading.Thread(target=ask, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize(("keys", "expected"), [(("y",), True), (("n",), False), (("escape",), False),
                                                (("enter",), False)])
async def test_confirmation_blocks_the_worker_until_answered_and_defaults_to_deny(
        dirs: tuple[Path, Path], keys: tuple[str, ...], expected: bool) -> None:
    ws, work = dirs
    app = make_app(ws, cwd=work)
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
    app = make_app(ws, cwd=work)
    async with app.run_test(size=SIZE) as pilot:
        token, outcome = CancelToken(), {}
        _ask_in_thread(app, outcome, token)
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmCallScreen), 5, "the modal")
        token.cancel()
        await wait_until(pilot, lambda: "allowed" in outcome, 5, "the withdrawal")
        assert outcome["allowed"] is False
        await wait_until(pilot, lambda: not isinstance(app.screen, ConfirmCallScreen), 5, "the modal to close")


# ---- against the scripted model server ---------------------------------------------------------

@pytest.mark.llm
async def test_goal_streams_text_shows_the_tool_call_and_the_mode_badge(
        llm_env: ScriptedServer, dirs: tuple[Path, Path]) -> None:  # noqa: F811
    ws, work = dirs
    target = work / "calc.py"
    llm_env.add_turns(
        tool_turn("Write", {"file_path": str(target), "content": "print(2 + 3)\n"},
                  text="I will write [bold]calc.py[/bold] now, a small calculator that prints the sum of two numbers."),
        text_turn("Done: `calc.py` prints 5.", delay=1.0))  # a window where the run is visibly not over
    app = make_app(ws, cwd=work)
    async with app.run_test(size=SIZE) as pilot:
        await send_goal(pilot, "Create a calculator in calc.py")
        await wait_until(pilot, lambda: bool(app.chat.answers), 10, "the answer to start")
        answer = app.chat.answers[-1]
        # Text is on screen while the run is still going (streamed, not printed at the end).
        await wait_until(pilot, lambda: "calc.py" in answer.text, 60, "streamed text")
        assert not answer.done
        answer = await finished_answer(pilot)

        assert target.read_text() == "print(2 + 3)\n"
        calls = list(answer.query(ToolCallView).results(ToolCallView))
        assert len(calls) == 1
        call = calls[0]
        assert call.call.name == "Write" and call.call.decision == "allow"
        assert call.result is not None and not call.result.is_error
        line = plain(call)
        assert "Write" in line and "calc.py" in line and "allowed" in line and "✓" in line
        # Text before the call, the call, text after it: in the order it happened.
        children = list(answer.children)
        first_text = next(i for i, w in enumerate(children) if isinstance(w, Markdown))
        last_text = max(i for i, w in enumerate(children) if isinstance(w, Markdown))
        assert first_text < children.index(call) < last_text
        markdowns = list(answer.query(Markdown).results(Markdown))
        assert "[bold]calc.py[/bold]" in markdowns[0].source  # model text is not markup
        assert "prints 5" in markdowns[-1].source

        result = answer.result
        assert result is not None and result.success and result.mode == "LEARNER"
        assert result.input_tokens == llm_env.total_input_tokens > 0
        closing = plain(answer.query_one(".result-line", Static))
        assert closing.startswith(" LEARNER ") and "done" in closing
        assert f"{result.input_tokens:,} in / {result.output_tokens:,} out tokens" in closing
        assert f"${result.cost_usd:.4f}" in closing and "2 LLM calls" in closing
        assert not answer.query(".run-error")


@pytest.mark.llm
async def test_escape_cancels_a_running_goal_promptly(llm_env: ScriptedServer, dirs: tuple[Path, Path]) -> None:  # noqa: F811
    ws, work = dirs
    llm_env.add_turns(text_turn("far too late", delay=10))
    app = make_app(ws, cwd=work)
    async with app.run_test(size=SIZE) as pilot:
        await send_goal(pilot, "Say hi slowly")
        await wait_until(pilot, lambda: bool(llm_env.main_requests), 60, "the model request")
        assert app.running
        # While it runs, another goal is refused and stays in the input.
        field = app.query_one("#goal-input", Input)
        field.value = "Another goal"
        await pilot.press("enter")
        assert len(app.chat.answers) == 1 and field.value == "Another goal"

        await pilot.press("escape")
        took = await wait_until(pilot, lambda: app.chat.answers[-1].done, 10, "the cancel")
        assert took < 5
        answer = app.chat.answers[-1]
        assert answer.cancelled
        assert "cancelled" in plain(answer.query_one(".result-line", Static))
        assert "far too late" not in answer.text
        assert not app.running and app.active is None


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
        "        await app.workers.wait_for_complete()\n"
        "        await pilot.pause()\n"
        "        assert app.kernel is not None\n"
        "asyncio.run(main())\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & {'anthropic', 'claude_agent_sdk', 'textual'})))\n")
    proc = subprocess.run([sys.executable, str(probe), str(tmp_path / "ws"), str(tmp_path)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == ["textual"]


# ---- snapshot --------------------------------------------------------------------------------

def test_initial_screen_snapshot(snap_compare) -> None:
    home = Path(os.environ["HOME"])  # a temp dir (conftest): paths show as ~/ws and ~/work
    (home / "work").mkdir(exist_ok=True)
    app = make_app(home / "ws", cwd=home / "work")

    async def ready(pilot) -> None:
        pilot.app.query_one("#goal-input", Input).cursor_blink = False
        await wait_until(pilot, lambda: pilot.app.kernel is not None, 10, "the kernel to boot")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)
