"""The LEARNER session's hooks, called directly (``LearnerSession``): no model server, no CLI.

The end-to-end behaviour (the real SDK/CLI against the scripted server) is in test_learner.py,
test_mixed.py and test_attacks.py; these tests pin each hook's own contract.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from llmos_tui.execution.llm.session import (
    CLI_REJECTED_RULE,
    SILENCE_REPORT_S,
    LearnerSession,
    SessionRequest,
)
from llmos_tui.execution.replay.hooks import (
    DECLINED_RULE,
    UNCONFIRMED_RULE,
    WITHHELD_RULE,
    HookRegistry,
    HookVerdict,
    ToolOutcome,
)
from llmos_tui.runs import Notice, ServerTrouble, TextDelta, ToolCallFinished, ToolCallStarted


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make(
    tmp_path: Path,
    *,
    pre: Any = None,
    confirm: Any = None,
    assume_yes: bool = False,
    tools: tuple[str, ...] = ("Read", "Write", "Bash"),
    **request: Any,
) -> tuple[LearnerSession, list[Any], list[tuple[str, dict[str, Any], str, ToolOutcome]], Clock]:
    hooks = HookRegistry()
    hooks.add_pre(pre or (lambda name, tool_input, tid: None))
    posted: list[tuple[str, dict[str, Any], str, ToolOutcome]] = []
    hooks.add_post(
        lambda name, tool_input, tid, outcome: posted.append((name, tool_input, tid, outcome))
    )
    events: list[Any] = []
    clock = Clock()
    req = SessionRequest(
        prompt="do it",
        cwd=tmp_path,
        model="claude-test",
        claude_config_dir=tmp_path / "cfg",
        tools=list(tools),
        **request,
    )
    session = LearnerSession(
        req,
        hooks,
        on_event=events.append,
        confirm=confirm,
        assume_yes=assume_yes,
        clock=clock,
    )
    return session, events, posted, clock


def deny_writes(name: str, tool_input: dict[str, Any], tid: str) -> HookVerdict | None:
    if name == "Write":
        return HookVerdict("deny", "no writes here", "test.no_writes")
    return None


def test_decide_allows_and_shows_the_call_once(tmp_path: Path) -> None:
    session, events, _posted, _clock = make(tmp_path)
    first = session.decide("Read", {"file_path": "a.txt"}, "t1")
    again = session.decide("Read", {"file_path": "a.txt"}, "t1")  # the permission callback
    assert first.decision == "allow" and again is first
    assert [e for e in events if isinstance(e, ToolCallStarted)] == [
        ToolCallStarted("t1", "Read", {"file_path": "a.txt"}, "allow", "no hook objected")
    ]
    assert session.busy == {"t1"}  # a running tool: the server is not being waited on
    assert session.outcome.blocked == []


def test_decide_records_a_policy_block(tmp_path: Path) -> None:
    session, events, _posted, _clock = make(tmp_path, pre=deny_writes)
    verdict = session.decide("Write", {"file_path": "x", "content": "y"}, "t2")
    assert verdict == HookVerdict("deny", "no writes here", "test.no_writes")
    [blocked] = session.outcome.blocked
    assert blocked["name"] == "Write" and blocked["rule"] == "test.no_writes"
    assert blocked["tool_use_id"] == "t2" and blocked["seq"] > 0
    assert events[-1].decision == "deny"
    assert session.busy == set()


def test_an_ask_headless_is_denied_and_a_declined_ask_is_the_users_no(tmp_path: Path) -> None:
    def ask(name: str, tool_input: dict[str, Any], tid: str) -> HookVerdict:
        return HookVerdict("ask", "writes outside", "test.ask")

    headless, _e, _p, _c = make(tmp_path, pre=ask)
    assert headless.decide("Write", {}, "t1").rule == UNCONFIRMED_RULE
    asked: list[str] = []
    declined, _e, _p, _c = make(tmp_path, pre=ask, confirm=lambda n, i, r: asked.append(n) or False)
    assert declined.decide("Write", {}, "t1").rule == DECLINED_RULE and asked == ["Write"]
    yes, _e, _p, _c = make(tmp_path, pre=ask, assume_yes=True)
    assert yes.decide("Write", {}, "t1").decision == "allow"


def test_pre_tool_answers_the_cli_and_fails_closed(tmp_path: Path) -> None:
    session, _events, _posted, _clock = make(tmp_path, pre=deny_writes)
    answer = asyncio.run(
        session.pre_tool({"tool_name": "Write", "tool_input": {"file_path": "x"}}, "t3", None)
    )
    assert answer["hookSpecificOutput"]["permissionDecision"] == "deny"
    assert answer["hookSpecificOutput"]["permissionDecisionReason"] == "no writes here"
    # input that is not a mapping makes the hook fail: the call is denied, never allowed
    broken = asyncio.run(session.pre_tool({"tool_name": "Read", "tool_input": "abc"}, "t4", None))
    assert broken["hookSpecificOutput"]["permissionDecision"] == "deny"
    assert "policy failed" in broken["hookSpecificOutput"]["permissionDecisionReason"]


def test_post_tool_records_the_call_and_ends_its_busy_time(tmp_path: Path) -> None:
    session, events, posted, clock = make(tmp_path)
    session.decide("Bash", {"command": "true"}, "t5")
    clock.now += 5
    asyncio.run(
        session.post_tool(
            {"tool_name": "Bash", "tool_input": {"command": "true"}, "tool_response": {}},
            "t5",
            None,
        )
    )
    [(name, tool_input, tid, outcome)] = posted
    assert (name, tool_input, tid) == ("Bash", {"command": "true"}, "t5")
    assert outcome.exit_code == 0 and not outcome.is_error  # PostToolUse: the command exited 0
    assert session.busy == set() and session.heard_at == clock.now
    assert isinstance(events[-1], ToolCallFinished) and not events[-1].is_error


def test_post_tool_failure_reads_the_exit_code(tmp_path: Path) -> None:
    session, events, posted, _clock = make(tmp_path)
    asyncio.run(
        session.post_tool_failure(
            {"tool_name": "Bash", "tool_input": {"command": "false"}, "error": "Exit code 3\nboom"},
            "t6",
            None,
        )
    )
    outcome = posted[0][3]
    assert outcome.is_error and outcome.exit_code == 3 and outcome.summary == "Exit code 3 boom"
    assert events[-1] == ToolCallFinished("t6", "Bash", True, "Exit code 3 boom")


def test_post_tool_replaces_an_mcp_output_and_keeps_it_when_the_replacer_fails(
    tmp_path: Path,
) -> None:
    def replace(name: str, tool_input: dict[str, Any], response: Any) -> Any:
        if name == "broken":
            raise RuntimeError("no")
        return [{"type": "text", "text": "short"}]

    session, _events, _posted, _clock = make(tmp_path, post_tool_output=replace)
    answer = asyncio.run(
        session.post_tool({"tool_name": "mcp__x", "tool_response": "long"}, "t7", None)
    )
    assert answer["hookSpecificOutput"]["updatedMCPToolOutput"] == [
        {"type": "text", "text": "short"}
    ]
    assert asyncio.run(session.post_tool({"tool_name": "broken"}, "t8", None)) == {}


def test_prompt_submit_adds_the_prompt_hooks_context(tmp_path: Path) -> None:
    session, _events, _posted, _clock = make(tmp_path)
    assert asyncio.run(session.prompt_submit({"prompt": "hi"}, None, None)) == {}
    session.hooks.add_prompt(lambda prompt: f"memory for {prompt}")
    answer = asyncio.run(session.prompt_submit({"prompt": "hi"}, None, None))
    assert answer["hookSpecificOutput"]["additionalContext"] == "memory for hi"


def test_a_call_to_a_tool_not_offered_is_withheld(tmp_path: Path) -> None:
    session, events, _posted, _clock = make(tmp_path, tools=("Read",))
    session.on_tool_use("t9", "Bash", {"command": "ls"})
    session.on_tool_use("t10", "Read", {"file_path": "a"})
    [blocked] = session.outcome.blocked
    assert blocked["rule"] == WITHHELD_RULE and blocked["name"] == "Bash"
    assert events == [ToolCallStarted("t9", "Bash", {"command": "ls"}, "deny", blocked["reason"])]
    assert set(session.uses) == {"t10"}
    session.reject("t10", "invalid input")  # the CLI answered it with an error itself
    [rejected] = session.outcome.rejected
    assert rejected["rule"] == CLI_REJECTED_RULE and rejected["reason"] == "invalid input"
    assert events[-1] == ToolCallFinished("t10", "Read", True, "rejected: invalid input")


def test_the_server_watch_reports_silence_and_gives_up(tmp_path: Path) -> None:
    session, events, _posted, clock = make(tmp_path, server_timeout_s=30.0)
    clock.now += SILENCE_REPORT_S
    assert session.check_server()
    [trouble] = events
    assert isinstance(trouble, ServerTrouble) and trouble.error == "no answer yet"
    session.busy.add("t1")  # a tool runs: its time is not the server's
    clock.now += 60
    assert session.check_server() and session.heard_at == clock.now
    session.busy.clear()
    clock.now += 30
    assert not session.check_server() and session.gave_up
    outcome = session.finish()
    assert not outcome.success and "did not answer for 30 s" in (outcome.error or "")


def test_finish_shows_unstreamed_text_once(tmp_path: Path) -> None:
    session, events, _posted, _clock = make(tmp_path)
    session.outcome.success = True
    session.final_texts.append("done")
    outcome = session.finish()
    assert outcome.text == "done" and events == [TextDelta("done")]
    assert not any(isinstance(e, Notice) for e in events)
