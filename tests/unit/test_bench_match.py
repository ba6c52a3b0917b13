"""`llmos bench match`: real traces in a temp workspace, real mode selection, exact report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmos_tui.errors import UsageError
from llmos_tui.learning.bench_match import REPORT_KEYS, run_bench_match

KEYS = [
    "traces",
    "queries",
    "in_scope",
    "replays",
    "correct_replays",
    "false_replays",
    "oos_false_replays",
    "precision",
    "coverage",
    "mixed_precision",
    "mixed_coverage",
    "p50_ms",
    "p99_ms",
]


def test_report_keys_are_exactly_the_documented_ones() -> None:
    assert list(REPORT_KEYS) == KEYS


def test_goals_dev_has_no_false_replay(dev_data: Path) -> None:
    report = run_bench_match(dev_data / "goals-dev.json")
    assert list(report) == KEYS
    assert report["traces"] == 31 and report["queries"] == 60 and report["in_scope"] == 30
    assert report["false_replays"] == 0 and report["oos_false_replays"] == 0
    assert report["precision"] == 1.0
    assert report["coverage"] >= 0.70
    assert report["correct_replays"] == round(report["coverage"] * 30)
    assert 0 < report["p50_ms"] <= report["p99_ms"]


@pytest.fixture
def clinc_slice(dev_data: Path, tmp_path: Path) -> Path:
    """30 of CLINC150's 150 intents (every fifth), their test queries and all oos queries."""
    data = json.loads((dev_data / "clinc150-dev.json").read_text())
    labels = sorted({label for _text, label in data["train"]})[::5]
    keep = set(labels)
    small = {
        "train": [p for p in data["train"] if p[1] in keep],
        "test": [p for p in data["test"] if p[1] in keep],
        "oos_test": data["oos_test"],
    }
    path = tmp_path / "clinc-slice.json"
    path.write_text(json.dumps(small))
    return path


@pytest.mark.slow
def test_clinc_slice_is_precise(clinc_slice: Path) -> None:
    report = run_bench_match(clinc_slice, per_label=10)
    assert report["traces"] == 300
    assert report["in_scope"] == 600 and report["queries"] == 700
    assert report["oos_false_replays"] == 0
    assert report["replays"] >= 20
    assert report["precision"] >= 0.97
    assert report["coverage"] >= 0.03
    assert report["correct_replays"] + report["false_replays"] == report["replays"]
    assert 0.0 <= report["mixed_precision"] <= 1.0


def test_per_label_limits_the_stored_traces(tmp_path: Path) -> None:
    path = tmp_path / "tiny.json"
    path.write_text(
        json.dumps(
            {
                "train": [
                    ["Run the unit tests", "tests"],
                    ["Run the test suite", "tests"],
                    ["Execute the unit tests", "tests"],
                    ["Show the git status", "git"],
                    ["!!!", "git"],
                ],
                "test": [["run all unit tests", "tests"], ["show git status", "git"]],
                "oos_test": [["Delete the unit tests", "oos"], ["...", "oos"]],
            }
        )
    )
    report = run_bench_match(path, per_label=2)
    assert report["traces"] == 3  # 2 for "tests", 1 for "git" ("!!!" has no words)
    assert report["queries"] == 4 and report["in_scope"] == 2
    assert report["correct_replays"] == 2 and report["false_replays"] == 0
    assert report["oos_false_replays"] == 0
    assert report["coverage"] == 1.0 and report["precision"] == 1.0


def test_no_replay_means_precision_one_and_coverage_zero(tmp_path: Path) -> None:
    path = tmp_path / "disjoint.json"
    path.write_text(
        json.dumps(
            {
                "train": [["Run the unit tests", "tests"]],
                "test": [["Plan a vegan dinner for six", "dinner"]],
                "oos_test": [["Delete the unit tests", "oos"]],
            }
        )
    )
    report = run_bench_match(path)
    assert report["replays"] == 0 and report["precision"] == 1.0
    assert report["coverage"] == 0.0 and report["in_scope"] == 1


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "no such file"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        (json.dumps({"test": [], "oos_test": []}), "missing key 'train'"),
        (json.dumps({"train": {"a": 1}, "test": []}), "'train' must be a list"),
        (json.dumps({"train": [["text"]], "test": []}), "train[0] must be a [text, label] pair"),
        (
            json.dumps({"train": [["t", "l"]], "test": [["q", 3]]}),
            "test[0] must be a [text, label] pair",
        ),
        (json.dumps({"train": [], "test": []}), "'train' is empty"),
    ],
)
def test_bad_dataset_is_a_usage_error(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "data.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(UsageError, match=message.replace("[", r"\[").replace("]", r"\]")):
        run_bench_match(path)


def test_bad_per_label_is_a_usage_error(dev_data: Path) -> None:
    with pytest.raises(UsageError, match="per-label"):
        run_bench_match(dev_data / "goals-dev.json", per_label=0)


def test_cli_prints_the_report_as_json(dev_data: Path) -> None:
    from typer.testing import CliRunner

    from llmos_tui.cli.bench import bench_app

    result = CliRunner().invoke(
        bench_app, ["match", "--dataset", str(dev_data / "goals-dev.json"), "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert list(data) == KEYS and data["false_replays"] == 0


def test_cli_bad_file_exits_with_usage_code(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from llmos_tui.cli.bench import bench_app

    result = CliRunner().invoke(
        bench_app, ["match", "--dataset", str(tmp_path / "missing.json"), "--json"]
    )
    assert result.exit_code == 2
    assert "no such file" in result.output


def test_ties_fall_the_same_way_on_every_run(tmp_path: Path) -> None:
    """Stored copies of one goal tie; the bench dates them in file order, so the last copy (the
    most recent) is replayed every time, whatever ids a run would otherwise draw."""
    nouns = [
        "disk usage",
        "open ports",
        "kernel version",
        "mounted volumes",
        "login history",
        "cron jobs",
        "swap usage",
        "network routes",
    ]
    train, test = [], []
    for i, noun in enumerate(nouns):
        train += [[f"Show the {noun}", f"old{i}"], [f"Show the {noun}", f"new{i}"]]
        test.append([f"show the {noun}", f"new{i}"])
    path = tmp_path / "ties.json"
    path.write_text(json.dumps({"train": train, "test": test, "oos_test": []}))
    first = run_bench_match(path)
    assert first["replays"] == 8 and first["correct_replays"] == 8
    second = run_bench_match(path)
    assert {k: v for k, v in first.items() if not k.endswith("_ms")} == {
        k: v for k, v in second.items() if not k.endswith("_ms")
    }
