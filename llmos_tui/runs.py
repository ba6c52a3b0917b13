"""What a run streams to its caller, and what it returns.

The kernel calls ``on_event(event)`` as things happen (from whatever thread runs the goal);
the CLI prints them to stderr, the TUI posts them as messages. ``RunResult.to_json()`` is the
headless ``--json`` contract.
"""

from __future__ import annotations

import itertools
import threading
from enum import StrEnum
from typing import Any, Callable, Union
from llmos_tui.records import field, record


class Mode(StrEnum):
    """How a goal runs (a StrEnum: ``Mode.FOLLOWER == "FOLLOWER"``, and traces, events and JSON
    keep the plain string)."""

    CRYSTALLIZED = "CRYSTALLIZED"  # a crystallized tool replays the trace's calls
    FOLLOWER = "FOLLOWER"  # the trace's calls are replayed, no model call
    VERIFIED = "VERIFIED"  # a model call judged a close trace the same task, then FOLLOWER
    MIXED = "MIXED"  # the model runs with the trace as an example
    LEARNER = "LEARNER"  # the model runs; the run is recorded as a trace
    ORCHESTRATOR = "ORCHESTRATOR"  # a multi-step goal split into sub-goals
    FEEDBACK = "FEEDBACK"  # feedback on the previous answer, recorded without a model call
    ADAPTATION = "ADAPTATION"  # an agent created or adapted for the goal


#: The modes a trace may be recorded with.
TRACE_MODES = (Mode.CRYSTALLIZED, Mode.FOLLOWER, Mode.MIXED, Mode.LEARNER, Mode.ORCHESTRATOR)
#: The modes that replay a trace's calls without a model call.
REPLAY_MODES = frozenset({Mode.FOLLOWER, Mode.CRYSTALLIZED})


@record(frozen=True)
class ModeChosen:
    """Run event: the mode chosen for the goal, with its confidence."""

    mode: str
    confidence: float
    reason: str
    decision: dict[str, Any] = field(default_factory=dict)


@record(frozen=True)
class TextDelta:
    """Run event: a piece of the model's answer."""

    text: str


@record(frozen=True)
class ToolCallStarted:
    """Run event: a tool call is about to run (with the policy's decision)."""

    tool_use_id: str
    name: str
    input: dict[str, Any]
    decision: str  # allow | ask | deny
    reason: str = ""


@record(frozen=True)
class ToolCallFinished:
    """Run event: a tool call finished."""

    tool_use_id: str
    name: str
    is_error: bool
    summary: str
    #: a file tool's change as a compact unified diff (Write/Edit/MultiEdit/NotebookEdit; "" otherwise)
    diff: str = ""


#: Tool calls are stamped with ``next_call_seq()`` when recorded, so the calls a run made (run,
#: refused, rejected) can be put back in the order they happened.
_CALL_SEQ = itertools.count(1)


def next_call_seq() -> int:
    return next(_CALL_SEQ)


@record(frozen=True)
class Notice:
    """A diagnostic line (fallbacks, warnings) worth showing the user."""

    level: str  # info | warning | error
    text: str


@record(frozen=True)
class ServerTrouble:
    """The model server has not answered: a retry the CLI announced (``attempt`` > 0), or a long
    silence while llmos waits on it (``attempt`` 0). ``limit_s`` is when the run gives up
    (``execution.llm_server_timeout_s``)."""

    url: str
    error: str
    waited_s: float
    limit_s: float
    attempt: int = 0
    max_retries: int = 0
    retry_in_s: float = 0.0

    def describe(self) -> str:
        """One line: what is wrong, with the URL, and what happens next."""
        if self.attempt:
            head = (
                f"the model server at {self.url} failed ({self.error}); retry {self.attempt}"
                + (f"/{self.max_retries}" if self.max_retries else "")
                + f" in {self.retry_in_s:.1f} s"
            )
        else:
            head = f"no answer from the model server at {self.url} for {self.waited_s:.0f} s ({self.error})"
        return f"{head} · giving up after {self.limit_s:.0f} s without an answer"


RunEvent = Union[ModeChosen, TextDelta, ToolCallStarted, ToolCallFinished, Notice, ServerTrouble]
EventSink = Callable[[RunEvent], None]


@record
class RunResult:
    """The outcome of one goal."""

    goal: str
    mode: str
    success: bool
    trace_id: str | None = None
    confidence: float = 0.0
    llm_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    duration_ms: int = 0
    output: str = ""
    # Not part of the JSON contract's required keys, but included for callers who want them.
    error: str | None = None
    exit_code: int = 0
    decision: dict[str, Any] = field(default_factory=dict)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    fallback_from: str | None = None
    agent: str | None = None
    model: str | None = None
    project: str | None = None

    REQUIRED = (
        "goal",
        "mode",
        "success",
        "trace_id",
        "confidence",
        "llm_calls",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "duration_ms",
        "output",
    )

    def to_json(self) -> dict[str, Any]:
        data = {key: getattr(self, key) for key in self.REQUIRED}
        data["confidence"] = round(float(self.confidence), 4)
        data["cost_usd"] = round(float(self.cost_usd), 6)
        data["error"] = self.error
        data["decision"] = self.decision
        data["fallback_from"] = self.fallback_from
        data["agent"] = self.agent
        data["project"] = self.project
        data["model"] = self.model
        data["tool_calls"] = self.tool_calls
        return data


class CancelToken:
    """Set from any thread to stop a running goal cleanly."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._callbacks: list[Callable[[], object]] = []
        self._lock = threading.Lock()

    def cancel(self) -> None:
        with self._lock:
            self._event.set()
            callbacks = list(self._callbacks)
        for callback in callbacks:
            try:
                callback()
            except Exception:  # noqa: BLE001 - a cancel callback must never raise into the UI
                pass

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def on_cancel(self, callback: Callable[[], object]) -> None:
        """Call ``callback`` on cancel (at once if already cancelled); its result is ignored."""
        with self._lock:
            already = self._event.is_set()
            if not already:
                self._callbacks.append(callback)
        if already:
            callback()
