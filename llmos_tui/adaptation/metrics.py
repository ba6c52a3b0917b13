"""Per-agent metrics, persisted in ``state/agent_metrics.json`` (atomic, under a sidecar lock).

For each agent: executions, successes, failures, cost and duration totals, runs and successes
per goal category, the last failures (goal, error, tools, blocked calls, time-out) and
successes (goal, tools) that evolution learns from, and the evolution history.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from ..atomic import atomic_write_json, file_lock
from ..clock import iso_utc
from ..runs import Mode

MAX_RECENT = 20
MAX_AGENTS = 1000

CATEGORIES: dict[str, frozenset[str]] = {
    "code": frozenset(
        "code python script function class bug test tests refactor compile program javascript rust "
        "api module library implement debug calculator app cli".split()
    ),
    "writing": frozenset(
        "write essay poem haiku story report readme document docs article summary summarize "
        "blog letter email translate prose markdown".split()
    ),
    "research": frozenset(
        "research find search analyze analyse investigate compare explain review study "
        "trends sources".split()
    ),
    "data": frozenset(
        "csv json data dataset table chart plot statistics sql database excel parse".split()
    ),
    "files": frozenset(
        "file files folder directory rename move copy delete remove list organize archive "
        "zip".split()
    ),
    "shell": frozenset(
        "run install command shell bash git build deploy docker server process".split()
    ),
}
_WORD = re.compile(r"[a-z]+")


def categorize(goal: str) -> str:
    words = set(_WORD.findall(goal.lower()))
    best, score = "other", 0
    for cat, keys in CATEGORIES.items():
        n = len(words & keys)
        if n > score:
            best, score = cat, n
    return best


@dataclass
class AgentStats:
    executions: int = 0
    successes: int = 0
    failures: int = 0
    cost_usd: float = 0.0
    duration_ms: int = 0
    by_category: dict[str, dict[str, int]] = field(default_factory=dict)
    recent_failures: list[dict[str, Any]] = field(default_factory=list)
    recent_successes: list[dict[str, Any]] = field(default_factory=list)
    evolutions: list[dict[str, Any]] = field(default_factory=list)
    executions_at_last_evolution: int = 0
    last_run: str | None = None

    @property
    def failure_rate(self) -> float:
        return self.failures / self.executions if self.executions else 0.0

    @property
    def success_rate(self) -> float:
        return self.successes / self.executions if self.executions else 0.0

    def category_rate(self, category: str) -> tuple[int, int]:
        row = self.by_category.get(category) or {}
        return int(row.get("runs", 0)), int(row.get("successes", 0))

    def to_dict(self) -> dict[str, Any]:
        return {
            "executions": self.executions,
            "successes": self.successes,
            "failures": self.failures,
            "cost_usd": round(self.cost_usd, 6),
            "duration_ms": self.duration_ms,
            "by_category": self.by_category,
            "recent_failures": self.recent_failures,
            "recent_successes": self.recent_successes,
            "evolutions": self.evolutions,
            "executions_at_last_evolution": self.executions_at_last_evolution,
            "last_run": self.last_run,
            "failure_rate": round(self.failure_rate, 4),
        }

    @classmethod
    def from_dict(cls, data: Any) -> "AgentStats":
        out = cls()
        if not isinstance(data, dict):
            return out
        for name in (
            "executions",
            "successes",
            "failures",
            "duration_ms",
            "executions_at_last_evolution",
        ):
            v = data.get(name)
            if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
                setattr(out, name, v)
        out.successes = min(out.successes, out.executions)
        out.failures = min(out.failures, out.executions - out.successes)
        c = data.get("cost_usd")
        if isinstance(c, (int, float)) and not isinstance(c, bool) and c >= 0:
            out.cost_usd = float(c)
        cats = data.get("by_category")
        if isinstance(cats, dict):
            out.by_category = {
                str(k): {"runs": int(v.get("runs", 0)), "successes": int(v.get("successes", 0))}
                for k, v in cats.items()
                if isinstance(v, dict)
            }
        for name in ("recent_failures", "recent_successes", "evolutions"):
            v = data.get(name)
            if isinstance(v, list):
                setattr(out, name, [x for x in v if isinstance(x, dict)][-MAX_RECENT:])
        if isinstance(data.get("last_run"), str):
            out.last_run = data["last_run"]
        return out


class AgentMetricsStore:
    def __init__(
        self,
        path: Path,
        *,
        clock: Callable[[], float] = time.time,
        on_warning: Callable[[str], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self.clock = clock
        self.on_warning = on_warning or (lambda _m: None)

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            aside = self.path.with_name(f"{self.path.stem}.corrupt-{int(self.clock())}.json")
            try:
                os.replace(self.path, aside)
            except OSError:
                pass
            self.on_warning(
                f"{self.path} was unreadable ({exc}); moved to {aside.name}, metrics restart empty"
            )
            return {}
        agents = data.get("agents") if isinstance(data, dict) else None
        return agents if isinstance(agents, dict) else {}

    def get(self, name: str) -> AgentStats:
        return AgentStats.from_dict(self._read().get(name))

    def all(self) -> dict[str, AgentStats]:
        return {k: AgentStats.from_dict(v) for k, v in self._read().items()}

    def update(self, name: str, fn: Callable[[AgentStats], None]) -> AgentStats:
        with file_lock(self.path):
            agents = self._read()
            stats = AgentStats.from_dict(agents.get(name))
            fn(stats)
            from ..redact import redact_obj

            agents[name] = redact_obj(
                stats.to_dict()
            )  # goals, errors, blocked inputs: no secret kept
            if len(agents) > MAX_AGENTS:
                keep = sorted(
                    agents.items(), key=lambda kv: kv[1].get("last_run") or "", reverse=True
                )[:MAX_AGENTS]
                agents = dict(keep)
            atomic_write_json(self.path, {"format": 1, "agents": agents})
        return stats

    def record(
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
    ) -> AgentStats:
        now = iso_utc(self.clock())
        cat = categorize(goal)
        tools = sorted({str(t) for t in tools_used})
        blocked_list = [
            {
                "tool": str(b.get("tool") or b.get("name") or "?"),
                "reason": str(b.get("reason") or "")[:200],
                "input": str(b.get("input") or "")[:200],
            }
            for b in blocked
            if isinstance(b, dict)
        ]

        def fn(s: AgentStats) -> None:
            s.executions += 1
            if success:
                s.successes += 1
                s.recent_successes = (
                    s.recent_successes
                    + [
                        {
                            "goal": goal[:300],
                            "tools": tools,
                            "at": now,
                            "mode": mode,
                            "model": model,
                        }
                    ]
                )[-MAX_RECENT:]
            else:
                s.failures += 1
                s.recent_failures = (
                    s.recent_failures
                    + [
                        {
                            "goal": goal[:300],
                            "error": (error or "")[:500],
                            "tools": tools,
                            "blocked": blocked_list,
                            "timed_out": bool(timed_out),
                            "at": now,
                            "mode": mode,
                            "model": model,
                        }
                    ]
                )[-MAX_RECENT:]
            s.cost_usd += max(0.0, float(cost_usd or 0.0))
            s.duration_ms += max(0, int(duration_ms or 0))
            row = s.by_category.setdefault(cat, {"runs": 0, "successes": 0})
            row["runs"] += 1
            row["successes"] += 1 if success else 0
            s.last_run = now

        return self.update(name, fn)
