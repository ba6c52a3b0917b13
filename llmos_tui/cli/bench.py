"""`llmos bench ...`: measurement commands (the logic lives in the engine)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from ._common import fail, print_json

bench_app = typer.Typer(help="Measure matching and policy quality on a dataset.", no_args_is_help=True)


@bench_app.command("match")
def bench_match(
    dataset: Path = typer.Option(..., "--dataset", help="JSON {train, test, oos_test} of [text, label] pairs."),
    per_label: int = typer.Option(10, "--per-label", min=1, help="Train texts stored per label (K)."),
    semantic: bool = typer.Option(False, "--semantic", help="Use the semantic re-ranker (needs the [semantic] extra)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Store K train texts per label as traces, then decide every test query."""
    from ..errors import LLMOSError
    from ..learning.bench_match import run_bench_match

    try:
        report = run_bench_match(dataset, per_label=per_label, semantic=semantic)
    except LLMOSError as exc:
        fail(exc)
    if as_json:
        print_json(report)
        return
    for key, value in report.items():
        typer.echo(f"{key:>18}: {value}")


@bench_app.command("policy")
def bench_policy(
    corpus: Path = typer.Option(..., "--corpus", help="JSON list of {tool, input, expect: block|allow}."),
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
