"""ObservabilityHub: events, notifications, proposals and the activity feed of one workspace.

Everything lives under ``<workspace>/observability/``:

``events.jsonl`` (+ ``events.1.jsonl`` …)
    the append-only event log (``events.py``): rotated by size, read across rotated files.
``inbox.jsonl``
    notifications and what happened to them (``inbox.py``), rebuildable from the log.
``proposals/<id>.json``
    the payload of a proposal too large to sit in its event line.

Proposals are notifications that change artifacts. ``propose()`` records a
``PROPOSAL_CREATED`` event (``notify_user``); nothing changes until ``accept(id)`` runs the
applier registered for the proposal's kind (``register_applier(kind, fn(payload) -> str)``),
under a workspace-wide lock so a proposal is applied at most once even when two processes
accept it together. ``reject(id, reason)`` closes it. Kinds listed in ``crons.auto_apply``
are accepted as soon as they are proposed (the notification then says it was applied).
The hub has no kind of its own: the packages above it register theirs, either through whoever
wires the hub (the ``artifact.*`` kinds of ``volumes/appliers.py``: the CLI's inbox, the TUI,
the crons) or by naming, in the proposal, the module whose ``register_appliers(hub)`` does.
"""

from __future__ import annotations

import datetime as _dt
import importlib
import json
import os
import threading
from collections import Counter, deque
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from ..atomic import atomic_write_json, file_lock
from ..errors import LLMOSError, UsageError
from .events import (
    DEFAULT_KEEP,
    DEFAULT_MAX_BYTES,
    Event,
    EventCursor,
    EventLog,
    EventType,
    now_iso,
    parse_ts,
    subscribe as _subscribe,
)
from .inbox import DEFAULT_INBOX_MAX_BYTES, Inbox, Notification
from .report import collect_activity, format_activity, volume_type

if TYPE_CHECKING:  # pragma: no cover
    from ..config import LLMOSConfig

INLINE_PAYLOAD_BYTES = 64 * 1024
PREVIEW_CHARS = 64 * 1024
Applier = Callable[[dict[str, Any]], Any]
_local = threading.local()


# Applier modules named by proposals posted before their applier moved (an inbox keeps them).
_MOVED_APPLIERS = {
    "llmos_tui.sentience.selfmod": "llmos_tui.sentience.runtime",
    "llmos_tui.learning.trust": "llmos_tui.learning.store",
}


class NotificationNotFound(LLMOSError):
    """No notification with this id (exit 1)."""


class NotAProposal(UsageError):
    """accept/reject of a notification that is not a proposal (exit 2)."""


class ProposalError(LLMOSError):
    """A proposal cannot be accepted or rejected (decided already, no applier, applier failed)."""


class ObservabilityHub:
    """The observability of one workspace. ``where`` is a Workspace, its root, or its
    ``observability`` folder."""

    def __init__(
        self,
        where: Any,
        *,
        config: LLMOSConfig | None = None,
        auto_apply: Iterable[str] | None = None,
        max_bytes: int | None = None,
        keep: int | None = None,
    ) -> None:
        root, folder = self._locate(where)
        self.root = root
        self.folder = folder
        self.config = config
        # Without a config (a hub opened by a tool or a test): the event log's own limits.
        if config is not None and max_bytes is None:
            max_bytes = int(config.observability.max_file_mb * 1024 * 1024)
        if config is not None and keep is None:
            keep = config.observability.keep_files
        self.event_log = EventLog(
            folder / "events.jsonl",
            max_bytes=max_bytes if max_bytes is not None else DEFAULT_MAX_BYTES,
            keep=keep if keep is not None else DEFAULT_KEEP,
        )
        self.inbox = Inbox(folder, events=self.event_log, max_bytes=DEFAULT_INBOX_MAX_BYTES)
        self.event_log.inbox_max_bytes = self.inbox.max_bytes
        kinds = (
            auto_apply
            if auto_apply is not None
            else config.crons.auto_apply
            if config is not None
            else ()
        )
        self.auto_apply = {str(k) for k in kinds}
        self._appliers: dict[str, Applier] = {}

    @staticmethod
    def _locate(where: Any) -> tuple[Path | None, Path]:
        from ..workspace import Workspace

        if isinstance(where, Workspace):
            return Path(where.root), Path(where.root) / "observability"
        if not isinstance(where, (str, os.PathLike)):
            raise UsageError(
                f"ObservabilityHub needs a Workspace or a folder, not {type(where).__name__}"
            )
        path = Path(where)
        if path.name == "observability":
            return path.parent, path
        if path.suffix == ".jsonl":
            return (
                path.parent.parent if path.parent.name == "observability" else None
            ), path.parent
        return path, path / "observability"

    @property
    def workspace(self) -> Any:
        if self.root is None:
            raise ProposalError(
                "this hub is not attached to a workspace (built from a bare folder)"
            )
        from ..workspace import Workspace

        return Workspace(self.root)

    @property
    def corrupt_lines(self) -> int:
        """Lines skipped by the last read of the event log."""
        return self.event_log.corrupt_lines

    # ---- recording ----------------------------------------------------------------------
    def record(
        self,
        type: EventType,
        *,
        notify_user: bool = False,
        source: str | None = None,
        title: str | None = None,
        **data: Any,
    ) -> Event:
        return self.event_log.record(
            type, notify_user=notify_user, source=source, title=title, **data
        )

    def record_cron_started(self, cron_id: str, *, level: str | None = None, **data: Any) -> Event:
        return self.record(EventType.CRON_STARTED, source=cron_id, level=level, **data)

    def record_cron_completed(
        self,
        cron_id: str,
        *,
        duration_s: float,
        tasks: list[str] | None = None,
        summary: str | None = None,
        level: str | None = None,
        **data: Any,
    ) -> Event:
        return self.record(
            EventType.CRON_COMPLETED,
            source=cron_id,
            level=level,
            duration_s=round(float(duration_s), 3),
            tasks=list(tasks or []),
            summary=summary,
            **data,
        )

    record_cycle_complete = record_cron_completed

    def record_cron_failed(
        self,
        cron_id: str,
        *,
        error: str,
        duration_s: float | None = None,
        level: str | None = None,
        **data: Any,
    ) -> Event:
        # A failed cycle needs the user's eye wherever it ran (TUI worker or `llmos cron run`).
        return self.record(
            EventType.CRON_FAILED,
            source=cron_id,
            level=level,
            error=str(error)[:2000],
            duration_s=duration_s,
            notify_user=True,
            title=f"{cron_id} failed: {str(error)[:120]}",
            **data,
        )

    def record_cron_stopped(self, cron_id: str, **data: Any) -> Event:
        return self.record(EventType.CRON_STOPPED, source=cron_id, **data)

    def _artifact(
        self,
        type: EventType,
        source: str | None,
        kind: str,
        name: str,
        volume: str,
        notify_user: bool,
        title: str | None,
        data: dict[str, Any],
    ) -> Event:
        return self.record(
            type,
            notify_user=notify_user,
            source=source,
            title=title,
            kind=kind,
            name=name,
            volume=volume,
            volume_type=volume_type(volume),
            **data,
        )

    def record_artifact_created(
        self,
        source: str | None,
        kind: str,
        name: str,
        volume: str,
        *,
        reason: str | None = None,
        notify_user: bool = False,
        title: str | None = None,
        **data: Any,
    ) -> Event:
        return self._artifact(
            EventType.ARTIFACT_CREATED,
            source,
            kind,
            name,
            volume,
            notify_user,
            title,
            {"reason": reason, **data},
        )

    def record_artifact_evolved(
        self,
        source: str | None,
        kind: str,
        name: str,
        volume: str,
        *,
        reason: str | None = None,
        notify_user: bool = False,
        title: str | None = None,
        **data: Any,
    ) -> Event:
        return self._artifact(
            EventType.ARTIFACT_EVOLVED,
            source,
            kind,
            name,
            volume,
            notify_user,
            title,
            {"reason": reason, **data},
        )

    def record_artifact_promoted(
        self,
        source: str | None,
        kind: str,
        name: str,
        *,
        from_volume: str,
        to_volume: str,
        notify_user: bool = True,
        title: str | None = None,
        **data: Any,
    ) -> Event:
        return self._artifact(
            EventType.ARTIFACT_PROMOTED,
            source,
            kind,
            name,
            to_volume,
            notify_user,
            title or f"{kind}/{name} promoted to {to_volume}",
            {"from": from_volume, "to": to_volume, **data},
        )

    def record_artifact_deleted(
        self,
        source: str | None,
        kind: str,
        name: str,
        volume: str,
        *,
        reason: str | None = None,
        **data: Any,
    ) -> Event:
        return self._artifact(
            EventType.ARTIFACT_DELETED,
            source,
            kind,
            name,
            volume,
            False,
            None,
            {"reason": reason, **data},
        )

    def record_insight(
        self,
        source: str | None,
        volume: str,
        name: str,
        *,
        title: str,
        summary: str | None = None,
        notify_user: bool = True,
        **data: Any,
    ) -> Event:
        return self._artifact(
            EventType.INSIGHT_GENERATED,
            source,
            "insights",
            name,
            volume,
            notify_user,
            title,
            {"summary": summary, **data},
        )

    def record_suggestion(
        self,
        source: str | None,
        volume: str,
        name: str,
        *,
        title: str,
        summary: str | None = None,
        notify_user: bool = True,
        **data: Any,
    ) -> Event:
        return self._artifact(
            EventType.SUGGESTION_CREATED,
            source,
            "suggestions",
            name,
            volume,
            notify_user,
            title,
            {"summary": summary, **data},
        )

    def record_tool_used(
        self,
        tool: str,
        *,
        user: str | None,
        team: str | None,
        volume: str,
        success: bool,
        **data: Any,
    ) -> Event:
        return self.record(
            EventType.TOOL_USED,
            source="kernel",
            tool=tool,
            user=user,
            team=team,
            volume=volume,
            success=bool(success),
            **data,
        )

    def record_alert(
        self,
        title: str,
        message: str,
        *,
        severity: str = "warning",
        source: str | None = None,
        notify_user: bool = True,
        **data: Any,
    ) -> Event:
        return self.record(
            EventType.SYSTEM_ALERT,
            notify_user=notify_user,
            source=source,
            title=title,
            message=message,
            severity=severity,
            **data,
        )

    # ---- reading ------------------------------------------------------------------------
    def get_events(
        self, types: Iterable[str] | None = None, since: Any = None, limit: int | None = None
    ) -> list[Event]:
        """Events oldest first; ``since`` is a datetime, an ISO string or a timedelta ago;
        ``limit`` keeps the newest ``limit`` (memory stays bounded by it)."""
        wanted = {str(t) for t in types} if types else None
        moment = self._since(since)
        out: Any = deque(maxlen=limit) if limit else []
        for event in self.event_log.iter_events(since=moment):
            if wanted is None or event.type in wanted:
                out.append(event)
        return list(out)

    @staticmethod
    def _since(since: Any) -> _dt.datetime | None:
        if since is None:
            return None
        if isinstance(since, _dt.timedelta):
            return _dt.datetime.now(_dt.timezone.utc) - since
        if isinstance(since, _dt.datetime):
            return since if since.tzinfo else since.replace(tzinfo=_dt.timezone.utc)
        if isinstance(since, str):
            moment = parse_ts(since)
            if moment is None:
                raise UsageError(
                    f"not a timestamp: {since!r} (use ISO 8601, e.g. 2026-11-21T10:00:00Z)"
                )
            return moment
        raise UsageError(
            f"since must be a datetime, an ISO timestamp or a timedelta, not {type(since).__name__}"
        )

    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """In-process: ``callback(event)`` after each event recorded by this process; returns
        an unsubscribe function. Use ``poll_new`` to follow other processes."""
        return _subscribe(self.event_log.path, callback)

    def cursor(self) -> EventCursor:
        return self.event_log.cursor()

    def poll_new(self, since_offset: EventCursor | None = None) -> tuple[list[Event], EventCursor]:
        return self.event_log.poll_new(since_offset)

    # ---- notifications ------------------------------------------------------------------
    def get_notifications(self, *, include_read: bool = False) -> list[Notification]:
        items = self.inbox.load().values()
        return [n for n in items if include_read or n.pending]

    def get_pending_notifications(self) -> list[Notification]:
        return self.get_notifications()

    def get_notification(self, event_id: str) -> Notification:
        """By id or a unique prefix of it."""
        items = self.inbox.load()
        if event_id in items:
            return items[event_id]
        matches = (
            [n for i, n in items.items() if event_id and i.startswith(event_id)]
            if len(event_id) >= 4
            else []
        )
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise NotificationNotFound(
                f"the id {event_id!r} is ambiguous ({len(matches)} notifications start with it)"
            )
        raise NotificationNotFound(
            f"no notification with id {event_id!r} (see `llmos inbox list --all`)"
        )

    def acknowledge(self, event_id: str, *, by: str = "user") -> bool:
        """Mark one notification read; False when it was read already."""
        item = self.get_notification(event_id)
        return bool(self.inbox.acknowledge([item.id], by=by))

    def acknowledge_all(self, *, by: str = "user") -> int:
        """Mark every unread notification read (proposals stay open until decided)."""
        ids = [n.id for n in self.inbox.load().values() if not n.acknowledged]
        return len(self.inbox.acknowledge(ids, by=by)) if ids else 0

    # ---- proposals ----------------------------------------------------------------------
    def register_applier(self, kind: str, fn: Applier) -> None:
        if not isinstance(kind, str) or not kind.strip():
            raise UsageError("a proposal kind must be a non-empty string")
        self._appliers[kind] = fn

    def appliers(self) -> list[str]:
        return sorted(self._appliers)

    def propose(
        self,
        kind: str,
        title: str,
        summary: str,
        diff_or_preview: str | None,
        payload: Mapping[str, Any],
        *,
        source: str | None = None,
        volume: str | None = None,
        applier_module: str | None = None,
        **data: Any,
    ) -> str:
        """Record a proposal (a notification); returns its event id. ``applier_module`` names
        a ``llmos_tui`` module that registers the kind's applier when imported (for kinds
        accepted by a process that never imported it)."""
        if not isinstance(kind, str) or not kind.strip():
            raise UsageError("a proposal needs a kind")
        if applier_module is not None and not applier_module.startswith("llmos_tui."):
            raise UsageError("applier_module must be a module of the llmos_tui package")
        try:
            encoded = json.dumps(dict(payload), ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"the proposal payload must be JSON data: {exc}") from None
        preview = diff_or_preview or ""
        if len(preview) > PREVIEW_CHARS:
            preview = (
                preview[:PREVIEW_CHARS]
                + f"\n… ({len(diff_or_preview or '') - PREVIEW_CHARS} more characters)"
            )
        event = Event(
            type=EventType.PROPOSAL_CREATED,
            notify_user=True,
            source=source,
            title=title,
            data={
                "kind": kind,
                "summary": summary,
                "preview": preview,
                "volume": volume,
                "applier_module": applier_module,
                **data,
            },
        )
        if len(encoded.encode("utf-8")) > INLINE_PAYLOAD_BYTES:
            rel = f"proposals/{event.id}.json"
            from ..redact import redact_obj

            atomic_write_json(self.folder / rel, redact_obj(json.loads(encoded)))
            event.data["payload_file"] = rel
        else:
            event.data["payload"] = json.loads(encoded)
        self.event_log.append(event)
        if kind in self.auto_apply:
            try:
                self.accept(event.id, by="auto_apply")
            except LLMOSError:
                pass  # recorded as PROPOSAL_FAILED; it waits for the user
        return event.id

    def get_proposals(self, *, include_decided: bool = False) -> list[Notification]:
        return [
            n
            for n in self.inbox.load().values()
            if n.is_proposal and (include_decided or n.decision is None)
        ]

    def proposal_payload(self, item: Notification) -> dict[str, Any]:
        data = item.event.data
        if "payload_file" in data:
            path = self.folder / str(data["payload_file"])
            try:
                loaded = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ProposalError(
                    f"the payload of proposal {item.id} cannot be read ({path}: {exc})"
                ) from None
            return loaded if isinstance(loaded, dict) else {}
        payload = data.get("payload")
        return dict(payload) if isinstance(payload, dict) else {}

    def _applier_for(self, item: Notification) -> Applier:
        kind = str(item.event.data.get("kind"))
        fn = self._appliers.get(kind)
        module = item.event.data.get("applier_module")
        module = _MOVED_APPLIERS.get(module, module) if isinstance(module, str) else module
        if fn is None and isinstance(module, str) and module.startswith("llmos_tui."):
            try:
                mod = importlib.import_module(module)
            except ImportError as exc:
                raise ProposalError(
                    f"cannot load the applier module {module} for {kind!r}: {exc}"
                ) from None
            register = getattr(mod, "register_appliers", None)
            if callable(register):
                register(self)
            fn = self._appliers.get(kind)
        if fn is None:
            raise ProposalError(
                f"no applier is registered for proposals of kind {kind!r} "
                f"(known: {', '.join(self.appliers()) or 'none'})"
            )
        return fn

    def _decidable(self, event_id: str) -> Notification:
        item = self.get_notification(event_id)
        if not item.is_proposal:
            raise NotAProposal(
                f"{item.id} is a {item.event.type} notification, not a proposal; "
                "only proposals can be accepted or rejected"
            )
        return item

    def accept(self, event_id: str, *, by: str = "user") -> str:
        """Apply a proposal (once); returns the applier's message. Recorded either way."""
        item = self._decidable(event_id)
        if getattr(_local, "deciding", False):
            raise ProposalError("a proposal cannot be accepted from inside an applier")
        with file_lock(self.folder / "proposals"):
            item = self.inbox.load().get(item.id, item)
            if item.decision is not None:
                raise ProposalError(
                    f"proposal {item.id} was already {item.decision} "
                    f"at {item.decided_at} by {item.decided_by}"
                )
            fn = self._applier_for(item)
            payload = self.proposal_payload(item)
            kind = str(item.event.data.get("kind"))
            _local.deciding = True
            try:
                result = fn(payload)
            except Exception as exc:  # an applier's failure is recorded, never a crash
                message = (
                    exc.message if isinstance(exc, LLMOSError) else f"{type(exc).__name__}: {exc}"
                )
                self.event_log.append(
                    Event(
                        type=EventType.PROPOSAL_FAILED,
                        source=by,
                        title=item.event.title,
                        data={"proposal_id": item.id, "kind": kind, "error": message},
                    )
                )
                self.inbox.record_decision(item.id, "failed", by=by, error=message)
                raise ProposalError(
                    f"applying proposal {item.id} ({kind}) failed: {message}"
                ) from None
            finally:
                _local.deciding = False
            text = str(result) if result is not None else "applied"
            self.event_log.append(
                Event(
                    type=EventType.PROPOSAL_ACCEPTED,
                    source=by,
                    title=item.event.title,
                    data={"proposal_id": item.id, "kind": kind, "result": text},
                )
            )
            self.inbox.record_decision(item.id, "accepted", by=by, result=text)
            if by != "auto_apply":
                self.inbox.acknowledge([item.id], by=by)
        return text

    def reject(self, event_id: str, reason: str | None = None, *, by: str = "user") -> None:
        item = self._decidable(event_id)
        with file_lock(self.folder / "proposals"):
            item = self.inbox.load().get(item.id, item)
            if item.decision is not None:
                raise ProposalError(
                    f"proposal {item.id} was already {item.decision} "
                    f"at {item.decided_at} by {item.decided_by}"
                )
            kind = str(item.event.data.get("kind"))
            self.event_log.append(
                Event(
                    type=EventType.PROPOSAL_REJECTED,
                    source=by,
                    title=item.event.title,
                    data={"proposal_id": item.id, "kind": kind, "reason": reason},
                )
            )
            self.inbox.record_decision(item.id, "rejected", by=by, reason=reason)
            self.inbox.acknowledge([item.id], by=by)

    # ---- feeds and reports ---------------------------------------------------------------
    def get_activity_feed(
        self, since_hours: float = 24.0, *, types: Iterable[str] | None = None, limit: int = 500
    ) -> list[Event]:
        """Events of the last ``since_hours``, newest first (at most ``limit``)."""
        events = self.get_events(types, since=_dt.timedelta(hours=float(since_hours)), limit=limit)
        events.reverse()
        return events

    def get_artifact_changes(
        self, volume_type: str | None = None, *, since_hours: float | None = None, limit: int = 500
    ) -> list[Event]:
        """ARTIFACT_* / insight / suggestion events, newest first, of user, team or system volumes."""
        if volume_type not in (None, "user", "team", "system"):
            raise UsageError(f"volume_type must be user, team or system, not {volume_type!r}")
        wanted = {
            EventType.ARTIFACT_CREATED,
            EventType.ARTIFACT_EVOLVED,
            EventType.ARTIFACT_PROMOTED,
            EventType.ARTIFACT_DELETED,
            EventType.INSIGHT_GENERATED,
            EventType.SUGGESTION_CREATED,
            EventType.TOOL_CRYSTALLIZED,
            EventType.TOOL_DEMOTED,
        }
        since = _dt.timedelta(hours=since_hours) if since_hours is not None else None
        out: deque[Event] = deque(maxlen=limit)
        for event in self.event_log.iter_events(since=self._since(since)):
            if event.type not in wanted:
                continue
            if volume_type is not None:
                vt = event.data.get("volume_type") or volume_type_of(event)
                if vt != volume_type:
                    continue
            out.append(event)
        result = list(out)
        result.reverse()
        return result

    def activity(self, since_hours: float = 24.0) -> dict[str, Any]:
        """The digest of a window (JSON-ready): crons, created, evolved, promoted, alerts…"""
        hours = float(since_hours)
        if not hours > 0:
            raise UsageError("since_hours must be positive")
        now = _dt.datetime.now(_dt.timezone.utc)
        since = now - _dt.timedelta(hours=hours)
        items = self.inbox.load().values()
        data = collect_activity(
            self.event_log.iter_events(since=since),
            since=now_iso(since),
            until=now_iso(now),
            pending_notifications=sum(1 for n in items if n.pending),
            open_proposals=sum(1 for n in items if n.is_proposal and n.decision is None),
        )
        data["corrupt_lines"] = self.event_log.corrupt_lines
        return data

    def format_activity_report(self, since_hours: float = 24.0) -> str:
        """The "morning report": what each cron did, created, evolved and promoted."""
        report = format_activity(self.activity(since_hours), hours=float(since_hours))
        if self.event_log.corrupt_lines:
            report += f"\n\n({self.event_log.corrupt_lines} corrupt event line(s) skipped)"
        return report

    def get_global_summary(self, since_hours: float = 24.0) -> dict[str, Any]:
        counts: Counter[str] = Counter()
        last = None
        total = 0
        since = _dt.datetime.now(_dt.timezone.utc) - _dt.timedelta(hours=float(since_hours))
        for event in self.event_log.iter_events(since=since):
            counts[event.type] += 1
            total += 1
            last = event.ts
        items = self.inbox.load().values()
        files = self.event_log.files()
        size = 0
        for path in files:
            try:
                size += os.stat(path).st_size
            except OSError:
                pass
        return {
            "since_hours": float(since_hours),
            "events": total,
            "by_type": dict(counts),
            "last_event_at": last,
            "artifacts_created": counts[EventType.ARTIFACT_CREATED]
            + counts[EventType.INSIGHT_GENERATED]
            + counts[EventType.SUGGESTION_CREATED]
            + counts[EventType.TOOL_CRYSTALLIZED],
            "artifacts_evolved": counts[EventType.ARTIFACT_EVOLVED],
            "artifacts_promoted": counts[EventType.ARTIFACT_PROMOTED],
            "artifacts_deleted": counts[EventType.ARTIFACT_DELETED],
            "insights": counts[EventType.INSIGHT_GENERATED],
            "suggestions": counts[EventType.SUGGESTION_CREATED],
            "cron_cycles": counts[EventType.CRON_COMPLETED]
            + counts[EventType.CRON_CYCLE_END]
            + counts[EventType.CRON_FAILED],
            "cron_failures": counts[EventType.CRON_FAILED],
            "alerts": counts[EventType.SYSTEM_ALERT],
            "goals": counts[EventType.GOAL_FINISHED],
            "pending_notifications": sum(1 for n in items if n.pending),
            "open_proposals": sum(1 for n in items if n.is_proposal and n.decision is None),
            "corrupt_lines": self.event_log.corrupt_lines,
            "log_files": len(files),
            "log_bytes": size,
        }


def volume_type_of(event: Event) -> str | None:
    return volume_type(event.data.get("volume") or event.data.get("to"))
