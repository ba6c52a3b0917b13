"""The trace a model run leaves (LEARNER, MIXED, ORCHESTRATOR): its calls relative to the working
directory, its slots, the sentience's emotion snapshot, and -- for a turn that leaned on its
conversation -- ``context: {conversation, depends_on, replayable: false}``."""

from __future__ import annotations

from ..observability.records import EventType

import time
from typing import Any

from ..execution.replay.hooks import NOT_SAFETY_RULES, REJECTED
from ..runs import RunResult
from .context import RunContext


def record_trace(
    ctx: RunContext,
    result: RunResult,
    calls: list[dict[str, Any]],
    model: str,
    *,
    parent_trace: str | None = None,
    agent: str = "system-agent",
    project: str | None = None,
) -> str | None:
    from ..learning import traces as tr
    from ..learning.slots import extract_slots
    from ..redact import redact_text

    if result.error and "cancelled" in result.error:
        return None
    kernel, goal = ctx.kernel, ctx.goal
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    tool_calls = tr.relativize(
        [
            tr.ToolCall(
                name=c["name"],
                input=c["input"],
                result=c["result"],
                tool_use_id=c.get("tool_use_id", ""),
            )
            for c in calls
        ],
        ctx.cwd,
    )
    trace = tr.Trace(
        id=tr.new_trace_id(),
        goal=goal,
        signature=tr.goal_signature(goal),
        created_at=now,
        last_used=now,
        mode=result.mode,
        usage_count=1,
        success_count=1 if result.success else 0,
        failure_count=0 if result.success else 1,
        cost_usd=round(result.cost_usd, 6),
        tokens={"input": result.input_tokens, "output": result.output_tokens},
        tools_used=sorted(
            {c.name for c in tool_calls if (c.result or {}).get("decision") != REJECTED}
        ),
        slots=extract_slots(goal),
        agent=agent,
        model=model,
        crystallized_tool=None,
        emotion=emotion(ctx, result),
        outcome="success" if result.success else "failure",
        error=result.error,
        summary=redact_text(result.output or "")[:2000],  # redacted before the cut
        calls=tool_calls,
        parent_trace=parent_trace,
        project=project,
        context=conversation_context(ctx, calls),
    )
    kernel.store.save(trace, volume=kernel.config.user_volume())
    kernel.events.record(
        EventType.TRACE_RECORDED, trace_id=trace.id, goal=goal[:200], success=result.success
    )
    trace_id: str = trace.id
    return trace_id


def conversation_context(ctx: RunContext, calls: list[dict[str, Any]]) -> dict[str, Any]:
    """A trace that leaned on its conversation (a follow-up, or calls naming a file of an earlier
    turn that the goal does not name) says so, and is never replayed on its own."""
    turn = ctx.turn
    if turn is None or not turn.conv.turns:
        return {}
    from ..memory.conversation import depends_on
    from ..redact import redact_text

    files = depends_on(ctx.goal, calls, turn.earlier_files)
    if not (turn.followup or files):
        return {}
    return {
        "conversation": turn.conv.id,
        "depends_on": {
            "files": files,
            "goals": [redact_text(turn.conv.turns[-1].goal)[:300]] if turn.followup else [],
        },
        "replayable": False,
    }


def emotion(ctx: RunContext, result: RunResult) -> dict[str, Any]:
    """The sentience's snapshot for the trace ({} when the sentience is off)."""
    kernel = ctx.kernel
    if not kernel.config.sentience.enabled:
        return {}
    denials = sum(
        1
        for c in result.tool_calls
        if c.get("decision") == "deny" and c.get("rule") not in NOT_SAFETY_RULES
    )
    snapshot: dict[str, Any] = kernel.sentience.emotion_snapshot(
        "success" if result.success else "failure",
        None,
        success=result.success,
        policy_denials=denials,
        cost_usd=result.cost_usd,
    )
    return snapshot
