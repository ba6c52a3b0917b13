"""The notification inbox (``observability/inbox.jsonl``): a small append-only cache.

The event log holds the history; reading megabytes of it to list a handful of unread
notifications would be slow, so every event recorded with ``notify_user`` is also appended
here, together with what happened to it (one JSON object per line)::

    {"k": "head", "v": 1, "ts": "…"}                          first line
    {"k": "n", "e": {event}}                                  a notification (a copy of the event)
    {"k": "ack", "ids": ["e_…", …], "ts": "…", "by": "…"}     read by the user
    {"k": "decision", "id": "e_…", "state": "accepted"|"rejected"|"failed", "ts": "…", …}

Acknowledgements and decisions are also recorded as events (``ACKNOWLEDGED``,
``PROPOSAL_ACCEPTED`` …), so the inbox can be rebuilt from the event log at any time: a missing
inbox next to a non-empty log is rebuilt (``rebuild()``), a corrupt line is skipped and counted.
When the file passes ``max_bytes`` it is compacted (atomically rewritten without the
notifications that are read and, for proposals, decided); the event log keeps their history.
Writers hold the sidecar lock ``inbox.jsonl.lock``; secrets in records are redacted (``redact.py``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from ..atomic import append_bytes, atomic_write_text, file_lock
from ..redact import redact_obj
from .records import Event, EventType, now_iso

if TYPE_CHECKING:  # pragma: no cover
    from .events import EventLog

INBOX_NAME = "inbox.jsonl"
DEFAULT_INBOX_MAX_BYTES = 4 * 1024 * 1024
ACK_CHUNK = 500
DECIDED = ("accepted", "rejected")


@dataclass
class Notification:
    """An event for the user, and whether it was read and decided."""

    event: Event
    acknowledged: bool = False
    acknowledged_at: str | None = None
    decision: str | None = None  # accepted | rejected (final)
    decided_at: str | None = None
    decided_by: str | None = None
    result: str | None = None  # the applier's message
    reason: str | None = None  # why rejected
    failures: list[dict[str, Any]] = field(default_factory=list)  # failed accept attempts

    @property
    def id(self) -> str:
        return self.event.id

    @property
    def is_proposal(self) -> bool:
        return self.event.type == EventType.PROPOSAL_CREATED

    @property
    def pending(self) -> bool:
        """Shown in the inbox: unread, or an undecided proposal."""
        if self.is_proposal:
            return self.decision is None or not self.acknowledged
        return not self.acknowledged

    @property
    def state(self) -> str:
        if self.is_proposal:
            if self.decision:
                return self.decision
            return "failed" if self.failures else "pending"
        return "read" if self.acknowledged else "unread"

    def to_dict(self) -> dict[str, Any]:
        ev = self.event
        data = ev.data
        out: dict[str, Any] = {
            "id": ev.id,
            "ts": ev.ts,
            "type": ev.type,
            "title": title_of(ev),
            "source": ev.source,
            "state": self.state,
            "acknowledged": self.acknowledged,
            "acknowledged_at": self.acknowledged_at,
            "summary": data.get("summary") or data.get("reason") or data.get("message"),
        }
        for key in ("volume", "kind", "name", "path"):
            if key in data:
                out[key] = data[key]
        if self.is_proposal:
            out.update(
                {
                    "proposal_kind": data.get("kind"),
                    "decision": self.decision,
                    "decided_at": self.decided_at,
                    "decided_by": self.decided_by,
                    "result": self.result,
                    "reason": self.reason,
                    "failures": list(self.failures),
                }
            )
        return out


def title_of(event: Event) -> str:
    if event.title:
        return event.title
    data = event.data
    what = data.get("title") or data.get("name") or data.get("artifact_id") or data.get("trace_id")
    label = event.type.replace("_", " ").lower()
    return f"{label}: {what}" if what else label


class Inbox:
    """Notifications of one workspace (``observability/``)."""

    def __init__(
        self,
        folder: str | os.PathLike[str],
        *,
        events: EventLog,
        max_bytes: int = DEFAULT_INBOX_MAX_BYTES,
    ) -> None:
        self.folder = Path(folder)
        self.path = self.folder / INBOX_NAME
        self.events = events
        self.max_bytes = max(4096, int(max_bytes))
        self.corrupt_lines = 0

    # ---- writing ------------------------------------------------------------------------
    def _append_locked(self, records: Iterable[dict[str, Any]]) -> None:
        payload = "".join(
            json.dumps(r, ensure_ascii=False, default=str).replace("\n", " ") + "\n"
            for r in redact_obj(list(records))
        ).encode("utf-8")
        size = append_bytes(self.path, payload).st_size  # whole records or nothing
        if size > self.max_bytes and size > 2 * self._base_size():
            self._compact_locked()

    def _base_size(self) -> int:
        """The size the last compaction left (its head line says), so a large pending inbox is
        not rewritten on every append."""
        try:
            with open(self.path, "rb") as handle:
                head = json.loads(handle.readline() or b"{}")
            return (
                int(head.get("base", 0))
                if isinstance(head, dict) and head.get("k") == "head"
                else 0
            )
        except (OSError, ValueError, TypeError):
            return 0

    def _ensure_locked(self) -> bool:
        """Create the inbox (rebuilt from the log when history exists); True if rebuilt."""
        if self.path.exists():
            return False
        self._rebuild_locked()
        return True

    def add_notification(self, event: Event) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with file_lock(self.path):
                if self._ensure_locked():
                    return  # the rebuild read the event from the log already
                self._append_locked([{"k": "n", "e": event.to_dict()}])
        except OSError:
            self.events.write_errors += 1

    def acknowledge(self, ids: Iterable[str], *, by: str = "user") -> list[str]:
        """Mark notifications read; returns the ids that were unread. Records ACKNOWLEDGED."""
        ids = list(dict.fromkeys(ids))
        with file_lock(self.path):
            self._ensure_locked()
            items = self._load()
            fresh = [i for i in ids if i in items and not items[i].acknowledged]
            if not fresh:
                return []
            stamp = now_iso()
            chunks = [fresh[i : i + ACK_CHUNK] for i in range(0, len(fresh), ACK_CHUNK)]
            for chunk in chunks:
                self.events.append(
                    Event(type=EventType.ACKNOWLEDGED, data={"ids": chunk}, source=by)
                )
            self._append_locked(
                {"k": "ack", "ids": chunk, "ts": stamp, "by": by} for chunk in chunks
            )
        return fresh

    def record_decision(self, event_id: str, state: str, *, by: str, **info: Any) -> None:
        """Append a proposal's decision (accepted / rejected / failed); the caller records the event."""
        with file_lock(self.path):
            self._ensure_locked()
            self._append_locked(
                [
                    {
                        "k": "decision",
                        "id": event_id,
                        "state": state,
                        "ts": now_iso(),
                        "by": by,
                        **info,
                    }
                ]
            )

    # ---- reading ------------------------------------------------------------------------
    def load(self) -> dict[str, Notification]:
        """Every notification the inbox knows, by id, oldest first."""
        if not self.path.exists():
            try:
                with file_lock(self.path):
                    self._ensure_locked()
            except OSError:
                return self._from_log()
        try:
            with file_lock(self.path, shared=True):
                return self._load()
        except OSError:
            return self._load()

    def _load(self) -> dict[str, Notification]:
        self.corrupt_lines = 0
        items: dict[str, Notification] = {}
        try:
            handle = open(self.path, "rb")
        except OSError:
            return items
        with handle:
            for raw in handle:
                if not raw.strip():
                    continue
                try:
                    rec = json.loads(raw)
                    self._apply(items, rec)
                except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
                    self.corrupt_lines += 1
        return items

    @staticmethod
    def _apply(items: dict[str, Notification], rec: dict[str, Any]) -> None:
        kind = rec["k"]
        if kind == "head":
            return
        if kind == "n":
            event = Event.from_dict(rec["e"])
            items.setdefault(event.id, Notification(event))
        elif kind == "ack":
            ids = rec["ids"]
            if not isinstance(ids, list):
                raise TypeError("ids")
            for ident in ids:
                item = items.get(ident)
                if item is not None and not item.acknowledged:
                    item.acknowledged, item.acknowledged_at = True, rec.get("ts")
        elif kind == "decision":
            item = items.get(rec["id"])
            if item is None:
                return
            state = rec["state"]
            if state == "failed":
                item.failures.append(
                    {"ts": rec.get("ts"), "error": rec.get("error"), "by": rec.get("by")}
                )
            elif state in DECIDED and item.decision is None:
                item.decision, item.decided_at, item.decided_by = (
                    state,
                    rec.get("ts"),
                    rec.get("by"),
                )
                item.result, item.reason = rec.get("result"), rec.get("reason")
        else:
            raise ValueError(f"unknown record {kind!r}")

    # ---- repair -------------------------------------------------------------------------
    def _from_log(self) -> dict[str, Notification]:
        """Rebuild the inbox state from the event log (every kept file)."""
        items: dict[str, Notification] = {}
        for event in self.events.iter_events():
            if event.notify_user:
                items.setdefault(event.id, Notification(event))
            elif event.type == EventType.ACKNOWLEDGED:
                ids = event.data.get("ids") or []
                for ident in ids if isinstance(ids, list) else []:
                    item = items.get(ident)
                    if item is not None and not item.acknowledged:
                        item.acknowledged, item.acknowledged_at = True, event.ts
            elif event.type in (
                EventType.PROPOSAL_ACCEPTED,
                EventType.PROPOSAL_REJECTED,
                EventType.PROPOSAL_FAILED,
            ):
                item = items.get(str(event.data.get("proposal_id")))
                if item is None:
                    continue
                if event.type == EventType.PROPOSAL_FAILED:
                    item.failures.append(
                        {"ts": event.ts, "error": event.data.get("error"), "by": event.source}
                    )
                elif item.decision is None:
                    item.decision = (
                        "accepted" if event.type == EventType.PROPOSAL_ACCEPTED else "rejected"
                    )
                    item.decided_at, item.decided_by = event.ts, event.source
                    item.result, item.reason = event.data.get("result"), event.data.get("reason")
        return items

    def _records(self, items: Iterable[Notification]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = [{"k": "head", "v": 1, "ts": now_iso()}]
        for item in items:
            out.append({"k": "n", "e": item.event.to_dict()})
            for failure in item.failures:
                out.append(
                    {
                        "k": "decision",
                        "id": item.id,
                        "state": "failed",
                        "ts": failure.get("ts"),
                        "by": failure.get("by"),
                        "error": failure.get("error"),
                    }
                )
            if item.decision:
                out.append(
                    {
                        "k": "decision",
                        "id": item.id,
                        "state": item.decision,
                        "ts": item.decided_at,
                        "by": item.decided_by,
                        "result": item.result,
                        "reason": item.reason,
                    }
                )
            if item.acknowledged:
                out.append(
                    {"k": "ack", "ids": [item.id], "ts": item.acknowledged_at, "by": "compaction"}
                )
        return out

    def _write_locked(self, items: Iterable[Notification]) -> None:
        records = self._records(items)
        body = "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in records[1:])
        head = dict(records[0], base=len(body.encode("utf-8")))
        atomic_write_text(self.path, json.dumps(head) + "\n" + body)

    def _rebuild_locked(self) -> int:
        items = self._from_log()
        self._write_locked(items.values())
        return len(items)

    def rebuild(self) -> int:
        """Recreate the inbox from the event log; returns how many notifications it holds."""
        with file_lock(self.path):
            return self._rebuild_locked()

    def _compact_locked(self) -> None:
        items = self._load()
        keep = [
            i
            for i in items.values()
            if not i.acknowledged or (i.is_proposal and i.decision is None)
        ]
        self._write_locked(keep)
