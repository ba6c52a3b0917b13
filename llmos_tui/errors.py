"""Errors the engine raises on purpose; each maps to one exit code."""

from __future__ import annotations

from .exitcodes import ExitCode


class LLMOSError(Exception):
    """Base class: a clear message for the user and an exit code."""

    exit_code: ExitCode = ExitCode.GOAL_FAILED

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(LLMOSError):
    exit_code = ExitCode.USAGE


class ConfigError(UsageError):
    """A bad configuration value: names the key and the file."""

    def __init__(self, message: str, *, key: str | None = None, source: str | None = None) -> None:
        where = []
        if key:
            where.append(f"key '{key}'")
        if source:
            where.append(f"in {source}")
        full = f"{' '.join(where)}: {message}" if where else message
        super().__init__(full)
        self.key = key
        self.source = source


class WorkspaceError(UsageError):
    """The workspace cannot be created, read or written."""


class NoLLMConfigured(LLMOSError):
    exit_code = ExitCode.NO_LLM


class LowBatteryError(LLMOSError):
    """The budget cannot pay for the run."""

    exit_code = ExitCode.BUDGET_EXHAUSTED


class PolicyBlocked(LLMOSError):
    exit_code = ExitCode.POLICY_BLOCKED


NO_LLM_HINT = (
    "No LLM is configured. Set ANTHROPIC_API_KEY to use Anthropic, or point "
    "ANTHROPIC_BASE_URL at a local server that speaks the Anthropic Messages API "
    "(e.g. ANTHROPIC_BASE_URL=http://127.0.0.1:8080 ANTHROPIC_API_KEY=local)."
)
