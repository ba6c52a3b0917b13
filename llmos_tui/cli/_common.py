"""Helpers every CLI module shares: JSON to stdout, diagnostics to stderr, exit codes."""

from __future__ import annotations

from typing import NoReturn

from ..errors import LLMOSError
from ..exitcodes import ExitCode
from ..headless import err, print_json  # one copy, shared with the Typer-free run

__all__ = ["err", "fail", "print_json"]


def fail(exc: LLMOSError | str, code: ExitCode | None = None) -> NoReturn:
    if isinstance(exc, LLMOSError):
        err(f"llmos: error: {exc.message}")
        raise SystemExit(int(code if code is not None else exc.exit_code))
    err(f"llmos: error: {exc}")
    raise SystemExit(int(code if code is not None else ExitCode.GOAL_FAILED))
