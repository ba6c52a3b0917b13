"""Read-only views in full screen: a crystallized tool's source, one notification in full."""

from __future__ import annotations

from rich.syntax import Syntax
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from ..data import InboxItem, ToolSource
from ..widgets.inbox import item_detail, preview_renderable


class ToolSourceScreen(ModalScreen[None]):
    """The module a trace was crystallized into (read, never imported)."""

    BINDINGS = [Binding("escape,q", "close", "Close", id="viewer.close")]

    def __init__(self, tool: ToolSource) -> None:
        super().__init__(classes="viewer")
        self.tool = tool

    def compose(self) -> ComposeResult:
        t = self.tool
        muted = "$foreground-muted"
        with Vertical(classes="viewer-box"):
            yield Static(
                Content.assemble(
                    ("tool ", muted),
                    (t.id, "bold $text-accent"),
                    (f"  {t.status}", "bold"),
                    (f"  in volumes/{t.volume}", muted),
                    ("\n", ""),
                    (t.goal, "italic"),
                    ("\n", ""),
                    (t.path, muted),
                ),
                classes="viewer-title",
                markup=False,
            )
            with VerticalScroll(classes="viewer-body"):
                yield Static(
                    Syntax(t.source, "python", line_numbers=True, theme="ansi_dark"), markup=False
                )
            yield Footer()

    def on_mount(self) -> None:
        self.query_one(".viewer-body").focus()

    def action_close(self) -> None:
        self.dismiss(None)


class NotificationScreen(ModalScreen["str | None"]):
    """One notification in full; returns the action chosen here (accept, reject, acknowledge) or None."""

    BINDINGS = [
        Binding("a", "choose('accept')", "Accept", id="viewer.accept"),
        Binding("r", "choose('reject')", "Reject", id="viewer.reject"),
        Binding("space", "choose('acknowledge')", "Mark read", id="viewer.acknowledge"),
        Binding("escape,q", "close", "Close", id="viewer.close"),
    ]

    def __init__(self, item: InboxItem) -> None:
        super().__init__(classes="viewer")
        self.item = item

    def compose(self) -> ComposeResult:
        with Vertical(classes="viewer-box"):
            with VerticalScroll(classes="viewer-body"):
                yield Static(Content("\n").join(item_detail(self.item)), markup=False)
                if self.item.preview:
                    yield Static(
                        preview_renderable(self.item.preview),
                        classes="viewer-preview",
                        markup=False,
                    )
            yield Footer()

    def on_mount(self) -> None:
        self.query_one(".viewer-body").focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "choose" and parameters and parameters[0] in ("accept", "reject"):
            return self.item.is_proposal and self.item.state in ("pending", "failed")
        return True

    def action_choose(self, what: str) -> None:
        self.dismiss(what)

    def action_close(self) -> None:
        self.dismiss(None)
