"""Replay overhead: FOLLOWER's replay engine versus executing the same tool calls directly.

    .venv/bin/python bench/bench_replay_overhead.py [--rounds 30] [--json]

One recorded trace (stored form, paths under ``{{cwd}}``) is run in a fresh directory per round,
three ways, interleaved so that disk and CPU noise hit them alike:

* ``replay``  - ``execution.replay.replay``: re-root the calls, preflight every call (paths, inputs,
                the policy for each call before any runs), execute each through ``ToolExecutor``
                (the policy again only where an earlier step may have changed its answer), compare
                each result with the recording;
* ``direct``  - the same calls, re-rooted, each passed once to ``ToolExecutor.execute`` (same
                executors, same policy hook, same OS sandbox for Bash), no preflight, no comparison;
* ``raw``     - plain Python doing the same work without llmos: write/edit files, ``bash -c`` in a
                subprocess (no policy, no sandbox), ``glob``/``re`` for Glob/Grep.

Two workloads: ``files`` (Write, Write, Edit, MultiEdit, Read, Glob, Grep: no process is spawned)
and ``with-bash`` (the same plus two Bash calls, each sandboxed). Two hook setups: ``policy`` (the
policy engine alone) and ``kernel`` (the policy plus one POLICY_DECISION event per check, appended
to an event log, as ``LLMOS._policy_hooks`` does). Reported: median wall time per run of the trace and
the replay's overhead over ``direct`` (target: <= 10 %).
"""

from __future__ import annotations

import argparse
import glob as _glob
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from llmos_tui.execution.replay.executors import ToolExecutor  # noqa: E402
from llmos_tui.execution.replay.hooks import HookRegistry, HookVerdict  # noqa: E402
from llmos_tui.execution.policy.engine import PolicyEngine  # noqa: E402
from llmos_tui.execution.replay.engine import replay  # noqa: E402
from llmos_tui.learning.traces import ToolCall, reroot  # noqa: E402
from llmos_tui.observability.events import EventLog  # noqa: E402

APP = (
    "import sys\n\ndef add(a, b):\n    return a + b\n\nprint('sum', add(2, 3))\n"
    + "# padding\n" * 40
)
FILE_CALLS = [
    ToolCall(
        "Write",
        {"file_path": "{{cwd}}/app.py", "content": APP},
        {"is_error": False, "summary": "created", "files_created": ["app.py"]},
    ),
    ToolCall(
        "Write",
        {"file_path": "{{cwd}}/notes.md", "content": "# Notes\n\n" + "TODO: write tests\n" * 5},
        {"is_error": False, "summary": "created", "files_created": ["notes.md"]},
    ),
    ToolCall(
        "Edit",
        {"file_path": "{{cwd}}/app.py", "old_string": "add(2, 3)", "new_string": "add(20, 22)"},
        {"is_error": False, "summary": "edited"},
    ),
    ToolCall(
        "MultiEdit",
        {
            "file_path": "{{cwd}}/notes.md",
            "edits": [
                {"old_string": "# Notes", "new_string": "# Project notes"},
                {"old_string": "TODO", "new_string": "DONE", "replace_all": True},
            ],
        },
        {"is_error": False, "summary": "edited"},
    ),
    ToolCall("Read", {"file_path": "{{cwd}}/app.py"}, {"is_error": False, "summary": "read"}),
    ToolCall("Glob", {"pattern": "*.py"}, {"is_error": False, "summary": "1 file"}),
    ToolCall(
        "Grep", {"pattern": "DONE", "path": "{{cwd}}"}, {"is_error": False, "summary": "found"}
    ),
]
BASH_CALLS = [
    ToolCall(
        "Bash",
        {"command": "python3 app.py > out.txt"},
        {"is_error": False, "summary": "", "exit_code": 0},
    ),
    ToolCall(
        "Bash",
        {"command": "wc -l notes.md out.txt"},
        {"is_error": False, "summary": "", "exit_code": 0},
    ),
]
WORKLOADS = {"files": FILE_CALLS, "with-bash": FILE_CALLS + BASH_CALLS}


def make_hooks(cwd: Path, setup: str, events: EventLog | None) -> HookRegistry:
    engine = PolicyEngine()
    hooks = HookRegistry()

    def policy_hook(name: str, tool_input: dict, _tid: str) -> HookVerdict:
        d = engine.check(name, tool_input, cwd)
        if setup == "kernel" and events is not None:
            events.record(
                "POLICY_DECISION", tool=name, decision=d.decision, reason=d.reason, rule=d.rule
            )
        return HookVerdict(d.decision, d.reason, d.rule)

    hooks.add_pre(policy_hook, path_scoped=True)  # as LLMOS._policy_hooks registers it
    return hooks


def run_replay(calls: list[ToolCall], cwd: Path, setup: str, events: EventLog) -> float:
    executor = ToolExecutor(cwd, make_hooks(cwd, setup, events))
    start = time.perf_counter()
    result = replay(calls, cwd, executor)
    elapsed = time.perf_counter() - start
    if not result.success:
        raise SystemExit(f"the replay failed: {result.reason}")
    return elapsed


def run_direct(calls: list[ToolCall], cwd: Path, setup: str, events: EventLog) -> float:
    executor = ToolExecutor(cwd, make_hooks(cwd, setup, events))
    start = time.perf_counter()
    for n, call in enumerate(reroot(calls, cwd)):
        outcome = executor.execute(call.name, call.input, f"direct_{n}")
        if outcome.is_error:
            raise SystemExit(f"direct {call.name} failed: {outcome.summary}")
    return time.perf_counter() - start


def run_raw(calls: list[ToolCall], cwd: Path) -> float:
    start = time.perf_counter()
    for call in reroot(calls, cwd):
        inp = call.input
        if call.name == "Write":
            Path(inp["file_path"]).write_text(inp["content"])
        elif call.name == "Edit":
            p = Path(inp["file_path"])
            p.write_text(p.read_text().replace(inp["old_string"], inp["new_string"], 1))
        elif call.name == "MultiEdit":
            p = Path(inp["file_path"])
            text = p.read_text()
            for e in inp["edits"]:
                text = text.replace(
                    e["old_string"], e["new_string"], -1 if e.get("replace_all") else 1
                )
            p.write_text(text)
        elif call.name == "Read":
            Path(inp["file_path"]).read_text()
        elif call.name == "Glob":
            _glob.glob(str(cwd / inp["pattern"]))
        elif call.name == "Grep":
            rx = re.compile(inp["pattern"])
            [
                p
                for p in Path(inp["path"]).rglob("*")
                if p.is_file() and rx.search(p.read_text(errors="replace"))
            ]
        elif call.name == "Bash":
            subprocess.run(["bash", "-c", inp["command"]], cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def measure(rounds: int, base: Path) -> dict:
    events = EventLog(base / "events.jsonl")
    out: dict = {}
    for workload, calls in WORKLOADS.items():
        for setup in ("policy", "kernel"):
            samples: dict[str, list[float]] = {"replay": [], "direct": [], "raw": []}
            for n in range(rounds + 2):  # two warm-up rounds
                order = ["replay", "direct", "raw"] if n % 2 else ["raw", "direct", "replay"]
                for way in order:
                    cwd = base / f"{workload}-{setup}-{way}-{n}"
                    cwd.mkdir()
                    cwd = cwd.resolve()
                    if way == "replay":
                        t = run_replay(calls, cwd, setup, events)
                    elif way == "direct":
                        t = run_direct(calls, cwd, setup, events)
                    else:
                        t = run_raw(calls, cwd)
                    if n >= 2:
                        samples[way].append(t * 1000)
            med = {way: statistics.median(v) for way, v in samples.items()}
            out[f"{workload}/{setup}"] = {
                "calls": len(calls),
                "replay_ms": round(med["replay"], 2),
                "direct_ms": round(med["direct"], 2),
                "raw_ms": round(med["raw"], 2),
                "overhead_vs_direct_pct": round((med["replay"] / med["direct"] - 1) * 100, 1),
                "replay_vs_raw_x": round(med["replay"] / med["raw"], 1),
                "p90_replay_ms": round(
                    sorted(samples["replay"])[int(len(samples["replay"]) * 0.9) - 1], 2
                ),
            }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="llmos-replay-bench-"))
    try:
        result = measure(args.rounds, base)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        "| workload / hooks | calls | replay ms | direct ms | raw Python ms | replay overhead vs direct | replay / raw |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, row in result.items():
        print(
            f"| {name} | {row['calls']} | {row['replay_ms']} | {row['direct_ms']} | {row['raw_ms']} | "
            f"{row['overhead_vs_direct_pct']:+.1f} % | {row['replay_vs_raw_x']}x |"
        )


if __name__ == "__main__":
    main()
