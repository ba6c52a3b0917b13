"""DynamicAgentManager: per-goal configuration of the agent sent to the model.

``adapt(agent_name, goal, sentience_adjustments, traces_for_goal)`` returns an
:class:`AdaptedAgent` (system prompt text, tool list, model) built by six strategies, each
visible in ``AdaptedAgent.strategies`` when it changed something:

1. **sentience** — the run's :class:`~llmos_tui.sentience.runtime.RunAdjustments`: withheld
   tools removed (CAUTIOUS/RECOVERY: Bash, Write, Edit, ...), exploration tools added (high
   curiosity), the ``[INTERNAL_STATE]`` block and behavioural guidance appended.
2. **trace_warnings** — failed traces of this goal (and the agent's recorded failures on
   similar goals) become warnings: their errors, and the calls the policy blocked.
3. **memory_guided** — with ``agent_name=None`` the agent is chosen by relevance to the goal
   and its recorded success on goals of the same category; successful tool sequences of
   similar goals are listed as patterns that worked.
4. **model_selection** — the tier from the adjustments (or from goal complexity and track
   record), one tier up when the agent is struggling (success rate below
   ``struggling_success_rate`` after ``evolution_min_executions`` runs); mapped to
   ``config.models.cheap`` / the agent's model or ``config.model`` / ``config.models.strong``.
5. **examples** — up to ``max_examples`` successful traces (success rate at least
   ``learning.tool_example_min_success``) as few-shot examples of their tool calls.
6. **evolution** — when the agent has run at least ``evolution_min_executions`` times with a
   failure rate above ``evolution_failure_rate`` (and ``evolution_cooldown_executions`` runs
   since its last evolution), a new version of its file is written with constraints learned
   from the failures; the old file is kept in ``agents/.versions/``.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..config import AdaptationConfig, LLMOSConfig
from ..runs import Mode
from ..observability.events import EventType
from .agents import (
    AgentFormatError,
    AgentRegistry,
    AgentSpec,
    list_versions,
    replace_agent,
    version_path,
)
from .metrics import AgentMetricsStore, AgentStats, categorize
from .model_choice import TrackRecord, bump_tier, choose_tier, goal_complexity, model_for_tier

DEFAULT_AGENT = "system-agent"
_WORD = re.compile(r"[a-z][a-z0-9]+")
_STOP = frozenset(
    "the a an and or of to in on for with from into this that these those my your our it its is are "
    "be was were by at as all any some please can could would should will do does make create build "
    "write new file files".split()
)


@dataclass
class AdaptedAgent:
    name: str
    version: int
    system_append: str
    tools: list[str]
    model: str
    model_tier: str
    strategies: dict[str, str] = field(default_factory=dict)  # strategy -> what it changed
    warnings: list[str] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)  # trace ids used as examples
    base_tools: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class EvolutionResult:
    name: str
    applied: bool
    reason: str
    old_version: int | None = None
    new_version: int | None = None
    constraints_added: list[str] = field(default_factory=list)
    tools_removed: list[str] = field(default_factory=list)
    backup: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _get(item: Any, name: str, default: Any = None) -> Any:
    if isinstance(item, Mapping):
        return item.get(name, default)
    return getattr(item, name, default)


def _content_words(text: str) -> set[str]:
    return {w[:5] for w in _WORD.findall(text.lower()) if w not in _STOP}


def _calls(trace: Any) -> list[dict[str, Any]]:
    out = []
    for c in _get(trace, "calls", None) or []:
        if isinstance(c, Mapping):
            out.append(
                {
                    "name": c.get("name"),
                    "input": c.get("input") or {},
                    "result": c.get("result") or {},
                }
            )
        else:
            out.append(
                {
                    "name": getattr(c, "name", None),
                    "input": getattr(c, "input", {}) or {},
                    "result": getattr(c, "result", {}) or {},
                }
            )
    return [c for c in out if isinstance(c["name"], str)]


def _failed(trace: Any) -> bool:
    if _get(trace, "outcome") == "failure":
        return True
    ok, ko = int(_get(trace, "success_count", 0) or 0), int(_get(trace, "failure_count", 0) or 0)
    return ko > ok


def _rate(trace: Any) -> float:
    ok, ko = int(_get(trace, "success_count", 0) or 0), int(_get(trace, "failure_count", 0) or 0)
    return (
        ok / (ok + ko)
        if ok + ko
        else (1.0 if _get(trace, "outcome", "success") == "success" else 0.0)
    )


def _brief(value: Any, n: int = 120) -> str:
    text = (
        value
        if isinstance(value, str)
        else json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    )
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _norm_error(error: str) -> str:
    first = (error or "").strip().splitlines()[0] if (error or "").strip() else ""
    first = re.sub(r"(/[\w.\-]+)+", "<path>", first)
    first = re.sub(r"\d+", "N", first)
    return first[:160]


class DynamicAgentManager:
    def __init__(
        self,
        workspace: Any,
        config: LLMOSConfig,
        *,
        registry: AgentRegistry | None = None,
        metrics: AgentMetricsStore | None = None,
        events: Any = None,
    ) -> None:
        root = (
            Path(workspace) if isinstance(workspace, (str, os.PathLike)) else Path(workspace.root)
        )
        self.root = root
        self.agents_dir = root / "agents"
        self.config = config
        self.params: AdaptationConfig = config.adaptation  # validated when loaded
        self.registry = registry or AgentRegistry(self.agents_dir)
        self.metrics = metrics or AgentMetricsStore(root / "state" / "agent_metrics.json")
        self.events = events

    # ---- 3. memory-guided choice ------------------------------------------------------------
    def select_agent(self, goal: str) -> tuple[str, str]:
        """(agent name, why): relevance of name+description to the goal, weighted by track record."""
        goal_words = _content_words(goal)
        cat = categorize(goal)
        stats = self.metrics.all()
        needed = required_tools(goal)
        best: tuple[float, str, str] | None = None
        for spec in self.registry.all():
            if needed and not all(
                any(t in spec.tools for t in alternatives) for alternatives in needed
            ):
                continue  # an agent that cannot do what the goal asks is never chosen for it
            words = _content_words(f"{spec.name.replace('-', ' ')} {spec.description}")
            overlap = len(goal_words & words)
            relevance = overlap / max(1, min(len(goal_words), 4))
            if categorize(spec.description + " " + spec.name) == cat and cat != "other":
                relevance += 0.25
            relevance = min(1.0, relevance)
            if relevance < self.params.memory_min_relevance:
                continue
            runs, ok = (stats.get(spec.name) or AgentStats()).category_rate(cat)
            record = (ok + 1) / (runs + 2)
            score = 0.6 * relevance + 0.4 * record
            why = f"relevance {relevance:.2f}, {ok}/{runs} successes on {cat} goals (score {score:.2f})"
            if best is None or score > best[0] + 1e-9:
                best = (score, spec.name, why)
        if best is None:
            return DEFAULT_AGENT, f"no agent is specific to this goal; using {DEFAULT_AGENT}"
        return best[1], best[2]

    # ---- 6. evolution -------------------------------------------------------------------------
    def evolution_due(self, name: str) -> bool:
        s = self.metrics.get(name)
        p = self.params
        return (
            s.executions >= p.evolution_min_executions
            and s.failure_rate > p.evolution_failure_rate
            and s.executions - s.executions_at_last_evolution >= p.evolution_cooldown_executions
            and bool(s.recent_failures)
        )

    def learned_constraints(self, stats: AgentStats) -> tuple[list[str], list[str]]:
        """(constraints, tools to remove) learned from the recorded failures."""
        constraints: list[str] = []
        blocked: Counter[tuple[str, str]] = Counter()
        blocked_reason: dict[tuple[str, str], str] = {}
        for f in stats.recent_failures:
            for b in f.get("blocked") or []:
                key = (str(b.get("tool")), _norm_error(str(b.get("reason"))))
                blocked[key] += 1
                blocked_reason[key] = str(b.get("reason"))[:160]
        for (tool, _r), n in blocked.most_common():
            constraints.append(
                f"Do not use {tool} for what the policy blocks: it refused {n} call(s) "
                f"({blocked_reason[(tool, _r)]})."
            )
        timeouts = sum(1 for f in stats.recent_failures if f.get("timed_out"))
        if timeouts:
            constraints.append(
                f"Earlier runs timed out ({timeouts}x): keep each step short and stop when a step "
                "does not converge."
            )
        errors = Counter(
            _norm_error(str(f.get("error") or ""))
            for f in stats.recent_failures
            if f.get("error") and not f.get("blocked")
        )
        for err, n in errors.most_common(3):
            if err:
                constraints.append(
                    f'An earlier failure ({n}x): "{err}". Check for this before finishing.'
                )
        in_fail = Counter(t for f in stats.recent_failures for t in set(f.get("tools") or []))
        in_ok = {t for s in stats.recent_successes for t in s.get("tools") or []}
        remove = []
        for tool, n in in_fail.most_common():
            if tool in in_ok or n < 2:
                continue
            constraints.append(
                f"Avoid {tool} unless the goal needs it: it was used in {n} failed runs and in no "
                "successful one."
            )
            if sum(c for (t, _r), c in blocked.items() if t == tool) >= 2:
                remove.append(tool)
        return constraints, remove

    def evolve(self, name: str, *, force: bool = False, dry_run: bool = False) -> EvolutionResult:
        """Write a new version of agent *name* with constraints learned from its failures."""
        spec = self.registry.get(name)
        stats = self.metrics.get(name)
        if not force and not self.evolution_due(name):
            return EvolutionResult(
                name,
                False,
                f"not due: {stats.executions} executions, failure rate "
                f"{stats.failure_rate:.0%} (needs >= {self.params.evolution_min_executions} and > "
                f"{self.params.evolution_failure_rate:.0%}, "
                f"{self.params.evolution_cooldown_executions} runs since the last evolution)",
                old_version=spec.version,
            )
        learned, remove = self.learned_constraints(stats)
        existing = {c.strip().lower() for c in spec.constraints}
        new = [c for c in learned if c.strip().lower() not in existing][
            : self.params.max_learned_constraints
        ]
        remove = [t for t in remove if t in spec.tools]
        if not new and not remove:
            return EvolutionResult(
                name,
                False,
                "nothing new to learn from the recorded failures",
                old_version=spec.version,
            )
        constraints = spec.constraints + new
        if len(constraints) > self.params.max_constraints:
            # Keep the agent's own first constraints and the newest learned ones.
            base = [c for c in spec.constraints][: self.params.max_constraints // 2]
            constraints = base + constraints[-(self.params.max_constraints - len(base)) :]
        next_version = max([spec.version] + list_versions(self.agents_dir, name)) + 1
        evolved = AgentSpec(
            name=spec.name,
            description=spec.description,
            prompt=spec.prompt,
            tools=[t for t in spec.tools if t not in remove],
            model=spec.model,
            version=next_version,
            constraints=constraints,
            extra=dict(spec.extra),
        )
        result = EvolutionResult(
            name,
            not dry_run,
            "due" if not force else "forced",
            old_version=spec.version,
            new_version=next_version,
            constraints_added=new,
            tools_removed=remove,
        )
        if dry_run:
            result.reason += " (dry run: nothing written)"
            return result
        backup = replace_agent(self.agents_dir, spec, evolved)
        result.backup = str(backup)
        executions = stats.executions

        def note(s: AgentStats) -> None:
            s.executions_at_last_evolution = executions
            s.evolutions = (
                s.evolutions
                + [
                    {
                        "from": spec.version,
                        "to": next_version,
                        "at_execution": executions,
                        "failure_rate": round(s.failure_rate, 4),
                        "constraints_added": new,
                        "tools_removed": remove,
                    }
                ]
            )[-20:]

        self.metrics.update(name, note)
        if self.events is not None:
            try:
                self.events.record(
                    EventType.AGENT_EVOLVED,
                    name=name,
                    from_version=spec.version,
                    to_version=next_version,
                    constraints_added=len(new),
                    tools_removed=remove,
                )
            except Exception:
                pass
        return result

    def revert(self, name: str, version: int) -> AgentSpec:
        """Make the kept version *version* current again (as a new version number; nothing is lost)."""
        from .agents import load_agent, parse_agent

        current = self.registry.get(name)
        path = version_path(self.agents_dir, name, version)
        try:
            old = parse_agent(path.read_text(encoding="utf-8"), str(path))
        except FileNotFoundError:
            raise AgentFormatError(
                f"agent {name} has no kept version {version} "
                f"(kept: {', '.join(map(str, list_versions(self.agents_dir, name))) or 'none'})"
            ) from None
        old.version = max([current.version] + list_versions(self.agents_dir, name)) + 1
        replace_agent(self.agents_dir, current, old)
        return load_agent(self.agents_dir, name)

    def record_execution(
        self,
        name: str,
        goal: str,
        *,
        success: bool,
        cost_usd: float = 0.0,
        duration_ms: int = 0,
        error: str | None = None,
        tools_used: Iterable[str] = (),
        blocked: Iterable[dict[str, Any]] = (),
        timed_out: bool = False,
        mode: str = Mode.LEARNER,
        model: str | None = None,
    ) -> bool:
        """Record one run of agent *name*; returns True when an evolution is now due."""
        self.metrics.record(
            name,
            goal,
            success=success,
            cost_usd=cost_usd,
            duration_ms=duration_ms,
            error=error,
            tools_used=tools_used,
            blocked=blocked,
            timed_out=timed_out,
            mode=mode,
            model=model,
        )
        return self.evolution_due(name)

    # ---- adapt ------------------------------------------------------------------------------------
    def adapt(
        self,
        agent_name: str | None,
        goal: str,
        sentience_adjustments: Any = None,
        traces_for_goal: Iterable[Any] = (),
    ) -> AdaptedAgent:
        traces = list(traces_for_goal)
        strategies: dict[str, str] = {}
        # 3. memory-guided choice
        if agent_name is None:
            agent_name, why = self.select_agent(goal)
            strategies["memory_guided"] = f"chose {agent_name}: {why}"
        # 6. evolution (before use, so this run already benefits)
        if self.params.auto_evolve and self.evolution_due(agent_name):
            res = self.evolve(agent_name)
            if res.applied:
                strategies["evolution"] = (
                    f"evolved {agent_name} v{res.old_version} -> v{res.new_version} "
                    f"(+{len(res.constraints_added)} constraints)"
                )
        spec = self.registry.get(agent_name)
        stats = self.metrics.get(agent_name)
        adj = sentience_adjustments
        # 1. sentience-driven tools and guidance
        tools = adj.apply_tools(spec.tools) if adj is not None else list(spec.tools)
        sections = [spec.system_text()]
        if adj is not None:
            removed = [t for t in spec.tools if t not in tools]
            added = [t for t in tools if t not in spec.tools]
            parts = []
            if removed:
                parts.append(f"removed {', '.join(removed)}")
            if added:
                parts.append(f"added {', '.join(added)}")
            if adj.inject:
                sections.append(adj.inject)
                parts.append(f"internal state ({adj.latent_mode}) injected")
            if parts:
                strategies["sentience"] = "; ".join(parts)
        # 2. trace-driven warnings
        warnings = self._warnings(goal, traces, stats)
        if warnings:
            sections.append(
                "## Warnings from earlier attempts\n" + "\n".join(f"- {w}" for w in warnings)
            )
            strategies["trace_warnings"] = f"{len(warnings)} warning(s) from failed attempts"
        # 3. (cont.) patterns that worked
        patterns = self._patterns(traces)
        if patterns:
            sections.append("## Patterns that worked\n" + "\n".join(f"- {p}" for p in patterns))
            strategies.setdefault("memory_guided", "")
            strategies["memory_guided"] = (
                strategies["memory_guided"] + "; " if strategies["memory_guided"] else ""
            ) + f"{len(patterns)} successful tool pattern(s)"
        # 4. model selection
        tier, tier_why = self._tier(goal, adj, traces)
        if (
            stats.executions >= self.params.evolution_min_executions
            and stats.success_rate < self.params.struggling_success_rate
            and tier != "strong"
        ):
            tier = bump_tier(tier, 1)
            tier_why += (
                f"; {agent_name} succeeds only {stats.success_rate:.0%} of the time, so one tier up"
            )
        model = model_for_tier(tier, self.config, spec.model)
        strategies["model_selection"] = f"{tier} -> {model}: {tier_why}"
        # 5. prompt enhancement with examples
        examples, used = self._examples(traces)
        if examples:
            sections.append("## Examples of solved goals\n" + "\n\n".join(examples))
            strategies["examples"] = f"{len(used)} example(s) from successful traces"
        return AdaptedAgent(
            name=spec.name,
            version=spec.version,
            system_append="\n\n".join(s for s in sections if s),
            tools=tools,
            model=model,
            model_tier=tier,
            strategies=strategies,
            warnings=warnings,
            examples=used,
            base_tools=list(spec.tools),
        )

    def _tier(self, goal: str, adj: Any, traces: list[Any]) -> tuple[str, str]:
        if adj is not None and getattr(adj, "model_tier", None):
            return adj.model_tier, "from the internal state and track record"
        from ..sentience_params import SentienceParams

        params = SentienceParams.from_config(self.config)
        ok = sum(int(_get(t, "success_count", 0) or 0) for t in traces)
        ko = sum(int(_get(t, "failure_count", 0) or 0) for t in traces)
        return choose_tier(goal_complexity(goal), TrackRecord(ok + ko, ok), params)

    def _warnings(self, goal: str, traces: list[Any], stats: AgentStats) -> list[str]:
        out: list[str] = []
        for t in traces:
            if not _failed(t):
                continue
            err = _get(t, "error")
            out.append(
                f'An attempt at "{_brief(_get(t, "goal", ""), 80)}" failed'
                + (f": {_brief(err, 160)}" if err else ".")
            )
            for c in _calls(t):
                res = c["result"]
                if isinstance(res, Mapping) and res.get("decision") == "deny":
                    out.append(
                        f"Do not call {c['name']} with {_brief(c['input'], 100)}: the policy blocked it "
                        f"({_brief(res.get('summary', ''), 100)})."
                    )
        words = _content_words(goal)
        for f in reversed(stats.recent_failures):
            fw = _content_words(str(f.get("goal", "")))
            if words and len(words & fw) / max(1, len(words)) >= 0.5:
                text = f'A similar goal "{_brief(f.get("goal", ""), 80)}" failed' + (
                    f": {_brief(f.get('error'), 160)}" if f.get("error") else "."
                )
                out.append(text)
        return list(dict.fromkeys(out))[: self.params.max_warnings]

    @staticmethod
    def _patterns(traces: list[Any]) -> list[str]:
        seqs: Counter[str] = Counter()
        for t in traces:
            if _failed(t):
                continue
            names = [c["name"] for c in _calls(t)]
            if names:
                seqs[" -> ".join(dict.fromkeys(names))] += max(
                    1, int(_get(t, "success_count", 1) or 1)
                )
        return [f"{seq} (succeeded {n}x)" for seq, n in seqs.most_common(2)]

    def _examples(self, traces: list[Any]) -> tuple[list[str], list[str]]:
        if self.params.max_examples == 0:
            return [], []
        min_rate = self.config.learning.tool_example_min_success
        good = [t for t in traces if not _failed(t) and _rate(t) >= min_rate and _calls(t)]
        good.sort(key=lambda t: (_rate(t), int(_get(t, "usage_count", 0) or 0)), reverse=True)
        out, used = [], []
        for t in good[: self.params.max_examples]:
            calls = [{"name": c["name"], "input": c["input"]} for c in _calls(t)]
            body = json.dumps(calls, ensure_ascii=False, default=str)
            if len(body) > self.params.example_max_chars:
                body = body[: self.params.example_max_chars - 1] + "…"
            out.append(f"Goal: {_brief(_get(t, 'goal', ''), 200)}\nTool calls: {body}")
            used.append(str(_get(t, "id", "")))
        return out, used


# What a goal's actions need, as alternatives per need: "create a file" needs Write (or Edit).
_ACTION_TOOLS: dict[str, tuple[str, ...]] = {
    "create": ("Write", "Edit"),
    "update": ("Edit", "Write", "MultiEdit"),
    "fix": ("Edit", "Write", "MultiEdit"),
    "delete": ("Bash",),
    "clean": ("Bash",),
    "rename": ("Bash",),
    "run": ("Bash",),
    "stop": ("Bash",),
    "test": ("Bash",),
    "format": ("Bash", "Edit"),
    "convert": ("Write", "Bash"),
    "compress": ("Bash",),
    "extract": ("Bash",),
    "backup": ("Bash",),
}


def required_tools(goal: str) -> list[tuple[str, ...]]:
    """Per action verb of the goal, the tools of which an agent needs at least one."""
    from ..learning.text import prepare

    try:
        verbs = prepare(goal).verbs
    except Exception:  # noqa: BLE001 - an unparsable goal imposes no requirement
        return []
    return [_ACTION_TOOLS[v] for v in sorted(verbs) if v in _ACTION_TOOLS]
