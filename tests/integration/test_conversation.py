"""Issue #17, the chat as a conversation: each request carries the session's earlier turns
(bounded, with a visible marker), headless --continue / --session, `llmos sessions`, feedback that
runs nothing, follow-ups that are never zero-model replays and whose traces need their context.
LLM paths run the real SDK + CLI against the scripted server on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmos_tui.devtools.scripted_server import ScriptedServer, text_turn, tool_turn
from llmos_tui.exitcodes import ExitCode
from llmos_tui.kernel import LLMOS
from llmos_tui.learning.traces import ToolCall, make_trace
from llmos_tui.memory.conversation import (
    SUMMARIZED_MARKER,
    Conversation,
    context_block,
    depends_on,
    feedback_kind,
    new_id,
    refers_back,
)


def llmos(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmos_tui", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ, **(env or {})),
        cwd=cwd,
        timeout=timeout,
    )


def request_text(request) -> str:
    return json.dumps({"system": request.system, "messages": request.messages}, ensure_ascii=False)


def traces_of(ws: Path) -> list[Path]:
    return sorted((ws / "volumes").glob("users/*/traces/*.md"))


# ---- the detectors (pure) ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,kind",
    [
        ("thanks", "positive"),
        ("Thanks, that worked", "positive"),
        ("perfect", "positive"),
        ("great, that worked", "positive"),
        ("well done!", "positive"),
        ("\U0001f44d", "positive"),
        ("that's wrong", "negative"),
        ("no, that's not it", "negative"),
        ("it didn't work", "negative"),
        ("That's not what I asked for", "negative"),
        # anything that asks for something is a goal
        ("thanks, now add a second line", None),
        ("Thanks! Can you also add tests?", None),
        ("wrong file", None),
        ("yes", None),
        ("ok", None),
        ("again", None),
        ("fix it", None),
        ("Create a file named zebra42.txt", None),
        ("thanks 100 times", None),
        ("perfect, rename it to b.txt", None),
    ],
)
def test_feedback_is_recognized_and_real_goals_are_not_swallowed(
    text: str, kind: str | None
) -> None:
    assert feedback_kind(text) == kind


@pytest.mark.parametrize(
    "goal,expected",
    [
        ("Now append a second line to it", True),
        ("Run it", True),
        ("Undo that", True),
        ("Delete that file", True),
        ("Fix the bug in it", True),
        ("Run the tests again", True),
        ("Also add a README", True),
        ("Create a file named zebra42.txt", False),
        ("Create a Python calculator and test it", False),
        ("Create a script that prints hello", False),
        ("List files in this directory", False),
        ("Sort the files by size", False),
        ("Say hi", False),
    ],
)
def test_follow_up_detector(goal: str, expected: bool) -> None:
    assert refers_back(goal) is expected


def test_depends_on_names_earlier_files_the_goal_does_not() -> None:
    calls = [{"name": "Bash", "input": {"command": "echo two >> zebra42.txt"}}]
    assert depends_on("Now append a second line to it", calls, ["zebra42.txt", "other.txt"]) == [
        "zebra42.txt"
    ]
    assert depends_on("Append a line to zebra42.txt", calls, ["zebra42.txt"]) == []
    assert (
        depends_on(
            "Append a line",
            [{"name": "Bash", "input": {"command": "echo >> zebra42.txt.bak"}}],
            ["zebra42.txt"],
        )
        == []
    )


def test_context_block_is_bounded_with_a_marker(tmp_path: Path) -> None:
    kernel = LLMOS.boot(tmp_path / "ws")
    conv = Conversation.load(kernel.workspace, new_id(), must_exist=False)
    for n in range(1, 61):
        conv.append_turn(
            goal=f"Goal number {n}: " + "do a thing " * 40,
            mode="LEARNER",
            success=True,
            output=f"answer {n} " + "lorem ipsum " * 80,
            error=None,
            files=[f"file{n}.txt"],
            cwd=str(tmp_path),
            trace_id=None,
            followup=False,
        )
    again = Conversation.load(kernel.workspace, conv.id)
    assert len(again.turns) == 60 and again.header["cwd"] == str(tmp_path)
    block = context_block(again, max_tokens=500, recent_turns=6)
    assert len(block) <= 2000
    assert SUMMARIZED_MARKER in block and "earlier turn(s) cut" in block
    assert (
        "### turn 60" in block and "Goal number 60" in block and "file60.txt" in block
    )  # the newest, verbatim
    assert "Goal number 1:" not in block  # the oldest, cut
    small = context_block(again, max_tokens=100_000, recent_turns=2)
    assert (
        "### turn 59" in small
        and "### turn 58" not in small
        and "- turn 1: 'Goal number 1" in small
    )
    assert (
        context_block(
            Conversation.load(kernel.workspace, new_id(), must_exist=False),
            max_tokens=500,
            recent_turns=6,
        )
        == ""
    )


def test_a_trace_that_needs_its_context_is_never_a_candidate(tmp_path: Path) -> None:
    kernel = LLMOS.boot(tmp_path / "ws")
    trace = make_trace(
        "Now append a second line to it",
        [
            ToolCall(
                "Bash",
                {"command": "echo two >> zebra42.txt"},
                {"is_error": False, "summary": "", "exit_code": 0},
            )
        ],
    )
    trace.context = {
        "conversation": new_id(),
        "depends_on": {"files": ["zebra42.txt"], "goals": []},
        "replayable": False,
    }
    kernel.store.save(trace, volume=kernel.config.user_volume())
    assert kernel.store.get(trace.id).needs_context  # written and read back
    assert kernel.store.index.get(trace.id).needs_context
    decision = kernel.decide("Now append a second line to it")
    assert decision.mode not in ("FOLLOWER", "CRYSTALLIZED") and decision.trace_id != trace.id
    assert trace.id not in json.dumps(decision.to_dict().get("candidates"))
    # nor injected as a "similar successful trace" into other sessions' memory; an ordinary one is
    from llmos_tui.memory.inject import _trace_lines

    volumes = kernel.visible_volumes()
    assert not any(
        "append a second line" in line
        for line in _trace_lines("Now append a second line to it", kernel.store, volumes, 3)
    )
    plain = make_trace(
        "Append a second line to notes.txt",
        [
            ToolCall(
                "Bash",
                {"command": "echo two >> notes.txt"},
                {"is_error": False, "summary": "", "exit_code": 0},
            )
        ],
    )
    kernel.store.save(plain, volume=kernel.config.user_volume())
    assert any(
        "notes.txt" in line
        for line in _trace_lines("Append a second line to notes.txt", kernel.store, volumes, 3)
    )


# ---- headless: --continue, sessions, feedback -------------------------------------------------


@pytest.mark.llm
def test_headless_continue_carries_the_conversation_and_feedback_runs_nothing(
    llm_env: ScriptedServer, tmp_path: Path
) -> None:  # noqa: F811
    ws, work = tmp_path / "ws", tmp_path / "work"
    work.mkdir()
    # An old standalone trace of the follow-up's very words: it must not be replayed in a conversation.
    kernel = LLMOS.boot(ws)
    stale = make_trace(
        "Now append a second line to it",
        [
            ToolCall(
                "Bash",
                {"command": "echo stale >> other.txt"},
                {"is_error": False, "summary": "", "exit_code": 0},
            )
        ],
    )
    kernel.store.save(stale, volume=kernel.config.user_volume())
    llm_env.add_turns(
        tool_turn("Write", {"file_path": str(work / "zebra42.txt"), "content": "first line\n"}),
        text_turn("Created zebra42.txt."),
    )
    first = llmos(
        "--headless",
        "run",
        "Create a file named zebra42.txt",
        "--json",
        "--workspace",
        str(ws),
        cwd=work,
    )
    assert first.returncode == 0, first.stderr
    session = json.loads(first.stdout)["session"]
    assert (work / "zebra42.txt").read_text() == "first line\n"
    assert "Conversation so far" not in llm_env.main_requests[0].system  # nothing earlier to carry
    before = len(llm_env.main_requests)
    llm_env.add_turns(
        tool_turn("Bash", {"command": "echo 'second line' >> zebra42.txt"}),
        text_turn("Appended a second line to zebra42.txt."),
    )
    second = llmos(
        "--headless",
        "run",
        "--continue",
        "Now append a second line to it",
        "--json",
        "--workspace",
        str(ws),
        cwd=work,
    )
    assert second.returncode == 0, second.stderr
    data = json.loads(second.stdout)
    assert data["session"] == session
    assert (
        data["mode"] in ("LEARNER", "MIXED") and data["llm_calls"] >= 1
    )  # not a replay of the stale trace
    assert "follow-up" in data["decision"]["reason"] or data["decision"]["trace_id"] != stale.id
    request = llm_env.main_requests[before]
    assert "zebra42" in request_text(request) and "Conversation so far" in request.system
    assert (work / "zebra42.txt").read_text() == "first line\nsecond line\n"
    assert not (work / "other.txt").exists()
    # Its trace stores the context it depended on and is not replayable on its own.
    text = (ws / "volumes" / "users" / "local" / "traces" / f"{data['trace_id']}.md").read_text()
    assert "context:" in text and "zebra42.txt" in text and "replayable: false" in text
    kernel = LLMOS.boot(ws)
    assert kernel.store.index.get(data["trace_id"]).needs_context
    # Feedback: no request, no trace, recorded for the sentience and in the session.
    requests, traces = llm_env.request_count, traces_of(ws)
    thanks = llmos(
        "--headless",
        "run",
        "--continue",
        "thanks, that worked",
        "--json",
        "--workspace",
        str(ws),
        cwd=work,
    )
    assert thanks.returncode == 0, thanks.stderr
    fb = json.loads(thanks.stdout)
    assert (
        fb["mode"] == "FEEDBACK"
        and fb["llm_calls"] == 0
        and fb["trace_id"] is None
        and fb["success"]
    )
    assert fb["decision"]["about_trace"] == data["trace_id"]
    assert llm_env.request_count == requests and traces_of(ws) == traces
    counters = LLMOS.boot(ws).sentience.details()["counters"]
    assert counters.get("user_positive") == 1, counters
    conv = Conversation.load(LLMOS.boot(ws).workspace, session)
    assert [t.goal for t in conv.turns] == [
        "Create a file named zebra42.txt",
        "Now append a second line to it",
    ]
    assert conv.turns[0].files == ["zebra42.txt"] and conv.turns[1].followup
    assert conv.feedback and conv.feedback[0]["label"] == "positive"
    # A real goal that starts with thanks is run.
    llm_env.add_turns(text_turn("Done."))
    goal = llmos(
        "--headless",
        "run",
        "--continue",
        "thanks, now say hi",
        "--json",
        "--workspace",
        str(ws),
        cwd=work,
    )
    assert goal.returncode == 0, goal.stderr
    assert (
        json.loads(goal.stdout)["mode"] in ("LEARNER", "MIXED") and llm_env.request_count > requests
    )
    # llmos sessions lists it.
    listed = llmos("sessions", "--json", "--workspace", str(ws), cwd=work)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)["sessions"]
    row = next(r for r in rows if r["id"] == session)
    assert (
        row["cwd"] == str(work.resolve())
        and row["turns"] == 3
        and row["last_goal"] == "thanks, now say hi"
    )
    assert row["started_at"] and row["source"] == "headless"
    plain = llmos("sessions", "--workspace", str(ws), cwd=work)
    assert session in plain.stdout and "3 turn(s)" in plain.stdout


@pytest.mark.slow
def test_continue_and_session_refuse_what_does_not_exist(tmp_path: Path) -> None:
    ws, work = tmp_path / "ws", tmp_path / "work"
    work.mkdir()
    proc = llmos("--headless", "run", "--continue", "Now do it", "--workspace", str(ws), cwd=work)
    assert proc.returncode == ExitCode.USAGE and "no earlier session" in proc.stderr
    proc = llmos(
        "--headless",
        "run",
        "--session",
        "20260101-000000-abcdef",
        "Say hi",
        "--workspace",
        str(ws),
        cwd=work,
    )
    assert proc.returncode == ExitCode.USAGE and "no session" in proc.stderr
    proc = llmos(
        "--headless", "run", "--session", "../../etc", "Say hi", "--workspace", str(ws), cwd=work
    )
    assert proc.returncode == ExitCode.USAGE and "invalid session id" in proc.stderr
    proc = llmos(
        "--headless",
        "run",
        "--continue",
        "--session",
        "20260101-000000-abcdef",
        "x",
        "--workspace",
        str(ws),
        cwd=work,
    )
    assert proc.returncode == ExitCode.USAGE
    proc = llmos("sessions", "--workspace", str(tmp_path / "none"))
    assert proc.returncode == ExitCode.USAGE and not (tmp_path / "none").exists()


@pytest.mark.slow
def test_headless_feedback_needs_no_model_at_all(tmp_path: Path) -> None:
    """No server, no key: "perfect" still finishes (nothing is requested)."""
    ws, work = tmp_path / "ws", tmp_path / "work"
    work.mkdir()
    proc = llmos("--headless", "run", "perfect", "--json", "--workspace", str(ws), cwd=work)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["mode"] == "FEEDBACK" and data["llm_calls"] == 0 and not traces_of(ws)
    wrong = llmos(
        "--headless",
        "run",
        "--continue",
        "no, that's not it",
        "--json",
        "--workspace",
        str(ws),
        cwd=work,
    )
    assert wrong.returncode == 0 and json.loads(wrong.stdout)["decision"]["feedback"] == "negative"
    assert LLMOS.boot(ws).sentience.details()["counters"].get("user_negative") == 1


@pytest.mark.llm
def test_a_long_conversation_stays_under_its_budget(
    llm_env: ScriptedServer, tmp_path: Path
) -> None:  # noqa: F811
    ws, work = tmp_path / "ws", tmp_path / "work"
    work.mkdir()
    kernel = LLMOS.boot(ws)
    conv = Conversation.load(kernel.workspace, new_id(), must_exist=False)
    for n in range(1, 41):
        conv.append_turn(
            goal=f"Step {n}: write chapter {n} of the novel " + "with many details " * 30,
            mode="LEARNER",
            success=True,
            output=f"Chapter {n} written. " + "text " * 120,
            error=None,
            files=[f"chapter{n}.md"],
            cwd=str(work.resolve()),
            trace_id=None,
            followup=False,
        )
    expected = context_block(
        Conversation.load(kernel.workspace, conv.id), max_tokens=400, recent_turns=6
    )
    llm_env.add_turns(text_turn("Chapter 41 is next."))
    proc = llmos(
        "--headless",
        "run",
        "--session",
        conv.id,
        "What comes next?",
        "--json",
        "--workspace",
        str(ws),
        env={"LLMOS_MEMORY__CONVERSATION_MAX_TOKENS": "400"},
    )
    assert proc.returncode == 0, proc.stderr
    system = llm_env.main_requests[-1].system
    assert expected in system and system.count("Conversation so far") == 1
    assert len(expected) <= 400 * 4
    assert SUMMARIZED_MARKER in expected and "Step 40" in expected and "Step 1:" not in expected


# ---- the TUI: one chat, one conversation ------------------------------------------------------


@pytest.mark.llm
async def test_tui_chat_is_a_conversation(llm_env: ScriptedServer, tmp_path: Path) -> None:  # noqa: F811
    from llmos_tui.tui.app import make_app
    from tests.support.tui import SIZE, finished_answer, send_goal, wait_until

    ws, work = tmp_path / "ws", tmp_path / "work"
    work.mkdir()
    LLMOS.boot(ws)
    llm_env.add_turns(
        tool_turn("Write", {"file_path": str(work / "zebra42.txt"), "content": "first line\n"}),
        text_turn("Created zebra42.txt."),
        tool_turn("Bash", {"command": "echo 'second line' >> zebra42.txt"}),
        text_turn("Appended a second line."),
    )
    app = make_app(ws, cwd=work, background=False)
    async with app.run_test(size=SIZE) as pilot:
        await send_goal(pilot, "Create a file named zebra42.txt")
        first = await finished_answer(pilot)
        assert first.result.success, first.result.error
        before = len(llm_env.main_requests)
        await send_goal(pilot, "Now append a second line to it")
        await wait_until(pilot, lambda: len(app.chat.answers) == 2, 10, "the second answer")
        second = await finished_answer(pilot)
        assert second.result.success and second.result.mode in ("LEARNER", "MIXED"), (
            second.result.error
        )
        request = llm_env.main_requests[before]
        assert "zebra42" in request_text(request) and "Conversation so far" in request.system
        assert "zebra42" not in json.dumps(request.messages[0])  # the prompt is the new goal itself
        assert (work / "zebra42.txt").read_text() == "first line\nsecond line\n"
        requests = llm_env.request_count
        traces = traces_of(ws)
        await send_goal(pilot, "thanks, that worked")
        await wait_until(pilot, lambda: len(app.chat.answers) == 3, 10, "the feedback answer")
        third = await finished_answer(pilot)
        assert (
            third.result.mode == "FEEDBACK"
            and third.result.llm_calls == 0
            and third.result.trace_id is None
        )
        assert llm_env.request_count == requests and traces_of(ws) == traces
        kernel = app.kernel
        counters = kernel.sentience.details()["counters"]
        assert counters.get("user_positive") == 1, counters  # once, not twice
        conv = Conversation.load(kernel.workspace, app.conversation_id)
        assert conv.header["source"] == "tui" and len(conv.turns) == 2 and len(conv.feedback) == 1
        session_log = kernel.workspace.sessions_dir / f"{conv.id}.md"
        assert session_log.is_file() and "zebra42" in session_log.read_text()
