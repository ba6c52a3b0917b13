"""ORCHESTRATOR: a multi-step goal is planned, its sub-goals run through the kernel, results combined.

1. :func:`plan_goal` makes ONE planning call (the ``anthropic`` SDK, against whatever
   ``ANTHROPIC_BASE_URL``/``ANTHROPIC_API_KEY`` point to) that asks for a JSON plan: sub-goals,
   each with an ``id``, a self-contained ``goal``, an ``agent`` (a name from ``agents/*.md``) and
   ``depends_on`` (ids). :func:`validate_plan` accepts it or says exactly why not (not JSON, an
   unknown agent, a missing field, a duplicate id, an unknown dependency, a cycle, too many or too
   few steps); the kernel then falls back to LEARNER.
2. :func:`run_plan` runs the sub-goals in dependency order through ``run_subgoal`` (the kernel's
   own dispatch, so a sub-goal seen before replays as FOLLOWER for free). Independent sub-goals
   run concurrently (threads, at most ``max_parallel``); a failed sub-goal is retried once, then
   reported; the sub-goals that depend on it are skipped (reported), the others still run and
   their results are kept. No sub-goal is launched once ``budget_check()`` says no or ``cancel``
   is set. A sub-goal receives the outputs of the sub-goals it depends on as ``context``.
3. :func:`synthesize` makes one more call that turns the sub-results into one answer; if that
   call fails (or nothing succeeded) a deterministic summary is returned instead.

Agents defined in markdown become ``claude_agent_sdk.AgentDefinition`` objects with
:func:`agent_definitions` (for ``ClaudeAgentOptions(agents=...)``).

The LLM libraries are imported inside the functions that call them.
"""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from ...errors import LLMOSError
from ...exitcodes import ExitCode
from ...runs import CancelToken, Mode, RunResult
from .api_call import call_llm, describe_error
from .pricing import Usage

#: Config ``execution.orchestrator_max_steps``: more sub-goals than this is a rejected plan.
DEFAULT_MAX_STEPS = 8
#: Config ``execution.orchestrator_max_parallel``.
DEFAULT_MAX_PARALLEL = 2
DEFAULT_RETRIES = 1
PLAN_MAX_TOKENS = 2048
SYNTHESIS_MAX_TOKENS = 2048
CALL_TIMEOUT_S = 120.0
MAX_SUBGOAL_CHARS = 2000
#: Characters of each dependency's output handed to a dependent sub-goal, and in all.
CONTEXT_CHARS_EACH = 2000
CONTEXT_CHARS = 6000
SYNTHESIS_RESULT_CHARS = 3000
SYNTHESIS_TOTAL_CHARS = 24_000
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")
#: Exit codes after which a retry cannot help.
_NO_RETRY = {int(ExitCode.USAGE), int(ExitCode.BUDGET_EXHAUSTED), int(ExitCode.NO_LLM)}


class OrchestrationError(LLMOSError):
    """The orchestrator cannot run (no agents, a bad argument)."""


# ---- records ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubGoal:
    id: str
    goal: str
    agent: str
    depends_on: tuple[str, ...] = ()
    #: Outputs of the sub-goals it depends on (set by run_plan; not part of the goal text, so a
    #: sub-goal seen before still matches its trace).
    context: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "goal": self.goal,
            "agent": self.agent,
            "depends_on": list(self.depends_on),
        }


@dataclass
class Plan:
    goal: str
    subgoals: list[SubGoal]

    def get(self, subgoal_id: str) -> SubGoal:
        for sub in self.subgoals:
            if sub.id == subgoal_id:
                return sub
        raise KeyError(subgoal_id)

    def order(self) -> list[str]:
        """A topological order, stable (plan order among the ready ones)."""
        done: list[str] = []
        left = [s.id for s in self.subgoals]
        while left:
            ready = [i for i in left if all(d in done for d in self.get(i).depends_on)]
            if not ready:  # pragma: no cover - validate_plan rejects cycles
                raise OrchestrationError("the plan has a dependency cycle")
            done.append(ready[0])
            left.remove(ready[0])
        return done

    def to_dict(self) -> dict[str, Any]:
        return {"goal": self.goal, "subgoals": [s.to_dict() for s in self.subgoals]}


@dataclass(frozen=True)
class PlanError:
    reason: str
    raw: str = ""

    def __str__(self) -> str:
        return self.reason


@dataclass
class PlanResult:
    """What :func:`plan_goal` returns: a plan or why there is none, and what the call cost."""

    plan: Plan | None
    error: PlanError | None
    usage: Usage
    raw_text: str = ""

    @property
    def ok(self) -> bool:
        return self.plan is not None


PENDING, RUNNING = "pending", "running"
SUCCEEDED, FAILED, SKIPPED, NOT_STARTED, CANCELLED = (
    "succeeded",
    "failed",
    "skipped",
    "not_started",
    "cancelled",
)


@dataclass
class SubGoalOutcome:
    subgoal: SubGoal
    status: str = PENDING
    attempts: int = 0
    results: list[RunResult] = field(default_factory=list)
    reason: str = ""
    started_at: float | None = None
    finished_at: float | None = None

    @property
    def result(self) -> RunResult | None:
        return self.results[-1] if self.results else None

    @property
    def trace_ids(self) -> list[str]:
        return [r.trace_id for r in self.results if r.trace_id]

    def to_dict(self) -> dict[str, Any]:
        last = self.result
        return {
            "id": self.subgoal.id,
            "goal": self.subgoal.goal,
            "agent": self.subgoal.agent,
            "depends_on": list(self.subgoal.depends_on),
            "status": self.status,
            "attempts": self.attempts,
            "reason": self.reason,
            "mode": last.mode if last else None,
            "trace_id": last.trace_id if last else None,
            "trace_ids": self.trace_ids,
            "llm_calls": sum(r.llm_calls for r in self.results),
            "cost_usd": round(sum(r.cost_usd for r in self.results), 6),
        }


@dataclass
class OrchestrationResult:
    plan: Plan
    outcomes: dict[str, SubGoalOutcome]
    finished_order: list[str] = field(default_factory=list)
    stopped: str = ""  # why launching stopped early: "budget", "cancelled" or ""

    @property
    def success(self) -> bool:
        return all(o.status == SUCCEEDED for o in self.outcomes.values())

    def by_status(self, status: str) -> list[SubGoalOutcome]:
        return [
            self.outcomes[s.id] for s in self.plan.subgoals if self.outcomes[s.id].status == status
        ]

    @property
    def results(self) -> list[RunResult]:
        return [r for o in self.outcomes.values() for r in o.results]

    def totals(self) -> dict[str, Any]:
        rs = self.results
        return {
            "llm_calls": sum(r.llm_calls for r in rs),
            "input_tokens": sum(r.input_tokens for r in rs),
            "output_tokens": sum(r.output_tokens for r in rs),
            "cost_usd": sum(r.cost_usd for r in rs),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "goal": self.plan.goal,
            "success": self.success,
            "stopped": self.stopped,
            "subgoals": [self.outcomes[s.id].to_dict() for s in self.plan.subgoals],
            "finished_order": list(self.finished_order),
        }


# ---- agents ------------------------------------------------------------------------------------


def available_agents(agents_dir: Path) -> tuple[list[Any], list[str]]:
    """Every readable agent of ``agents/*.md`` (name order), and the problems of the others."""
    from ...adaptation.agents import AgentFormatError, parse_agent

    agents, problems = [], []
    try:
        paths = sorted(Path(agents_dir).glob("*.md"))
    except OSError as exc:
        return [], [f"cannot list {agents_dir}: {exc}"]
    for path in paths:
        try:
            spec = parse_agent(path.read_text(encoding="utf-8"), str(path))
        except (AgentFormatError, OSError, UnicodeDecodeError) as exc:
            problems.append(str(getattr(exc, "message", exc)))
            continue
        spec.path = path
        agents.append(spec)
    seen: set[str] = set()
    unique = []
    for spec in sorted(agents, key=lambda a: a.name):
        if spec.name in seen:
            problems.append(f"{spec.path}: a second agent named {spec.name!r} is ignored")
            continue
        seen.add(spec.name)
        unique.append(spec)
    return unique, problems


def agent_definitions(agents: Iterable[Any], offered: Iterable[str] = ()) -> dict[str, Any]:
    """``{name: AgentDefinition}`` for ``ClaudeAgentOptions(agents=...)``.

    A sub-agent's file and shell tools are llmos's MCP twins (``mcp__llmos__Bash``…), and only those
    the session offers (``offered``): the CLI runs none of them itself."""
    from claude_agent_sdk import AgentDefinition

    from .tool_search import EXECUTED_BUILTINS, twin_name

    twins = set(offered)

    def tools_of(agent: Any) -> list[str] | None:
        names = list(agent.tools)
        if not names:
            return None
        mapped = [
            twin_name(n) if n in EXECUTED_BUILTINS else n
            for n in names
            if n not in EXECUTED_BUILTINS or n in twins
        ]
        if "Edit" in names and "MultiEdit" in twins and twin_name("MultiEdit") not in mapped:
            mapped.append(twin_name("MultiEdit"))
        return mapped

    return {
        a.name: AgentDefinition(
            description=a.description,
            prompt=a.system_text(),
            tools=tools_of(a),
            model=a.model or None,
        )
        for a in agents
    }


# ---- the plan -----------------------------------------------------------------------------------


def planning_prompt(agents: Sequence[Any], max_steps: int) -> str:
    lines = [
        "You plan work for llmos, an operating system whose CPU is a language model. Split the user's goal "
        f"into the fewest sub-goals (2 to {max_steps}) that can each be done on its own by one agent in the "
        "same working directory.",
        "Reply with JSON only, no prose and no code fence, in exactly this shape:",
        '{"subgoals": [{"id": "s1", "goal": "...", "agent": "...", "depends_on": []}]}',
        "Rules:",
        "- id: short and unique (s1, s2, ...).",
        "- goal: an imperative, self-contained instruction. Keep the user's own wording for each part (names, "
        "files, values); add no work the user did not ask for.",
        "- agent: exactly one of the names below.",
        "- depends_on: the ids whose results this sub-goal needs (files they create, findings they report); "
        "empty when it can start at once. No cycles.",
        "Agents:",
    ]
    for agent in agents:
        tools = f" (tools: {', '.join(agent.tools)})" if agent.tools else ""
        lines.append(f"- {agent.name}: {agent.description}{tools}")
    return "\n".join(lines)


def extract_json(text: str) -> Any:
    """The JSON value in a model answer: the whole text, a fenced block, or the outermost object."""
    stripped = (text or "").strip()
    if not stripped:
        raise ValueError("the answer is empty")
    fence = re.search(r"```(?:json)?\s*(.*?)```", stripped, re.DOTALL)
    if fence:
        stripped = fence.group(1).strip()
    try:
        return json.loads(stripped)
    except json.JSONDecodeError as first:
        start, end = stripped.find("{"), stripped.rfind("}")
        if 0 <= start < end:
            try:
                return json.loads(stripped[start : end + 1])
            except json.JSONDecodeError:
                pass
        raise ValueError(f"{first.msg} at line {first.lineno}, column {first.colno}") from None


def validate_plan(
    raw_text: str, agent_names: Iterable[str], *, goal: str = "", max_steps: int = DEFAULT_MAX_STEPS
) -> Plan | PlanError:
    """A Plan from the planner's answer, or a PlanError saying what is wrong with it."""
    raw = raw_text if isinstance(raw_text, str) else ""
    keep = raw[:2000]
    names = sorted(set(agent_names))
    try:
        data = extract_json(raw)
    except ValueError as exc:
        return PlanError(f"the plan is not valid JSON ({exc})", keep)
    items = _plan_items(data, max_steps)
    if isinstance(items, str):
        return PlanError(items, keep)
    subgoals: list[SubGoal] = []
    seen_goals: dict[str, str] = {}
    for n, item in enumerate(items, start=1):
        sub = _parse_subgoal(n, item, names)
        if isinstance(sub, str):
            return PlanError(sub, keep)
        key = sub.goal.casefold()
        if key in seen_goals:
            return PlanError(f"sub-goals {seen_goals[key]} and {sub.id} are the same goal", keep)
        seen_goals[key] = sub.id
        subgoals.append(sub)
    problem = _graph_problem(subgoals)
    if problem:
        return PlanError(problem, keep)
    return Plan(goal=goal, subgoals=subgoals)


def _plan_items(data: Any, max_steps: int) -> list[Any] | str:
    """The plan's list of sub-goals (a bare list, or ``{"subgoals": [...]}``), or what is wrong
    with it: none, one (nothing to orchestrate), more than *max_steps*."""
    items = data.get("subgoals") if isinstance(data, dict) else data
    if isinstance(data, dict) and items is None:
        return "the plan has no 'subgoals' list"
    if not isinstance(items, list):
        return "'subgoals' must be a list of sub-goals"
    if not items:
        return "the plan has no sub-goals"
    if len(items) == 1:
        return "the plan has a single sub-goal: there is nothing to orchestrate"
    if len(items) > max_steps:
        return (
            f"the plan has {len(items)} sub-goals; the limit is {max_steps} "
            f"(execution.orchestrator_max_steps)"
        )
    return items


def _parse_subgoal(n: int, item: Any, names: list[str]) -> SubGoal | str:
    """Sub-goal *n* of a plan, or what is wrong with it (its id, goal, agent or dependencies)."""
    where = f"sub-goal {n}"
    if not isinstance(item, dict):
        return f"{where} is not an object"
    missing = [k for k in ("id", "goal", "agent") if k not in item or item[k] in (None, "")]
    if missing:
        return f"{where} lacks {', '.join(repr(k) for k in missing)}"
    sid = item["id"]
    if isinstance(sid, int) and not isinstance(sid, bool):
        sid = str(sid)
    if not isinstance(sid, str) or not _ID_RE.fullmatch(sid.strip()):
        return f"{where} has an invalid id {item['id']!r} (letters, digits, '.', '_', '-')"
    sid = sid.strip()
    where = f"sub-goal {sid}"
    text = item["goal"]
    if not isinstance(text, str) or not re.search(r"\w", text):
        return f"{where}: 'goal' must be a non-empty instruction"
    text = " ".join(text.split())
    if len(text) > MAX_SUBGOAL_CHARS:
        return (
            f"{where}: the goal is too long ({len(text)} characters; the limit is "
            f"{MAX_SUBGOAL_CHARS})"
        )
    agent = item["agent"]
    if not isinstance(agent, str) or agent.strip() not in names:
        return f"{where} names an unknown agent {agent!r} (known: {', '.join(names) or 'none'})"
    deps = item.get("depends_on", [])
    if deps is None:
        deps = []
    if not isinstance(deps, list) or not all(
        isinstance(d, (str, int)) and not isinstance(d, bool) for d in deps
    ):
        return f"{where}: 'depends_on' must be a list of sub-goal ids"
    return SubGoal(sid, text, agent.strip(), tuple(dict.fromkeys(str(d).strip() for d in deps)))


def _graph_problem(subgoals: list[SubGoal]) -> str | None:
    """What is wrong with the plan's dependency graph: a duplicate id, an unknown dependency, a
    cycle (None when it is sound)."""
    ids = [s.id for s in subgoals]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        return f"duplicate sub-goal id(s): {', '.join(dupes)}"
    for sub in subgoals:
        for dep in sub.depends_on:
            if dep not in ids:
                return f"sub-goal {sub.id} depends on an unknown sub-goal {dep!r}"
    cycle = _find_cycle(subgoals)
    if cycle:
        return f"the plan has a dependency cycle: {' -> '.join(cycle)}"
    return None


def _find_cycle(subgoals: list[SubGoal]) -> list[str]:
    deps = {s.id: list(s.depends_on) for s in subgoals}
    state: dict[str, int] = {}  # 1 visiting, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for nxt in deps[node]:
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if state.get(nxt) is None:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return []

    for sub in subgoals:
        if state.get(sub.id) is None:
            found = visit(sub.id)
            if found:
                return found
    return []


def plan_goal(
    goal: str,
    agents: Sequence[Any],
    *,
    model: str,
    max_steps: int = DEFAULT_MAX_STEPS,
    timeout_s: float = CALL_TIMEOUT_S,
) -> PlanResult:
    """Ask the model for a plan (one call) and validate it. Never raises for a bad answer or a
    failed call: the result then has ``error`` (and the usage of whatever was answered)."""
    if not agents:
        return PlanResult(None, PlanError("no agents are defined (agents/*.md)"), Usage(model))
    try:
        text, usage = call_llm(
            model, planning_prompt(agents, max_steps), goal, PLAN_MAX_TOKENS, timeout_s
        )
    except LLMOSError as exc:
        return PlanResult(
            None, PlanError(f"the planning call cannot be made: {exc.message}"), Usage(model)
        )
    except Exception as exc:  # noqa: BLE001 - anthropic raises many error types; all mean "no plan"
        return PlanResult(
            None, PlanError(f"the planning call failed: {describe_error(exc)}"), Usage(model)
        )
    checked = validate_plan(text, [a.name for a in agents], goal=goal, max_steps=max_steps)
    if isinstance(checked, PlanError):
        return PlanResult(None, checked, usage, text)
    return PlanResult(checked, None, usage, text)


# ---- running the plan ------------------------------------------------------------------------------


def _context_for(sub: SubGoal, outcomes: dict[str, SubGoalOutcome]) -> str:
    parts = []
    for dep in sub.depends_on:
        done = outcomes[dep]
        output = (done.result.output if done.result else "") or "(no output)"
        if len(output) > CONTEXT_CHARS_EACH:
            output = output[: CONTEXT_CHARS_EACH - 1] + "…"
        parts.append(f"[{dep}] {done.subgoal.goal}\n{output}")
    if not parts:
        return ""
    text = "Results of the steps this one builds on:\n" + "\n\n".join(parts)
    return text if len(text) <= CONTEXT_CHARS else text[: CONTEXT_CHARS - 1] + "…"


def _retryable(result: RunResult) -> bool:
    if result.exit_code in _NO_RETRY:
        return False
    return not (result.error and "cancelled" in result.error)


def run_plan(
    plan: Plan,
    run_subgoal: Callable[[SubGoal], RunResult],
    *,
    max_parallel: int = DEFAULT_MAX_PARALLEL,
    budget_check: Callable[[], bool] = lambda: True,
    cancel: CancelToken | None = None,
    retries: int = DEFAULT_RETRIES,
    on_update: Callable[[str, SubGoalOutcome], None] | None = None,
) -> OrchestrationResult:
    """Run every sub-goal of ``plan`` (see the module docstring). Blocking; thread-safe callers only
    need ``run_subgoal`` to be safe to call from worker threads.

    ``on_update(event, outcome)`` is called from this thread with ``started``, ``retry``,
    ``succeeded``, ``failed``, ``skipped``, ``not_started`` or ``cancelled``.
    """
    if max_parallel < 1:
        raise OrchestrationError("max_parallel must be at least 1")
    run = _PlanRun(
        plan,
        run_subgoal,
        max_parallel=max_parallel,
        budget_check=budget_check,
        cancel=cancel,
        retries=retries,
        update=on_update or (lambda _e, _o: None),
    )
    with ThreadPoolExecutor(max_workers=max_parallel, thread_name_prefix="llmos-subgoal") as pool:
        while True:
            run.skip_blocked()
            if run.cancelled and not run.result.stopped:
                run.result.stopped = "cancelled"
            run.launch_ready(pool)
            if not run.running:
                run.close_pending()
                break
            finished, _ = wait(list(run.running), return_when=FIRST_COMPLETED)
            for future in sorted(finished, key=lambda f: run.position[run.running[f]]):
                run.settle(future)
    return run.result


_BAD = frozenset({FAILED, SKIPPED, NOT_STARTED, CANCELLED})  # a dependency that will not succeed


class _PlanRun:
    """The state of one ``run_plan``: the pending sub-goals, the ones running, their outcomes."""

    def __init__(
        self,
        plan: Plan,
        run_subgoal: Callable[[SubGoal], RunResult],
        *,
        max_parallel: int,
        budget_check: Callable[[], bool],
        cancel: CancelToken | None,
        retries: int,
        update: Callable[[str, SubGoalOutcome], None],
    ) -> None:
        self.run_subgoal = run_subgoal
        self.max_parallel = max_parallel
        self.budget_check = budget_check
        self.cancel = cancel
        self.retries = retries
        self.update = update
        self.outcomes = {s.id: SubGoalOutcome(s) for s in plan.subgoals}
        self.result = OrchestrationResult(plan, self.outcomes)
        self.position = {s.id: i for i, s in enumerate(plan.subgoals)}
        self.pending = [s.id for s in plan.subgoals]
        self.running: dict[Future[RunResult], str] = {}

    @property
    def cancelled(self) -> bool:
        return self.cancel is not None and self.cancel.cancelled

    def guarded(self, sub: SubGoal) -> RunResult:
        """The sub-goal's result; a sub-goal that raises (or returns nonsense) failed."""
        try:
            value = self.run_subgoal(sub)
        except Exception as exc:  # noqa: BLE001 - a crashing sub-goal is a failed sub-goal
            return RunResult(
                goal=sub.goal,
                mode=Mode.LEARNER,
                success=False,
                error=f"the sub-goal raised {type(exc).__name__}: {exc}",
                exit_code=int(ExitCode.GOAL_FAILED),
            )
        if not isinstance(value, RunResult):
            return RunResult(
                goal=sub.goal,
                mode=Mode.LEARNER,
                success=False,
                exit_code=int(ExitCode.GOAL_FAILED),
                error=f"the sub-goal returned {type(value).__name__}, not a RunResult",
            )
        return value

    def skip_blocked(self) -> None:
        """Sub-goals whose dependencies can no longer succeed are skipped (transitively)."""
        changed = True
        while changed:
            changed = False
            for sid in list(self.pending):
                done = self.outcomes[sid]
                failed_deps = [
                    d for d in done.subgoal.depends_on if self.outcomes[d].status in _BAD
                ]
                if failed_deps:
                    self.pending.remove(sid)
                    done.status = SKIPPED
                    done.reason = f"depends on {', '.join(failed_deps)}, which did not succeed"
                    self.finish(sid, SKIPPED)
                    changed = True

    def launch_ready(self, pool: ThreadPoolExecutor) -> None:
        """Start the pending sub-goals whose dependencies succeeded, up to ``max_parallel``, while
        the budget allows (else the run stops: ``budget``)."""
        for sid in list(self.pending):
            if len(self.running) >= self.max_parallel or self.result.stopped:
                break
            sub = self.outcomes[sid].subgoal
            if not all(self.outcomes[d].status == SUCCEEDED for d in sub.depends_on):
                continue
            if not self.budget_check():
                self.result.stopped = "budget"
                break
            self.pending.remove(sid)
            done = self.outcomes[sid]
            done.attempts += 1
            done.status = RUNNING
            done.started_at = done.started_at or time.time()
            launched = replace(sub, context=_context_for(sub, self.outcomes))
            self.running[pool.submit(self.guarded, launched)] = sid
            self.update("started", done)

    def close_pending(self) -> None:
        """Nothing runs and nothing can start: say why for each sub-goal still pending."""
        stopped = self.result.stopped
        for sid in list(self.pending):
            done = self.outcomes[sid]
            if done.attempts:  # it ran and failed; the retry could not start
                done.status = FAILED
                done.reason = f"{done.reason}; not retried ({stopped or 'stopped'})"
            elif stopped == "cancelled":
                done.status, done.reason = CANCELLED, "cancelled before it started"
            else:
                done.status = NOT_STARTED
                done.reason = (
                    "the budget ran out before it could start"
                    if stopped == "budget"
                    else "it could not start"
                )
            self.finish(sid, done.status)
        self.pending.clear()

    def settle(self, future: Future[RunResult]) -> None:
        """A sub-goal finished: it succeeded, goes back to pending for a retry, or failed."""
        sid = self.running.pop(future)
        done = self.outcomes[sid]
        run = future.result()
        done.results.append(run)
        if run.success:
            done.status, done.reason, done.finished_at = SUCCEEDED, "", time.time()
            self.finish(sid, SUCCEEDED)
            return
        why = run.error or "the sub-goal did not succeed"
        if done.attempts <= self.retries and _retryable(run) and not self.cancelled:
            done.status, done.reason = PENDING, f"attempt {done.attempts} failed: {why}"
            self.pending.append(sid)
            self.pending.sort(key=lambda i: self.position[i])
            self.update("retry", done)
            return
        done.status, done.finished_at = FAILED, time.time()
        done.reason = f"failed after {done.attempts} attempt(s): {why}"
        self.finish(sid, FAILED)

    def finish(self, sid: str, event: str) -> None:
        self.result.finished_order.append(sid)
        self.update(event, self.outcomes[sid])


# ---- the answer ------------------------------------------------------------------------------------


def summary_text(goal: str, result: OrchestrationResult) -> str:
    """A deterministic account of the run: what each sub-goal did (no LLM)."""
    total = len(result.plan.subgoals)
    ok = len(result.by_status(SUCCEEDED))
    lines = [f"{ok} of {total} sub-goals of {goal!r} succeeded."]
    if result.stopped == "budget":
        lines.append("The budget ran out before every sub-goal could start.")
    elif result.stopped == "cancelled":
        lines.append("The run was cancelled.")
    for sub in result.plan.subgoals:
        done = result.outcomes[sub.id]
        last = done.result
        head = f"- [{sub.id}] {sub.goal} ({sub.agent}): {done.status}"
        if last is not None:
            head += f", {last.mode}" + (f", trace {last.trace_id}" if last.trace_id else "")
        lines.append(head)
        if done.status == SUCCEEDED and last is not None and last.output:
            out = " ".join(last.output.split())
            lines.append("  " + (out if len(out) <= 300 else out[:299] + "…"))
        elif done.reason:
            lines.append(f"  {done.reason}")
    return "\n".join(lines)


def synthesis_prompt(goal: str, result: OrchestrationResult) -> str:
    parts = [f"The user's goal: {goal}", "", "The sub-goals and their results:"]
    used = 0
    for sub in result.plan.subgoals:
        done = result.outcomes[sub.id]
        output = (done.result.output if done.result else "") or ""
        if len(output) > SYNTHESIS_RESULT_CHARS:
            output = output[: SYNTHESIS_RESULT_CHARS - 1] + "…"
        if used + len(output) > SYNTHESIS_TOTAL_CHARS:
            output = "(left out: the results are too long)"
        used += len(output)
        parts.append(
            f"[{sub.id}] {sub.goal} (agent {sub.agent}) -> {done.status}"
            + (f": {done.reason}" if done.status != SUCCEEDED and done.reason else "")
        )
        if output:
            parts.append(output)
        parts.append("")
    return "\n".join(parts).strip()


SYNTHESIS_SYSTEM = (
    "You combine the results of the sub-goals of a plan into one answer to the user's goal. "
    "Be concise and concrete: what was done, where the results are (files), what the findings "
    "are, and plainly what failed or was skipped. Do not invent results that are not in the input."
)


def synthesize(
    goal: str,
    plan: Plan,
    result: OrchestrationResult,
    *,
    model: str,
    timeout_s: float = CALL_TIMEOUT_S,
) -> tuple[str, Usage]:
    """One answer from the sub-results (one call); the deterministic summary if it fails or if no
    sub-goal succeeded (then no call is made)."""
    if not result.by_status(SUCCEEDED):
        return summary_text(goal, result), Usage(model)
    try:
        text, usage = call_llm(
            model, SYNTHESIS_SYSTEM, synthesis_prompt(goal, result), SYNTHESIS_MAX_TOKENS, timeout_s
        )
    except Exception:  # noqa: BLE001 - any failure: the deterministic summary is the answer
        return summary_text(goal, result), Usage(model)
    if not text.strip():
        return summary_text(goal, result), usage
    return text.strip(), usage


# ---- the orchestration's own trace --------------------------------------------------------------------


def trace_calls(result: OrchestrationResult) -> list[dict[str, Any]]:
    """The tool calls of the succeeded sub-goals, in the order they finished, in the shape the
    ``modes.record.record_trace`` takes (``{"name", "input", "tool_use_id", "result": {...}}``).

    Recorded as the ORCHESTRATOR run's trace, they let a later run of the same multi-step goal
    replay everything as FOLLOWER. Calls the policy denied are left out (their sub-goal failed).
    """
    calls: list[dict[str, Any]] = []
    for sid in result.finished_order:
        done = result.outcomes[sid]
        if done.status != SUCCEEDED or done.result is None:
            continue
        for n, call in enumerate(done.result.tool_calls):
            if not isinstance(call, dict) or "name" not in call or call.get("decision") == "deny":
                continue
            calls.append(
                {
                    "name": call["name"],
                    "input": call.get("input") or {},
                    "tool_use_id": f"{sid}_{n + 1}",
                    "result": {
                        "is_error": bool(call.get("is_error", False)),
                        "summary": call.get("summary", ""),
                        "exit_code": call.get("exit_code"),
                        "files_created": list(call.get("files_created") or []),
                        "decision": call.get("decision") or "allow",
                        "subgoal": sid,
                    },
                }
            )
    return calls
