"""The evolvers (TraceEvolver, ToolEvolver, AgentEvolver): deterministic analysis of
one volume that yields *findings* (insights and suggestions to write as markdown) and
*proposals* (changes that wait in the inbox for the user, see ``engine.py``).

Everything here reads; nothing writes. The inputs are a :class:`VolumeSnapshot` (the volume's
traces, crystallized tools, agent names and recent tool events, gathered once per cycle) and
the configuration. Outputs are stable: the same volume gives the same findings, byte for byte,
so re-running a cycle rewrites nothing (no timestamps in artifact bodies).

TraceEvolver
    usage patterns (repeated goals, goal families that differ only in a slot, shared tool
    sequences, what replays saved), failure patterns (failed traces grouped by cause), the
    crystallization picture (eligible traces, near candidates, traces that can never be tools),
    duplicate traces (same goal signature and same calls: merge their counts into one and
    archive the rest) and stale traces (unused for ``crons.trace_archive_days``: archive them
    with a digest that says where the originals went).
ToolEvolver
    superseded crystallized versions (archive them), tool health (demoted and rejected tools
    with their reasons, failure rates from ``TOOL_RUN`` events, active tools nobody ran).
AgentEvolver
    a specialised agent for a goal family used often enough (a new ``agents/<name>.md`` in the
    volume) and, for the user's workspace agents, an evolution that is due.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import re
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

from ..config import LLMOSConfig
from ..learning.traces import Trace, normalize_goal

MAX_ROWS = 25
_WORD = re.compile(r"[a-z0-9]+")
_FILLER = frozenset(
    {
        "a",
        "an",
        "the",
        "please",
        "to",
        "of",
        "for",
        "and",
        "in",
        "on",
        "with",
        "my",
        "me",
        "all",
        "this",
        "that",
        "from",
        "into",
        "as",
        "by",
        "at",
        "it",
    }
)


# ---- records ---------------------------------------------------------------------------------


@dataclass
class Finding:
    """An insight or a suggestion to write into the volume (``kind``/``name``.md)."""

    kind: str  # insights | suggestions
    name: str
    title: str
    summary: str
    body: str
    evolver: str = "trace"
    data: dict[str, Any] = field(default_factory=dict)

    def render(self, *, scope: str, source: str) -> str:
        from edgekit.frontmatter import join

        head = {
            "title": self.title,
            "kind": self.kind[:-1],
            "generated_by": source,
            "volume": scope,
            "evolver": self.evolver,
            "summary": self.summary,
        }
        head.update({k: v for k, v in self.data.items() if k not in head})
        return join(head, f"# {self.title}\n\n{self.body.strip()}\n")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Proposal:
    """A change that waits for the user (``hub.propose``); ``key`` identifies its evidence, so
    the same situation is never proposed twice."""

    kind: str  # applier kind (engine.py / volumes/appliers.py)
    title: str
    summary: str
    preview: str
    payload: dict[str, Any]
    key: str
    volume: str
    evolver: str = "trace"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ToolStats:
    runs: int = 0
    ok: int = 0
    last: str | None = None
    reasons: list[str] = field(default_factory=list)
    demotions: int = 0


@dataclass
class VolumeSnapshot:
    scope: str
    traces: list[Trace] = field(default_factory=list)
    tools: list[Any] = field(default_factory=list)  # CrystallizedTool of this volume
    agents: list[str] = field(default_factory=list)  # agent artifacts of this volume
    workspace_agents: list[str] = field(default_factory=list)
    tool_stats: dict[str, ToolStats] = field(default_factory=dict)
    problems: list[dict[str, str]] = field(default_factory=list)
    now: _dt.datetime = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc))


# ---- small helpers -----------------------------------------------------------------------------


def short_hash(*parts: Any, n: int = 10) -> str:
    text = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:n]


def parse_time(text: Any) -> _dt.datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        value = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=_dt.timezone.utc)


def md_cell(value: Any, width: int = 80) -> str:
    text = " ".join(str(value if value is not None else "").split()).replace("|", "\\|")
    return text if len(text) <= width else text[: width - 1] + "…"


def money(value: float) -> str:
    return f"${value:.4f}" if value < 1 else f"${value:.2f}"


def calls_fingerprint(trace: Trace) -> str:
    """What a trace does: the names and inputs of its calls (results and counters excluded)."""
    return short_hash([[c.name, c.input] for c in trace.calls], n=16)


def slots_of(trace: Trace) -> dict[str, Any]:
    """The trace's recorded slots, or those found in its goal (hand-made traces may lack them)."""
    if trace.slots:
        return dict(trace.slots)
    from ..learning.slots import extract_slots

    return dict(extract_slots(trace.goal))


def goal_template(trace: Trace) -> str:
    """The goal with its slot values replaced by ``{slot}``: goals that differ only in a file
    name or a language share a template."""
    text = normalize_goal(trace.goal)
    for name, value in sorted(slots_of(trace).items(), key=lambda kv: -len(str(kv[1]))):
        if not isinstance(value, str) or not value.strip():
            continue
        needle = normalize_goal(value)
        if needle and needle in text:
            text = text.replace(needle, "{" + str(name) + "}")
    return " ".join(text.split())


def slug(text: str, limit: int = 40) -> str:
    words = [w for w in _WORD.findall(text.lower()) if w not in _FILLER]
    out = ""
    for word in words:
        cand = f"{out}-{word}" if out else word
        if len(cand) > limit:
            break
        out = cand
    return out or "goal"


def classify_cause(text: str) -> str:
    low = text.lower()
    if "blocked" in low or "denied" in low or "policy" in low or "not allowed" in low:
        return "policy"
    if "timed out" in low or "timeout" in low:
        return "timeout"
    if (
        "no such file" in low
        or "not found" in low
        and "command" not in low
        or "does not exist" in low
    ):
        return "missing-file"
    if "command not found" in low or "not recognized" in low:
        return "missing-command"
    if "permission denied" in low or "read-only" in low:
        return "permission"
    if "exit" in low or "status" in low:
        return "command-failed"
    return "other"


ADVICE = {
    "policy": "The policy refused a call. See which rule refused it and why with "
    "`llmos policy --tool NAME --input JSON`, then rephrase the goal so it stays inside the "
    "working directory.",
    "timeout": "The run ran out of time. Split the goal into smaller steps or raise "
    "`execution.run_timeout_s`.",
    "missing-file": "A file the run expected was not there. Replays need the same inputs: create "
    "the file first or name it in the goal so it becomes a slot.",
    "missing-command": "A command is not installed where the run happened. Install it or let the "
    "goal use a tool that is available.",
    "permission": "The run could not write where it wanted. Writes are confined to the working "
    "directory; point the goal at a path inside it.",
    "command-failed": "A shell command exited with an error. Look at the failing step below; a "
    "replay stops at the first mismatch and falls back to LEARNER.",
    "other": "Look at the failing traces below (`llmos traces show ID`).",
}


def normalize_error(text: str) -> str:
    first = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    first = re.sub(r"(/[\w.\-]+)+", "<path>", first)
    first = re.sub(r"\{\{cwd\}\}[\w./\-]*", "<path>", first)
    first = re.sub(r"\b[0-9a-f]{8,}\b", "<id>", first)
    first = re.sub(r"\d+", "N", first)
    return " ".join(first.split())[:160]


def failure_cause(trace: Trace) -> tuple[str, str] | None:
    """(category, normalised cause) of a trace that failed at least once, else None."""
    if trace.failure_count <= 0 and trace.outcome == "success":
        return None
    for call in trace.calls:
        result = call.result if isinstance(call.result, dict) else {}
        if result.get("decision") == "deny":
            reason = normalize_error(
                str(result.get("summary") or result.get("reason") or "blocked")
            )
            return "policy", f"{call.name} blocked: {reason}"
        if result.get("is_error") or (
            isinstance(result.get("exit_code"), int) and result.get("exit_code") != 0
        ):
            summary = normalize_error(str(result.get("summary") or ""))
            code = result.get("exit_code")
            detail = summary or (f"exit status {code}" if code is not None else "error")
            return classify_cause(
                f"{summary} exit {code}" if code is not None else summary
            ), f"{call.name}: {detail}"
    if trace.error:
        norm = normalize_error(trace.error)
        return classify_cause(trace.error), norm or "failed"
    if trace.failure_count > 0:
        return "other", "a replay or run of this trace failed (no error text recorded)"
    return None


# ---- TraceEvolver --------------------------------------------------------------------------------


class TraceEvolver:
    name = "trace"

    def __init__(self, config: LLMOSConfig | None = None) -> None:
        self.config = config
        cfg = config if config is not None else LLMOSConfig()
        self.min_uses = cfg.learning.crystallization_min_uses
        self.min_success = cfg.learning.crystallization_min_success
        self.archive_days = cfg.crons.trace_archive_days

    # -- patterns ---------------------------------------------------------------------------
    def patterns(self, snap: VolumeSnapshot) -> list[Finding]:
        traces = snap.traces
        if not traces:
            return []
        by_sig: dict[str, list[Trace]] = defaultdict(list)
        for t in traces:
            by_sig[t.signature].append(t)
        repeated: list[dict[str, Any]] = []
        for sig, group in by_sig.items():
            uses = sum(t.usage_count for t in group)
            if uses < 2:
                continue
            ok = sum(t.success_count for t in group)
            bad = sum(t.failure_count for t in group)
            learned = sum(t.cost_usd for t in group)
            saved = sum(
                t.cost_usd * max(0, t.usage_count - 1) for t in group if t.outcome == "success"
            )
            tools = sorted({t.crystallized_tool for t in group if t.crystallized_tool})
            repeated.append(
                {
                    "goal": min(group, key=lambda t: t.created_at).goal,
                    "signature": sig,
                    "traces": len(group),
                    "uses": uses,
                    "success_rate": ok / (ok + bad) if ok + bad else 0.0,
                    "learn_cost": learned,
                    "saved": saved,
                    "tools": tools,
                }
            )
        repeated.sort(key=lambda r: (-r["uses"], r["goal"]))
        families = self.families(traces)
        sequences = self._sequences(traces)
        if not repeated and not families and not sequences:
            return []
        total_uses = sum(t.usage_count for t in traces)
        ok = sum(t.success_count for t in traces)
        bad = sum(t.failure_count for t in traces)
        learned = sum(t.cost_usd for t in traces)
        saved = sum(r["saved"] for r in repeated)
        lines = [
            f"{len(traces)} trace(s) in `{snap.scope}`, {total_uses} use(s), "
            f"{(ok / (ok + bad)) if ok + bad else 0:.0%} success; learning cost {money(learned)}, "
            f"replays avoided about {money(saved)} of model spend."
        ]
        if repeated:
            lines += [
                "",
                "## Repeated goals",
                "",
                "| goal | traces | uses | success | tool | saved |",
                "|---|---:|---:|---:|---|---:|",
            ]
            for r in repeated[:MAX_ROWS]:
                lines.append(
                    f"| {md_cell(r['goal'], 70)} | {r['traces']} | {r['uses']} | {r['success_rate']:.0%} | "
                    f"{md_cell(', '.join(r['tools']) or '-', 40)} | {money(r['saved'])} |"
                )
        if families:
            lines += ["", "## Goal families (the same task with different values)", ""]
            for fam in families[:MAX_ROWS]:
                lines.append(
                    f"- `{fam['template']}`: {len(fam['goals'])} goals, {fam['uses']} uses, "
                    f"{fam['success_rate']:.0%} success — "
                    + "; ".join(md_cell(g, 50) for g in fam["goals"][:5])
                )
        if sequences:
            lines += ["", "## Tool sequences shared by different goals", ""]
            for seq, goals in sequences[:MAX_ROWS]:
                lines.append(
                    f"- {' → '.join(seq)}: {len(goals)} goals ("
                    + "; ".join(md_cell(g, 40) for g in goals[:4])
                    + ")"
                )
        top = repeated[0] if repeated else None
        summary = (
            f"'{md_cell(top['goal'], 60)}' ran {top['uses']} times"
            if top
            else f"{len(families)} goal famil{'y' if len(families) == 1 else 'ies'}"
            if families
            else f"{len(sequences)} shared tool sequence(s)"
        )
        return [
            Finding(
                "insights",
                "usage-patterns",
                "Usage patterns",
                summary,
                "\n".join(lines),
                "trace",
                {
                    "repeated_goals": len(repeated),
                    "families": len(families),
                    "traces": len(traces),
                    "uses": total_uses,
                },
            )
        ]

    def families(self, traces: Iterable[Trace]) -> list[dict[str, Any]]:
        """Templates shared by at least two different goals (signatures)."""
        groups: dict[str, list[Trace]] = defaultdict(list)
        for t in traces:
            template = goal_template(t)
            if "{" in template:
                groups[template].append(t)
        out: list[dict[str, Any]] = []
        for template, group in groups.items():
            goals = sorted({t.goal for t in group})
            if len({t.signature for t in group}) < 2:
                continue
            ok = sum(t.success_count for t in group)
            bad = sum(t.failure_count for t in group)
            out.append(
                {
                    "template": template,
                    "goals": goals,
                    "uses": sum(t.usage_count for t in group),
                    "success_rate": ok / (ok + bad) if ok + bad else 0.0,
                    "traces": group,
                }
            )
        out.sort(key=lambda f: (-f["uses"], f["template"]))
        return out

    @staticmethod
    def _sequences(traces: Iterable[Trace]) -> list[tuple[tuple[str, ...], list[str]]]:
        seqs: dict[tuple[str, ...], dict[str, str]] = defaultdict(dict)
        for t in traces:
            names = tuple(c.name for c in t.calls)
            if len(names) >= 2:
                seqs[names].setdefault(t.signature, t.goal)
        out = [(seq, sorted(goals.values())) for seq, goals in seqs.items() if len(goals) >= 2]
        out.sort(key=lambda item: (-len(item[1]), item[0]))
        return out

    # -- failures -----------------------------------------------------------------------------
    def failures(self, snap: VolumeSnapshot) -> list[Finding]:
        groups: dict[tuple[str, str], list[Trace]] = defaultdict(list)
        for t in snap.traces:
            found = failure_cause(t)
            if found is not None:
                groups[found].append(t)
        if not groups:
            return []
        rows = sorted(
            groups.items(), key=lambda kv: (-sum(t.failure_count or 1 for t in kv[1]), kv[0])
        )
        total = sum(sum(t.failure_count or 1 for t in g) for g in groups.values())
        lines = [
            f"{total} failure(s) in {sum(len(g) for g in groups.values())} trace(s) of `{snap.scope}`, "
            f"grouped by cause.",
            "",
            "| category | cause | traces | failures | example goal |",
            "|---|---|---:|---:|---|",
        ]
        for (category, cause), group in rows[:MAX_ROWS]:
            lines.append(
                f"| {category} | {md_cell(cause, 70)} | {len(group)} | "
                f"{sum(t.failure_count or 1 for t in group)} | {md_cell(group[0].goal, 50)} |"
            )
        out = [
            Finding(
                "insights",
                "failure-patterns",
                "Failure patterns",
                f"{total} failure(s), most often: {md_cell(rows[0][0][1], 70)}",
                "\n".join(lines),
                "trace",
                {"causes": len(groups), "failures": total},
            )
        ]
        for (category, cause), group in rows[:MAX_ROWS]:
            failures = sum(t.failure_count or 1 for t in group)
            if len(group) < 2 and failures < 3:
                continue
            body = [f"**Cause** ({category}): {cause}", "", ADVICE[category], "", "Traces:", ""]
            body += [
                f"- `{t.id}` {md_cell(t.goal, 70)} — {t.failure_count} failure(s) of {t.usage_count} use(s)"
                for t in sorted(group, key=lambda t: t.id)[:MAX_ROWS]
            ]
            out.append(
                Finding(
                    "suggestions",
                    f"fix-{category}-{short_hash(cause, n=8)}",
                    f"Recurring failure: {md_cell(cause, 60)}",
                    f"{failures} failure(s) in {len(group)} trace(s): {ADVICE[category].split('.')[0]}.",
                    "\n".join(body),
                    "trace",
                    {"category": category, "traces": len(group), "failures": failures},
                )
            )
        return out

    # -- crystallization ------------------------------------------------------------------------
    def crystallization(
        self, snap: VolumeSnapshot, crystallizer: Any
    ) -> tuple[list[Trace], list[Finding]]:
        """(eligible traces, findings about near candidates and traces that cannot become tools)."""
        from .crystallizer import structural_problem

        eligible: list[Trace] = []
        near: list[tuple[Trace, str]] = []
        blocked: list[tuple[Trace, str]] = []
        for t in snap.traces:
            if t.crystallized_tool:
                continue
            reason = crystallizer.eligibility(t) if crystallizer is not None else "no crystallizer"
            if reason is None:
                eligible.append(t)
                continue
            if t.outcome != "success" or t.usage_count < 2:
                continue
            problem = structural_problem(t)
            if problem:
                if t.usage_count >= self.min_uses:
                    blocked.append((t, problem))
            elif t.usage_count < self.min_uses and t.success_rate >= self.min_success:
                near.append((t, f"{t.usage_count} of {self.min_uses} uses"))
        if not near and not blocked:
            return eligible, []
        lines = []
        if near:
            lines += [
                "## Close to becoming a zero-LLM tool",
                "",
                f"A trace is crystallized after {self.min_uses} uses at {self.min_success:.0%} success.",
                "",
            ]
            lines += [
                f"- `{t.id}` {md_cell(t.goal, 70)}: {why}, {t.success_rate:.0%} success"
                for t, why in sorted(near, key=lambda p: (-p[0].usage_count, p[0].id))[:MAX_ROWS]
            ]
        if blocked:
            lines += ["", "## Used often but cannot be crystallized", ""]
            lines += [
                f"- `{t.id}` {md_cell(t.goal, 70)} ({t.usage_count} uses): {md_cell(why, 120)}"
                for t, why in sorted(blocked, key=lambda p: (-p[0].usage_count, p[0].id))[:MAX_ROWS]
            ]
        summary = (
            (f"{len(near)} trace(s) close to crystallization" if near else "")
            + ("; " if near and blocked else "")
            + (f"{len(blocked)} frequent trace(s) cannot be tools" if blocked else "")
        )
        return eligible, [
            Finding(
                "suggestions",
                "crystallization-candidates",
                "Crystallization candidates",
                summary,
                "\n".join(lines).strip(),
                "trace",
                {"near": len(near), "blocked": len(blocked)},
            )
        ]

    def propose_crystallization(
        self, snap: VolumeSnapshot, eligible: list[Trace], identity: dict[str, Any]
    ) -> list[Proposal]:
        out = []
        for t in eligible:
            out.append(
                Proposal(
                    "tool.crystallize",
                    f"Crystallize '{md_cell(t.goal, 60)}' into a tool",
                    f"Trace {t.id} ran {t.usage_count} times at {t.success_rate:.0%} success; as a verified tool it "
                    "runs with no LLM call (learning.auto_crystallization is off, so this waits for you).",
                    "\n".join(
                        f"{i + 1}. {c.name} {md_cell(json.dumps(c.input, ensure_ascii=False), 100)}"
                        for i, c in enumerate(t.calls[:20])
                    ),
                    {"scope": snap.scope, "identity": identity, "trace_id": t.id},
                    f"tool.crystallize:{snap.scope}:{t.id}:{t.usage_count // max(1, self.min_uses)}",
                    snap.scope,
                    "trace",
                )
            )
        return out

    # -- duplicates -------------------------------------------------------------------------------
    def propose_merges(self, snap: VolumeSnapshot, identity: dict[str, Any]) -> list[Proposal]:
        groups: dict[tuple[str, str], list[Trace]] = defaultdict(list)
        for t in snap.traces:
            if t.calls:
                groups[(t.signature, calls_fingerprint(t))].append(t)
        out = []
        for (sig, fp), group in sorted(groups.items()):
            if len(group) < 2:
                continue
            keep = merge_keeper(group)
            others = [t for t in group if t.id != keep.id and not t.crystallized_tool]
            if not others:
                continue
            uses = sum(t.usage_count for t in others)
            preview = [
                f"keep  {keep.id}  {keep.usage_count} uses ({keep.success_count} ok, {keep.failure_count} failed)"
            ]
            preview += [
                f"merge {t.id}  {t.usage_count} uses ({t.success_count} ok, {t.failure_count} failed) "
                f"-> archived"
                for t in others
            ]
            out.append(
                Proposal(
                    "traces.merge",
                    f"Merge {len(others) + 1} identical traces of '{md_cell(keep.goal, 50)}'",
                    f"{len(others) + 1} traces record the same goal with the same calls; their counts ({uses} more "
                    f"use(s)) go into {keep.id} and the others are archived (recoverable under .archive/traces/).",
                    "\n".join(preview),
                    {
                        "scope": snap.scope,
                        "identity": identity,
                        "keep": keep.id,
                        "merge": sorted(t.id for t in others),
                        "signature": sig,
                        "calls": fp,
                    },
                    f"traces.merge:{snap.scope}:{keep.id}:{','.join(sorted(t.id for t in others))}",
                    snap.scope,
                    "trace",
                )
            )
        return out

    # -- consolidation ----------------------------------------------------------------------------
    def stale(self, snap: VolumeSnapshot) -> list[Trace]:
        limit = snap.now - _dt.timedelta(days=self.archive_days)
        out = []
        for t in snap.traces:
            when = parse_time(t.last_used) or parse_time(t.created_at)
            if when is None or when > limit or t.crystallized_tool:
                continue
            if t.outcome == "success" and t.usage_count >= self.min_uses and t.success_rate >= 0.5:
                continue  # old but proven: it still earns its place
            out.append(t)
        return sorted(out, key=lambda t: t.id)

    def propose_consolidation(
        self, snap: VolumeSnapshot, identity: dict[str, Any]
    ) -> list[Proposal]:
        stale = self.stale(snap)
        if not stale:
            return []
        month = snap.now.strftime("%Y-%m")
        digest_name = f"trace-digest-{month}-{short_hash([t.id for t in stale], n=6)}"
        body = [
            f"{len(stale)} trace(s) of `{snap.scope}` unused for more than {self.archive_days:g} days were "
            "archived. The originals are kept under `.archive/traces/` in this volume (file "
            "`<id>.<timestamp>.md`); move one back into `traces/` and run `llmos traces reindex` to restore it.",
            "",
            "| trace | goal | uses | success | last used | outcome |",
            "|---|---|---:|---:|---|---|",
        ]
        for t in stale:
            body.append(
                f"| `{t.id}` | {md_cell(t.goal, 60)} | {t.usage_count} | {t.success_rate:.0%} | "
                f"{(t.last_used or t.created_at)[:10]} | {t.outcome} |"
            )
        tools = Counter(name for t in stale for name in t.tools_used)
        if tools:
            body += [
                "",
                "Tools these runs used: " + ", ".join(f"{n} ({c})" for n, c in tools.most_common()),
            ]
        digest = Finding(
            "insights",
            digest_name,
            f"Trace digest {month}: {len(stale)} archived",
            f"{len(stale)} stale trace(s) summarised and archived",
            "\n".join(body),
            "trace",
            {"archived": [t.id for t in stale]},
        )
        return [
            Proposal(
                "artifacts.archive",
                f"Archive {len(stale)} stale trace(s) of {snap.scope}",
                f"{len(stale)} trace(s) unused for {self.archive_days:g}+ days (failed, or used fewer than "
                f"{self.min_uses} times). They are summarised in insights/{digest_name}.md and moved to "
                ".archive/traces/ (recoverable).",
                "\n".join(
                    f"- {t.id}  {md_cell(t.goal, 70)}  ({t.usage_count} uses, last {(t.last_used or t.created_at)[:10]})"
                    for t in stale[:50]
                ),
                {
                    "scope": snap.scope,
                    "identity": identity,
                    "kind": "traces",
                    "names": [t.id for t in stale],
                    "reason": f"unused for {self.archive_days:g}+ days",
                    "summary": {
                        "kind": "insights",
                        "name": digest_name,
                        "content": digest.render(scope=snap.scope, source=_label(identity)),
                    },
                },
                f"artifacts.archive:{snap.scope}:traces:{short_hash([t.id for t in stale])}",
                snap.scope,
                "trace",
            )
        ]


def shared_patterns(
    by_owner: dict[str, list[Trace]], *, name: str, title: str, owner_word: str, where: str
) -> list[Finding]:
    """Goals and failure causes seen in the traces of at least two owners (members of a team,
    or volumes of the workspace): what a team or the system should share or fix once."""
    goals: dict[str, dict[str, Any]] = {}
    causes: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    for owner, traces in sorted(by_owner.items()):
        for t in traces:
            row = goals.setdefault(
                t.signature, {"goal": t.goal, "owners": {}, "ok": 0, "bad": 0, "tools": set()}
            )
            row["owners"][owner] = row["owners"].get(owner, 0) + t.usage_count
            row["ok"] += t.success_count
            row["bad"] += t.failure_count
            if t.crystallized_tool:
                row["tools"].add(t.crystallized_tool)
            found = failure_cause(t)
            if found is not None:
                causes[found][owner] = causes[found].get(owner, 0) + (t.failure_count or 1)
    shared = sorted(
        (r for r in goals.values() if len(r["owners"]) >= 2),
        key=lambda r: (-len(r["owners"]), -sum(r["owners"].values()), r["goal"]),
    )
    common_causes = sorted(
        ((c, o) for c, o in causes.items() if len(o) >= 2),
        key=lambda item: (-sum(item[1].values()), item[0]),
    )
    if not shared and not common_causes:
        return []
    lines = [f"Traces of {len(by_owner)} {owner_word}(s) of {where} compared."]
    if shared:
        lines += [
            "",
            f"## Goals used by several {owner_word}s",
            "",
            f"| goal | {owner_word}s | uses | success | tools |",
            "|---|---|---:|---:|---|",
        ]
        for r in shared[:MAX_ROWS]:
            done = r["ok"] + r["bad"]
            owners = ", ".join(f"{o} ({n})" for o, n in sorted(r["owners"].items()))
            lines.append(
                f"| {md_cell(r['goal'], 60)} | {md_cell(owners, 60)} | {sum(r['owners'].values())} | "
                f"{(r['ok'] / done) if done else 0:.0%} | {md_cell(', '.join(sorted(r['tools'])) or '-', 40)} |"
            )
    if common_causes:
        lines += ["", f"## Failures several {owner_word}s hit", ""]
        for (category, cause), counts in common_causes[:MAX_ROWS]:
            lines.append(
                f"- ({category}) {md_cell(cause, 90)}: "
                + ", ".join(f"{o} ({n})" for o, n in sorted(counts.items()))
                + f" — {ADVICE[category]}"
            )
    summary = (
        (f"{len(shared)} goal(s) shared by several {owner_word}s" if shared else "")
        + ("; " if shared and common_causes else "")
        + (f"{len(common_causes)} failure cause(s) shared" if common_causes else "")
    )
    return [
        Finding(
            "insights",
            name,
            title,
            summary,
            "\n".join(lines),
            "trace",
            {
                "shared_goals": len(shared),
                "shared_failures": len(common_causes),
                "owners": len(by_owner),
            },
        )
    ]


def merge_keeper(group: list[Trace]) -> Trace:
    """Which of identical traces keeps the merged counts: one with a tool, then the most
    successful, then the oldest."""
    return sorted(
        group, key=lambda t: (t.crystallized_tool is None, -t.success_count, t.created_at, t.id)
    )[0]


def _label(identity: dict[str, Any]) -> str:
    kind = identity.get("kind")
    if kind == "system_cron":
        return "system_cron"
    if kind == "team_cron":
        return f"team_cron:{identity.get('team')}"
    return f"{kind}:{identity.get('user')}"


# ---- ToolEvolver ---------------------------------------------------------------------------------


class ToolEvolver:
    name = "tool"

    def __init__(self, config: LLMOSConfig | None = None) -> None:
        cfg = config if config is not None else LLMOSConfig()
        self.archive_days = cfg.crons.trace_archive_days

    def propose_improvements(
        self, snap: VolumeSnapshot, identity: dict[str, Any]
    ) -> list[Proposal]:
        """Superseded crystallized versions (an active newer version exists): archive them."""
        active = {t.name: t.version for t in snap.tools if t.status == "active"}
        old = sorted(
            (
                t
                for t in snap.tools
                if t.status == "superseded" and t.version < active.get(t.name, 0)
            ),
            key=lambda t: t.id,
        )
        if not old:
            return []
        return [
            Proposal(
                "artifacts.archive",
                f"Archive {len(old)} superseded tool version(s) in {snap.scope}",
                "These versions were replaced by a newer verified version and never run again; archiving keeps "
                "them recoverable under .archive/tools/.",
                "\n".join(f"- {t.id} (superseded by {t.name}_v{active[t.name]})" for t in old),
                {
                    "scope": snap.scope,
                    "identity": identity,
                    "kind": "tools",
                    "names": [t.id for t in old],
                    "reason": "superseded by a newer verified version",
                },
                f"artifacts.archive:{snap.scope}:tools:{short_hash([t.id for t in old])}",
                snap.scope,
                "tool",
            )
        ]

    def findings(self, snap: VolumeSnapshot) -> list[Finding]:
        lines: list[str] = []
        demoted = [t for t in snap.tools if t.status == "demoted"]
        rejected = [t for t in snap.tools if t.status == "rejected"]
        flaky = []
        for t in snap.tools:
            stats = snap.tool_stats.get(t.id)
            if stats and stats.runs >= 3 and stats.ok / stats.runs < 0.8:
                flaky.append((t, stats))
        limit = snap.now - _dt.timedelta(days=self.archive_days)
        unused = [
            t
            for t in snap.tools
            if t.status == "active"
            and not snap.tool_stats.get(t.id)
            and (parse_time(t.created_at) or snap.now) < limit
        ]
        if demoted:
            lines += ["## Demoted (a crystallized run failed; its trace replays again)", ""]
            lines += [
                f"- `{t.id}` {md_cell(t.goal, 60)}: {md_cell(t.manifest.get('status_reason', ''), 120)}"
                for t in demoted[:MAX_ROWS]
            ]
        if rejected:
            lines += ["", "## Rejected at verification", ""]
            lines += [
                f"- `{t.id}` {md_cell(t.goal, 60)}: {md_cell(t.manifest.get('status_reason', ''), 120)}"
                for t in rejected[:MAX_ROWS]
            ]
        if flaky:
            lines += ["", "## Failing often", ""]
            lines += [
                f"- `{t.id}`: {s.ok}/{s.runs} runs succeeded; last failures: "
                f"{md_cell('; '.join(s.reasons[-3:]), 120)}"
                for t, s in flaky[:MAX_ROWS]
            ]
        if unused:
            lines += ["", f"## Active but not run in {self.archive_days:g} days", ""]
            lines += [
                f"- `{t.id}` {md_cell(t.goal, 60)} (created {t.created_at[:10]})"
                for t in unused[:MAX_ROWS]
            ]
        if not lines:
            return []
        parts = [
            f"{len(x)} {label}"
            for x, label in (
                (demoted, "demoted"),
                (rejected, "rejected"),
                (flaky, "failing often"),
                (unused, "unused"),
            )
            if x
        ]
        return [
            Finding(
                "suggestions",
                "tool-health",
                "Tool health",
                ", ".join(parts),
                "\n".join(lines).strip(),
                "tool",
                {
                    "demoted": len(demoted),
                    "rejected": len(rejected),
                    "flaky": len(flaky),
                    "unused": len(unused),
                },
            )
        ]


# ---- AgentEvolver --------------------------------------------------------------------------------


class AgentEvolver:
    name = "agent"
    MIN_GOALS = 2
    MIN_USES = 4
    MIN_SUCCESS = 0.8

    def __init__(self, config: LLMOSConfig | None = None) -> None:
        self.config = config

    def propose_enhancements(
        self, snap: VolumeSnapshot, identity: dict[str, Any], families: list[dict[str, Any]]
    ) -> list[Proposal]:
        """A specialised agent for each goal family used often and reliably enough."""
        from ..adaptation.agents import KNOWN_TOOLS, AgentSpec, dump_agent

        existing = set(snap.agents) | set(snap.workspace_agents)
        out = []
        for fam in families:
            if (
                len(fam["goals"]) < self.MIN_GOALS
                or fam["uses"] < self.MIN_USES
                or fam["success_rate"] < self.MIN_SUCCESS
            ):
                continue
            name = f"{slug(re.sub(r'[{][^}]*[}]', ' ', fam['template']), 40)}-agent"
            if name in existing:
                continue
            traces: list[Trace] = fam["traces"]
            tools = sorted({c.name for t in traces for c in t.calls if c.name in KNOWN_TOOLS}) or [
                "Read",
                "Write",
            ]
            best = max(traces, key=lambda t: (t.success_count, t.usage_count, t.id))
            steps = [
                f"{i + 1}. {c.name}: {md_cell(_describe_call(c), 110)}"
                for i, c in enumerate(best.calls[:12])
            ]
            slots = sorted({k for t in traces for k in slots_of(t)})
            model = self.config.model if self.config is not None else None
            prompt = "\n".join(
                [
                    f'You handle goals of the form "{fam["template"]}" ({len(fam["goals"])} variants seen, '
                    f"{fam['uses']} runs, {fam['success_rate']:.0%} success).",
                    "",
                    "Goals of this family so far:",
                    *[f"- {g}" for g in fam["goals"][:8]],
                    "",
                    "The approach that worked (from trace " + best.id + "):",
                    *steps,
                    "",
                    "Adapt the values that differ ("
                    + (", ".join(slots) or "the file names and values")
                    + ") and keep the same steps. Stop and report if an input is missing.",
                ]
            )
            spec = AgentSpec(
                name=name,
                description=f"Specialist for '{fam['template']}' goals, learned from "
                f"{len(fam['goals'])} variants in {snap.scope}.",
                prompt=prompt,
                tools=tools,
                model=model,
                version=1,
                constraints=["Work only inside the current working directory."],
            )
            text = dump_agent(spec)
            out.append(
                Proposal(
                    "artifact.write",
                    f"New agent {name} for '{md_cell(fam['template'], 50)}'",
                    f"{len(fam['goals'])} goals of one family ran {fam['uses']} times at {fam['success_rate']:.0%} success; "
                    f"a specialised agent keeps their approach (agents/{name}.md in {snap.scope}).",
                    text,
                    {
                        "scope": snap.scope,
                        "identity": identity,
                        "kind": "agents",
                        "name": name,
                        "content": text,
                        "reason": f"goal family '{fam['template']}'",
                    },
                    f"artifact.write:{snap.scope}:agents:{name}",
                    snap.scope,
                    "agent",
                )
            )
        return out

    def propose_workspace_evolutions(
        self, manager: Any, *, auto: bool
    ) -> tuple[list[Proposal], list[Any]]:
        """Workspace agents (``agents/*.md``) whose evolution is due: evolved now when
        ``adaptation.auto_evolve`` (the results are returned), else proposed."""
        proposals: list[Proposal] = []
        evolved: list[Any] = []
        for spec in manager.registry.all():
            try:
                if not manager.evolution_due(spec.name):
                    continue
                if auto:
                    res = manager.evolve(spec.name)
                    if res.applied:
                        evolved.append(res)
                    continue
                dry = manager.evolve(spec.name, dry_run=True)
            except Exception:  # one broken agent file must not stop the others
                continue
            if not (dry.constraints_added or dry.tools_removed):
                continue
            preview = "\n".join(
                [f"+ constraint: {c}" for c in dry.constraints_added]
                + [f"- tool: {t}" for t in dry.tools_removed]
            )
            stats = manager.metrics.get(spec.name)
            proposals.append(
                Proposal(
                    "agent.evolve",
                    f"Evolve agent {spec.name} to v{dry.new_version}",
                    f"{spec.name} failed {stats.failures} of {stats.executions} runs; the new version adds "
                    f"{len(dry.constraints_added)} constraint(s) learned from the failures"
                    + (f" and drops {', '.join(dry.tools_removed)}" if dry.tools_removed else "")
                    + ".",
                    preview,
                    {
                        "name": spec.name,
                        "from_version": dry.old_version,
                        "constraints": dry.constraints_added,
                    },
                    f"agent.evolve:{spec.name}:{dry.old_version}:{short_hash(dry.constraints_added, dry.tools_removed)}",
                    "workspace",
                    "agent",
                )
            )
        return proposals, evolved


def _describe_call(call: Any) -> str:
    inp = call.input if isinstance(call.input, dict) else {}
    for key in ("command", "file_path", "path", "pattern", "url"):
        if isinstance(inp.get(key), str):
            return str(inp[key])
    return json.dumps(inp, ensure_ascii=False, sort_keys=True)


__all__ = [
    "AgentEvolver",
    "Finding",
    "Proposal",
    "ToolEvolver",
    "TraceEvolver",
    "VolumeSnapshot",
    "ToolStats",
    "shared_patterns",
    "calls_fingerprint",
    "failure_cause",
    "goal_template",
    "merge_keeper",
    "short_hash",
]
