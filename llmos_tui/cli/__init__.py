"""Typer entry point: parses, calls the kernel, prints. No logic of its own.

stdout carries results (one JSON object with ``--json``); diagnostics go to stderr; exit codes
are ``llmos_tui.exitcodes.ExitCode``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from .. import __version__
from ..errors import LLMOSError
from ..exitcodes import ExitCode
from ._common import err, fail, print_json
from ._lazy import LazyGroup

# Sub-apps (bench, traces, memory, ...) are imported only when invoked: see _lazy.py.
app = typer.Typer(
    name="llmos",
    cls=LazyGroup,
    help="llmos: an LLM operating system for the terminal. With no command, opens the TUI.",
    add_completion=False,
    no_args_is_help=False,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Show the configuration in force.", no_args_is_help=True)
app.add_typer(config_app, name="config")

WorkspaceOpt = typer.Option(
    None,
    "--workspace",
    "-w",
    help="Workspace directory (default: $LLMOS_WORKSPACE or ~/.local/share/llmos).",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"llmos {__version__}")
        raise typer.Exit(0)


@app.callback()
def main(
    ctx: typer.Context,
    headless: bool = typer.Option(False, "--headless", help="Never open the TUI (for scripts)."),
    workspace: Optional[Path] = WorkspaceOpt,
    cwd: Optional[Path] = typer.Option(
        None, "--cwd", help="The TUI's working directory: where goals run (default: current)."
    ),
    version: bool = typer.Option(
        False,
        "--version",
        "-V",
        callback=_version,
        is_eager=True,
        help="Print the version and exit.",
    ),
) -> None:
    """Open the TUI, or run a command."""
    if ctx.invoked_subcommand is not None:
        return
    if headless:
        err(
            'llmos: --headless needs a command, e.g. llmos --headless run "GOAL" (see llmos --help)'
        )
        raise typer.Exit(int(ExitCode.USAGE))
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        # Drawing the TUI into a file or a pipe hangs waiting for keys that never come.
        redirected = [
            n for n, s in (("stdin", sys.stdin), ("stdout", sys.stdout)) if not s.isatty()
        ]
        what = " and ".join(redirected) + (
            " are not terminals" if len(redirected) > 1 else " is not a terminal"
        )
        err(
            f"llmos: error: the TUI needs a terminal ({what}); for scripts and pipes use "
            'llmos --headless run "GOAL" (see llmos --help)'
        )
        raise typer.Exit(int(ExitCode.USAGE))
    try:
        from ..tui.app import cwd_problem, run_tui
    except ImportError as exc:  # pragma: no cover - textual is a hard dependency
        fail(f"the TUI cannot start: {exc}", ExitCode.USAGE)
    where = None
    if cwd is not None:
        problem, where = cwd_problem(str(cwd))
        if problem:
            fail(f"--cwd: {problem}", ExitCode.USAGE)
    raise typer.Exit(run_tui(workspace=workspace, cwd=where))


@app.command()
def run(
    goal: str = typer.Argument(..., help="What you want done, in plain words."),
    as_json: bool = typer.Option(False, "--json", help="Print exactly one JSON object on stdout."),
    mode: str = typer.Option(
        "auto", "--mode", help="auto|learner|follower|mixed|orchestrator|crystallized"
    ),
    cwd: Optional[Path] = typer.Option(
        None, "--cwd", help="Working directory for the goal (default: current)."
    ),
    workspace: Optional[Path] = WorkspaceOpt,
    user: Optional[str] = typer.Option(None, "--user", help="User id (volume for traces)."),
    team: Optional[str] = typer.Option(None, "--team", help="Team id."),
    budget: Optional[float] = typer.Option(
        None, "--budget", min=0.0, help="Budget in USD for this workspace (overrides budget_usd)."
    ),
    yes: bool = typer.Option(
        False, "--yes", "-y", help="Allow actions the policy would ask to confirm."
    ),
    project: Optional[str] = typer.Option(
        None, "--project", help="Run in projects/NAME (default cwd: its output/; traces tagged)."
    ),
    replay_similar: bool = typer.Option(
        False,
        "--replay-similar",
        help="Replay the closest trace even when some differences are not accounted for "
        "(still through policy and sandbox).",
    ),
    resume: bool = typer.Option(
        False,
        "--continue",
        "-c",
        help="Continue the last session of this workspace in this working directory "
        "(the request carries its earlier turns).",
    ),
    session: Optional[str] = typer.Option(
        None, "--session", help="Continue the session ID (see llmos sessions)."
    ),
) -> None:
    """Run one goal headless and print the result."""
    from ..headless import run_goal

    raise typer.Exit(
        run_goal(
            goal,
            as_json=as_json,
            mode=mode,
            cwd=cwd,
            workspace=workspace,
            user=user,
            team=team,
            budget=budget,
            yes=yes,
            project=project,
            replay_similar=replay_similar,
            resume=resume,
            session=session,
        )
    )


@app.command()
def init(
    directory: Optional[Path] = typer.Argument(
        None, help="Where to create the workspace (default: the resolved workspace)."
    ),
) -> None:
    """Create a workspace from the template (never overwrites existing files)."""
    from ..learning.trust import init_workspace_trust
    from ..workspace import open_workspace

    try:
        ws = open_workspace(directory, on_create=init_workspace_trust)
    except LLMOSError as exc:
        fail(exc)
    typer.echo(str(ws.root))
    err(f"llmos: workspace ready at {ws.root}")


@config_app.command("show")
def config_show(
    workspace: Optional[Path] = WorkspaceOpt,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Print the configuration in force (preset + config.yaml + LLMOS_* variables)."""
    from ..config import env_sources, load_config
    from ..workspace import resolve_workspace_dir

    root = resolve_workspace_dir(workspace)
    try:
        cfg = load_config(root if root.is_dir() else None)
    except LLMOSError as exc:
        fail(exc)
    data = cfg.to_dict()
    from_env = env_sources()
    if as_json:
        print_json(
            {"workspace": str(root), "source": cfg.source, "environment": from_env, "config": data}
        )
        return
    from edgekit.frontmatter import dump_yaml

    typer.echo(f"# workspace: {root}\n# source: {cfg.source}")
    for key, variable in from_env.items():
        typer.echo(
            f"# {key} is set by the environment ({variable}): it overrides config.yaml and the preset"
        )
    text = dump_yaml(data).rstrip()
    typer.echo(_mark_env_keys(text, from_env))


def _mark_env_keys(text: str, from_env: dict[str, str]) -> str:
    """The YAML of ``config show`` with ``# from LLMOS_…`` after each value the environment set."""
    out: list[str] = []
    path: list[str] = []
    for line in text.splitlines():
        stripped = line.lstrip(" ")
        indent = (len(line) - len(stripped)) // 2
        key = (
            stripped.split(":", 1)[0] if ":" in stripped and not stripped.startswith("- ") else None
        )
        if key is not None:
            path = path[:indent] + [key]
            variable = from_env.get(".".join(path))
            if variable:
                line += f"  # from {variable}"
        out.append(line)
    return "\n".join(out)


@config_app.command("keys")
def config_keys() -> None:
    """List every configuration key with its default and meaning."""
    from ..config import describe_keys

    for key, help_text, default in describe_keys():
        typer.echo(f"{key:<40} {default!r:<22} {help_text}")


@app.command()
def economy(
    workspace: Optional[Path] = WorkspaceOpt,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show the budget, what was spent, and spend by mode."""
    from ..kernel import LLMOS
    from ..workspace import open_workspace

    try:
        open_workspace(
            workspace, create=False, must_exist=True
        )  # a read-only command creates nothing
        kernel = LLMOS.boot(workspace)
    except LLMOSError as exc:
        fail(exc)
    report = kernel.economy.report()
    if as_json:
        print_json(report)
        return
    balance = report["balance_usd"]
    over = f"  (overspent by ${-balance:.4f})" if balance < 0 else ""
    typer.echo(
        f"budget  ${report['budget_usd']:.4f}\nspent   ${report['spent_usd']:.4f}\n"
        f"balance ${max(balance, 0.0):.4f}{over}"
    )
    for mode_name, row in sorted(report["by_mode"].items()):
        typer.echo(
            f"  {mode_name:<13} runs {row['runs']:>5}  ${row['cost_usd']:.4f}  "
            f"tokens {row['input_tokens']}/{row['output_tokens']}"
        )


@app.command()
def undo(
    cwd: Optional[Path] = typer.Option(
        None, "--cwd", help="The working directory whose last run to undo (default: current)."
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Restore without asking."),
    force: bool = typer.Option(
        False, "--force", help="Restore even the files that changed since that run."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Restore the files the last run in this working directory changed with the file tools."""
    from ..kernel import LLMOS

    where = (cwd or Path.cwd()).resolve()
    if not where.is_dir():
        err(f"llmos: error: the working directory {where} does not exist")
        raise typer.Exit(int(ExitCode.USAGE))
    try:
        kernel = LLMOS.boot(workspace)
    except LLMOSError as exc:
        fail(exc)
    store = kernel.undo_store()
    run_info = store.last(where)
    if run_info is not None and not yes:
        files = ", ".join(f.rel + ("" if f.existed else " (delete)") for f in run_info.files)
        prompt = f"Undo run {run_info.run_id} ({run_info.goal[:80]!r}): {files}?"
        if not sys.stdin.isatty():
            err(f"llmos: {prompt}\nllmos: error: no terminal to confirm on: run again with --yes")
            raise typer.Exit(int(ExitCode.GOAL_FAILED))
        if not typer.confirm(prompt, default=False, err=True):
            err("llmos: nothing was changed")
            raise typer.Exit(int(ExitCode.GOAL_FAILED))
    report = store.undo(where, force=force)
    from ..observability.events import EventType

    kernel.events.record(
        EventType.UNDO,
        cwd=str(where),
        run_id=report.run_id,
        ok=report.ok,
        restored=report.restored,
        deleted=report.deleted,
        changed_since=report.changed_since,
    )
    if as_json:
        print_json(report.to_json())
    elif report.ok:
        for rel in report.restored:
            typer.echo(f"restored {rel}")
        for rel in report.deleted:
            typer.echo(f"deleted {rel} (created by that run)")
        for rel in report.skipped:
            typer.echo(f"left alone {rel} (no pre-image kept)")
    if not report.ok:
        err(f"llmos: error: {report.error}")
        raise typer.Exit(int(ExitCode.GOAL_FAILED))


@app.command()
def demo(
    keep: Optional[Path] = typer.Option(
        None, "--keep", help="Copy the demo's workspace and folders here."
    ),
) -> None:
    """A guided run of learn -> follow -> crystallize with RECORDED model answers (no API key needed)."""
    from ..demo import run_demo
    from ..errors import LLMOSError

    try:
        code = run_demo(typer.echo, keep=keep)
    except LLMOSError as exc:
        fail(exc)
    raise typer.Exit(code)


def run_cli() -> None:
    app(prog_name="llmos")
