"""A guard against a hang, not a speed target.

Inputs like a billion-laughs YAML document do not fail: they run for hours. A test that feeds
one uses the ``no_hang`` fixture, which fails it with a clear message when it is still running
after ``HANG_S`` seconds (far above any normal run, so load on the machine cannot trip it).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

HANG_S = 120.0


@pytest.fixture
def no_hang() -> Iterator[None]:
    def hung(_signum: int, _frame: object) -> None:
        raise AssertionError(f"still running after {HANG_S:.0f} s: this input makes it hang")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.setitimer(signal.ITIMER_REAL, HANG_S)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
