"""ORCHESTRATOR: plan (one call), run each sub-goal through the kernel's own mode selection
(``LLMOS.execute`` with ``nested=True``), synthesize (one call). A rejected plan runs LEARNER."""

from __future__ import annotations

from ..observability.records import EventType

import dataclasses
from typing import Any

from ..exitcodes import ExitCode
from ..runs import Notice, RunResult
from .context import RunContext
from .record import record_trace


def run_orchestrator(ctx: RunContext, info: dict[str, Any], confidence: float) -> RunResult:
    from ..execution.llm.orchestrator import (
        available_agents,
        plan_goal,
        run_plan,
        summary_text,
        synthesize,
        trace_calls,
    )
    from ..execution.llm.configured import require_llm

    kernel, goal = ctx.kernel, ctx.goal
    require_llm()
    execution = kernel.config.execution
    kernel.economy.check_budget(execution.per_run_estimate_usd)
    agents, _problems = available_agents(kernel.workspace.agents_dir)
    planned = plan_goal(
        goal, agents, model=kernel.config.model, max_steps=execution.orchestrator_max_steps
    )
    usage = planned.usage
    _charge(ctx, usage, f"plan: {goal}")
    plan = planned.plan
    if plan is None:  # not planned.ok
        reason = planned.error.reason if planned.error is not None else "no plan"
        return _plan_rejected(ctx, info, confidence, usage, reason)
    ctx.emit(Notice("info", "plan: " + "; ".join(_describe(sg) for sg in plan.subgoals)))

    def run_subgoal(sub: Any) -> RunResult:
        sub_opts = dataclasses.replace(
            ctx.opts, mode="auto", nested=True, agent=sub.agent, context=sub.context
        )
        return kernel.execute(
            sub.goal, options=sub_opts, on_event=ctx.emit, cancel=ctx.cancel, confirm=ctx.confirm
        )

    orchestration = run_plan(
        plan,
        run_subgoal,
        max_parallel=execution.orchestrator_max_parallel,
        budget_check=lambda: kernel.economy.balance() >= execution.per_run_estimate_usd,
        cancel=ctx.cancel,
    )
    text, synth = synthesize(goal, plan, orchestration, model=kernel.config.model)
    _charge(ctx, synth, f"synthesis: {goal}")
    totals = orchestration.totals()
    record = dict(
        orchestration.to_dict(),
        plan=plan.to_dict(),
        planning=usage.to_dict(),
        synthesis=synth.to_dict(),
    )
    result = RunResult(
        goal=goal,
        mode="ORCHESTRATOR",
        success=orchestration.success,
        confidence=confidence,
        llm_calls=usage.llm_calls + synth.llm_calls + totals["llm_calls"],
        input_tokens=usage.input_tokens + synth.input_tokens + totals["input_tokens"],
        output_tokens=usage.output_tokens + synth.output_tokens + totals["output_tokens"],
        cost_usd=usage.cost_usd + synth.cost_usd + totals["cost_usd"],
        output=text or summary_text(goal, orchestration),
        decision=dict(info, orchestration=record),
        tool_calls=[
            {"name": c["name"], "input": c["input"], **c["result"]}
            for c in trace_calls(orchestration)
        ],
    )
    if not orchestration.success:
        failed = [o.subgoal.id for o in orchestration.outcomes.values() if o.status != "succeeded"]
        result.error = f"sub-goal(s) not completed: {', '.join(failed)}" + (
            f" (stopped: {orchestration.stopped})" if orchestration.stopped else ""
        )
        result.exit_code = int(ExitCode.GOAL_FAILED)
    kernel.events.record(
        EventType.ORCHESTRATION_FINISHED,
        goal=goal[:200],
        success=result.success,
        subgoals=len(plan.subgoals),
        stopped=orchestration.stopped,
    )
    result.trace_id = record_trace(
        ctx, result, trace_calls(orchestration), kernel.config.model, project=ctx.opts.project
    )
    return result


def _describe(sub: Any) -> str:
    after = f" (after {', '.join(sub.depends_on)})" if sub.depends_on else ""
    return f"{sub.id} [{sub.agent}] {sub.goal}{after}"


def _charge(ctx: RunContext, usage: Any, what: str) -> None:
    """Charge the planning or synthesis call (when it cost anything)."""
    if usage.cost_usd or usage.input_tokens:
        ctx.kernel.economy.charge(
            mode="ORCHESTRATOR",
            cost_usd=usage.cost_usd,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            goal=what,
        )


def _plan_rejected(
    ctx: RunContext, info: dict[str, Any], confidence: float, usage: Any, reason: str
) -> RunResult:
    """The plan was rejected: the goal runs LEARNER; the planning call counts in its result."""
    from .learner import run_learner

    why = f"the plan was rejected: {reason}"
    ctx.emit(Notice("warning", f"{why}; running LEARNER instead"))
    result = run_learner(ctx, decision=dict(info, fallback_reason=why), confidence=confidence)
    result.fallback_from = "ORCHESTRATOR"
    result.llm_calls += usage.llm_calls
    result.input_tokens += usage.input_tokens
    result.output_tokens += usage.output_tokens
    result.cost_usd += usage.cost_usd
    return result
