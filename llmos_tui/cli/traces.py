"""`llmos traces ...`: list, show, search, remove and reindex stored traces.

The logic lives in ``llmos_tui.learning`` (store, index, matcher); this module parses, calls,
prints. stdout carries results (JSON with ``--json``); warnings go to stderr.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from ._common import err, fail, print_json

traces_app = typer.Typer(help="List, show, search, remove and reindex learned traces.", no_args_is_help=True)

WorkspaceOpt = typer.Option(None, "--workspace", "-w", help="Workspace directory (default: $LLMOS_WORKSPACE or ~/.local/share/llmos).")


def _warn(message: str) -> None:
    err(f"llmos: warning: {message}")


def _open(workspace: Optional[Path], *, read_only: bool = False) -> tuple[Any, Any]:
    """(config, TraceStore) for the workspace; usage errors exit with their code."""
    from ..config import load_config
    from ..errors import LLMOSError
    from ..learning.index import TraceIndex
    from ..learning.store import TraceStore
    from ..workspace import open_workspace, resolve_workspace_dir

    try:
        root = resolve_workspace_dir(workspace)
        cfg = load_config(root if root.is_dir() else None)  # user and team name the volumes to create
        ws = open_workspace(root, user=cfg.user, team=cfg.team, must_exist=read_only)
        cfg = load_config(ws.root)
        return cfg, TraceStore(ws, TraceIndex(ws, on_warning=_warn))
    except LLMOSError as exc:
        fail(exc)


def _short(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


@traces_app.command("list")
def list_traces(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    user: Optional[str] = typer.Option(None, "--user", help="Only the traces of this user's volume."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """List traces (newest first): id, uses, success rate, cost, mode, volume, goal."""
    from ..errors import LLMOSError
    from ..workspace import safe_id

    _cfg, store = _open(workspace, read_only=True)
    try:
        volumes = [f"users/{safe_id(user, 'user')}"] if user else None
        entries = store.index.entries(volumes)
        skipped = store.index.skipped()
    except LLMOSError as exc:
        fail(exc)
    entries.sort(key=lambda e: (e.last_used or e.created_at, e.id), reverse=True)
    if as_json:
        print_json({"traces": [e.to_dict() for e in entries],
                    "skipped": [{"path": p, "reason": r} for p, r in sorted(skipped.items())]})
        return
    if not entries:
        typer.echo("No traces yet." if not user else f"No traces in volumes/users/{user}.")
    else:
        typer.echo(f"{'ID':<16} {'USES':>5} {'OK%':>5} {'COST $':>8} {'MODE':<12} {'VOLUME':<18} GOAL")
        for e in entries:
            rate = f"{e.success_rate * 100:.0f}" if e.success_count + e.failure_count else "-"
            typer.echo(f"{e.id:<16} {e.usage_count:>5} {rate:>5} {e.cost_usd:>8.4f} {e.mode:<12} "
                       f"{_short(e.volume, 18):<18} {_short(e.goal, 60)}")
    if skipped:
        err(f"llmos: {len(skipped)} malformed trace file(s) skipped (`llmos traces reindex` lists them)")


@traces_app.command("show")
def show_trace(
    trace_id: str = typer.Argument(..., metavar="ID", help="Trace id (see `llmos traces list`)."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Print a trace's markdown file."""
    from ..errors import LLMOSError

    _cfg, store = _open(workspace, read_only=True)
    try:
        text = store.read_text(trace_id)
    except LLMOSError as exc:
        fail(exc)
    typer.echo(text, nl=not text.endswith("\n"))


@traces_app.command("search")
def search_traces(
    goal: str = typer.Argument(..., help="A goal, in plain words."),
    limit: Optional[int] = typer.Option(None, "--limit", "-n", min=1, max=100, help="Candidates to show (default: learning.candidates)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Closest stored traces to GOAL: confidence, each gate's reason, AUTO's mode (runs nothing)."""
    from ..errors import LLMOSError
    from ..learning.matcher import Matcher
    from ..learning.modes import select_mode

    cfg, store = _open(workspace, read_only=True)
    try:
        matcher = Matcher(config=cfg.learning, state_dir=store.workspace.state_dir)
        matcher.refresh(store.index.entries(), store.index.version)
        decision = select_mode(goal, matcher, cfg)
        candidates = matcher.candidates(goal, limit or cfg.learning.candidates)
    except LLMOSError as exc:
        fail(exc)
    rows = []
    for cand in candidates:
        row = cand.to_dict()
        entry = cand.entry
        row["volume"] = getattr(entry, "volume", None)
        row["path"] = getattr(entry, "path", None)
        row["passed"] = cand.passed
        rows.append(row)
    if as_json:
        print_json({"goal": goal, "decision": decision.to_dict(), "candidates": rows})
        return
    typer.echo(f"AUTO would choose {decision.mode}: {decision.reason}")
    if not rows:
        typer.echo("No stored trace is close to this goal.")
        return
    for rank, cand in enumerate(candidates, start=1):
        verdict = "all gates passed" if cand.passed else f"{len(cand.failed_gates)} gate(s) failed"
        typer.echo(f"\n{rank}. {cand.confidence:.3f}  {cand.trace_id}  {_short(cand.goal, 70)}  ({verdict})")
        for gate in cand.gates:
            mark = "ok  " if gate.passed else "FAIL"
            typer.echo(f"     {mark} {gate.name:<13} {gate.reason}")
        if cand.slot_bindings:
            typer.echo("     slots: " + ", ".join(f"{k} -> {v!r}" for k, v in cand.slot_bindings.items()))


@traces_app.command("rm")
def remove_trace(
    trace_id: str = typer.Argument(..., metavar="ID", help="Trace id (see `llmos traces list`)."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Delete a trace file and its index entry."""
    from ..errors import LLMOSError

    _cfg, store = _open(workspace)
    try:
        path = store.delete(trace_id)
    except LLMOSError as exc:
        fail(exc)
    typer.echo(f"removed {trace_id} ({path.relative_to(store.root).as_posix()})")


@traces_app.command("reindex")
def reindex(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Rebuild the index from the markdown files (malformed files are listed and skipped)."""
    from ..errors import LLMOSError

    _cfg, store = _open(workspace)
    try:
        counts = store.index.rebuild()
        skipped = store.index.skipped()
    except LLMOSError as exc:
        fail(exc)
    if as_json:
        print_json({**counts, "skipped_files": [{"path": p, "reason": r} for p, r in sorted(skipped.items())]})
        return
    typer.echo(f"indexed {counts['traces']} trace(s) from {counts['volumes']} volume(s) in "
               f"{counts['seconds']:.2f} s; {counts['skipped']} skipped")


def _register_bundle_commands() -> None:
    from .bundle import export_cmd, import_cmd

    traces_app.command("export")(export_cmd)
    traces_app.command("import")(import_cmd)


_register_bundle_commands()
