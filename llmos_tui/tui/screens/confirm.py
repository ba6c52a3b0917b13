"""Ask the user before a tool call the policy wants confirmed. The default answer is deny."""

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

    def __init__(self, name: str, tool_input: dict[str, Any], reason: str, *, cwd: Path | None = None) -> None:
        super().__init__(classes="confirm-call")
        self.tool_name = name
        self.tool_input = tool_input
        self.reason = reason
        self.cwd = cwd

    def compose(self) -> ComposeResult:
        detail = json.dumps(self.tool_input, indent=2, ensure_ascii=False, default=str)
        if len(detail) > MAX_SHOWN_CHARS:
            detail = detail[:MAX_SHOWN_CHARS] + f"\n… ({len(detail) - MAX_SHOWN_CHARS} more characters)"
        target = call_target(self.tool_input, cwd=self.cwd)
        with Vertical(id="confirm-dialog"):
            yield Static(Content.assemble(("Allow ", "bold"), (self.tool_name, "bold $text-warning"),
                                          (f"  {target}" if target else "", "$text-secondary"), ("?", "bold")),
                         id="confirm-title", markup=False)
            yield Static(Content.assemble(("policy: ", "bold $foreground-muted"), (self.reason or "needs confirmation", "")),
                         id="confirm-reason", markup=False)
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
