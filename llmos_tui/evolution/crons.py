"""Sentience crons: UserCron, TeamCron and SystemCron, background jobs that read volumes and write
real artifacts (ARCHITECTURE.md, "Crons, sentience, evolution").

One cycle (``run_cycle``) runs a list of tasks under the cron's identity (``acl.py``: a UserCron
writes only its user volume and reads its team's; a TeamCron writes its team volume and reads
its members' and the system's; the SystemCron writes all):

No cron ever executes untrusted content (``learning/trust.py``): a shared or imported trace that is
not approved is not crystallized (the verification would run its calls); the cycle skips it, says so
in ``problems`` and leaves one ``trust.approve`` inbox item per content hash showing its calls.

UserCron (``crons.user_interval_minutes``, 30 by default)
    analyse the user's traces through the EvolutionEngine (``evolution/engine.py``): usage and
    failure patterns become ``insights/``, crystallization candidates and recurring failures
    ``suggestions/``; eligible traces are crystallized (``learning.auto_crystallization``, else
    proposed); duplicate traces, stale traces, superseded tools and new agents are proposed;
    artifacts that meet the user → team promotion criteria are flagged in a suggestion; due
    workspace agents are evolved (``adaptation.auto_evolve``) or proposed.
TeamCron (``crons.team_interval_minutes``, 60)
    pull the team volume (git), compare the members' traces (``insights/team-patterns.md``),
    promote what meets ``promotion.*`` (a crystallized tool travels with its trace; with
    ``crons.auto_promote: false`` it is proposed instead), analyse the team volume like a user
    volume, then commit and push.
SystemCron (``crons.system_interval_minutes``, 120)
    pull every git-backed volume, check the health of all volumes (unreadable files, skipped
    traces, failing crons, sync failures: ``insights/system-health.md`` and a ``SYSTEM_ALERT``
    when it changes for the worse), compare all volumes (``insights/global-patterns.md``),
    promote team → system, analyse the system volume, remove stale temporaries, push.

Optional (``crons.llm_insights``, off by default): when a cycle wrote or changed findings, one
Messages-API call (``anthropic`` SDK, ``ANTHROPIC_BASE_URL``/``ANTHROPIC_API_KEY``) turns them
into a short written review (``insights/llm-review-<date>.md``), within ``crons.llm_budget_usd``
per cycle and the workspace budget; the spend is charged to ``state/economy.json`` (mode CRON).

Every cycle records ``CRON_STARTED`` and then ``CRON_COMPLETED`` (with what it created, evolved,
promoted, archived and proposed) or ``CRON_FAILED``; the events of its writes carry the cron's
id (``user_cron:alice``, ``team_cron:eng``, ``system_cron``) as source, so ``llmos activity``
attributes them. A task that raises does not stop the others; the cycle is then ``failed``,
recorded, and retried with backoff (``state/crons.json``: last run, next due, last error,
consecutive failures). ``run_cycle`` never raises: the TUI runs it in a worker thread. Two
cycles of the same cron never overlap (a non-blocking lock; the second reports ``skipped``).

Configuration read here (all optional, with these defaults): ``crons.{user,team,system}_interval_minutes``
(30/60/120), ``crons.auto_apply`` (proposal kinds the hub applies at once), ``crons.auto_promote``
(true), ``crons.trace_archive_days`` (30), ``crons.retry_minutes`` (1: first retry after a failure,
doubling up to 4 intervals), ``crons.llm_insights`` (false), ``crons.llm_budget_usd`` (0.02),
``models.cheap`` (the LLM review's model), ``volumes.git`` (see ``git_sync.py``).

Public API: ``run_cycle``, ``cron_status``, ``due_cycles``, ``run_due`` and the classes. ``now``
(a datetime or a timestamp) is the cycle's clock for scheduling and ages; events keep real time.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import json
import os
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from ..atomic import atomic_write_json, file_lock
from ..clock import iso_utc, parse_iso
from ..errors import LLMOSError, UsageError
from ..observability.events import EventType
from ..workspace import Workspace, safe_id
from ..volumes.acl import Identity, team_members, teams_of

if TYPE_CHECKING:  # pragma: no cover
    from ..config import LLMOSConfig

LEVELS = ("user", "team", "system")
STATE_FILE = "crons.json"
MAX_BACKOFF_INTERVALS = 4
LLM_MAX_TOKENS = 700
LLM_TIMEOUT_S = 60.0
TMP_MAX_AGE_S = 3600.0
_CREATED = {
    EventType.ARTIFACT_CREATED,
    EventType.INSIGHT_GENERATED,
    EventType.SUGGESTION_CREATED,
    EventType.TOOL_CRYSTALLIZED,
}
_EVOLVED = {EventType.ARTIFACT_EVOLVED, EventType.AGENT_EVOLVED}


# ---- small helpers ----------------------------------------------------------------------------


def _moment(now: Any) -> _dt.datetime:
    if now is None:
        return _dt.datetime.now(_dt.timezone.utc)
    if isinstance(now, bool):
        raise UsageError("now must be a datetime or a timestamp")
    if isinstance(now, (int, float)):
        return _dt.datetime.fromtimestamp(float(now), _dt.timezone.utc)
    if isinstance(now, _dt.datetime):
        return now if now.tzinfo else now.replace(tzinfo=_dt.timezone.utc)
    raise UsageError(f"now must be a datetime or a timestamp, not {type(now).__name__}")


def interval_minutes(config: LLMOSConfig, level: str) -> float:
    crons = config.crons
    return {
        "user": crons.user_interval_minutes,
        "team": crons.team_interval_minutes,
        "system": crons.system_interval_minutes,
    }[level]


def _workspace(workspace: Any) -> Workspace:
    if isinstance(workspace, Workspace):
        return workspace
    if isinstance(workspace, (str, os.PathLike)):
        return Workspace(Path(workspace).expanduser().resolve())
    raise UsageError(f"a workspace or its folder is needed, not {type(workspace).__name__}")


class SourcedEvents:
    """The hub, with a default ``source`` for events recorded without one (the crystallizer's,
    the agent manager's), so everything a cycle does is attributed to its cron."""

    def __init__(self, hub: Any, source: str) -> None:
        self._hub = hub
        self._source = source

    def record(self, type: EventType, *, source: str | None = None, **kwargs: Any) -> Any:
        return self._hub.record(type, source=source or self._source, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._hub, name)


@contextlib.contextmanager
def _try_lock(path: Path) -> Iterator[bool]:
    """A non-blocking exclusive lock: yields False when another holder has it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


# ---- the report ---------------------------------------------------------------------------------


@dataclass
class CycleReport:
    cron_id: str
    level: str
    user: str | None = None
    team: str | None = None
    status: str = "completed"  # completed | failed | skipped
    started_at: str = ""
    finished_at: str = ""
    duration_s: float = 0.0
    tasks: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    created: list[dict[str, Any]] = field(default_factory=list)
    evolved: list[dict[str, Any]] = field(default_factory=list)
    promoted: list[dict[str, Any]] = field(default_factory=list)
    archived: list[dict[str, Any]] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)
    proposals: list[dict[str, Any]] = field(default_factory=list)
    crystallized: list[str] = field(default_factory=list)
    insights: list[str] = field(default_factory=list)
    suggestions: list[str] = field(default_factory=list)
    sync: list[dict[str, Any]] = field(default_factory=list)
    problems: list[dict[str, str]] = field(default_factory=list)
    task_errors: list[dict[str, str]] = field(default_factory=list)
    llm: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    next_due: str | None = None
    consecutive_failures: int = 0

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    def counts(self) -> dict[str, int]:
        return {
            "created": len(self.created),
            "evolved": len(self.evolved),
            "promoted": len(self.promoted),
            "archived": len(self.archived),
            "refused": len(self.refused),
            "proposals": sum(
                1 for p in self.proposals if p.get("status") in ("proposed", "applied")
            ),
            "applied": sum(1 for p in self.proposals if p.get("status") == "applied"),
            "crystallized": len(self.crystallized),
            "insights": len(self.insights),
            "suggestions": len(self.suggestions),
            "problems": len(self.problems),
            "sync_failures": sum(1 for s in self.sync if not s.get("ok")),
            "task_errors": len(self.task_errors),
        }

    def summary(self) -> str:
        if self.status == "skipped":
            return self.error or "skipped"
        c = self.counts()
        parts = [
            f"{c[k]} {label}"
            for k, label in (
                ("insights", "insight(s)"),
                ("suggestions", "suggestion(s)"),
                ("crystallized", "tool(s) crystallized"),
                ("created", "created"),
                ("evolved", "evolved"),
                ("promoted", "promoted"),
                ("archived", "archived"),
                ("proposals", "proposal(s)"),
                ("problems", "unreadable file(s)"),
                ("sync_failures", "sync failure(s)"),
            )
            if c[k]
        ]
        text = ", ".join(parts) or "nothing new"
        if self.status == "failed":
            text += f"; FAILED: {self.error}"
        return text

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["counts"] = self.counts()
        data["summary"] = self.summary()
        return data


# ---- the crons ------------------------------------------------------------------------------------

Task = Callable[["CycleReport"], None]


class Cron:
    """One cron of a workspace; ``run_cycle()`` does one cycle and returns its report."""

    level = ""

    def __init__(
        self, workspace: Any, config: LLMOSConfig, *, hub: Any = None, now: Any = None
    ) -> None:
        self.workspace = _workspace(workspace)
        self.config = config
        if hub is None:
            from ..observability.hub import ObservabilityHub

            hub = ObservabilityHub(self.workspace, config=config)
        self.hub = hub
        self.now = _moment(now)
        self.identity = self._identity()
        self.cron_id = self.identity.label
        self.events = SourcedEvents(hub, self.cron_id)
        from .engine import register_appliers

        register_appliers(hub)  # auto_apply kinds are applied in this process
        self._store: Any = None
        self._engine: Any = None
        self.review_changed = False
        self.findings_text: list[str] = []

    # -- to override ---------------------------------------------------------------------------
    def _identity(self) -> Identity:
        raise NotImplementedError

    def tasks(self) -> list[tuple[str, Task]]:
        raise NotImplementedError

    @property
    def user(self) -> str | None:
        return self.identity.user

    @property
    def team(self) -> str | None:
        return self.identity.team

    # -- shared services ------------------------------------------------------------------------
    @property
    def store(self) -> Any:
        if self._store is None:
            from ..learning.index import TraceIndex
            from ..learning.store import TraceStore

            self._store = TraceStore(
                self.workspace,
                index=TraceIndex(self.workspace, events=self.events),
                events=self.events,
            )
        return self._store

    def volume(self, scope: str) -> Any:
        from ..volumes.volume import Volume

        return Volume(self.workspace, scope, identity=self.identity, events=self.events)

    def engine(self) -> Any:
        if self._engine is None:
            from .crystallizer import Crystallizer
            from .engine import EvolutionEngine

            crystallizer = Crystallizer(self.workspace, self.store, self.config, events=self.events)
            self._engine = EvolutionEngine(
                self.workspace,
                self.config,
                self.identity,
                self.events,
                store=self.store,
                crystallizer=crystallizer,
                now=self.now,
            )
        return self._engine

    # -- the cycle ---------------------------------------------------------------------------------
    def run_cycle(self) -> CycleReport:
        """One cycle; never raises (a failure is in the report, the log and the state file)."""
        report = CycleReport(
            self.cron_id, self.level, self.user, self.team, started_at=iso_utc(self.now)
        )
        started = time.monotonic()
        lock = (
            Path(self.workspace.state_dir) / "locks" / f"cron-{self.cron_id.replace(':', '-')}.lock"
        )
        try:
            with _try_lock(lock) as acquired:
                if not acquired:
                    report.status = "skipped"
                    report.error = f"another cycle of {self.cron_id} is running"
                    return self._finish(report, started, record=False)
                return self._cycle(report, started)
        except Exception as exc:  # noqa: BLE001 - a cycle never takes its caller down
            report.status = "failed"
            report.error = (
                exc.message if isinstance(exc, LLMOSError) else f"{type(exc).__name__}: {exc}"
            )
            return self._finish(report, started, record=True)

    def _cycle(self, report: CycleReport, started: float) -> CycleReport:
        try:
            self.hub.record_cron_started(
                self.cron_id, level=self.level, user=self.user, team=self.team
            )
        except Exception:
            pass
        unsubscribe = self._count_events(report)
        try:
            for name, task in self.tasks():
                t0 = time.monotonic()
                try:
                    task(report)
                    report.tasks.append(name)
                except Exception as exc:  # noqa: BLE001 - one task's failure must not stop the others
                    message = (
                        exc.message
                        if isinstance(exc, LLMOSError)
                        else f"{type(exc).__name__}: {exc}"
                    )
                    report.task_errors.append(
                        {"task": name, "error": message[:1000], "where": _where(exc)}
                    )
                finally:
                    report.timings[name] = round(time.monotonic() - t0, 3)
        finally:
            unsubscribe()
        if report.task_errors:
            report.status = "failed"
            report.error = "; ".join(f"{e['task']}: {e['error']}" for e in report.task_errors)[
                :2000
            ]
        return self._finish(report, started, record=True)

    def _count_events(self, report: CycleReport) -> Callable[[], None]:
        def on_event(event: Any) -> None:
            if event.source != self.cron_id:
                return
            row = {
                "type": event.type,
                "kind": event.data.get("kind")
                or (
                    "tools"
                    if event.type.startswith("TOOL_")
                    else "agents"
                    if event.type.startswith("AGENT_")
                    else None
                ),
                "name": event.data.get("name") or event.data.get("tool"),
                "volume": event.data.get("volume"),
                "event_id": event.id,
            }
            if event.type in _CREATED:
                report.created.append(row)
            elif event.type in _EVOLVED:
                report.evolved.append(row)
            elif event.type == EventType.ARTIFACT_PROMOTED:
                row["from"] = event.data.get("from")
                report.promoted.append(row)
            elif event.type == EventType.ARTIFACT_DELETED:
                report.archived.append(row)

        try:
            return self.hub.subscribe(on_event)
        except Exception:
            return lambda: None

    def _finish(self, report: CycleReport, started: float, *, record: bool) -> CycleReport:
        report.duration_s = round(time.monotonic() - started, 3)
        report.finished_at = iso_utc(self.now + _dt.timedelta(seconds=report.duration_s))
        if not record:
            return report
        try:
            state = update_state(self.workspace, self.config, report, self.now)
            report.next_due = state.get("next_due")
            report.consecutive_failures = int(state.get("consecutive_failures", 0))
        except Exception as exc:  # noqa: BLE001 - the state file is bookkeeping
            report.problems.append(
                {"path": f"state/{STATE_FILE}", "reason": f"cannot update: {exc}"}
            )
        counts = report.counts()
        data = {
            "user": self.user,
            "team": self.team,
            "counts": counts,
            "next_due": report.next_due,
            "created": len(report.created),
            "evolved": len(report.evolved),
            "promoted": len(report.promoted),
            "proposals": counts["proposals"],
            "crystallized": report.crystallized[:20],
            "sync": [
                {k: s.get(k) for k in ("scope", "ok", "pushed", "merged", "error")}
                for s in report.sync
            ],
        }
        try:
            if report.status == "failed":
                self.hub.record_cron_failed(
                    self.cron_id,
                    error=report.error or "failed",
                    level=self.level,
                    duration_s=report.duration_s,
                    tasks=report.tasks,
                    consecutive_failures=report.consecutive_failures,
                    **data,
                )
            else:
                self.hub.record_cron_completed(
                    self.cron_id,
                    duration_s=report.duration_s,
                    tasks=report.tasks,
                    summary=report.summary(),
                    level=self.level,
                    **data,
                )
        except Exception:
            pass
        return report

    # -- shared tasks --------------------------------------------------------------------------------
    def _analyse(self, scope: str, report: CycleReport, *, workspace_agents: bool = False) -> Any:
        """Review one volume: write its findings, crystallize, submit proposals."""
        volume = self.volume(scope)
        review = self.engine().review(volume, workspace_agents=workspace_agents)
        for p in review.problems:
            if p not in report.problems:
                report.problems.append(p)
        for finding in review.findings:
            self.write_finding(volume, finding, report)
        crystallizer = self.engine().crystallizer
        self._untrusted(scope, crystallizer, report)
        for trace in review.eligible:
            tool = crystallizer.maybe_crystallize(trace.id)
            if tool is not None:
                report.crystallized.append(tool.id)
            elif crystallizer.last_reason:
                report.problems.append(
                    {
                        "path": f"volumes/{scope}/traces/{trace.id}.md",
                        "reason": f"not crystallized: {crystallizer.last_reason}",
                    }
                )
        self._submit(review.proposals, report)
        return review

    def _untrusted(self, scope: str, crystallizer: Any, report: CycleReport) -> None:
        """Crons never execute untrusted content (crystallization verification runs the calls): a trace
        that would have been crystallized but is shared or imported and not approved is skipped, and
        one inbox item per content hash asks the user to approve it (``learning/trust.py``)."""
        from ..learning.trust import request_approval

        pending, crystallizer.untrusted = dict(crystallizer.untrusted), {}
        for trace in pending.values():
            path = f"volumes/{scope}/traces/{trace.id}.md"
            try:
                entry = self.store.entry(trace.id)
                path = entry.path
                request_approval(
                    self.workspace,
                    self.config,
                    self.store,
                    trace,
                    entry,
                    source=self.cron_id,
                    reason=f"{self.cron_id} would crystallize it (its verification runs these calls)",
                )
            except (LLMOSError, OSError) as exc:
                report.problems.append(
                    {
                        "path": path,
                        "reason": f"approval request failed: {getattr(exc, 'message', exc)}",
                    }
                )
            report.problems.append(
                {
                    "path": path,
                    "reason": "not crystallized: untrusted (shared or imported, not "
                    f"approved); approve it with `llmos traces approve {trace.id}`",
                }
            )

    def _submit(self, proposals: list[Any], report: CycleReport) -> None:
        for sub in self.engine().submit(proposals, source=self.cron_id):
            if sub.status != "duplicate":
                report.proposals.append(sub.to_dict())

    def localized(self, scope: str, finding: Any) -> Any:
        """A finding that describes this workspace's own view (its members, its health) gets the
        workspace's id in its name when the volume is shared through git: every workspace keeps
        its own file instead of overwriting the others' on each cycle."""
        from ..volumes.git_sync import git_remotes

        try:
            shared = scope in git_remotes(self.config)
        except LLMOSError:
            shared = False
        if shared:
            finding.name = f"{finding.name}-{workspace_id(self.workspace)}"
        return finding

    def write_finding(self, volume: Any, finding: Any, report: CycleReport) -> None:
        existed = volume.has_artifact(finding.kind, finding.name)
        text = finding.render(scope=volume.scope, source=self.cron_id)
        new_type = (
            EventType.INSIGHT_GENERATED
            if finding.kind == "insights"
            else EventType.SUGGESTION_CREATED
        )
        res = volume.write_artifact(
            finding.kind,
            finding.name,
            text,
            event_type=None if existed else new_type,
            notify_user=not existed,
            title=finding.title,
            reason=finding.summary,
            event_data={"summary": finding.summary, "evolver": finding.evolver},
        )
        if res.action == "unchanged":
            return
        path = res.info.files.get(".md", f"volumes/{volume.scope}/{finding.kind}/{finding.name}.md")
        (report.insights if finding.kind == "insights" else report.suggestions).append(path)
        self.review_changed = True
        self.findings_text.append(
            f"## {finding.title} ({volume.scope})\n{finding.summary}\n\n{finding.body[:3000]}"
        )

    def _git(self, scope: str, report: CycleReport, *, push: bool) -> None:
        from ..volumes.git_sync import git_volume

        gv = git_volume(self.workspace, self.config, scope, events=self.events)
        if gv is None:
            return
        result = gv.sync(f"llmos {self.cron_id}: {report.summary()}") if push else gv.pull()
        report.sync.append(result.to_dict())

    def _git_all(self, report: CycleReport, *, push: bool, scopes: list[str] | None = None) -> None:
        from ..volumes.git_sync import git_remotes

        for scope in git_remotes(self.config):
            if scopes is None or scope in scopes:
                self._git(scope, report, push=push)

    def _promote(self, candidates: list[Any], report: CycleReport) -> None:
        """Promote (or propose) each candidate; a crystallized trace goes up with its tool."""
        from .evolvers import Proposal, short_hash
        from ..volumes.promotion import Promoter, PromotionConflict

        promoter = Promoter(self.workspace, config=self.config, events=self.events)
        auto = self.config.crons.auto_promote
        proposals = []
        for cand in candidates:
            kind, name = cand.kind, cand.name
            if kind == "traces":
                tool = self._active_tool_of(cand.from_scope, name)
                if tool is not None:
                    kind, name = "tools", tool
            reason = f"{cand.rule}: {cand.reason}"
            evidence = {
                "rule": cand.rule,
                "owners": cand.owners,
                "uses": cand.uses,
                "successes": cand.successes,
                "failures": cand.failures,
                "success_rate": cand.success_rate,
            }
            if not auto:
                proposals.append(
                    Proposal(
                        "artifact.promote",
                        f"Promote {kind[:-1]} {name} to {cand.to_scope}",
                        f"{kind}/{name} in {cand.from_scope} meets the promotion criteria ({cand.reason}).",
                        f"{cand.from_scope}/{kind}/{name} -> {cand.to_scope}",
                        {
                            "kind": kind,
                            "name": name,
                            "from": cand.from_scope,
                            "to": cand.to_scope,
                            "reason": reason,
                            "evidence": evidence,
                        },
                        f"artifact.promote:{cand.from_scope}:{kind}:{name}:{cand.to_scope}:{short_hash(cand.uses // 5)}",
                        cand.to_scope,
                        "promotion",
                    )
                )
                continue
            try:
                result = promoter.promote(
                    kind,
                    name,
                    from_scope=cand.from_scope,
                    to_scope=cand.to_scope,
                    identity=self.identity,
                    reason=reason,
                    evidence=evidence,
                )
            except PromotionConflict as exc:
                report.refused.append(
                    {
                        "kind": kind,
                        "name": name,
                        "from": cand.from_scope,
                        "to": cand.to_scope,
                        "reason": exc.message,
                    }
                )
                continue
            except LLMOSError as exc:
                report.refused.append(
                    {
                        "kind": kind,
                        "name": name,
                        "from": cand.from_scope,
                        "to": cand.to_scope,
                        "reason": exc.message,
                    }
                )
                continue
            if result.status == "unchanged":
                continue
        self._submit(proposals, report)

    def _active_tool_of(self, scope: str, trace_id: str) -> str | None:
        from ..execution.replay.crystallized import list_tools

        try:
            trace = self.store.get(trace_id)
        except LLMOSError:
            return None
        if not trace.crystallized_tool:
            return None
        for tool in list_tools(self.workspace, [scope], source_trace=trace_id):
            if tool.id == trace.crystallized_tool and tool.active:
                return tool.id
        return None

    def _llm_task(self, scope: str) -> Task:
        def task(report: CycleReport) -> None:
            write_llm_insight(self, scope, report)

        return task


class UserCron(Cron):
    level = "user"

    def __init__(
        self, workspace: Any, config: LLMOSConfig, user: str, team: str | None = None, **kw: Any
    ) -> None:
        self._user = safe_id(user, "user")
        self._team = safe_id(team, "team") if team else None
        super().__init__(workspace, config, **kw)

    def _identity(self) -> Identity:
        return Identity.user_cron(self._user, self._team)

    @property
    def scope(self) -> str:
        return f"users/{self._user}"

    def tasks(self) -> list[tuple[str, Task]]:
        tasks: list[tuple[str, Task]] = [
            ("analyse", self._task_analyse),
            ("promotion_candidates", self._task_flags),
        ]
        if self._user == self.config.user:
            tasks.append(
                ("facts", self._task_facts)
            )  # L4 memory: facts stated in this workspace's sessions
        if self.config.crons.llm_insights:
            tasks.append(("llm_insight", self._llm_task(self.scope)))
        return tasks

    def _task_facts(self, report: CycleReport) -> None:
        from ..memory.facts import extract_from_sessions

        extracted = extract_from_sessions(self.workspace, config=self.config)
        for fact in extracted.new:
            report.created.append(
                {
                    "kind": "fact",
                    "name": str(fact.get("id") or fact.get("text", ""))[:80],
                    "scope": "memories/facts",
                }
            )

    def _task_analyse(self, report: CycleReport) -> None:
        workspace_agents = self._user == self.config.user
        self._analyse(self.scope, report, workspace_agents=workspace_agents)

    def _task_flags(self, report: CycleReport) -> None:
        """Flag what already meets the user → team criteria on its own (uses and success)."""
        from .evolvers import Finding, md_cell
        from ..volumes.promotion import PromotionCriteria, promoted_trace_id

        if not self._team:
            return
        crit = PromotionCriteria.from_config(self.config)
        team_scope = f"teams/{self._team}"
        team = self.volume(team_scope)
        rows = []
        for trace in self.store.iter_traces([self.scope]):
            done = trace.success_count + trace.failure_count
            rate = trace.success_count / done if done else 0.0
            if (
                trace.outcome != "success"
                or trace.usage_count < crit.user_to_team_min_uses
                or rate < crit.user_to_team_min_success
            ):
                continue
            if team.has_artifact("traces", promoted_trace_id(trace.signature, team_scope)):
                continue
            rows.append(
                f"- `{trace.id}` {md_cell(trace.goal, 70)}: {trace.usage_count} uses at {rate:.0%} "
                + (
                    f"(crystallized as `{trace.crystallized_tool}`)"
                    if trace.crystallized_tool
                    else ""
                )
            )
        if not rows:
            return
        body = "\n".join(
            [
                f"These meet the user → team criteria ({crit.user_to_team_min_uses}+ uses at "
                f"{crit.user_to_team_min_success:.0%}+ success) and are not in `{team_scope}` yet. "
                f"The TeamCron of {self._team} promotes them on its next cycle; "
                f"`llmos volumes promote KIND NAME --from {self.scope} --to {team_scope}` does it now.",
                "",
                *rows,
            ]
        )
        self.write_finding(
            self.volume(self.scope),
            Finding(
                "suggestions",
                "promotion-candidates",
                f"Ready for team {self._team}",
                f"{len(rows)} artifact(s) ready for {team_scope}",
                body,
                "promotion",
            ),
            report,
        )


class TeamCron(Cron):
    level = "team"

    def __init__(self, workspace: Any, config: LLMOSConfig, team: str, **kw: Any) -> None:
        self._team = safe_id(team, "team")
        super().__init__(workspace, config, **kw)

    def _identity(self) -> Identity:
        return Identity.team_cron(self._team)

    @property
    def scope(self) -> str:
        return f"teams/{self._team}"

    def tasks(self) -> list[tuple[str, Task]]:
        def pull(r: CycleReport) -> None:
            self._git(self.scope, r, push=False)
            self._git("system", r, push=False)

        tasks: list[tuple[str, Task]] = [
            ("pull", pull),
            ("aggregate", self._task_aggregate),
            ("promote", self._task_promote),
            ("analyse", lambda r: self._analyse(self.scope, r)),
        ]
        if self.config.crons.llm_insights:
            tasks.append(("llm_insight", self._llm_task(self.scope)))
        tasks.append(("push", lambda r: self._git(self.scope, r, push=True)))
        return tasks

    def _task_aggregate(self, report: CycleReport) -> None:
        from .evolvers import shared_patterns

        members = team_members(self.workspace, self._team)
        scopes = [f"users/{m}" for m in members]
        if not scopes:
            return
        try:
            self.store.index.resync(scopes)
        except LLMOSError as exc:
            report.problems.append({"path": "state/index.json", "reason": exc.message})
        by_owner: dict[str, list[Any]] = {m: [] for m in members}
        for trace in self.store.iter_traces(scopes):
            entry = self.store.index.get(trace.id)
            if entry is not None:
                by_owner[entry.volume.split("/", 1)[1]].append(trace)
        for finding in shared_patterns(
            by_owner,
            name="team-patterns",
            title=f"Team {self._team}: shared patterns",
            owner_word="member",
            where=f"team {self._team}",
        ):
            self.write_finding(self.volume(self.scope), self.localized(self.scope, finding), report)

    def _task_promote(self, report: CycleReport) -> None:
        from ..volumes.promotion import Promoter

        candidates = Promoter(
            self.workspace, config=self.config, events=self.events
        ).user_to_team_candidates(self._team)
        self._promote(candidates, report)


class SystemCron(Cron):
    level = "system"

    def _identity(self) -> Identity:
        return Identity.system_cron()

    def tasks(self) -> list[tuple[str, Task]]:
        tasks: list[tuple[str, Task]] = [
            ("pull", lambda r: self._git_all(r, push=False)),
            ("health", self._task_health),
            ("aggregate", self._task_aggregate),
            ("promote", self._task_promote),
            ("analyse", lambda r: self._analyse("system", r)),
            ("cross_project", self._task_cross_project),
            ("cleanup", self._task_cleanup),
        ]
        if self.config.crons.llm_insights:
            tasks.append(("llm_insight", self._llm_task("system")))
        tasks.append(("push", lambda r: self._git_all(r, push=True)))
        return tasks

    def _task_cross_project(self, report: CycleReport) -> None:
        from ..projects.insights import write_cross_project_insights

        written = write_cross_project_insights(
            self.workspace, self.store, volume="system", config=self.config
        )
        report.insights.extend(str(path) for path in written)

    def _task_health(self, report: CycleReport) -> None:
        from .evolvers import Finding, md_cell
        from ..volumes.volume import Volume, list_scopes

        lines: list[str] = []
        problems: list[dict[str, str]] = []
        rows = []
        from .engine import readable_artifacts

        try:
            self.store.index.resync()
        except LLMOSError as exc:
            report.problems.append({"path": "state/index.json", "reason": exc.message})
        skipped = self.store.index.skipped()
        for scope in list_scopes(self.workspace):
            volume = Volume(self.workspace, scope, identity=self.identity, events=self.events)
            stats = volume.get_stats()
            found = list(stats.problems)
            for kind in ("tools", "agents", "insights", "suggestions"):
                _names, kind_problems = readable_artifacts(volume, kind)
                found.extend(p for p in kind_problems if p not in found)
            volume.report_problems(found)
            problems.extend(found)
            seen = {p["path"] for p in found}
            bad_traces = sum(
                1
                for path in skipped
                if path.startswith(f"volumes/{scope}/traces/") and path not in seen
            )
            c = stats.counts
            rows.append(
                f"| {scope} | {c['traces']} | {c['tools']} | {c['agents']} | {c['insights']} | "
                f"{c['suggestions']} | {len(found) + bad_traces} |"
            )
        for p in problems:
            if p not in report.problems:
                report.problems.append(p)
        state = load_state(self.workspace)
        failing = sorted(
            (cid, row)
            for cid, row in state.items()
            if isinstance(row, dict) and int(row.get("consecutive_failures") or 0) > 0
        )
        sync_failures = [s for s in report.sync if not s.get("ok")]
        corrupt = self.hub.event_log.corrupt_lines if hasattr(self.hub, "event_log") else 0
        lines += [
            "| volume | traces | tools | agents | insights | suggestions | unreadable |",
            "|---|---:|---:|---:|---:|---:|---:|",
            *rows,
        ]
        if problems:
            lines += ["", "## Unreadable files (skipped, never fatal)", ""]
            lines += [f"- `{p['path']}`: {md_cell(p['reason'], 100)}" for p in problems[:50]]
        if skipped:
            lines += ["", "## Traces left out of the index", ""]
            lines += [
                f"- `{path}`: {md_cell(reason, 100)}"
                for path, reason in sorted(skipped.items())[:50]
            ]
        if failing:
            lines += ["", "## Crons failing", ""]
            lines += [
                f"- {cid}: {row.get('consecutive_failures')} consecutive failure(s), last error: "
                f"{md_cell(row.get('last_error'), 120)}"
                for cid, row in failing
            ]
        if sync_failures:
            lines += ["", "## Volume sync failures", ""]
            lines += [
                f"- {s['scope']} ({s['remote']}): {md_cell(s.get('error'), 140)}"
                for s in sync_failures
            ]
        if corrupt:
            lines += ["", f"{corrupt} corrupt line(s) in the event log were skipped."]
        issues = len(problems) + len(skipped) + len(failing) + len(sync_failures)
        summary = (
            "all volumes readable, no failing cron"
            if not issues
            else f"{issues} issue(s): {len(problems)} unreadable file(s), {len(skipped)} skipped trace(s), "
            f"{len(failing)} failing cron(s), {len(sync_failures)} sync failure(s)"
        )
        volume = self.volume("system")
        before = len(report.insights)
        finding = self.localized(
            "system",
            Finding(
                "insights",
                "system-health",
                "System health",
                summary,
                "\n".join(lines),
                "system",
                {"issues": issues},
            ),
        )
        self.write_finding(volume, finding, report)
        if issues and len(report.insights) > before:
            self.hub.record_alert(
                "System health: " + summary,
                summary,
                severity="warning",
                source=self.cron_id,
                volume="system",
                path=f"volumes/system/insights/{finding.name}.md",
            )

    def _task_aggregate(self, report: CycleReport) -> None:
        from .evolvers import shared_patterns
        from ..volumes.volume import list_scopes

        scopes = [s for s in list_scopes(self.workspace) if s != "system"]
        if len(scopes) < 2:
            return
        by_owner: dict[str, list[Any]] = {s: [] for s in scopes}
        for trace in self.store.iter_traces(scopes):
            entry = self.store.index.get(trace.id)
            if entry is not None and entry.volume in by_owner:
                by_owner[entry.volume].append(trace)
        for finding in shared_patterns(
            by_owner,
            name="global-patterns",
            title="Global patterns",
            owner_word="volume",
            where="this workspace",
        ):
            self.write_finding(self.volume("system"), self.localized("system", finding), report)

    def _task_promote(self, report: CycleReport) -> None:
        from ..volumes.promotion import Promoter

        self._promote(
            Promoter(
                self.workspace, config=self.config, events=self.events
            ).team_to_system_candidates(),
            report,
        )

    def _task_cleanup(self, report: CycleReport) -> None:
        """Temporaries left by a crashed writer (``.<name>.<rand>.tmp`` older than an hour)."""
        removed = []
        limit = time.time() - TMP_MAX_AGE_S
        for path in Path(self.workspace.volumes_dir).rglob(".*.tmp"):
            if ".git" in path.parts:
                continue
            try:
                if path.is_file() and path.stat().st_mtime < limit:
                    path.unlink()
                    removed.append(str(path.relative_to(self.workspace.root)))
            except OSError:
                continue
        if removed:
            report.archived.append(
                {
                    "type": "TEMPORARIES_REMOVED",
                    "kind": "tmp",
                    "name": f"{len(removed)} file(s)",
                    "volume": None,
                    "paths": removed[:50],
                }
            )


# ---- LLM-written insight ---------------------------------------------------------------------------

LLM_SYSTEM = (
    "You review the activity of llmos, a terminal assistant that learns from its runs. You get "
    "the findings of a deterministic analysis of one knowledge volume. Write a short review in "
    "markdown: 3 to 5 bullet observations, then 1 to 3 concrete recommendations. Under 200 words. "
    "Only use facts from the findings; do not invent numbers."
)


def write_llm_insight(cron: Cron, scope: str, report: CycleReport) -> None:
    """One Messages-API call summarising what changed this cycle, within the per-cycle budget
    (``crons.llm_budget_usd``) and the workspace's balance, on the ``models.cheap`` tier
    (:func:`~llmos_tui.execution.llm.economy.budgeted_call`: its cost is charged as ``CRON``)."""
    budget = cron.config.crons.llm_budget_usd
    if not cron.review_changed:
        report.llm = {"skipped": "no finding changed in this cycle"}
        return
    from ..execution.llm.economy import budgeted_call

    model = cron.config.models.cheap
    findings = "\n\n".join(cron.findings_text)[:12000]
    prompt = f"Volume: {scope}\nCron: {cron.cron_id}\n\nFindings:\n\n{findings}"
    answer = budgeted_call(
        model=model,
        system=LLM_SYSTEM,
        prompt=prompt,
        max_tokens=LLM_MAX_TOKENS,
        timeout_s=LLM_TIMEOUT_S,
        cap_usd=budget,
        cap_key="crons.llm_budget_usd",
        economy_file=Path(cron.workspace.economy_file),
        total_budget_usd=cron.config.budget_usd,
        mode="CRON",
        goal=f"{cron.cron_id} insight for {scope}",
        what="LLM insight",
    )
    if answer.text is None:
        if answer.failed:
            report.llm = {"error": answer.note, "model": model}
            report.problems.append({"path": "llm", "reason": answer.note[:300]})
        else:
            report.llm = {"skipped": answer.note}
        return
    cost = answer.cost_usd
    report.llm = {
        "model": model,
        "input_tokens": answer.input_tokens,
        "output_tokens": answer.output_tokens,
        "cost_usd": round(cost, 6),
        "budget_usd": budget,
    }
    if answer.charge_error:
        report.problems.append({"path": "economy", "reason": answer.charge_error})
    text = answer.text.strip()
    if not text:
        report.llm["skipped"] = "the model answered with no text"
        return
    from .evolvers import Finding

    day = cron.now.strftime("%Y-%m-%d")
    cron.write_finding(
        cron.volume(scope),
        cron.localized(
            scope,
            Finding(
                "insights",
                f"llm-review-{day}",
                f"Review of {scope} ({day})",
                text.splitlines()[0][:200].lstrip("-*# "),
                text,
                "llm",
                {"model": model, "cost_usd": round(cost, 6)},
            ),
        ),
        report,
    )


# ---- state and scheduling ---------------------------------------------------------------------------


def workspace_id(workspace: Workspace) -> str:
    """A short random id of this workspace (``state/workspace_id``), created on first use."""
    path = Path(workspace.state_dir) / "workspace_id"
    try:
        text = path.read_text(encoding="utf-8").strip()
        if text and text.isalnum():
            return text[:16]
    except OSError:
        pass
    from ..atomic import atomic_write_text

    with file_lock(path):
        try:
            text = path.read_text(encoding="utf-8").strip()
            if text and text.isalnum():
                return text[:16]
        except OSError:
            pass
        text = os.urandom(4).hex()
        atomic_write_text(path, text + "\n")
        return text


def state_path(workspace: Workspace) -> Path:
    return Path(workspace.state_dir) / STATE_FILE


def load_state(workspace: Any) -> dict[str, Any]:
    """{cron id: row} from ``state/crons.json`` ({} when missing or unreadable)."""
    try:
        data = json.loads(state_path(_workspace(workspace)).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    crons = data.get("crons") if isinstance(data, dict) else None
    return crons if isinstance(crons, dict) else {}


def update_state(
    workspace: Workspace, config: LLMOSConfig, report: CycleReport, now: _dt.datetime
) -> dict[str, Any]:
    interval = interval_minutes(config, report.level)
    path = state_path(workspace)
    with file_lock(path):
        crons = load_state(workspace)
        row = dict(crons.get(report.cron_id) or {})
        row.update(
            {
                "level": report.level,
                "user": report.user,
                "team": report.team,
                "last_run": report.started_at,
                "last_finished": report.finished_at,
                "last_status": report.status,
                "last_duration_s": report.duration_s,
                "last_counts": report.counts(),
            }
        )
        row["runs"] = int(row.get("runs") or 0) + 1
        if report.status == "failed":
            failures = int(row.get("consecutive_failures") or 0) + 1
            retry = config.crons.retry_minutes
            delay = min(interval * MAX_BACKOFF_INTERVALS, retry * (2 ** (failures - 1)))
            row.update(
                {
                    "consecutive_failures": failures,
                    "failures": int(row.get("failures") or 0) + 1,
                    "last_error": report.error,
                    "last_failure": report.started_at,
                    "next_due": iso_utc(now + _dt.timedelta(minutes=delay)),
                }
            )
        else:
            row.update(
                {
                    "consecutive_failures": 0,
                    "next_due": iso_utc(now + _dt.timedelta(minutes=interval)),
                }
            )
        crons[report.cron_id] = row
        atomic_write_json(path, {"crons": crons})
    return row


def _team_of(workspace: Workspace, config: LLMOSConfig, user: str) -> str | None:
    if user == config.user and config.team:
        return config.team
    teams = teams_of(workspace, user)
    return teams[0] if teams else None


def known_teams(workspace: Any, config: LLMOSConfig) -> list[str]:
    """The teams of the workspace: those with a volume, and the config's own team."""
    from ..volumes.volume import list_scopes

    scopes = list_scopes(_workspace(workspace))
    return sorted(
        {s.split("/", 1)[1] for s in scopes if s.startswith("teams/")}
        | ({config.team} if config.team else set())
    )


def known_crons(workspace: Any, config: LLMOSConfig) -> list[dict[str, Any]]:
    """Every cron of the workspace: one per user volume, one per team volume, the system's."""
    from ..volumes.volume import list_scopes

    ws = _workspace(workspace)
    scopes = list_scopes(ws)
    users = sorted(
        {s.split("/", 1)[1] for s in scopes if s.startswith("users/")}
        | ({config.user} if config.user else set())
    )
    teams = sorted(
        {s.split("/", 1)[1] for s in scopes if s.startswith("teams/")}
        | ({config.team} if config.team else set())
    )
    out = []
    for user in users:
        team = _team_of(ws, config, user)
        out.append(
            {
                "cron_id": Identity.user_cron(user, team).label,
                "level": "user",
                "user": user,
                "team": team,
            }
        )
    for team in teams:
        out.append(
            {"cron_id": Identity.team_cron(team).label, "level": "team", "user": None, "team": team}
        )
    out.append({"cron_id": "system_cron", "level": "system", "user": None, "team": None})
    return out


def due_cycles(workspace: Any, config: LLMOSConfig, now: Any = None) -> list[dict[str, Any]]:
    """The crons whose next run is due at ``now`` (never run: due), users first, then teams, system."""
    moment = _moment(now)
    state = load_state(workspace)
    out = []
    for job in known_crons(workspace, config):
        row = state.get(job["cron_id"]) or {}
        due_at = parse_iso(row.get("next_due"))
        if due_at is None or due_at <= moment:
            out.append(dict(job, next_due=row.get("next_due")))
    return out


def run_due(
    workspace: Any, config: LLMOSConfig, now: Any = None, *, hub: Any = None
) -> list[CycleReport]:
    """Run every due cycle once, in order (user, team, system); never raises."""
    reports = []
    try:
        jobs = due_cycles(workspace, config, now)
    except Exception as exc:  # noqa: BLE001
        report = CycleReport(
            "scheduler", "system", status="failed", error=f"{type(exc).__name__}: {exc}"
        )
        return [report]
    for job in jobs:
        reports.append(
            run_cycle(
                workspace,
                config,
                job["level"],
                user=job["user"],
                team=job["team"],
                now=now,
                hub=hub,
            )
        )
    return reports


def make_cron(
    workspace: Any,
    config: LLMOSConfig,
    level: str,
    *,
    user: str | None = None,
    team: str | None = None,
    now: Any = None,
    hub: Any = None,
) -> Cron:
    ws = _workspace(workspace)
    if level not in LEVELS:
        raise UsageError(f"unknown cron level {level!r} (choose from {', '.join(LEVELS)})")
    if not Path(ws.root).is_dir():
        raise UsageError(f"no workspace at {ws.root} (create it with `llmos init`)")
    if level == "user":
        user = user or config.user
        if not user:
            raise UsageError("a user cron needs --user")
        team = team or _team_of(ws, config, user)
        return UserCron(ws, config, user, team, hub=hub, now=now)
    if level == "team":
        team = team or config.team
        if not team:
            raise UsageError("a team cron needs --team")
        known = known_teams(ws, config)
        if (
            team not in known
        ):  # a cycle for a team nobody has would leave a cron entry behind for good
            raise UsageError(
                f"no team named {team!r} in this workspace (teams: {', '.join(known) or 'none'}; "
                f"a team exists once it has a volume or a member: `llmos volumes members {team} --add USER`)"
            )
        return TeamCron(ws, config, team, hub=hub, now=now)
    return SystemCron(ws, config, hub=hub, now=now)


def run_cycle(
    workspace: Any,
    config: LLMOSConfig,
    level: str,
    *,
    user: str | None = None,
    team: str | None = None,
    now: Any = None,
    hub: Any = None,
) -> CycleReport:
    """Run one cycle of the ``level`` cron (``user`` / ``team`` default to the config's); never
    raises: a bad argument or a failure is a ``failed`` report (recorded when possible)."""
    try:
        cron = make_cron(workspace, config, level, user=user, team=team, now=now, hub=hub)
    except Exception as exc:  # noqa: BLE001
        label = {"user": f"user_cron:{user}", "team": f"team_cron:{team}"}.get(level, "system_cron")
        message = exc.message if isinstance(exc, LLMOSError) else f"{type(exc).__name__}: {exc}"
        return CycleReport(
            label, level if level in LEVELS else "?", user, team, status="failed", error=message
        )
    return cron.run_cycle()


def cron_status(workspace: Any, config: LLMOSConfig, now: Any = None) -> dict[str, Any]:
    """Last run, next due, failures and last counts of every cron (for ``llmos cron status``)."""
    moment = _moment(now)
    ws = _workspace(workspace)
    state = load_state(ws)
    rows = []
    seen = set()
    for job in known_crons(ws, config):
        seen.add(job["cron_id"])
        rows.append(_status_row(job, state.get(job["cron_id"]) or {}, config, moment))
    for cid, row in sorted(state.items()):
        if cid not in seen and isinstance(row, dict) and row.get("level") in LEVELS:
            rows.append(
                _status_row(
                    {
                        "cron_id": cid,
                        "level": row.get("level"),
                        "user": row.get("user"),
                        "team": row.get("team"),
                    },
                    row,
                    config,
                    moment,
                )
            )
    from ..volumes.git_sync import git_remotes, git_volume

    remotes = []
    try:
        for scope in git_remotes(config):
            gv = git_volume(ws, config, scope)
            remotes.append(gv.status() if gv is not None else {"scope": scope})
    except LLMOSError as exc:
        remotes.append({"error": exc.message})
    return {
        "now": iso_utc(moment),
        "enabled": config.crons.enabled,
        "auto_apply": list(config.crons.auto_apply),
        "llm_insights": config.crons.llm_insights,
        "state_file": str(state_path(ws)),
        "crons": rows,
        "git": remotes,
    }


def _status_row(
    job: dict[str, Any], row: dict[str, Any], config: LLMOSConfig, moment: _dt.datetime
) -> dict[str, Any]:
    due_at = parse_iso(row.get("next_due"))
    return {
        **job,
        "interval_minutes": interval_minutes(config, job["level"]),
        "last_run": row.get("last_run"),
        "last_status": row.get("last_status"),
        "last_error": row.get("last_error"),
        "last_duration_s": row.get("last_duration_s"),
        "next_due": row.get("next_due"),
        "due": due_at is None or due_at <= moment,
        "consecutive_failures": int(row.get("consecutive_failures") or 0),
        "runs": int(row.get("runs") or 0),
        "failures": int(row.get("failures") or 0),
        "last_counts": row.get("last_counts") or {},
    }


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    last = frames[-1]
    return f"{Path(last.filename).name}:{last.lineno} in {last.name}"


__all__ = [
    "CycleReport",
    "Cron",
    "UserCron",
    "TeamCron",
    "SystemCron",
    "run_cycle",
    "cron_status",
    "due_cycles",
    "run_due",
    "make_cron",
    "known_crons",
    "load_state",
    "LEVELS",
]
