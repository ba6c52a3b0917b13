"""A store and its queries from a labelled dev set (``bench/data/*-dev.json``)."""

from __future__ import annotations

from pathlib import Path

from llmos_tui.bench_match import load_dataset


def dev_sample(path: Path, per_label: int) -> tuple[list[str], list[str]]:
    """The first *per_label* training goals of each label (the store) and every test and
    out-of-scope text (the queries)."""
    data = load_dataset(path)
    kept: dict[str, int] = {}
    goals = []
    for text, label, _action in data["train"]:
        if kept.get(label, 0) < per_label:
            kept[label] = kept.get(label, 0) + 1
            goals.append(text)
    queries = [text for text, _label, _action in data["test"] + data["oos_test"]]
    return goals, queries
