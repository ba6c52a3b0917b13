"""No secret is stored: every store llmos writes redacts first, and real runs whose tools print a
canary key (a FOLLOWER replay, a LEARNER session against the scripted server) leave no copy of
it anywhere in the workspace (the whole tree is searched, the CLI's own state included)."""

from __future__ import annotations

import json
import os
import random
import string
from pathlib import Path

import pytest

from llmos_tui.devtools.scripted_server import ScriptedServer, text_turn, tool_turn
from llmos_tui.learning.store import TraceStore
from llmos_tui.learning.traces import ToolCall, make_trace
from llmos_tui.redact import MARK
from llmos_tui.workspace import open_workspace
from tests.support.headless import run

RNG = random.Random(77)
ALNUM = string.ascii_letters + string.digits


def fake(prefix: str, n: int, chars: str = ALNUM + "-_") -> str:
    return prefix + "".join(RNG.choice(chars) for _ in range(n - 1)) + "7"


ANTHROPIC = fake("sk-ant-api03-", 95)
GITHUB = fake("ghp_", 36, ALNUM)
AWS_ID = "AKIA" + "".join(RNG.choice(string.ascii_uppercase + string.digits) for _ in range(16))
PEM_LINE = "".join(RNG.choice(ALNUM + "+/") for _ in range(64))
PEM = f"-----BEGIN OPENSSH PRIVATE KEY-----\n{PEM_LINE}\n{PEM_LINE[::-1]}\n-----END OPENSSH PRIVATE KEY-----"
SECRETS = [ANTHROPIC, GITHUB, AWS_ID, PEM_LINE, PEM_LINE[::-1]]


def copies_in(root: Path, needles: list[str]) -> list[tuple[str, str]]:
    """(file, needle) for every file under ``root`` (hidden ones too) holding a needle, in any
    of the encodings a store may use (plain, JSON-escaped, base64 is not a store format)."""
    found = []
    forms = {n: {n.encode(), json.dumps(n)[1:-1].encode(), n[8:40].encode()} for n in needles}
    for folder, _dirs, files in os.walk(root):
        for name in files:
            path = Path(folder) / name
            try:
                data = path.read_bytes()
            except OSError:
                continue
            for needle, variants in forms.items():
                if any(v in data for v in variants):
                    found.append((str(path.relative_to(root)), needle[:16]))
    return found


def test_a_trace_holding_secrets_is_stored_without_them_file_index_and_cache(
    tmp_path: Path,
) -> None:
    ws = open_workspace(tmp_path / "ws")
    store = TraceStore(ws)
    trace = make_trace(
        f"Deploy with the token {GITHUB}",
        [
            ToolCall(
                "Bash",
                {"command": f"ANTHROPIC_API_KEY={ANTHROPIC} ./deploy.sh"},
                {"is_error": False, "summary": f"using {AWS_ID}\n{PEM}", "exit_code": 0},
            ),
            ToolCall(
                "Write",
                {"file_path": "{{cwd}}/.env", "content": f"GITHUB_TOKEN={GITHUB}\n"},
                {"is_error": False, "summary": "created", "files_created": [".env"]},
            ),
        ],
        summary=f"Deployed. The key {ANTHROPIC} works.",
        error=None,
        slots={"token": GITHUB},
    )
    store.save(trace, volume="users/local")
    stored = store.get(trace.id)
    assert GITHUB not in stored.goal and f"{MARK}github-token]" in stored.goal
    assert stored.calls[0].input["command"] == f"ANTHROPIC_API_KEY={MARK}anthropic-key] ./deploy.sh"
    assert (
        stored.calls[0].result["summary"] == f"using {MARK}aws-access-key-id]\n{MARK}private-key]"
    )
    assert stored.summary == f"Deployed. The key {MARK}anthropic-key] works."
    assert stored.slots == {"token": f"{MARK}github-token]"}
    assert stored.signature == trace.signature  # still matched as the goal that was given
    assert ANTHROPIC in trace.calls[0].input["command"]  # the caller's object is not changed
    store.record_outcome(trace.id, True)  # rewrites the file, fills the parsed cache
    store.flush_cache()
    store.index.rebuild(reason="test")
    assert copies_in(ws.root, SECRETS) == []


def test_events_inbox_sessions_facts_agents_metrics_and_history_are_redacted(
    tmp_path: Path,
) -> None:
    from llmos_tui.adaptation.agents import create_agent
    from llmos_tui.adaptation.metrics import AgentMetricsStore
    from llmos_tui.memory.facts import FactStore
    from llmos_tui.memory.sessions import SessionLog
    from llmos_tui.observability.events import EventLog
    from llmos_tui.projects.manager import ProjectManager
    from llmos_tui.tui.history import load_history, save_history

    ws = open_workspace(tmp_path / "ws")
    log = EventLog(ws.events_file)
    event = log.record(
        "SYSTEM_ALERT",
        notify_user=True,
        title=f"leak {GITHUB}",
        message=f"saw {ANTHROPIC}",
        detail={"api_key": "f" + "".join(RNG.choice(ALNUM) for _ in range(30)) + "9"},
    )
    assert (
        event.data["message"] == f"saw {MARK}anthropic-key]"
        and event.title == f"leak {MARK}github-token]"
    )
    assert [e.data["message"] for e in log.read()] == [f"saw {MARK}anthropic-key]"]
    session = SessionLog(ws, source="tui")
    session.append("user", f"my deploy token is {GITHUB}, use it")
    session.append("assistant", f"Done. Key:\n{PEM}")
    facts = FactStore(ws)
    fact, _action = facts.remember(f"the staging key is {ANTHROPIC}")
    assert ANTHROPIC not in fact.text and MARK in fact.text
    create_agent(
        ws.agents_dir, "deployer", f"Deploys with {AWS_ID}", ["Bash"], f"Use the key {ANTHROPIC}."
    )
    AgentMetricsStore(ws.state_dir / "agent-metrics.json").record(
        "deployer",
        f"deploy with {GITHUB}",
        success=False,
        error=f"denied {ANTHROPIC}",
        blocked=[{"tool": "Bash", "reason": "policy", "input": f"echo {GITHUB}"}],
    )
    save_history(ws.state_dir, ["list files", f"export GITHUB_TOKEN={GITHUB}"])
    assert load_history(ws.state_dir) == ["list files", f"export GITHUB_TOKEN={MARK}github-token]"]
    ProjectManager(ws).create("demo", "a demo project")
    ProjectManager(ws).record_run("demo", goal=f"push with {GITHUB}", mode="LEARNER", success=True)
    assert copies_in(ws.root, SECRETS) == []


def test_a_replay_refuses_a_call_whose_input_was_redacted(tmp_path: Path) -> None:
    from llmos_tui.execution.replay.engine import replay
    from llmos_tui.execution.replay.executors import ToolExecutor
    from llmos_tui.execution.replay.hooks import HookRegistry

    ws = open_workspace(tmp_path / "ws")
    store = TraceStore(ws)
    trace = make_trace(
        "Write the env file",
        [
            ToolCall(
                "Write",
                {"file_path": "{{cwd}}/.env", "content": f"TOKEN={GITHUB}\n"},
                {"is_error": False, "summary": "created", "files_created": [".env"]},
            )
        ],
    )
    store.save(trace, volume="users/local")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    result = replay(store.get(trace.id).calls, cwd, ToolExecutor(cwd, HookRegistry(), timeout_s=30))
    assert result.refused and not result.success
    assert "redacted when the trace was stored" in result.reason and "step 1" in result.reason
    assert list(cwd.iterdir()) == []  # nothing ran: no file with a mark in it


def test_the_cli_session_data_is_purged_and_its_settings_kept(tmp_path: Path) -> None:
    from llmos_tui.claude_state import NO_PERSISTENCE_ARGS, purge_transcripts

    cfg = tmp_path / "claude"
    (cfg / "projects" / "-tmp-x").mkdir(parents=True)
    (cfg / "projects" / "-tmp-x" / "0bb3.jsonl").write_text(json.dumps({"message": ANTHROPIC}))
    (cfg / "projects" / "-tmp-x" / "0bb3" / "tool-results").mkdir(parents=True)
    (cfg / "projects" / "-tmp-x" / "0bb3" / "tool-results" / "r1.txt").write_text(GITHUB)
    (cfg / "file-history" / "0bb3").mkdir(parents=True)
    (cfg / "file-history" / "0bb3" / "v1").write_text(GITHUB)
    (cfg / "history.jsonl").write_text(GITHUB)
    (cfg / ".claude.json").write_text('{"userID": "x"}')
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine")
    (cfg / "todos").symlink_to(outside, target_is_directory=True)
    assert purge_transcripts(cfg) == 5
    assert sorted(p.name for p in cfg.iterdir()) == [".claude.json"]
    assert (outside / "keep.txt").read_text() == "mine"  # a link is removed, never followed
    assert purge_transcripts(tmp_path / "missing") == 0
    assert NO_PERSISTENCE_ARGS == {"no-session-persistence": None}


@pytest.mark.slow
def test_a_follower_replay_that_prints_a_key_leaves_no_copy_in_the_workspace(
    tmp_path: Path,
) -> None:
    ws, cwd = tmp_path / "ws", tmp_path / "work"
    cwd.mkdir()
    (cwd / "creds.txt").write_text(f"ANTHROPIC_API_KEY={ANTHROPIC}\naws: {AWS_ID}\n")
    store = TraceStore(open_workspace(ws))
    goal = "Show the credentials file"
    store.save(
        make_trace(
            goal,
            [
                ToolCall(
                    "Bash",
                    {"command": "cat creds.txt"},
                    {"is_error": False, "summary": "(the file)", "exit_code": 0},
                )
            ],
        ),
        volume="users/local",
    )
    code, result, err = run(goal, cwd, ws)
    assert code == 0, err
    assert result["mode"] == "FOLLOWER" and result["success"] is True and result["llm_calls"] == 0
    assert (
        ANTHROPIC in result["output"]
    )  # the replay really printed the key (to stdout, not to disk)
    assert copies_in(ws, [ANTHROPIC, AWS_ID]) == []
    sessions = list((ws / "memories" / "sessions").glob("*.md"))
    assert sessions and f"{MARK}anthropic-key]" in sessions[0].read_text()


@pytest.mark.llm
def test_a_learner_session_that_reads_a_key_leaves_no_copy_in_the_workspace(
    llm_env: ScriptedServer, tmp_path: Path
) -> None:
    ws, cwd = tmp_path / "ws", tmp_path / "work"
    cwd.mkdir()
    (cwd / "creds.txt").write_text(f"token: {GITHUB}\n{PEM}\n")
    llm_env.add_turns(
        tool_turn("Bash", {"command": "cat creds.txt"}),
        text_turn(f"The token in creds.txt is {GITHUB} and there is an SSH key."),
    )
    code, result, err = run("Read creds.txt and tell me the token", cwd, ws)
    assert code == 0, err
    assert result["mode"] == "LEARNER" and GITHUB in result["output"]
    trace_files = list((ws / "volumes").rglob("t_*.md"))
    assert len(trace_files) == 1 and f"{MARK}github-token]" in trace_files[0].read_text()
    assert (
        f"{MARK}private-key]" in trace_files[0].read_text()
    )  # the Bash output, kept in the trace redacted
    assert not list(
        (ws / "state" / "claude").rglob("*.jsonl")
    )  # no CLI transcript survives the session
    assert copies_in(ws, [GITHUB, PEM_LINE]) == []


def test_a_trace_stored_before_redaction_leaves_no_secret_in_its_tool_or_its_bundle(
    tmp_path: Path,
) -> None:
    """A trace file written by an older llmos (or by hand) still holding a key: the tool
    crystallized from it, the trace once rewritten, and a bundle exported from it hold none."""
    from llmos_tui.edge.bundle import export_bundle, import_bundle
    from llmos_tui.kernel import LLMOS
    from llmos_tui.learning.slots import extract_slots
    from llmos_tui.learning.traces import dump_trace

    kernel = LLMOS.boot(tmp_path / "wsA")
    goal = "Create a file named hello.txt"
    trace = make_trace(
        goal,
        [
            ToolCall(
                "Write",
                {"file_path": "{{cwd}}/hello.txt", "content": "Hello\n"},
                {"is_error": False, "summary": "created", "files_created": ["hello.txt"]},
            ),
            ToolCall(
                "Bash",
                {"command": "cat hello.txt"},
                {"is_error": False, "summary": f"Hello\n(token in env: {GITHUB})", "exit_code": 0},
            ),
        ],
        slots=extract_slots(goal),
    )
    legacy = kernel.store.trace_path(trace.id, kernel.config.user_volume())
    legacy.parent.mkdir(parents=True, exist_ok=True)
    legacy.write_text(dump_trace(trace))  # not through the store: no redaction
    kernel.store.index.rebuild(reason="test")
    assert GITHUB in legacy.read_text()
    from llmos_tui.learning.trust import approve_trace

    approve_trace(kernel.store, trace.id, by="local")  # written by hand: trusted once approved
    tool = kernel.crystallizer().crystallize(kernel.store.get(trace.id))
    assert tool.status == "active", tool.manifest
    assert (
        GITHUB not in Path(tool.path).read_text()
        and f"{MARK}github-token]" in Path(tool.path).read_text()
    )
    assert GITHUB not in legacy.read_text()  # rewritten (redacted) when it was marked crystallized
    bundle = tmp_path / "bundle"
    report = export_bundle(
        kernel.workspace, kernel.store, bundle, volumes=[kernel.config.user_volume()]
    )
    assert report.traces == [trace.id] and report.tools == [tool.id]
    assert copies_in(bundle, [GITHUB]) == [] and copies_in(tmp_path / "wsA", [GITHUB]) == []
    kernel_b = LLMOS.boot(tmp_path / "wsB")
    imported = import_bundle(
        kernel_b.workspace, kernel_b.store, bundle, volume=kernel_b.config.user_volume()
    )
    assert imported.imported == [trace.id] and imported.tools_imported == [tool.id]
