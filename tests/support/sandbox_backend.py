"""The OS sandbox backend the tests' executors use: ``auto`` when one works here, else ``none``."""

from __future__ import annotations


def _sandbox_backends() -> list[str]:
    try:
        from llmos_tui.execution.sandbox.core import available_backends
    except ImportError:
        return []
    return list(available_backends())


BACKENDS = _sandbox_backends()
BACKEND = "auto" if BACKENDS else "none"
