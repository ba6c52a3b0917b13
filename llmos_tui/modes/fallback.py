"""What a replay that cannot run becomes: MIXED (guided by the trace) or LEARNER when AUTO chose
the replay, a refusal when the user asked for it (``--mode follower|crystallized``)."""

from __future__ import annotations

from ..observability.records import EventType

from typing import TYPE_CHECKING, Any

from ..exitcodes import ExitCode
from ..runs import Notice, RunResult
from .context import RunContext

if TYPE_CHECKING:
    from ..kernel import RunOptions


def explicit_replay(opts: RunOptions) -> bool:
    """The user asked for a replay by name (``--mode follower|crystallized``, the TUI's replay
    key): a replay that cannot run is refused, never turned into a paid LLM run."""
    return opts.mode in ("follower", "crystallized") and not opts.nested


def fall_back(
    ctx: RunContext,
    info: dict[str, Any],
    confidence: float,
    why: str,
    *,
    guide_id: str | None = None,
    from_mode: str = "FOLLOWER",
) -> RunResult:
    from .learner import run_learner
    from .mixed import run_mixed

    info = dict(info, fallback_reason=why)
    if explicit_replay(ctx.opts):
        return replay_refused(ctx, info, confidence, why)
    if guide_id is not None and ctx.kernel.config.execution.enable_mixed:
        ctx.emit(Notice("warning", f"{why}; running MIXED (guided by the trace) instead"))
        result = run_mixed(ctx, info, confidence, guide_id)
    else:
        ctx.emit(Notice("warning", f"{why}; falling back to LEARNER"))
        result = run_learner(ctx, decision=info, confidence=confidence)
    result.fallback_from = from_mode
    return result


def replay_refused(ctx: RunContext, info: dict[str, Any], confidence: float, why: str) -> RunResult:
    """An explicit replay (``--mode follower|crystallized``, the TUI's replay key) that cannot run
    ends here: no paid run the user did not choose. The result says why
    (``decision.replay_refused``) so the TUI can ask whether to run the goal with the model
    instead; headless it exits 1."""
    mode = ctx.opts.mode.upper()
    info = dict(info, replay_refused=why)
    ctx.kernel.events.record(
        EventType.REPLAY_REFUSED,
        goal=ctx.goal[:200],
        mode=mode,
        reason=why[:500],
        trace_id=info.get("trace_id"),
    )
    return RunResult(
        goal=ctx.goal,
        mode=mode,
        success=False,
        confidence=confidence,
        decision=info,
        trace_id=info.get("trace_id"),
        error=f"{why}. You asked for a replay ({mode}, no LLM call), so llmos did not fall back "
        f"to a paid run; to let the model do it: llmos --headless run GOAL --mode learner",
        exit_code=int(ExitCode.GOAL_FAILED),
    )
