"""Helpers every CLI module shares: JSON to stdout, diagnostics to stderr, exit codes."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

from ..errors import LLMOSError
from ..exitcodes import ExitCode


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def err(message: str) -> None:
    sys.stderr.write(message.rstrip("\n") + "\n")
    sys.stderr.flush()


def fail(exc: LLMOSError | str, code: ExitCode | None = None) -> NoReturn:
    if isinstance(exc, LLMOSError):
        err(f"llmos: error: {exc.message}")
        raise SystemExit(int(code if code is not None else exc.exit_code))
    err(f"llmos: error: {exc}")
    raise SystemExit(int(code if code is not None else ExitCode.GOAL_FAILED))
