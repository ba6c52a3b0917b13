"""FOLLOWER (and VERIFIED): replay a recorded trace's tool calls with no model request, through
the policy and the sandbox; the goal's new values are substituted only when that is safe. A replay
that cannot run falls back (``fallback.py``)."""

from __future__ import annotations

from ..observability.records import EventType

from typing import Any

from ..errors import LLMOSError
from ..exitcodes import ExitCode
from ..runs import Notice, RunResult
from .context import RunContext
from .fallback import fall_back


def run_follower(ctx: RunContext, decision: Any, mode: str = "FOLLOWER") -> RunResult:
    from ..execution.replay.engine import Refusal, replay
    from ..learning.trust import replay_refusal

    kernel = ctx.kernel
    info = decision.to_dict()
    trace = kernel.store.get(decision.trace_id)
    refusal = replay_refusal(
        kernel.store, trace
    )  # the content read now, not the one checked before
    if refusal is not None:
        return fall_back(ctx, info, decision.confidence, refusal, guide_id=trace.id)
    substitution = plan_bindings(ctx.goal, decision, trace)
    if isinstance(substitution, Refusal):
        return fall_back(
            ctx, info, decision.confidence, substitution.reason, guide_id=trace.id, from_mode=mode
        )
    outcome = replay(
        trace.calls,
        ctx.cwd,
        ctx.executor(),
        bindings=substitution,
        on_event=ctx.emit,
        cancel=ctx.cancel,
    )
    if outcome.cancelled:
        return RunResult(
            goal=ctx.goal,
            mode=mode,
            success=False,
            trace_id=trace.id,
            confidence=decision.confidence,
            output=outcome.describe(),
            error="cancelled by the user",
            exit_code=int(ExitCode.GOAL_FAILED),
            decision=info,
            tool_calls=outcome.tool_calls(),
        )
    kernel.store.record_outcome(trace.id, outcome.success)
    if outcome.success:
        kernel.events.record(
            EventType.TRACE_REPLAYED,
            trace_id=trace.id,
            goal=ctx.goal[:200],
            success=True,
            substituted=bool(substitution),
            approved_by=decision.approved_by,
            alias=decision.alias,
            mode=mode,
        )
        if decision.approved_by:
            learn_alias(ctx, trace.id, substitution)
        return RunResult(
            goal=ctx.goal,
            mode=mode,
            success=True,
            trace_id=trace.id,
            confidence=decision.confidence,
            output=outcome.describe(),
            decision=info,
            tool_calls=outcome.tool_calls(),
        )
    kernel.events.record(
        EventType.TRACE_REPLAYED,
        trace_id=trace.id,
        goal=ctx.goal[:200],
        success=False,
        reason=outcome.reason,
        refused=outcome.refused,
        mode=mode,
    )
    what = (
        "refused before running anything"
        if outcome.refused
        else f"stopped at step {(outcome.stopped_at or 0) + 1}"
    )
    result = fall_back(
        ctx,
        info,
        decision.confidence,
        f"replay of {trace.id} {what}: {outcome.reason}",
        from_mode=mode,
    )
    result.tool_calls = outcome.tool_calls() + result.tool_calls
    return result


def plan_bindings(goal: str, decision: Any, trace: Any) -> Any:
    """The values the replay puts into the trace's calls: the ones approved with an alias or by
    the verification, else the goal's own slot values; None when nothing changes; a ``Refusal``
    (with the reason in words) when they cannot be substituted safely."""
    from ..execution.replay.engine import Refusal, plan_substitution, plan_values
    from ..learning.slots import extract_slots

    approved = alias_values(trace, decision.alias) if decision.alias else {}
    if approved or decision.value_substitutions:
        planned = plan_values(approved or decision.value_substitutions, trace.calls)
        if isinstance(planned, Refusal):
            return Refusal(f"the approved values cannot be substituted safely ({planned.reason})")
        return planned
    if decision.slot_bindings and not decision.alias:
        planned = plan_substitution(trace.slots, extract_slots(goal), trace.calls)
        if isinstance(planned, Refusal):
            return Refusal(f"the goal's new values cannot be substituted safely ({planned.reason})")
        return planned
    return None


def alias_values(trace: Any, phrase: str) -> dict[str, str]:
    """The ``{old: new}`` values approved with the alias *phrase* of *trace*."""
    from ..learning.text import normalize_text
    from ..learning.traces import alias_phrase, alias_substitutions

    key = normalize_text(phrase).lower()
    for alias in trace.aliases:
        if normalize_text(alias_phrase(alias)).lower() == key:
            found: dict[str, str] = alias_substitutions(alias)
            return found
    return {}


def learn_alias(ctx: RunContext, trace_id: str, substitution: Any) -> None:
    """An approved replay that succeeded: its phrasing becomes an alias of the trace (with
    the values it put into the calls), so the same phrasing is an exact match next time."""
    values = {c.old: c.new for c in substitution.changes} if substitution is not None else {}
    try:
        added = ctx.kernel.store.add_alias(trace_id, ctx.goal, values)
    except LLMOSError as exc:
        ctx.emit(
            Notice(
                "warning",
                f"the phrasing was not recorded as an alias of {trace_id}: {exc.message}",
            )
        )
        return
    if added:
        ctx.emit(
            Notice(
                "info",
                f"recorded {ctx.goal!r} as an alias of trace {trace_id} "
                f"(remove it with `llmos traces alias rm {trace_id} PHRASE`)",
            )
        )
