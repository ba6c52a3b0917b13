"""Bounded growth under repeated use (what the soak benchmark found, as a quick test).

``bench/bench_soak.py`` runs 10,000 goals; these tests run the same engine path a few hundred
times and check that what is written per run stays bounded: a trace that cannot be crystallized
must not collect a new rejected tool version every few uses (each replay lists them all), and the
state files do not grow with the number of runs.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from llmos_tui.learning.slots import extract_slots
from llmos_tui.learning.traces import ToolCall, make_trace

pytestmark = pytest.mark.slow

DATA = "name,age\nada,36\nalan,41\n"


def _kernel(tmp_path: Path):
    from llmos_tui.kernel import LLMOS

    return LLMOS.boot(tmp_path / "ws")


def _replays(kernel, goal: str, cwd_root: Path, runs: int, prepare) -> list[str]:
    from llmos_tui.kernel import RunOptions

    modes = []
    for _ in range(runs):
        cwd = cwd_root / "project"
        shutil.rmtree(cwd, ignore_errors=True)
        cwd.mkdir(parents=True)
        prepare(cwd)
        result = kernel.execute(goal, options=RunOptions(cwd=cwd))
        assert result.success, result.error
        modes.append(result.mode)
    return modes


def test_a_trace_that_cannot_be_crystallized_is_not_retried_every_few_uses(tmp_path: Path) -> None:
    """``wc -l data.csv`` replays fine where data.csv exists, but its tool can never pass
    verification (the verification folder is empty). 80 replays must not leave ~16 rejected
    versions (one per ``crystallization_min_uses`` uses): retries back off."""
    kernel = _kernel(tmp_path)
    goal = "Count the lines in data.csv"
    trace = make_trace(
        goal,
        [
            ToolCall(
                "Bash",
                {"command": "wc -l data.csv"},
                {"is_error": False, "summary": "3 data.csv", "exit_code": 0},
            )
        ],
        slots=extract_slots(goal),
    )
    kernel.store.save(trace, volume="users/local")
    modes = _replays(kernel, goal, tmp_path, 80, lambda cwd: (cwd / "data.csv").write_text(DATA))
    assert set(modes) == {"FOLLOWER"}
    tools = tmp_path / "ws" / "volumes" / "users" / "local" / "tools"
    manifests = [json.loads(p.read_text()) for p in tools.glob("*.json")]
    rejected = [
        m for m in manifests if m.get("source_trace") == trace.id and m.get("status") == "rejected"
    ]
    assert rejected, "the tool was expected to fail verification (the premise of this test)"
    assert len(rejected) <= 5, (
        f"{len(rejected)} rejected versions after 80 replays: each retry writes a new "
        "version and every later replay lists them all"
    )


def test_state_files_do_not_grow_with_the_number_of_replays(tmp_path: Path) -> None:
    """After a warm-up, 150 more replays add no tool version, no open descriptor, and leave the
    trace index snapshot at its size (the event log grows and is rotated by size; the sentience
    state is capped by design, at 500 goals of history, so it grows until then)."""
    kernel = _kernel(tmp_path)
    goal = "Create the greeting file hello.txt"
    kernel.store.save(
        make_trace(
            goal,
            [
                ToolCall(
                    "Write",
                    {"file_path": "{{cwd}}/hello.txt", "content": "hi\n"},
                    {"is_error": False, "summary": "created", "files_created": ["hello.txt"]},
                )
            ],
            slots=extract_slots(goal),
        ),
        volume="users/local",
    )
    _replays(kernel, goal, tmp_path, 60, lambda cwd: None)
    state = tmp_path / "ws" / "state"

    def sizes() -> dict[str, int]:
        out = {}
        for name in ("index.json",):
            path = state / name
            out[name] = path.stat().st_size if path.exists() else 0
        out["tools"] = len(
            list((tmp_path / "ws" / "volumes" / "users" / "local" / "tools").glob("*"))
        )
        out["fds"] = len(os.listdir("/proc/self/fd"))
        return out

    before = sizes()
    _replays(kernel, goal, tmp_path, 150, lambda cwd: None)
    after = sizes()
    assert after["tools"] == before["tools"], (before, after)
    assert after["fds"] <= before["fds"] + 2, (before, after)
    for name in ("index.json",):
        assert after[name] <= before[name] * 1.25 + 4096, (name, before, after)
