"""FEEDBACK: a conversation message that is only thanks or a correction runs nothing -- no model
request, no trace; the sentience's user-feedback trigger hears it (user_positive /
user_negative)."""

from __future__ import annotations

from ..observability.records import EventType

from typing import Any

from ..runs import ModeChosen, RunResult
from .context import RunContext


def run_feedback(ctx: RunContext, kind: str) -> RunResult:
    kernel, turn = ctx.kernel, ctx.turn
    about = turn.conv.turns[-1] if turn is not None and turn.conv.turns else None
    ctx.emit(
        ModeChosen(
            "FEEDBACK",
            1.0,
            "feedback on the previous answer: recorded, no model request, no trace",
        )
    )
    info: dict[str, Any] = {
        "mode": "FEEDBACK",
        "feedback": kind,
        "about_trace": about.trace_id if about else None,
    }
    check_in = None
    if kernel.config.sentience.enabled:
        fb = kernel.sentience.on_user_feedback(ctx.goal)
        info["triggers"] = list(fb.triggers)
        check_in = fb.check_in
    kernel.events.record(
        EventType.USER_FEEDBACK,
        label=kind,
        about_trace=info["about_trace"],
        conversation=turn.conv.id if turn is not None else None,
    )
    if kind == "positive":
        text = "Glad it worked. (Noted as feedback: no model call, nothing recorded as a trace.)"
    else:
        text = (
            "Sorry that was not right. Noted as feedback; tell me what should change "
            '(e.g. "no, the file should be called notes.md") and I will run that.'
        )
    if check_in:
        text += "\n\n" + check_in
    return RunResult(
        goal=ctx.goal,
        mode="FEEDBACK",
        success=True,
        confidence=1.0,
        output=text,
        decision=info,
    )
