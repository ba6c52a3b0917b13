"""`llmos projects ...`: create, list and show projects; cross-project insights and reusable agents.

The logic lives in ``llmos_tui.projects``; this module parses, calls, prints (JSON with ``--json``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from ._common import err, fail, print_json

projects_app = typer.Typer(
    help="Projects: folders with their own agents, memory and output; cross-project learning.",
    no_args_is_help=True,
)

WorkspaceOpt = typer.Option(
    None,
    "--workspace",
    "-w",
    help="Workspace directory (default: $LLMOS_WORKSPACE or ~/.local/share/llmos).",
)


def _open(workspace: Optional[Path], *, read_only: bool = False) -> tuple[Any, Any, Any]:
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
        return (
            ws,
            cfg,
            TraceStore(ws, TraceIndex(ws, on_warning=lambda m: err(f"llmos: warning: {m}"))),
        )
    except LLMOSError as exc:
        fail(exc)


@projects_app.command("list")
def list_projects(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """List the projects."""
    from ..projects.manager import ProjectManager

    ws, _cfg, _store = _open(workspace, read_only=True)
    found = ProjectManager(ws).list()
    if as_json:
        print_json({"projects": [p.to_dict() for p in found]})
        return
    if not found:
        err("llmos: no projects yet (llmos projects create NAME)")
        return
    for p in found:
        info = p.to_dict()
        typer.echo(f"{p.name:<24} runs {info['runs']:>4}  {p.description[:60]}")


@projects_app.command("create")
def create(
    name: str = typer.Argument(..., help="Project name: lowercase letters, digits, '-' or '_'."),
    description: str = typer.Option("", "--description", "-d", help="What the project is about."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Create projects/NAME with components/, memory/, output/ and state/."""
    from ..errors import LLMOSError
    from ..projects.manager import ProjectManager

    ws, _cfg, _store = _open(workspace)
    try:
        project = ProjectManager(ws).create(name, description)
    except LLMOSError as exc:
        fail(exc)
    if as_json:
        print_json(project.to_dict())
        return
    typer.echo(str(project.root))
    err(
        f"llmos: project {name!r} ready; its runs work in {project.output_dir} (llmos --headless run GOAL --project {name})"
    )


@projects_app.command("show")
def show(
    name: str = typer.Argument(..., help="Project name."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """A project's folders, runs, traces, agents and facts."""
    from ..errors import LLMOSError
    from ..projects.insights import get_project_summary

    ws, cfg, store = _open(workspace, read_only=True)
    try:
        summary = get_project_summary(ws, store, name)
    except LLMOSError as exc:
        fail(exc)
    if as_json:
        print_json(summary)
        return
    rate = summary["trace_success_rate"]
    typer.echo(f"{summary['name']}: {summary['description']}".rstrip(": "))
    typer.echo(f"  folder   {summary['root']}\n  output   {summary['output']}")
    typer.echo(
        f"  runs     {summary['runs']} ({summary['successes']} succeeded), last {summary['last_run'] or 'never'}"
    )
    typer.echo(
        f"  traces   {summary['traces']}"
        + (f", {rate:.0%} success" if rate is not None else "")
        + f", {summary['crystallized']} crystallized"
    )
    typer.echo(f"  agents   {', '.join(summary['agents']) or 'none'}")
    if summary["top_tools"]:
        typer.echo("  tools    " + ", ".join(f"{t} ({n})" for t, n in summary["top_tools"]))
    for goal in summary["recent_goals"]:
        typer.echo(
            f"  - {goal['goal'][:70]} [{goal['mode']}, {goal['outcome']}, {goal['uses']} use(s)]"
        )
    for fact in summary["facts"]:
        typer.echo(f"  fact: {fact}")


@projects_app.command("insights")
def insights(
    min_projects: int = typer.Option(
        2, "--min-projects", min=1, max=1000, help="Projects a pattern must recur in."
    ),
    min_confidence: float = typer.Option(
        0.7, "--min-confidence", min=0.0, max=1.0, help="Matcher confidence for similar goals."
    ),
    write: bool = typer.Option(
        False, "--write", help="Also write the insight artifact into volumes/system/insights/."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Patterns (goals + tools) that recur across projects."""
    from ..projects.insights import get_cross_project_insights, write_cross_project_insights

    ws, cfg, store = _open(workspace)
    found = get_cross_project_insights(
        ws, store, min_projects=min_projects, min_confidence=min_confidence, config=cfg
    )
    written = write_cross_project_insights(ws, store, config=cfg) if write else []
    if as_json:
        print_json({"insights": [i.to_dict() for i in found], "written": written})
        return
    if not found:
        err(f"llmos: no pattern recurs in {min_projects} or more projects yet")
    for i in found:
        typer.echo(
            f"{i.pattern}  [{', '.join(i.projects)}]  {i.uses} uses, {i.success_rate:.0%} success, "
            f"confidence {i.confidence:.2f}"
        )
        if i.suggestion:
            typer.echo(f"  {i.suggestion}")
    for path in written:
        err(f"llmos: wrote {path}")


@projects_app.command("agents")
def agents(
    min_success_rate: float = typer.Option(
        0.8, "--min-success-rate", min=0.0, max=1.0, help="Success rate needed."
    ),
    min_usage_count: int = typer.Option(
        3, "--min-usage", min=1, max=1_000_000, help="Runs needed."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Agents worth reusing across projects (from the agent metrics)."""
    from ..projects.insights import get_reusable_agents

    ws, cfg, store = _open(workspace, read_only=True)
    found = get_reusable_agents(
        ws, min_success_rate=min_success_rate, min_usage_count=min_usage_count, store=store
    )
    if as_json:
        print_json({"agents": [a.to_dict() for a in found]})
        return
    if not found:
        err("llmos: no agent has enough successful runs yet")
    for a in found:
        where = f"  projects: {', '.join(a.projects)}" if a.projects else ""
        typer.echo(f"{a.name:<24} {a.executions:>4} runs  {a.success_rate:.0%} success{where}")
