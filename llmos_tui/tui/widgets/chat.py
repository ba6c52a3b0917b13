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
from typing import TYPE_CHECKING, Any

from textual import events, on
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Static, TextArea

if TYPE_CHECKING:  # Markdown (and markdown-it) load with the first answer, not at start-up
    from textual.widgets.markdown import MarkdownStream

    # and the run's records with the first run
    from ...runs import RunResult, ServerTrouble, ToolCallFinished, ToolCallStarted

from ...execution.llm.configured import llm_configured
from ..format import decision_details, result_line, short, tool_call_line, tool_result_line
from ..history import GoalHistory
from ..keymap import bindings_for
from ..run_stream import AnswerEvent, RunEventBuffer


@dataclass(frozen=True)
class CallConfirmed:
    """UI-side marker put in an answer's stream when the user answered a confirmation: the call is
    shown at once, as asked and answered; the run's own start/finish events for the same call (same
    tool and input) then update that line instead of adding another."""

    name: str
    allowed: bool
    input: dict[str, Any] | None = None
    reason: str = ""


def _call_key(name: str, tool_input: Any) -> str:
    import json

    return (
        name
        + "\x00"
        + json.dumps(tool_input or {}, sort_keys=True, ensure_ascii=False, default=str)
    )


@dataclass(frozen=True)
class CheckIn:
    """UI-side marker: the theory-of-mind check-in to show before the answer."""

    text: str


class GoalView(Static):
    """The goal as the user typed it (and, for a replay, which trace it replays)."""

    def __init__(self, goal: str, *, label: str | None = None) -> None:
        head: list[str | tuple[str, str]] = [("› ", "bold $primary"), goal]
        if label:
            head += [("  ", ""), (label, "$text-secondary not bold")]
        super().__init__(Content.assemble(*head), classes="goal", markup=False)
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
        lines = [head, tool_result_line(self.result.is_error, self.result.summary)]
        for line in (self.result.diff or "").splitlines():  # a file tool's compact diff
            style = (
                "$text-success"
                if line.startswith("+") and not line.startswith("+++")
                else "$text-error"
                if line.startswith("-") and not line.startswith("---")
                else "$foreground-muted"
            )
            lines.append(Content.styled("  " + line, style))
        return Content("\n").join(lines)

    def start(self, event: ToolCallStarted) -> None:
        """The run's own start event for a call already shown as answered (it keeps "asked")."""
        self.call = event
        self.set_class(True, f"-{event.decision}")
        self.update(self._render_call())

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

    class TroubleChanged(Message):
        """The model server trouble shown for this answer changed (the app's status line follows)."""

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
        self.decision: dict[str, Any] = {}
        self.check_in: str | None = None
        self.tool_calls: dict[str, ToolCallView] = {}
        self._stream: "MarkdownStream | None" = None
        self._asked: dict[
            str, ToolCallView
        ] = {}  # answered confirmations waiting for their call's events
        self._details: Static | None = None
        #: The model server's latest trouble (a retry, a long silence) while nothing has come since.
        self.trouble: ServerTrouble | None = None
        self._trouble_line: Static | None = None

    @property
    def details_shown(self) -> bool:
        return self._details is not None and self._details.display

    async def toggle_details(self) -> bool:
        """Show or hide the decision details (confidence, gates, candidates); returns shown."""
        if self._details is None:
            self._details = Static(classes="decision-details", markup=False)
            self._details.display = False
            await self.mount(
                self._details,
                after=self.query_one(".mode-line") if self.query(".mode-line") else None,
            )
        show = not self._details.display
        if show:
            self._render_details()
        self._details.display = show
        return show

    def _render_details(self) -> None:
        if self._details is None:
            return
        if not self.decision and self.result is None:
            self._details.update(
                Content.styled(
                    "no decision yet: the run has not chosen its mode", "$foreground-muted"
                )
            )
        else:
            self._details.update(
                decision_details(
                    self.decision or dict(self.result.decision if self.result else {}), self.result
                )
            )

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
            from textual.widgets import Markdown

            markdown = Markdown(classes="answer-text")
            await self.mount(markdown)
            self._stream = Markdown.get_stream(markdown)
            text = text.lstrip("\n")
        await self._stream.write(text)

    async def _show_trouble(self, event: ServerTrouble | None) -> None:
        """One line in the answer, updated in place for each retry; the status line shows it too."""
        if event is not None:
            text = Content.assemble(
                ("⟳ ", "bold $text-warning"), (event.describe(), "$text-warning")
            )
            if self._trouble_line is None:
                await self._close_text()
                self._trouble_line = Static(
                    text, classes="notice -warning server-trouble", markup=False
                )
                await self.mount(self._trouble_line)
            else:
                self._trouble_line.update(text)
        elif self._trouble_line is not None and self.trouble is not None:
            last = self.trouble
            after = (
                f"{last.attempt} retr{'y' if last.attempt == 1 else 'ies'}"
                if last.attempt
                else f"{last.waited_s:.0f} s of silence"
            )
            self._trouble_line.update(
                Content.styled(
                    f"model server {last.url} answered after {after}", "$foreground-muted"
                )
            )
        if event is not self.trouble:
            self.trouble = event
            self.post_message(self.TroubleChanged())

    async def apply(self, events: list[AnswerEvent]) -> None:
        from ...runs import (
            ModeChosen,
            Notice,
            ServerTrouble,
            TextDelta,
            ToolCallFinished,
            ToolCallStarted,
        )

        for event in events:
            if isinstance(event, ServerTrouble):
                await self._show_trouble(event)
                continue
            if self.trouble is not None and isinstance(event, (TextDelta, ToolCallStarted)):
                await self._show_trouble(None)  # the server answers again
            if isinstance(event, TextDelta):
                await self._append_text(event.text)
            elif isinstance(event, ToolCallStarted):
                await self._close_text()
                view = self._asked.pop(_call_key(event.name, event.input), None)
                if view is not None:  # the call the user just answered: its line is already shown
                    view.start(event)
                else:
                    view = ToolCallView(event, asked=event.decision == "ask", cwd=self.cwd)
                    await self.mount(view)
                if event.tool_use_id:
                    self.tool_calls[event.tool_use_id] = view
            elif isinstance(event, ToolCallFinished):
                view = self.tool_calls.get(event.tool_use_id)
                if view is None:  # a result without a start (should not happen): show it anyway
                    await self._close_text()
                    view = ToolCallView(
                        ToolCallStarted(event.tool_use_id, event.name, {}, "allow"),
                        asked=False,
                        cwd=self.cwd,
                    )
                    await self.mount(view)
                view.finish(event)
            elif isinstance(event, ModeChosen):
                self.mode = event.mode
                self.decision = dict(
                    event.decision or {},
                    mode=event.mode,
                    confidence=event.confidence,
                    reason=event.reason,
                )
                why = f" · confidence {event.confidence:.2f}" if event.confidence else ""
                line = Content.assemble(
                    ("→ ", "$foreground-muted"),
                    (event.mode, "bold $text-accent"),
                    (f": {short(event.reason, 100)}{why}", "$foreground-muted"),
                )
                await self._close_text()
                await self.mount(Static(line, classes="mode-line", markup=False))
            elif isinstance(event, Notice):
                if event.text.strip().lower() == "cancelled":
                    continue  # the closing line says it
                style = {"error": "$text-error", "warning": "$text-warning"}.get(
                    event.level, "$foreground-muted"
                )
                await self._close_text()
                await self.mount(
                    Static(
                        Content.assemble(
                            (f"{event.level}: ", f"bold {style}"), (event.text, style)
                        ),
                        classes=f"notice -{event.level}",
                        markup=False,
                    )
                )
            elif isinstance(event, CallConfirmed):
                await self._close_text()
                why = (
                    f"confirmed by you ({event.reason})"
                    if event.allowed
                    else f"declined by the user ({event.reason})"
                )
                view = ToolCallView(
                    ToolCallStarted(
                        "",
                        event.name,
                        dict(event.input or {}),
                        "allow" if event.allowed else "deny",
                        why,
                    ),
                    asked=True,
                    cwd=self.cwd,
                )
                self._asked[_call_key(event.name, event.input)] = view
                await self.mount(view)
            elif isinstance(event, CheckIn):
                self.check_in = event.text
                await self._close_text()
                await self.mount(
                    Static(
                        Content.assemble(
                            ("llmos asks: ", "bold $text-secondary"), (event.text, "italic")
                        ),
                        classes="check-in",
                        markup=False,
                    )
                )

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
            await self.mount(
                Static(
                    Content.assemble(("✗ ", "bold $text-error"), (result.error, "$text-error")),
                    classes="run-error",
                    markup=False,
                )
            )
        await self.mount(
            Static(
                result_line(result, cancelled=message.cancelled),
                classes="result-line",
                markup=False,
            )
        )
        if self.details_shown:
            self._render_details()
        self.done = True
        self.set_class(True, "-done")
        self.post_message(ChatPane.AnswerDone(self, result))

    @on(Crashed)
    async def _on_crashed(self, message: Crashed) -> None:
        await self.apply(self.sink.drain())
        await self._close_text()
        await self.mount(
            Static(
                Content.assemble(
                    ("✗ internal error: ", "bold $text-error"), (message.error, "$text-error")
                ),
                classes="run-error",
                markup=False,
            )
        )
        self.done = True
        self.set_class(True, "-done")


class ChatLog(VerticalScroll):
    """The scrolling history of goals and answers; stays at the bottom while content streams."""

    ALLOW_MAXIMIZE = True


class GoalInput(TextArea):
    """The goal input: enter sends, shift+enter / ctrl+j start a new line, up/down recall goals.

    Its keys are bindings (ids ``chat.*``), so ``config.keymap`` can change them; a key bound
    here is kept from the editor (enter does not insert a newline when it sends).
    """

    BINDINGS = bindings_for("goal-input")

    @dataclass
    class Submitted(Message):
        input: "GoalInput"
        value: str

    def __init__(self, *, history: GoalHistory | None = None, **kwargs: Any) -> None:
        super().__init__(
            soft_wrap=True,
            tab_behavior="focus",
            show_line_numbers=False,
            compact=True,
            highlight_cursor_line=False,
            **kwargs,
        )
        self.goal_history = history if history is not None else GoalHistory()

    def _binding_for(self, key: str) -> str | None:
        """The action one of this input's own bindings (keymap applied) runs for ``key``."""
        from textual.binding import BindingsMap

        keymap = getattr(self.app, "_keymap", None) or {}
        bindings = BindingsMap(self.BINDINGS)
        if keymap:
            bindings.apply_keymap(keymap)
        found = bindings.key_to_bindings.get(key)
        return found[0].action if found else None

    async def _on_key(self, event: events.Key) -> None:
        # Handlers run for every class of the MRO: a key bound here must not reach the editor's
        # own handler (which would insert a newline for enter), so run the binding and stop.
        action = self._binding_for(event.key)
        if action is not None:
            event.prevent_default()
            event.stop()
            await self.run_action(action)

    def action_submit(self) -> None:
        self.post_message(self.Submitted(self, self.text))

    def action_newline(self) -> None:
        start, end = self.selection
        self._replace_via_keyboard("\n", start, end)

    def _show(self, text: str) -> None:
        self.load_text(text)
        self.move_cursor(self.document.end)

    def action_history_previous(self) -> None:
        if not self.navigator.is_first_wrapped_line(self.cursor_location):
            self.action_cursor_up()
            return
        text = self.goal_history.previous(self.text)
        if text is not None:
            self._show(text)

    def action_history_next(self) -> None:
        if not self.navigator.is_last_wrapped_line(self.cursor_location):
            self.action_cursor_down()
            return
        text = self.goal_history.following()
        if text is not None:
            self._show(text)


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

    def __init__(
        self,
        *,
        intro: Content,
        cwd: Path | None = None,
        history: GoalHistory | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.intro = intro
        self.cwd = cwd
        self.history = history if history is not None else GoalHistory()

    def compose(self) -> ComposeResult:
        with ChatLog(id="chat-log"):
            yield Static(self.intro, id="intro", markup=False)
        yield Static(id="chat-status", markup=False)
        yield GoalInput(
            history=self.history,
            id="goal-input",
            placeholder="Say what you want done · enter sends · ctrl+j new line · ↑ history",
        )

    @property
    def input(self) -> GoalInput:
        return self.query_one(GoalInput)

    def on_mount(self) -> None:
        self.query_one(ChatLog).anchor()

    def watch_status(self, status: Content) -> None:
        self.query_one("#chat-status", Static).update(status)

    def watch_running(self, running: bool) -> None:
        self.set_class(running, "-running")

    @on(GoalInput.Submitted)
    def _submit(self, event: GoalInput.Submitted) -> None:
        event.stop()
        goal = event.value.strip()
        if not goal:
            return
        if self.running:
            self.notify(
                "A goal is running: wait for it, or press escape to cancel it.",
                title="Busy",
                severity="warning",
            )
            return
        self.history.add(goal)
        event.input.clear()
        self.post_message(self.GoalSubmitted(goal))

    async def begin_answer(self, goal: str, *, label: str | None = None) -> AnswerView:
        """Show the goal and an empty answer that the run will fill."""
        log = self.query_one(ChatLog)
        answer = AnswerView(goal, cwd=self.cwd)
        await log.mount_all([GoalView(goal, label=label), answer])
        log.anchor()
        log.scroll_end(animate=False)
        return answer

    async def clear(self) -> None:
        """Remove every goal and answer (the intro stays)."""
        await self.query_one(ChatLog).query("GoalView, AnswerView").remove()

    @property
    def answers(self) -> list[AnswerView]:
        return list(self.query(AnswerView))


def running_status(
    mode: str | None, elapsed_s: float, *, cancelling: bool, trouble: ServerTrouble | None = None
) -> Content:
    if cancelling:
        return Content.assemble(("● ", "$text-warning"), ("cancelling…", "$text-warning"))
    label = f"running {mode}" if mode else "running"
    if trouble is not None:
        what = (
            f"retry {trouble.attempt}" + (f"/{trouble.max_retries}" if trouble.max_retries else "")
            if trouble.attempt
            else f"no answer for {trouble.waited_s:.0f} s"
        )
        return Content.assemble(
            ("● ", "$text-warning"),
            (label, "bold"),
            (f" · {int(elapsed_s)} s", ""),
            (f" · {what} · {trouble.url}: {trouble.error}", "$text-warning"),
            (f" · gives up after {trouble.limit_s:.0f} s · escape cancels", "$foreground-muted"),
        )
    return Content.assemble(
        ("● ", "$text-accent"),
        (label, "bold"),
        (f" · {int(elapsed_s)} s", ""),
        (" · escape cancels", "$foreground-muted"),
    )


def idle_status(cwd_label: str, *, ready: bool) -> Content:
    if not ready:
        return Content.assemble(
            ("○ ", "$foreground-muted"), ("opening the workspace…", "$foreground-muted")
        )
    return Content.assemble(
        ("● ", "$text-success"),
        ("ready", ""),
        ("  ·  goals run in ", "$foreground-muted"),
        (cwd_label, "$text-secondary"),
    )


def describe_llm(env: Any) -> Content:
    """Which LLM goals will use, from the environment (no import of any LLM library)."""
    base = env.get("ANTHROPIC_BASE_URL")
    if not llm_configured(env):
        return Content.assemble(
            ("LLM: ", "bold"),
            ("none configured", "$text-warning"),
            (
                " — set ANTHROPIC_API_KEY, or ANTHROPIC_BASE_URL for a local server "
                "that speaks the Messages API, then restart llmos.",
                "$foreground-muted",
            ),
        )
    if base:
        return Content.assemble(
            ("LLM: ", "bold"), "Messages API at ", (short(base, 60), "$text-secondary")
        )
    return Content.assemble(("LLM: ", "bold"), "Anthropic API")
