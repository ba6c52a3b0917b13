"""The notification inbox, driven by the keyboard: j/k move, enter opens, a accepts, r rejects,
space acknowledges, A acknowledges all, / filters.

Each proposal shows what it would change (its preview or diff) below the list before you accept
it. The app owns the hub: this widget shows the items it is given and posts what the user asked.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.syntax import Syntax
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from ...observability.events import EventType
from ..data import InboxItem, filter_inbox
from ..format import STATE_STYLES, format_when, short
from ..keymap import bindings_for
from .traces import FilterInput


def looks_like_diff(text: str) -> bool:
    head = text.lstrip()[:400]
    return head.startswith(("--- ", "diff ", "@@ ")) or "\n@@ " in head or "\n+++ " in head


def preview_renderable(text: str) -> Syntax | Content:
    if looks_like_diff(text):
        return Syntax(text, "diff", word_wrap=True, theme="ansi_dark")
    return Content(text)


TAGS: dict[str, str] = {
    EventType.PROPOSAL_CREATED: "proposal",
    EventType.SYSTEM_ALERT: "alert",
    EventType.CRON_FAILED: "cron failed",
    EventType.ARTIFACT_PROMOTED: "promoted",
    EventType.ARTIFACT_CREATED: "created",
    EventType.ARTIFACT_EVOLVED: "evolved",
    EventType.INSIGHT_GENERATED: "insight",
    EventType.SUGGESTION_CREATED: "suggestion",
    EventType.TOOL_CRYSTALLIZED: "crystallized",
    EventType.TOOL_DEMOTED: "demoted",
    EventType.AGENT_EVOLVED: "agent",
}


def item_line(item: InboxItem, width: int = 60) -> Content:
    """``● proposal     New suggestion: weekly-review   pending`` (title cut to ``width``)."""
    mark = ("● ", STATE_STYLES.get(item.state, "")) if item.pending else ("  ", "")
    tag = TAGS.get(item.type, item.type.replace("_", " ").lower())
    title = short(item.title, max(10, width))
    return Content.assemble(
        mark,
        (f"{short(tag, 12):<13}", "$text-secondary"),
        (f"{title:<{max(10, width)}}", "bold" if item.pending else "$foreground-muted"),
        (f" {item.state}", STATE_STYLES.get(item.state, "")),
    )


def item_detail(item: InboxItem) -> list[Content]:
    muted = "$foreground-muted"
    lines = [
        Content.assemble((item.title, "bold")),
        Content.assemble(
            (f"{item.type}", "$text-secondary"),
            (f" · {format_when(item.ts)}", muted),
            (f" · from {item.source}" if item.source else "", muted),
            (" · ", muted),
            (item.state, STATE_STYLES.get(item.state, "")),
        ),
    ]
    if item.summary:
        lines.append(Content(item.summary))
    for key, value in item.detail.items():
        lines.append(Content.assemble((f"{key}: ", muted), short(str(value), 300)))
    if item.is_proposal:
        if item.state == "pending" or item.state == "failed":
            lines.append(
                Content.assemble(
                    ("a", "bold $text-success"),
                    (" accept · ", muted),
                    ("r", "bold $text-error"),
                    (" reject · ", muted),
                    ("enter", "bold"),
                    (" open in full", muted),
                )
            )
        lines.append(
            Content.styled(
                "What it would change:"
                if item.state in ("pending", "failed")
                else "What it changed / would have changed:",
                "bold",
            )
        )
        if not item.preview:
            lines.append(Content.styled("(the proposal carries no preview)", muted))
    return lines


class InboxList(OptionList):
    """The notifications; its keys (ids ``inbox.*``) act on the highlighted one."""

    BINDINGS = bindings_for("inbox")

    @dataclass
    class Act(Message):
        action: str

    def _act(self, name: str) -> None:
        self.post_message(self.Act(name))

    def action_open(self) -> None:
        self._act("open")

    def action_accept(self) -> None:
        self._act("accept")

    def action_reject(self) -> None:
        self._act("reject")

    def action_acknowledge(self) -> None:
        self._act("acknowledge")

    def action_acknowledge_all(self) -> None:
        self._act("acknowledge_all")

    def action_focus_filter(self) -> None:
        self._act("focus_filter")

    def action_toggle_history(self) -> None:
        self._act("toggle_history")


class InboxPane(Vertical):
    """Filter, list, detail of the highlighted notification."""

    @dataclass
    class Requested(Message):
        """accept | reject | acknowledge | acknowledge_all | open | reload."""

        action: str
        item: InboxItem | None

    #: Everything the app loaded (pending only, or everything with the history on).
    items: reactive[list[InboxItem] | None] = reactive(None, init=False, always_update=True)
    filter_text: reactive[str] = reactive("", init=False)
    show_history: reactive[bool] = reactive(False, init=False)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.shown: list[InboxItem] = []
        self._laid_out_width = 0

    def on_resize(self) -> None:
        if self.items is not None and abs(self.option_list.size.width - self._laid_out_width) >= 2:
            self._refill()

    def compose(self) -> ComposeResult:
        field = FilterInput(
            placeholder="Filter notifications (escape: back to the list)",
            id="inbox-filter",
            compact=True,
        )
        field.display = False
        yield field
        yield Static(
            Content.styled("loading the inbox…", "$foreground-muted"),
            id="inbox-count",
            markup=False,
        )
        yield InboxList(id="inbox-list")
        with VerticalScroll(id="inbox-detail"):
            yield Static(id="inbox-detail-head", markup=False)
            yield Static(id="inbox-preview", markup=False)

    @property
    def option_list(self) -> InboxList:
        return self.query_one(InboxList)

    def on_mount(self) -> None:
        self.query_one("#inbox-detail").border_title = "Detail"

    def watch_items(self) -> None:
        self._refill()

    def watch_filter_text(self) -> None:
        self._refill()

    def watch_show_history(self, show: bool) -> None:
        self.post_message(self.Requested("reload", None))

    def current(self) -> InboxItem | None:
        index = self.option_list.highlighted
        if index is None or not 0 <= index < len(self.shown):
            return None
        return self.shown[index]

    def _refill(self) -> None:
        items = self.items or []
        keep = self.current()
        old_index = self.option_list.highlighted or 0
        self.shown = filter_inbox(items, self.filter_text) if self.filter_text else list(items)
        option_list = self.option_list
        self._laid_out_width = option_list.size.width
        width = max(20, option_list.size.width - 29)
        option_list.clear_options()
        option_list.add_options([Option(item_line(i, width), id=i.id) for i in self.shown])
        if self.shown:
            # The same notification if it is still listed, else the one that took its place.
            index = next(
                (n for n, i in enumerate(self.shown) if keep is not None and i.id == keep.id),
                min(old_index, len(self.shown) - 1),
            )
            option_list.highlighted = index
        self._count()
        self._detail()

    def _count(self) -> None:
        items = self.items
        muted = "$foreground-muted"
        if items is None:
            return
        pending = sum(1 for i in items if i.pending)
        proposals = sum(1 for i in items if i.is_proposal and i.state in ("pending", "failed"))
        parts: list[str | tuple[str, str]] = []
        if not items:
            parts.append(
                (
                    "Nothing waiting: crons and promotions leave their news and proposals here.",
                    muted,
                )
            )
        else:
            parts.append((f"{pending} unread", "bold"))
            if proposals:
                parts.append(
                    (
                        f" · {proposals} proposal{'s' if proposals != 1 else ''} to decide",
                        "$text-warning",
                    )
                )
        if self.filter_text:
            parts.append(
                (f" · filter “{short(self.filter_text, 30)}”: {len(self.shown)} shown", muted)
            )
        if self.show_history:
            parts.append((" · history on (h hides it)", muted))
        self.query_one("#inbox-count", Static).update(Content.assemble(*parts))

    def _detail(self) -> None:
        item = self.current()
        head = self.query_one("#inbox-detail-head", Static)
        preview = self.query_one("#inbox-preview", Static)
        if item is None:
            head.update(
                Content.styled("Select a notification to see it here.", "$foreground-muted")
            )
            preview.update("")
            preview.display = False
            return
        head.update(Content("\n").join(item_detail(item)))
        preview.display = bool(item.preview)
        preview.update(preview_renderable(item.preview) if item.preview else "")
        self.query_one("#inbox-detail", VerticalScroll).scroll_home(animate=False)

    @on(OptionList.OptionHighlighted, "#inbox-list")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        self._detail()

    @on(OptionList.OptionSelected, "#inbox-list")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.post_message(self.Requested("open", self.current()))

    @on(Input.Changed, "#inbox-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.filter_text = event.value

    @on(Input.Submitted, "#inbox-filter")
    @on(FilterInput.Done)
    def _filter_done(self, event: Message) -> None:
        event.stop()
        field = self.query_one("#inbox-filter", FilterInput)
        if not field.value:
            field.display = False
        self.option_list.focus()

    @on(InboxList.Act)
    def _act(self, event: InboxList.Act) -> None:
        event.stop()
        self.run_action_named(event.action)

    def run_action_named(self, action: str) -> None:
        if action == "focus_filter":
            field = self.query_one("#inbox-filter", FilterInput)
            field.display = True
            field.focus()
        elif action == "toggle_history":
            self.show_history = not self.show_history
        elif action == "acknowledge_all":
            self.post_message(self.Requested("acknowledge_all", None))
        else:
            item = self.current()
            if item is None:
                self.notify("No notification selected.", severity="warning")
                return
            self.post_message(self.Requested(action, item))
