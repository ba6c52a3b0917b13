"""`llmos inbox ...`: notifications and proposals from the crons (list, show, ack, accept, reject).

The logic lives in ``llmos_tui.observability.hub``; this module parses, calls, prints.
stdout carries results (JSON with ``--json``); diagnostics go to stderr; exit codes:
0 done, 1 unknown id / already decided / the change failed, 2 bad usage, 3 refused by a
volume's access rules.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from ..exitcodes import ExitCode
from ._common import err, fail, print_json

inbox_app = typer.Typer(
    help="Notifications and proposals from the crons: list, show, ack, accept, reject.",
    no_args_is_help=True,
)

WorkspaceOpt = typer.Option(
    None,
    "--workspace",
    "-w",
    help="Workspace directory (default: $LLMOS_WORKSPACE or ~/.local/share/llmos).",
)


def open_hub(workspace: Optional[Path], *, read_only: bool = False) -> Any:
    """The ObservabilityHub of the workspace (created if missing); usage errors exit."""
    from ..config import load_config
    from ..errors import LLMOSError
    from ..learning.trust import init_workspace_trust
    from ..observability.hub import ObservabilityHub
    from ..volumes.appliers import register_appliers
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
        hub = ObservabilityHub(ws, config=cfg)
        register_appliers(hub)  # artifact.* proposals that name no module of their own
        return hub
    except LLMOSError as exc:
        fail(exc)


def _short(text: Any, width: int) -> str:
    value = " ".join(str(text or "").split())
    return value if len(value) <= width else value[: width - 1] + "…"


@inbox_app.command("list")
def list_inbox(
    show_all: bool = typer.Option(
        False, "--all", "-a", help="Also show read notifications and decided proposals."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Unread notifications and proposals waiting for a decision (newest first)."""
    from ..errors import LLMOSError

    hub = open_hub(workspace, read_only=True)
    try:
        items = hub.get_notifications(include_read=show_all)
    except LLMOSError as exc:
        fail(exc)
    rows = [n.to_dict() for n in reversed(items)]
    unread = sum(1 for n in items if not n.acknowledged)
    if as_json:
        print_json(
            {
                "notifications": rows,
                "unread": unread,
                "open_proposals": sum(1 for n in items if n.is_proposal and n.decision is None),
                "corrupt_lines": hub.inbox.corrupt_lines,
            }
        )
        return
    if not rows:
        typer.echo("The inbox is empty." if show_all else "No unread notifications.")
    else:
        typer.echo(f"{'ID':<18}  {'WHEN':<16}  {'STATE':<8}  {'TYPE':<18}  TITLE")
        for row in rows:
            typer.echo(
                f"{row['id']:<18}  {row['ts'][:16].replace('T', ' '):<16}  {row['state']:<8}  "
                f"{_short(row['type'], 18):<18}  {_short(row['title'], 70)}"
            )
    if hub.inbox.corrupt_lines:
        err(f"llmos: warning: {hub.inbox.corrupt_lines} corrupt inbox line(s) skipped")


@inbox_app.command("show")
def show_notification(
    event_id: str = typer.Argument(
        ..., metavar="ID", help="Notification id (or a unique prefix of 4+ characters)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Everything about one notification: its data, and a proposal's preview and payload."""
    from ..errors import LLMOSError

    hub = open_hub(workspace, read_only=True)
    try:
        item = hub.get_notification(event_id)
        payload = hub.proposal_payload(item) if item.is_proposal else None
    except LLMOSError as exc:
        fail(exc)
    row = item.to_dict()
    data = {k: v for k, v in item.event.data.items() if k not in ("payload", "preview")}
    if as_json:
        print_json(
            {**row, "data": data, "preview": item.event.data.get("preview"), "payload": payload}
        )
        return
    typer.echo(f"{row['title']}\n")
    typer.echo(
        f"  id      {row['id']}\n  type    {row['type']}\n  when    {row['ts']}\n  state   {row['state']}"
    )
    if row.get("source"):
        typer.echo(f"  from    {row['source']}")
    if item.is_proposal:
        typer.echo(f"  kind    {row.get('proposal_kind')}")
        if item.decision:
            typer.echo(
                f"  decided {item.decision} at {item.decided_at} by {item.decided_by}"
                + (f": {item.result or item.reason}" if (item.result or item.reason) else "")
            )
        for failure in item.failures:
            typer.echo(f"  failed  at {failure.get('ts')}: {failure.get('error')}")
    if row.get("summary"):
        typer.echo(f"\n{row['summary']}")
    shown = {
        k: v
        for k, v in data.items()
        if k not in ("summary", "kind") and v not in (None, "", [], {})
    }
    if shown:
        typer.echo("")
        for key, value in shown.items():
            typer.echo(f"  {key}: {_short(value, 200)}")
    preview = item.event.data.get("preview")
    if preview:
        typer.echo("\n--- preview ---")
        typer.echo(preview, nl=not str(preview).endswith("\n"))
    if item.is_proposal and item.decision is None:
        typer.echo(
            f"\nAccept: llmos inbox accept {item.id}    Reject: llmos inbox reject {item.id} --reason TEXT"
        )


@inbox_app.command("ack")
def ack(
    event_id: Optional[str] = typer.Argument(
        None, metavar="[ID]", help="Notification id to mark read."
    ),
    ack_all: bool = typer.Option(False, "--all", help="Mark every unread notification read."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Mark a notification (or all of them) read. Proposals stay open until accepted or rejected."""
    from ..errors import LLMOSError

    if (event_id is None) == (not ack_all):
        err("llmos: error: give a notification ID or --all (not both)")
        raise typer.Exit(int(ExitCode.USAGE))
    hub = open_hub(workspace)
    try:
        if ack_all:
            count = hub.acknowledge_all()
        else:
            count = 1 if hub.acknowledge(event_id or "") else 0
    except LLMOSError as exc:
        fail(exc)
    if as_json:
        print_json({"acknowledged": count})
    elif ack_all:
        typer.echo(f"marked {count} notification(s) read")
    else:
        typer.echo("marked read" if count else "already read")


@inbox_app.command("accept")
def accept(
    event_id: str = typer.Argument(..., metavar="ID", help="Proposal id."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Apply a proposal (once) and record the decision."""
    from ..errors import LLMOSError

    hub = open_hub(workspace)
    try:
        item = hub.get_notification(event_id)
        result = hub.accept(item.id)
    except LLMOSError as exc:
        fail(exc)
    if as_json:
        print_json({"id": item.id, "decision": "accepted", "result": result})
    else:
        typer.echo(result)


@inbox_app.command("reject")
def reject(
    event_id: str = typer.Argument(..., metavar="ID", help="Proposal id."),
    reason: Optional[str] = typer.Option(None, "--reason", "-r", help="Why (recorded)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Close a proposal without applying it; the decision and reason are recorded."""
    from ..errors import LLMOSError

    hub = open_hub(workspace)
    try:
        item = hub.get_notification(event_id)
        hub.reject(item.id, reason)
    except LLMOSError as exc:
        fail(exc)
    if as_json:
        print_json({"id": item.id, "decision": "rejected", "reason": reason})
    else:
        typer.echo(f"rejected {item.id}" + (f": {reason}" if reason else ""))
