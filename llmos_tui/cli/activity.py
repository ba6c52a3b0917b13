"""`llmos activity`: the morning report — what each cron did, created, evolved and promoted.

Register with ``app.command("activity")(activity)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ._common import err, fail, print_json

WorkspaceOpt = typer.Option(
    None,
    "--workspace",
    "-w",
    help="Workspace directory (default: $LLMOS_WORKSPACE or ~/.local/share/llmos).",
)


def activity(
    since_hours: float = typer.Option(
        24.0, "--since-hours", min=0.001, max=24 * 3650, help="How far back to look, in hours."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """What happened in the last hours: cron cycles, artifacts created, evolved and promoted."""
    from ..errors import LLMOSError
    from .inbox import open_hub

    hub = open_hub(workspace, read_only=True)
    try:
        if as_json:
            print_json(hub.activity(since_hours))
            return
        typer.echo(hub.format_activity_report(since_hours))
    except LLMOSError as exc:
        fail(exc)
    if hub.event_log.corrupt_lines:
        err(f"llmos: warning: {hub.event_log.corrupt_lines} corrupt event line(s) skipped")
