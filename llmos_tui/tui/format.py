"""Pure formatting for the chat pane.

Everything here builds :class:`textual.content.Content` from plain strings and styles, never from
markup, so untrusted text (model output, tool inputs, file names, error messages) can contain
``[brackets]`` safely.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from textual.content import Content

from ..runs import RunResult

#: How each policy decision reads in the pane, and the CSS class / style that marks it.
DECISION_LABELS = {"allow": "allowed", "ask": "asked", "deny": "blocked"}
DECISION_STYLES = {"allow": "$text-success", "ask": "$text-warning", "deny": "$text-error"}
#: Tool-input keys that say best what a call touches, in order of preference.
TARGET_KEYS = ("file_path", "notebook_path", "command", "pattern", "path", "url", "query", "description")


def short(value: object, limit: int = 80) -> str:
    """One line, at most ``limit`` characters (an ellipsis marks the cut)."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: max(1, limit - 1)] + "…"


def display_path(path: str | os.PathLike[str], *, cwd: Path | None = None, home: Path | None = None,
                 limit: int = 60) -> str:
    """A path as a person reads it: relative to ``cwd`` when inside it, else ``~``-abbreviated."""
    p = Path(path)
    if cwd is not None and p.is_absolute():
        try:
            rel = p.relative_to(cwd)
        except ValueError:
            pass
        else:
            return short(str(rel) if str(rel) != "." else ".", limit)
    home = home if home is not None else Path(os.environ.get("HOME") or Path.home())
    try:
        text = "~/" + str(p.relative_to(home)) if p.is_absolute() else str(p)
    except ValueError:
        text = str(p)
    if text == "~/.":
        text = "~"
    return text if len(text) <= limit else "…" + text[-(limit - 1):]


def call_target(tool_input: dict[str, Any], *, cwd: Path | None = None, limit: int = 70) -> str:
    """What a tool call acts on, in one short line (a path, a command, a pattern…)."""
    for key in TARGET_KEYS:
        value = tool_input.get(key)
        if isinstance(value, str) and value:
            if key in ("file_path", "notebook_path", "path"):
                return display_path(value, cwd=cwd, limit=limit)
            return short(value, limit)
    return short(tool_input, limit) if tool_input else ""


def format_duration(ms: int | float) -> str:
    if ms < 1000:
        return f"{int(ms)} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes} min {secs:02d} s"


def format_cost(usd: float) -> str:
    return f"${usd:.4f}" if usd < 100 else f"${usd:,.2f}"


def tool_call_line(name: str, tool_input: dict[str, Any], decision: str, reason: str, *,
                   asked: bool = False, cwd: Path | None = None) -> Content:
    """``Write  calc.py  allowed`` (+ the reason when the call was not simply allowed)."""
    target = call_target(tool_input, cwd=cwd)
    label = DECISION_LABELS.get(decision, decision)
    if asked and decision != "ask":
        label = f"asked → {label}"
    parts: list[str | tuple[str, str]] = [(name, "bold"), "  "]
    if target:
        parts += [(target, "$text-secondary"), "  "]
    parts.append((label, DECISION_STYLES.get(decision, "")))
    if reason and decision != "allow":
        parts += ["  ", (short(reason, 120), "italic $foreground-muted")]
    return Content.assemble(*parts)


def tool_result_line(is_error: bool, summary: str) -> Content:
    mark, style = ("✗ ", "$text-error") if is_error else ("✓ ", "$text-success")
    return Content.assemble((mark, style), (short(summary or ("failed" if is_error else "done"), 160), "$foreground-muted"))


def result_line(result: RunResult, *, cancelled: bool = False) -> Content:
    """The line that ends every answer: mode badge, cost, tokens, LLM calls, duration, trace."""
    if cancelled:
        status = ("cancelled", "$text-warning")
    elif result.success:
        status = ("done", "$text-success")
    else:
        status = ("failed", "$text-error")
    parts: list[str | tuple[str, str]] = [
        (f" {result.mode} ", "bold $text-accent on $accent-muted"), " ", status,
        (" · ", "$foreground-muted"), format_cost(result.cost_usd),
        (" · ", "$foreground-muted"), f"{result.input_tokens:,} in / {result.output_tokens:,} out tokens",
        (" · ", "$foreground-muted"), f"{result.llm_calls} LLM call{'s' if result.llm_calls != 1 else ''}",
        (" · ", "$foreground-muted"), format_duration(result.duration_ms),
    ]
    if result.confidence:
        parts += [(" · ", "$foreground-muted"), f"confidence {result.confidence:.2f}"]
    if result.fallback_from:
        parts += [(" · ", "$foreground-muted"), (f"fell back from {result.fallback_from}", "$text-warning")]
    if result.trace_id:
        parts += [(" · ", "$foreground-muted"), (f"trace {result.trace_id}", "$foreground-muted")]
    return Content.assemble(*parts)
