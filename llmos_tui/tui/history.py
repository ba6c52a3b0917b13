"""Goal history for the chat input: recall with up/down, kept across sessions.

The history is a JSON list in ``<workspace>/state/tui_history.json`` (written atomically, the
newest ``MAX_ENTRIES`` kept). Reading and writing happen in workers; the recall logic below is
pure and runs on the UI thread.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..atomic import atomic_write_json

MAX_ENTRIES = 500
FILE_NAME = "tui_history.json"


class GoalHistory:
    """Entries oldest first; ``previous``/``following`` walk them, keeping the unsent draft."""

    def __init__(self, entries: list[str] | None = None) -> None:
        self.entries: list[str] = list(entries or [])[-MAX_ENTRIES:]
        self._pos: int | None = None  # index into entries while recalling; None = editing the draft
        self._draft = ""

    def add(self, goal: str) -> None:
        goal = goal.strip()
        if goal and (not self.entries or self.entries[-1] != goal):
            self.entries.append(goal)
            del self.entries[:-MAX_ENTRIES]
        self.reset()

    def reset(self) -> None:
        self._pos = None
        self._draft = ""

    @property
    def recalling(self) -> bool:
        return self._pos is not None

    def previous(self, current: str) -> str | None:
        """The entry before the one shown (None: nothing older)."""
        if not self.entries:
            return None
        if self._pos is None:
            self._draft = current
            self._pos = len(self.entries) - 1
        elif self._pos > 0:
            self._pos -= 1
        else:
            return None
        return self.entries[self._pos]

    def following(self) -> str | None:
        """The entry after the one shown, or the draft after the newest (None: not recalling)."""
        if self._pos is None:
            return None
        if self._pos < len(self.entries) - 1:
            self._pos += 1
            return self.entries[self._pos]
        draft = self._draft
        self.reset()
        return draft


def history_path(state_dir: Path) -> Path:
    return Path(state_dir) / FILE_NAME


def load_history(state_dir: Path) -> list[str]:
    """The saved goals; a missing or unreadable file is an empty history (never an error)."""
    try:
        data = json.loads(history_path(state_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return []
    if not isinstance(data, list):
        return []
    return [g for g in data if isinstance(g, str) and g.strip()][-MAX_ENTRIES:]


def save_history(state_dir: Path, entries: list[str]) -> None:
    """Write the last goals; secrets in them are redacted (``llmos_tui/redact.py``)."""
    from ..redact import redact_obj

    atomic_write_json(history_path(state_dir), redact_obj(list(entries)[-MAX_ENTRIES:]))
