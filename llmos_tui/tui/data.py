"""What the panes show, read from the engine in worker threads (never on the UI thread).

Each loader returns a plain record; the app hands it down to a widget (attributes down). The
functions only call the engine's public APIs and shape their answers for display; they decide
nothing about modes, traces or policy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from .format import VALENCE

if TYPE_CHECKING:  # pragma: no cover
    from ..config import LLMOSConfig


# ---- internal state (gauge) ---------------------------------------------------------------------


@dataclass(frozen=True)
class StateView:
    """The gauge: valence, latent mode, policy, user model, thoughts, budget, last mode."""

    valence: dict[str, float]
    effective: dict[str, float]
    setpoints: dict[str, float]
    latent_mode: str
    mode_reason: str
    policy: dict[str, Any]
    user_model: dict[str, Any]
    recent_triggers: list[dict[str, Any]]
    thoughts: list[str]
    half_life_minutes: float
    enabled: bool
    budget_usd: float
    balance_usd: float
    spent_usd: float
    last_mode: str | None = None
    last_cost_usd: float | None = None
    #: Change of each variable since the previous view (set by ``with_deltas``).
    deltas: dict[str, float] = field(default_factory=dict)

    def with_deltas(self, previous: "StateView | None") -> "StateView":
        if previous is None:
            return self
        deltas = {
            k: round(self.valence[k] - previous.valence.get(k, self.valence[k]), 4) for k in VALENCE
        }
        import dataclasses

        return dataclasses.replace(
            self, deltas={k: v for k, v in deltas.items() if abs(v) >= 0.005}
        )


def load_state_view(
    kernel: Any, *, last_mode: str | None = None, last_cost_usd: float | None = None
) -> StateView:
    """Read the sentience runtime and the economy (file I/O: call from a worker)."""
    rt = kernel.sentience
    snap = rt.snapshot()
    details = rt.details()
    economy = kernel.economy.report()
    policy = dict(snap.get("policy") or {})
    valence = {k: float(snap["valence"].get(k, 0.0)) for k in VALENCE}
    effective = {k: float((policy.get("effective") or {}).get(k, valence[k])) for k in VALENCE}
    return StateView(
        valence=valence,
        effective=effective,
        setpoints={k: float(details.get("setpoints", {}).get(k, 0.0)) for k in VALENCE},
        latent_mode=str(snap.get("latent_mode") or "BALANCED"),
        mode_reason=str(policy.get("mode_reason") or ""),
        policy=policy,
        user_model=dict(snap.get("user_model") or {}),
        recent_triggers=list(snap.get("recent_triggers") or []),
        thoughts=list(details.get("monologue") or []),
        half_life_minutes=float(details.get("half_life_minutes") or 0.0),
        enabled=bool(policy.get("enabled", True)),
        budget_usd=float(economy["budget_usd"]),
        balance_usd=float(economy["balance_usd"]),
        spent_usd=float(economy["spent_usd"]),
        last_mode=last_mode,
        last_cost_usd=last_cost_usd,
    )


def recent_traces(kernel: Any, limit: int = 20) -> list[Any]:
    """The newest ``limit`` full traces of the user's visible volumes (for the inner monologue)."""
    entries = kernel.store.index.entries(kernel.visible_volumes())
    newest = sorted(entries, key=lambda e: (e.last_used or e.created_at or "", e.id))[-limit:]
    shown = {e.id for e in newest}
    # Older crystallized traces first: the monologue must know a goal is crystallized already.
    newest = [e for e in entries if e.crystallized_tool and e.id not in shown][-limit:] + newest
    out = []
    for entry in newest:
        try:
            out.append(kernel.store.get(entry.id))
        except Exception:  # noqa: BLE001 - a malformed trace is skipped, never fatal
            continue
    return out


# ---- traces --------------------------------------------------------------------------------------

#: Columns of the trace browser: key, label, width (None: computed from the space left).
TRACE_COLUMNS: tuple[tuple[str, str, int | None], ...] = (
    ("goal", "Goal", None),
    ("mode", "Mode", 12),
    ("uses", "Uses", 5),
    ("success", "Success", 7),
    ("saved", "Saved", 8),
    ("last_used", "Last used", 16),
    ("tool", "Tool", 14),
)
#: The same on a narrow pane: dates without the time, a shorter tool name.
TRACE_COLUMNS_NARROW: tuple[tuple[str, str, int | None], ...] = (
    ("goal", "Goal", None),
    ("mode", "Mode", 8),
    ("uses", "Uses", 4),
    ("success", "Success", 7),
    ("saved", "Saved", 7),
    ("last_used", "Last used", 10),
    ("tool", "Tool", 8),
)
NARROW_TABLE = 110
#: The order ``s`` cycles through, and whether each sorts descending first.
SORT_KEYS: tuple[str, ...] = ("last_used", "uses", "success", "saved", "goal", "mode", "tool")
DESCENDING_FIRST = {"last_used", "uses", "success", "saved"}
#: Rows put in the table at once: the rest are reached by filtering (or sorting).
DISPLAY_LIMIT = 500


@dataclass(frozen=True, slots=True)
class TraceRow:
    id: str
    goal: str
    mode: str
    uses: int
    success_rate: float
    saved_usd: float
    last_used: str
    tool: str
    volume: str
    haystack: str

    @classmethod
    def from_entry(cls, e: Any) -> "TraceRow":
        tool = e.crystallized_tool or ""
        tools = " ".join(e.tools_used or ())
        return cls(
            id=e.id,
            goal=e.goal,
            mode=e.mode,
            uses=int(e.usage_count),
            success_rate=float(e.success_rate),
            saved_usd=cost_saved(e.cost_usd, e.success_count, e.outcome),
            last_used=e.last_used or e.created_at or "",
            tool=tool,
            volume=e.volume,
            haystack=f"{e.goal} {e.mode} {e.id} {tool} {e.volume} {tools}".lower(),
        )


def cost_saved(cost_usd: float, successes: int, outcome: str = "success") -> float:
    """An estimate: every successful use after the recording run would have cost what that run
    cost. A trace whose recording failed saved nothing; failed replays save nothing."""
    if outcome != "success":
        return 0.0
    return round(float(cost_usd or 0.0) * max(0, int(successes) - 1), 6)


def load_trace_rows(kernel: Any) -> list[TraceRow]:
    """Every trace the user can see (own, team, system), as rows (reads the index only). A trace
    promoted to the team or system volume is a copy of the same recording (same goal and creation
    time): the copies' savings are counted once, on the copy with the most successes."""
    import dataclasses

    visible = kernel.store.index.entries(kernel.visible_volumes())
    rows = [TraceRow.from_entry(e) for e in visible]
    entries = {e.id: e for e in visible}
    groups: dict[tuple[str, str], list[int]] = {}
    for i, row in enumerate(rows):
        e = entries[row.id]
        groups.setdefault((e.signature, e.created_at), []).append(i)
    order = {"users": 0, "teams": 1, "system": 2}
    for members in groups.values():
        if len(members) < 2:
            continue
        keep = max(
            members,
            key=lambda i: (
                entries[rows[i].id].success_count,
                -order.get(rows[i].volume.split("/", 1)[0], 3),
            ),
        )
        for i in members:
            if i != keep and rows[i].saved_usd:
                rows[i] = dataclasses.replace(rows[i], saved_usd=0.0)
    return rows


def filter_rows(rows: Sequence[TraceRow], text: str) -> list[TraceRow]:
    """Rows whose goal, mode, id, tool, volume or tools contain every word of ``text``."""
    words = text.lower().split()
    if not words:
        return list(rows)
    return [r for r in rows if all(w in r.haystack for w in words)]


def sort_rows(rows: list[TraceRow], key: str, descending: bool) -> list[TraceRow]:
    getters = {
        "goal": lambda r: r.goal.lower(),
        "mode": lambda r: (r.mode, r.goal.lower()),
        "uses": lambda r: (r.uses, r.last_used),
        "success": lambda r: (r.success_rate, r.uses),
        "saved": lambda r: (r.saved_usd, r.uses),
        "last_used": lambda r: (r.last_used, r.id),
        "tool": lambda r: (
            (r.tool == "", r.tool.lower()) if not descending else (r.tool != "", r.tool.lower())
        ),
    }
    return sorted(rows, key=getters[key], reverse=descending)


@dataclass(frozen=True)
class TraceQuery:
    text: str = ""
    sort: str = "last_used"
    descending: bool = True


@dataclass(frozen=True)
class TraceListing:
    rows: list[TraceRow]
    matched: int
    total: int
    query: TraceQuery


def query_rows(
    rows: Sequence[TraceRow], query: TraceQuery, limit: int = DISPLAY_LIMIT
) -> TraceListing:
    found = sort_rows(filter_rows(rows, query.text), query.sort, query.descending)
    return TraceListing(found[:limit], len(found), len(rows), query)


@dataclass(frozen=True)
class TracePreview:
    id: str
    meta: list[tuple[str, str]]
    body: str
    tool: str | None


def load_trace_preview(kernel: Any, trace_id: str) -> TracePreview:
    """The trace's fields and its markdown body (without the frontmatter)."""
    from .format import format_when, money

    entry = kernel.store.entry(trace_id)
    text = kernel.store.read_text(trace_id)
    from edgekit.frontmatter import FrontmatterError, split

    try:
        body = split(text)[1].lstrip("\n")
    except FrontmatterError:
        body = text
    rate = (
        f"{entry.success_rate * 100:.0f}% ({entry.success_count} ok, {entry.failure_count} failed)"
    )
    meta = [
        ("id", entry.id),
        ("volume", entry.volume),
        ("mode", entry.mode),
        ("uses", str(entry.usage_count)),
        ("success", rate),
        (
            "cost",
            f"{money(entry.cost_usd)} to record · saved ≈ "
            f"{money(cost_saved(entry.cost_usd, entry.success_count, entry.outcome))}",
        ),
        ("created", format_when(entry.created_at)),
        ("last used", format_when(entry.last_used)),
        ("tools", ", ".join(entry.tools_used) or "—"),
    ]
    if entry.slots:
        meta.append(("slots", ", ".join(f"{k}={v}" for k, v in entry.slots.items())))
    meta.append(("crystallized", entry.crystallized_tool or "no"))
    return TracePreview(entry.id, meta, clip(body), entry.crystallized_tool)


@dataclass(frozen=True)
class ToolSource:
    id: str
    volume: str
    status: str
    path: str
    source: str
    goal: str


def load_tool_source(kernel: Any, trace_id: str) -> ToolSource | None:
    """The crystallized tool made from a trace (its module source, read not imported), or None."""
    from ..execution.replay.crystallized import list_tools

    entry = kernel.store.entry(trace_id)
    tools = list_tools(kernel.workspace, kernel.visible_volumes(), source_trace=trace_id)
    if entry.crystallized_tool:
        named = [t for t in tools if entry.crystallized_tool in (t.id, t.name)]
        tools = named or tools
    if not tools:
        return None
    tool = sorted(tools, key=lambda t: (t.active, t.version))[-1]
    source = tool.path.read_text(encoding="utf-8")
    return ToolSource(tool.id, tool.volume, tool.status, str(tool.path), source, tool.goal)


# ---- volumes --------------------------------------------------------------------------------------

#: Artifacts listed under one kind in the tree (the trace browser lists them all).
VOLUME_LIST_LIMIT = 300
#: Characters of a markdown file rendered in a preview (rendering is on the UI thread).
PREVIEW_CHARS = 30_000


def clip(text: str, limit: int = PREVIEW_CHARS) -> str:
    if len(text) <= limit:
        return text
    return (
        text[:limit]
        + f"\n\n… ({len(text) - limit:,} more characters: open the file to read them all)\n"
    )


@dataclass(frozen=True)
class VolumeSummary:
    scope: str
    type: str
    counts: dict[str, int]
    problems: int


def load_volumes(workspace: Any) -> list[VolumeSummary]:
    from ..volumes.volume import Volume, list_scopes

    out = []
    for scope in list_scopes(workspace):
        stats = Volume(workspace, scope).get_stats()
        out.append(VolumeSummary(scope, stats.type, dict(stats.counts), len(stats.problems)))
    return out


def list_volume_artifacts(workspace: Any, scope: str, kind: str) -> tuple[list[str], int]:
    """(the first names of a kind in a volume, how many there are)."""
    from ..volumes.volume import Volume

    names = Volume(workspace, scope).list_artifacts(kind)
    return names[:VOLUME_LIST_LIMIT], len(names)


@dataclass(frozen=True)
class ArtifactPreview:
    scope: str
    kind: str
    name: str
    files: dict[str, str]
    version: str | None
    provenance: dict[str, Any] | None
    size: int


def load_artifact(workspace: Any, scope: str, kind: str, name: str) -> ArtifactPreview:
    from ..volumes.volume import Volume

    volume = Volume(workspace, scope)
    files = {suffix: clip(text) for suffix, text in volume.read_artifact_files(kind, name).items()}
    info = volume.artifact_info(kind, name)
    return ArtifactPreview(
        scope, kind, name, files, info.version, volume.read_provenance(kind, name), info.size
    )


def promotion_target(scope: str, team: str) -> str | None:
    """Where an artifact of ``scope`` is promoted to: a user's to the team, a team's to system."""
    if scope.startswith("users/"):
        return f"teams/{team}"
    if scope.startswith("teams/"):
        return "system"
    return None


@dataclass(frozen=True)
class PromotionPlan:
    kind: str
    name: str
    from_scope: str
    to_scope: str
    criteria: list[str]
    verdict: str  # meets | does not meet | explicit | already
    reason: str


def plan_promotion(
    workspace: Any, config: LLMOSConfig, scope: str, kind: str, name: str
) -> PromotionPlan:
    """What promoting an artifact would do, with the configured criteria and whether it meets them."""
    from ..errors import UsageError
    from ..volumes.promotion import Promoter

    target = promotion_target(scope, config.team)
    if target is None:
        raise UsageError(
            "artifacts of the system volume are at the top already: there is nothing to promote to"
        )
    promoter = Promoter(workspace, config=config)
    c = promoter.criteria
    if target.startswith("teams/"):
        criteria = [
            f"used by at least {c.user_to_team_min_users} members of the team, or",
            f"at least {c.user_to_team_min_uses} uses at a success rate of {c.user_to_team_min_success:.0%} "
            "or better",
        ]
    else:
        criteria = [
            f"present in at least {c.team_to_system_min_teams} team volumes",
            f"at a success rate of {c.team_to_system_min_success:.0%} or better where uses are counted",
        ]
    if kind not in ("traces", "tools"):
        return PromotionPlan(
            kind,
            name,
            scope,
            target,
            criteria,
            "explicit",
            f"{kind} are promoted explicitly, not by criteria",
        )
    if target.startswith("teams/"):
        candidates = promoter.user_to_team_candidates(target.split("/", 1)[1], include_done=True)
    else:
        candidates = promoter.team_to_system_candidates(include_done=True)
    for cand in candidates:
        if cand.kind == kind and cand.name == name and cand.from_scope == scope:
            if cand.already_promoted:
                return PromotionPlan(
                    kind,
                    name,
                    scope,
                    target,
                    criteria,
                    "already",
                    f"already in {target} ({cand.reason})",
                )
            return PromotionPlan(kind, name, scope, target, criteria, "meets", cand.reason)
    return PromotionPlan(
        kind,
        name,
        scope,
        target,
        criteria,
        "does not meet",
        "it does not meet the criteria yet (you may still promote it yourself)",
    )


# ---- inbox ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InboxItem:
    id: str
    ts: str
    type: str
    title: str
    source: str
    summary: str
    state: str  # unread | read | pending | accepted | rejected | failed
    is_proposal: bool
    pending: bool
    preview: str
    kind: str | None
    detail: dict[str, Any]
    haystack: str


def inbox_items(hub: Any, *, include_read: bool = False) -> list[InboxItem]:
    """Notifications newest first (pending only unless ``include_read``)."""
    from ..observability.inbox import title_of

    out = []
    for n in hub.get_notifications(include_read=include_read):
        ev = n.event
        data = ev.data
        summary = str(data.get("summary") or data.get("reason") or data.get("message") or "")
        detail: dict[str, Any] = {}
        for key in ("volume", "kind", "name", "path", "error"):
            if data.get(key):
                detail[key] = data[key]
        if n.is_proposal:
            detail.update(
                {
                    k: v
                    for k, v in (
                        ("decision", n.decision),
                        ("decided by", n.decided_by),
                        ("result", n.result),
                        ("reason", n.reason),
                    )
                    if v
                }
            )
            if n.failures:
                detail["last failure"] = n.failures[-1].get("error")
        title = title_of(ev)
        source = ev.source or ""
        out.append(
            InboxItem(
                id=ev.id,
                ts=ev.ts,
                type=str(ev.type),
                title=title,
                source=source,
                summary=summary,
                state=n.state,
                is_proposal=n.is_proposal,
                pending=n.pending,
                preview=str(data.get("preview") or ""),
                kind=data.get("kind") if n.is_proposal else None,
                detail=detail,
                haystack=f"{title} {ev.type} {source} {summary} {data.get('kind') or ''}".lower(),
            )
        )
    out.sort(key=lambda i: (i.ts, i.id), reverse=True)
    return out


def filter_inbox(items: Iterable[InboxItem], text: str) -> list[InboxItem]:
    words = text.lower().split()
    return [i for i in items if all(w in i.haystack for w in words)]


def unread_count(hub: Any) -> int:
    return len(hub.get_pending_notifications())


# ---- crons ------------------------------------------------------------------------------------------

CRON_LEVELS = ("user", "team", "system")


@dataclass(frozen=True)
class CronLine:
    """One of this user's crons as ``cron_status`` reports it (persisted in ``state/crons.json``)."""

    level: str
    cron_id: str
    last_status: str | None
    last_run: str | None
    next_due: str | None
    last_error: str | None
    consecutive_failures: int


def load_cron_lines(workspace: Any, config: LLMOSConfig) -> list[CronLine]:
    """The user's own cron, their team's and the system's, in that order."""
    from ..evolution.crons import cron_status

    rows = cron_status(workspace, config)["crons"]
    wanted = {"user": config.user, "team": config.team, "system": None}
    out = []
    for level in CRON_LEVELS:
        for row in rows:
            if row.get("level") != level:
                continue
            if level == "user" and row.get("user") != wanted["user"]:
                continue
            if level == "team" and row.get("team") != wanted["team"]:
                continue
            out.append(
                CronLine(
                    level,
                    str(row.get("cron_id")),
                    row.get("last_status"),
                    row.get("last_run"),
                    row.get("next_due"),
                    row.get("last_error"),
                    int(row.get("consecutive_failures") or 0),
                )
            )
            break
    return out


def seconds_until(iso: str | None, now: float | None = None) -> float | None:
    """Seconds from now to an ISO time (negative: in the past); None when missing or bad."""
    import datetime as dt

    if not iso:
        return None
    try:
        moment = dt.datetime.fromisoformat(str(iso).replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.timestamp() - (time.time() if now is None else now)
