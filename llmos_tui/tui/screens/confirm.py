"""Ask the user before a tool call the policy wants confirmed (the default answer is deny), and
before a close trace is replayed (``ReplayConfirmScreen``: the default is the model, not the replay)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from ..format import call_target

MAX_SHOWN_CHARS = 4000


class ConfirmCallScreen(ModalScreen[bool]):
    """Shows the exact call (tool, input, the policy's reason) and returns True only on allow."""

    BINDINGS = [
        Binding("y", "allow", "Allow", id="confirm.allow"),
        Binding("n,escape", "deny", "Deny", id="confirm.deny"),
    ]

    def __init__(
        self, name: str, tool_input: dict[str, Any], reason: str, *, cwd: Path | None = None
    ) -> None:
        super().__init__(classes="confirm-call")
        self.tool_name = name
        self.tool_input = tool_input
        self.reason = reason
        self.cwd = cwd

    def compose(self) -> ComposeResult:
        detail = json.dumps(self.tool_input, indent=2, ensure_ascii=False, default=str)
        if len(detail) > MAX_SHOWN_CHARS:
            detail = (
                detail[:MAX_SHOWN_CHARS] + f"\n… ({len(detail) - MAX_SHOWN_CHARS} more characters)"
            )
        target = call_target(self.tool_input, cwd=self.cwd)
        with Vertical(id="confirm-dialog"):
            yield Static(
                Content.assemble(
                    ("Allow ", "bold"),
                    (self.tool_name, "bold $text-warning"),
                    (f"  {target}" if target else "", "$text-secondary"),
                    ("?", "bold"),
                ),
                id="confirm-title",
                markup=False,
            )
            yield Static(
                Content.assemble(
                    ("policy: ", "bold $foreground-muted"),
                    (self.reason or "needs confirmation", ""),
                ),
                id="confirm-reason",
                markup=False,
            )
            with VerticalScroll(id="confirm-input"):
                yield Static(Content(detail), markup=False)
            with Horizontal(id="confirm-buttons"):
                yield Button("Deny (n)", id="deny", variant="error")
                yield Button("Allow (y)", id="allow", variant="success")

    def on_mount(self) -> None:
        self.query_one("#deny", Button).focus()

    def action_allow(self) -> None:
        self.dismiss(True)

    def action_deny(self) -> None:
        self.dismiss(False)

    @on(Button.Pressed, "#allow")
    def _allow(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#deny")
    def _deny(self) -> None:
        self.dismiss(False)


REPLAY_ANSWERS = ("replay", "model", "cancel")


def _difference_line(diff: dict[str, Any]) -> Content:
    goal, trace, how = (
        str(diff.get("goal") or "-"),
        str(diff.get("trace") or "-"),
        str(diff.get("how") or ""),
    )
    note = str(diff.get("note") or "")
    style = "bold $text-error" if how == "unaccounted" else "$text-success"
    return Content.assemble(
        ("  • ", ""),
        (f"{goal} / {trace}", "bold"),
        (f"  {how}", style),
        (f" ({note})" if note else "", "$text-secondary"),
    )


class ReplayConfirmScreen(ModalScreen[str]):
    """A close trace whose differences are not all accounted for (``learning.verify: ask``).

    Shows the trace's goal, every difference (the unaccounted ones marked), the values that
    would be substituted and the calls, and returns ``"replay"``, ``"model"`` (run MIXED/LEARNER
    as decided) or ``"cancel"``. The focused default is "run with the model": enter never
    replays by accident; escape cancels."""

    BINDINGS = [
        Binding("r", "answer('replay')", "Replay", id="replay.replay"),
        Binding("m", "answer('model')", "Run with the model", id="replay.model"),
        Binding("c,escape", "answer('cancel')", "Cancel", id="replay.cancel"),
    ]

    def __init__(self, proposal: dict[str, Any]) -> None:
        super().__init__(classes="confirm-call")
        self.proposal = proposal

    def compose(self) -> ComposeResult:
        p = self.proposal
        diffs = list(p.get("differences") or [])
        subs = dict(p.get("substitutions") or {})
        calls = list(p.get("calls") or [])
        listing = "\n".join(
            f"{i}. {c.get('name')} {json.dumps(c.get('input'), ensure_ascii=False, default=str)}"
            for i, c in enumerate(calls, start=1)
        )
        if len(listing) > MAX_SHOWN_CHARS:
            listing = (
                listing[:MAX_SHOWN_CHARS]
                + f"\n… ({len(listing) - MAX_SHOWN_CHARS} more characters)"
            )
        more = int(p.get("calls_total") or len(calls)) - len(calls)
        if more > 0:
            listing += f"\n… ({more} more calls)"
        with Vertical(id="confirm-dialog", classes="replay-dialog"):
            yield Static(
                Content.assemble(
                    ("Replay a similar trace?", "bold $text-warning"),
                    (
                        f"  {p.get('trace_id', '')} · confidence {float(p.get('confidence') or 0):.2f}",
                        "$text-secondary",
                    ),
                ),
                id="confirm-title",
                markup=False,
            )
            yield Static(
                Content.assemble(
                    ("goal:  ", "bold $foreground-muted"), (str(p.get("goal", "")), "")
                ),
                id="replay-goal",
                markup=False,
            )
            yield Static(
                Content.assemble(
                    ("trace: ", "bold $foreground-muted"), (str(p.get("trace_goal", "")), "")
                ),
                id="replay-trace-goal",
                markup=False,
            )
            yield Static(
                Content.assemble(("differences:", "bold $foreground-muted"))
                if diffs
                else Content("no differences"),
                id="replay-differences-title",
                markup=False,
            )
            for diff in diffs:
                yield Static(_difference_line(diff), classes="replay-difference", markup=False)
            if subs:
                text = ", ".join(f"{old} → {new}" for old, new in subs.items())
                yield Static(
                    Content.assemble(("substitutions: ", "bold $foreground-muted"), (text, "")),
                    id="replay-substitutions",
                    markup=False,
                )
            elif p.get("substitution_refused"):
                yield Static(
                    Content.assemble(
                        ("substitutions: ", "bold $foreground-muted"),
                        (
                            f"refused ({p['substitution_refused']}): a replay would go to the model",
                            "$text-error",
                        ),
                    ),
                    id="replay-substitutions",
                    markup=False,
                )
            else:
                yield Static(
                    Content.assemble(("substitutions: ", "bold $foreground-muted"), ("none", "")),
                    id="replay-substitutions",
                    markup=False,
                )
            with VerticalScroll(id="confirm-input"):
                yield Static(Content(listing or "(no calls)"), id="replay-calls", markup=False)
            with Horizontal(id="confirm-buttons"):
                yield Button("Cancel (c)", id="cancel")
                yield Button("Run with the model (m)", id="model", variant="primary")
                yield Button("Replay (r)", id="replay", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#model", Button).focus()

    def action_answer(self, answer: str) -> None:
        self.dismiss(answer if answer in REPLAY_ANSWERS else "model")

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id in REPLAY_ANSWERS:
            self.dismiss(event.button.id)
