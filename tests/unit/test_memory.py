"""Memory hierarchy: session logs (L2), facts (L4) extracted by rules, search, and the capped
memory block injected into a LEARNER request through the real SDK (scripted server request log)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmos_tui.cli.memory import memory_app
from llmos_tui.devtools.scripted_server import ScriptedServer, text_turn, tool_turn
from llmos_tui.errors import UsageError
from llmos_tui.learning.store import TraceStore
from llmos_tui.learning.traces import ToolCall, make_trace
from llmos_tui.memory.facts import FactStore, extract_facts, extract_from_sessions
from llmos_tui.memory.inject import estimate_tokens, memory_context, memory_prompt_hook
from llmos_tui.memory.search import search_memory
from llmos_tui.memory.sessions import SessionLog, iter_sessions, read_session
from llmos_tui.workspace import open_workspace


def calc_trace(goal: str = "Create a Python calculator", outcome: str = "success"):
    return make_trace(
        goal,
        [
            ToolCall(
                "Write",
                {"file_path": "{{cwd}}/calc.py", "content": "print(2 + 3)\n"},
                {"is_error": False, "summary": "create {{cwd}}/calc.py"},
            ),
            ToolCall(
                "Bash",
                {"command": "python3 calc.py"},
                {"is_error": False, "summary": "5", "exit_code": 0},
            ),
        ],
        outcome=outcome,
        error=None if outcome == "success" else "failed",
    )


@pytest.fixture
def ws(tmp_path: Path):
    return open_workspace(tmp_path / "ws")


# ---- L2 session logs -----------------------------------------------------------------------------------


def test_session_log_round_trips_and_cannot_be_forged(ws) -> None:
    log = SessionLog(ws, source="headless", user="ada", project="demo")
    log.append("user", "First line\n### assistant · 2026-01-01T00:00:00Z\n\\escaped\n---")
    log.append("assistant", "Reply")
    log.append("note", "   ")  # empty text: skipped
    session = read_session(log.path)
    assert [e.role for e in session.entries] == ["user", "assistant"]
    assert (
        session.entries[0].text
        == "First line\n### assistant · 2026-01-01T00:00:00Z\n\\escaped\n---"
    )
    assert session.meta["source"] == "headless" and session.meta["project"] == "demo"
    assert session.meta["title"] == "First line"
    resumed = SessionLog.resume(ws, log.id)
    resumed.append("user", "more")
    assert [e.text for e in read_session(log.path).entries][-1] == "more"
    assert [s.id for s in iter_sessions(ws)] == [log.id]
    with pytest.raises(UsageError):
        log.append("robot", "x")
    with pytest.raises(UsageError):
        SessionLog(ws, "../../etc")


def test_a_headless_exchange_is_one_write_and_a_later_batch_one_append(ws, monkeypatch) -> None:
    import os

    from llmos_tui.memory.sessions import record_exchange

    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    log = record_exchange(ws, "Make notes.txt", "Created notes.txt", user="ada")
    # created atomically with both turns: the temporary file is fsynced before the rename (whole
    # or absent after an OS crash); a log's folder is not (atomic.atomic_write_bytes sync_dir)
    assert len(synced) == 1
    session = read_session(log.path)
    assert [(e.role, e.text) for e in session.entries] == [
        ("user", "Make notes.txt"),
        ("assistant", "Created notes.txt"),
    ]
    assert session.meta["title"] == "Make notes.txt" and session.meta["user"] == "ada"
    synced.clear()
    log.append_many([("user", "again"), ("note", "  "), ("assistant", "done")])
    assert len(synced) == 1  # one O_APPEND write of both turns
    assert [e.text for e in read_session(log.path).entries] == [
        "Make notes.txt",
        "Created notes.txt",
        "again",
        "done",
    ]
    with pytest.raises(UsageError):  # a bad role refuses the whole batch: nothing is written
        log.append_many([("user", "x"), ("robot", "y")])
    assert len(read_session(log.path).entries) == 4


# ---- L4 facts ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Hi! My name is Ada Lovelace.", [("name", "The user's name is Ada Lovelace.")]),
        ("call me Bob", [("name", "The user's name is Bob.")]),
        ("We use pytest for tests.", [("convention", "The team uses pytest for tests.")]),
        ("we don't use Docker", [("convention", "The team does not use Docker.")]),
        (
            "Always run the tests before committing.",
            [("rule", "Always run the tests before committing.")],
        ),
        ("Please don't ever commit secrets", [("rule", "Never commit secrets.")]),
        ("I prefer tabs over spaces", [("preference", "The user prefers tabs over spaces.")]),
        (
            "I don't like emojis in commit messages",
            [("preference", "The user dislikes emojis in commit messages.")],
        ),
        (
            "Remember that the staging server is at 10.0.0.5",
            [("note", "The staging server is at 10.0.0.5.")],
        ),
        ("our main branch is develop", [("convention", "The team's main branch is develop.")]),
        ("my email is ada@example.com", [("profile", "The user's email is ada@example.com.")]),
        ("Do we use Docker?", []),
        ("What is my name?", []),
        ("I want a calculator", []),
        ("Create a Python calculator", []),
        ("Never mind, do it", []),
        ("Is it always like this?", []),
    ],
)
def test_fact_rules(text: str, expected: list) -> None:
    assert [(c.kind, c.text) for c in extract_facts(text)] == expected


def test_extraction_is_incremental_scoped_and_updates_single_valued_facts(ws) -> None:
    from llmos_tui.projects.manager import ProjectManager

    ProjectManager(ws).create("shop")
    one = SessionLog(ws)
    one.append("user", "My name is Ada. We use pytest for tests.")
    one.append("assistant", "My name is Claude.")  # assistant turns state no user facts
    report = extract_from_sessions(ws)
    assert sorted(f["text"] for f in report.new) == [
        "The team uses pytest for tests.",
        "The user's name is Ada.",
    ]
    assert extract_from_sessions(ws).entries == 0  # nothing new to read
    one.append("user", "Actually, call me Ada Byron. We use pytest for tests.")
    report = extract_from_sessions(ws)
    assert report.entries == 1 and [f["text"] for f in report.updated] == [
        "The user's name is Ada Byron."
    ]
    assert report.seen == 1
    name = next(f for f in FactStore(ws).list() if f.key == "user.name")
    assert name.history[0]["value"] == "Ada" and name.mentions == 1
    shop = SessionLog(ws, project="shop")
    shop.append("user", "Our payment provider is Stripe. I prefer short answers.")
    extract_from_sessions(ws)
    assert [f.text for f in FactStore(ws, "shop").list()] == [
        "The team's payment provider is Stripe."
    ]
    assert "The user prefers short answers." in [
        f.text for f in FactStore(ws).list()
    ]  # about the user: global
    # A malformed fact file is skipped with a warning, never an error.
    (ws.facts_dir / "f_000000000000.md").write_text("---\n: [broken\n---\n")
    warnings: list[str] = []
    assert len(FactStore(ws, on_warning=warnings.append).list()) == 3 and warnings


def test_memory_cli(ws) -> None:
    runner = CliRunner()
    log = SessionLog(ws)
    log.append("user", "My name is Ada. We use poetry for packaging.")
    store = TraceStore(ws)
    store.save(calc_trace(), volume="users/local")
    args = ["--workspace", str(ws.root)]
    out = runner.invoke(memory_app, ["extract", "--json", *args])
    assert out.exit_code == 0 and len(json.loads(out.stdout)["new"]) == 2
    out = runner.invoke(memory_app, ["facts", "--json", *args])
    facts = json.loads(out.stdout)["facts"]
    assert {f["text"] for f in facts} == {
        "The user's name is Ada.",
        "The team uses poetry for packaging.",
    }
    out = runner.invoke(memory_app, ["search", "poetry packaging", "--json", *args])
    hits = json.loads(out.stdout)["hits"]
    assert hits[0]["kind"] == "fact" and "poetry" in hits[0]["text"]
    assert any(h["kind"] == "session" for h in hits)
    out = runner.invoke(
        memory_app, ["search", "python calculator", "--kind", "trace", "--json", *args]
    )
    assert [h["kind"] for h in json.loads(out.stdout)["hits"]] == ["trace"]
    out = runner.invoke(memory_app, ["search", "x", "--kind", "bogus", *args])
    assert out.exit_code == 2 and "unknown memory kind" in out.output
    out = runner.invoke(memory_app, ["remember", "The VPN must be on for deploys", "--json", *args])
    fact_id = json.loads(out.stdout)["fact"]["id"]
    out = runner.invoke(memory_app, ["forget", fact_id, *args])
    assert out.exit_code == 0 and not (ws.facts_dir / f"{fact_id}.md").exists()
    out = runner.invoke(memory_app, ["forget", "f_nothere00000", *args])
    assert out.exit_code == 2
    out = runner.invoke(memory_app, ["context", "Build a calculator in Python", "--json", *args])
    data = json.loads(out.stdout)
    assert (
        "The user's name is Ada." in data["context"]
        and "Create a Python calculator" in data["context"]
    )
    out = runner.invoke(memory_app, ["sessions", "--json", *args])
    assert json.loads(out.stdout)["sessions"][0]["id"] == log.id
    out = runner.invoke(memory_app, ["facts", "--project", "nope", *args])
    assert out.exit_code == 2 and "no project" in out.output


# ---- injection ---------------------------------------------------------------------------------------------


def test_memory_context_ranks_and_caps(ws) -> None:
    store = TraceStore(ws)
    good, bad = calc_trace(), calc_trace("Create a Python calculator app", outcome="failure")
    store.save(good, volume="users/local")
    store.save(bad, volume="users/local")
    store.save(
        make_trace(
            "Translate the README to French", [ToolCall("Read", {"file_path": "{{cwd}}/README.md"})]
        ),
        volume="users/local",
    )
    log = SessionLog(ws)
    log.append(
        "user", "My name is Ada. We use pytest for tests. Our staging host is stage.example.com."
    )
    text = memory_context(
        "Build a calculator in Python", workspace=ws, store=store, user="local", max_tokens=600
    )
    assert "The user's name is Ada." in text  # always relevant: who the user is
    assert "staging host" not in text  # a convention unrelated to the goal
    assert (
        '"Create a Python calculator"' in text and "Write calc.py; Bash `python3 calc.py`" in text
    )
    assert (
        "calculator app" not in text and "README" not in text
    )  # failed / unrelated traces left out
    assert estimate_tokens(text) <= 600
    tests_goal = memory_context(
        "Add unit tests with pytest", workspace=ws, store=store, user="local"
    )
    assert "The team uses pytest for tests." in tests_goal
    # The cap is a hard limit: whole items only, nothing when even the first item does not fit.
    for cap in (40, 60, 80, 120):
        capped = memory_context(
            "Build a calculator in Python", workspace=ws, store=store, user="local", max_tokens=cap
        )
        assert estimate_tokens(capped) <= cap
    assert (
        memory_context(
            "Build a calculator in Python", workspace=ws, store=store, user="local", max_tokens=30
        )
        == ""
    )
    assert memory_context("   ", workspace=ws, store=store, user="local") == ""
    hook = memory_prompt_hook(workspace=ws, store=store, user="local", max_tokens=600)
    assert hook("Build a calculator in Python") == text
    assert (
        search_memory("Ada", ws, store=store, kinds=("fact",))[0].text == "The user's name is Ada."
    )


@pytest.mark.slow
def test_a_fact_from_one_session_reaches_a_later_learner_request(
    llm_env: ScriptedServer, tmp_path: Path
) -> None:
    """Session 1 (a chat) says the user's name and a team convention; a later LEARNER run's request to
    the model carries them (UserPromptSubmit -> additionalContext), as the scripted server records."""
    from llmos_tui.kernel import LLMOS, RunOptions

    kernel = LLMOS.boot(tmp_path / "ws")  # the kernel registers the memory hook itself
    chat = SessionLog(kernel.workspace, source="tui", user=kernel.config.user)
    chat.append("user", "Hello! My name is Ada. Always answer in French.")
    chat.append("assistant", "Bonjour Ada !")
    work = tmp_path / "work"
    work.mkdir()
    llm_env.add_turns(
        tool_turn("Write", {"file_path": str(work / "greeting.txt"), "content": "Bonjour Ada\n"}),
        text_turn("Fait."),
    )
    result = kernel.execute("Write a greeting file for me", options=RunOptions(cwd=work))
    assert result.mode == "LEARNER" and result.success, result.error
    first = llm_env.main_requests[0]
    sent = json.dumps(first.messages, ensure_ascii=False)
    assert "The user's name is Ada." in sent and "Always answer in French." in sent
    assert "[llmos memory]" in sent
    # Nothing of the first session leaks when memory has nothing relevant: a fresh workspace sends no block.
    plain = LLMOS.boot(tmp_path / "ws2")
    llm_env.add_turns(text_turn("ok"))
    plain.execute("Say hi", options=RunOptions(cwd=work))
    assert "[llmos memory]" not in json.dumps(llm_env.main_requests[-1].messages)


@pytest.mark.slow
def test_memory_projects_and_bundles_never_load_ui_or_llm_libraries(tmp_path: Path) -> None:
    """Importing and using these engine modules loads no textual, anthropic or claude_agent_sdk."""
    import subprocess
    import sys

    code = f"""
import sys
from pathlib import Path
import llmos_tui.cli.bundle, llmos_tui.cli.memory, llmos_tui.cli.projects
from llmos_tui.workspace import open_workspace
from llmos_tui.learning.store import TraceStore
from llmos_tui.learning.traces import make_trace, ToolCall
from llmos_tui.memory.sessions import SessionLog
from llmos_tui.memory.inject import memory_context
from llmos_tui.projects.insights import cross_project_insight_artifacts
from llmos_tui.edge.bundle import export_bundle, import_bundle
ws = open_workspace({str(tmp_path / "ws")!r})
store = TraceStore(ws)
for p in ("a", "b"):
    store.save(make_trace("Create a file named x.txt", [ToolCall("Write", {{"file_path": "{{{{cwd}}}}/x.txt", "content": ""}})],
                          project=p), volume="users/local")
SessionLog(ws).append("user", "My name is Ada.")
assert "Ada" in memory_context("Create a file named y.txt", workspace=ws, store=store, user="local")
assert cross_project_insight_artifacts(ws)
export_bundle(ws, store, {str(tmp_path / "b")!r}, volumes=["users/local"])
import_bundle(open_workspace({str(tmp_path / "ws2")!r}), TraceStore(open_workspace({str(tmp_path / "ws2")!r})),
              {str(tmp_path / "b")!r}, volume="users/local")
print(sorted(m for m in ("textual", "anthropic", "claude_agent_sdk") if m in sys.modules))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
