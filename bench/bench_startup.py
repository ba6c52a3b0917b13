"""Cold start of the CLI: `llmos --version`, `llmos --help`, and a headless run that exits
before any LLM call (no LLM configured -> exit 5). Wall time and peak RSS per run.

    .venv/bin/python bench/bench_startup.py [--runs 20] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LLMOS = str(Path(sys.executable).parent / "llmos")


def measure(argv: list[str], env: dict[str, str], runs: int, expect: int) -> dict[str, float]:
    times, rss = [], []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        _pid, status, usage = os.wait4(proc.pid, 0)
        times.append((time.perf_counter() - start) * 1000)
        rss.append(usage.ru_maxrss / 1024)
        code = os.waitstatus_to_exitcode(status)
        if code != expect:
            raise SystemExit(f"{argv} exited {code}, expected {expect}")
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 1),
        "p90_ms": round(times[int(len(times) * 0.9) - 1], 1),
        "min_ms": round(times[0], 1),
        "rss_mib": round(statistics.median(rss), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="llmos-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "LLMOS_"))}
    env.update(HOME=str(tmp), LLMOS_WORKSPACE=str(tmp / "ws"))
    subprocess.run([LLMOS, "init"], env=env, check=True, capture_output=True)
    cases = {
        "llmos --version": ([LLMOS, "--version"], 0),
        "llmos --help": ([LLMOS, "--help"], 0),
        "headless run, no LLM configured (exit 5)": (
            [LLMOS, "--headless", "run", "Say hi", "--json", "--cwd", str(tmp)],
            5,
        ),
    }
    results = {
        name: measure(argv, env, args.runs, expect) for name, (argv, expect) in cases.items()
    }
    shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print("| command | p50 ms | p90 ms | min ms | peak RSS MiB |\n|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| `{name}` | {r['p50_ms']} | {r['p90_ms']} | {r['min_ms']} | {r['rss_mib']} |")


if __name__ == "__main__":
    main()
