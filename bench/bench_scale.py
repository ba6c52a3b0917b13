"""Issue 19, scale: the rows `make bench` reports for 10k and 100k traces, with their targets.

    .venv/bin/python bench/bench_scale.py [--large 100000] [--small 10000] [--queries 400]
                                          [--paint-runs 3] [--json] [--only decision,rebuild,...]

Rows (each measured the way the script named in BENCHMARKS.md measures it):

- decision p50 / p99 at 10k and 100k: ``Matcher.decide`` on new goals (half fresh synthetic
  goals, half stored goals with one word changed) over a matcher of N synthetic goals
  (``bench_match.py latency``);
- index rebuild at 100k: ``TraceIndex.rebuild()`` over N trace files written in bulk
  (``bench_index.py``; page cache warm);
- memory at 100k: peak RSS (VmHWM) of a fresh process that loads that index and builds the
  matcher over its entries: what a kernel holds to decide at that size;
- TUI first paint at 10k: ``bench_tui_paint.py --traces 10000``, median of the runs.

Measurements, not tests: a missed target is printed, never a failure.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

MEMORY_CHILD = r"""
import json, sys
from pathlib import Path
from llmos_tui.workspace import Workspace
from llmos_tui.learning.index import TraceIndex
from llmos_tui.learning.matcher import Matcher
index = TraceIndex(Workspace(Path(sys.argv[1])), on_warning=lambda m: print(m, file=sys.stderr))
matcher = Matcher(index.entries())
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"entries": len(index.entries()), "groups": len(matcher), "rss_mib": hwm / 1024}))
"""


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(q / 100 * len(values) + 0.5) - 1))]


def decision(n: int, queries: int) -> dict[str, float]:
    from bench_match import EXTRA, _entries, synthetic_goals

    from llmos_tui.config import LLMOSConfig
    from llmos_tui.learning.matcher import Matcher

    cfg = LLMOSConfig()
    goals = synthetic_goals(n)
    matcher = Matcher(_entries(goals), config=cfg.learning)
    rng = random.Random(11)
    qs = []
    for i in range(queries):
        if i % 2:
            words = rng.choice(goals).split()
            words[rng.randrange(len(words))] = rng.choice(EXTRA)
            qs.append(" ".join(words))
        else:
            qs.append(synthetic_goals(1, seed=10_000 + i)[0])
    for q in qs[:20]:
        matcher.decide(q)  # warm-up
    lat = []
    for q in qs:
        t = time.perf_counter()
        matcher.decide(q)
        lat.append((time.perf_counter() - t) * 1000)
    del matcher
    gc.collect()
    return {"p50_ms": _pct(lat, 50), "p99_ms": _pct(lat, 99)}


def rebuild_and_memory(n: int, base: Path, what: set[str]) -> dict[str, float]:
    from bench_index import populate

    from llmos_tui.learning.index import TraceIndex
    from llmos_tui.learning.trust import init_workspace_trust
    from llmos_tui.workspace import open_workspace

    root = base / f"ws-{n}"
    ws = open_workspace(root, user="bench", on_create=init_workspace_trust)
    populate(root, n)
    out: dict[str, float] = {}
    index = TraceIndex(ws, on_warning=lambda m: None)
    t = time.perf_counter()
    counts = index.rebuild()
    out["rebuild_s"] = time.perf_counter() - t
    assert counts["traces"] == n, counts
    del index
    gc.collect()
    if "memory" in what:
        proc = subprocess.run(
            [sys.executable, "-c", MEMORY_CHILD, str(root)],
            capture_output=True,
            text=True,
            cwd=REPO,
            check=True,
        )
        row = json.loads(proc.stdout)
        assert row["entries"] == n, row
        out["rss_mib"] = row["rss_mib"]
    return out


def paint(n: int, runs: int) -> dict[str, float]:
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "bench_tui_paint.py"),
            "--runs",
            str(runs),
            "--traces",
            str(n),
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    return {"paint_ms": json.loads(proc.stdout)["median"]["paint_ms"]}


def _k(n: int) -> str:
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--paint-runs", type=int, default=3)
    parser.add_argument("--only", default="", help="decision, rebuild, memory, paint")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args()
    what = {w.strip() for w in args.only.split(",") if w.strip()} or {
        "decision",
        "rebuild",
        "memory",
        "paint",
    }
    small, large = _k(args.small), _k(args.large)
    rows: list[tuple[str, float | None, str, float | None]] = []  # (measure, value, unit, target)
    if "decision" in what:
        for n, name in ((args.small, small), (args.large, large)):
            d = decision(n, args.queries)
            p50_target = 2.0 if n == args.small else None  # issue 3's target at 10k
            rows.append((f"decision p50 at {name} traces", d["p50_ms"], "ms", p50_target))
            rows.append((f"decision p99 at {name} traces", d["p99_ms"], "ms", 10.0))
    if what & {"rebuild", "memory"}:
        base = Path(tempfile.mkdtemp(prefix="llmos-bench-scale-"))
        try:
            r = rebuild_and_memory(args.large, base, what)
        finally:
            shutil.rmtree(base, ignore_errors=True)
        if "rebuild" in what:
            rows.append((f"index rebuild at {large} traces", r["rebuild_s"], "s", 5.0))
        if "memory" in what:
            rows.append((f"memory at {large} traces (index + matcher)", r["rss_mib"], "MiB", 150.0))
    if "paint" in what:
        p = paint(args.small, args.paint_runs)
        rows.append((f"TUI first paint at {small} traces", p["paint_ms"], "ms", 500.0))
    if args.json:
        print(
            json.dumps(
                [
                    {"measure": m, "value": round(v, 3), "unit": u, "target": t}
                    for m, v, u, t in rows
                ],
                indent=2,
            )
        )
        return 0
    print("| measure | value | target | met |")
    print("|---|---:|---:|---|")
    for measure, value, unit, target in rows:
        shown = f"{value:.2f} {unit}" if unit == "ms" else f"{value:.1f} {unit}"
        goal = "" if target is None else f"≤ {target:g} {unit}"
        met = "" if target is None else ("yes" if value <= target else "no")
        print(f"| {measure} | {shown} | {goal} | {met} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
