"""`llmos memory ...`: search the memory levels, list and manage facts, extract facts, preview injection.

The logic lives in ``llmos_tui.memory``; this module parses, calls, prints (JSON with ``--json``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, List, Optional

import typer

from ._common import err, fail, print_json

if TYPE_CHECKING:  # pragma: no cover
    from ..config import LLMOSConfig

memory_app = typer.Typer(
    help="Search memory (facts, insights, traces, sessions) and manage facts.", no_args_is_help=True
)

WorkspaceOpt = typer.Option(
    None,
    "--workspace",
    "-w",
    help="Workspace directory (default: $LLMOS_WORKSPACE or ~/.local/share/llmos).",
)
ProjectOpt = typer.Option(None, "--project", help="Include this project's facts.")


def _warn(message: str) -> None:
    err(f"llmos: warning: {message}")


def _open(workspace: Optional[Path], *, read_only: bool = False) -> tuple[Any, Any, Any]:
    """(workspace, config, TraceStore)."""
    from ..config import load_config
    from ..errors import LLMOSError
    from ..learning.index import TraceIndex
    from ..learning.store import TraceStore
    from ..learning.trust import init_workspace_trust
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
        return ws, cfg, TraceStore(ws, TraceIndex(ws, on_warning=_warn))
    except LLMOSError as exc:
        fail(exc)


def _volumes(cfg: LLMOSConfig) -> list[str]:
    return [cfg.user_volume(), f"teams/{cfg.team}", "system"]


def _check_project(ws: Any, project: Optional[str]) -> None:
    if project:
        from ..errors import LLMOSError
        from ..projects.manager import ProjectManager

        try:
            ProjectManager(ws).get(project)
        except LLMOSError as exc:
            fail(exc)


@memory_app.command("search")
def search(
    query: str = typer.Argument(..., help="Words to look for."),
    kind: Optional[List[str]] = typer.Option(
        None, "--kind", help="fact | insight | trace | session (repeatable; default all)."
    ),
    limit: int = typer.Option(10, "--limit", min=1, max=1000, help="Most hits shown."),
    project: Optional[str] = ProjectOpt,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Search facts (L4), insights (L4), traces (L3) and session logs (L2), best first."""
    from ..errors import LLMOSError
    from ..memory.search import KINDS, search_memory

    ws, cfg, store = _open(workspace, read_only=True)
    _check_project(ws, project)
    try:
        hits = search_memory(
            query,
            ws,
            store=store,
            kinds=kind or KINDS,
            volumes=_volumes(cfg),
            project=project,
            limit=limit,
            on_warning=_warn,
        )
    except LLMOSError as exc:
        fail(exc)
    if as_json:
        print_json({"query": query, "hits": [h.to_dict() for h in hits]})
        return
    if not hits:
        err(f"llmos: nothing in memory matches {query!r}")
        return
    for h in hits:
        text = " ".join(h.text.split())
        typer.echo(f"{h.kind:<8} {h.score:6.2f}  {h.id}  {text[:100]}")


@memory_app.command("facts")
def facts(
    project: Optional[str] = ProjectOpt,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """List the facts learned from the sessions (global, and the project's with --project)."""
    from ..memory.facts import all_facts

    ws, _cfg, _store = _open(workspace, read_only=True)
    _check_project(ws, project)
    found = all_facts(ws, project, on_warning=_warn)
    if as_json:
        print_json({"facts": [f.to_dict() for f in found]})
        return
    if not found:
        err(
            "llmos: no facts yet (they are extracted from session logs; see `llmos memory extract`)"
        )
        return
    for f in found:
        scope = f" [{f.project}]" if f.project else ""
        typer.echo(f"{f.id}  {f.kind:<10} {f.text}{scope}")


@memory_app.command("extract")
def extract(
    full: bool = typer.Option(
        False, "--full", help="Read every session again, not only what changed."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Extract facts from the session logs now (deterministic rules; what a cron does)."""
    from ..errors import LLMOSError
    from ..memory.facts import extract_from_sessions

    ws, _cfg, _store = _open(workspace)
    try:
        report = extract_from_sessions(ws, full=full, on_warning=_warn, config=_cfg)
    except LLMOSError as exc:
        fail(exc)
    if as_json:
        print_json(report.to_dict())
        return
    typer.echo(
        f"read {report.entries} entr{'y' if report.entries == 1 else 'ies'} of {report.sessions} session(s): "
        f"{len(report.new)} new fact(s), {len(report.updated)} updated, {report.seen} already known"
    )
    for f in report.new + report.updated:
        typer.echo(f"  {f['id']}  {f['text']}")


@memory_app.command("remember")
def remember(
    text: str = typer.Argument(..., help="A fact to keep, in plain words."),
    project: Optional[str] = typer.Option(
        None, "--project", help="Keep it in this project's memory."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Add a fact by hand."""
    from ..errors import LLMOSError
    from ..memory.facts import FactStore

    ws, _cfg, _store = _open(workspace)
    _check_project(ws, project)
    try:
        fact, action = FactStore(ws, project).remember(text)
    except LLMOSError as exc:
        fail(exc)
    if as_json:
        print_json({"action": action, "fact": fact.to_dict()})
        return
    typer.echo(f"{fact.id}  {fact.text} ({action})")


@memory_app.command("forget")
def forget(
    fact_id: str = typer.Argument(..., help="The fact's id (see `llmos memory facts`)."),
    project: Optional[str] = typer.Option(
        None, "--project", help="The fact is in this project's memory."
    ),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Delete a fact."""
    from ..errors import LLMOSError
    from ..memory.facts import FactStore

    ws, _cfg, _store = _open(workspace)
    _check_project(ws, project)
    try:
        path = FactStore(ws, project).remove(fact_id)
    except LLMOSError as exc:
        fail(exc)
    typer.echo(f"removed {path}")


@memory_app.command("sessions")
def sessions(
    limit: int = typer.Option(
        20, "--limit", min=1, max=10_000, help="Most sessions shown (newest first)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """List the session logs (L2), newest first."""
    from ..memory.sessions import iter_sessions

    ws, _cfg, _store = _open(workspace, read_only=True)
    found = list(iter_sessions(ws, newest_first=True, limit=limit))
    if as_json:
        print_json({"sessions": [s.to_dict() for s in found]})
        return
    for s in found:
        title = " ".join(str(s.meta.get("title") or "").split())
        typer.echo(
            f"{s.id}  {str(s.meta.get('source') or ''):<9} {len(s.entries):>4} turns  {title[:70]}"
        )


@memory_app.command("context")
def context(
    goal: str = typer.Argument(..., help="The goal whose memory block to show."),
    max_tokens: int = typer.Option(
        600, "--max-tokens", min=1, max=100_000, help="Cap (≈ 4 characters per token)."
    ),
    project: Optional[str] = ProjectOpt,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Show the memory block a LEARNER request for GOAL would receive."""
    from ..memory.inject import estimate_tokens, memory_context

    ws, cfg, store = _open(workspace, read_only=True)
    _check_project(ws, project)
    text = memory_context(
        goal,
        workspace=ws,
        store=store,
        user=cfg.user,
        max_tokens=max_tokens,
        volumes=_volumes(cfg),
        project=project,
        on_warning=_warn,
    )
    if as_json:
        print_json(
            {
                "goal": goal,
                "context": text,
                "tokens": estimate_tokens(text),
                "max_tokens": max_tokens,
            }
        )
        return
    if not text:
        err("llmos: nothing in memory is relevant to this goal")
        return
    typer.echo(text)
    err(f"llmos: ≈{estimate_tokens(text)} tokens of {max_tokens}")
