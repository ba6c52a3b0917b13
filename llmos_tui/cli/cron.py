"""`llmos cron ...`: run one cron cycle (for a system scheduler) and show the crons' state.

The logic lives in ``llmos_tui.evolution.crons``; this module parses, calls, prints. Exit codes:
0 the cycle completed (or was skipped because the same cron is running), 1 it failed (recorded,
retried later), 2 bad usage.

Register with ``app.add_typer(cron_app, name="cron")``. A crontab line::

    */30 * * * *  llmos cron run --level user --user alice
    0 * * * *     llmos cron run --level team --team eng
    0 */2 * * *   llmos cron run --level system
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from ..exitcodes import ExitCode
from ._common import err, fail, print_json

cron_app = typer.Typer(
    help="Background crons (UserCron, TeamCron, SystemCron): run one cycle, show their state.",
    no_args_is_help=True,
)

WorkspaceOpt = typer.Option(
    None,
    "--workspace",
    "-w",
    help="Workspace directory (default: $LLMOS_WORKSPACE or ~/.local/share/llmos).",
)


def _open(workspace: Optional[Path], *, read_only: bool = False) -> tuple[Any, Any]:
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
        return ws, load_config(ws.root)
    except LLMOSError as exc:
        fail(exc)


@cron_app.command("run")
def run(
    level: str = typer.Option(..., "--level", "-l", help="user, team or system."),
    user: Optional[str] = typer.Option(
        None, "--user", help="The user of a user cron (default: the config's user)."
    ),
    team: Optional[str] = typer.Option(
        None, "--team", help="The team of a team cron (default: the config's team)."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print the cycle report as one JSON object."
    ),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Run one cycle of a cron now and print what it did."""
    from ..evolution.crons import LEVELS, run_cycle

    if level not in LEVELS:
        err(f"llmos: error: unknown --level {level!r} (choose from {', '.join(LEVELS)})")
        raise typer.Exit(int(ExitCode.USAGE))
    if level != "user" and user:
        err("llmos: error: --user goes with --level user")
        raise typer.Exit(int(ExitCode.USAGE))
    if level == "system" and team:
        err("llmos: error: --team goes with --level user or team")
        raise typer.Exit(int(ExitCode.USAGE))
    ws, cfg = _open(workspace)
    if level == "team" and team:
        from ..evolution.crons import known_teams

        teams = known_teams(ws, cfg)
        if team not in teams:  # a usage error: nothing runs and no cron entry is left behind
            err(
                f"llmos: error: no team named {team!r} in this workspace (teams: {', '.join(teams) or 'none'})"
            )
            raise typer.Exit(int(ExitCode.USAGE))
    report = run_cycle(ws, cfg, level, user=user, team=team)
    if as_json:
        print_json(report.to_dict())
    else:
        typer.echo(
            f"{report.cron_id}: {report.status} in {report.duration_s:.2f} s — {report.summary()}"
        )
        for path in report.insights + report.suggestions:
            typer.echo(f"  + {path}")
        for row in report.promoted:
            typer.echo(
                f"  ^ {row.get('kind')}/{row.get('name')}  {row.get('from')} -> {row.get('volume')}"
            )
        for tool in report.crystallized:
            typer.echo(f"  * crystallized {tool}")
        for prop in report.proposals:
            typer.echo(f"  ? {prop['event_id'] or '-'}  {prop['title']}  ({prop['status']})")
        for row in report.refused:
            typer.echo(f"  ! not promoted: {row['reason']}")
        for sync in report.sync:
            state = "ok" if sync.get("ok") else f"FAILED: {sync.get('error')}"
            typer.echo(f"  ~ git {sync['action']} {sync['scope']}: {state}")
        if report.next_due:
            typer.echo(f"  next due {report.next_due}")
    for problem in report.problems[:20]:
        err(f"llmos: warning: {problem['path']}: {problem['reason']}")
    if report.status == "failed":
        if not as_json:
            err(f"llmos: error: {report.error}")
        raise typer.Exit(int(ExitCode.GOAL_FAILED))


@cron_app.command("status")
def status(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Last run, next due time and failures of every cron of the workspace."""
    from ..errors import LLMOSError
    from ..evolution.crons import cron_status

    ws, cfg = _open(workspace, read_only=True)
    try:
        data = cron_status(ws, cfg)
    except LLMOSError as exc:
        fail(exc)
    if as_json:
        print_json(data)
        return
    typer.echo(
        f"crons {'enabled' if data['enabled'] else 'disabled'} in the TUI; now {data['now']}"
    )
    typer.echo(
        f"{'CRON':<26} {'EVERY':>7}  {'LAST RUN':<20} {'STATUS':<9} {'NEXT DUE':<20} FAILURES"
    )
    for row in data["crons"]:
        every = f"{row['interval_minutes']:g}m"
        nxt = "due now" if row["due"] else (row["next_due"] or "-")
        typer.echo(
            f"{row['cron_id']:<26} {every:>7}  {(row['last_run'] or 'never'):<20} "
            f"{(row['last_status'] or '-'):<9} {nxt:<20} {row['consecutive_failures']}"
        )
        if row["consecutive_failures"] and row["last_error"]:
            typer.echo(f"    last error: {' '.join(str(row['last_error']).split())[:140]}")
    for remote in data["git"]:
        if "error" in remote and "scope" not in remote:
            typer.echo(f"git: {remote['error']}")
            continue
        typer.echo(
            f"git {remote['scope']}: {remote.get('remote')} head {str(remote.get('head') or '-')[:10]}"
            + (f", {remote['dirty']} uncommitted change(s)" if remote.get("dirty") else "")
        )
