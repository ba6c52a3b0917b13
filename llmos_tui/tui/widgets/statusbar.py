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

    def _set(self, part: str, value: Content) -> None:
        # A watcher can fire before compose has mounted the parts (or while the app shuts down);
        # on_mount copies the current values, so nothing is lost.
        for static in self.query(f"#status-{part}").results(Static):
            static.update(value)

    def on_mount(self) -> None:
        self._set("crons", self.crons)
        self._set("inbox", self.inbox)
        self._set("gauge", self.gauge)

    def watch_crons(self, value: Content) -> None:
        self._set("crons", value)

    def watch_inbox(self, value: Content) -> None:
        self._set("inbox", value)

    def watch_gauge(self, value: Content) -> None:
        self._set("gauge", value)
