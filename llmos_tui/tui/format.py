"""Pure formatting for the chat pane.

Everything here builds :class:`textual.content.Content` from plain strings and styles, never from
markup, so untrusted text (model output, tool inputs, file names, error messages) can contain
``[brackets]`` safely.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.content import Content

if TYPE_CHECKING:  # the run's records load with the first run, after the first paint
    from ..runs import RunResult


#: How each policy decision reads in the pane, and the CSS class / style that marks it.
#: "reject": the call never ran because its input or its tool name was invalid (the CLI or our MCP server said so)
DECISION_LABELS = {"allow": "allowed", "ask": "asked", "deny": "blocked", "reject": "rejected"}
DECISION_STYLES = {
    "allow": "$text-success",
    "ask": "$text-warning",
    "deny": "$text-error",
    "reject": "$text-error",
}
#: Tool-input keys that say best what a call touches, in order of preference.
TARGET_KEYS = (
    "file_path",
    "notebook_path",
    "command",
    "pattern",
    "path",
    "url",
    "query",
    "description",
)


def short(value: object, limit: int = 80) -> str:
    """One line, at most ``limit`` characters (an ellipsis marks the cut)."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: max(1, limit - 1)] + "…"


def display_path(
    path: str | os.PathLike[str],
    *,
    cwd: Path | None = None,
    home: Path | None = None,
    limit: int = 60,
) -> str:
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
    return text if len(text) <= limit else "…" + text[-(limit - 1) :]


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


def tool_call_line(
    name: str,
    tool_input: dict[str, Any],
    decision: str,
    reason: str,
    *,
    asked: bool = False,
    cwd: Path | None = None,
) -> Content:
    """``Write  calc.py  allowed`` (+ the reason when the call was not simply allowed)."""
    target = call_target(tool_input, cwd=cwd)
    label = DECISION_LABELS.get(decision, decision)
    if decision == "deny" and reason.startswith("declined by the user"):
        label = "declined by you"
        reason = reason.removeprefix("declined by the user").strip()
        if reason.startswith("(") and reason.endswith(")"):
            reason = reason[1:-1]
    elif decision == "allow" and reason.startswith("confirmed by "):
        label = "allowed by you"
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
    return Content.assemble(
        (mark, style),
        (short(summary or ("failed" if is_error else "done"), 160), "$foreground-muted"),
    )


def result_line(result: RunResult, *, cancelled: bool = False) -> Content:
    """The line that ends every answer: mode badge, cost, tokens, LLM calls, duration, trace."""
    if cancelled:
        status = ("cancelled", "$text-warning")
    elif result.success:
        status = ("done", "$text-success")
    else:
        status = ("failed", "$text-error")
    parts: list[str | tuple[str, str]] = [
        (f" {result.mode} ", "bold $text-accent on $accent-muted"),
        " ",
        status,
        (" · ", "$foreground-muted"),
        format_cost(result.cost_usd),
        (" · ", "$foreground-muted"),
        f"{result.input_tokens:,} in / {result.output_tokens:,} out tokens",
        (" · ", "$foreground-muted"),
        f"{result.llm_calls} LLM call{'s' if result.llm_calls != 1 else ''}",
        (" · ", "$foreground-muted"),
        format_duration(result.duration_ms),
    ]
    if result.confidence:
        parts += [(" · ", "$foreground-muted"), f"confidence {result.confidence:.2f}"]
    if result.fallback_from:
        parts += [
            (" · ", "$foreground-muted"),
            (f"fell back from {result.fallback_from}", "$text-warning"),
        ]
    if result.trace_id:
        parts += [(" · ", "$foreground-muted"), (f"trace {result.trace_id}", "$foreground-muted")]
    return Content.assemble(*parts)


# ---- gauge, tables, times ------------------------------------------------------------------------

#: How each notification state reads in the inbox.
STATE_STYLES = {
    "pending": "bold $text-warning",
    "unread": "bold $text-accent",
    "failed": "bold $text-error",
    "accepted": "$text-success",
    "rejected": "$foreground-muted",
    "read": "$foreground-muted",
}
#: The four valence variables, in the order the gauge shows them.
VALENCE = ("safety", "curiosity", "energy", "confidence")
#: How each latent mode reads (style of its badge).
MODE_STYLES = {
    "CAUTIOUS": "bold $text-warning",
    "RECOVERY": "bold $text-error",
    "AUTO_CREATIVE": "bold $text-success",
    "AUTO_CONTAINED": "bold $text-accent",
    "BALANCED": "bold $text-primary",
}


def valence_bar(value: float, width: int = 15, *, setpoint: float | None = None) -> Content:
    """A diverging bar for a value in [-1, 1]: filled from the centre towards the value.

    ``┃`` marks zero; ``╎`` marks the set-point when it is not at the centre or the fill's edge.
    """
    width = max(5, width | 1)  # odd, so zero has a cell of its own
    mid = width // 2
    value = max(-1.0, min(1.0, float(value)))
    reach = int(round(abs(value) * mid))
    cells: list[tuple[str, str]] = []
    mark = None if setpoint is None else mid + int(round(max(-1.0, min(1.0, setpoint)) * mid))
    for i in range(width):
        if i == mid:
            cells.append(("┃", "$foreground-muted"))
        elif value < 0 and mid - reach <= i < mid:
            cells.append(("█", "$error"))
        elif value > 0 and mid < i <= mid + reach:
            cells.append(("█", "$success"))
        elif i == mark:
            cells.append(("╎", "$foreground-muted"))
        else:
            cells.append(("·", "$foreground-muted 40%"))
    return Content.assemble(*cells)


def signed(value: float) -> str:
    return f"{value:+.2f}"


def format_when(iso: str | None, *, with_time: bool = True) -> str:
    """An ISO timestamp (UTC) in local time, ``2026-11-21 12:00``; ``—`` when missing or bad."""
    import datetime as dt

    if not iso:
        return "—"
    try:
        moment = dt.datetime.fromisoformat(str(iso).replace("Z", "+00:00"))
    except ValueError:
        return short(str(iso), 16)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    local = moment.astimezone()
    return local.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")


def format_ago(seconds: float) -> str:
    """``12 s``, ``4 min``, ``3 h``, ``2 d`` (for statuses that say how long ago / until when)."""
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{int(seconds)} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    if seconds < 86400:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} d"


def format_percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.0f}%"


def money(usd: float) -> str:
    """Dollars for a table cell: ``$0.0123``, ``$1.23``, ``$1,234``."""
    if usd == 0:
        return "$0"
    if abs(usd) < 1:
        return f"${usd:.4f}"
    if abs(usd) < 1000:
        return f"${usd:.2f}"
    return f"${usd:,.0f}"


def decision_details(decision: dict[str, Any], result: RunResult | None = None) -> Content:
    """The decision behind an answer: mode, confidence, reason, gates, candidates, adjustments."""
    from ..runs import Mode

    muted = "$foreground-muted"
    lines: list[Content] = []
    mode = str(decision.get("mode") or (result.mode if result else "?"))
    conf = decision.get("confidence")
    head: list[str | tuple[str, str]] = [("decision ", "bold"), (mode, "bold $text-accent")]
    if isinstance(conf, (int, float)):
        head.append(f" · confidence {float(conf):.2f}")
    lines.append(Content.assemble(*head))
    if decision.get("reason"):
        lines.append(Content.assemble(("why      ", muted), short(str(decision["reason"]), 300)))
    if decision.get("matched_goal"):
        lines.append(
            Content.assemble(
                ("matched  ", muted),
                (short(str(decision["matched_goal"]), 100), "italic"),
                (f"  ({decision.get('trace_id')})", muted),
            )
        )
    gates = [g for g in decision.get("gates") or [] if isinstance(g, dict)]
    if gates:
        lines.append(Content.styled("gates", muted))
        for gate in gates:
            ok = bool(gate.get("passed"))
            penalty = float(gate.get("penalty") or 0.0)
            lines.append(
                Content.assemble(
                    ("  ✓ " if ok else "  ✗ ", "$text-success" if ok else "$text-error"),
                    (f"{gate.get('name', '?'):<12}", "bold"),
                    (f" -{penalty:.2f} " if penalty else "", "$text-warning"),
                    (short(str(gate.get("reason") or ""), 140), muted),
                )
            )
    elif decision.get("trace_id") is None and mode in (Mode.LEARNER, Mode.ORCHESTRATOR):
        lines.append(
            Content.styled("gates    none: no stored trace came close enough to be checked", muted)
        )
    cands = [c for c in decision.get("candidates") or [] if isinstance(c, dict)]
    if cands:
        lines.append(Content.styled("candidates", muted))
        for cand in cands[:5]:
            lines.append(
                Content.assemble(
                    (f"  {float(cand.get('score') or 0):.2f} ", "bold"),
                    short(str(cand.get("goal") or ""), 90),
                    (f"  {cand.get('trace_id')}", muted),
                )
            )
    if decision.get("slot_bindings"):
        slots = ", ".join(f"{k}={v}" for k, v in dict(decision["slot_bindings"]).items())
        lines.append(Content.assemble(("slots    ", muted), short(slots, 200)))
    sentience = decision.get("sentience")
    if isinstance(sentience, dict):
        reasons = "; ".join(str(r) for r in sentience.get("reasons") or []) or "no adjustment"
        lines.append(
            Content.assemble(
                ("state    ", muted),
                (str(sentience.get("latent_mode") or ""), "bold"),
                (f": {short(reasons, 200)}", ""),
            )
        )
    extra = result.decision if result is not None else {}
    if extra.get("agent") or extra.get("model"):
        tools = ", ".join(extra.get("tools") or []) or "none"
        lines.append(
            Content.assemble(
                ("agent    ", muted),
                str(extra.get("agent") or "?"),
                (f" · model {extra.get('model') or '?'}", ""),
                (f" · tier {extra['model_tier']}" if extra.get("model_tier") else "", ""),
                (f" · tools {short(tools, 120)}", muted),
            )
        )
    why = (
        (decision.get("fallback_reason") or extra.get("fallback_reason"))
        if extra is not None
        else None
    )
    if why:
        lines.append(
            Content.assemble(("fallback ", muted), (short(str(why), 200), "$text-warning"))
        )
    return Content("\n").join(lines)
