"""The sidebar's inbox summary: how many notifications wait, and the newest few titles.

(The gauge above it is ``widgets/gauge.py``.) Kept apart from the inbox pane so the first paint
does not load the pane's widgets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.content import Content
from textual.reactive import reactive
from textual.widgets import Static

from ..format import STATE_STYLES, short

if TYPE_CHECKING:  # the loaders' records load with the loaders, after the first paint
    from ..data import InboxItem


class InboxSummary(Static):
    """Sidebar: how many notifications wait, and the newest few titles."""

    items: reactive[list[InboxItem] | None] = reactive(None, init=False, always_update=True)

    def __init__(self, *, key: str = "F5", id: str | None = None) -> None:
        super().__init__(
            Content.styled("reading the inbox…", "$foreground-muted"), id=id, markup=False
        )
        self.key = key

    def watch_items(self, items: list[InboxItem] | None) -> None:
        if items is None:
            return
        pending = [i for i in items if i.pending]
        self.border_title = f"Inbox · {len(pending)} unread" if pending else "Inbox"
        if not pending:
            self.update(Content.styled("nothing waiting", "$foreground-muted"))
            return
        width = max(16, self.size.width - 4) if self.size.width else 32
        lines = [
            Content.assemble(
                ("● ", STATE_STYLES.get(i.state, "")),
                (("proposal: " if i.is_proposal else ""), "$text-warning"),
                short(i.title, width - (10 if i.is_proposal else 0)),
            )
            for i in pending[:8]
        ]
        if len(pending) > 8:
            lines.append(Content.styled(f"… and {len(pending) - 8} more", "$foreground-muted"))
        lines.append(Content.styled(f"{self.key} to review", "$foreground-muted"))
        self.update(Content("\n").join(lines))
