"""`llmos policy …`: ask the policy engine about one tool call (the logic lives in the engine).

Exit codes: 0 when the call is allowed, 3 (POLICY_BLOCKED) when it is denied or would need a
confirmation (ask), 2 (USAGE) for bad options such as malformed ``--input`` JSON or an unknown
``--latent-mode`` (the modes are ``sentience_params.LATENT_MODES``, in any case).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from ..exitcodes import ExitCode
from ._common import err, print_json

policy_app = typer.Typer(help="Check tool calls against the policy engine.", no_args_is_help=True)


@policy_app.command("check")
def policy_check(
    tool: str = typer.Option(..., "--tool", help="Tool name, e.g. Bash, Write, Read, WebFetch."),
    input_json: str = typer.Option(
        ..., "--input", help='Tool input as a JSON object, e.g. \'{"command": "ls"}\'.'
    ),
    cwd: Optional[Path] = typer.Option(
        None, "--cwd", help="Working directory of the call (default: current)."
    ),
    latent_mode: Optional[str] = typer.Option(
        None,
        "--latent-mode",
        help="Latent mode: AUTO_CREATIVE, AUTO_CONTAINED, RECOVERY, CAUTIOUS or BALANCED.",
    ),
    workspace: Optional[Path] = typer.Option(
        None, "--workspace", "-w", help="Workspace whose state files are protected."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print exactly one JSON object {decision, reason}."
    ),
) -> None:
    """Decide allow / ask / deny for one tool call. Exit 0 = allow, 3 = deny or ask."""
    from ..errors import LLMOSError

    try:
        tool_input = json.loads(input_json)
    except json.JSONDecodeError as exc:
        err(
            f"llmos: error: --input is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        )
        raise typer.Exit(int(ExitCode.USAGE)) from None
    if latent_mode is not None:
        from ..sentience_params import LATENT_MODES

        if latent_mode.strip().upper() not in LATENT_MODES:
            err(
                f"llmos: error: unknown --latent-mode {latent_mode!r} (choose from {', '.join(LATENT_MODES)})"
            )
            raise typer.Exit(int(ExitCode.USAGE))
        latent_mode = latent_mode.strip().upper()
    workdir = (cwd or Path.cwd()).expanduser()
    if not workdir.is_dir():
        err(f"llmos: error: --cwd {workdir} is not a directory")
        raise typer.Exit(int(ExitCode.USAGE))
    try:
        engine = _engine(workspace)
    except LLMOSError as exc:
        err(f"llmos: error: {exc.message}")
        raise typer.Exit(int(exc.exit_code)) from None
    decision = engine.check(tool, tool_input, workdir.resolve(), latent_mode=latent_mode)
    if as_json:
        print_json({"decision": decision.decision, "reason": decision.reason})
    else:
        typer.echo(f"{decision.decision}: {decision.reason} [{decision.rule}]")
    raise typer.Exit(int(ExitCode.OK) if decision.allowed else int(ExitCode.POLICY_BLOCKED))


def _engine(workspace: Optional[Path]):
    """The engine for the configured workspace, without creating anything on disk."""
    from ..config import load_config
    from ..execution.policy.engine import PolicyEngine
    from ..workspace import Workspace, resolve_workspace_dir

    root = resolve_workspace_dir(workspace)
    config = load_config(root if root.is_dir() else None)
    ws = Workspace(root)
    return PolicyEngine(
        workspace_root=root,
        allow_network=config.execution.allow_network,
        protected_paths=ws.protected_paths(),
    )
