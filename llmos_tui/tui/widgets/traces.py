"""The trace browser: every learned run in a table, filtered as you type, previewed as markdown.

The app loads the rows (index only) in a worker and sets ``rows``; filtering and sorting run in a
worker too (``TraceBrowser.query`` → ``Listing`` message), so typing stays smooth with 10k traces.
Actions (replay, delete, show the tool) are posted up as messages; the app owns the kernel.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import DataTable, Input, Markdown, Static
from textual.worker import get_current_worker

from ..data import (
    DESCENDING_FIRST,
    NARROW_TABLE,
    SORT_KEYS,
    TRACE_COLUMNS,
    TRACE_COLUMNS_NARROW,
    TraceListing,
    TracePreview,
    TraceQuery,
    TraceRow,
    query_rows,
)
from ..format import format_percent, format_when, money, short
from ..keymap import bindings_for

SAVED_TOOLTIP = (
    "Saved ≈ cost to record × (successful uses − 1), counted once for a trace and its promoted "
    "copies (a failed recording saves nothing): an estimate that every successful use after the first "
    "would have cost "
    "what the run that recorded the trace cost."
)


class FilterInput(Input):
    """The filter box: escape (or down) goes back to the list it filters."""

    BINDINGS = [Binding("escape,down", "done", "Back to the list", show=False)]

    @dataclass
    class Done(Message):
        input: "FilterInput"

    def action_done(self) -> None:
        self.post_message(self.Done(self))


class TraceTable(DataTable):
    """The table; its keys (ids ``traces.*``) act on the highlighted trace."""

    BINDINGS = bindings_for("traces")

    @dataclass
    class Act(Message):
        """A key asked for an action on the browser (the browser handles it)."""

        action: str

    def _act(self, name: str) -> None:
        self.post_message(self.Act(name))

    def action_focus_filter(self) -> None:
        self._act("focus_filter")

    def action_cycle_sort(self) -> None:
        self._act("cycle_sort")

    def action_reverse_sort(self) -> None:
        self._act("reverse_sort")

    def action_replay(self) -> None:
        self._act("replay")

    def action_delete(self) -> None:
        self._act("delete")

    def action_show_tool(self) -> None:
        self._act("show_tool")

    def action_refresh(self) -> None:
        self._act("refresh")


class TraceBrowser(Vertical):
    """Filter box, table, preview of the highlighted trace."""

    @dataclass
    class Selected(Message):
        """The highlighted trace changed (the app loads its preview)."""

        trace_id: str | None

    @dataclass
    class Requested(Message):
        """The user asked for an action on a trace: replay, delete, show_tool, refresh."""

        action: str
        row: TraceRow | None

    @dataclass
    class Listing(Message):
        listing: TraceListing

    #: Every row the user can see (set by the app).
    rows: reactive[list[TraceRow] | None] = reactive(None, init=False, always_update=True)
    search: reactive[TraceQuery] = reactive(TraceQuery, init=False)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.listing: TraceListing | None = None
        self._by_id: dict[str, TraceRow] = {}
        self._preview_id: str | None = None
        self._laid_out_width = 0

    @property
    def preview_id(self) -> str | None:
        """The trace whose preview is on show (None: none)."""
        return self._preview_id

    def compose(self) -> ComposeResult:
        yield FilterInput(
            placeholder="Filter traces: words of the goal, a mode, an id, a tool…  (/ to focus)",
            id="trace-filter",
            compact=True,
        )
        yield Static(id="trace-count", markup=False)
        table = TraceTable(id="trace-table", cursor_type="row", zebra_stripes=True)
        table.tooltip = SAVED_TOOLTIP
        yield table
        with VerticalScroll(id="trace-preview"):
            yield Static(id="trace-meta", markup=False)
            yield Markdown(id="trace-body")

    @property
    def table(self) -> TraceTable:
        return self.query_one(TraceTable)

    def on_mount(self) -> None:
        self.query_one("#trace-preview").border_title = "Preview"
        self.query_one("#trace-count", Static).update(
            Content.styled("loading the traces…", "$foreground-muted")
        )
        self._add_columns()

    def _columns(self) -> tuple[tuple[str, str, int | None], ...]:
        return TRACE_COLUMNS if self.table.size.width >= NARROW_TABLE else TRACE_COLUMNS_NARROW

    def _add_columns(self) -> None:
        table = self.table
        for key, label, width in self._columns():
            table.add_column(self._label(key, label), width=width or 40, key=key)

    def on_resize(self) -> None:
        width = self.table.size.width
        if self.listing is not None and width and abs(width - self._laid_out_width) >= 2:
            self._show_listing(self.Listing(self.listing))

    def _label(self, key: str, label: str) -> Text:
        if key == self.search.sort:
            return Text(f"{label} {'▼' if self.search.descending else '▲'}", style="bold")
        return Text(label)

    def _goal_width(self) -> int:
        fixed = sum((w or 0) + 2 for _k, _l, w in self._columns())
        return max(20, self.table.size.width - fixed - 4)

    # ---- data flow -------------------------------------------------------------------------
    def watch_rows(self, rows: list[TraceRow] | None) -> None:
        if rows is not None:
            self._run_query(rows, self.search)

    def watch_search(self, query: TraceQuery) -> None:
        if self.rows is not None:
            self._run_query(self.rows, query)

    @work(thread=True, exclusive=True, exit_on_error=False, group="trace-query")
    def _run_query(self, rows: list[TraceRow], query: TraceQuery) -> None:
        listing = query_rows(rows, query)
        if not get_current_worker().is_cancelled:
            self.post_message(self.Listing(listing))

    @on(Listing)
    def _show_listing(self, message: Listing) -> None:
        listing = message.listing
        if listing.query != self.search:
            return  # a newer query is on its way
        table = self.table
        current = self.current_row()
        self.listing = listing
        self._by_id = {r.id: r for r in listing.rows}
        goal_width = self._goal_width()
        self._laid_out_width = table.size.width
        columns = self._columns()
        with_time = columns is TRACE_COLUMNS
        table.clear(columns=True)
        for key, label, width in columns:
            table.add_column(self._label(key, label), width=width or goal_width, key=key)
        for r in listing.rows:  # keyed by trace id: the cursor finds its row again after a re-sort
            table.add_row(*self._cells(r, goal_width, with_time), key=r.id)
        if current is not None and current.id in self._by_id:
            table.move_cursor(row=table.get_row_index(current.id), animate=False)
        self._update_count()
        self._highlighted()

    def _cells(self, r: TraceRow, goal_width: int, with_time: bool = True) -> tuple[Text, ...]:
        tool = (
            Text(short(r.tool, 14 if with_time else 8), style="green")
            if r.tool
            else Text("—", style="dim")
        )
        rate = Text(format_percent(r.success_rate), style="red" if r.success_rate < 0.5 else "")
        where = (
            "team" if r.volume.startswith("teams/") else "system" if r.volume == "system" else ""
        )
        goal = Text(short(r.goal, goal_width - (len(where) + 3 if where else 0)))
        if where:
            goal.append(f" · {where}", style="dim")
        return (
            goal,
            Text(r.mode if with_time else short(r.mode, 8)),
            Text(str(r.uses), justify="right"),
            rate,
            Text(money(r.saved_usd), justify="right"),
            Text(format_when(r.last_used, with_time=with_time)),
            tool,
        )

    def _update_count(self) -> None:
        listing = self.listing
        if listing is None:
            return
        q = listing.query
        parts: list[str | tuple[str, str]] = []
        if listing.total == 0:
            parts.append(
                (
                    "No traces yet: every goal you run in the chat is recorded here.",
                    "$foreground-muted",
                )
            )
        else:
            shown = len(listing.rows)
            what = (
                f"{listing.matched:,} of {listing.total:,} traces"
                if q.text
                else f"{listing.total:,} traces"
            )
            parts.append((what, "bold"))
            if shown < listing.matched:
                parts.append((f" · showing the first {shown:,}: type to narrow", "$text-warning"))
            parts.append(
                (
                    f" · sorted by {q.sort.replace('_', ' ')} {'▼' if q.descending else '▲'}",
                    "$foreground-muted",
                )
            )
            parts.append((" · saved ≈ cost × (successes − 1)", "$foreground-muted"))
        self.query_one("#trace-count", Static).update(Content.assemble(*parts))

    def current_row(self) -> TraceRow | None:
        table = self.table
        if not table.row_count or not self._by_id:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:  # noqa: BLE001 - no cursor (empty table)
            return None
        return self._by_id.get(str(key)) if key is not None else None

    @on(DataTable.RowHighlighted, "#trace-table")
    def _highlighted(self, event: DataTable.RowHighlighted | None = None) -> None:
        row = self.current_row()
        trace_id = row.id if row is not None else None
        if trace_id != self._preview_id:
            self._preview_id = trace_id
            self.post_message(self.Selected(trace_id))
        if row is None:
            self.query_one("#trace-meta", Static).update(Content(""))
            self.query_one("#trace-body", Markdown).update("")

    async def show_preview(self, preview: TracePreview) -> None:
        """Set by the app once the preview is read (ignored if the cursor moved on)."""
        if preview.id != self._preview_id:
            return
        lines = [
            Content.assemble((f"{key:<13}", "$foreground-muted"), (value, ""))
            for key, value in preview.meta
        ]
        self.query_one("#trace-meta", Static).update(Content("\n").join(lines))
        await self.query_one("#trace-body", Markdown).update(preview.body)
        try:
            self.query_one("#trace-preview", VerticalScroll).scroll_home(animate=False)
        except NoMatches:  # taken down while the body rendered (the app is quitting)
            return

    def show_preview_error(self, trace_id: str, message: str) -> None:
        if trace_id == self._preview_id:
            self.query_one("#trace-meta", Static).update(Content.styled(message, "$text-error"))

    # ---- keys ------------------------------------------------------------------------------
    @on(Input.Changed, "#trace-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.search = TraceQuery(event.value, self.search.sort, self.search.descending)

    @on(Input.Submitted, "#trace-filter")
    @on(FilterInput.Done)
    def _filter_done(self, event: Message) -> None:
        event.stop()
        self.table.focus()

    @on(DataTable.HeaderSelected, "#trace-table")
    def _header(self, event: DataTable.HeaderSelected) -> None:
        key = str(event.column_key.value)
        if key in SORT_KEYS:
            descending = (
                (not self.search.descending) if key == self.search.sort else key in DESCENDING_FIRST
            )
            self.search = TraceQuery(self.search.text, key, descending)

    @on(TraceTable.Act)
    def _act(self, event: TraceTable.Act) -> None:
        event.stop()
        self.run_action_named(event.action)

    def run_action_named(self, action: str) -> None:
        if action == "focus_filter":
            self.query_one("#trace-filter", Input).focus()
        elif action == "cycle_sort":
            nxt = SORT_KEYS[(SORT_KEYS.index(self.search.sort) + 1) % len(SORT_KEYS)]
            self.search = TraceQuery(self.search.text, nxt, nxt in DESCENDING_FIRST)
        elif action == "reverse_sort":
            self.search = TraceQuery(self.search.text, self.search.sort, not self.search.descending)
        elif action == "refresh":
            self.post_message(self.Requested("refresh", None))
        else:
            row = self.current_row()
            if row is None:
                self.notify("No trace selected.", severity="warning")
                return
            self.post_message(self.Requested(action, row))
