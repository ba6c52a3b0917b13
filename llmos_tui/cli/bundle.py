"""`llmos traces export BUNDLE` / `llmos traces import BUNDLE`: portable trace bundles.

Two plain command functions (``export_cmd``, ``import_cmd``) meant to be mounted on the traces
app (``traces_app.command("export")(export_cmd)``); ``bundle_app`` holds both for callers that
prefer to attach a sub-app. The logic lives in ``llmos_tui.edge.bundle``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

import typer

from ._common import err, fail, print_json

WorkspaceOpt = typer.Option(
    None,
    "--workspace",
    "-w",
    help="Workspace directory (default: $LLMOS_WORKSPACE or ~/.local/share/llmos).",
)


def _open(
    workspace: Optional[Path], user: Optional[str], *, read_only: bool = False
) -> tuple[Any, Any, Any]:
    """(workspace, config, TraceStore); the user's volume is created if needed."""
    from ..config import load_config
    from ..errors import LLMOSError
    from ..learning.index import TraceIndex
    from ..learning.store import TraceStore
    from ..learning.trust import init_workspace_trust
    from ..workspace import open_workspace, resolve_workspace_dir, safe_id

    try:
        root = resolve_workspace_dir(workspace)
        cfg = load_config(root if root.is_dir() else None)
        if user:
            cfg.user = safe_id(user, "user")
        ws = open_workspace(
            root,
            user=cfg.user,
            team=cfg.team,
            must_exist=read_only,
            on_create=init_workspace_trust,
        )
        store = TraceStore(ws, TraceIndex(ws, on_warning=lambda m: err(f"llmos: warning: {m}")))
        return ws, cfg, store
    except LLMOSError as exc:
        fail(exc)


def export_cmd(
    bundle: Path = typer.Argument(
        ..., help="Where to write the bundle: a .tar.gz/.tgz file, else a directory."
    ),
    user: Optional[str] = typer.Option(
        None, "--user", help="Export this user's volume (default: the configured user)."
    ),
    trace: Optional[List[str]] = typer.Option(
        None, "--trace", help="Only this trace id (repeatable)."
    ),
    project: Optional[str] = typer.Option(
        None, "--project", help="Only the traces of this project."
    ),
    include_failed: bool = typer.Option(
        False, "--include-failed", help="Also export traces whose run failed."
    ),
    force: bool = typer.Option(False, "--force", help="Replace an existing bundle at that path."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Export traces and their crystallized tools to a portable bundle (manifest with sha256 per file)."""
    from ..edge.bundle import export_bundle
    from ..errors import LLMOSError

    ws, cfg, store = _open(workspace, user, read_only=True)
    try:
        report = export_bundle(
            ws,
            store,
            bundle,
            volumes=[cfg.user_volume()],
            trace_ids=trace or None,
            project=project,
            include_failed=include_failed,
            force=force,
        )
    except LLMOSError as exc:
        fail(exc)
    from ..observability.events import EventType

    store.events.record(
        EventType.BUNDLE_EXPORTED,
        path=report.path,
        traces=len(report.traces),
        tools=len(report.tools),
        manifest_sha256=report.manifest_sha256,
    )
    for skipped in report.skipped:
        err(f"llmos: skipped {skipped['id']}: {skipped['reason']}")
    if as_json:
        print_json(report.to_dict())
        return
    typer.echo(
        f"exported {len(report.traces)} trace(s) and {len(report.tools)} tool(s) to {report.path}"
    )
    typer.echo(f"manifest sha256: {report.manifest_sha256}")
    err("llmos: pin this bundle on import with --expect-sha256 " + report.manifest_sha256)


def import_cmd(
    bundle: Path = typer.Argument(..., help="A bundle directory or .tar.gz file."),
    user: Optional[str] = typer.Option(
        None, "--user", help="Import into this user's volume (default: the configured user)."
    ),
    on_conflict: str = typer.Option(
        "skip", "--on-conflict", help="An id that exists with other content: skip | rename | fail."
    ),
    expect_sha256: Optional[str] = typer.Option(
        None, "--expect-sha256", help="Refuse the bundle unless its manifest has this sha256."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Verify a bundle (hashes, paths, formats) and import its traces and tools; never overwrites."""
    from ..edge.bundle import import_bundle
    from ..errors import LLMOSError

    ws, cfg, store = _open(workspace, user)
    try:
        report = import_bundle(
            ws,
            store,
            bundle,
            volume=cfg.user_volume(),
            on_conflict=on_conflict,
            expect_sha256=expect_sha256,
        )
    except LLMOSError as exc:
        fail(exc)
    for skipped in report.skipped + report.tools_skipped:
        err(f"llmos: skipped {skipped['id']}: {skipped['reason']}")
    if as_json:
        print_json(report.to_dict())
        return
    typer.echo(
        f"imported {len(report.imported)} trace(s) into volumes/{report.volume}"
        f" ({len(report.unchanged)} already present, {len(report.renamed)} renamed, "
        f"{len(report.skipped)} skipped); tools: {len(report.tools_imported)} imported, "
        f"{len(report.tools_unchanged)} already present, {len(report.tools_skipped)} skipped"
    )
    for old, new in report.renamed.items():
        typer.echo(f"  {old} -> {new}")
    if report.imported or report.renamed:
        err(
            "llmos: imported traces are untrusted: they guide MIXED runs but are not replayed, crystallized or "
            "run as tools until you review and approve them (`llmos traces approve ID`)"
        )


bundle_app = typer.Typer(help="Export and import portable trace bundles.", no_args_is_help=True)
bundle_app.command("export")(export_cmd)
bundle_app.command("import")(import_cmd)
