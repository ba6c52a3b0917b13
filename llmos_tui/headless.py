"""``llmos --headless run "GOAL"``: the one-shot run, and its parse without Typer.

A replay is meant to be cheap, and importing Typer (with its vendored Click) costs more than
everything a FOLLOWER hit does with a file. So the console entry point (``__main__``) hands a
plain ``--headless run GOAL [options]`` command line to :func:`parse_run_argv`; when every
argument is one it knows, the run starts without Typer. Anything else (``--help``, a misspelt
or malformed option, a missing goal, an option given twice, ``--``) returns ``None`` and goes
to the Typer app, which parses, explains and rejects exactly as before. Both paths run
:func:`run_goal`; ``tests/test_headless_fast.py`` checks that :data:`RUN_OPTIONS` and the Typer
``run`` command declare the same options.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Any

# option -> (parameter, kind); kinds: "flag" (no value), "str", "path", "budget" (float >= 0)
RUN_OPTIONS: dict[str, tuple[str, str]] = {
    "--json": ("as_json", "flag"),
    "--mode": ("mode", "str"),
    "--cwd": ("cwd", "path"),
    "--workspace": ("workspace", "path"),
    "-w": ("workspace", "path"),
    "--user": ("user", "str"),
    "--team": ("team", "str"),
    "--budget": ("budget", "budget"),
    "--yes": ("yes", "flag"),
    "-y": ("yes", "flag"),
    "--project": ("project", "str"),
    "--replay-similar": ("replay_similar", "flag"),
    "--continue": ("resume", "flag"),
    "-c": ("resume", "flag"),
    "--session": ("session", "str"),
}

DEFAULTS: dict[str, Any] = {
    "as_json": False,
    "mode": "auto",
    "cwd": None,
    "workspace": None,
    "user": None,
    "team": None,
    "budget": None,
    "yes": False,
    "project": None,
    "replay_similar": False,
    "resume": False,
    "session": None,
}


def err(message: str) -> None:
    sys.stderr.write(message.rstrip("\n") + "\n")
    sys.stderr.flush()


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def parse_run_argv(argv: list[str]) -> dict[str, Any] | None:
    """The keyword arguments of :func:`run_goal` for ``--headless run GOAL [options]``, or None
    when the command line is anything else (Typer then handles it, errors and help included)."""
    if argv[:2] != ["--headless", "run"]:
        return None
    kwargs = dict(DEFAULTS)
    seen: set[str] = set()
    goal: str | None = None
    rest = argv[2:]
    i = 0
    while i < len(rest):
        arg = rest[i]
        i += 1
        if not arg.startswith("-") or arg == "-":
            if goal is not None:
                return None  # a second positional: Typer's error message
            goal = arg
            continue
        spec = RUN_OPTIONS.get(arg)
        if spec is None:
            return None  # --help, --opt=value, bundled short flags, "--", unknown options
        name, kind = spec
        if name in seen:
            return None
        seen.add(name)
        if kind == "flag":
            kwargs[name] = True
            continue
        if i >= len(rest) or rest[i].startswith("-"):
            return None  # a missing value (or one that looks like an option): let Typer decide
        value = rest[i]
        i += 1
        if kind == "path":
            kwargs[name] = Path(value)
        elif kind == "budget":
            try:
                number = float(value)
            except ValueError:
                return None
            if math.isnan(number) or number < 0:
                return None
            kwargs[name] = number
        else:
            kwargs[name] = value
    if goal is None:
        return None
    kwargs["goal"] = goal
    return kwargs


def main(argv: list[str]) -> int | None:
    """The exit code of ``llmos`` for a plain ``--headless run``, or None (Typer's turn). The end
    of a run is Typer's too: Ctrl-C exits 130, end of input "Aborted!" and 1, a closed stdout 1."""
    kwargs = parse_run_argv(argv)
    if kwargs is None:
        return None
    try:
        return run_goal(**kwargs)
    except KeyboardInterrupt:
        return 130
    except EOFError:
        err("\nAborted!")
        return 1
    except BrokenPipeError:
        # the reader went away: nothing more to print, and nothing at exit either
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


def run_goal(
    goal: str,
    *,
    as_json: bool = False,
    mode: str = "auto",
    cwd: Path | None = None,
    workspace: Path | None = None,
    user: str | None = None,
    team: str | None = None,
    budget: float | None = None,
    yes: bool = False,
    project: str | None = None,
    replay_similar: bool = False,
    resume: bool = False,
    session: str | None = None,
) -> int:
    """Run one goal headless, print the result; the exit code (usage errors included)."""
    from .errors import LLMOSError
    from .exitcodes import ExitCode
    from .headless_render import StreamPrinter
    from .kernel import LLMOS, MODES, RunOptions

    if mode not in MODES:
        err(f"llmos: error: unknown --mode {mode!r} (choose from {', '.join(MODES)})")
        return int(ExitCode.USAGE)
    if resume and session:
        err("llmos: error: --continue and --session both choose a session: give one of them")
        return int(ExitCode.USAGE)
    overrides = {"budget_usd": budget} if budget is not None else None
    try:
        kernel = LLMOS.boot(workspace, overrides=overrides, user=user, team=team)
        conversation, cwd = _session_for(
            kernel, resume=resume, session=session, cwd=cwd, project=project
        )
    except LLMOSError as exc:
        err(f"llmos: error: {exc.message}")
        return int(exc.exit_code)
    printer = StreamPrinter(stream_text=not as_json, on_first_event=_resume_gc)
    result = kernel.execute(
        goal,
        options=RunOptions(
            mode=mode,
            cwd=cwd,
            assume_yes=yes,
            project=project,
            replay_similar=replay_similar,
            conversation=conversation,
        ),
        on_event=printer,
    )
    printer.finish(result)
    if as_json:
        print_json(dict(result.to_json(), session=conversation))
    else:
        err(
            f'llmos: session {conversation} (continue it with: llmos --headless run --continue "...")'
        )
    return int(result.exit_code)


def _resume_gc() -> None:
    """The cyclic GC back on (``__main__`` pauses it for the start-up and the decision) with what
    they made frozen: the run itself (an LLM session may go on for minutes) is collected as
    usual. Called with the run's first event."""
    import gc

    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def _session_for(
    kernel, *, resume: bool, session: str | None, cwd: Path | None, project: str | None
) -> tuple[str, Path | None]:
    """The conversation a headless run is a turn of: a new one, the last one here (--continue) or
    --session ID (whose working directory is the default cwd)."""
    from .errors import UsageError
    from .memory.conversation import Conversation, check_id, last_for, new_id

    if session:
        conv = Conversation.load(kernel.workspace, check_id(session))
        if cwd is None and conv.cwd and Path(conv.cwd).is_dir():
            cwd = Path(conv.cwd)
        return conv.id, cwd
    if resume:
        here = cwd
        if here is None and project:
            here = kernel.workspace.projects_dir / project / "output"
        here = (here or Path.cwd()).resolve()
        found = last_for(kernel.workspace, here)
        if found is None:
            raise UsageError(
                f"no earlier session in {here} for this workspace: run without --continue to start "
                "one (llmos sessions lists them)"
            )
        return found, cwd
    return new_id(), cwd
