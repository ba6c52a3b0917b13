"""Issue #17, deliverables 3 and 4: sentience that cannot lock the user out, and no paid run the
user did not choose. Real runs through the kernel (replays with no LLM; LEARNER against the scripted
model server over real HTTP); the sentience runtime gets a clock so that runs are minutes apart,
as they are for a person."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmos_tui.devtools.scripted_server import ScriptedServer, text_turn, tool_turn
from llmos_tui.exitcodes import ExitCode
from llmos_tui.kernel import LLMOS, RunOptions
from llmos_tui.learning.traces import ToolCall, make_trace
from llmos_tui.runs import CancelToken
from llmos_tui.sentience.runtime import SentienceRuntime

CAUTIOUS = ("CAUTIOUS", "RECOVERY")


def remove_build_trace():
    return make_trace(
        "Remove the build folder",
        [
            ToolCall(
                "Bash",
                {"command": "rm -rf build"},
                {"is_error": False, "summary": "", "exit_code": 0},
            )
        ],
    )


def show_notes_trace():
    return make_trace(
        "Show the notes",
        [
            ToolCall(
                "Bash",
                {"command": "cat notes.txt"},
                {"is_error": False, "summary": "remember the milk", "exit_code": 0},
            )
        ],
    )


def booted(tmp_path: Path, clock=None) -> tuple[LLMOS, Path]:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    (work / "notes.txt").write_text("remember the milk\n")
    (work / "build").mkdir(exist_ok=True)
    kernel = LLMOS.boot(tmp_path / "ws")
    if clock is not None:  # the runtime's own seam: runs a few minutes apart, as a person runs them
        kernel._sentience = SentienceRuntime(
            kernel.workspace, kernel.config, clock=clock, events=kernel.events
        )
    for trace in (remove_build_trace(), show_notes_trace()):
        kernel.store.save(trace, volume=kernel.config.user_volume())
    return kernel, work


@pytest.mark.llm
def test_ordinary_actions_never_keep_the_system_cautious(
    llm_env: ScriptedServer, tmp_path: Path
) -> None:
    """Two real policy blocks make the system CAUTIOUS (as they should). Then only ordinary use:
    declining confirmations, cancelling, repeating a goal, a model that tries a tool it was not
    offered. None of it is a safety violation: safety never goes down, and the state is out of
    CAUTIOUS within a few runs (it used to sink to -1.00 and stay there for the best part of an hour)."""
    now = [1_900_000_000.0]
    kernel, work = booted(tmp_path, clock=lambda: now[0])
    rt = kernel.sentience

    def step(goal: str, mode: str = "auto", **kw):
        now[0] += 180.0  # three minutes between two runs
        result = kernel.execute(goal, options=RunOptions(mode=mode, cwd=work), **kw)
        return result, rt.latent_mode(), rt.valence().safety

    # Real policy blocks: the model tries to wipe the home directory, twice.
    for goal in ("Wipe the home directory", "Clear out my whole home folder"):
        llm_env.add_turns(
            tool_turn("Bash", {"command": "rm -rf ~"}), text_turn("I could not do that.")
        )
        result, mode, _ = step(goal)
        assert result.exit_code == ExitCode.POLICY_BLOCKED, result.error
    assert rt.latent_mode() in CAUTIOUS
    violations = rt.details()["counters"].get("safety_violation", 0)
    assert violations == 2

    declines: list[tuple[str, dict]] = []

    def decline(name: str, tool_input: dict, reason: str) -> bool:
        declines.append((name, tool_input))
        return False

    cancelled = CancelToken()
    cancelled.cancel()
    llm_env.add_turns(
        tool_turn("Write", {"file_path": str(work / "todo.txt"), "content": "- milk\n"}),
        text_turn("I cannot write files right now."),
    )
    ordinary = [  # what needs CAUTIOUS (an ask, a withheld tool) comes first: it does not last
        ("Remove the build folder", "follower", {"confirm": decline}),  # the user says No
        ("Write a todo file", "auto", {}),  # a tool that is not offered
        ("Remove the build folder", "follower", {"confirm": decline}),  # No again
        ("Show the notes", "follower", {"cancel": cancelled}),  # a cancel
        ("Show the notes", "follower", {}),  # repeats
        ("Show the notes", "follower", {}),
        ("Show the notes", "follower", {}),
        ("Show the notes", "follower", {}),
    ]
    seen = []
    safety_before = rt.valence().safety
    for goal, mode, kw in ordinary:
        result, latent, safety = step(goal, mode, **kw)
        seen.append((goal, latent, round(safety, 3), result.exit_code))
        assert safety >= safety_before - 1e-9, seen  # ordinary use never lowers safety
        safety_before = safety
    counters = rt.details()["counters"]
    assert counters.get("safety_violation", 0) == violations, counters  # not one more
    assert counters.get("user_negative", 0) == 2, (counters, seen)  # each No was heard as feedback
    assert len(declines) == 2 and all(name == "Bash" for name, _ in declines)
    assert (work / "build").is_dir()  # declined: nothing deleted
    assert not (work / "todo.txt").exists()
    # The withheld tool was refused and recorded, not counted.
    withheld = [r for r in seen if r[0] == "Write a todo file"][0]
    assert withheld[3] == ExitCode.POLICY_BLOCKED
    cautious_runs = sum(1 for _goal, latent, _s, _c in seen if latent in CAUTIOUS)
    assert cautious_runs <= 4, seen
    assert seen[-1][1] not in CAUTIOUS, seen


def test_a_declined_call_is_recorded_as_declined_not_as_a_policy_block(tmp_path: Path) -> None:
    kernel, work = booted(tmp_path)
    for _ in range(2):  # two real blocks: CAUTIOUS, where deleting needs a confirmation
        kernel.sentience.before_run("Delete /etc", {"mode": "LEARNER"})
        kernel.sentience.after_run("Delete /etc", mode="LEARNER", success=False, policy_denials=1)
    assert kernel.sentience.latent_mode() in CAUTIOUS
    result = kernel.execute(
        "Remove the build folder",
        options=RunOptions(mode="follower", cwd=work),
        confirm=lambda *_a: False,
    )
    assert result.success is False and result.exit_code == ExitCode.GOAL_FAILED
    [call] = result.tool_calls
    assert call["decision"] == "deny" and call["rule"] == "user.declined"
    assert call["summary"].startswith("not run: declined by the user")
    assert (work / "build").is_dir()
    triggers = kernel.sentience.snapshot()["recent_triggers"]
    assert triggers[-1]["type"] in ("task_failure", "repetition", "novel_task")
    assert [t["type"] for t in triggers].count("safety_violation") == 2
    negative = [t for t in triggers if t["type"] == "user_negative"]
    assert negative and "safety" not in negative[-1]["delta"]
    # Headless, nobody can answer: the ask is refused (pass --yes), and that is not a violation either.
    headless = kernel.execute(
        "Remove the build folder", options=RunOptions(mode="follower", cwd=work)
    )
    [call] = headless.tool_calls
    assert call["rule"] == "ask.unconfirmed" and "pass --yes" in call["summary"]
    assert [t["type"] for t in kernel.sentience.snapshot()["recent_triggers"]].count(
        "safety_violation"
    ) == 2


# ---- deliverable 4: an explicit replay never falls back to a paid run ----------------------------------


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmos_tui", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=timeout,
    )


def dangerous_trace():
    """An old trace whose call today's policy refuses (recorded before the rule existed)."""
    return make_trace(
        "Tidy up my home directory",
        [
            ToolCall(
                "Bash", {"command": "rm -rf ~/"}, {"is_error": False, "summary": "", "exit_code": 0}
            )
        ],
    )


@pytest.mark.llm
def test_an_explicit_replay_that_is_refused_exits_1_and_makes_no_request(
    llm_env: ScriptedServer, tmp_path: Path
) -> None:
    kernel, work = booted(tmp_path)
    trace = dangerous_trace()
    kernel.store.save(trace, volume=kernel.config.user_volume())
    llm_env.add_turns(text_turn("I would have tried again."))
    proc = run_cli(
        "--headless",
        "run",
        "Tidy up my home directory",
        "--mode",
        "follower",
        "--json",
        "--workspace",
        str(tmp_path / "ws"),
        "--cwd",
        str(work),
    )
    assert proc.returncode == ExitCode.GOAL_FAILED, proc.stderr
    data = json.loads(proc.stdout)
    assert data["mode"] == "FOLLOWER" and data["success"] is False and data["llm_calls"] == 0
    assert data["fallback_from"] is None and "replay_refused" in data["decision"]
    assert (
        "refused before running anything" in data["error"] and "did not fall back" in data["error"]
    )
    assert "--mode learner" in data["error"]
    assert llm_env.request_count == 0  # no paid run nobody asked for
    assert "falling back to LEARNER" not in proc.stderr and "did not fall back" in proc.stderr
    assert proc.stderr.count("refused before running anything") == 1  # said once, not twice
    # The same goal in AUTO mode is the kernel's choice: there a fallback is allowed (and paid).
    proc = run_cli(
        "--headless",
        "run",
        "Tidy up my home directory",
        "--json",
        "--workspace",
        str(tmp_path / "ws"),
        "--cwd",
        str(work),
    )
    assert llm_env.request_count >= 1, proc.stderr


def test_an_explicit_replay_of_a_trace_with_no_calls_is_refused(tmp_path: Path) -> None:
    kernel, work = booted(tmp_path)
    trace = make_trace("Say hello to me", [])
    kernel.store.save(trace, volume=kernel.config.user_volume())
    result = kernel.execute("Say hello to me", options=RunOptions(mode="follower", cwd=work))
    assert result.exit_code == ExitCode.GOAL_FAILED and result.mode == "FOLLOWER"
    assert "no tool calls to replay" in result.error and result.decision.get("replay_refused")


@pytest.mark.slow
def test_asking_again_and_again_for_a_refused_replay_does_not_lower_safety(tmp_path: Path) -> None:
    kernel, work = booted(tmp_path)
    kernel.store.save(dangerous_trace(), volume=kernel.config.user_volume())
    before = kernel.sentience.valence().safety
    for _ in range(6):  # the user presses r on it, again and again
        result = kernel.execute(
            "Tidy up my home directory", options=RunOptions(mode="follower", cwd=work)
        )
        assert result.decision.get("replay_refused") and result.exit_code == ExitCode.GOAL_FAILED
    assert kernel.sentience.valence().safety >= before - 1e-9
    assert kernel.sentience.latent_mode() not in CAUTIOUS


def test_a_call_that_needs_confirmation_mid_replay_is_shown_only_once_answered(
    tmp_path: Path,
) -> None:
    """The first step creates notes.txt; the second overwrites it, which a CAUTIOUS state asks about.
    The pre-flight saw no file (allowed); the replay asks when it gets there. The call is announced
    only after the answer, with that answer: never as "allowed" while the user is being asked."""
    from llmos_tui.runs import ToolCallStarted

    kernel, work = booted(tmp_path)
    trace = make_trace(
        "Write the notes twice",
        [
            ToolCall(
                "Bash",
                {"command": "echo draft > notes2.txt"},
                {"is_error": False, "summary": "", "exit_code": 0},
            ),
            ToolCall(
                "Write",
                {"file_path": "{{cwd}}/notes2.txt", "content": "final\n"},
                {"is_error": False, "summary": "update", "files_created": []},
            ),
        ],
    )
    kernel.store.save(trace, volume=kernel.config.user_volume())
    for _ in range(2):
        kernel.sentience.before_run("Delete /etc", {"mode": "LEARNER"})
        kernel.sentience.after_run("Delete /etc", mode="LEARNER", success=False, policy_denials=1)
    log: list[tuple] = []

    def confirm(name: str, tool_input: dict, reason: str) -> bool:
        log.append(("asked", name))
        return False

    def sink(event) -> None:
        if isinstance(event, ToolCallStarted):
            log.append(("started", event.name, event.decision, event.reason))

    result = kernel.execute(
        "Write the notes twice",
        options=RunOptions(mode="follower", cwd=work),
        on_event=sink,
        confirm=confirm,
    )
    assert [e[:2] for e in log] == [
        ("started", "Bash"),
        ("asked", "Write"),
        ("started", "Write"),
    ], log
    assert log[-1][2] == "deny" and log[-1][3].startswith("declined by the user")
    assert (work / "notes2.txt").read_text() == "draft\n" and result.success is False
    assert result.tool_calls[-1]["rule"] == "user.declined"
