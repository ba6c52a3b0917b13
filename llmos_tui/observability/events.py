"""Append-only JSONL event log (``observability/events.jsonl``).

One line per event, appended with O_APPEND under a sidecar lock, so several processes
(TUI, headless runs, crons) never interleave or lose lines. A corrupt line is skipped and
counted when reading. The richer hub (notifications, feeds, rotation) builds on this.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from ..atomic import append_line


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass
class Event:
    type: str
    data: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: "e_" + uuid.uuid4().hex[:16])
    ts: str = field(default_factory=_now_iso)
    notify_user: bool = False

    def to_json(self) -> str:
        return json.dumps({"id": self.id, "ts": self.ts, "type": self.type,
                           "notify_user": self.notify_user, "data": self.data},
                          ensure_ascii=False, default=str)


class EventLog:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.corrupt_lines = 0

    def record(self, type: str, *, notify_user: bool = False, **data: Any) -> Event:
        event = Event(type=type, data=data, notify_user=notify_user)
        try:
            append_line(self.path, event.to_json())
        except OSError:
            # The event log must never take a run down; the caller still has the event.
            pass
        return event

    def read(self, types: Iterable[str] | None = None, limit: int | None = None) -> list[Event]:
        wanted = set(types) if types else None
        out = [e for e in self._iter() if wanted is None or e.type in wanted]
        return out[-limit:] if limit else out

    def _iter(self) -> Iterator[Event]:
        self.corrupt_lines = 0
        try:
            handle = self.path.open("r", encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return
        with handle:
            for line in handle:
                line = line.strip()
                if not line:
                    continue
                try:
                    raw = json.loads(line)
                    yield Event(type=str(raw["type"]), data=dict(raw.get("data") or {}),
                                id=str(raw["id"]), ts=str(raw["ts"]),
                                notify_user=bool(raw.get("notify_user")))
                except (ValueError, KeyError, TypeError):
                    self.corrupt_lines += 1
