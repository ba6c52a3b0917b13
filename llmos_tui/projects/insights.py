"""Cross-project learning: what recurs across projects, which agents are worth reusing, and one
project's summary. All of it is computed from the traces (tagged with their project), the agent
metrics (``state/agent_metrics.json``) and the projects' run statistics; nothing is guessed.

A *pattern* is a set of successful project traces that are the same task:

* the same goal signature (normalized goal), whatever tools were used, or
* goals that the matcher finds similar at ``min_confidence`` or more, with every matcher gate
  passed (verb class, negation, technology, slots, content; ``margin`` and ``track_record`` are
  not about sameness and are ignored), and the same set of tools.

Links are transitive (union-find). A pattern seen in at least ``min_projects`` projects is a
cross-project insight; its confidence is 1.0 for one signature, else the weakest link's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable

from .manager import ProjectManager

if TYPE_CHECKING:  # pragma: no cover
    from ..config import LLMOSConfig

IGNORED_GATES = frozenset({"margin", "track_record"})


@dataclass
class CrossProjectInsight:
    pattern: str  # the representative goal
    goals: list[str]
    projects: list[str]
    trace_ids: list[str]
    tools: list[str]
    confidence: float
    kind: str  # same_goal | similar_goal
    uses: int
    success_rate: float
    suggestion: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "pattern": self.pattern,
            "goals": list(self.goals),
            "projects": list(self.projects),
            "trace_ids": list(self.trace_ids),
            "tools": list(self.tools),
            "confidence": round(self.confidence, 4),
            "kind": self.kind,
            "uses": self.uses,
            "success_rate": round(self.success_rate, 4),
            "suggestion": self.suggestion,
        }


@dataclass
class ReusableAgent:
    name: str
    executions: int
    success_rate: float
    cost_usd: float
    projects: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "executions": self.executions,
            "success_rate": round(self.success_rate, 4),
            "cost_usd": round(self.cost_usd, 6),
            "projects": list(self.projects),
            "categories": list(self.categories),
        }


def _entries(store: Any, volumes: Iterable[str] | None) -> list[Any]:
    return [e for e in store.index.entries(volumes) if e.project]


def _successful(entry: Any) -> bool:
    return (
        entry.outcome == "success"
        and entry.success_count > 0
        and entry.success_count > entry.failure_count
    )


class _Union:
    def __init__(self, keys: Iterable[str]) -> None:
        self.parent = {k: k for k in keys}

    def find(self, k: str) -> str:
        while self.parent[k] != k:
            self.parent[k] = self.parent[self.parent[k]]
            k = self.parent[k]
        return k

    def join(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def get_cross_project_insights(
    workspace: Any,
    store: Any,
    *,
    min_projects: int = 2,
    min_confidence: float = 0.7,
    volumes: Iterable[str] | None = None,
    config: LLMOSConfig | None = None,
) -> list[CrossProjectInsight]:
    """Patterns that recur in at least ``min_projects`` projects (see the module docstring)."""
    from ..learning.matcher import Matcher

    if min_projects < 1:
        raise ValueError("min_projects must be at least 1")
    entries = [e for e in _entries(store, volumes) if _successful(e)]
    groups: dict[str, list[Any]] = {}
    for e in entries:
        groups.setdefault(e.signature, []).append(e)
    if not groups:
        return []
    reps = {
        sig: max(es, key=lambda e: (e.success_count, e.last_used or "", e.id))
        for sig, es in groups.items()
    }
    by_rep_id = {rep.id: sig for sig, rep in reps.items()}
    toolsets = {sig: {frozenset(e.tools_used) for e in es} for sig, es in groups.items()}
    union = _Union(groups)
    link_conf: dict[str, float] = {sig: 1.0 for sig in groups}
    matcher = Matcher(list(reps.values()), config=config.learning if config is not None else None)
    for sig, rep in reps.items():
        for cand in matcher.candidates(rep.goal, k=10):
            other = by_rep_id.get(cand.trace_id)
            if other is None or other == sig or cand.confidence < min_confidence:
                continue
            if not all(g.passed for g in cand.gates if g.name not in IGNORED_GATES):
                continue
            if not toolsets[sig] & toolsets[other]:
                continue  # no run of the one used the same tools as a run of the other
            union.join(sig, other)
            for s in (sig, other):
                link_conf[s] = min(link_conf[s], cand.confidence)
    clusters: dict[str, list[str]] = {}
    for sig in groups:
        clusters.setdefault(union.find(sig), []).append(sig)
    out = []
    for sigs in clusters.values():
        members = [e for s in sigs for e in groups[s]]
        projects = sorted({e.project for e in members})
        if len(projects) < min_projects:
            continue
        confidence = 1.0 if len(sigs) == 1 else min(link_conf[s] for s in sigs)
        if confidence < min_confidence:
            continue
        best = max(members, key=lambda e: (e.success_count, e.usage_count, e.id))
        uses = sum(e.usage_count for e in members)
        ok = sum(e.success_count for e in members)
        done = ok + sum(e.failure_count for e in members)
        tools = sorted({t for e in members for t in e.tools_used})
        insight = CrossProjectInsight(
            pattern=best.goal,
            goals=sorted({e.goal for e in members}),
            projects=projects,
            trace_ids=sorted(e.id for e in members),
            tools=tools,
            confidence=confidence,
            kind="same_goal" if len(sigs) == 1 else "similar_goal",
            uses=uses,
            success_rate=ok / done if done else 0.0,
        )
        insight.suggestion = _suggest(insight, best)
        out.append(insight)
    out.sort(key=lambda i: (-len(i.projects), -i.uses, i.pattern))
    return out


def _suggest(insight: CrossProjectInsight, best: Any) -> str:
    parts = [f"used in {len(insight.projects)} projects ({', '.join(insight.projects)})"]
    if best.volume.startswith("users/"):
        parts.append(f"share it: `llmos volumes promote {best.id}` makes it available to the team")
    if not best.crystallized_tool and insight.uses >= 5 and insight.success_rate >= 0.95:
        parts.append("it is a candidate for crystallization (a deterministic tool, no LLM)")
    return "; ".join(parts)


def _agent_projects(store: Any, volumes: Iterable[str] | None) -> dict[str, set[str]]:
    """Agent name -> projects whose traces it produced (read from the trace files)."""
    out: dict[str, set[str]] = {}
    for trace in store.iter_traces(volumes):
        if trace.project and trace.agent:
            out.setdefault(trace.agent, set()).add(trace.project)
    return out


def get_reusable_agents(
    workspace: Any,
    *,
    min_success_rate: float = 0.8,
    min_usage_count: int = 3,
    store: Any = None,
    volumes: Iterable[str] | None = None,
) -> list[ReusableAgent]:
    """Agents with at least ``min_usage_count`` runs at ``min_success_rate`` or better (from the agent
    metrics), with the projects they worked in when ``store`` is given."""
    from ..adaptation.metrics import AgentMetricsStore

    stats = AgentMetricsStore(workspace.state_dir / "agent_metrics.json").all()
    projects = _agent_projects(store, volumes) if store is not None else {}
    out = []
    for name, s in stats.items():
        if s.executions < min_usage_count or s.success_rate < min_success_rate:
            continue
        cats = sorted(c for c, row in s.by_category.items() if row.get("runs"))
        out.append(
            ReusableAgent(
                name=name,
                executions=s.executions,
                success_rate=s.success_rate,
                cost_usd=s.cost_usd,
                projects=sorted(projects.get(name, set())),
                categories=cats,
            )
        )
    out.sort(key=lambda a: (-len(a.projects), -a.success_rate, -a.executions, a.name))
    return out


def get_project_summary(
    workspace: Any, store: Any, name: str, *, volumes: Iterable[str] | None = None
) -> dict[str, Any]:
    """One project: its folders, run statistics, traces (goals, modes, success), agents and facts."""
    from ..memory.facts import FactStore

    project = ProjectManager(workspace).get(name)
    entries = [e for e in store.index.entries(volumes) if e.project == name]
    entries.sort(key=lambda e: (e.last_used or e.created_at, e.id), reverse=True)
    ok = sum(e.success_count for e in entries)
    done = ok + sum(e.failure_count for e in entries)
    tools: dict[str, int] = {}
    for e in entries:
        for t in e.tools_used:
            tools[t] = tools.get(t, 0) + 1
    facts = FactStore(workspace, name).list()
    stats = project.stats()
    return {
        **project.to_dict(),
        "traces": len(entries),
        "trace_success_rate": round(ok / done, 4) if done else None,
        "crystallized": sum(1 for e in entries if e.crystallized_tool),
        "cost_usd": round(sum(e.cost_usd for e in entries), 6),
        "top_tools": sorted(tools.items(), key=lambda kv: (-kv[1], kv[0]))[:8],
        "recent_goals": [
            {
                "id": e.id,
                "goal": e.goal,
                "mode": e.mode,
                "outcome": e.outcome,
                "uses": e.usage_count,
            }
            for e in entries[:10]
        ],
        "by_mode": stats.get("by_mode", {}),
        "facts": [f.text for f in facts[:20]],
    }


# ---- cron artifacts ------------------------------------------------------------------------------------


def cross_project_insight_artifacts(
    workspace: Any,
    store: Any = None,
    *,
    min_projects: int = 2,
    min_confidence: float = 0.7,
    config: LLMOSConfig | None = None,
) -> list[tuple[str, str]]:
    """Markdown insight artifacts for a cron to write: ``[(file name, markdown)]``. Empty when there
    is nothing to say. File names are stable, so a new cycle replaces the previous artifact."""
    if store is None:
        from ..learning.store import TraceStore

        store = TraceStore(workspace)
    insights = get_cross_project_insights(
        workspace, store, min_projects=min_projects, min_confidence=min_confidence, config=config
    )
    agents = get_reusable_agents(workspace, store=store)
    if not insights and not agents:
        return []
    from edgekit.frontmatter import dump_yaml

    head = {"kind": "cross_project", "patterns": len(insights), "reusable_agents": len(agents)}
    lines = ["---", dump_yaml(head).rstrip("\n"), "---", "# Cross-project insights", ""]
    if insights:
        lines += ["## Patterns that recur across projects", ""]
        for i in insights:
            lines.append(
                f"- **{i.pattern}** — {len(i.projects)} projects ({', '.join(i.projects)}), "
                f"{i.uses} uses, {i.success_rate:.0%} success, tools {', '.join(i.tools) or 'none'}, "
                f"confidence {i.confidence:.2f} ({i.kind.replace('_', ' ')})"
            )
            if len(i.goals) > 1:
                lines.append("  - phrasings: " + "; ".join(i.goals[:5]))
            lines.append(f"  - traces: {', '.join(i.trace_ids[:10])}")
            if i.suggestion:
                lines.append(f"  - suggestion: {i.suggestion}")
        lines.append("")
    if agents:
        lines += ["## Agents worth reusing", ""]
        for a in agents:
            where = f", used in {', '.join(a.projects)}" if a.projects else ""
            lines.append(
                f"- **{a.name}** — {a.executions} runs, {a.success_rate:.0%} success{where}"
            )
        lines.append("")
    return [("cross-project-insights.md", "\n".join(lines))]


def write_cross_project_insights(
    workspace: Any,
    store: Any = None,
    *,
    volume: str | None = None,
    config: LLMOSConfig | None = None,
) -> list[str]:
    """Write the artifacts into a volume's ``insights/`` folder (default: the system volume); returns paths."""
    from ..atomic import atomic_write_text

    folder = workspace.volume_dir(volume or "system") / "insights"
    written = []
    for name, text in cross_project_insight_artifacts(workspace, store, config=config):
        atomic_write_text(folder / name, text)
        written.append(str(folder / name))
    return written
