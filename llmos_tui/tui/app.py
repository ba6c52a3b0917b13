"""The llmos terminal app: a chat pane on the kernel.

The app decides nothing about how a goal runs: it boots the kernel off the UI thread, hands each
goal to ``kernel.execute`` in a thread worker, and shows what the run streams back. The layout is
a header, a body row (the chat pane now; the gauge, trace browser, volume explorer and inbox join
it as they are built) and a footer with the bindings.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal
from textual.content import Content
from textual.reactive import reactive
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Header, Input
from textual.worker import Worker, WorkerState

from ..errors import LLMOSError
from ..exitcodes import ExitCode
from ..kernel import LLMOS, RunOptions
from ..runs import CancelToken, RunResult
from ..workspace import resolve_workspace_dir
from .format import display_path
from .screens.confirm import ConfirmCallScreen
from .widgets.chat import (AnswerView, CallConfirmed, ChatPane, describe_llm, idle_status,
                           running_status)


@dataclass
class ActiveGoal:
    """The goal being run: where its events go and how to stop it."""

    goal: str
    answer: AnswerView
    token: CancelToken
    started: float
    worker: Worker[RunResult] | None = None


class LLMOSApp(App[None]):
    """``llmos`` with no command."""

    CSS_PATH = "app.tcss"
    TITLE = "llmos"
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True),
        Binding("escape", "cancel_goal", "Cancel goal", id="chat.cancel"),
        Binding("ctrl+l", "clear_chat", "Clear chat", id="chat.clear"),
    ]

    #: A goal is running (drives the footer bindings and the chat pane's state).
    running: reactive[bool] = reactive(False, bindings=True)

    def __init__(self, workspace_dir: str | os.PathLike[str] | None = None, *, kernel: LLMOS | None = None,
                 cwd: str | os.PathLike[str] | None = None) -> None:
        super().__init__()
        self.kernel: LLMOS | None = kernel
        self.workspace_dir = kernel.workspace.root if kernel is not None else resolve_workspace_dir(workspace_dir)
        self.cwd = Path(cwd).expanduser().resolve() if cwd is not None else Path.cwd()
        self.active: ActiveGoal | None = None
        self.boot_error: LLMOSError | None = None
        self._kernel_lock = threading.Lock()
        self._tick: Timer | None = None
        self.sub_title = display_path(self.workspace_dir)

    # ---- layout ----------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        with Horizontal(id="body"):
            yield ChatPane(intro=self._intro(), cwd=self.cwd, id="chat")
        yield Footer()

    def _intro(self) -> Content:
        return Content("\n").join([
            Content.assemble(("llmos", "bold $text-primary"),
                             " runs each goal the cheapest way it knows, and learns from every run."),
            Content.assemble("Type a goal below and press enter, e.g. ",
                             ("Create a Python calculator in calc.py", "italic $text-secondary")),
            describe_llm(os.environ),
        ])

    @property
    def chat(self) -> ChatPane:
        return self.query_one(ChatPane)

    def on_mount(self) -> None:
        self.query_one("#goal-input", Input).focus()
        self._show_idle()
        if self.kernel is None:
            self._boot()

    def _show_idle(self) -> None:
        self.chat.status = idle_status(display_path(self.cwd), ready=self.kernel is not None)

    # ---- kernel ----------------------------------------------------------------------
    def _ensure_kernel(self) -> LLMOS:
        """Boot the kernel once (called from worker threads only: boot does file I/O)."""
        with self._kernel_lock:
            if self.kernel is None:
                self.kernel = LLMOS.boot(self.workspace_dir)
            return self.kernel

    @work(thread=True, exclusive=True, exit_on_error=False, group="boot", name="boot")
    def _boot(self) -> LLMOS:
        return self._ensure_kernel()

    def _boot_failed(self, error: BaseException | None) -> None:
        if isinstance(error, LLMOSError):
            message, code = error.message, int(error.exit_code)
            self.boot_error = error
        else:
            message, code = f"could not open the workspace {self.workspace_dir}: {error}", int(ExitCode.USAGE)
        self.exit(return_code=code, message=Text(f"llmos: error: {message}"))

    # ---- goals -----------------------------------------------------------------------
    @on(ChatPane.GoalSubmitted)
    async def _goal_submitted(self, message: ChatPane.GoalSubmitted) -> None:
        await self.start_goal(message.goal)

    async def start_goal(self, goal: str) -> bool:
        """Show the goal in the chat and run it in the goal worker. False if one is running."""
        if self.active is not None:
            self.notify("A goal is running: wait for it, or press escape to cancel it.", severity="warning")
            return False
        answer = await self.chat.begin_answer(goal)
        self.active = ActiveGoal(goal, answer, CancelToken(), time.monotonic())
        self.running = True
        self.chat.running = True
        self._update_running_status()
        self._tick = self.set_interval(1.0, self._update_running_status)
        self.active.worker = self._run_goal(self.active)
        return True

    @work(thread=True, exclusive=True, exit_on_error=False, group="goal", name="goal")
    def _run_goal(self, run: ActiveGoal) -> RunResult:
        kernel = self._ensure_kernel()
        return kernel.execute(run.goal, options=RunOptions(mode="auto", cwd=self.cwd), on_event=run.answer.sink,
                              cancel=run.token, confirm=self._confirm_for(run))

    def _update_running_status(self) -> None:
        run = self.active
        if run is None:
            return
        self.chat.status = running_status(run.answer.mode, time.monotonic() - run.started,
                                          cancelling=run.token.cancelled)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group == "boot":
            if event.state == WorkerState.SUCCESS and self.active is None:
                self._show_idle()
            elif event.state == WorkerState.ERROR:
                self._boot_failed(worker.error)
            return
        if worker.group != "goal" or self.active is None or worker is not self.active.worker:
            return
        if event.state not in (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED):
            return
        run, self.active = self.active, None
        if self._tick is not None:
            self._tick.stop()
            self._tick = None
        self.running = False
        self.chat.running = False
        self._show_idle()
        if event.state == WorkerState.SUCCESS and isinstance(worker.result, RunResult):
            run.answer.post_message(AnswerView.Finished(worker.result, cancelled=run.token.cancelled))
        elif event.state == WorkerState.ERROR:
            error = worker.error
            text = error.message if isinstance(error, LLMOSError) else f"{type(error).__name__}: {error}"
            run.answer.post_message(AnswerView.Crashed(text))
        else:
            run.answer.post_message(AnswerView.Crashed("the run was stopped"))

    # ---- confirmations (called from the goal worker thread) --------------------------
    def confirm_call(self, name: str, tool_input: dict[str, Any], reason: str, *,
                     token: CancelToken | None = None) -> bool:
        """Ask the user about one tool call and block until they answer (from a worker thread only).

        Deny is the default: escape, ``n``, cancelling the goal (``token``), the app closing or
        any failure all mean False.
        """
        if token is not None and token.cancelled:
            return False

        async def ask() -> bool:
            loop = asyncio.get_running_loop()
            answer: asyncio.Future[bool] = loop.create_future()
            screen = ConfirmCallScreen(name, tool_input, reason, cwd=self.cwd)

            def settle(value: bool | None) -> None:
                if not answer.done():
                    answer.set_result(bool(value))

            def withdraw() -> None:
                settle(False)
                if screen.is_current:
                    screen.dismiss(False)

            await self.push_screen(screen, callback=settle)
            if token is not None:
                token.on_cancel(lambda: loop.call_soon_threadsafe(withdraw))
            return await answer

        try:
            return bool(self.call_from_thread(ask))
        except Exception:  # noqa: BLE001 - the app is closing or the screen failed: deny
            return False

    def _confirm_for(self, run: ActiveGoal):
        def confirm(name: str, tool_input: dict[str, Any], reason: str) -> bool:
            allowed = self.confirm_call(name, tool_input, reason, token=run.token)
            run.answer.sink(CallConfirmed(name, allowed))
            return allowed
        return confirm

    # ---- actions ---------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_goal":
            return self.active is not None
        if action == "clear_chat":
            return None if self.active is not None else True
        return True

    def action_cancel_goal(self) -> None:
        """Stop the running goal (the SDK session or replay stops cleanly)."""
        run = self.active
        if run is None or run.token.cancelled:
            return
        run.token.cancel()
        self._update_running_status()

    async def action_clear_chat(self) -> None:
        if self.active is None:
            await self.chat.clear()

    async def action_quit(self) -> None:
        if self.active is not None:
            self.active.token.cancel()
        self.exit()

    def on_unmount(self) -> None:
        if self.active is not None:
            self.active.token.cancel()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if self.active is not None:
            yield SystemCommand("Cancel goal", "Stop the running goal", self.action_cancel_goal)
        else:
            yield SystemCommand("Clear chat", "Remove every goal and answer from the chat", self.action_clear_chat)


def make_app(workspace_dir: str | os.PathLike[str] | None = None, *, kernel: LLMOS | None = None,
             cwd: str | os.PathLike[str] | None = None) -> LLMOSApp:
    """Build the app (tests use this too). Nothing is read or written until it runs."""
    return LLMOSApp(workspace_dir, kernel=kernel, cwd=cwd)


def run_tui(workspace: Path | None = None) -> int:
    """Run the app in the terminal; returns the process exit code."""
    app = make_app(workspace)
    app.run()
    return int(app.return_code or 0)
