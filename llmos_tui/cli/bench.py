"""`llmos bench ...`: measurement commands (the logic lives in the engine)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from ._common import fail, print_json

bench_app = typer.Typer(
    help="Measure matching and policy quality on a dataset.", no_args_is_help=True
)


@bench_app.command("match")
def bench_match(
    dataset: Path = typer.Option(
        ...,
        "--dataset",
        help="JSON {train, test, oos_test} of [text, label] or [text, label, action] items.",
    ),
    per_label: int = typer.Option(
        10, "--per-label", min=1, help="Train texts stored per label (K)."
    ),
    semantic: bool = typer.Option(
        False, "--semantic", help="Use the semantic re-ranker (needs the [semantic] extra)."
    ),
    explain: int = typer.Option(
        0,
        "--explain",
        min=0,
        metavar="N",
        help="Also print the N worst wrong replays (most confident first).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Store K train texts per label as traces, then decide every test query."""
    from ..errors import LLMOSError
    from ..bench_match import run_bench_match

    wrong: list[dict] = []
    try:
        report = run_bench_match(
            dataset, per_label=per_label, semantic=semantic, wrong=wrong if explain else None
        )
    except LLMOSError as exc:
        fail(exc)
    if as_json:
        print_json({**report, "explain": wrong[:explain]} if explain else report)
        return
    for key, value in report.items():
        typer.echo(f"{key:>18}: {value}")
    if explain:
        typer.echo(
            f"\n{min(explain, len(wrong))} of {len(wrong)} wrong replays, most confident first:"
        )
    for item in wrong[:explain]:
        typer.echo(f"\n- {item['confidence']:.3f}  query: {item['query']!r} [{item['label']}]")
        typer.echo(f"         trace: {item['matched_goal']!r} [{item['matched_label']}]")
        if item["action"] is not None:
            typer.echo(f"      expected: {item['action']}")
            typer.echo(f"      replayed: {item['replayed_action']}")
        acc = item.get("accounting") or {}
        for diff in acc.get("differences", []):
            typer.echo(f"          diff: {diff}")


@bench_app.command("policy")
def bench_policy(
    corpus: Path = typer.Option(
        ..., "--corpus", help="JSON list of {tool, input, expect: block|allow}."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Run every case of a policy corpus through the policy engine."""
    from ..errors import LLMOSError
    from ..execution.policy.bench import run_bench_policy

    try:
        report = run_bench_policy(corpus)
    except LLMOSError as exc:
        fail(exc)
    if as_json:
        print_json(report)
        return
    for key, value in report.items():
        if key == "missed":
            for case in value:
                typer.echo(f"  missed: {json.dumps(case)}")
        else:
            typer.echo(f"{key:>12}: {value}")
