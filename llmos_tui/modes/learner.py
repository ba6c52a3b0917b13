"""LEARNER: a full LLM session (``execution/llm/session.py``) with our hooks -- the policy, the
budget, memory injection, the capture of every call -- and the trace it leaves. MIXED runs the
same session reduced to a similar trace's tools, with its calls as worked examples (``guide``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..execution.replay.hooks import (
    BUDGET_RULE,
    DECLINED_RULE,
    REJECTED,
    WITHHELD_RULE,
)
from ..exitcodes import ExitCode
from ..runs import RunResult
from .context import RunContext
from .record import record_trace

#: how a refused call reads in the trace, by its rule (any other rule: a policy block)
BLOCKED_LABELS = {
    BUDGET_RULE: "stopped by the budget",
    DECLINED_RULE: "not run",
    WITHHELD_RULE: "refused",
}


def run_learner(
    ctx: RunContext,
    *,
    decision: dict[str, Any],
    confidence: float = 0.0,
    mode: str = "LEARNER",
    guide: Any = None,
) -> RunResult:
    """A full LLM session (LEARNER), or a reduced one guided by a similar trace (MIXED)."""
    import asyncio

    from ..claude_state import purge_transcripts
    from ..execution.llm.session import SessionMeter, SessionRequest, require_llm, run_session

    kernel, goal = ctx.kernel, ctx.goal
    execution = kernel.config.execution
    require_llm()
    kernel.economy.check_budget(execution.per_run_estimate_usd)
    adapted = kernel.agents_for(ctx.opts.project).adapt(
        ctx.opts.agent, goal, ctx.adj, traces_for(ctx, decision)
    )
    meter = SessionMeter()
    recorded: list[dict[str, Any]] = []
    hooks = session_hooks(ctx, meter, recorded)
    tools, system_append = prompt_and_tools(ctx, adapted, decision, guide)
    tooling = session_tooling(ctx, mode, adapted.model, tools, hooks)
    tools = list(tooling.tools)
    if tooling.system_text:
        system_append += "\n\n" + tooling.system_text
    subagents = None
    if ctx.opts.nested:
        subagents = delegation_agents(ctx, tooling.twins)
        if subagents and "Agent" not in tools:
            tools = [*tools, "Agent"]  # the CLI's delegation tool; its calls pass our hooks too
    request = SessionRequest(
        prompt=goal,
        cwd=ctx.cwd,
        model=adapted.model,
        agents=subagents,
        claude_config_dir=kernel.workspace.claude_config_dir,
        tools=tools,
        system_append=system_append,
        max_turns=execution.max_turns,
        timeout_s=execution.run_timeout_s,
        server_timeout_s=execution.llm_server_timeout_s,
        mcp_servers=dict(tooling.mcp_servers),
        allowed_tools=list(tooling.allowed_tools),
        disallowed_tools=list(tooling.disallowed_tools),
        post_tool_output=tooling.post_tool_output,
        meter=meter,
    )
    try:
        outcome = asyncio.run(
            run_session(
                request,
                hooks,
                on_event=ctx.emit,
                cancel=ctx.cancel,
                confirm=ctx.confirm,
                assume_yes=ctx.opts.assume_yes,
            )
        )
    finally:
        purge_transcripts(kernel.workspace.claude_config_dir)  # the CLI's transcripts: never kept
    outcome.blocked.extend(tooling.blocked)
    outcome.rejected.extend(tooling.rejected)
    charge(ctx, mode, outcome)
    result = RunResult(
        goal=goal,
        mode=mode,
        success=outcome.success,
        confidence=confidence,
        llm_calls=outcome.llm_calls,
        input_tokens=outcome.input_tokens,
        output_tokens=outcome.output_tokens,
        cost_usd=outcome.cost_usd,
        output=outcome.text,
        error=outcome.error,
        decision=decision,
    )
    recorded.extend(refused_calls(outcome))
    recorded.sort(key=lambda c: c.get("seq", 0))  # the order the calls happened in
    for call in recorded:
        call.pop("seq", None)
    result.tool_calls = [{"name": c["name"], "input": c["input"], **c["result"]} for c in recorded]
    judge(result, outcome, recorded)
    result.agent = adapted.name
    result.model = request.model
    result.decision = dict(
        result.decision,
        agent=adapted.name,
        model=request.model,
        model_tier=adapted.model_tier,
        tools=tools,
    )
    if outcome.llm_calls or recorded or result.success:
        result.trace_id = record_trace(
            ctx,
            result,
            recorded,
            request.model,
            parent_trace=guide.id if guide is not None else None,
            agent=adapted.name,
            project=ctx.opts.project,
        )
    # else: the model server never answered; nothing to learn (the failure is in the events)
    kernel.agents_for(ctx.opts.project).record_execution(
        adapted.name,
        goal,
        success=result.success,
        cost_usd=result.cost_usd,
        error=result.error,
        tools_used=[c["name"] for c in recorded],
        blocked=[
            {"tool": b["name"], "reason": b["reason"], "input": b["input"]} for b in outcome.blocked
        ],
        timed_out=bool(outcome.error and "timed out" in outcome.error),
        mode=mode,
        model=request.model,
    )
    return result


# ---- the session's parts ------------------------------------------------------------------------
def session_hooks(ctx: RunContext, meter: Any, recorded: list[dict[str, Any]]) -> Any:
    """The policy (with the run's latent mode), the budget, memory injection, and the capture of
    every call that ran into *recorded*."""
    from ..execution.llm.session import budget_hook

    kernel = ctx.kernel
    hooks = kernel.policy_hooks(ctx.cwd, ctx.latent_mode)
    hooks.add_pre(budget_hook(meter, kernel.economy.balance))
    memory = kernel.config.memory
    if memory.inject:
        from ..memory.inject import memory_prompt_hook

        hooks.add_prompt(
            memory_prompt_hook(
                workspace=kernel.workspace,
                store=kernel.store,
                user=kernel.config.user,
                volumes=kernel.visible_volumes(),
                max_tokens=memory.inject_max_tokens,
                project=ctx.opts.project,
            )
        )
    hooks.add_post(CallCapture(ctx.cwd, recorded))
    return hooks


class CallCapture:
    """The post-tool hook that records each call that ran (with the files it created, relative
    to the working directory when inside it)."""

    def __init__(self, cwd: Path, recorded: list[dict[str, Any]]) -> None:
        self.cwd = cwd
        self.recorded = recorded

    def __call__(self, name: str, tool_input: dict[str, Any], tid: str, outcome: Any) -> None:
        from ..execution.llm.tool_search import is_own_tool
        from ..runs import next_call_seq

        if is_own_tool(name):
            return  # our MCP tools' underlying calls are captured by the executor's own hooks
        self.recorded.append(
            {
                "name": name,
                "input": tool_input,
                "tool_use_id": tid,
                "seq": next_call_seq(),
                "result": {
                    "is_error": outcome.is_error,
                    "summary": outcome.summary,
                    "exit_code": outcome.exit_code,
                    "files_created": self.created_files(outcome),
                    "decision": "allow",
                },
            }
        )

    def created_files(self, outcome: Any) -> list[str]:
        response = outcome.response
        found: list[str] = list(getattr(outcome, "files_created", None) or [])
        created_by_write = isinstance(response, dict) and response.get("type") == "create"
        if created_by_write and response.get("filePath"):
            found.append(str(response["filePath"]))
        created: list[str] = []
        for raw in found:  # each file once, relative to the working directory when inside it
            path = Path(raw)
            try:
                full = (path if path.is_absolute() else self.cwd / path).resolve()
                rel = full.relative_to(self.cwd).as_posix()
            except (ValueError, OSError):
                rel = raw
            if rel not in created:
                created.append(rel)
        return created


def prompt_and_tools(
    ctx: RunContext, adapted: Any, decision: dict[str, Any], guide: Any
) -> tuple[list[str], str]:
    """The agent's tools and system text: plus the run's context, MIXED's reduced tools and
    worked examples, and the tool examples of similar traces."""
    from .guide import mixed_examples, mixed_tools

    kernel = ctx.kernel
    tools, system_append = list(adapted.tools), str(adapted.system_append)
    if ctx.opts.context:
        system_append += "\n\n" + ctx.opts.context
    if guide is not None:
        tools = mixed_tools(guide, adapted.tools)
        system_append += "\n\n" + mixed_examples(guide, ctx.cwd)
        examples_from = [guide.id]
    else:
        examples_from = [
            c["trace_id"]
            for c in (decision.get("candidates") or [])[:3]
            if isinstance(c, dict) and c.get("trace_id")
        ]
    if kernel.config.execution.enable_tool_examples and examples_from:
        from ..learning.tool_examples import examples_from_traces, examples_prompt

        by_tool = examples_from_traces(
            kernel.store,
            examples_from,
            tools,
            min_success=kernel.config.learning.tool_example_min_success,
            cap=kernel.config.learning.tool_example_cap,
            cwd=ctx.cwd,
        )
        text = examples_prompt(by_tool)
        if text:
            system_append += "\n\n" + text
    return tools, system_append


def session_tooling(ctx: RunContext, mode: str, model: str, tools: list[str], hooks: Any) -> Any:
    """One execution path: the agent's file and shell tools are llmos's MCP twins, run by our
    executor (policy + OS sandbox); LEARNER also gets the crystallized tools and plugins (Tool
    Search)."""
    from ..execution.llm.tool_search import ToolRegistry
    from ..execution.llm.tool_search import session_tooling as tooling_for
    from ..execution.replay.crystallized import tool_trusted

    kernel = ctx.kernel
    execution = kernel.config.execution
    registry = (
        ToolRegistry.for_workspace(
            kernel.workspace,
            kernel.visible_volumes(),
            allow=lambda tool: tool_trusted(kernel.store, tool),
        )
        if mode == "LEARNER"
        else ToolRegistry()
    )
    return tooling_for(
        registry,
        tools,
        model=model,
        enabled=execution.enable_tool_search,
        extras=mode == "LEARNER",
        threshold=execution.tool_search_threshold,
        on_event=ctx.emit,
        executor_factory=lambda: ctx.executor(hooks=hooks),
    )


def delegation_agents(ctx: RunContext, twins: Any) -> dict[str, Any] | None:
    """An orchestrated sub-goal may delegate: the markdown agents become SDK AgentDefinitions."""
    from ..execution.llm.orchestrator import agent_definitions, available_agents

    agents = available_agents(ctx.kernel.workspace.agents_dir)[0]
    found: dict[str, Any] | None = agent_definitions(agents, offered=twins) or None
    return found


def traces_for(ctx: RunContext, decision: dict[str, Any]) -> list[Any]:
    """Stored traces of the decision's top candidates (failures included), for the agent
    manager."""
    from ..errors import LLMOSError

    out = []
    for cand in (decision.get("candidates") or [])[:3]:
        trace_id = cand.get("trace_id") if isinstance(cand, dict) else None
        if not trace_id:
            continue
        try:
            out.append(ctx.kernel.store.get(trace_id))
        except LLMOSError:
            continue
    return out


# ---- the outcome ----------------------------------------------------------------------------------
def charge(ctx: RunContext, mode: str, outcome: Any) -> None:
    """The session's real cost, charged to the economy (the goal redacted)."""
    if outcome.cost_usd or outcome.input_tokens:
        from ..redact import redact_text

        ctx.kernel.economy.charge(
            mode=mode,
            cost_usd=outcome.cost_usd,
            input_tokens=outcome.input_tokens,
            output_tokens=outcome.output_tokens,
            goal=redact_text(ctx.goal),
        )


def refused_calls(outcome: Any) -> list[dict[str, Any]]:
    """The calls that never ran, as trace calls: the ones our hooks refused (policy, budget, the
    user's No, withheld tools) and the ones the CLI rejected (bad input, an unknown tool; the
    model was told)."""
    calls = []
    for blocked in outcome.blocked:
        label = BLOCKED_LABELS.get(blocked["rule"], "blocked by policy")
        calls.append(_never_ran(blocked, "deny", f"{label}: {blocked['reason']}", blocked["rule"]))
    for rejected in outcome.rejected:
        calls.append(
            _never_ran(rejected, REJECTED, f"rejected: {rejected['reason']}", rejected["rule"])
        )
    return calls


def _never_ran(call: dict[str, Any], decision: str, summary: str, rule: str) -> dict[str, Any]:
    return {
        "name": call["name"],
        "input": call["input"],
        "tool_use_id": call["tool_use_id"],
        "seq": call.get("seq", 0),
        "result": {
            "is_error": True,
            "summary": summary,
            "exit_code": None,
            "decision": decision,
            "rule": rule,
        },
    }


def judge(result: RunResult, outcome: Any, recorded: list[dict[str, Any]]) -> None:
    """Whether the goal was done as asked, whatever the model says: a budget stop (exit 4), a
    refused call (exit 3; withheld tools included -- which of them count as safety violations is
    the kernel's ``_after_run``'s business), a user's No (exit 1), a failed session, or a last
    tool call that failed (earlier failures the model recovered from do not count)."""
    over_budget = [b for b in outcome.blocked if b["rule"] == BUDGET_RULE]
    policy_blocked = [b for b in outcome.blocked if b["rule"] not in (BUDGET_RULE, DECLINED_RULE)]
    declined = [b for b in outcome.blocked if b["rule"] == DECLINED_RULE]
    if over_budget:
        # The budget hook denied the rest of the run's tool calls (session.budget_hook).
        result.success = False
        result.error = over_budget[0]["reason"]  # "the budget ran out during this run: ..."
        result.exit_code = int(ExitCode.BUDGET_EXHAUSTED)
    elif policy_blocked:
        # The model may carry on and claim success; the goal was not done as asked.
        result.success = False
        reasons = "; ".join(sorted({b["reason"] for b in policy_blocked}))
        refused = all(b["rule"] == WITHHELD_RULE for b in policy_blocked)
        what = "refused" if refused else "blocked by policy"
        result.error = f"{len(policy_blocked)} tool call(s) {what}: {reasons}"
        result.exit_code = int(ExitCode.POLICY_BLOCKED)
    elif declined:
        result.success = False
        result.error = (
            f"you declined {len(declined)} tool call(s), so the goal was not done as asked: "
            + "; ".join(sorted({d["name"] + " " + call_target(d["input"]) for d in declined}))
        )
        result.exit_code = int(ExitCode.GOAL_FAILED)
    elif not outcome.success:
        result.exit_code = int(ExitCode.GOAL_FAILED)
    elif recorded and recorded[-1]["result"].get("is_error"):
        last = recorded[-1]
        result.success = False
        result.error = (
            f"the last tool call failed: {last['name']} {call_target(last['input'])}".rstrip()
            + f": {last['result'].get('summary') or 'error'}"
        )
        result.exit_code = int(ExitCode.GOAL_FAILED)


def call_target(tool_input: dict[str, Any]) -> str:
    """What a call is about, in a few words (its file, command, path, pattern or URL)."""
    for key in ("file_path", "command", "path", "pattern", "url"):
        value = tool_input.get(key) if isinstance(tool_input, dict) else None
        if isinstance(value, str) and value:
            return " ".join(value.split())[:80]
    return ""
