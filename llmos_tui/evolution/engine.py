"""EvolutionEngine: gathers the Trace/Tool/AgentEvolver of one volume (``evolvers.py``), submits
their proposals to the inbox, and registers what accepting each proposal kind does.

``EvolutionEngine(workspace, config, identity, hub).review(volume)`` reads the volume once and
returns a :class:`Review`: findings (insights and suggestions to write), proposals, traces
eligible for crystallization and workspace agents evolved on the spot. ``analyze(volume)``
returns just the proposals. ``submit(proposals)`` posts each through ``hub.propose`` (kinds in
``crons.auto_apply`` are applied at once by the hub) unless a proposal with the same evidence
key was posted before: keys live in ``state/evolution.json`` (bounded), so a rejected proposal
is not asked again until its evidence changes.

Proposal kinds registered here (``register_appliers(hub)``, with the ``artifact.*`` kinds of
``volumes/appliers.py`` that the evolvers propose too; ``applier_module`` names this module so
``llmos inbox accept`` in another process finds them):

``traces.merge``       ``{scope, identity, keep, merge: [ids]}``: identical traces (same signature,
                       same calls) — their counters are added into ``keep``, the rest archived.
``artifacts.archive``  ``{scope, identity, kind, names, reason, summary?}``: move artifacts to the
                       volume's ``.archive/`` (recoverable); ``summary`` ({kind, name, content}) is
                       written first (the trace digest).
``tool.crystallize``   ``{scope, identity, trace_id}``: generate, verify and activate the tool.
``agent.evolve``       ``{name}``: evolve a workspace agent with constraints learned from failures.

Every applier acts as the identity named in the payload, so the volume ACL applies exactly as
it did for the cron that proposed it.
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from ..atomic import atomic_write_json, file_lock
from ..clock import iso_utc
from ..config import LLMOSConfig
from ..observability.events import EventType
from ..errors import LLMOSError, UsageError
from ..volumes.acl import Identity, scope_type
from ..volumes.appliers import register_appliers as register_volume_appliers
from ..workspace import Workspace
from .evolvers import (
    AgentEvolver,
    Finding,
    Proposal,
    ToolEvolver,
    ToolStats,
    TraceEvolver,
    VolumeSnapshot,
    calls_fingerprint,
)

APPLIER_MODULE = "llmos_tui.evolution.engine"
STATE_FILE = "evolution.json"
MAX_KEYS = 5000
EVENT_WINDOW_DAYS = 90


@dataclass
class Review:
    scope: str
    findings: list[Finding] = field(default_factory=list)
    proposals: list[Proposal] = field(default_factory=list)
    eligible: list[Any] = field(default_factory=list)  # Trace objects ready to crystallize
    agents_evolved: list[Any] = field(default_factory=list)  # EvolutionResult of workspace agents
    problems: list[dict[str, str]] = field(default_factory=list)
    traces: int = 0


@dataclass
class Submitted:
    proposal: Proposal
    status: str  # proposed | applied | duplicate | failed
    event_id: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.proposal.kind,
            "title": self.proposal.title,
            "key": self.proposal.key,
            "volume": self.proposal.volume,
            "status": self.status,
            "event_id": self.event_id,
            "error": self.error,
        }


def _now(now: Any) -> _dt.datetime:
    if now is None:
        return _dt.datetime.now(_dt.timezone.utc)
    if isinstance(now, (int, float)):
        return _dt.datetime.fromtimestamp(float(now), _dt.timezone.utc)
    if isinstance(now, _dt.datetime):
        return now if now.tzinfo else now.replace(tzinfo=_dt.timezone.utc)
    raise UsageError(f"now must be a datetime or a timestamp, not {type(now).__name__}")


class EvolutionEngine:
    def __init__(
        self,
        workspace: Workspace,
        config: LLMOSConfig,
        identity: Identity,
        hub: Any,
        *,
        store: Any = None,
        crystallizer: Any = None,
        now: Any = None,
    ) -> None:
        self.workspace = workspace
        self.config = config
        self.identity = identity
        self.hub = hub
        self.now = _now(now)
        if store is None:
            from ..learning.store import TraceStore

            store = TraceStore(workspace, events=hub)
        self.store = store
        self.crystallizer = crystallizer
        self.trace_evolver = TraceEvolver(config)
        self.tool_evolver = ToolEvolver(config)
        self.agent_evolver = AgentEvolver(config)
        self._tool_stats: dict[str, ToolStats] | None = None

    # ---- reading a volume -------------------------------------------------------------------------
    def snapshot(self, volume: Any) -> VolumeSnapshot:
        """The volume's traces, crystallized tools and agent names (read as ``self.identity``)."""
        from ..execution.replay.crystallized import list_tools

        scope = volume.scope
        snap = VolumeSnapshot(scope=scope, now=self.now)
        volume.list_artifacts("traces")  # read-checked: raises VolumeAccessError if not allowed
        try:
            self.store.index.resync([scope])
        except LLMOSError as exc:
            snap.problems.append(
                {"path": f"volumes/{scope}/traces", "reason": f"index resync failed: {exc.message}"}
            )
        snap.traces = list(self.store.iter_traces([scope]))
        prefix = f"volumes/{scope}/traces/"
        for rel, reason in sorted(self.store.index.skipped().items()):
            if rel.startswith(prefix):
                snap.problems.append({"path": rel, "reason": str(reason)})
        for kind in ("tools", "agents", "insights", "suggestions"):
            names, problems = readable_artifacts(volume, kind)
            snap.problems.extend(p for p in problems if p not in snap.problems)
            if kind == "agents":
                snap.agents = names
        snap.tools = list_tools(self.workspace, [scope])
        stats = self.tool_stats()
        snap.tool_stats = {t.id: stats[t.id] for t in snap.tools if t.id in stats}
        if scope_type(scope) == "user":
            try:
                from ..adaptation.agents import AgentRegistry

                snap.workspace_agents = [
                    s.name for s in AgentRegistry(self.workspace.agents_dir).all()
                ]
            except Exception:
                snap.workspace_agents = []
        return snap

    def tool_stats(self) -> dict[str, ToolStats]:
        """Runs and demotions per tool id from the event log of the last 90 days."""
        if self._tool_stats is not None:
            return self._tool_stats
        out: dict[str, ToolStats] = {}
        log = getattr(self.hub, "event_log", self.hub)
        since = self.now - _dt.timedelta(days=EVENT_WINDOW_DAYS)
        try:
            events = log.iter_events(since=since)
            for event in events:
                if event.type not in (
                    EventType.TOOL_RUN,
                    EventType.TOOL_USED,
                    EventType.TOOL_DEMOTED,
                ):
                    continue
                tool = event.data.get("tool")
                if not isinstance(tool, str):
                    continue
                row = out.setdefault(tool, ToolStats())
                if event.type == EventType.TOOL_DEMOTED:
                    row.demotions += 1
                    continue
                row.runs += 1
                row.last = event.ts
                if event.data.get("success"):
                    row.ok += 1
                elif event.data.get("reason"):
                    row.reasons = (row.reasons + [str(event.data["reason"])[:200]])[-5:]
        except (OSError, AttributeError):
            pass
        self._tool_stats = out
        return out

    # ---- analysis ------------------------------------------------------------------------------
    def review(self, volume: Any, *, workspace_agents: bool = False) -> Review:
        snap = self.snapshot(volume)
        ident = self.identity.to_dict()
        review = Review(scope=volume.scope, problems=list(snap.problems), traces=len(snap.traces))
        te, to, ag = self.trace_evolver, self.tool_evolver, self.agent_evolver
        review.findings += te.patterns(snap)
        review.findings += te.failures(snap)
        crystallizer = self.crystallizer if self.identity.can_write(volume.scope) else None
        eligible, findings = te.crystallization(snap, crystallizer)
        review.findings += findings
        auto = self.config.learning.auto_crystallization
        enabled = self.config.execution.enable_crystallized
        if auto and enabled:
            review.eligible = eligible
        elif enabled:
            review.proposals += te.propose_crystallization(snap, eligible, ident)
        review.proposals += te.propose_merges(snap, ident)
        review.proposals += te.propose_consolidation(snap, ident)
        review.findings += to.findings(snap)
        review.proposals += to.propose_improvements(snap, ident)
        review.proposals += ag.propose_enhancements(snap, ident, te.families(snap.traces))
        if workspace_agents:
            try:
                from ..adaptation.manager import DynamicAgentManager

                manager = DynamicAgentManager(self.workspace, self.config, events=self.hub)
                auto_evolve = self.config.adaptation.auto_evolve
                props, evolved = ag.propose_workspace_evolutions(manager, auto=auto_evolve)
                review.proposals += props
                review.agents_evolved += evolved
            except LLMOSError as exc:
                review.problems.append({"path": "agents/", "reason": exc.message})
        return review

    def analyze(self, volume: Any) -> list[Proposal]:
        """The proposals of the Trace/Tool/AgentEvolver for ``volume`` (nothing is written)."""
        return self.review(volume).proposals

    generate_proposals = analyze

    # ---- submission ------------------------------------------------------------------------------
    @property
    def state_path(self) -> Path:
        return Path(self.workspace.state_dir) / STATE_FILE

    def _load_keys(self) -> dict[str, Any]:
        try:
            data = json.loads(self.state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        keys = data.get("proposal_keys") if isinstance(data, dict) else None
        return keys if isinstance(keys, dict) else {}

    def submit(
        self, proposals: Iterable[Proposal], *, source: str | None = None
    ) -> list[Submitted]:
        """Post each new proposal to the inbox (once per evidence key); auto_apply kinds are
        applied by the hub at once."""
        source = source or self.identity.label
        out: list[Submitted] = []
        pending = list(proposals)
        if not pending:
            return out
        with file_lock(self.state_path):
            keys = self._load_keys()
            for prop in pending:
                if prop.key in keys:
                    out.append(
                        Submitted(
                            prop,
                            "duplicate",
                            keys[prop.key].get("id") if isinstance(keys[prop.key], dict) else None,
                        )
                    )
                    continue
                try:
                    event_id = self.hub.propose(
                        prop.kind,
                        prop.title,
                        prop.summary,
                        prop.preview,
                        prop.payload,
                        source=source,
                        volume=prop.volume if prop.volume != "workspace" else None,
                        applier_module=APPLIER_MODULE,
                        proposal_key=prop.key,
                        evolver=prop.evolver,
                    )
                except LLMOSError as exc:
                    out.append(Submitted(prop, "failed", error=exc.message))
                    continue
                status = "proposed"
                try:
                    item = self.hub.get_notification(event_id)
                    if item.decision == "accepted":
                        status = "applied"
                    elif item.decision == "failed":
                        status = "failed"
                except LLMOSError:
                    pass
                keys[prop.key] = {
                    "id": event_id,
                    "ts": iso_utc(self.now),
                    "kind": prop.kind,
                }
                out.append(Submitted(prop, status, event_id))
            if len(keys) > MAX_KEYS:
                for old in sorted(keys, key=lambda k: str((keys[k] or {}).get("ts", "")))[
                    : len(keys) - MAX_KEYS
                ]:
                    keys.pop(old, None)
            atomic_write_json(self.state_path, {"proposal_keys": keys})
        return out


def readable_artifacts(volume: Any, kind: str) -> tuple[list[str], list[dict[str, str]]]:
    """Names of a kind's readable artifacts, and the unreadable ones (reported as
    ``ARTIFACT_SKIPPED`` once): files the volume cannot list or read, and text artifacts that
    are not UTF-8."""
    names: list[str] = []
    extra: list[dict[str, str]] = []
    for info, _files in volume.iter_artifacts(kind):
        if info.problem and kind != "tools":
            extra.append(
                {
                    "path": info.files.get(".md")
                    or f"volumes/{volume.scope}/{kind}/{info.name}.md",
                    "reason": f"unreadable: {info.problem}",
                }
            )
            continue
        names.append(info.name)
    if extra:
        volume.report_problems(extra)
    return names, list(volume.problems) + extra


# ---- appliers ---------------------------------------------------------------------------------------


def _need(payload: dict[str, Any], *keys: str) -> list[Any]:
    missing = [k for k in keys if payload.get(k) in (None, "", [])]
    if missing:
        raise UsageError(f"the proposal payload lacks {', '.join(missing)}")
    return [payload[k] for k in keys]


def _config_of(hub: Any) -> LLMOSConfig:
    if getattr(hub, "config", None) is not None:
        return hub.config
    from ..config import load_config

    return load_config(Path(hub.workspace.root))


def _volume(hub: Any, payload: dict[str, Any]) -> Any:
    from ..volumes.volume import Volume

    scope, ident = _need(payload, "scope", "identity")
    return Volume(hub.workspace, scope, identity=Identity.from_dict(ident), events=hub)


def apply_merge(hub: Any, payload: dict[str, Any]) -> str:
    """Add the counters of identical traces into one and archive the others."""
    from ..learning.traces import dump_trace, parse_trace
    from ..volumes.volume import ArtifactNotFound

    keep_id, merge_ids = _need(payload, "keep", "merge")
    volume = _volume(hub, payload)
    if not isinstance(merge_ids, list) or not all(isinstance(i, str) for i in merge_ids):
        raise UsageError("merge must be a list of trace ids")
    from ..learning.trust import TrustStore
    from ..volumes.volume import volume_lock

    trust = TrustStore(hub.workspace)
    with volume_lock(volume.root):
        keep = parse_trace(volume.read_artifact("traces", keep_id))
        merged = []
        for tid in merge_ids:
            if tid == keep_id:
                continue
            try:
                other = parse_trace(volume.read_artifact("traces", tid))
            except ArtifactNotFound:
                continue  # archived or merged already
            if other.signature != keep.signature or calls_fingerprint(other) != calls_fingerprint(
                keep
            ):
                raise UsageError(
                    f"trace {tid} no longer matches {keep_id} (its goal or calls changed); "
                    "nothing was merged"
                )
            if other.crystallized_tool:
                continue  # its tool names it as source: never archived by a merge
            # Only counts recorded here move over (learning/trust.py): a shared or imported duplicate
            # brings its local runs, never the counts written in its file.
            local = trust.local_counts(other, volume.scope)
            uses, ok, bad = (
                (other.usage_count, other.success_count, other.failure_count)
                if local is None
                else local
            )
            keep.usage_count += uses
            keep.success_count += ok
            keep.failure_count += bad
            if (other.last_used or "") > (keep.last_used or ""):
                keep.last_used = other.last_used
            merged.append(other)
        if not merged:
            return f"nothing to merge into {keep_id} (the duplicates are gone)"
        volume.write_artifact(
            "traces",
            keep_id,
            dump_trace(keep),
            reason=f"merged {len(merged)} identical trace(s)",
            changelog_action="merged",
            event_data={"merged": [t.id for t in merged]},
        )
        for other in merged:
            volume.archive_artifact("traces", other.id, reason=f"merged into {keep_id}")
    return (
        f"merged {len(merged)} trace(s) into {keep_id} in volumes/{volume.scope} "
        f"(now {keep.usage_count} uses); archived {', '.join(t.id for t in merged)}"
    )


def apply_archive(hub: Any, payload: dict[str, Any]) -> str:
    from ..volumes.volume import ArtifactNotFound

    kind, names = _need(payload, "kind", "names")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise UsageError("names must be a list of artifact names")
    volume = _volume(hub, payload)
    summary = payload.get("summary")
    if isinstance(summary, dict) and summary.get("name") and summary.get("content"):
        volume.write_artifact(
            str(summary.get("kind") or "insights"),
            str(summary["name"]),
            str(summary["content"]),
            reason=payload.get("reason"),
            event_type=EventType.INSIGHT_GENERATED,
            title=f"Digest of {len(names)} archived {kind}",
        )
    moved = []
    for name in names:
        try:
            volume.archive_artifact(kind, name, reason=payload.get("reason"))
            moved.append(name)
        except ArtifactNotFound:
            continue
    return f"archived {len(moved)} of {len(names)} {kind} in volumes/{volume.scope} (under .archive/{kind}/)"


def apply_crystallize(hub: Any, payload: dict[str, Any]) -> str:
    from .crystallizer import Crystallizer

    (trace_id,) = _need(payload, "trace_id")
    volume = _volume(hub, payload)
    identity = Identity.from_dict(payload["identity"])
    identity.check(
        "write", volume.scope, hub.workspace, events=hub, what=f"tools/ (from trace {trace_id})"
    )
    from ..learning.store import TraceStore

    store = TraceStore(hub.workspace, events=hub)
    entry = store.entry(trace_id)
    if entry.volume != volume.scope:
        raise UsageError(
            f"trace {trace_id} is in volumes/{entry.volume}, not volumes/{volume.scope}"
        )
    crystallizer = Crystallizer(hub.workspace, store, _config_of(hub), events=hub)
    trace = store.get(trace_id)
    current = crystallizer.eligibility(trace)
    if current is not None and current.startswith("already crystallized"):
        return f"trace {trace_id} is {current}"
    tool = crystallizer.crystallize(trace)
    if not tool.active:
        raise LLMOSError(f"{tool.id} failed verification: {tool.manifest.get('status_reason', '')}")
    return (
        f"crystallized trace {trace_id} into {tool.id} in volumes/{volume.scope}/tools (verified)"
    )


def apply_agent_evolve(hub: Any, payload: dict[str, Any]) -> str:
    from ..adaptation.manager import DynamicAgentManager

    (name,) = _need(payload, "name")
    manager = DynamicAgentManager(hub.workspace, _config_of(hub), events=hub)
    spec = manager.registry.get(name)
    expected = payload.get("from_version")
    if isinstance(expected, int) and spec.version != expected:
        raise UsageError(
            f"agent {name} is at version {spec.version}, not {expected}: it changed since the proposal"
        )
    result = manager.evolve(name, force=True)
    if not result.applied:
        return f"agent {name} unchanged: {result.reason}"
    return (
        f"evolved agent {name} v{result.old_version} -> v{result.new_version} "
        f"({len(result.constraints_added)} constraint(s) added)"
    )


def register_appliers(hub: Any) -> None:
    """Called by the hub when it meets one of our kinds (``applier_module``). The ``artifact.*``
    kinds the evolvers propose name this module too (an inbox keeps such proposals): the volume
    appliers are registered with ours."""
    register_volume_appliers(hub)
    hub.register_applier("traces.merge", lambda p: apply_merge(hub, p))
    hub.register_applier("artifacts.archive", lambda p: apply_archive(hub, p))
    hub.register_applier("tool.crystallize", lambda p: apply_crystallize(hub, p))
    hub.register_applier("agent.evolve", lambda p: apply_agent_evolve(hub, p))


__all__ = ["EvolutionEngine", "Review", "Submitted", "register_appliers", "APPLIER_MODULE"]
