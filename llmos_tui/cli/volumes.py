"""`llmos volumes ...`: list, show and promote artifacts of the user / team / system volumes.

The logic lives in ``llmos_tui.volumes``; this module parses, calls, prints. Exit codes: 0 done,
1 not found / promotion conflict, 2 bad usage, 3 refused by the volumes' access rules.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

import typer

from ._common import err, fail, print_json

volumes_app = typer.Typer(
    help="User, team and system volumes: list, show, promote, team members.", no_args_is_help=True
)

WorkspaceOpt = typer.Option(
    None,
    "--workspace",
    "-w",
    help="Workspace directory (default: $LLMOS_WORKSPACE or ~/.local/share/llmos).",
)


def _open(workspace: Optional[Path], *, read_only: bool = False) -> tuple[Any, Any, Any]:
    """(workspace, config, hub); usage errors exit with their code."""
    from ..config import load_config
    from ..errors import LLMOSError
    from ..learning.trust import init_workspace_trust
    from ..observability.hub import ObservabilityHub
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
        return ws, cfg, ObservabilityHub(ws, config=cfg)
    except LLMOSError as exc:
        fail(exc)


def _warn_problems(problems: list[dict[str, str]]) -> None:
    for problem in problems[:20]:
        err(f"llmos: warning: unreadable {problem['path']}: {problem['reason']}")
    if len(problems) > 20:
        err(f"llmos: warning: … and {len(problems) - 20} more unreadable file(s)")


@volumes_app.command("list")
def list_volumes(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Every volume with its artifact counts."""
    from ..errors import LLMOSError
    from ..volumes.volume import Volume, list_scopes

    ws, _cfg, hub = _open(workspace, read_only=True)
    try:
        stats = [Volume(ws, scope, events=hub).get_stats() for scope in list_scopes(ws)]
    except LLMOSError as exc:
        fail(exc)
    problems = [p for s in stats for p in s.problems]
    if as_json:
        print_json({"volumes": [s.to_dict() for s in stats]})
    else:
        typer.echo(
            f"{'VOLUME':<28} {'TRACES':>6} {'TOOLS':>6} {'AGENTS':>6} {'INSIGHTS':>8} {'SUGGEST.':>8} "
            f"{'CHANGES':>7}  LAST CHANGE"
        )
        for s in stats:
            c = s.counts
            typer.echo(
                f"{s.scope:<28} {c['traces']:>6} {c['tools']:>6} {c['agents']:>6} {c['insights']:>8} "
                f"{c['suggestions']:>8} {s.changes:>7}  {s.last_modified or '-'}"
            )
    _warn_problems(problems)


@volumes_app.command("show")
def show_volume(
    scope: str = typer.Argument(..., metavar="SCOPE", help="system, teams/<team> or users/<user>."),
    kind: Optional[str] = typer.Option(
        None, "--kind", "-k", help="Only this kind (traces, tools, agents, insights, suggestions)."
    ),
    changes: int = typer.Option(
        10, "--changes", min=0, max=10_000, help="Recent changelog entries to show."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """A volume's artifacts (with version and provenance), recent changes and unreadable files."""
    from ..errors import LLMOSError
    from ..volumes.volume import KIND_SUFFIXES, Volume, check_kind

    ws, _cfg, hub = _open(workspace, read_only=True)
    try:
        volume = Volume(ws, scope, events=hub)
        kinds = [check_kind(kind)] if kind else list(KIND_SUFFIXES)
        stats = volume.get_stats()
        artifacts: dict[str, list[dict[str, Any]]] = {}
        problems = list(stats.problems)
        for k in kinds:
            rows: list[dict[str, Any]] = []
            for info, _files in volume.iter_artifacts(k):
                row: dict[str, Any] = {
                    "name": info.name,
                    "version": info.version,
                    "size": info.size,
                    "sha256": info.sha256,
                    "meta": info.meta,
                    "problem": info.problem,
                }
                prov = volume.read_provenance(k, info.name)
                if prov:
                    origin = prov.get("origin") or {}
                    row["promoted_from"] = f"{origin.get('scope')}/{k}/{origin.get('name')}"
                    row["promoted_by"] = prov.get("promoted_by")
                    row["promoted_at"] = prov.get("promoted_at")
                rows.append(row)
            problems.extend(p for p in volume.problems if p not in problems)
            artifacts[k] = rows
        recent = volume.get_recent_changes(changes) if changes else []
    except LLMOSError as exc:
        fail(exc)
    if as_json:
        print_json(
            {
                **stats.to_dict(),
                "artifacts": artifacts,
                "recent_changes": recent,
                "problems": problems,
            }
        )
        return
    if not stats.exists:
        typer.echo(f"volumes/{volume.scope} does not exist yet (it is created by its first write).")
    typer.echo(
        f"volumes/{volume.scope}  ({stats.type}"
        + (f", members: {', '.join(stats.members)}" if stats.members else "")
        + f")  {stats.bytes} bytes, last change {stats.last_modified or '-'}"
    )
    for k, rows in artifacts.items():
        typer.echo(f"\n{k} ({len(rows)})")
        for row in rows:
            extra = []
            if row["version"]:
                extra.append(f"v{row['version']}")
            meta = row["meta"]
            if k == "traces" and meta:
                extra.append(f"{meta.get('usage_count')} uses")
                extra.append(" ".join(str(meta.get("goal", "")).split())[:50])
            elif meta.get("title"):
                extra.append(str(meta["title"])[:50])
            if row.get("promoted_from"):
                extra.append(f"from {row['promoted_from']}")
            typer.echo(f"  {row['name']:<32} {'  '.join(extra)}")
    if recent:
        typer.echo("\nrecent changes")
        for entry in recent:
            typer.echo(
                f"  {str(entry.get('ts', ''))[:19].replace('T', ' ')}  {entry.get('action', '?'):<9} "
                f"{entry.get('kind')}/{entry.get('name')}  by {entry.get('actor')}"
                + (f": {entry['reason']}" if entry.get("reason") else "")
            )
    _warn_problems(problems)


@volumes_app.command("promote")
def promote(
    kind: str = typer.Argument(
        ..., metavar="KIND", help="traces, tools, agents, insights or suggestions."
    ),
    name: str = typer.Argument(..., metavar="NAME", help="Artifact name (a trace's id)."),
    from_scope: str = typer.Option(..., "--from", help="Source volume, e.g. users/alice."),
    to_scope: str = typer.Option(..., "--to", help="Target volume, e.g. teams/eng or system."),
    reason: Optional[str] = typer.Option(None, "--reason", help="Why (kept in the provenance)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Copy an artifact one level up with provenance (never overwriting a newer one)."""
    from ..errors import LLMOSError
    from ..volumes.acl import Identity
    from ..volumes.promotion import Promoter

    ws, cfg, hub = _open(workspace)
    try:
        result = Promoter(ws, config=cfg, events=hub).promote(
            kind,
            name,
            from_scope=from_scope,
            to_scope=to_scope,
            identity=Identity.by_hand(to_scope, cfg.user),
            reason=reason or "promoted from the command line",
        )
    except LLMOSError as exc:
        fail(exc)
    from ..volumes.git_sync import sync_after_write

    synced = sync_after_write(
        ws, cfg, to_scope, f"promote {kind}/{name} from {from_scope}", events=hub
    )
    if synced is not None and not synced.ok:
        err(
            f"llmos: warning: the promotion is local; pushing volumes/{to_scope} failed: {synced.error}"
        )
    if as_json:
        print_json(result.to_dict())
    else:
        typer.echo(result.message)


@volumes_app.command("candidates")
def candidates(
    to_scope: str = typer.Option(
        ..., "--to", help="teams/<team> (user → team criteria) or system (team → system)."
    ),
    include_done: bool = typer.Option(
        False, "--all", help="Also list candidates already promoted."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Artifacts that meet the promotion criteria (promotes nothing)."""
    from ..errors import LLMOSError
    from ..volumes.acl import parse_scope
    from ..volumes.promotion import Promoter

    ws, cfg, hub = _open(workspace, read_only=True)
    try:
        scope = parse_scope(to_scope)
        promoter = Promoter(ws, config=cfg, events=hub)
        if scope == "system":
            found = promoter.team_to_system_candidates(include_done=include_done)
        elif scope.startswith("teams/"):
            found = promoter.user_to_team_candidates(
                scope.split("/", 1)[1], include_done=include_done
            )
        else:
            err("llmos: error: --to must be teams/<team> or system")
            raise typer.Exit(2)
    except LLMOSError as exc:
        fail(exc)
    if as_json:
        print_json(
            {
                "to": scope,
                "criteria": promoter.criteria.__dict__,
                "candidates": [c.to_dict() for c in found],
            }
        )
        return
    if not found:
        typer.echo(f"No artifact meets the criteria for {scope}.")
    for cand in found:
        done = "  (already promoted)" if cand.already_promoted else ""
        typer.echo(f"{cand.kind}/{cand.name}  from {cand.from_scope}: {cand.reason}{done}")


@volumes_app.command("members")
def members(
    team: str = typer.Argument(..., metavar="TEAM", help="Team id."),
    add: Optional[List[str]] = typer.Option(
        None, "--add", help="Record USER as a member (repeatable)."
    ),
    remove: Optional[List[str]] = typer.Option(
        None, "--remove", help="Remove USER from the team (repeatable)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """List (or change) a team's members: a TeamCron reads its members' volumes."""
    from ..errors import LLMOSError, UsageError
    from ..volumes.acl import add_member, parse_scope, remove_member, team_members

    ws, _cfg, _hub = _open(workspace)
    try:
        team = parse_scope(f"teams/{team}").split("/", 1)[1]
        for user in add or []:
            add_member(ws, team, user)
        for user in remove or []:
            remove_member(ws, team, user)
        names = team_members(ws, team)
    except LLMOSError as exc:
        fail(exc)
    except OSError as exc:
        fail(UsageError(f"cannot change the members of {team}: {exc}"))
    if as_json:
        print_json({"team": team, "members": names})
    else:
        typer.echo("\n".join(names) if names else f"team {team} has no recorded members")
