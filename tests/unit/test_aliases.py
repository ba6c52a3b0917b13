"""Issue 16, item 4: approved phrasings become aliases of the trace (exact matches, zero calls).

Phrasings here are written for these tests (not taken from the benchmark data sets)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmos_tui.config import LLMOSConfig
from llmos_tui.errors import UsageError
from llmos_tui.learning.index import TraceIndex
from llmos_tui.learning.matcher import Matcher
from llmos_tui.learning.modes import select_mode
from llmos_tui.learning.store import TraceStore
from llmos_tui.learning.traces import (
    ToolCall,
    TraceFormatError,
    dump_trace,
    make_alias,
    make_trace,
    parse_trace,
)
from llmos_tui.workspace import Workspace

GOAL = "Write the names of the spool files into names.txt"
CLOSE = "Write the names of only the spool files into names.txt"  # 'only' is not accounted for


def _store(tmp_path: Path) -> tuple[Path, TraceStore]:
    ws_dir = tmp_path / "ws"
    ws = Workspace(ws_dir).ensure(user="local", team="default")
    return ws_dir, TraceStore(ws, TraceIndex(ws))


def _spool_trace(command: str = "ls > names.txt", goal: str = GOAL):
    return make_trace(
        goal,
        [ToolCall("Bash", {"command": command}, {"is_error": False, "exit_code": 0})],
        slots={"file": "names.txt"},
    )


# ---- the trace file ----------------------------------------------------------------------------


def test_aliases_round_trip_and_are_written_only_when_there_are_some() -> None:
    trace = _spool_trace()
    plain = dump_trace(trace)
    assert "aliases" not in plain  # files without aliases do not change
    assert dump_trace(parse_trace(plain)) == plain
    trace.aliases = [
        make_alias("put the spool file names in names.txt"),
        make_alias("list only spool files into list.txt", {"names.txt": "list.txt"}),
    ]
    text = dump_trace(trace)
    assert text.splitlines()[3].startswith(
        "aliases: [put the spool file names in names.txt, {phrase:"
    )
    again = parse_trace(text)
    assert again == trace and dump_trace(again) == text
    assert again.alias_phrases() == [
        "put the spool file names in names.txt",
        "list only spool files into list.txt",
    ]


@pytest.mark.parametrize(
    "aliases, message",
    [
        ("a phrase", "expected a list"),
        ("[3]", "one-line phrase"),
        ("['!!!']", "one-line phrase"),
        ("[x y, X Y]", "listed twice"),
        ("[{phrase: a b, substitutions: {a: a}}]", "different new value"),
        ("[{phrase: a b, subs: {}}]", "expected a phrase or"),
    ],
)
def test_malformed_aliases_are_rejected_with_the_reason(aliases: str, message: str) -> None:
    text = dump_trace(_spool_trace()).replace(
        "\nsignature:", f"\naliases: {aliases}\nsignature:", 1
    )
    with pytest.raises(TraceFormatError, match=message):
        parse_trace(text, source="t.md")


# ---- store, index, matcher -------------------------------------------------------------------


def test_an_alias_is_an_exact_match_until_it_is_removed(tmp_path: Path) -> None:
    _ws, store = _store(tmp_path)
    trace = _spool_trace()
    store.save(trace, volume="users/local")
    cfg = LLMOSConfig()
    matcher = Matcher(config=cfg.learning)
    matcher.refresh(store.index.entries(), store.index.version)
    assert select_mode(CLOSE, matcher, cfg).mode != "FOLLOWER"

    assert store.add_alias(trace.id, CLOSE) is True
    assert store.add_alias(trace.id, CLOSE.upper() + "!") is False  # the same after normalization
    assert store.add_alias(trace.id, GOAL) is False  # the trace's own goal
    assert store.index.get(trace.id).aliases == [CLOSE]
    matcher.refresh(store.index.entries(), store.index.version)
    d = select_mode("write the names of ONLY the spool files into names.txt", matcher, cfg)
    assert d.mode == "FOLLOWER" and d.trace_id == trace.id and d.confidence == 1.0
    assert d.alias == CLOSE and [g.name for g in d.gates] == ["alias"] and d.accounted
    # a neighbour of the alias is not an exact match: decided as before
    assert (
        select_mode("Write the names of only the spool files into other.txt", matcher, cfg).alias
        is None
    )

    with pytest.raises(UsageError, match="no alias"):
        store.remove_alias(trace.id, "some other phrase")
    assert (
        store.remove_alias(trace.id, "write the names of only the spool files into names.txt")
        == CLOSE
    )
    assert store.get(trace.id).aliases == []
    matcher.refresh(store.index.entries(), store.index.version)
    assert select_mode(CLOSE, matcher, cfg).mode != "FOLLOWER"


def test_index_from_an_older_format_is_rebuilt_with_aliases(tmp_path: Path) -> None:
    ws_dir, store = _store(tmp_path)
    trace = _spool_trace()
    trace.aliases = [make_alias(CLOSE)]
    store.save(trace, volume="users/local")
    index_file = Path(store.workspace.index_file)
    data = json.loads(index_file.read_text())
    data["meta"] = {k: dict(v, format=2) for k, v in data["meta"].items()}
    index_file.write_text(json.dumps(data))
    warnings: list[str] = []
    fresh = TraceIndex(Workspace(ws_dir), on_warning=warnings.append)
    assert fresh.get(trace.id).aliases == [CLOSE]
    assert any("format" in w for w in warnings), warnings


# ---- headless: an approved replay teaches its phrasing --------------------------------------------


def _llmos(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC")}
    return subprocess.run(
        [sys.executable, "-m", "llmos_tui", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=cwd,
    )


def _run(goal: str, work: Path, ws: Path, *extra: str) -> tuple[int, dict, str]:
    proc = _llmos(
        "--headless", "run", goal, "--json", "--workspace", str(ws), "--cwd", str(work), *extra
    )
    return proc.returncode, json.loads(proc.stdout), proc.stderr


@pytest.mark.slow
def test_replay_similar_adds_an_alias_shown_listed_and_removable(tmp_path: Path) -> None:
    ws_dir, store = _store(tmp_path)
    trace = _spool_trace()
    store.save(trace, volume="users/local")
    work = tmp_path / "work"
    work.mkdir()
    goal = "Write the names of only the spool files into list.txt"  # unaccounted 'only', slot names.txt -> list.txt

    code, result, err = _run(goal, work, ws_dir, "--replay-similar")
    assert code == 0, err
    assert result["mode"] == "FOLLOWER" and result["llm_calls"] == 0
    assert result["decision"]["approved_by"] == "user"
    assert (work / "list.txt").exists() and not (work / "names.txt").exists()
    assert f"as an alias of trace {trace.id}" in err

    show = _llmos("traces", "show", trace.id, "--workspace", str(ws_dir))
    assert show.returncode == 0
    assert (
        "aliases: [{phrase: Write the names of only the spool files into list.txt, "
        "substitutions: {names.txt: list.txt}}]" in show.stdout
    )
    listed = _llmos("traces", "alias", "list", trace.id, "--json", "--workspace", str(ws_dir))
    assert json.loads(listed.stdout)["aliases"] == [
        {"phrase": goal, "substitutions": {"names.txt": "list.txt"}}
    ]

    # the same phrasing again: an exact match, zero calls, the approved values, no flag needed
    (work / "list.txt").unlink()
    code, result, err = _run("write the names of only the spool files into list.txt", work, ws_dir)
    assert code == 0, err
    assert result["mode"] == "FOLLOWER" and result["llm_calls"] == 0 and result["success"]
    assert result["decision"]["alias"] == goal and result["decision"]["confidence"] == 1.0
    assert (work / "list.txt").exists() and not (work / "names.txt").exists()
    assert "close trace" not in err

    removed = _llmos("traces", "alias", "rm", trace.id, goal.lower(), "--workspace", str(ws_dir))
    assert removed.returncode == 0 and "removed alias" in removed.stdout
    missing = _llmos("traces", "alias", "rm", trace.id, goal, "--workspace", str(ws_dir))
    assert missing.returncode == 2 and "no alias" in missing.stderr
    (work / "list.txt").unlink()
    code, result, err = _run(goal, work, ws_dir)
    assert result["mode"] != "FOLLOWER" and not (work / "list.txt").exists()
    assert f"close trace {trace.id}" in err


@pytest.mark.slow
def test_an_approved_replay_that_fails_teaches_nothing(tmp_path: Path) -> None:
    ws_dir, store = _store(tmp_path)
    trace = _spool_trace("cat spool.lst > names.txt")  # recorded where spool.lst existed
    store.save(trace, volume="users/local")
    work = tmp_path / "work"
    work.mkdir()
    code, result, err = _run(CLOSE, work, ws_dir, "--replay-similar")
    assert result["success"] is False
    assert store.get(trace.id).aliases == []
    assert "as an alias" not in err


# ---- a new value inside a recorded shell command: confirmed once per trace --------------------


def test_a_new_value_in_a_shell_command_is_confirmed_once_then_substituted(
    tmp_path: Path,
) -> None:
    ws_dir, store = _store(tmp_path)
    trace = _spool_trace()  # Bash: ls > names.txt
    store.save(trace, volume="users/local")
    assert store.index.get(trace.id).shell_slots == ["file"]
    work = tmp_path / "work"
    work.mkdir()

    # every word accounted for, but names.txt -> list.txt lands inside a shell command: not blind
    code, result, err = _run("Write the names of the spool files into list.txt", work, ws_dir)
    assert result["mode"] != "FOLLOWER" and not (work / "list.txt").exists()
    assert f"close trace {trace.id}" in err and "list.txt / names.txt" in err

    # the user confirms once: the replay runs with the new value and teaches the trace
    code, result, err = _run(
        "Write the names of the spool files into list.txt", work, ws_dir, "--replay-similar"
    )
    assert code == 0, err
    assert result["mode"] == "FOLLOWER" and result["llm_calls"] == 0
    assert (work / "list.txt").exists() and not (work / "names.txt").exists()
    assert store.index.get(trace.id).shell_slots == []
    listed = _llmos("traces", "list", "--json", "--workspace", str(ws_dir))
    assert [t["shell_slots"] for t in json.loads(listed.stdout)["traces"]] == [[]]

    # from then on that slot of that trace is a template: another value replays with no flag
    code, result, err = _run("Write the names of the spool files into other.txt", work, ws_dir)
    assert code == 0, err
    assert result["mode"] == "FOLLOWER" and result["llm_calls"] == 0
    assert (work / "other.txt").exists()
    assert "close trace" not in err


def test_a_new_value_in_a_structured_field_needs_no_confirmation(tmp_path: Path) -> None:
    _ws_dir, store = _store(tmp_path)
    goal = "Save the word hello into greeting.txt"
    trace = make_trace(
        goal,
        [
            ToolCall(
                "Write",
                {"file_path": "{{cwd}}/greeting.txt", "content": "hello\n"},
                {"is_error": False},
            )
        ],
        slots={"file": "greeting.txt"},
    )
    store.save(trace, volume="users/local")
    assert store.index.get(trace.id).shell_slots == []
    cfg = LLMOSConfig.testing()
    matcher = Matcher(config=cfg.learning)
    matcher.refresh(store.index.entries(), store.index.version)
    decision = select_mode("Save the word hello into welcome.txt", matcher, cfg)
    assert decision.mode == "FOLLOWER" and decision.slot_bindings == {"file": "welcome.txt"}
    # the same goal recorded as a shell command is close (it asks), not a blind replay
    store.delete(trace.id)
    shell = _spool_trace("echo hello > greeting.txt", goal)
    shell.slots = {"file": "greeting.txt"}
    store.save(shell, volume="users/local")
    matcher.refresh(store.index.entries(), store.index.version)
    decision = select_mode("Save the word hello into welcome.txt", matcher, cfg)
    assert decision.mode != "FOLLOWER" and decision.close
    assert decision.slot_bindings == {"file": "welcome.txt"}
