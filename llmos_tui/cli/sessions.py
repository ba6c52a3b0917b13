"""`llmos sessions`: the conversations of this workspace (chat sessions and chains of headless runs).

One line each, most recently active first: id, working directory, start, turns, last goal; ``--json``
prints ``{"sessions": [{id, cwd, started_at, source, turns, feedback, last_goal, last_at,
last_activity}]}``. Read-only: creates nothing. Continue one with ``llmos --headless run --session
ID "..."`` (or ``--continue`` for the last one in the working directory).
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


def sessions(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    limit: int = typer.Option(
        20, "--limit", min=1, max=10_000, help="Most sessions shown (most recent first)."
    ),
    here: bool = typer.Option(
        False, "--here", help="Only sessions whose working directory is the current one."
    ),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """List the conversations (id, working directory, started, turns, last goal)."""
    from ..errors import LLMOSError
    from ..memory.conversation import list_conversations
    from ..workspace import open_workspace

    try:
        ws = open_workspace(workspace, create=False, must_exist=True)
    except LLMOSError as exc:
        fail(exc)
    found = list_conversations(ws, limit=None if here else limit)
    if here:
        cwd = str(Path.cwd().resolve())
        found = [c for c in found if c.cwd == cwd][:limit]
    rows = [c.summary() for c in found]
    if as_json:
        print_json({"sessions": rows})
        return
    if not rows:
        err("llmos: no sessions yet (each chat, and each headless run, starts one)")
        return
    for row in rows:
        goal = " ".join(str(row["last_goal"] or "-").split())
        if len(goal) > 60:
            goal = goal[:59] + "…"
        started = str(row["started_at"] or "?").replace("T", " ").rstrip("Z")
        typer.echo(
            f"{row['id']}  {started}  {row['turns']:>3} turn(s)  {row['source'] or '?':<8}  "
            f"{row['cwd'] or '?'}  {goal}"
        )
