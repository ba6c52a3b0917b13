"""`llmos sentience ...`: show the internal state; review self-modification proposals.

``llmos sentience`` prints valence, latent mode, policy and recent triggers (``--json``: one
object with ``valence``, ``latent_mode``, ``policy``, ``user_model``, ``recent_triggers``);
``--inject`` prints the ``[INTERNAL_STATE]`` block agents see. The logic lives in
``llmos_tui.sentience``; this module parses, calls, prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from ._common import err, fail, print_json

if TYPE_CHECKING:  # pragma: no cover
    from ..config import LLMOSConfig

sentience_app = typer.Typer(
    help="Show the internal state (valence, latent mode, policy) and manage "
    "self-modification proposals.",
    invoke_without_command=True,
)

WorkspaceOpt = typer.Option(
    None,
    "--workspace",
    "-w",
    help="Workspace directory (default: $LLMOS_WORKSPACE or ~/.local/share/llmos).",
)


def _warn(message: str) -> None:
    err(f"llmos: warning: {message}")


def _runtime(workspace: Optional[Path], *, read_only: bool = False) -> Any:
    from ..config import load_config
    from ..errors import LLMOSError
    from ..learning.trust import init_workspace_trust
    from ..sentience.runtime import SentienceRuntime
    from ..workspace import open_workspace, resolve_workspace_dir

    try:
        root = resolve_workspace_dir(workspace)
        cfg = load_config(root if root.is_dir() else None)
        ws = open_workspace(
            root,
            user=cfg.user,
            team=cfg.team,
            must_exist=read_only,
            on_create=init_workspace_trust,
        )
        cfg = load_config(ws.root)
        return SentienceRuntime(ws, cfg, on_warning=_warn)
    except LLMOSError as exc:
        fail(exc)


def _bar(value: float, width: int = 20) -> str:
    pos = int(round((value + 1.0) / 2.0 * width))
    return "[" + "#" * pos + "." * (width - pos) + "]"


@sentience_app.callback()
def show(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    inject: bool = typer.Option(
        False, "--inject", help="Print the [INTERNAL_STATE] block agents see."
    ),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Valence, latent mode, policy and recent triggers."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = workspace
        return
    rt = _runtime(workspace, read_only=True)
    if inject:
        typer.echo(rt.inject_block())
        return
    snap = rt.snapshot()
    if as_json:
        print_json(snap)
        return
    pol = snap["policy"]
    typer.echo(f"latent mode  {snap['latent_mode']}  ({pol['mode_reason']})")
    for name, value in snap["valence"].items():
        eff = pol["effective"].get(name, value)
        gated = f"  (effective {eff:+.2f})" if abs(eff - value) > 1e-4 else ""
        typer.echo(f"  {name:<11} {value:+.2f} {_bar(value)}{gated}")
    typer.echo(
        f"policy       follower >= {pol['follower_threshold']:.2f}, mixed >= {pol['mixed_threshold']:.2f}, "
        f"confirm risky: {'yes' if pol['require_confirmation'] else 'no'}, "
        f"cheap modes: {'yes' if pol['prefer_cheap_modes'] else 'no'}"
    )
    if pol["remove_tools"]:
        typer.echo(f"  withheld   {', '.join(pol['remove_tools'])}")
    if pol["add_tools"]:
        typer.echo(f"  added      {', '.join(pol['add_tools'])}")
    um = snap["user_model"]
    typer.echo(
        f"user         frustration {um['frustration']:.2f}, satisfaction {um['satisfaction']:+.2f}, "
        f"engagement {um['engagement']:.2f}, expertise {um['expertise']:.2f}, "
        f"empathy gap {um['empathy_gap']:.2f}"
    )
    if snap["recent_triggers"]:
        typer.echo("recent triggers")
        for t in snap["recent_triggers"]:
            delta = ", ".join(f"{k} {v:+.2f}" for k, v in (t.get("delta") or {}).items() if v)
            typer.echo(
                f"  {t.get('at', '')}  {t['type']:<17} {delta:<40} {str(t.get('reason') or '')[:60]}"
            )
    else:
        typer.echo("recent triggers: none")


def _ws(ctx: typer.Context, workspace: Optional[Path]) -> Optional[Path]:
    return workspace if workspace is not None else ctx.obj


@sentience_app.command("proposals")
def proposals(
    ctx: typer.Context,
    show_all: bool = typer.Option(False, "--all", help="Include decided proposals."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """List self-modification proposals (pending ones unless --all)."""
    rt = _runtime(_ws(ctx, workspace), read_only=True)
    props = rt.proposals(None if show_all else "pending")
    if as_json:
        print_json({"proposals": [p.to_dict() for p in props]})
        return
    if not props:
        typer.echo("No pending proposals." if not show_all else "No proposals.")
        return
    for p in props:
        typer.echo(
            f"{p.id}  {p.status:<8} {p.parameter:<22} {p.old_value:+.2f} -> {p.new_value:+.2f}  {p.reason[:70]}"
        )


def _decide(
    ctx: typer.Context, workspace: Optional[Path], action: str, proposal_id: str, **kw: Any
) -> None:
    from ..errors import LLMOSError

    rt = _runtime(_ws(ctx, workspace))
    try:
        prop = getattr(rt, f"{action}_proposal")(proposal_id, **kw)
    except LLMOSError as exc:
        fail(exc)
    typer.echo(
        f"{prop.id}: {prop.status} ({prop.parameter} {prop.old_value:+.2f} -> {prop.new_value:+.2f})"
    )


@sentience_app.command("accept")
def accept(
    ctx: typer.Context,
    proposal_id: str = typer.Argument(..., help="Proposal id (sm_...)."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Apply a pending proposal."""
    _decide(ctx, workspace, "accept", proposal_id)


@sentience_app.command("reject")
def reject(
    ctx: typer.Context,
    proposal_id: str = typer.Argument(..., help="Proposal id (sm_...)."),
    reason: Optional[str] = typer.Option(None, "--reason", help="Why."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Reject a pending proposal."""
    _decide(ctx, workspace, "reject", proposal_id, reason=reason)


@sentience_app.command("revert")
def revert(
    ctx: typer.Context,
    proposal_id: str = typer.Argument(..., help="Proposal id (sm_...)."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Undo an applied proposal (the configured value is used again)."""
    _decide(ctx, workspace, "revert", proposal_id)


def _recent_traces(ws_root: Path, cfg: LLMOSConfig, limit: int = 20) -> tuple[list[Any], list[Any]]:
    """(index entries, the newest *limit* full traces) of the user's visible volumes."""
    from ..learning.index import TraceIndex
    from ..learning.store import TraceStore
    from ..workspace import Workspace

    ws = Workspace(ws_root)
    store = TraceStore(ws, TraceIndex(ws, on_warning=_warn))
    entries = store.index.entries([cfg.user_volume(), f"teams/{cfg.team}", "system"])
    newest = (
        sorted(entries, key=lambda e: (e.last_used or e.created_at, e.id))[-limit:]
        if limit > 0
        else []
    )
    shown = {e.id for e in newest}
    # Older crystallized traces first: the monologue must know a goal is crystallized already.
    newest = (
        [e for e in entries if e.crystallized_tool and e.id not in shown][-limit:] + newest
        if limit > 0
        else []
    )
    traces = []
    for e in newest:
        try:
            traces.append(store.get(e.id))
        except Exception as exc:  # a malformed trace is skipped, never fatal
            _warn(f"skipped trace {e.id}: {exc}")
    return entries, traces


@sentience_app.command("opportunities")
def opportunities(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Improvement opportunities from real data (traces, repetition, costs, calibration)."""
    from ..errors import LLMOSError

    rt = _runtime(_ws(ctx, workspace), read_only=True)
    try:
        entries, _ = _recent_traces(rt.root, rt.config, limit=0)
        found = rt.detect_improvement_opportunities(entries)
    except LLMOSError as exc:
        fail(exc)
    if as_json:
        print_json({"opportunities": [s.to_dict() for s in found]})
        return
    if not found:
        typer.echo("No improvement opportunities right now.")
    for s in found:
        typer.echo(f"[{s.priority:.2f}] {s.kind:<15} {s.description}")


@sentience_app.command("think")
def think(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Run one inner-monologue tick now: priming thoughts for the next interaction."""
    from ..errors import LLMOSError

    rt = _runtime(_ws(ctx, workspace))
    try:
        _, traces = _recent_traces(rt.root, rt.config)
        thoughts = rt.monologue_tick(traces)
    except LLMOSError as exc:
        fail(exc)
    if as_json:
        print_json({"thoughts": thoughts})
        return
    typer.echo("\n".join(f"- {t}" for t in thoughts) if thoughts else "(no thoughts)")


@sentience_app.command("reset")
def reset(
    ctx: typer.Context,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Return every variable to its set-point and forget triggers and history."""
    if not yes and not typer.confirm("Reset the internal state to the set-points?"):
        raise typer.Exit(1)
    rt = _runtime(_ws(ctx, workspace))
    rt.reset()
    typer.echo("Internal state reset to the set-points.")
