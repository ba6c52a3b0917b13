"""Memory of repeated FOLLOWER hits in one kernel: is anything kept per run?

    .venv/bin/python bench/bench_follower_memory.py [--warmup 300] [--steps 6] [--per-step 500]

Five stored traces, each replayed in turn (auto-crystallization off, so every run is a FOLLOWER
replay) in one of ten working folders recreated for each run. After a warm-up, prints the Python
heap (``tracemalloc``) and RSS after every step. A leak shows as heap growing with the runs.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import sys
import tempfile
import tracemalloc
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def rss_mib() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--per-step", type=int, default=500)
    args = parser.parse_args()

    from llmos_tui.kernel import LLMOS, RunOptions
    from llmos_tui.learning.slots import extract_slots
    from llmos_tui.learning.traces import ToolCall, make_trace

    base = Path(tempfile.mkdtemp(prefix="llmos-memory-"))
    os.environ["HOME"] = str(base / "home")
    try:
        kernel = LLMOS.boot(
            base / "ws", overrides={"budget_usd": 1e6, "learning": {"auto_crystallization": False}}
        )
        goals = [f"Create the greeting file hello{i}.txt" for i in range(5)]
        for goal in goals:
            name = goal.split()[-1]
            kernel.store.save(
                make_trace(
                    goal,
                    [
                        ToolCall(
                            "Write",
                            {"file_path": "{{cwd}}/" + name, "content": "hi\n"},
                            {"is_error": False, "summary": "created", "files_created": [name]},
                        )
                    ],
                    slots=extract_slots(goal),
                ),
                volume="users/local",
            )
        done = 0

        def run(n: int) -> None:
            nonlocal done
            for _ in range(n):
                cwd = base / f"cwd{done % 10}"
                shutil.rmtree(cwd, ignore_errors=True)
                cwd.mkdir()
                result = kernel.execute(goals[done % 5], options=RunOptions(cwd=cwd))
                if not (result.success and result.mode == "FOLLOWER"):
                    raise SystemExit(
                        f"run {done} was not a FOLLOWER success: {result.mode} {result.error}"
                    )
                done += 1

        run(args.warmup)
        tracemalloc.start(1)
        print("| runs | Python heap KiB (tracemalloc) | RSS MiB |\n|---|---|---|")
        for _ in range(args.steps):
            run(args.per_step)
            gc.collect()
            current, _peak = tracemalloc.get_traced_memory()
            print(f"| {done} | {current / 1024:.0f} | {rss_mib():.1f} |", flush=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
