"""The pane tabs: one label per pane with its key and a count (traces, unread notifications).

Not focusable: panes are switched with their keys (F2…F6 by default), the command palette, or a
click. The app sets ``active``, ``keys`` and ``counts``.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Static

from ..keymap import PANES


class PaneTab(Static):
    def __init__(self, pane: str) -> None:
        super().__init__(id=f"tab-{pane}", classes="pane-tab", markup=False)
        self.pane = pane

    def on_click(self, event: events.Click) -> None:
        self.post_message(PaneTabs.Clicked(self.pane))


class PaneTabs(Horizontal):
    @dataclass
    class Clicked(Message):
        pane: str

    active: reactive[str] = reactive("chat", init=False)
    keys: reactive[dict[str, str]] = reactive(dict, init=False, always_update=True)
    counts: reactive[dict[str, Content]] = reactive(dict, init=False, always_update=True)

    def compose(self) -> ComposeResult:
        for pane in PANES:
            yield PaneTab(pane)

    def on_mount(self) -> None:
        self._render_tabs()

    def watch_active(self) -> None:
        self._render_tabs()

    def watch_keys(self) -> None:
        self._render_tabs()

    def watch_counts(self) -> None:
        self._render_tabs()

    def _render_tabs(self) -> None:
        for tab in self.query(PaneTab):
            active = tab.pane == self.active
            key = self.keys.get(tab.pane, "")
            count = self.counts.get(tab.pane)
            parts: list[Content | tuple[str, str] | str] = []
            if key:
                parts.append((f"{key} ", "$foreground-muted" if not active else "bold"))
            parts.append((PANES[tab.pane], "bold" if active else ""))
            if count is not None and count.plain:
                parts += [" ", count]
            tab.update(Content.assemble(*parts))
            tab.set_class(active, "-active")
