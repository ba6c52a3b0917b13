"""edgekit: the llmos edge runtime's library (standard library only; PyYAML to read trace headers).

It never imports llmos_tui, textual, anthropic, claude_agent_sdk, rapidfuzz or tree-sitter, so a
copy of the ``edge_runtime/`` folder runs on a small device with ``pip install pyyaml`` alone.
"""

from __future__ import annotations

__version__ = "0.1.0"

# Exit codes: the same numbers as llmos (``llmos_tui/exitcodes.py``) where the meaning is shared.
EXIT_OK = 0
EXIT_GOAL_FAILED = 1  # a replay ran and did not match its recording; the model loop failed
EXIT_USAGE = 2  # bad arguments; a malformed bundle; --allow-scripts without a working Landlock
EXIT_SANDBOX_UNAVAILABLE = EXIT_USAGE  # as llmos's SandboxUnavailable (a usage/configuration error)
EXIT_POLICY_BLOCKED = 3  # the edge policy refused a call; a tampered or unsafe bundle
EXIT_NO_MATCH = 5  # no safe replay for this goal: it needs an LLM (run_agentic_follower.py)


class EdgeError(Exception):
    """A clear message and an exit code; never a traceback."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code
