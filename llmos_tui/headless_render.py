"""Headless rendering of run events: text to stdout, everything else to stderr."""

from __future__ import annotations

import json
import sys
from typing import Callable

from .runs import (
    ModeChosen,
    Notice,
    RunEvent,
    RunResult,
    ServerTrouble,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
)


def _short(value: object, limit: int = 80) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_call(name: str, tool_input: dict) -> str:
    for key in ("file_path", "command", "pattern", "path", "url", "notebook_path"):
        if isinstance(tool_input.get(key), str):
            return f"{name}({_short(tool_input[key])})"
    return f"{name}({_short(tool_input)})"


class StreamPrinter:
    def __init__(
        self,
        *,
        stream_text: bool,
        show_diffs: bool | None = None,
        on_first_event: Callable[[], None] | None = None,
    ) -> None:
        """*on_first_event* is called once, with the run's first event (the mode chosen, as a
        rule: the decision is over)."""
        self.stream_text = stream_text
        self._on_first_event = on_first_event
        # a file tool's compact diff under its call line (headless without --json)
        self.show_diffs = stream_text if show_diffs is None else show_diffs
        self._text_open = False

    def _err(self, line: str) -> None:
        if self._text_open:
            sys.stdout.write("\n")
            sys.stdout.flush()
            self._text_open = False
        sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def __call__(self, event: RunEvent) -> None:
        if self._on_first_event is not None:
            first, self._on_first_event = self._on_first_event, None
            first()
        if isinstance(event, TextDelta):
            if self.stream_text:
                sys.stdout.write(event.text)
                sys.stdout.flush()
                self._text_open = True
        elif isinstance(event, ModeChosen):
            conf = f" confidence {event.confidence:.2f}" if event.confidence else ""
            self._err(f"[mode] {event.mode}{conf}: {event.reason}")
        elif isinstance(event, ToolCallStarted):
            mark = {"allow": "->", "ask": "??", "deny": "xx", "reject": "!!"}.get(
                event.decision, "->"
            )
            extra = "" if event.decision == "allow" else f"  [{event.decision}: {event.reason}]"
            self._err(f"{mark} {describe_call(event.name, event.input)}{extra}")
        elif isinstance(event, ToolCallFinished):
            self._err(f"   {'error' if event.is_error else 'ok'}: {_short(event.summary, 100)}")
            if self.show_diffs and event.diff:
                for line in event.diff.splitlines():
                    self._err(f"   {line}")
        elif isinstance(event, Notice):
            self._err(f"[{event.level}] {event.text}")
        elif isinstance(event, ServerTrouble):
            self._err(f"[{'retry' if event.attempt else 'wait'}] {event.describe()}")

    def finish(self, result: RunResult) -> None:
        if self._text_open:
            sys.stdout.write("\n")
            sys.stdout.flush()
            self._text_open = False
        status = "ok" if result.success else "failed"
        self._err(
            f"[{status}] {result.mode} · {result.llm_calls} LLM call(s) · "
            f"{result.input_tokens}/{result.output_tokens} tokens · ${result.cost_usd:.4f} · "
            f"{result.duration_ms} ms" + (f" · trace {result.trace_id}" if result.trace_id else "")
        )
        if result.error:
            self._err(f"llmos: error: {result.error}")
