"""Run the project's benchmarks and print their tables (what ``make bench`` runs).

    .venv/bin/python bench/run_all.py            # the quick ones (a few minutes)
    .venv/bin/python bench/run_all.py --full     # everything, with the long ones (about an hour)
    .venv/bin/python bench/run_all.py --only coldstart,replay

Each benchmark is its own script (see BENCHMARKS.md for what each measures and against what);
this runner starts them one after the other, never in parallel, and prints the machine first.
Benchmarks are measurements, not tests: a missed target is reported, not failed; the runner exits
non-zero only when a benchmark itself fails to run.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
LLMOS = str(Path(PY).parent / "llmos")
# The development data sets (bench/data/README.md); LLMOS_DEV_DATA=DIR runs on another folder of
# files with the same names and shapes (a held-out set).
DATA = Path(os.environ.get("LLMOS_DEV_DATA") or REPO / "bench" / "data")

# (name, title, quick argv, full argv or None for "same as quick"); quick argv None = full only.
BENCHES: list[tuple[str, str, list[str] | None, list[str] | None]] = [
    (
        "startup",
        "Cold start of the CLI (issue 2)",
        [PY, "bench/bench_startup.py", "--runs", "10"],
        [PY, "bench/bench_startup.py", "--runs", "20"],
    ),
    (
        "coldstart",
        "FOLLOWER hit vs `claude -p` (issue 5)",
        [PY, "bench/bench_coldstart.py", "--runs", "10", "--claude-runs", "5", "--profile"],
        [PY, "bench/bench_coldstart.py", "--runs", "30", "--claude-runs", "10", "--profile"],
    ),
    (
        "replay",
        "Replay overhead (issue 5)",
        [PY, "bench/bench_replay_overhead.py", "--rounds", "10"],
        [PY, "bench/bench_replay_overhead.py", "--rounds", "30"],
    ),
    (
        "toolpath",
        "LEARNER tool path: llmos twins vs the CLI's built-ins, per call (issue 14)",
        [PY, "bench/bench_tool_path.py", "--rounds", "3", "--calls", "10"],
        [PY, "bench/bench_tool_path.py", "--rounds", "7", "--calls", "10"],
    ),
    (
        "match-goals",
        "Matching quality: goals-dev (issue 3)",
        [LLMOS, "bench", "match", "--dataset", str(DATA / "goals-dev.json")],
        None,
    ),
    (
        "match-clinc",
        "Matching quality: clinc150-dev, K=10 (issue 3)",
        [
            LLMOS,
            "bench",
            "match",
            "--dataset",
            str(DATA / "clinc150-dev.json"),
            "--per-label",
            "10",
        ],
        None,
    ),
    (
        "match-latency",
        "Decision latency and memory (issue 3)",
        [PY, "bench/bench_match.py", "latency", "--sizes", "1000,10000"],
        [PY, "bench/bench_match.py", "latency", "--sizes", "1000,10000,100000"],
    ),
    (
        "index",
        "Trace storage at scale (issue 3)",
        [PY, "bench/bench_index.py", "1000", "10000"],
        [PY, "bench/bench_index.py", "1000", "10000", "100000"],
    ),
    (
        "scale",
        "Scale: decision, rebuild, memory at 100k traces, TUI first paint at 10k (issue 19)",
        [PY, "bench/bench_scale.py"],
        None,
    ),
    (
        "policy",
        "Policy latency and corpus (issue 4)",
        [
            PY,
            "bench/bench_policy.py",
            "--corpus",
            "tests/data/policy-corpus.json",
            "--corpus",
            str(DATA / "policy-dev.json"),
        ],
        None,
    ),
    (
        "tool-search",
        "Tool Search: tool-definition tokens",
        [PY, "bench/bench_tool_search.py"],
        None,
    ),
    (
        "tui-paint",
        "TUI first paint (issue 9)",
        [PY, "bench/bench_tui_paint.py", "--runs", "3"],
        [PY, "bench/bench_tui_paint.py", "--runs", "5", "--traces", "10000"],
    ),
    (
        "savings",
        "Token savings, LEARNER-only vs AUTO (issue 5)",
        None,
        [PY, "bench/bench_savings.py", "--quiet"],
    ),
    ("soak", "Soak: 10,000 goals (issue 11)", None, [PY, "bench/bench_soak.py"]),
    (
        "follower-memory",
        "Memory of repeated FOLLOWER hits (issue 11)",
        None,
        [PY, "bench/bench_follower_memory.py"],
    ),
]


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in open("/proc/cpuinfo")
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem = subprocess.run(["free", "-h"], capture_output=True, text=True).stdout.splitlines()
    total = mem[1].split()[1] if len(mem) > 1 else "?"
    load = os.getloadavg()
    return (
        f"machine: {os.cpu_count()} CPUs ({cpu}), {total} RAM, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--full", action="store_true", help="also the long benchmarks, at full size"
    )
    parser.add_argument(
        "--only", default="", help="comma-separated names: " + ", ".join(b[0] for b in BENCHES)
    )
    args = parser.parse_args()
    only = {n.strip() for n in args.only.split(",") if n.strip()}
    print(machine(), flush=True)
    failed = []
    for name, title, quick, full in BENCHES:
        if only and name not in only:
            continue
        argv = (full or quick) if args.full else quick
        if argv is None:
            continue
        print(
            f"\n## {title}\n`{' '.join(Path(a).name if a in (PY, LLMOS) else a for a in argv)}`\n",
            flush=True,
        )
        start = time.monotonic()
        proc = subprocess.run(argv, cwd=REPO, text=True, capture_output=True)
        print(proc.stdout.rstrip())
        if proc.returncode != 0:
            failed.append(name)
            print(f"(failed, exit {proc.returncode}): {proc.stderr.strip()[-1500:]}")
        print(f"({time.monotonic() - start:.0f} s)", flush=True)
    if failed:
        print(f"\nbenchmarks that did not run: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
