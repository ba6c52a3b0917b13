"""The state of one run, passed to the mode runners (in place of per-thread state)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from llmos_tui.records import record

if TYPE_CHECKING:
    from ..kernel import LLMOS, RunOptions
    from ..runs import CancelToken, EventSink

#: asks the user about one tool call: (tool name, input, reason) -> yes
Confirm = Callable[[str, dict[str, Any], str], bool]


@record
class TurnContext:
    """The conversation a running goal is a turn of."""

    conv: Any
    cwd: Path
    followup: bool
    earlier_files: list[str]


@record
class RunContext:
    """One goal's run: what it runs, where, who hears about it, and what was decided so far.

    Made by ``LLMOS.execute`` for each goal (a sub-goal of an orchestration gets its own), so
    runs on several threads never share it.
    """

    kernel: LLMOS
    goal: str
    opts: RunOptions
    cwd: Path
    emit: EventSink
    cancel: CancelToken | None = None
    confirm: Confirm | None = None
    #: the conversation this goal is a turn of (top-level runs of a conversation only)
    turn: TurnContext | None = None
    #: the sentience's adjustments for this run (None when the sentience is off)
    adj: Any = None
    #: (mode, confidence, decision info) once the mode is decided: a run that fails after the
    #: decision reports what was decided
    decided: tuple[str, float, dict[str, Any]] | None = None

    @property
    def latent_mode(self) -> str | None:
        """The sentience's latent mode for this run (the policy hooks take it into account)."""
        mode = getattr(self.adj, "latent_mode", None) if self.adj is not None else None
        return str(mode) if mode is not None else None

    def executor(self, *, hooks: Any = None) -> Any:
        """A tool executor for this run (the policy hooks unless *hooks* are given)."""
        return self.kernel.executor(
            self.cwd,
            self.opts,
            self.emit,
            self.confirm,
            hooks=hooks,
            latent_mode=self.latent_mode,
        )
