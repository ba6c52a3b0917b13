"""CRYSTALLIZED: run the tool a trusted trace was crystallized into (no model request). A tool that
cannot run is demoted and the trace is replayed instead (``follower.py``); a tool that fails falls
back (``fallback.py``)."""

from __future__ import annotations

from ..observability.records import EventType

from typing import Any

from ..exitcodes import ExitCode
from ..runs import Notice, RunResult
from .context import RunContext
from .fallback import fall_back
from .follower import run_follower


def run_crystallized(ctx: RunContext, decision: Any) -> RunResult:
    from ..execution.replay.crystallized import ToolError, run_tool
    from ..learning.slots import extract_slots

    kernel = ctx.kernel
    info = decision.to_dict()
    try:
        tool, refusal = checked_tool(ctx, decision)
    except ToolError as exc:
        ctx.emit(
            Notice(
                "warning",
                f"crystallized tool {decision.crystallized_tool} cannot run ({exc.message}); "
                "demoting it and replaying the trace instead",
            )
        )
        try:
            kernel.crystallizer(ctx.latent_mode).demote(decision.crystallized_tool, exc.message)
        except Exception:  # noqa: BLE001, S110 - a broken tool must never stop the goal
            pass
        return _replay_instead(ctx, decision)
    if refusal is not None:
        return fall_back(ctx, info, decision.confidence, refusal, guide_id=decision.trace_id)
    outcome = run_tool(
        tool,
        cwd=ctx.cwd,
        executor=ctx.executor(),
        slot_values=extract_slots(ctx.goal),
        on_event=ctx.emit,
        cancel=ctx.cancel,
    )
    if outcome.cancelled or outcome.success:
        if outcome.success:
            kernel.store.record_outcome(decision.trace_id, True)
            kernel.events.record(
                EventType.TOOL_RUN,
                tool=tool.id,
                trace_id=decision.trace_id,
                success=True,
                volume=tool.volume,
            )
        return RunResult(
            goal=ctx.goal,
            mode="CRYSTALLIZED",
            success=outcome.success,
            trace_id=decision.trace_id,
            confidence=decision.confidence,
            output=outcome.describe(),
            error=None if outcome.success else "cancelled by the user",
            exit_code=int(ExitCode.OK if outcome.success else ExitCode.GOAL_FAILED),
            decision=info,
            tool_calls=outcome.tool_calls(),
        )
    if outcome.refused:
        # A refusal (unsafe value, policy) does not mean the tool is broken: replay the trace.
        ctx.emit(
            Notice(
                "warning",
                f"crystallized tool {tool.id} refused: {outcome.reason}; replaying the trace",
            )
        )
        return _replay_instead(ctx, decision)
    kernel.store.record_outcome(decision.trace_id, False)
    kernel.crystallizer(ctx.latent_mode).demote(tool, outcome.reason)
    kernel.events.record(
        EventType.TOOL_RUN,
        tool=tool.id,
        trace_id=decision.trace_id,
        success=False,
        reason=outcome.reason,
        volume=tool.volume,
    )
    result = fall_back(
        ctx,
        dict(info, demoted=tool.id),
        decision.confidence,
        f"crystallized tool {tool.id} failed: {outcome.reason}",
    )
    if "replay_refused" not in result.decision:
        result.fallback_from = "CRYSTALLIZED"
    result.tool_calls = outcome.tool_calls() + result.tool_calls
    return result


def checked_tool(ctx: RunContext, decision: Any) -> tuple[Any, str | None]:
    """The decision's tool, checked against its trace as the trace is now: ``(tool, refusal)``
    where *refusal* says why the trace may not be replayed (it fell back); raises ``ToolError``
    when the tool cannot run (it is demoted)."""
    from ..execution.replay.crystallized import ToolError, load_tool, tool_problem
    from ..learning.trust import replay_refusal

    kernel = ctx.kernel
    tool = load_tool(kernel.workspace, decision.crystallized_tool, volumes=kernel.visible_volumes())
    if tool.source_trace != decision.trace_id:
        raise ToolError(
            f"tool {tool.id} was made from {tool.source_trace}, not {decision.trace_id}"
        )
    current = kernel.store.get(decision.trace_id)
    refusal = replay_refusal(kernel.store, current)  # the trace as it is now, not as it was checked
    if refusal is not None:
        return tool, refusal
    problem = tool_problem(tool, current)  # the tool must run exactly its trusted trace's calls
    if problem is not None:
        raise ToolError(problem)
    return tool, None


def _replay_instead(ctx: RunContext, decision: Any) -> RunResult:
    result = run_follower(ctx, decision)
    result.fallback_from = "CRYSTALLIZED"
    return result


def maybe_crystallize(ctx: RunContext, result: RunResult) -> None:
    """A successful replay may make its trace a tool (``learning.auto_crystallization``)."""
    kernel = ctx.kernel
    if not (
        result.success
        and result.trace_id
        and kernel.config.learning.auto_crystallization
        and kernel.config.execution.enable_crystallized
    ):
        return
    tool = kernel.crystallizer(ctx.latent_mode).maybe_crystallize(result.trace_id)
    if tool is not None:
        ctx.emit(
            Notice(
                "info",
                f"crystallized trace {result.trace_id} into tool {tool.id}: "
                "matching goals now run it with no LLM call",
            )
        )
