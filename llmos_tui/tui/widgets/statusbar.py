"""The status bar above the footer: crons, unread notifications, where goals run, and (when the
sidebar is hidden on a narrow terminal) the gauge on one line. The app sets its parts."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.reactive import reactive
from textual.widgets import Static


class StatusBar(Horizontal):
    crons: reactive[Content] = reactive(Content(""), init=False)
    inbox: reactive[Content] = reactive(Content(""), init=False)
    gauge: reactive[Content] = reactive(Content(""), init=False)

    def compose(self) -> ComposeResult:
        yield Static(id="status-gauge", markup=False)
        yield Static(id="status-crons", markup=False)
        yield Static(id="status-inbox", markup=False)

    def watch_crons(self, value: Content) -> None:
        self.query_one("#status-crons", Static).update(value)

    def watch_inbox(self, value: Content) -> None:
        self.query_one("#status-inbox", Static).update(value)

    def watch_gauge(self, value: Content) -> None:
        self.query_one("#status-gauge", Static).update(value)
