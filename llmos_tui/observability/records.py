"""What one event is: its type, id, timestamp and record (``events.py`` keeps the log of them,
``inbox.py`` the notifications among them)."""

from __future__ import annotations

import datetime as _dt
import json
import os
from enum import StrEnum
from typing import Any

from ..records import field, record
from ..clock import iso_utc_us, parse_iso


class EventType(StrEnum):
    """Every event type the engine records (a StrEnum: ``EventType.X == "X"``)."""

    # crons
    CRON_STARTED = "CRON_STARTED"
    CRON_COMPLETED = "CRON_COMPLETED"
    CRON_FAILED = "CRON_FAILED"
    CRON_STOPPED = "CRON_STOPPED"
    CRON_CYCLE_END = "CRON_CYCLE_END"  # kept as a name; cycles record CRON_COMPLETED
    VOLUME_SYNCED = "VOLUME_SYNCED"
    # artifacts and proposals
    ARTIFACT_CREATED = "ARTIFACT_CREATED"
    ARTIFACT_EVOLVED = "ARTIFACT_EVOLVED"
    ARTIFACT_PROMOTED = "ARTIFACT_PROMOTED"
    ARTIFACT_DELETED = "ARTIFACT_DELETED"
    ARTIFACT_SKIPPED = "ARTIFACT_SKIPPED"  # an unreadable artifact file was reported and skipped
    PROMOTION_REFUSED = "PROMOTION_REFUSED"
    PROPOSAL_CREATED = "PROPOSAL_CREATED"
    PROPOSAL_ACCEPTED = "PROPOSAL_ACCEPTED"
    PROPOSAL_REJECTED = "PROPOSAL_REJECTED"
    PROPOSAL_FAILED = "PROPOSAL_FAILED"
    INSIGHT_GENERATED = "INSIGHT_GENERATED"
    SUGGESTION_CREATED = "SUGGESTION_CREATED"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    VOLUME_ACCESS_DENIED = "VOLUME_ACCESS_DENIED"
    SYSTEM_ALERT = "SYSTEM_ALERT"
    # kernel, learning, evolution
    TRACE_RECORDED = "TRACE_RECORDED"
    TRACE_REPLAYED = "TRACE_REPLAYED"
    TRACE_SKIPPED = "TRACE_SKIPPED"
    ALIAS_ADDED = "ALIAS_ADDED"  # an approved phrasing recorded on a trace (issue 16)
    ALIAS_REMOVED = "ALIAS_REMOVED"
    REPLAY_VERIFIED = "REPLAY_VERIFIED"  # VERIFIED: a model call judged a close trace (issue 16)
    REPLAY_CONFIRMED = "REPLAY_CONFIRMED"  # the user said replay to a close trace (TUI)
    REPLAY_DECLINED = "REPLAY_DECLINED"  # ... or run with the model / cancel
    INDEX_REBUILT = "INDEX_REBUILT"
    INDEX_RESYNCED = "INDEX_RESYNCED"
    MODE_DECIDED = "MODE_DECIDED"
    POLICY_DECISION = "POLICY_DECISION"
    GOAL_FINISHED = "GOAL_FINISHED"
    TOOL_CRYSTALLIZED = "TOOL_CRYSTALLIZED"
    TOOL_REJECTED = "TOOL_REJECTED"
    TOOL_REFUSED = "TOOL_REFUSED"
    TOOL_DEMOTED = "TOOL_DEMOTED"
    TOOL_RUN = "TOOL_RUN"
    TOOL_USED = "TOOL_USED"
    AGENT_EVOLVED = "AGENT_EVOLVED"
    SENTIENCE_UPDATED = "SENTIENCE_UPDATED"
    SENTIENCE_WARNING = "SENTIENCE_WARNING"
    AGENT_CREATED = "AGENT_CREATED"
    USER_FEEDBACK = "USER_FEEDBACK"
    REPLAY_REFUSED = "REPLAY_REFUSED"  # a replay stopped before running (policy, trust, gates)
    ORCHESTRATION_FINISHED = "ORCHESTRATION_FINISHED"
    SESSION_LOG_FAILED = "SESSION_LOG_FAILED"
    CONVERSATION_LOG_FAILED = "CONVERSATION_LOG_FAILED"
    UNDO = "UNDO"
    # trust (shared volumes) and edge bundles
    TRUST_REQUIRED = "TRUST_REQUIRED"
    TRUST_APPROVED = "TRUST_APPROVED"
    TRUST_WRITE_FAILED = "TRUST_WRITE_FAILED"
    BUNDLE_EXPORTED = "BUNDLE_EXPORTED"
    BUNDLE_IMPORTED = "BUNDLE_IMPORTED"


# An event's time: ``clock.iso_utc_us`` (microseconds: events within one second keep their
# order; ``parse_ts`` reads any precision).
now_iso = iso_utc_us
parse_ts = parse_iso


def new_event_id() -> str:
    return "e_" + os.urandom(8).hex()  # 16 random hex digits (uuid costs an import)


@record
class Event:
    """One record of the event log."""

    type: str
    data: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=new_event_id)
    ts: str = field(default_factory=now_iso)
    notify_user: bool = False
    source: str | None = None
    title: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "ts": self.ts,
            "type": self.type,
            "notify_user": self.notify_user,
            "data": self.data,
        }
        if self.source:
            out["source"] = self.source
        if self.title:
            out["title"] = self.title
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, default=str)

    @property
    def time(self) -> _dt.datetime | None:
        return parse_ts(self.ts)

    @classmethod
    def from_dict(cls, raw: Any) -> "Event":
        """Raises ValueError/KeyError/TypeError for anything that is not an event."""
        if not isinstance(raw, dict):
            raise TypeError("not an object")
        data = raw.get("data") or {}
        if not isinstance(data, dict):
            raise TypeError("data is not an object")
        ident, ts, kind = raw["id"], raw["ts"], raw["type"]
        if not all(isinstance(v, str) and v for v in (ident, ts, kind)):
            raise TypeError("id, ts and type must be non-empty strings")
        source, title = raw.get("source"), raw.get("title")
        return cls(
            type=kind,
            data=data,
            id=ident,
            ts=ts,
            notify_user=bool(raw.get("notify_user")),
            source=source if isinstance(source, str) else None,
            title=title if isinstance(title, str) else None,
        )
