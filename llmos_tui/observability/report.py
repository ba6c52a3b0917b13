"""The activity feed digested: what each cron did, created, evolved and promoted ("morning report").

``collect_activity(events, …)`` turns the events of a window into one JSON-ready dict;
``format_activity(activity)`` renders it as plain text for the terminal.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterable

from .events import Event, EventType as T

CREATED_TYPES = (T.ARTIFACT_CREATED, T.INSIGHT_GENERATED, T.SUGGESTION_CREATED, T.TOOL_CRYSTALLIZED)
EVOLVED_TYPES = (T.ARTIFACT_EVOLVED, T.AGENT_EVOLVED)
ALERT_TYPES = (
    T.SYSTEM_ALERT,
    T.CRON_FAILED,
    T.VOLUME_ACCESS_DENIED,
    T.PROMOTION_REFUSED,
    T.TRACE_SKIPPED,
    T.ARTIFACT_SKIPPED,
    T.PROPOSAL_FAILED,
    T.TOOL_REJECTED,
    T.TOOL_REFUSED,
    T.SENTIENCE_WARNING,
)
CRON_TYPES = (T.CRON_STARTED, T.CRON_COMPLETED, T.CRON_CYCLE_END, T.CRON_FAILED, T.CRON_STOPPED)
SECTION_LIMIT = 25


def volume_type(scope: Any) -> str | None:
    if not isinstance(scope, str):
        return None
    if scope == "system":
        return "system"
    if scope.startswith("teams/"):
        return "team"
    if scope.startswith("users/"):
        return "user"
    return None


def artifact_row(event: Event) -> dict[str, Any]:
    d = event.data
    kind = d.get("kind") or d.get("artifact_type")
    if not kind and event.type.startswith("TOOL_"):
        kind = "tools"
    elif not kind and event.type.startswith("AGENT_"):
        kind = "agents"
    row: dict[str, Any] = {
        "id": event.id,
        "ts": event.ts,
        "type": event.type,
        "source": event.source,
        "kind": kind,
        "name": d.get("name") or d.get("artifact_id") or d.get("tool"),
        "volume": d.get("volume") or d.get("to"),
        "title": event.title,
    }
    for key in ("from", "to", "version", "reason", "summary", "actor"):
        if d.get(key) is not None:
            row[key] = d[key]
    return row


def collect_activity(
    events: Iterable[Event],
    *,
    since: str,
    until: str,
    pending_notifications: int,
    open_proposals: int,
) -> dict[str, Any]:
    activity = _Activity()
    for event in events:
        activity.add(event)
    return activity.report(
        since=since,
        until=until,
        pending_notifications=pending_notifications,
        open_proposals=open_proposals,
    )


def _cron_row(cid: str, level: Any) -> dict[str, Any]:
    return {
        "cron": cid,
        "level": level,
        "started": 0,
        "completed": 0,
        "failed": 0,
        "seconds": 0.0,
        "last_run": None,
        "last_error": None,
        "created": 0,
        "evolved": 0,
        "promoted": 0,
        "insights": 0,
        "suggestions": 0,
        "proposals": 0,
        "tasks": [],
    }


#: the counters of the goals section, by event type
_TRACE_COUNTERS: dict[str, str] = {
    T.TRACE_RECORDED: "recorded",
    T.TRACE_REPLAYED: "replayed",
    T.TOOL_RUN: "tool_runs",
    T.TOOL_USED: "tool_runs",
}
_PROPOSAL_COUNTERS: dict[str, str] = {
    T.PROPOSAL_CREATED: "created",
    T.PROPOSAL_ACCEPTED: "accepted",
    T.PROPOSAL_REJECTED: "rejected",
}


class _Activity:
    """What ``collect_activity`` accumulates, one event at a time."""

    def __init__(self) -> None:
        self.crons: dict[str, dict[str, Any]] = {}
        self.created: list[dict[str, Any]] = []
        self.evolved: list[dict[str, Any]] = []
        self.promoted: list[dict[str, Any]] = []
        self.deleted: list[dict[str, Any]] = []
        self.alerts: list[dict[str, Any]] = []
        self.proposals: Counter[str] = Counter()
        self.goals: Counter[str] = Counter()
        self.goals_ok = 0
        self.traces: Counter[str] = Counter()
        self.by_type: Counter[str] = Counter()
        self.total = 0

    def cron(self, source: str | None) -> dict[str, Any] | None:
        """The row of the cron that emitted an event (None when it is not a known cron)."""
        if not source or source not in self.crons:
            return None
        return self.crons[source]

    def count_for_cron(self, source: str | None, *keys: str) -> None:
        row = self.cron(source)
        if row is not None:
            for key in keys:
                row[key] += 1

    def add(self, event: Event) -> None:
        self.total += 1
        kind = event.type
        self.by_type[kind] += 1
        if kind in CRON_TYPES:
            self.cron_event(event)
        self.artifact_or_count(event)
        if kind in ALERT_TYPES:
            self.alert(event)

    def cron_event(self, event: Event) -> None:
        """A cron started, completed (a cycle ended) or failed."""
        kind, d = event.type, event.data
        cid = event.source or str(d.get("cron_id") or "cron")
        row = self.crons.setdefault(cid, _cron_row(cid, d.get("level")))
        if d.get("level") and not row["level"]:
            row["level"] = d.get("level")
        if kind == T.CRON_STARTED:
            row["started"] += 1
        elif kind in (T.CRON_COMPLETED, T.CRON_CYCLE_END):
            row["completed"] += 1
            row["last_run"] = event.ts
            try:
                row["seconds"] += float(d.get("duration_s") or 0.0)
            except (TypeError, ValueError):
                pass
            for task in d.get("tasks") or []:
                if isinstance(task, str) and task not in row["tasks"]:
                    row["tasks"].append(task)
        elif kind == T.CRON_FAILED:
            row["failed"] += 1
            row["last_run"] = event.ts
            row["last_error"] = d.get("error")

    def artifact_or_count(self, event: Event) -> None:
        """Artifacts created, evolved, promoted or deleted (credited to their cron), proposals,
        finished goals, traces."""
        kind = event.type
        if kind in CREATED_TYPES:
            self.created.append(artifact_row(event))
            extra: dict[str, tuple[str, ...]] = {
                T.INSIGHT_GENERATED: ("insights",),
                T.SUGGESTION_CREATED: ("suggestions",),
            }
            self.count_for_cron(event.source, "created", *extra.get(kind, ()))
        elif kind in EVOLVED_TYPES:
            self.evolved.append(artifact_row(event))
            self.count_for_cron(event.source, "evolved")
        elif kind == T.ARTIFACT_PROMOTED:
            self.promoted.append(artifact_row(event))
            self.count_for_cron(event.source, "promoted")
        elif kind in (T.ARTIFACT_DELETED, T.TOOL_DEMOTED):
            self.deleted.append(artifact_row(event))
        elif kind in _PROPOSAL_COUNTERS:
            self.proposals[_PROPOSAL_COUNTERS[kind]] += 1
            if kind == T.PROPOSAL_CREATED:
                self.count_for_cron(event.source, "proposals")
        elif kind == T.GOAL_FINISHED:
            self.goals[str(event.data.get("mode") or "?")] += 1
            self.goals_ok += 1 if event.data.get("success") else 0
        elif kind in _TRACE_COUNTERS:
            self.traces[_TRACE_COUNTERS[kind]] += 1

    def alert(self, event: Event) -> None:
        d = event.data
        message = event.title or d.get("message") or d.get("error") or d.get("reason") or ""
        if d.get("path") and str(d["path"]) not in str(message):
            message = f"{d['path']}: {message}"
        self.alerts.append(
            {
                "id": event.id,
                "ts": event.ts,
                "type": event.type,
                "source": event.source,
                "message": message,
            }
        )

    def report(
        self, *, since: str, until: str, pending_notifications: int, open_proposals: int
    ) -> dict[str, Any]:
        proposals, goals, traces = self.proposals, self.goals, self.traces
        return {
            "since": since,
            "until": until,
            "events": self.total,
            "by_type": dict(self.by_type),
            "crons": sorted(self.crons.values(), key=lambda r: r["cron"]),
            "created": self.created,
            "evolved": self.evolved,
            "promoted": self.promoted,
            "deleted": self.deleted,
            "proposals": {
                "created": proposals["created"],
                "accepted": proposals["accepted"],
                "rejected": proposals["rejected"],
                "open": open_proposals,
            },
            "notifications": {"pending": pending_notifications},
            "alerts": self.alerts,
            "goals": {
                "total": sum(goals.values()),
                "succeeded": self.goals_ok,
                "by_mode": dict(goals),
                "traces_recorded": traces["recorded"],
                "replays": traces["replayed"],
                "tool_runs": traces["tool_runs"],
            },
        }


def _short(value: Any, width: int = 70) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _hm(ts: str | None) -> str:
    if not ts:
        return "-"
    return ts[:16].replace("T", " ")


def _artifact_line(mark: str, row: dict[str, Any]) -> str:
    where = row.get("volume") or "?"
    if row.get("from") and row.get("to"):
        where = f"{row['from']} -> {row['to']}"
    kind = row.get("kind") or row["type"].lower()
    title = f"  {_short(row['title'], 50)}" if row.get("title") else ""
    by = f"  (by {row['source']})" if row.get("source") else ""
    return f"  {mark} {kind}/{row.get('name') or '?'}  {where}{title}{by}"


def format_activity(activity: dict[str, Any], *, hours: float) -> str:
    lines = [f"llmos activity: the last {hours:g} h (since {_hm(activity['since'])} UTC)", ""]
    crons = activity["crons"]
    lines.append("Crons" if crons else "Crons: none ran in this window")
    for row in crons:
        cycles = row["completed"] + row["failed"]
        did = [
            f"{row[k]} {label}"
            for k, label in (
                ("insights", "insight(s)"),
                ("suggestions", "suggestion(s)"),
                ("created", "created"),
                ("evolved", "evolved"),
                ("promoted", "promoted"),
                ("proposals", "proposal(s)"),
            )
            if row[k]
        ]
        lines.append(
            f"  {row['cron']:<24} {cycles} cycle(s), {row['failed']} failed, {row['seconds']:.1f} s, "
            f"last {_hm(row['last_run'])}" + (f": {', '.join(did)}" if did else ": nothing new")
        )
        if row["tasks"]:
            lines.append(f"      tasks: {_short(', '.join(row['tasks']), 90)}")
        if row["last_error"]:
            lines.append(f"      last error: {_short(row['last_error'], 90)}")
    for title, key, mark in (
        ("Created", "created", "+"),
        ("Evolved", "evolved", "~"),
        ("Promoted", "promoted", "^"),
        ("Removed or demoted", "deleted", "-"),
    ):
        rows = activity[key]
        if not rows:
            continue
        lines += ["", f"{title} ({len(rows)})"]
        for row in rows[-SECTION_LIMIT:]:
            lines.append(_artifact_line(mark, row))
        if len(rows) > SECTION_LIMIT:
            lines.append(f"  … and {len(rows) - SECTION_LIMIT} earlier")
    if not any(activity[k] for k in ("created", "evolved", "promoted", "deleted")):
        lines += ["", "No artifact was created, evolved or promoted."]
    p = activity["proposals"]
    lines += [
        "",
        f"Proposals: {p['created']} new, {p['accepted']} accepted, {p['rejected']} rejected, "
        f"{p['open']} waiting for a decision",
        f"Notifications: {activity['notifications']['pending']} pending (llmos inbox list)",
    ]
    g = activity["goals"]
    if g["total"] or g["traces_recorded"]:
        modes = ", ".join(f"{m} {n}" for m, n in sorted(g["by_mode"].items()))
        lines.append(
            f"Goals: {g['total']} run ({modes or 'none'}), {g['succeeded']} succeeded; "
            f"{g['traces_recorded']} trace(s) recorded, {g['replays']} replay(s), "
            f"{g['tool_runs']} crystallized tool run(s)"
        )
    alerts = activity["alerts"]
    if alerts:
        lines += ["", f"Alerts ({len(alerts)})"]
        for row in alerts[-SECTION_LIMIT:]:
            lines.append(
                f"  ! {_hm(row['ts'])} {row['type']}: {_short(row.get('message') or '', 80)}"
            )
    return "\n".join(lines)
