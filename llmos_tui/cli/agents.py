"""`llmos agents ...`: list, show, create, evolve and revert markdown agents.

The logic lives in ``llmos_tui.adaptation`` (agents, metrics, manager); this module parses,
calls, prints. stdout carries results (JSON with ``--json``); warnings go to stderr.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from ..exitcodes import ExitCode
from ._common import err, fail, print_json

agents_app = typer.Typer(
    help="List, show, create, evolve and revert markdown agents (agents/*.md).",
    no_args_is_help=True,
)

WorkspaceOpt = typer.Option(
    None,
    "--workspace",
    "-w",
    help="Workspace directory (default: $LLMOS_WORKSPACE or ~/.local/share/llmos).",
)


def _manager(workspace: Optional[Path], *, read_only: bool = False) -> Any:
    from ..adaptation.manager import DynamicAgentManager
    from ..config import load_config
    from ..errors import LLMOSError
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
        cfg = load_config(ws.root)
        manager = DynamicAgentManager(ws, cfg)
        manager.metrics.on_warning = lambda m: err(f"llmos: warning: {m}")
        return manager
    except LLMOSError as exc:
        fail(exc)


@agents_app.command("list")
def list_agents(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Every agent: name, version, model, tools, executions, success rate."""
    m = _manager(workspace, read_only=True)
    specs = m.registry.all()
    stats = m.metrics.all()
    if as_json:
        rows = []
        for s in specs:
            st = stats.get(s.name)
            rows.append(
                {
                    **{k: v for k, v in s.to_dict().items() if k != "prompt"},
                    "executions": st.executions if st else 0,
                    "success_rate": round(st.success_rate, 4) if st and st.executions else None,
                }
            )
        print_json(
            {
                "agents": rows,
                "invalid": [{"name": n, "error": e} for n, e in sorted(m.registry.errors.items())],
            }
        )
        return
    if not specs:
        typer.echo(f"No agents in {m.agents_dir}.")
    else:
        typer.echo(f"{'NAME':<20} {'VER':>3} {'RUNS':>5} {'OK%':>5} {'MODEL':<20} TOOLS")
        for s in specs:
            st = stats.get(s.name)
            rate = f"{st.success_rate * 100:.0f}" if st and st.executions else "-"
            typer.echo(
                f"{s.name:<20} {s.version:>3} {(st.executions if st else 0):>5} {rate:>5} "
                f"{(s.model or 'default'):<20} {', '.join(s.tools)}"
            )
    for name, error in sorted(m.registry.errors.items()):
        err(f"llmos: warning: agents/{name}.md is invalid: {error}")


@agents_app.command("show")
def show(
    name: str = typer.Argument(..., help="Agent name (file name without .md)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """An agent's definition, metrics and kept versions."""
    from ..adaptation.agents import list_versions
    from ..errors import LLMOSError

    m = _manager(workspace, read_only=True)
    try:
        spec = m.registry.get(name)
    except LLMOSError as exc:
        fail(exc)
    st = m.metrics.get(name)
    versions = list_versions(m.agents_dir, name)
    if as_json:
        print_json(
            {
                "agent": spec.to_dict(),
                "metrics": st.to_dict(),
                "kept_versions": versions,
                "evolution_due": m.evolution_due(name),
            }
        )
        return
    typer.echo(f"{spec.name} v{spec.version}  ({spec.path})")
    typer.echo(f"description  {spec.description}")
    typer.echo(f"model        {spec.model or 'default (config.model)'}")
    typer.echo(f"tools        {', '.join(spec.tools) or '(none)'}")
    if spec.constraints:
        typer.echo("constraints")
        for c in spec.constraints:
            typer.echo(f"  - {c}")
    typer.echo(
        f"runs         {st.executions} ({st.successes} ok, {st.failures} failed), "
        f"${st.cost_usd:.4f}; evolution due: {'yes' if m.evolution_due(name) else 'no'}"
    )
    if versions:
        typer.echo(f"kept versions {', '.join(f'v{v}' for v in versions)} (agents/.versions/)")
    typer.echo("")
    typer.echo(spec.prompt.rstrip())


@agents_app.command("create")
def create(
    name: Optional[str] = typer.Argument(None, help="Agent name (letters, digits, '.', '_', '-')."),
    description: Optional[str] = typer.Option(
        None, "--description", "-d", help="What the agent does."
    ),
    tools: str = typer.Option(
        "Read,Write,Edit,Glob,Grep", "--tools", help="Comma-separated tool names."
    ),
    prompt: Optional[str] = typer.Option(
        None, "--prompt", "-p", help="The system prompt (or @FILE to read it)."
    ),
    model: Optional[str] = typer.Option(
        None, "--model", help="Model name (default: config.model)."
    ),
    from_goal: Optional[str] = typer.Option(
        None, "--from-goal", help='Draft the agent from a goal such as "Create a haiku poet agent".'
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Create a new agent file (usable at once)."""
    from ..adaptation.agents import create_agent, create_agent_from_goal
    from ..errors import LLMOSError, UsageError

    m = _manager(workspace)
    try:
        if from_goal:
            spec = create_agent_from_goal(m.agents_dir, from_goal, model=model)
        else:
            if not name or not description or not prompt:
                raise UsageError(
                    'give NAME, --description and --prompt (or --from-goal "Create a ... agent")'
                )
            if prompt.startswith("@"):
                try:
                    prompt = Path(prompt[1:]).expanduser().read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError) as exc:
                    raise UsageError(f"cannot read the prompt file {prompt[1:]}: {exc}") from None
            spec = create_agent(m.agents_dir, name, description, tools, prompt, model=model)
    except LLMOSError as exc:
        # Every refusal here is about what was asked (name, tools, a taken name, not an agent goal): usage.
        fail(exc, ExitCode.USAGE)
    if as_json:
        print_json({"agent": spec.to_dict()})
        return
    typer.echo(
        f"Created agent {spec.name} ({spec.path}) with tools {', '.join(spec.tools) or '(none)'}"
    )


@agents_app.command("evolve")
def evolve(
    name: str = typer.Argument(..., help="Agent name."),
    force: bool = typer.Option(False, "--force", help="Evolve even if the thresholds are not met."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would change; write nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Write a new version of an agent with constraints learned from its failures."""
    from ..errors import LLMOSError

    m = _manager(workspace)
    try:
        result = m.evolve(name, force=force, dry_run=dry_run)
    except LLMOSError as exc:
        fail(exc)
    if as_json:
        print_json(result.to_dict())
        return
    if not result.applied and not (dry_run and result.new_version):
        typer.echo(f"{name}: not evolved: {result.reason}")
        return
    verb = "would become" if dry_run else "is now"
    typer.echo(f"{name} v{result.old_version} {verb} v{result.new_version}")
    for c in result.constraints_added:
        typer.echo(f"  + {c}")
    for t in result.tools_removed:
        typer.echo(f"  - tool {t}")
    if result.backup:
        typer.echo(f"previous version kept at {result.backup}")


@agents_app.command("revert")
def revert(
    name: str = typer.Argument(..., help="Agent name."),
    version: int = typer.Argument(..., help="Kept version to restore (see `llmos agents show`)."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Restore a kept version (saved as a new version; the current one is kept too)."""
    from ..errors import LLMOSError

    m = _manager(workspace)
    try:
        spec = m.revert(name, version)
    except LLMOSError as exc:
        fail(exc)
    typer.echo(f"{name} restored from v{version}; it is now v{spec.version}")
