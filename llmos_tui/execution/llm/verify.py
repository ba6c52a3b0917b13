"""VERIFIED: one cheap model call decides whether a close trace may be replayed for a goal.

When the best trace is close but some differences between the goal and the trace's goal are
not accounted for (``accounting.py``), ``learning.verify`` says what happens:

* ``off``: nothing is asked; the goal runs MIXED/LEARNER (``--replay-similar`` still replays);
* ``ask`` (default): the user is asked (the TUI's dialog; headless: ``--replay-similar``);
  without a yes the goal runs MIXED/LEARNER. No model call, no cost;
* ``model``: :func:`verify_replay` makes **one** Messages-API call (``models.cheap``, no tools,
  at most :data:`MAX_INPUT_TOKENS` input tokens: the calls listing is truncated to fit) that
  gets the new goal, the trace's goal, the unaccounted words, the planned slot substitutions
  and the trace's calls, and must answer JSON ``{"same_task": bool, "substitutions":
  {old: new}}``. On ``same_task: true`` the kernel replays the calls with those literal
  substitutions (``engine.plan_values``: every safety check of a slot substitution; each call
  through policy and sandbox, each result checked as in FOLLOWER) in mode ``VERIFIED``; on
  ``false``, on any malformed answer, or when the call cannot be made, the goal runs
  MIXED/LEARNER. The call is charged to the economy (mode ``VERIFIED``) and counted in the
  run's result like every call (``execution/llm/economy.budgeted_call``); ``anthropic`` is
  imported only when the call is made.

The default is ``ask`` because it costs nothing, needs no LLM, and replays nothing without a
human's yes; ``model`` trades one small call (about a tenth of a LEARNER run's input) for the
chance to skip a MIXED/LEARNER session, and a model's yes is weaker evidence than the user's.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

VERIFY_MODES = ("off", "ask", "model")
MODE = "VERIFIED"
MAX_INPUT_TOKENS = 2000
#: Characters of system + user prompt: 4 characters a token for English, about 3 for JSON;
#: 5,400 characters stay under 2,000 tokens even at 2.7 characters a token.
MAX_PROMPT_CHARS = 5400
MAX_CALL_CHARS = 700  # one call's input, shown at most this long
MAX_ANSWER_TOKENS = 300
TIMEOUT_S = 30.0

SYSTEM = (
    "You check whether a recorded run of tool calls can be replayed, unchanged except for literal "
    "substitutions, to do a new request. The recorded calls did the recorded request. Answer with one JSON "
    'object and nothing else: {"same_task": true or false, "substitutions": {"old": "new"}}.\n'
    "same_task is true only if replaying the calls with your substitutions does exactly what the new "
    "request asks: no more, no less. Words of quantity, scope and logic matter (only, all, each, any, both, "
    "either, or, not, more than, at least, below, recursively, files versus directories, the current folder "
    "versus another place). When unsure, answer false.\n"
    "substitutions maps a literal string that occurs in the recorded calls to the string the new request "
    "needs in its place; {} when none. Use it only for values (file names, paths, numbers, names, text), "
    "never to rewrite a command."
)


@dataclass
class Verification:
    """What the VERIFIED call decided. ``same_task`` is None when there is no usable answer
    (``note`` says why: no LLM, over the cap, a failed call, a malformed answer)."""

    same_task: bool | None = None
    substitutions: dict[str, str] = field(default_factory=dict)
    note: str = ""
    requests: int = 0
    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    prompt_chars: int = 0
    calls_shown: int = 0
    calls_total: int = 0
    answer: str | None = None

    @property
    def approved(self) -> bool:
        return self.same_task is True

    def to_dict(self) -> dict[str, Any]:
        return {
            "same_task": self.same_task,
            "substitutions": dict(self.substitutions),
            "note": self.note,
            "requests": self.requests,
            "cost_usd": round(self.cost_usd, 6),
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "calls_shown": self.calls_shown,
            "calls_total": self.calls_total,
        }


def _call_line(i: int, call: Any) -> str:
    name = getattr(call, "name", "?")
    try:
        text = json.dumps(getattr(call, "input", {}), ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        text = str(getattr(call, "input", ""))
    if len(text) > MAX_CALL_CHARS:
        text = text[: MAX_CALL_CHARS - 20] + " …(cut)"
    status = "failed" if getattr(call, "is_error", False) else "ok"
    return f"{i}. {name} {text} -> {status}"


def build_prompt(
    goal: str,
    trace_goal: str,
    calls: Iterable[Any],
    *,
    unaccounted: str = "",
    planned: dict[str, str] | None = None,
) -> tuple[str, str, int, int]:
    """(system, user prompt, calls shown, calls in all), within :data:`MAX_PROMPT_CHARS`."""
    calls = list(calls)
    head = [f"New request: {goal.strip()[:600]}", f"Recorded request: {trace_goal.strip()[:600]}"]
    if unaccounted:
        head.append(f"Differences between them that are not accounted for: {unaccounted[:400]}")
    if planned:
        head.append(
            "Values that differ (recorded -> new): "
            + "; ".join(f"{old!r} -> {new!r}" for old, new in list(planned.items())[:10])
        )
    head.append(f"Recorded calls ({len(calls)}):")
    user = "\n".join(head)
    budget = MAX_PROMPT_CHARS - len(SYSTEM) - len(user) - 80
    lines: list[str] = []
    for i, call in enumerate(calls, start=1):
        line = _call_line(i, call)
        if len(line) + 1 > budget:
            break
        lines.append(line)
        budget -= len(line) + 1
    shown = len(lines)
    if shown < len(calls):
        lines.append(f"({len(calls) - shown} more calls not shown)")
    return SYSTEM, user + "\n" + "\n".join(lines), shown, len(calls)


_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


def parse_answer(text: str | None) -> tuple[bool, dict[str, str]] | str:
    """``(same_task, substitutions)`` from the model's text, or why it is malformed (a str).

    Exactly one JSON object (a surrounding code fence is tolerated) with ``same_task`` a JSON
    boolean and ``substitutions`` (optional) an object of non-empty strings to strings; any
    other key, type or extra text makes the answer malformed."""
    if not isinstance(text, str) or not text.strip():
        return "the answer is empty"
    body = text.strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group(1)
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        return f"the answer is not JSON ({exc.msg})"
    if not isinstance(data, dict):
        return "the answer is not a JSON object"
    extra = set(data) - {"same_task", "substitutions"}
    if extra:
        return f"the answer has unexpected keys: {', '.join(sorted(extra))}"
    same = data.get("same_task")
    if not isinstance(same, bool):
        return "same_task is missing or not true/false"
    subs = data.get("substitutions", {})
    if subs is None:
        subs = {}
    if not isinstance(subs, dict) or not all(
        isinstance(k, str) and k and isinstance(v, str) for k, v in subs.items()
    ):
        return "substitutions is not an object of strings"
    return same, {k: v for k, v in subs.items() if k != v}


def verify_replay(
    goal: str,
    trace: Any,
    *,
    model: str,
    cap_usd: float,
    economy_file: Path,
    total_budget_usd: float,
    unaccounted: str = "",
    planned: dict[str, str] | None = None,
    timeout_s: float = TIMEOUT_S,
) -> Verification:
    """One budgeted call: may *trace* (its goal and calls) be replayed for *goal*? Never raises."""
    from .economy import budgeted_call

    system, prompt, shown, total = build_prompt(
        goal, trace.goal, trace.calls, unaccounted=unaccounted, planned=planned
    )
    answer = budgeted_call(
        model=model,
        system=system,
        prompt=prompt,
        max_tokens=MAX_ANSWER_TOKENS,
        timeout_s=timeout_s,
        cap_usd=cap_usd,
        cap_key="learning.verify_budget_usd",
        economy_file=economy_file,
        total_budget_usd=total_budget_usd,
        mode=MODE,
        goal=goal,
        what="verification",
    )
    out = Verification(
        note=answer.note,
        requests=answer.requests,
        cost_usd=answer.cost_usd,
        input_tokens=answer.input_tokens,
        output_tokens=answer.output_tokens,
        prompt_chars=len(system) + len(prompt),
        calls_shown=shown,
        calls_total=total,
        answer=answer.text,
    )
    if answer.text is None:
        return out
    parsed = parse_answer(answer.text)
    if isinstance(parsed, str):
        out.note = f"malformed answer: {parsed}"
        return out
    out.same_task, out.substitutions = parsed
    out.note = "same task" if out.same_task else "not the same task"
    if answer.charge_error:
        out.note += f" ({answer.charge_error})"
    return out
