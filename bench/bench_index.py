"""Trace storage at scale: recording, reindexing and loading the index at 1k, 10k, 100k traces.

    .venv/bin/python bench/bench_index.py [SIZES ...] [--records 200] [--repeat R] [--json] [--dir DIR]

For each size N a temporary workspace gets N synthetic trace files (written in bulk, spread over
a user, a team and the system volume), then it measures, through the real TraceStore/TraceIndex:

- reindex: ``TraceIndex.rebuild()`` (parse every file, write the TinyDB snapshot);
- record: ``TraceStore.save()`` of one new trace (markdown file + journal line, both fsynced,
  under the lock), p50/p99 over ``--records`` saves; and ``record_outcome`` likewise;
- compaction: folding the journal into a new TinyDB snapshot (happens every max(256, N/4)
  changes, so it is reported apart; amortised per change it is compaction / (N/4));
- refresh: ``refresh()`` when nothing changed (a few stat calls, no lock), ``entries()`` (the
  list copy), and ``entries()`` after one write by another process (reads one journal line);
- cold load: a new process importing the index module and loading every entry (the journal
  holds the records made above), wall time of that process, its peak RSS, and the RSS the
  entries add over a process that only imports the module.
Page cache is warm (files were just written); numbers are wall-clock on this machine.
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
sys.path.insert(0, str(REPO))

from llmos_tui.learning.index import TraceIndex  # noqa: E402
from llmos_tui.learning.store import TraceStore  # noqa: E402
from llmos_tui.learning.traces import ToolCall, dump_trace, make_trace  # noqa: E402
from llmos_tui.learning.trust import init_workspace_trust  # noqa: E402
from llmos_tui.workspace import open_workspace  # noqa: E402

VERBS = [
    "Create",
    "Delete",
    "Refactor",
    "Test",
    "Deploy",
    "Document",
    "Lint",
    "Rename",
    "Build",
    "Profile",
]
THINGS = [
    "calculator",
    "web server",
    "parser",
    "todo app",
    "CLI",
    "database schema",
    "REST client",
    "image resizer",
    "log analyzer",
    "unit tests",
    "config loader",
    "scheduler",
]
LANGS = ["Python", "Rust", "Go", "TypeScript", "Java", "Ruby"]
VOLUMES = ["users/bench", "users/bench", "users/bench", "teams/default", "system"]

LOADER = r"""
import json, sys, time
t0 = time.perf_counter()
from pathlib import Path
from llmos_tui.workspace import Workspace
from llmos_tui.learning.index import TraceIndex
t1 = time.perf_counter()
n = -1
if sys.argv[2] == "load":
    idx = TraceIndex(Workspace(Path(sys.argv[1])), on_warning=lambda m: print(m, file=sys.stderr))
    n = len(idx.entries())
t2 = time.perf_counter()
# VmHWM (peak RSS of this program image), not ru_maxrss: after fork+exec the latter still
# counts the parent's memory.
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"import_ms": (t1 - t0) * 1000, "load_ms": (t2 - t1) * 1000, "entries": n,
                  "rss_mib": hwm / 1024}))
"""


def synthetic_trace(i: int):
    verb, thing, lang = (
        VERBS[i % len(VERBS)],
        THINGS[(i // 10) % len(THINGS)],
        LANGS[(i // 120) % len(LANGS)],
    )
    name = f"{thing.replace(' ', '_')}_{i}.py"
    goal = f"{verb} the {lang} {thing} in {name}"
    calls = [
        ToolCall(
            "Write",
            {"file_path": f"{{{{cwd}}}}/{name}", "content": f"# {goal}\n" + "x = 1\n" * 20},
            {"is_error": False, "summary": "created", "files_created": [name]},
            f"toolu_{i:08d}a",
        ),
        ToolCall(
            "Bash",
            {"command": f"python {{{{cwd}}}}/{name}"},
            {"is_error": False, "summary": "", "exit_code": 0},
            f"toolu_{i:08d}b",
        ),
    ]
    return make_trace(
        goal,
        calls,
        summary=f"Did: {goal}.",
        cost_usd=0.01 + (i % 50) / 1000,
        tokens={"input": 1000 + i % 700, "output": 200 + i % 90},
        slots={"file": name, "language": lang.lower()},
        agent="system",
        model="claude-sonnet-4-5",
        when=1_790_000_000 + i,
    )


def populate(root: Path, n: int) -> None:
    """Write N trace files directly (bulk setup; the measured paths come after)."""
    for volume in set(VOLUMES):
        (root / "volumes" / volume / "traces").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        trace = synthetic_trace(i)
        path = root / "volumes" / VOLUMES[i % len(VOLUMES)] / "traces" / f"{trace.id}.md"
        path.write_text(dump_trace(trace), encoding="utf-8")


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, int(round(q * len(values))) - 1))]


def cold(root: Path, what: str, runs: int) -> dict[str, float]:
    rows, walls = [], []
    for _ in range(runs):
        start = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", LOADER, str(root), what],
            capture_output=True,
            text=True,
            cwd=REPO,
            check=True,
        )
        walls.append((time.perf_counter() - start) * 1000)
        if out.stderr.strip():
            raise SystemExit(f"the cold load warned: {out.stderr.strip()}")
        rows.append(json.loads(out.stdout))
    return {
        "wall_ms": statistics.median(walls),
        "load_ms": statistics.median(r["load_ms"] for r in rows),
        "import_ms": statistics.median(r["import_ms"] for r in rows),
        "rss_mib": statistics.median(r["rss_mib"] for r in rows),
        "entries": rows[0]["entries"],
    }


def bench_size(n: int, records: int, base: Path) -> dict[str, float]:
    root = base / f"ws-{n}"
    ws = open_workspace(root, user="bench", on_create=init_workspace_trust)
    t = time.perf_counter()
    populate(root, n)
    os.sync()  # flush the bulk writes now, so they do not land on the first timed fsyncs
    setup_s = time.perf_counter() - t

    index = TraceIndex(ws, on_warning=lambda m: None)
    t = time.perf_counter()
    counts = index.rebuild()
    reindex_s = time.perf_counter() - t
    assert counts["traces"] == n, counts
    snapshot_mib = ws.index_file.stat().st_size / 2**20
    os.sync()

    store = TraceStore(ws, index)
    save_ms, outcome_ms, saved = [], [], []
    for i in range(records):
        trace = synthetic_trace(n + i)
        t = time.perf_counter()
        store.save(trace, volume="users/bench")
        save_ms.append((time.perf_counter() - t) * 1000)
        saved.append(trace.id)
    for i in range(records):
        t = time.perf_counter()
        store.record_outcome(saved[i], success=i % 5 != 0)
        outcome_ms.append((time.perf_counter() - t) * 1000)

    t = time.perf_counter()
    for _ in range(1000):
        index.refresh()
    refresh_us = (time.perf_counter() - t) * 1000  # ms per 1000 calls = µs per call
    t = time.perf_counter()
    for _ in range(100):
        index.entries()
    entries_ms = (time.perf_counter() - t) * 10

    other = TraceStore(ws, TraceIndex(ws, on_warning=lambda m: None))
    other.save(synthetic_trace(n + records), volume="users/bench")
    t = time.perf_counter()
    assert len(index.entries()) == n + records + 1
    foreign_ms = (time.perf_counter() - t) * 1000

    # Compaction: done here on purpose, then the journal is refilled to its typical size.
    t = time.perf_counter()
    with index.transaction():
        index._write_snapshot(index._gen + 1)
    compaction_ms = (time.perf_counter() - t) * 1000
    for i in range(records):
        store.record_outcome(saved[i], success=True)

    load = cold(root, "load", 5)
    baseline = cold(root, "import", 3)
    return {
        "traces": n,
        "setup_s": round(setup_s, 2),
        "reindex_s": round(reindex_s, 3),
        "record_p50_ms": round(statistics.median(save_ms), 2),
        "record_p99_ms": round(pct(save_ms, 0.99), 2),
        "outcome_p50_ms": round(statistics.median(outcome_ms), 2),
        "outcome_p99_ms": round(pct(outcome_ms, 0.99), 2),
        "compaction_ms": round(compaction_ms, 1),
        "compaction_every": max(256, (n + records) // 4),
        "refresh_unchanged_us": round(refresh_us, 1),
        "entries_list_ms": round(entries_ms, 2),
        "refresh_after_foreign_write_ms": round(foreign_ms, 2),
        "cold_load_ms": round(load["load_ms"], 1),
        "cold_process_ms": round(load["wall_ms"], 1),
        "cold_import_ms": round(load["import_ms"], 1),
        "cold_rss_mib": round(load["rss_mib"], 1),
        "index_rss_mib": round(load["rss_mib"] - baseline["rss_mib"], 1),
        "snapshot_mib": round(snapshot_mib, 1),
    }


COLUMNS = [
    ("traces", "traces"),
    ("reindex_s", "reindex s"),
    ("record_p50_ms", "record p50 ms"),
    ("record_p99_ms", "record p99 ms"),
    ("outcome_p50_ms", "outcome p50 ms"),
    ("outcome_p99_ms", "outcome p99 ms"),
    ("compaction_ms", "compaction ms"),
    ("refresh_unchanged_us", "refresh (no change) µs"),
    ("entries_list_ms", "entries() ms"),
    ("refresh_after_foreign_write_ms", "refresh (1 foreign write) ms"),
    ("cold_load_ms", "cold load ms"),
    ("cold_process_ms", "cold process ms"),
    ("cold_rss_mib", "RSS MiB"),
    ("index_rss_mib", "index RSS MiB"),
    ("snapshot_mib", "index.json MiB"),
]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("sizes", nargs="*", type=int, default=[1000, 10000, 100000])
    parser.add_argument(
        "--records", type=int, default=200, help="saves (and outcome updates) timed per size"
    )
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="where to create the workspaces (default: a temp dir)",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="measure each size R times and report medians"
    )
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="llmos-bench-index-", dir=args.dir))
    rows = []
    try:
        for n in args.sizes:
            runs = []
            for _ in range(max(1, args.repeat)):
                runs.append(bench_size(n, args.records, base))
                shutil.rmtree(base / f"ws-{n}", ignore_errors=True)
            rows.append(
                {
                    key: (statistics.median(r[key] for r in runs) if key != "traces" else n)
                    for key in runs[0]
                }
            )
            print(f"done: {n} traces", file=sys.stderr)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print("| " + " | ".join(title for _, title in COLUMNS) + " |")
    print("|" + "---:|" * len(COLUMNS))
    for row in rows:
        print("| " + " | ".join(str(row[key]) for key, _ in COLUMNS) + " |")


if __name__ == "__main__":
    main()
