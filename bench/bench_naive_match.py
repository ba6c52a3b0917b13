"""The naive matchers llmos is measured against, on the same datasets and the same metrics as
``llmos bench match`` (so the comparison in BENCHMARKS.md is like for like).

    .venv/bin/python bench/bench_naive_match.py [--dataset FILE ...] [--per-label 10] [--json]

Stored goals: the first K train texts of each label (as ``llmos bench match`` stores them). For
each test and oos_test query, the nearest stored goal by ``rapidfuzz.fuzz.token_sort_ratio`` (on
lower-cased text, or with English stop words removed) is "replayed" when its score reaches the
threshold (85 or 90). precision = correct replays / replays, coverage = correct replays /
in-scope queries, oos false replays = replays decided for out-of-scope queries.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

from rapidfuzz import fuzz, process

REPO = Path(__file__).resolve().parents[1]
# The development data sets (bench/data/README.md); LLMOS_DEV_DATA=DIR runs on another folder of
# files with the same names and shapes (a held-out set).
DATA = Path(os.environ.get("LLMOS_DEV_DATA") or REPO / "bench" / "data")
STOP = set(
    """a an the to of in on for with and or but is are was were be been being it its this that these those
i me my we our you your he she they them their what which who whom whose when where why how can could would should
will shall do does did done please some any all just about into from at by as so if then than too very""".split()
)


def normalize(text: str, stop: bool) -> str:
    words = re.findall(r"[a-z0-9']+", text.lower())
    if stop:
        kept = [w for w in words if w not in STOP]
        words = kept or words
    return " ".join(words)


def evaluate(data: dict, per_label: int, threshold: float, stop: bool) -> dict:
    stored: list[tuple[str, str]] = []
    counts: dict[str, int] = {}
    for text, label in data["train"]:
        if label == "oos" or counts.get(label, 0) >= per_label:
            continue
        counts[label] = counts.get(label, 0) + 1
        stored.append((normalize(text, stop), label))
    choices = [s for s, _ in stored]
    replays = correct = oos_false = 0
    queries = [(t, lab) for t, lab in data["test"]] + [
        (t, "oos") for t, _ in data.get("oos_test", [])
    ]
    in_scope = sum(1 for _, lab in queries if lab != "oos")
    for text, label in queries:
        best = process.extractOne(normalize(text, stop), choices, scorer=fuzz.token_sort_ratio)
        if best is None or best[1] < threshold:
            continue
        replays += 1
        if stored[best[2]][1] == label:
            correct += 1
        elif label == "oos":
            oos_false += 1
    return {
        "traces": len(stored),
        "queries": len(queries),
        "replays": replays,
        "correct_replays": correct,
        "false_replays": replays - correct,
        "oos_false_replays": oos_false,
        "precision": round(correct / replays, 4) if replays else 1.0,
        "coverage": round(correct / in_scope, 4) if in_scope else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", action="append", type=Path)
    parser.add_argument("--per-label", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    datasets = args.dataset or [DATA / "goals-dev.json", DATA / "clinc150-dev.json"]
    rows = []
    for path in datasets:
        data = json.loads(path.read_text())
        for stop in (False, True):
            for threshold in (85, 90):
                row = evaluate(data, args.per_label, threshold, stop)
                rows.append(
                    {
                        "dataset": path.name,
                        "matcher": f"token_sort_ratio >= {threshold}"
                        + (", stop words removed" if stop else ""),
                        **row,
                    }
                )
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(
        "| dataset | naive matcher | replays | false replays | oos false replays | precision | coverage |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['dataset']} | {r['matcher']} | {r['replays']} | {r['false_replays']} | {r['oos_false_replays']} "
            f"| {r['precision']} | {r['coverage']} |"
        )


if __name__ == "__main__":
    sys.exit(main())
