"""Issue #17 deliverable 6: diffs of file tool calls and `llmos undo` from pre-images the executor
keeps (FOLLOWER replay and LEARNER through the scripted server; refusal when a file changed
since; the size and count bounds)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmos_tui.devtools.scripted_server import ScriptedServer, text_turn, tool_turn
from llmos_tui.execution.replay.executors import ToolExecutor
from llmos_tui.execution.replay.hooks import HookRegistry, HookVerdict
from llmos_tui.execution.replay.undo import UndoStore, compact_diff


def run_llmos(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmos_tui", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.llm
def test_learner_run_shows_diffs_and_undo_restores_and_deletes(
    llm_env: ScriptedServer, tmp_path: Path
) -> None:
    work, ws = tmp_path / "work", tmp_path / "ws"
    work.mkdir()
    (work / "notes.txt").write_text("alpha\nbeta\n")
    os.chmod(work / "notes.txt", 0o640)
    llm_env.add_turns(
        tool_turn(
            "Edit",
            {"file_path": str(work / "notes.txt"), "old_string": "beta", "new_string": "gamma"},
        ),
        tool_turn("Write", {"file_path": str(work / "new.py"), "content": "print(1)\n"}),
        text_turn("Edited notes and wrote new.py."),
    )
    proc = run_llmos(
        "--headless",
        "run",
        "Fix the notes",
        "--mode",
        "learner",
        "--workspace",
        str(ws),
        "--cwd",
        str(work),
    )
    assert proc.returncode == 0, proc.stderr
    # compact diffs with the call lines on stderr
    assert "-beta" in proc.stderr and "+gamma" in proc.stderr and "+print(1)" in proc.stderr
    assert (work / "notes.txt").read_text() == "alpha\ngamma\n" and (work / "new.py").exists()
    # without --yes and no terminal: says what it would do, changes nothing
    asked = run_llmos("undo", "--cwd", str(work), "--workspace", str(ws))
    assert asked.returncode == 1 and "notes.txt" in asked.stderr and "--yes" in asked.stderr
    assert (work / "new.py").exists()
    undone = run_llmos("undo", "--cwd", str(work), "--workspace", str(ws), "--yes", "--json")
    assert undone.returncode == 0, undone.stderr
    report = json.loads(undone.stdout)
    assert report["restored"] == ["notes.txt"] and report["deleted"] == ["new.py"]
    assert (work / "notes.txt").read_text() == "alpha\nbeta\n"
    assert (work / "notes.txt").stat().st_mode & 0o777 == 0o640
    assert not (work / "new.py").exists()
    # that run is spent: nothing more to undo here
    again = run_llmos("undo", "--cwd", str(work), "--workspace", str(ws), "--yes")
    assert again.returncode == 1 and "nothing to undo" in again.stderr


@pytest.mark.llm
def test_undo_after_a_follower_replay_and_refusal_when_changed_since(
    llm_env: ScriptedServer, tmp_path: Path
) -> None:
    first, second, ws = tmp_path / "a", tmp_path / "b", tmp_path / "ws"
    first.mkdir()
    second.mkdir()
    llm_env.add_turns(
        tool_turn("Write", {"file_path": str(first / "hello.txt"), "content": "hello world\n"}),
        text_turn("Created hello.txt."),
    )
    proc = run_llmos(
        "--headless", "run", "Create the hello file", "--workspace", str(ws), "--cwd", str(first)
    )
    assert proc.returncode == 0, proc.stderr
    (second / "hello.txt").write_text("an older hello\n")
    replay = run_llmos(
        "--headless",
        "run",
        "Create the hello file",
        "--mode",
        "follower",
        "--json",
        "--workspace",
        str(ws),
        "--cwd",
        str(second),
    )
    assert replay.returncode == 0, replay.stderr
    assert json.loads(replay.stdout)["llm_calls"] == 0
    assert (second / "hello.txt").read_text() == "hello world\n"
    # changed since the run: refused, nothing touched
    (second / "hello.txt").write_text("my own edit\n")
    refused = run_llmos("undo", "--cwd", str(second), "--workspace", str(ws), "--yes")
    assert (
        refused.returncode == 1
        and "changed since" in refused.stderr
        and "hello.txt" in refused.stderr
    )
    assert (second / "hello.txt").read_text() == "my own edit\n"
    forced = run_llmos("undo", "--cwd", str(second), "--workspace", str(ws), "--yes", "--force")
    assert forced.returncode == 0, forced.stderr
    assert (second / "hello.txt").read_text() == "an older hello\n"
    # the first folder's run is still undoable on its own
    first_undo = run_llmos("undo", "--cwd", str(first), "--workspace", str(ws), "--yes")
    assert first_undo.returncode == 0 and not (first / "hello.txt").exists()


def _executor(cwd: Path, journal) -> ToolExecutor:
    hooks = HookRegistry()
    hooks.add_pre(lambda name, tool_input, tid: HookVerdict("allow", "test"))
    return ToolExecutor(cwd, hooks, sandbox_backend="none", undo=journal)


def test_pre_images_are_bounded_by_size_and_runs(tmp_path: Path) -> None:
    work, state = tmp_path / "work", tmp_path / "state"
    work.mkdir()
    (work / "big.txt").write_text("x" * 4000)
    (work / "small.txt").write_text("s\n")
    store = UndoStore(state, max_mb=3000 / (1024 * 1024), max_runs=2)  # 3000 bytes of pre-images
    journal = store.begin(work, "edit both")
    ex = _executor(work, journal)
    assert not ex.execute("Write", {"file_path": "small.txt", "content": "t\n"}).is_error
    assert not ex.execute("Write", {"file_path": "big.txt", "content": "y"}).is_error
    assert not ex.execute(
        "Write", {"file_path": "small.txt", "content": "u\n"}
    ).is_error  # first pre-image kept
    assert journal.finish()
    last = store.last(work)
    assert last is not None
    kept = {f.rel: f for f in last.files}
    assert kept["small.txt"].kept and not kept["big.txt"].kept
    report = store.undo(work)
    assert (
        not report.ok
        and report.not_kept == ["big.txt"]
        and (work / "small.txt").read_text() == "u\n"
    )
    report = store.undo(work, force=True)
    assert report.ok and report.restored == ["small.txt"] and report.skipped == ["big.txt"]
    assert (work / "small.txt").read_text() == "s\n" and (work / "big.txt").read_text() == "y"
    # count bound: only the newest max_runs runs are kept; a run that wrote nothing leaves nothing
    for n in range(3):
        j = store.begin(work, f"run {n}")
        _executor(work, j).execute("Write", {"file_path": f"f{n}.txt", "content": str(n)})
        assert j.finish()
        store.prune()
    empty = store.begin(work, "read only")
    _executor(work, empty).execute("Read", {"file_path": "f0.txt"})
    assert not empty.finish()
    assert [r.goal for r in store.runs()] == ["run 1", "run 2"]


def test_compact_diff_is_capped() -> None:
    before = "".join(f"line {i}\n" for i in range(100)).encode()
    after = "".join(f"LINE {i}\n" for i in range(100)).encode()
    diff = compact_diff("f.txt", before, after, max_lines=20)
    lines = diff.splitlines()
    assert len(lines) == 21 and lines[-1].startswith("… ") and lines[-1].endswith("more lines")
    assert compact_diff("f.txt", None, b"a\n").splitlines()[-1] == "+a"
    assert compact_diff("f.txt", b"a\n", b"a\n") == ""


def test_pruned_runs_leave_nothing_behind(tmp_path: Path) -> None:
    """A pruned run's folder goes entirely, with its pre-images (blobs/) or without; a symlink
    inside is removed, never followed."""
    from llmos_tui.execution.replay.undo import UndoStore

    store = UndoStore(tmp_path / "state", max_mb=10, max_runs=1)
    work = tmp_path / "work"
    work.mkdir()
    (work / "a.txt").write_text("old\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("k")
    j = store.begin(work, "with a pre-image")
    _executor(work, j).execute("Write", {"file_path": "a.txt", "content": "new\n"})
    assert j.finish()
    first = store.runs()[0].dir
    assert (first / "blobs").is_dir()
    (first / "link").symlink_to(outside)
    j = store.begin(work, "without")
    _executor(work, j).execute("Write", {"file_path": "b.txt", "content": "b\n"})
    assert j.finish()
    second = store.runs()[-1].dir
    store.prune()
    assert not first.exists() and [r.goal for r in store.runs()] == ["without"]
    j = store.begin(work, "third")
    _executor(work, j).execute("Write", {"file_path": "c.txt", "content": "c\n"})
    assert j.finish()
    store.prune()
    assert not second.exists() and [r.goal for r in store.runs()] == ["third"]
    assert (outside / "keep.txt").read_text() == "k"
    assert sorted(p.name for p in (tmp_path / "state" / "undo").iterdir()) == [
        store.runs()[0].dir.name
    ]
