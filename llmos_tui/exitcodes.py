"""The one list of exit codes every command uses (documented in README.md)."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    GOAL_FAILED = 1
    USAGE = 2
    POLICY_BLOCKED = 3
    BUDGET_EXHAUSTED = 4
    NO_LLM = 5
