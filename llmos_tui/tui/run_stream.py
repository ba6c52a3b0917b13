"""Carry run events from the worker thread to the UI in batches.

The kernel calls ``on_event`` from the thread that runs the goal, once per text delta. Posting
one message per delta would make the UI re-render per token; instead events go into a locked
buffer and a message is posted only when the buffer goes from empty to non-empty. The UI drains
everything that piled up in one go and merges adjacent text deltas, so the rate of UI updates
adapts to how fast the UI is, not to how fast tokens arrive.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Callable, Union

if TYPE_CHECKING:  # pragma: no cover
    from ..runs import RunEvent
    from .widgets.chat import CallConfirmed, CheckIn

# What an answer's stream carries: the run's events and the UI's own markers.
AnswerEvent = Union["RunEvent", "CallConfirmed", "CheckIn"]


class RunEventBuffer:
    """Thread-safe FIFO of run events with a coalesced wake-up."""

    def __init__(self, wake: Callable[[], object]) -> None:
        self._wake = wake
        self._lock = threading.Lock()
        self._events: list[AnswerEvent] = []
        self._wake_pending = False

    def __call__(self, event: AnswerEvent) -> None:
        """The ``on_event`` sink handed to ``kernel.execute`` (called from the worker thread)."""
        with self._lock:
            self._events.append(event)
            if self._wake_pending:
                return
            self._wake_pending = True
        self._wake()

    def drain(self) -> list[AnswerEvent]:
        """Everything buffered so far, adjacent text deltas merged into one."""
        from ..runs import TextDelta  # loaded by the run that filled the buffer

        with self._lock:
            events, self._events = self._events, []
            self._wake_pending = False
        merged: list[AnswerEvent] = []
        for event in events:
            if isinstance(event, TextDelta) and merged and isinstance(merged[-1], TextDelta):
                merged[-1] = TextDelta(merged[-1].text + event.text)
            else:
                merged.append(event)
        return merged
