"""Matcher benchmarks (measurements, not timed tests).

python bench/bench_match.py latency [--sizes 1000,10000,100000] [--queries 400] [--semantic]
    Decision latency of the in-memory Matcher (and of select_mode) at N synthetic traces,
    plus the time to build the matcher and its memory. With --semantic the embedding
    re-ranker is on; build_s then includes loading the model and embedding the N goals.

python bench/bench_match.py cv --dataset bench/data/clinc150-dev.json [--per-label 10]
                               [--semantic [--cache DIR]] [--param NAME=VALUE ...]
    Precision/coverage on train-derived splits only (K train texts per label as traces,
    other train texts of the same labels as queries, oos_train as out-of-scope queries):
    how the matcher's defaults were chosen without looking at the test queries.
    --semantic turns the embedding re-ranker on (the [semantic] extra); goal embeddings
    are cached in DIR (default: a folder under the system temp dir) and the queries are
    embedded in one batch first, so a sweep of --param values is quick.

python bench/bench_match.py split --dataset FILE --out DIR
    Split a dataset in two halves by label (sha256 of the label, so every text of one
    command or intent stays in one half; oos queries by their text) into DIR/NAME-A.json
    and DIR/NAME-B.json: tune on one half, report the other (a held-out set of the same
    shape). Prints the size of each half.

python bench/bench_match.py dataset --dataset FILE [--per-label 10] [--semantic]
    The same as `llmos bench match --json` (real store and index in a temp workspace),
    plus the time to embed the stored goals with --semantic.
"""

from __future__ import annotations

import argparse
import collections
import gc
import json
import os
import random
import sys
import time
import tracemalloc
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from llmos_tui.config import LLMOSConfig  # noqa: E402
from llmos_tui.learning.matcher import DEFAULT_PARAMS, Matcher, MatchParams  # noqa: E402
from llmos_tui.learning.modes import select_mode  # noqa: E402

# The development data sets (bench/data/README.md); LLMOS_DEV_DATA=DIR runs on another folder of
# files with the same names and shapes (a held-out set).
DATA = Path(os.environ.get("LLMOS_DEV_DATA") or REPO / "bench" / "data")

# A generic vocabulary for synthetic agent goals (not the benchmark datasets' wording).
VERBS = [
    "create",
    "write",
    "build",
    "delete",
    "remove",
    "show",
    "list",
    "run",
    "start",
    "stop",
    "convert",
    "summarize",
    "count",
    "find",
    "update",
    "rename",
    "copy",
    "move",
    "test",
    "format",
    "deploy",
    "install",
    "backup",
    "restore",
    "compress",
    "send",
    "download",
    "analyze",
    "review",
    "plot",
    "sort",
    "merge",
    "split",
    "explain",
    "translate",
    "fix",
]
ADJS = [
    "simple",
    "small",
    "new",
    "old",
    "large",
    "daily",
    "weekly",
    "shared",
    "private",
    "temporary",
    "broken",
    "failing",
    "slow",
    "main",
    "local",
    "remote",
    "public",
    "secret",
]
NOUNS = [
    "calculator",
    "report",
    "server",
    "database",
    "table",
    "chart",
    "invoice",
    "readme",
    "changelog",
    "config",
    "script",
    "module",
    "package",
    "image",
    "video",
    "log",
    "cache",
    "branch",
    "commit",
    "issue",
    "ticket",
    "email",
    "folder",
    "archive",
    "backup",
    "test",
    "benchmark",
    "dashboard",
    "api",
    "endpoint",
    "client",
    "queue",
    "worker",
    "cron",
    "scraper",
    "parser",
    "lexer",
    "compiler",
    "game",
    "website",
    "blog",
    "post",
    "note",
    "playlist",
    "budget",
    "recipe",
    "schedule",
    "calendar",
    "reminder",
    "contact",
    "user",
]
TECH = [
    "python",
    "javascript",
    "rust",
    "go",
    "java",
    "json",
    "csv",
    "yaml",
    "docker",
    "git",
    "sql",
    "html",
    "markdown",
    "pytest",
    "react",
    "flask",
    "redis",
    "postgres",
]
EXTRA = [
    w
    for w in (
        "alpha beta gamma delta omega north south east west red green blue amber "
        "quarterly annual mobile desktop kernel driver network firewall sensor "
        "weather stock market sales marketing finance payroll hiring onboarding "
        "inventory shipping billing support feedback survey metrics alerts"
    ).split()
]


def synthetic_goals(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        parts = [rng.choice(VERBS), "the"]
        if rng.random() < 0.5:
            parts.append(rng.choice(ADJS))
        parts.append(rng.choice(EXTRA))
        parts.append(rng.choice(NOUNS))
        if rng.random() < 0.6:
            parts += [rng.choice(["in", "with", "for", "from", "to"]), rng.choice(TECH)]
        if rng.random() < 0.5:
            parts += [rng.choice(["and", "then"]), rng.choice(VERBS), "the", rng.choice(NOUNS)]
        if rng.random() < 0.4:
            parts.append(f"{rng.choice(NOUNS)}{i}.{rng.choice(['py', 'md', 'csv', 'json'])}")
        if rng.random() < 0.3:
            parts += ["on", "port", str(1000 + i % 60000)]
        out.append(" ".join(parts))
    return out


def _entries(goals: list[str]) -> list[dict]:
    return [
        {
            "id": f"t_{i:012x}",
            "goal": g,
            "success_count": 1,
            "failure_count": 0,
            "outcome": "success",
        }
        for i, g in enumerate(goals)
    ]


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, int(round(q / 100 * len(values) + 0.5)) - 1))]


def _memory_mb(entries: list[dict], cfg: LLMOSConfig) -> float:
    """Memory held by a matcher over *entries* (tracemalloc; measured apart from the timing)."""
    from llmos_tui.learning.accounting import units
    from llmos_tui.learning.text import _prepare

    _prepare.cache_clear()
    units.cache_clear()
    gc.collect()
    tracemalloc.start()
    matcher = Matcher(entries, config=cfg.learning)
    held = tracemalloc.get_traced_memory()[0] / 1e6
    tracemalloc.stop()
    del matcher
    return held


def cmd_latency(args: argparse.Namespace) -> None:
    sizes = [int(s) for s in args.sizes.split(",")]
    cfg = LLMOSConfig()
    rng = random.Random(11)
    print(
        f"{'traces':>8} {'build_s':>8} {'mem_MB':>7} {'p50_ms':>7} {'p99_ms':>7} {'mode_p50':>8} {'mode_p99':>8}"
    )
    for n in sizes:
        goals = synthetic_goals(n)
        entries = _entries(goals)
        gc.collect()
        t0 = time.perf_counter()
        if args.semantic:
            import tempfile

            from llmos_tui.learning.semantic import CACHE_FILE, SemanticIndex, require_semantic

            require_semantic()
            tmp = tempfile.mkdtemp(prefix="llmos-bench-sem-")
            matcher = Matcher(
                entries, config=cfg.learning, semantic=SemanticIndex(Path(tmp) / CACHE_FILE)
            )
            matcher.prepare_semantic()
        else:
            matcher = Matcher(entries, config=cfg.learning)
        build = time.perf_counter() - t0
        mem = (
            _memory_mb(entries, cfg) if n <= args.memory_max and not args.semantic else float("nan")
        )
        # queries: stored goals reworded a little, and fresh synthetic goals
        queries = []
        for i in range(args.queries):
            if i % 2:
                words = rng.choice(goals).split()
                words[rng.randrange(len(words))] = rng.choice(EXTRA)
                queries.append(" ".join(words))
            else:
                queries.append(synthetic_goals(1, seed=10_000 + i)[0])
        for q in queries[:20]:
            matcher.decide(q)  # warm-up
        lat, mode_lat = [], []
        for q in queries:
            t = time.perf_counter()
            matcher.decide(q)
            lat.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            select_mode(q, matcher, cfg)
            mode_lat.append((time.perf_counter() - t) * 1000)
        print(
            f"{n:>8} {build:>8.2f} {mem:>7.1f} {_pct(lat, 50):>7.2f} {_pct(lat, 99):>7.2f} "
            f"{_pct(mode_lat, 50):>8.2f} {_pct(mode_lat, 99):>8.2f}"
        )


def _params(pairs: list[str]) -> MatchParams:
    """MatchParams with NAME=VALUE overrides (for sweeps)."""
    import dataclasses

    changes = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        default = getattr(DEFAULT_PARAMS, name)
        changes[name] = type(default)(value)
    return dataclasses.replace(DEFAULT_PARAMS, **changes)


def cmd_cv(args: argparse.Namespace) -> None:
    data = json.loads(Path(args.dataset).read_text())
    by: dict[str, list[str]] = collections.defaultdict(list)
    for text, label in data["train"]:
        by[label].append(text)
    oos = [t for t, _ in data.get("oos_train", [])]
    cfg = LLMOSConfig()
    params = _params(args.param)
    sem_index = None
    if args.semantic:
        import tempfile

        from llmos_tui.learning.semantic import CACHE_FILE, SemanticIndex, require_semantic

        require_semantic()
        cache = (
            Path(args.cache or Path(tempfile.gettempdir()) / "llmos-bench-semantic") / CACHE_FILE
        )
        sem_index = SemanticIndex(cache)
        t0 = time.perf_counter()
        from llmos_tui.learning.text import normalize_text

        sem_index.prime_queries(
            [normalize_text(t).lower() for t, _ in data["train"]]
            + [normalize_text(t).lower() for t in oos]
        )
        print(
            f"embedded {sem_index.encoded} query texts in {time.perf_counter() - t0:.1f} s",
            file=sys.stderr,
        )
    k = args.per_label
    splits = [(0, k), (0, 4 * k), (2 * k, 0), (5 * k, 7 * k), (8 * k, 3 * k)]
    total_c = total_r = total_q = total_m = total_mc = 0
    for ta, qa in splits:
        entries, labels = [], {}
        for label, texts in by.items():
            for text in texts[ta : ta + k]:
                tid = f"t{len(entries)}"
                entries.append({"id": tid, "goal": text})
                labels[tid] = label
        queries = [
            (t, label)
            for label, texts in by.items()
            for t in texts[qa : qa + 2 * k]
            if not (ta <= texts.index(t) < ta + k)
        ]
        matcher = Matcher(entries, config=cfg.learning, params=params, semantic=sem_index)
        correct = replays = oos_replays = mixed = mixed_correct = 0
        for text, label in queries + [(t, "oos") for t in oos]:
            d = select_mode(text, matcher, cfg)
            right = label != "oos" and labels.get(d.trace_id or "") == label
            if d.mode in {"FOLLOWER", "CRYSTALLIZED"}:
                replays += 1
                correct += right
                oos_replays += label == "oos"
            elif d.mode == "MIXED":
                mixed += 1
                mixed_correct += right
        total_c += correct
        total_r += replays
        total_q += len(queries)
        total_m += mixed
        total_mc += mixed_correct
        print(
            f"traces {ta}:{ta + k} queries {qa}:{qa + 2 * k}  precision {correct / max(1, replays):.4f}"
            f"  coverage {correct / max(1, len(queries)):.4f}  oos replays {oos_replays}"
        )
    print(
        f"all splits: precision {total_c / max(1, total_r):.4f}  coverage {total_c / max(1, total_q):.4f}"
        f"  false {total_r - total_c}  mixed precision {total_mc / max(1, total_m):.4f}"
        f"  mixed coverage {total_mc / max(1, total_q):.4f}"
    )


def cmd_dataset(args: argparse.Namespace) -> None:
    from llmos_tui.learning.bench_match import run_bench_match

    timings: dict[str, float] = {}
    report = run_bench_match(
        args.dataset, per_label=args.per_label, semantic=args.semantic, timings=timings
    )
    print(json.dumps(report, indent=2))
    if args.semantic:
        print(
            f"model load + embedding {report['traces']} stored goals: {timings['embed_s']:.1f} s",
            file=sys.stderr,
        )


def cmd_split(args: argparse.Namespace) -> None:
    import hashlib

    src = Path(args.dataset)
    data = json.loads(src.read_text(encoding="utf-8"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    def half(key: str) -> int:
        return int(hashlib.sha256(key.encode("utf-8")).hexdigest(), 16) % 2

    for h, name in ((0, "A"), (1, "B")):
        part = {
            "train": [x for x in data["train"] if half(x[1]) == h],
            "test": [x for x in data["test"] if half(x[1]) == h],
            "oos_test": [x for x in data.get("oos_test", []) if half(x[0]) == h],
        }
        path = out / f"{src.stem}-{name}.json"
        path.write_text(json.dumps(part), encoding="utf-8")
        print(path, {k: len(v) for k, v in part.items()})


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("latency")
    p.add_argument("--sizes", default="1000,10000,100000")
    p.add_argument("--queries", type=int, default=400)
    p.add_argument("--memory-max", type=int, default=10_000, help="measure memory up to this size")
    p.add_argument("--semantic", action="store_true", help="turn the embedding re-ranker on")
    p.set_defaults(fn=cmd_latency)
    p = sub.add_parser("cv")
    p.add_argument("--dataset", default=str(DATA / "clinc150-dev.json"))
    p.add_argument("--per-label", type=int, default=10)
    p.add_argument("--semantic", action="store_true", help="turn the embedding re-ranker on")
    p.add_argument("--cache", default=None, help="folder for the goal embedding cache (--semantic)")
    p.add_argument("--param", action="append", default=[], help="MatchParams override NAME=VALUE")
    p.set_defaults(fn=cmd_cv)
    p = sub.add_parser("split")
    p.add_argument("--dataset", required=True)
    p.add_argument("--out", required=True, help="folder for NAME-A.json and NAME-B.json")
    p.set_defaults(fn=cmd_split)
    p = sub.add_parser("dataset")
    p.add_argument("--dataset", required=True)
    p.add_argument("--per-label", type=int, default=10)
    p.add_argument("--semantic", action="store_true", help="turn the embedding re-ranker on")
    p.set_defaults(fn=cmd_dataset)
    args = ap.parse_args()
    args.fn(args)


if __name__ == "__main__":
    main()
