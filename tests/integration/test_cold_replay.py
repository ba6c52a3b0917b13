"""A cold FOLLOWER hit (a new process) loads only what a replay uses, and trusts the sandbox
probe's cache instead of starting the sandbox to test it.

Issue 19: no textual, anthropic, claude_agent_sdk, typer or PyYAML on the replay path; the probe
runs once per machine (per kernel, backend binary and its version), then only when its key
changes or a run fails in a way the probe should have caught (test_sandbox_boundary.py covers
that part in-process).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmos_tui.execution.sandbox.core import available_backends
from llmos_tui.learning.slots import extract_slots
from llmos_tui.learning.store import TraceStore
from llmos_tui.learning.traces import ToolCall, make_trace
from llmos_tui.workspace import open_workspace

GOAL = "Write a python script calc.py that prints 6 times 7 and run it"
HEAVY = {"textual", "anthropic", "claude_agent_sdk", "typer", "yaml"}
# ours, not used by a replay: the command-line app (Typer), the inner monologue (TUI idle time),
# self-modification proposals and episodic memory (recording a LEARNER trace)
UNUSED = {
    "llmos_tui.cli",
    "llmos_tui.sentience.monologue",
    "llmos_tui.sentience.selfmod",
    "llmos_tui.sentience.emotional_memory",
}

# Runs the real entry point; records which heavy libraries were imported and how many times the
# sandbox was started to probe it (the probe function itself is counted, nothing is replaced).
PROBE = r"""
import atexit, json, sys
out = sys.argv.pop(1)
from llmos_tui.execution.sandbox import core
probes = []
real = core._live_probe
def counted(backend):
    probes.append(backend)
    return real(backend)
core._live_probe = counted
def dump():
    with open(out, 'w') as f:
        json.dump({'heavy': sorted({m.split('.')[0] for m in sys.modules} & set(HEAVY)),
                   'unused': sorted(set(UNUSED) & set(sys.modules)), 'probes': probes,
                   'modules': sorted(sys.modules)}, f)
atexit.register(dump)
sys.argv[0] = 'llmos'
from llmos_tui.__main__ import main
main()
""".replace("set(HEAVY)", repr(HEAVY)).replace("set(UNUSED)", repr(UNUSED))


def calc_trace():
    return make_trace(
        GOAL,
        [
            ToolCall(
                "Write",
                {"file_path": "{{cwd}}/calc.py", "content": "print(6 * 7)\n"},
                {"is_error": False, "summary": "created", "files_created": ["calc.py"]},
            ),
            ToolCall("Bash", {"command": "python3 calc.py"}, {"is_error": False, "summary": "42"}),
        ],
        slots=extract_slots(GOAL),
    )


def follow(
    ws: Path, cwd: Path, tmp_path: Path, goal: str = GOAL, probe: str = PROBE
) -> tuple[dict, dict]:
    cwd.mkdir()
    out = tmp_path / "probe.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMOS_", "ANTHROPIC_"))}
    env.update(
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        LLMOS_LEARNING__AUTO_CRYSTALLIZATION="false",  # stay FOLLOWER (a plain scalar)
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe, str(out), "--headless", "run", goal, "--json"]
        + ["--workspace", str(ws), "--cwd", str(cwd)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), json.loads(out.read_text())


@pytest.mark.skipif(not available_backends(), reason="no OS sandbox works on this machine")
def test_a_cold_follower_hit_loads_nothing_it_does_not_use(tmp_path: Path) -> None:
    ws = open_workspace(tmp_path / "ws")
    TraceStore(ws).save(calc_trace(), volume="users/local")
    first, seen_first = follow(ws.root, tmp_path / "a", tmp_path)
    assert first["mode"] == "FOLLOWER" and first["success"], first
    assert [c["summary"] for c in first["tool_calls"]][1] == "42"
    # the first process on this machine probes the sandbox, only the backend it uses
    assert len(seen_first["probes"]) == 1, seen_first
    cache = json.loads((tmp_path / "cache" / "llmos" / "sandbox-probe.json").read_text())
    assert [k.split("|")[0] for k in cache] == seen_first["probes"]

    second, seen = follow(ws.root, tmp_path / "b", tmp_path)
    assert second["mode"] == "FOLLOWER" and second["success"], second
    assert (tmp_path / "b" / "calc.py").read_text() == "print(6 * 7)\n"
    assert seen["probes"] == [], "the cached probe result was valid: no sandbox started to test it"
    assert seen["heavy"] == [], f"a FOLLOWER hit imported {seen['heavy']}"
    assert seen["unused"] == [], f"a FOLLOWER hit imported {seen['unused']}"


WRITE_GOAL = "Create the greeting file hello.txt"
# What a hit of one Write does not use: the shell analyzer (a Write's target is checked by
# policy/targets.py), and standard modules that only the rarer paths need (tempfile: atomic.py
# makes its own temporaries; uuid: ids come from os.urandom; logging: imported by the first
# message), and dataclasses with the inspect/ast/tokenize it imports (the engine's classes are
# llmos_tui.records classes). Each would be compiled or loaded by every cold start.
WRITE_UNUSED = {
    "llmos_tui.execution.policy.shell",
    "tempfile",
    "uuid",
    "logging",
    "dataclasses",
    "inspect",
}
# Only the modules at exit (PROBE itself imports the sandbox core to count its probes).
MODULES = r"""
import atexit, json, sys
out = sys.argv.pop(1)
atexit.register(lambda: open(out, 'w').write(json.dumps({'modules': sorted(sys.modules)})))
sys.argv[0] = 'llmos'
from llmos_tui.__main__ import main
main()
"""


@pytest.mark.skipif(not available_backends(), reason="no OS sandbox works on this machine")
def test_a_write_hit_loads_no_shell_analysis(tmp_path: Path) -> None:
    ws = open_workspace(tmp_path / "ws")
    trace = make_trace(
        WRITE_GOAL,
        [
            ToolCall(
                "Write",
                {"file_path": "{{cwd}}/hello.txt", "content": "Hello!\n"},
                {"is_error": False, "summary": "created", "files_created": ["hello.txt"]},
            )
        ],
        slots=extract_slots(WRITE_GOAL),
    )
    TraceStore(ws).save(trace, volume="users/local")
    follow(ws.root, tmp_path / "a", tmp_path, WRITE_GOAL)  # first run: index, caches, probe
    result, seen = follow(ws.root, tmp_path / "b", tmp_path, WRITE_GOAL, MODULES)
    assert result["mode"] == "FOLLOWER" and result["success"], result
    assert (tmp_path / "b" / "hello.txt").read_text() == "Hello!\n"
    assert "llmos_tui.execution.policy.targets" in seen["modules"]  # the Write was checked
    loaded = WRITE_UNUSED & set(seen["modules"])
    assert not loaded, f"a Write hit imported {sorted(loaded)}"
