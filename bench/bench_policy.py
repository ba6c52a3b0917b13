"""Policy engine benchmark (a measurement, not a timed test).

    python bench/bench_policy.py [--corpus FILE ...] [--repeat 5] [--json]

Runs every case of the corpora (default: tests/data/policy-corpus.json and
bench/data/policy-dev.json; ``LLMOS_DEV_DATA=DIR`` takes that
file from DIR) through ``PolicyEngine.check`` ``--repeat`` times and reports
the latency of one decision (p50, p90, p99, max) overall and per tool, plus the quality counts
of ``llmos bench policy``. Target: p99 ≤ 5 ms.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from llmos_tui.execution.policy.bench import load_corpus, run_bench_policy, substitute  # noqa: E402
from llmos_tui.execution.policy.engine import PolicyEngine  # noqa: E402

DEFAULT_CORPORA = [
    REPO / "tests" / "data" / "policy-corpus.json",
    Path(os.environ.get("LLMOS_DEV_DATA") or REPO / "bench" / "data") / "policy-dev.json",
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def measure(corpora: list[Path], repeat: int) -> dict:
    engine = PolicyEngine()
    cases = []
    for path in corpora:
        cases.extend(load_corpus(path))
    home = os.path.expanduser("~")
    per_tool: dict[str, list[float]] = {}
    all_ms: list[float] = []
    with tempfile.TemporaryDirectory(prefix="llmos-bench-") as tmp:
        cwd = os.path.realpath(tmp)
        prepared = [
            (c["tool"], substitute(c["input"], cwd, home, os.path.join(cwd, "outside")))
            for c in cases
        ]
        engine.check("Bash", {"command": "true"}, cwd)  # warm-up: parser load
        gc.collect()
        for _ in range(repeat):
            for tool, tool_input in prepared:
                t0 = time.perf_counter()
                engine.check(tool, tool_input, cwd)
                ms = (time.perf_counter() - t0) * 1000
                all_ms.append(ms)
                per_tool.setdefault(
                    tool if tool in ("Bash", "Write", "Read", "Edit", "Grep", "Glob") else "other",
                    [],
                ).append(ms)

    def stats(values: list[float]) -> dict:
        return {
            "n": len(values),
            "mean_ms": round(statistics.fmean(values), 4),
            "p50_ms": round(percentile(values, 50), 4),
            "p90_ms": round(percentile(values, 90), 4),
            "p99_ms": round(percentile(values, 99), 4),
            "max_ms": round(max(values), 4),
        }

    quality = {}
    for path in corpora:
        report = run_bench_policy(path)
        quality[str(path)] = {k: (len(v) if k == "missed" else v) for k, v in report.items()}
    return {
        "cases": len(cases),
        "repeat": repeat,
        "overall": stats(all_ms),
        "per_tool": {k: stats(v) for k, v in sorted(per_tool.items())},
        "quality": quality,
        "target_p99_ms": 5.0,
        "meets_target": percentile(all_ms, 99) <= 5.0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", action="append", type=Path, help="corpus file (repeatable)")
    parser.add_argument("--repeat", type=int, default=5, help="passes over the corpus (default 5)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    corpora = args.corpus or DEFAULT_CORPORA
    result = measure(corpora, max(1, args.repeat))
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"policy check latency over {result['cases']} cases x {result['repeat']} passes")
    print(f"{'tool':>8} {'n':>6} {'mean':>8} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8}   (ms)")
    rows = [("all", result["overall"])] + list(result["per_tool"].items())
    for name, s in rows:
        print(
            f"{name:>8} {s['n']:>6} {s['mean_ms']:>8.3f} {s['p50_ms']:>8.3f} {s['p90_ms']:>8.3f} "
            f"{s['p99_ms']:>8.3f} {s['max_ms']:>8.3f}"
        )
    print(f"target p99 <= 5 ms: {'met' if result['meets_target'] else 'NOT met'}")
    for path, q in result["quality"].items():
        print(
            f"{Path(path).name}: {q['blocked']}/{q['block_cases']} blocked, "
            f"{q['false_blocks']}/{q['allow_cases']} false blocks, {q['missed']} missed"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
