"""`llmos traces ...`: list, show, search, approve, remove and reindex stored traces; list and
remove their aliases (``traces alias list|rm``).

The logic lives in ``llmos_tui.learning`` (store, index, matcher, trust); this module parses, calls,
prints. stdout carries results (JSON with ``--json``); warnings go to stderr.

``approve ID`` shows the exact calls a replay of the trace would run and, once confirmed (a prompt
on a terminal, or ``--yes``), records who approved which content hash (``learning/trust.py``).
Without ``--yes`` and without a terminal to ask on it prints the calls and exits 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from ._common import err, fail, print_json

traces_app = typer.Typer(
    help="List, show, search, remove and reindex learned traces.", no_args_is_help=True
)

WorkspaceOpt = typer.Option(
    None,
    "--workspace",
    "-w",
    help="Workspace directory (default: $LLMOS_WORKSPACE or ~/.local/share/llmos).",
)


def _warn(message: str) -> None:
    err(f"llmos: warning: {message}")


def _open(workspace: Optional[Path], *, read_only: bool = False) -> tuple[Any, Any]:
    """(config, TraceStore) for the workspace; usage errors exit with their code."""
    from ..config import load_config
    from ..errors import LLMOSError
    from ..learning.index import TraceIndex
    from ..learning.store import TraceStore
    from ..learning.trust import init_workspace_trust
    from ..workspace import open_workspace, resolve_workspace_dir

    try:
        root = resolve_workspace_dir(workspace)
        cfg = load_config(
            root if root.is_dir() else None
        )  # user and team name the volumes to create
        ws = open_workspace(
            root,
            user=cfg.user,
            team=cfg.team,
            must_exist=read_only,
            on_create=init_workspace_trust,
        )
        cfg = load_config(ws.root)
        return cfg, TraceStore(ws, TraceIndex(ws, on_warning=_warn))
    except LLMOSError as exc:
        fail(exc)


def _short(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


@traces_app.command("list")
def list_traces(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    user: Optional[str] = typer.Option(
        None, "--user", help="Only the traces of this user's volume."
    ),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """List traces (newest first): id, uses, success rate, cost, mode, trust, volume, goal.

    TRUST is own (recorded here), approved, or shared!/imported! (untrusted: not replayed until
    `llmos traces approve ID`)."""
    from ..errors import LLMOSError
    from ..learning.trust import UNTRUSTED, levels_of
    from ..workspace import safe_id

    _cfg, store = _open(workspace, read_only=True)
    try:
        volumes = [f"users/{safe_id(user, 'user')}"] if user else None
        entries = store.index.entries(volumes)
        skipped = store.index.skipped()
        trust = levels_of(store, entries)
    except LLMOSError as exc:
        fail(exc)
    entries.sort(key=lambda e: (e.last_used or e.created_at, e.id), reverse=True)
    if as_json:
        print_json(
            {
                "traces": [
                    dict(e.to_dict(), trust=trust[e.id][0], origin=trust[e.id][1]) for e in entries
                ],
                "skipped": [{"path": p, "reason": r} for p, r in sorted(skipped.items())],
            }
        )
        return
    if not entries:
        typer.echo("No traces yet." if not user else f"No traces in volumes/users/{user}.")
    else:
        typer.echo(
            f"{'ID':<16} {'USES':>5} {'OK%':>5} {'COST $':>8} {'MODE':<12} {'TRUST':<9} {'VOLUME':<18} GOAL"
        )
        for e in entries:
            rate = f"{e.success_rate * 100:.0f}" if e.success_count + e.failure_count else "-"
            level, origin = trust[e.id]
            label = f"{origin}!" if level == UNTRUSTED else level
            typer.echo(
                f"{e.id:<16} {e.usage_count:>5} {rate:>5} {e.cost_usd:>8.4f} {e.mode:<12} {label:<9} "
                f"{_short(e.volume, 18):<18} {_short(e.goal, 60)}"
            )
        untrusted = sum(1 for level, _o in trust.values() if level == UNTRUSTED)
        if untrusted:
            err(
                f"llmos: {untrusted} trace(s) marked ! are shared or imported and not approved: they guide "
                "MIXED runs but are not replayed until `llmos traces approve ID`"
            )
    if skipped:
        err(
            f"llmos: {len(skipped)} malformed trace file(s) skipped (`llmos traces reindex` lists them)"
        )


@traces_app.command("show")
def show_trace(
    trace_id: str = typer.Argument(..., metavar="ID", help="Trace id (see `llmos traces list`)."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Print a trace's markdown file."""
    from ..errors import LLMOSError

    _cfg, store = _open(workspace, read_only=True)
    try:
        text = store.read_text(trace_id)
    except LLMOSError as exc:
        fail(exc)
    typer.echo(text, nl=not text.endswith("\n"))


@traces_app.command("search")
def search_traces(
    goal: str = typer.Argument(..., help="A goal, in plain words."),
    limit: Optional[int] = typer.Option(
        None,
        "--limit",
        "-n",
        min=1,
        max=100,
        help="Candidates to show (default: learning.candidates).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Closest stored traces to GOAL: confidence, each gate's reason, AUTO's mode (runs nothing)."""
    from ..errors import LLMOSError
    from ..learning.matcher import Matcher
    from ..learning.modes import select_mode
    from ..learning.trust import levels_of, replay_refusal
    from ..runs import REPLAY_MODES, Mode

    cfg, store = _open(workspace, read_only=True)
    try:
        matcher = Matcher(config=cfg.learning, state_dir=store.workspace.state_dir)
        matcher.refresh(store.trust.effective_entries(store.index.entries()), store.index.version)
        decision = select_mode(goal, matcher, cfg)
        candidates = matcher.candidates(goal, limit or cfg.learning.candidates)
        trust = levels_of(
            store, [c.entry for c in candidates if getattr(c, "entry", None) is not None]
        )
        if decision.mode in REPLAY_MODES and decision.trace_id:
            refusal = replay_refusal(store, store.get(decision.trace_id))
            if refusal is not None:  # what the kernel would do (learning/trust.gate_replay)
                decision.mode = Mode.MIXED if cfg.execution.enable_mixed else Mode.LEARNER
                decision.reason = f"{refusal}; {decision.reason}"
    except LLMOSError as exc:
        fail(exc)
    rows = []
    for cand in candidates:
        row = cand.to_dict()
        entry = cand.entry
        row["volume"] = getattr(entry, "volume", None)
        row["path"] = getattr(entry, "path", None)
        row["passed"] = cand.passed
        row["trust"], row["origin"] = trust.get(cand.trace_id, ("untrusted", "unknown"))
        rows.append(row)
    if as_json:
        print_json({"goal": goal, "decision": decision.to_dict(), "candidates": rows})
        return
    typer.echo(f"AUTO would choose {decision.mode}: {decision.reason}")
    if not rows:
        typer.echo("No stored trace is close to this goal.")
        return
    for rank, cand in enumerate(candidates, start=1):
        verdict = "all gates passed" if cand.passed else f"{len(cand.failed_gates)} gate(s) failed"
        level, origin = trust.get(cand.trace_id, ("untrusted", "unknown"))
        mark = "" if level != "untrusted" else f", {origin} and not approved"
        typer.echo(
            f"\n{rank}. {cand.confidence:.3f}  {cand.trace_id}  {_short(cand.goal, 70)}  ({verdict}{mark})"
        )
        for gate in cand.gates:
            mark = "ok  " if gate.passed else "FAIL"
            typer.echo(f"     {mark} {gate.name:<13} {gate.reason}")
        if cand.slot_bindings:
            typer.echo(
                "     slots: " + ", ".join(f"{k} -> {v!r}" for k, v in cand.slot_bindings.items())
            )


@traces_app.command("approve")
def approve(
    trace_id: str = typer.Argument(..., metavar="ID", help="Trace id (see `llmos traces list`)."),
    yes: bool = typer.Option(
        False, "--yes", "-y", help="Approve without asking (after printing the calls)."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print one JSON object (needs --yes to approve)."
    ),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Show the exact calls a shared or imported trace would run and approve this content for replay.

    The approval records who approved which content sha256; a changed file needs a new approval.
    Without --yes it asks on the terminal; with no terminal it prints the calls and exits 1."""
    import sys

    from ..errors import LLMOSError
    from ..learning.trust import OWN, approve_trace, calls_preview, close_request, content_hash

    cfg, store = _open(workspace)
    try:
        trace = store.get(trace_id)
        entry = store.entry(trace_id)
        sha = content_hash(trace)
        level = store.trust.level(trace, sha)
    except LLMOSError as exc:
        fail(exc)
    preview = calls_preview(trace, volume=entry.volume, path=entry.path, sha=sha)
    if level != "untrusted":
        record = store.trust.approval(sha) or {}
        how = (
            "this workspace's own content"
            if level == OWN
            else f"approved by {record.get('approved_by')} at {record.get('at')}"
        )
        if as_json:
            print_json(
                {
                    "id": trace_id,
                    "sha256": sha,
                    "trust": level,
                    "approved": True,
                    "already": True,
                    "approval": record or None,
                }
            )
        else:
            typer.echo(f"{trace_id} is trusted already ({how}); nothing to approve.")
        return
    if not as_json:
        typer.echo(preview, nl=False)
    if not yes:
        if as_json or not sys.stdin.isatty():
            if as_json:
                print_json(
                    {
                        "id": trace_id,
                        "sha256": sha,
                        "trust": level,
                        "approved": False,
                        "calls": preview,
                    }
                )
            err(
                f"llmos: not approved: nothing was asked (no terminal); run `llmos traces approve {trace_id} --yes` "
                "to approve exactly this content"
            )
            raise typer.Exit(1)
        if not typer.confirm(
            f"Approve exactly this content (sha256 {sha[:16]}…) for replay here?", default=False
        ):
            err("llmos: not approved")
            raise typer.Exit(1)
    try:
        record = approve_trace(store, trace_id, by=cfg.user, expect_sha=sha)
    except LLMOSError as exc:
        fail(exc)
    close_request(store.workspace, cfg, store, sha, by=cfg.user)
    if as_json:
        print_json(
            {
                "id": trace_id,
                "sha256": sha,
                "trust": "approved",
                "approved": True,
                "already": bool(record.get("already")),
                "approval": record,
            }
        )
        return
    typer.echo(
        f"approved {trace_id} (sha256 {sha[:16]}…) by {record.get('approved_by')}: llmos may now replay "
        "and crystallize it here; a changed file needs a new approval"
    )


@traces_app.command("rm")
def remove_trace(
    trace_id: str = typer.Argument(..., metavar="ID", help="Trace id (see `llmos traces list`)."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Delete a trace file and its index entry."""
    from ..errors import LLMOSError

    _cfg, store = _open(workspace)
    try:
        path = store.delete(trace_id)
    except LLMOSError as exc:
        fail(exc)
    typer.echo(f"removed {trace_id} ({path.relative_to(store.root).as_posix()})")


@traces_app.command("reindex")
def reindex(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Rebuild the index from the markdown files (malformed files are listed and skipped)."""
    from ..errors import LLMOSError

    _cfg, store = _open(workspace)
    try:
        counts = store.index.rebuild()
        skipped = store.index.skipped()
    except LLMOSError as exc:
        fail(exc)
    if as_json:
        print_json(
            {
                **counts,
                "skipped_files": [{"path": p, "reason": r} for p, r in sorted(skipped.items())],
            }
        )
        return
    typer.echo(
        f"indexed {counts['traces']} trace(s) from {counts['volumes']} volume(s) in "
        f"{counts['seconds']:.2f} s; {counts['skipped']} skipped"
    )


alias_app = typer.Typer(
    help="Approved phrasings of a trace (exact matches that replay it).", no_args_is_help=True
)
traces_app.add_typer(alias_app, name="alias")


@alias_app.command("list")
def alias_list(
    trace_id: str = typer.Argument(..., metavar="ID", help="Trace id (see `llmos traces list`)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """The trace's aliases: phrasings a user (or VERIFIED) approved, with the values each replays."""
    from ..errors import LLMOSError
    from ..learning.traces import alias_phrase, alias_substitutions

    _cfg, store = _open(workspace)
    try:
        trace = store.get(trace_id)
    except LLMOSError as exc:
        fail(exc)
    items: list[dict[str, Any]] = [
        {"phrase": alias_phrase(a), "substitutions": alias_substitutions(a)} for a in trace.aliases
    ]
    if as_json:
        print_json({"trace_id": trace.id, "goal": trace.goal, "aliases": items})
        return
    if not items:
        typer.echo(f"{trace.id} has no aliases (goal: {trace.goal!r}).")
        return
    typer.echo(f"{trace.id} ({trace.goal!r}):")
    for item in items:
        subs = ", ".join(f"{k!r} -> {v!r}" for k, v in item["substitutions"].items())
        typer.echo(f"  {item['phrase']}" + (f"   [{subs}]" if subs else ""))


@alias_app.command("rm")
def alias_rm(
    trace_id: str = typer.Argument(..., metavar="ID", help="Trace id (see `llmos traces list`)."),
    phrase: str = typer.Argument(
        ..., metavar="PHRASE", help="The alias (compared after normalization)."
    ),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Remove one alias: that phrasing is matched like any other goal again."""
    from ..errors import LLMOSError

    _cfg, store = _open(workspace)
    try:
        removed = store.remove_alias(trace_id, phrase)
    except LLMOSError as exc:
        fail(exc)
    typer.echo(f"removed alias {removed!r} of {trace_id}")


def _register_bundle_commands() -> None:
    from .bundle import export_cmd, import_cmd

    traces_app.command("export")(export_cmd)
    traces_app.command("import")(import_cmd)


_register_bundle_commands()
