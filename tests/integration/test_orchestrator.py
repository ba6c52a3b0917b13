"""ORCHESTRATOR: plan validation, running a plan (order, concurrency, retry, skip, budget), the
planning and synthesis calls through the anthropic SDK against the scripted server, and a plan
whose first sub-goal replays through the real kernel with zero requests."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from llmos_tui.devtools.scripted_server import ScriptedServer, error_turn, text_turn, tool_turn
from llmos_tui.execution.llm.pricing import price
from llmos_tui.execution.llm.orchestrator import (
    CANCELLED,
    FAILED,
    NOT_STARTED,
    SKIPPED,
    SUCCEEDED,
    Plan,
    PlanError,
    SubGoal,
    agent_definitions,
    available_agents,
    plan_goal,
    run_plan,
    summary_text,
    synthesize,
    trace_calls,
    validate_plan,
)
from llmos_tui.exitcodes import ExitCode
from llmos_tui.runs import CancelToken, RunResult
from llmos_tui.workspace import template_dir

AGENTS = ["researcher", "system-agent", "writer"]


def plan_json(*subgoals: tuple) -> str:
    return json.dumps(
        {
            "subgoals": [
                {"id": i, "goal": g, "agent": a, "depends_on": list(d)} for i, g, a, d in subgoals
            ]
        }
    )


def ok(sub: SubGoal, output: str = "", calls: list | None = None) -> RunResult:
    return RunResult(
        goal=sub.goal,
        mode="LEARNER",
        success=True,
        output=output or f"did {sub.id}",
        trace_id=f"t_{sub.id}",
        tool_calls=calls or [],
    )


def failed(sub: SubGoal, code: int = int(ExitCode.GOAL_FAILED)) -> RunResult:
    return RunResult(
        goal=sub.goal, mode="LEARNER", success=False, error=f"{sub.id} broke", exit_code=code
    )


# ---- validation --------------------------------------------------------------------------------


def test_a_valid_plan_is_accepted_in_plain_or_fenced_json() -> None:
    text = plan_json(
        ("s1", "Research AI trends in the notes folder", "researcher", []),
        ("s2", "Write report.md from the findings", "writer", ["s1"]),
        ("s3", "Count the notes", "system-agent", []),
    )
    plan = validate_plan(text, AGENTS, goal="Research AI trends and write a report")
    assert isinstance(plan, Plan) and [s.id for s in plan.subgoals] == ["s1", "s2", "s3"]
    assert plan.get("s2").depends_on == ("s1",) and plan.order() == ["s1", "s2", "s3"]
    fenced = validate_plan("Here is the plan:\n```json\n" + text + "\n```\nGood luck!", AGENTS)
    assert isinstance(fenced, Plan) and len(fenced.subgoals) == 3
    bare = validate_plan(
        json.loads(text)["subgoals"] and json.dumps(json.loads(text)["subgoals"]), AGENTS
    )
    assert isinstance(bare, Plan)


@pytest.mark.parametrize(
    "text, reason",
    [
        ("I think you should first research, then write.", "not valid JSON"),
        ("", "not valid JSON"),
        ('{"steps": []}', "no 'subgoals' list"),
        ('{"subgoals": []}', "no sub-goals"),
        (plan_json(("s1", "Do it", "writer", [])), "single sub-goal"),
        (
            plan_json(("s1", "Research", "researcher", []), ("s2", "Code it", "coder", [])),
            "unknown agent 'coder'",
        ),
        (
            '{"subgoals": [{"id": "s1", "goal": "Research"}, {"id": "s2", "goal": "Write", "agent": "writer"}]}',
            "sub-goal 1 lacks 'agent'",
        ),
        (
            plan_json(("s1", "Research", "researcher", []), ("s1", "Write", "writer", [])),
            "duplicate sub-goal id(s): s1",
        ),
        (
            plan_json(("s1", "Research", "researcher", []), ("s2", "Write", "writer", ["s9"])),
            "unknown sub-goal 's9'",
        ),
        (
            plan_json(
                ("a", "Research", "researcher", ["c"]),
                ("b", "Write", "writer", ["a"]),
                ("c", "Check", "writer", ["b"]),
            ),
            "dependency cycle: a -> c -> b -> a",
        ),
        (
            plan_json(("s1", "Research", "researcher", ["s1"]), ("s2", "Write", "writer", [])),
            "dependency cycle: s1 -> s1",
        ),
        (
            plan_json(*[(f"s{i}", f"Step number {i}", "writer", []) for i in range(9)]),
            "9 sub-goals; the limit is 8",
        ),
        (
            plan_json(("s1", "Write it", "writer", []), ("s2", "write  IT", "writer", [])),
            "same goal",
        ),
        (
            '{"subgoals": [{"id": "s1", "goal": "A", "agent": "writer", "depends_on": "s2"}, '
            '{"id": "s2", "goal": "B", "agent": "writer"}]}',
            "'depends_on' must be a list",
        ),
        (
            '{"subgoals": [{"id": "bad id!", "goal": "A", "agent": "writer"}, {"id": "s2", "goal": "B", "agent": "writer"}]}',
            "invalid id",
        ),
    ],
)
def test_bad_plans_are_rejected_with_a_clear_reason(text: str, reason: str) -> None:
    checked = validate_plan(text, AGENTS)
    assert isinstance(checked, PlanError), checked
    assert reason in checked.reason


# ---- running a plan ------------------------------------------------------------------------------


def test_dependencies_come_first_and_independent_subgoals_run_concurrently() -> None:
    plan = validate_plan(
        plan_json(
            ("a", "Fetch A", "researcher", []),
            ("b", "Fetch B", "researcher", []),
            ("c", "Merge A and B", "writer", ["a", "b"]),
        ),
        AGENTS,
    )
    barrier = threading.Barrier(2, timeout=5)  # a and b must be running at the same time
    log: list[str] = []
    seen: dict[str, SubGoal] = {}

    def run(sub: SubGoal) -> RunResult:
        seen[sub.id] = sub
        log.append(f"start {sub.id}")
        if sub.id in ("a", "b"):
            barrier.wait()
        log.append(f"end {sub.id}")
        return ok(sub, output=f"result of {sub.id}")

    result = run_plan(plan, run, max_parallel=2)
    assert result.success and not result.stopped
    assert log.index("start c") > max(log.index("end a"), log.index("end b"))
    assert (
        "result of a" in seen["c"].context
        and "result of b" in seen["c"].context
        and seen["a"].context == ""
    )
    assert seen["c"].goal == "Merge A and B"  # the goal text itself is untouched
    assert result.finished_order[-1] == "c"


def test_a_failed_subgoal_is_retried_once_then_reported_and_the_rest_is_not_lost() -> None:
    plan = validate_plan(
        plan_json(
            ("a", "Build it", "system-agent", []),
            ("b", "Document it", "writer", ["a"]),
            ("c", "Unrelated cleanup", "system-agent", []),
        ),
        AGENTS,
    )
    calls: list[str] = []

    def run(sub: SubGoal) -> RunResult:
        calls.append(sub.id)
        return failed(sub) if sub.id == "a" else ok(sub)

    events: list[tuple[str, str]] = []
    result = run_plan(
        plan, run, max_parallel=1, on_update=lambda e, o: events.append((e, o.subgoal.id))
    )
    assert calls.count("a") == 2 and "b" not in calls and calls.count("c") == 1
    a, b, c = (result.outcomes[i] for i in "abc")
    assert (a.status, a.attempts, len(a.results)) == (FAILED, 2, 2) and "a broke" in a.reason
    assert b.status == SKIPPED and "depends on a" in b.reason
    assert c.status == SUCCEEDED and c.result.trace_id == "t_c"
    assert not result.success and ("retry", "a") in events and ("skipped", "b") in events
    text = summary_text("Build, document, clean", result)
    assert "1 of 3 sub-goals" in text and "[a]" in text and "failed after 2 attempt(s)" in text


def test_retry_succeeds_and_a_crash_counts_as_a_failed_attempt() -> None:
    plan = validate_plan(
        plan_json(("a", "Flaky step", "system-agent", []), ("b", "Next", "writer", ["a"])), AGENTS
    )
    attempts = {"a": 0}

    def run(sub: SubGoal) -> RunResult:
        if sub.id == "a":
            attempts["a"] += 1
            if attempts["a"] == 1:
                raise RuntimeError("network hiccup")
        return ok(sub)

    result = run_plan(plan, run)
    assert result.success and result.outcomes["a"].attempts == 2
    assert "RuntimeError: network hiccup" in result.outcomes["a"].results[0].error


def test_no_retry_when_the_budget_is_gone_and_no_launch_without_budget() -> None:
    plan = validate_plan(
        plan_json(
            ("a", "One", "writer", []), ("b", "Two", "writer", []), ("c", "Three", "writer", [])
        ),
        AGENTS,
    )
    ran: list[str] = []

    def run(sub: SubGoal) -> RunResult:
        ran.append(sub.id)
        return failed(sub, int(ExitCode.BUDGET_EXHAUSTED)) if sub.id == "a" else ok(sub)

    budget = iter([True, True, False, False, False])
    result = run_plan(plan, run, max_parallel=1, budget_check=lambda: next(budget, False))
    assert ran == ["a", "b"]  # a is not retried (exit 4), c never starts
    assert result.outcomes["a"].status == FAILED and result.outcomes["a"].attempts == 1
    assert result.outcomes["c"].status == NOT_STARTED and "budget" in result.outcomes["c"].reason
    assert result.stopped == "budget"


def test_cancel_stops_launching() -> None:
    plan = validate_plan(
        plan_json(("a", "One", "writer", []), ("b", "Two", "writer", ["a"])), AGENTS
    )
    token = CancelToken()

    def run(sub: SubGoal) -> RunResult:
        token.cancel()
        return ok(sub)

    result = run_plan(plan, run, cancel=token)
    assert result.outcomes["a"].status == SUCCEEDED and result.outcomes["b"].status == CANCELLED
    assert result.stopped == "cancelled"


def test_trace_calls_flatten_succeeded_subgoals_in_finish_order() -> None:
    plan = validate_plan(
        plan_json(
            ("a", "Write calc", "system-agent", []), ("b", "Run calc", "system-agent", ["a"])
        ),
        AGENTS,
    )
    calls = {
        "a": [
            {
                "name": "Write",
                "input": {"file_path": "/w/calc.py", "content": "x"},
                "is_error": False,
                "summary": "create",
                "files_created": ["calc.py"],
                "decision": "allow",
            }
        ],
        "b": [
            {
                "name": "Bash",
                "input": {"command": "rm -rf /"},
                "is_error": True,
                "decision": "deny",
            },
            {
                "name": "Bash",
                "input": {"command": "python3 calc.py"},
                "is_error": False,
                "exit_code": 0,
                "summary": "5",
                "decision": "allow",
            },
        ],
    }
    result = run_plan(plan, lambda sub: ok(sub, calls=calls[sub.id]))
    flat = trace_calls(result)
    assert [(c["name"], c["result"]["subgoal"]) for c in flat] == [("Write", "a"), ("Bash", "b")]
    assert (
        flat[1]["input"] == {"command": "python3 calc.py"} and flat[1]["result"]["exit_code"] == 0
    )
    assert flat[0]["result"]["files_created"] == ["calc.py"]


# ---- agents --------------------------------------------------------------------------------------


def test_markdown_agents_become_agent_definitions(tmp_path: Path) -> None:
    from claude_agent_sdk import AgentDefinition

    agents, problems = available_agents(template_dir() / "agents")
    assert [a.name for a in agents] == AGENTS and problems == []
    defs = agent_definitions(agents, offered=["Read", "Write", "Edit", "MultiEdit", "Glob"])
    assert isinstance(defs["writer"], AgentDefinition)
    # A sub-agent's file tools are llmos's twins (the CLI runs none itself), MultiEdit coming with Edit.
    assert (
        defs["writer"].tools
        == [
            "mcp__llmos__Read",
            "mcp__llmos__Write",
            "mcp__llmos__Edit",
            "mcp__llmos__Glob",
            "mcp__llmos__MultiEdit",
        ]
        and defs["writer"].model == "claude-sonnet-4-5"
    )
    # Only the twins the session offers: a withheld tool is not given to sub-agents either.
    assert agent_definitions(agents, offered=["Read"])["writer"].tools == ["mcp__llmos__Read"]
    assert "Constraints:" in defs["researcher"].prompt and defs[
        "researcher"
    ].description.startswith("Gathers")
    (tmp_path / "broken.md").write_text("---\nname: broken\n---\n")
    (tmp_path / "ok.md").write_text("---\nname: ok\ndescription: fine\n---\nDo things.\n")
    agents, problems = available_agents(tmp_path)
    assert (
        [a.name for a in agents] == ["ok"] and len(problems) == 1 and "description" in problems[0]
    )


def test_price_follows_the_model_tier() -> None:
    assert price("claude-sonnet-4-5", 1_000_000, 0) == 3.0
    assert price("claude-haiku-4-5-20251001", 0, 1_000_000) == 5.0
    assert price("claude-opus-4-1", 1_000_000, 0) == 15.0
    assert price("some-sonnet-model", 1_000_000, 1_000_000) == 18.0
    assert price("claude-scripted", 1_000_000, 0) == 3.0


# ---- the planning and synthesis calls (anthropic SDK over HTTP) ----------------------------------------


def template_agents() -> list:
    return available_agents(template_dir() / "agents")[0]


@pytest.mark.llm
def test_plan_goal_asks_once_and_returns_plan_and_usage(llm_env: ScriptedServer) -> None:
    answer = plan_json(
        ("s1", "Research AI trends in notes/", "researcher", []),
        ("s2", "Write report.md from the findings", "writer", ["s1"]),
    )
    llm_env.add_turns(text_turn(answer))
    result = plan_goal(
        "Research AI trends and write a report", template_agents(), model="claude-sonnet-4-5"
    )
    assert result.ok and [s.agent for s in result.plan.subgoals] == ["researcher", "writer"]
    assert llm_env.main_request_count == 1
    request = llm_env.main_requests[0]
    assert (
        "researcher: Gathers" in request.system
        and request.messages[0]["content"] == "Research AI trends and write a report"
    )
    assert (result.usage.input_tokens, result.usage.output_tokens) == (
        request.input_tokens,
        request.output_tokens,
    )
    assert result.usage.cost_usd == pytest.approx(
        price("claude-sonnet-4-5", request.input_tokens, request.output_tokens)
    )


@pytest.mark.llm
def test_a_bad_plan_or_a_failed_call_is_an_error_not_an_exception(llm_env: ScriptedServer) -> None:
    llm_env.add_turns(
        text_turn(
            '{"subgoals": [{"id": "s1", "goal": "x", "agent": "hacker"}, '
            '{"id": "s2", "goal": "y", "agent": "writer"}]}'
        ),
        error_turn(
            400,
            {"type": "error", "error": {"type": "invalid_request_error", "message": "bad model"}},
        ),
    )
    bad = plan_goal("Research and write", template_agents(), model="claude-sonnet-4-5")
    assert (
        not bad.ok and "unknown agent 'hacker'" in bad.error.reason and bad.usage.input_tokens > 0
    )
    broken = plan_goal("Research and write", template_agents(), model="claude-sonnet-4-5")
    assert not broken.ok and "HTTP 400" in broken.error.reason and broken.usage.input_tokens == 0


def test_without_any_llm_configured_planning_says_so() -> None:
    result = plan_goal("Research and write", template_agents(), model="claude-sonnet-4-5")
    assert not result.ok and "cannot be made" in result.error.reason


@pytest.mark.llm
def test_synthesis_combines_results_or_falls_back_to_a_summary(llm_env: ScriptedServer) -> None:
    plan = validate_plan(
        plan_json(("s1", "Research", "researcher", []), ("s2", "Write", "writer", ["s1"])),
        AGENTS,
        goal="Research and write",
    )
    result = run_plan(plan, lambda sub: ok(sub, output=f"output of {sub.id}"))
    llm_env.add_turns(text_turn("Researched and wrote report.md."), error_turn(400))
    text, usage = synthesize("Research and write", plan, result, model="claude-haiku-4-5")
    assert text == "Researched and wrote report.md." and usage.llm_calls == 1
    prompt = llm_env.main_requests[0].messages[0]["content"]
    assert "output of s1" in prompt and "[s2] Write (agent writer) -> succeeded" in prompt
    text, usage = synthesize("Research and write", plan, result, model="claude-haiku-4-5")
    assert text.startswith("2 of 2 sub-goals") and usage.llm_calls == 0
    nothing = run_plan(plan, lambda sub: failed(sub, int(ExitCode.USAGE)))
    before = llm_env.request_count
    text, usage = synthesize("Research and write", plan, nothing, model="claude-haiku-4-5")
    assert (
        text.startswith("0 of 2") and llm_env.request_count == before
    )  # nothing to combine: no call


# ---- with the real kernel -------------------------------------------------------------------------------


@pytest.mark.llm
def test_a_subgoal_seen_before_replays_with_zero_requests(
    llm_env: ScriptedServer, tmp_path: Path
) -> None:
    from llmos_tui.kernel import LLMOS, RunOptions

    first, work = tmp_path / "first", tmp_path / "work"
    first.mkdir(), work.mkdir()
    kernel = LLMOS.boot(tmp_path / "ws")
    calc = "import sys\nprint(eval(sys.argv[1]) if len(sys.argv) > 1 else 'calc ready')\n"
    llm_env.add_turns(
        tool_turn("Write", {"file_path": str(first / "calc.py"), "content": calc}),
        text_turn("Created calc.py"),
    )
    learned = kernel.execute("Create a Python calculator", options=RunOptions(cwd=first))
    assert learned.success and learned.mode == "LEARNER", learned.error

    goal = "Create a Python calculator, then write a README for it"
    llm_env.add_turns(
        text_turn(
            plan_json(
                ("s1", "Create a Python calculator", "system-agent", []),
                ("s2", "Write README.md describing calc.py", "writer", ["s1"]),
            )
        )
    )
    planned = plan_goal(goal, template_agents(), model=kernel.config.model)
    assert planned.ok, planned.error

    requests: dict[str, int] = {}

    def run_subgoal(sub: SubGoal) -> RunResult:
        before = llm_env.main_request_count
        outcome = kernel.execute(sub.goal, options=RunOptions(cwd=work, mode="auto"))
        requests[sub.id] = llm_env.main_request_count - before
        return outcome

    llm_env.add_turns(
        tool_turn("Write", {"file_path": str(work / "README.md"), "content": "# Calculator\n"}),
        text_turn("Wrote README.md"),
    )
    result = run_plan(
        planned.plan, run_subgoal, max_parallel=2, budget_check=lambda: kernel.economy.balance() > 0
    )
    assert result.success, summary_text(goal, result)
    s1, s2 = result.outcomes["s1"].result, result.outcomes["s2"].result
    assert s1.mode == "FOLLOWER" and s1.trace_id == learned.trace_id and requests["s1"] == 0
    assert (s1.llm_calls, s1.cost_usd) == (0, 0)
    assert s2.mode == "LEARNER" and requests["s2"] >= 1
    assert (work / "calc.py").read_text() == calc and (
        work / "README.md"
    ).read_text() == "# Calculator\n"
    assert [c["name"] for c in trace_calls(result)] == ["Write", "Write"]


def test_a_failed_subgoal_whose_retry_cannot_start_is_reported_failed() -> None:
    plan = validate_plan(plan_json(("a", "One", "writer", []), ("b", "Two", "writer", [])), AGENTS)
    budget = iter([True, True])  # a and b start; a's retry finds no budget
    result = run_plan(
        plan,
        lambda sub: failed(sub) if sub.id == "a" else ok(sub),
        max_parallel=2,
        budget_check=lambda: next(budget, False),
    )
    a = result.outcomes["a"]
    assert (a.status, a.attempts) == (FAILED, 1) and "not retried (budget)" in a.reason
    assert result.outcomes["b"].status == SUCCEEDED


@pytest.mark.llm
def test_agent_definitions_reach_the_cli_as_subagents(
    llm_env: ScriptedServer, tmp_path: Path
) -> None:
    import asyncio

    from claude_agent_sdk import ClaudeAgentOptions, ClaudeSDKClient

    llm_env.add_turns(
        tool_turn(
            "Agent",
            {
                "description": "research",
                "prompt": "Find AI trends in notes/",
                "subagent_type": "researcher",
            },
        ),
        text_turn("No notes found."),
        text_turn("Done."),
    )
    options = ClaudeAgentOptions(
        cwd=str(tmp_path),
        model="claude-sonnet-4-5",
        tools=["Read", "Glob", "Grep", "Agent"],
        agents=agent_definitions(template_agents()),
        setting_sources=[],
        max_turns=4,
        permission_mode="default",
        allowed_tools=["Agent", "Read", "Glob", "Grep"],
        env={"CLAUDE_CONFIG_DIR": str(tmp_path / "cfg")},
    )

    async def drive() -> None:
        async with ClaudeSDKClient(options=options) as client:
            await client.query("Research AI trends")
            async for _message in client.receive_response():
                pass

    asyncio.run(asyncio.wait_for(drive(), 60))
    subagent = [r for r in llm_env.main_requests if "You are a careful researcher" in r.system]
    assert len(subagent) == 1, [r.system[-200:] for r in llm_env.main_requests]
    assert "Agent" not in subagent[0].tools and "Find AI trends in notes/" in json.dumps(
        subagent[0].messages
    )
    assert "Cite the file and line" in subagent[0].system  # the constraints came along
