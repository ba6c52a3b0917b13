"""The chat pane: goals go in at the bottom, answers stream in above.

An answer is a column of segments in arrival order: streamed text (a Markdown widget per run of
text, appended through a MarkdownStream), tool calls (one line each, updated when the call
finishes), notices, and a closing line with the mode badge, cost, tokens and duration.

Untrusted text never reaches markup: Markdown renders model text as markdown (not Rich markup),
everything else is built as ``Content`` from plain strings (see ``tui/format.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Input, Markdown, Static
from textual.widgets.markdown import MarkdownStream

from ...execution.llm_sdk import llm_configured
from ...runs import ModeChosen, Notice, RunEvent, RunResult, TextDelta, ToolCallFinished, ToolCallStarted
from ..format import result_line, short, tool_call_line, tool_result_line
from ..run_stream import RunEventBuffer


@dataclass(frozen=True)
class CallConfirmed:
    """UI-side marker put in an answer's stream when the user answered a confirmation."""

    name: str
    allowed: bool


class GoalView(Static):
    """The goal as the user typed it."""

    def __init__(self, goal: str) -> None:
        super().__init__(Content.assemble(("› ", "bold $primary"), goal), classes="goal", markup=False)
        self.goal = goal


class ToolCallView(Static):
    """One tool call: name, target, decision; then its result."""

    def __init__(self, event: ToolCallStarted, *, asked: bool, cwd: Path | None) -> None:
        self.call = event
        self.asked = asked
        self.cwd = cwd
        self.result: ToolCallFinished | None = None
        super().__init__(self._render_call(), classes=f"tool-call -{event.decision}", markup=False)

    def _render_call(self) -> Content:
        e = self.call
        head = tool_call_line(e.name, e.input, e.decision, e.reason, asked=self.asked, cwd=self.cwd)
        if self.result is None:
            return head
        return Content("\n").join([head, tool_result_line(self.result.is_error, self.result.summary)])

    def finish(self, event: ToolCallFinished) -> None:
        self.result = event
        self.set_class(event.is_error, "-failed")
        self.update(self._render_call())


class AnswerView(Vertical):
    """Everything one goal produced, in the order it happened.

    It is the run's event sink: ``sink`` is handed to ``kernel.execute`` and is safe to call from
    the worker thread; the widget drains it on its own message queue, so the closing ``Finished``
    message (posted after the worker ended) is always handled after the last events.
    """

    class EventsReady(Message):
        """Events are waiting in the buffer."""

    @dataclass
    class Finished(Message):
        result: RunResult
        cancelled: bool = False

    @dataclass
    class Crashed(Message):
        """The worker died with an unexpected exception (a bug, not a failed goal)."""

        error: str

    def __init__(self, goal: str, *, cwd: Path | None = None) -> None:
        super().__init__(classes="answer")
        self.goal = goal
        self.cwd = cwd
        self.sink = RunEventBuffer(lambda: self.post_message(self.EventsReady()))
        self.mode: str | None = None
        self.done = False
        self.cancelled = False
        self.text = ""
        self.result: RunResult | None = None
        self.tool_calls: dict[str, ToolCallView] = {}
        self._stream: MarkdownStream | None = None
        self._asked: dict[str, int] = {}

    async def _close_text(self) -> None:
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None

    async def _append_text(self, text: str) -> None:
        if not text:
            return
        self.text += text
        if self._stream is None:
            if not text.strip():
                return
            markdown = Markdown(classes="answer-text")
            await self.mount(markdown)
            self._stream = Markdown.get_stream(markdown)
            text = text.lstrip("\n")
        await self._stream.write(text)

    async def apply(self, events: list[RunEvent | CallConfirmed]) -> None:
        for event in events:
            if isinstance(event, TextDelta):
                await self._append_text(event.text)
            elif isinstance(event, ToolCallStarted):
                await self._close_text()
                asked = event.decision == "ask" or self._asked.get(event.name, 0) > 0
                if asked and self._asked.get(event.name):
                    self._asked[event.name] -= 1
                view = ToolCallView(event, asked=asked, cwd=self.cwd)
                if event.tool_use_id:
                    self.tool_calls[event.tool_use_id] = view
                await self.mount(view)
            elif isinstance(event, ToolCallFinished):
                view = self.tool_calls.get(event.tool_use_id)
                if view is None:  # a result without a start (should not happen): show it anyway
                    await self._close_text()
                    view = ToolCallView(ToolCallStarted(event.tool_use_id, event.name, {}, "allow"),
                                        asked=False, cwd=self.cwd)
                    await self.mount(view)
                view.finish(event)
            elif isinstance(event, ModeChosen):
                self.mode = event.mode
                why = f" · confidence {event.confidence:.2f}" if event.confidence else ""
                line = Content.assemble(("→ ", "$foreground-muted"), (event.mode, "bold $text-accent"),
                                        (f": {short(event.reason, 100)}{why}", "$foreground-muted"))
                await self._close_text()
                await self.mount(Static(line, classes="mode-line", markup=False))
            elif isinstance(event, Notice):
                if event.text.strip().lower() == "cancelled":
                    continue  # the closing line says it
                style = {"error": "$text-error", "warning": "$text-warning"}.get(event.level, "$foreground-muted")
                await self._close_text()
                await self.mount(Static(Content.assemble((f"{event.level}: ", f"bold {style}"), (event.text, style)),
                                        classes=f"notice -{event.level}", markup=False))
            elif isinstance(event, CallConfirmed):
                self._asked[event.name] = self._asked.get(event.name, 0) + 1

    @on(EventsReady)
    async def _on_events_ready(self) -> None:
        await self.apply(self.sink.drain())

    @on(Finished)
    async def _on_finished(self, message: Finished) -> None:
        result = message.result
        await self.apply(self.sink.drain())
        if not self.text.strip() and result.output and result.output.strip():
            await self._append_text(result.output)  # modes that produce output without streaming it
        await self._close_text()
        self.cancelled = message.cancelled
        self.result = result
        if result.error and not message.cancelled:
            await self.mount(Static(Content.assemble(("✗ ", "bold $text-error"), (result.error, "$text-error")),
                                    classes="run-error", markup=False))
        await self.mount(Static(result_line(result, cancelled=message.cancelled), classes="result-line",
                                markup=False))
        self.done = True
        self.set_class(True, "-done")
        self.post_message(ChatPane.AnswerDone(self, result))

    @on(Crashed)
    async def _on_crashed(self, message: Crashed) -> None:
        await self.apply(self.sink.drain())
        await self._close_text()
        await self.mount(Static(Content.assemble(("✗ internal error: ", "bold $text-error"), (message.error, "$text-error")),
                                classes="run-error", markup=False))
        self.done = True
        self.set_class(True, "-done")


class ChatLog(VerticalScroll):
    """The scrolling history of goals and answers; stays at the bottom while content streams."""

    ALLOW_MAXIMIZE = True


class ChatPane(Vertical):
    """History above, status line and goal input below. Posts :class:`GoalSubmitted`."""

    @dataclass
    class GoalSubmitted(Message):
        goal: str

    @dataclass
    class AnswerDone(Message):
        answer: AnswerView
        result: RunResult

    #: Set by the app: a goal is running (submits are refused, the status line says so).
    running: reactive[bool] = reactive(False)
    #: What the status line shows (set by the app).
    status: reactive[Content] = reactive(Content(""), layout=False)

    def __init__(self, *, intro: Content, cwd: Path | None = None, id: str | None = None) -> None:
        super().__init__(id=id)
        self.intro = intro
        self.cwd = cwd

    def compose(self) -> ComposeResult:
        with ChatLog(id="chat-log"):
            yield Static(self.intro, id="intro", markup=False)
        yield Static(id="chat-status", markup=False)
        yield Input(placeholder="Say what you want done, then press enter", id="goal-input",
                    max_length=20_000)

    def on_mount(self) -> None:
        self.query_one(ChatLog).anchor()

    def watch_status(self, status: Content) -> None:
        self.query_one("#chat-status", Static).update(status)

    def watch_running(self, running: bool) -> None:
        self.set_class(running, "-running")

    @on(Input.Submitted, "#goal-input")
    def _submit(self, event: Input.Submitted) -> None:
        event.stop()
        goal = event.value.strip()
        if not goal:
            return
        if self.running:
            self.notify("A goal is running: wait for it, or press escape to cancel it.",
                        title="Busy", severity="warning")
            return
        event.input.clear()
        self.post_message(self.GoalSubmitted(goal))

    async def begin_answer(self, goal: str) -> AnswerView:
        """Show the goal and an empty answer that the run will fill."""
        log = self.query_one(ChatLog)
        answer = AnswerView(goal, cwd=self.cwd)
        await log.mount_all([GoalView(goal), answer])
        log.anchor()
        log.scroll_end(animate=False)
        return answer

    async def clear(self) -> None:
        """Remove every goal and answer (the intro stays)."""
        await self.query_one(ChatLog).query("GoalView, AnswerView").remove()

    @property
    def answers(self) -> list[AnswerView]:
        return list(self.query(AnswerView))


def running_status(mode: str | None, elapsed_s: float, *, cancelling: bool) -> Content:
    if cancelling:
        return Content.assemble(("● ", "$text-warning"), ("cancelling…", "$text-warning"))
    label = f"running {mode}" if mode else "running"
    return Content.assemble(("● ", "$text-accent"), (label, "bold"), (f" · {int(elapsed_s)} s", ""),
                            (" · escape cancels", "$foreground-muted"))


def idle_status(cwd_label: str, *, ready: bool) -> Content:
    if not ready:
        return Content.assemble(("○ ", "$foreground-muted"), ("opening the workspace…", "$foreground-muted"))
    return Content.assemble(("● ", "$text-success"), ("ready", ""), ("  ·  goals run in ", "$foreground-muted"),
                            (cwd_label, "$text-secondary"))


def describe_llm(env: Any) -> Content:
    """Which LLM goals will use, from the environment (no import of any LLM library)."""
    base = env.get("ANTHROPIC_BASE_URL")
    if not llm_configured(env):
        return Content.assemble(("LLM: ", "bold"), ("none configured", "$text-warning"),
                                (" — set ANTHROPIC_API_KEY, or ANTHROPIC_BASE_URL for a local server "
                                 "that speaks the Messages API, then restart llmos.", "$foreground-muted"))
    if base:
        return Content.assemble(("LLM: ", "bold"), "Messages API at ", (short(base, 60), "$text-secondary"))
    return Content.assemble(("LLM: ", "bold"), "Anthropic API")
