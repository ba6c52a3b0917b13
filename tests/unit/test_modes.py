"""The mode runners' own pieces (llmos_tui/modes/), called directly: how a LEARNER session's calls
are captured and judged, what MIXED shows the model. The runs themselves go through the scripted
model server in test_learner.py, test_mixed.py and test_follower.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmos_tui.execution.replay.hooks import (
    BUDGET_RULE,
    DECLINED_RULE,
    REJECTED,
    WITHHELD_RULE,
    ToolOutcome,
)
from llmos_tui.exitcodes import ExitCode
from llmos_tui.learning.traces import ToolCall
from llmos_tui.modes.learner import CallCapture, call_target, judge, refused_calls
from llmos_tui.modes.guide import mixed_examples, mixed_tools
from llmos_tui.runs import RunResult


@dataclass
class Outcome:
    success: bool = True
    blocked: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)


def blocked(rule: str, name: str = "Bash", reason: str = "no", **tool_input: Any) -> dict[str, Any]:
    return {
        "name": name,
        "input": tool_input or {"command": "rm -rf x"},
        "tool_use_id": f"t_{rule}",
        "reason": reason,
        "rule": rule,
        "seq": 1,
    }


def result() -> RunResult:
    return RunResult(goal="g", mode="LEARNER", success=True)


def test_capture_records_created_files_relative_to_the_working_directory(tmp_path: Path) -> None:
    recorded: list[dict[str, Any]] = []
    capture = CallCapture(tmp_path, recorded)
    outcome = ToolOutcome(
        is_error=False,
        summary="wrote",
        response={"type": "create", "filePath": str(tmp_path / "sub" / "a.txt")},
        files_created=["sub/a.txt", "/elsewhere/b.txt"],
    )
    capture("Write", {"file_path": "sub/a.txt"}, "t1", outcome)
    capture("mcp__llmos__Write", {"file_path": "c.txt"}, "t2", outcome)  # its executor records it
    [call] = recorded
    assert call["name"] == "Write" and call["tool_use_id"] == "t1"
    assert call["result"]["files_created"] == ["sub/a.txt", "/elsewhere/b.txt"]
    assert call["result"]["decision"] == "allow" and call["seq"] > 0


def test_refused_calls_say_why_they_never_ran() -> None:
    outcome = Outcome(
        blocked=[blocked(BUDGET_RULE), blocked(WITHHELD_RULE), blocked("policy.rm")],
        rejected=[blocked("session.cli_rejected", name="Nope", reason="no such tool")],
    )
    calls = refused_calls(outcome)
    summaries = [c["result"]["summary"] for c in calls]
    assert summaries == [
        "stopped by the budget: no",
        "refused: no",
        "blocked by policy: no",
        "rejected: no such tool",
    ]
    assert [c["result"]["decision"] for c in calls] == ["deny", "deny", "deny", REJECTED]


def test_judge_budget_then_policy_then_the_users_no() -> None:
    over = result()
    judge(over, Outcome(blocked=[blocked(BUDGET_RULE), blocked("policy.rm")]), [])
    assert over.exit_code == ExitCode.BUDGET_EXHAUSTED and not over.success
    policy = result()
    judge(policy, Outcome(blocked=[blocked("policy.rm", reason="outside")]), [])
    assert policy.exit_code == ExitCode.POLICY_BLOCKED
    assert policy.error == "1 tool call(s) blocked by policy: outside"
    withheld = result()
    judge(withheld, Outcome(blocked=[blocked(WITHHELD_RULE, reason="not offered")]), [])
    assert withheld.error == "1 tool call(s) refused: not offered"
    declined = result()
    judge(declined, Outcome(blocked=[blocked(DECLINED_RULE, name="Write", file_path="a.txt")]), [])
    assert declined.exit_code == ExitCode.GOAL_FAILED
    assert declined.error is not None and declined.error.endswith(": Write a.txt")


def test_judge_a_failed_last_call_fails_the_run() -> None:
    last = {
        "name": "Bash",
        "input": {"command": "python3  calc.py"},
        "result": {"is_error": True, "summary": "exit 1"},
    }
    ran = result()
    judge(ran, Outcome(), [last])
    assert not ran.success and ran.exit_code == ExitCode.GOAL_FAILED
    assert ran.error == "the last tool call failed: Bash python3 calc.py: exit 1"
    recovered = result()
    judge(recovered, Outcome(), [last, {"name": "Read", "input": {}, "result": {}}])
    assert recovered.success and recovered.exit_code == ExitCode.OK
    assert call_target({"url": "https://x"}) == "https://x" and call_target({}) == ""


@dataclass
class Guide:
    goal: str
    calls: list[ToolCall]


def test_mixed_reduces_the_tools_and_shows_the_calls_rerooted(tmp_path: Path) -> None:
    guide = Guide(
        "Create notes.md",
        [
            ToolCall(
                name="Write",
                input={"file_path": "{{cwd}}/notes.md", "content": "hi"},
                result={"is_error": False},
            )
        ],
    )
    assert mixed_tools(guide, ["Read", "Write", "Bash"]) == ["Read", "Write"]
    assert mixed_tools(guide, ["Bash"]) == ["Bash"]  # nothing in common: the agent's own tools
    text = mixed_examples(guide, tmp_path)
    assert "'Create notes.md'" in text
    assert f'1. Write {{"file_path": "{tmp_path}/notes.md", "content": "hi"}} -> ok' in text
    assert len(mixed_examples(guide, tmp_path, limit=50)) == 50
