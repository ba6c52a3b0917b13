"""MIXED's guide: the reduced tool set and the worked examples a similar trace gives a LEARNER
session (``learner.py`` puts them in the session, ``mixed.py`` chooses the trace)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# The examples block of a guided session is capped, like any context we inject.
MIXED_EXAMPLE_CHARS = 6000


def mixed_tools(guide: Any, agent_tools: list[str]) -> list[str]:
    """The reduced tool set of a guided run: the tools the trace used, plus Read to look around."""
    used = [c.name for c in guide.calls]
    wanted = {*used, "Read"}
    reduced = [t for t in agent_tools if t in wanted]
    return reduced or list(agent_tools)


def mixed_examples(guide: Any, cwd: Path, limit: int = MIXED_EXAMPLE_CHARS) -> str:
    """The matched trace's calls as worked examples, paths re-rooted into this run's cwd."""
    import json

    from ..learning.traces import reroot

    intro = (
        f"A previous run solved a similar goal ({guide.goal!r}) with the tool calls below. "
        "If they fit this goal, reuse them; adapt them where this goal differs; if they do not fit, "
        "say so and solve the goal your own way."
    )
    lines = [intro]
    for number, call in enumerate(reroot(guide.calls, cwd), start=1):
        result = call.result or {}
        status = "error" if result.get("is_error") else "ok"
        args = json.dumps(call.input, ensure_ascii=False)
        if len(args) > 1500:
            args = args[:1500] + "…"
        lines.append(f"{number}. {call.name} {args} -> {status}")
    text = "\n".join(lines)
    return text if len(text) <= limit else text[: limit - 1] + "…"
