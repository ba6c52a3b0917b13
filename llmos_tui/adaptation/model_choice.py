"""Model tier choice: cheap / default / strong, from goal complexity and track record.

``goal_complexity(goal, multi_step)`` is a deterministic score in [0, 1]:

* length: ``min(words / 40, 1) * 0.35``
* multi-step goal (several actions in sequence): ``+0.3``
* each "hard" word (design, architecture, refactor, optimize, distributed, ...): ``+0.2``, at most ``+0.6``
* each "easy" word (list, show, print, rename, hello, count, ...): ``-0.1``, at most ``-0.2``

``choose_tier`` (thresholds from ``SentienceParams``):

1. complexity < ``simple_complexity`` and a strong track record (at least
   ``track_record_min_runs`` runs of this goal or its matched trace, success rate at least
   ``track_record_min_success``) -> ``cheap``;
2. complexity >= ``complex_complexity`` and no track record (novel) -> ``strong``;
3. otherwise ``default``;

then the internal state adjusts it: with ``prefer_cheap`` (RECOVERY or low energy) the tier
drops one step (strong -> default -> cheap) unless the goal is complex; with low confidence
a ``cheap`` tier is raised to ``default``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from llmos_tui.records import record

if TYPE_CHECKING:  # pragma: no cover
    from ..config import LLMOSConfig

_HARD = frozenset(
    """
design architect architecture refactor refactoring optimize optimise optimization performance distributed
concurrent concurrency parallel scalable scale migrate migration algorithm compiler interpreter parser
security audit debug diagnose investigate research analyze analyse analysis prove proof benchmark
implement implementation framework protocol database schema multithreaded asynchronous async
cryptography encryption kernel infrastructure deploy deployment pipeline orchestrate integrate
""".split()
)
_EASY = frozenset(
    """
list show print display rename echo hello count read cat copy move delete remove touch mkdir
""".split()
)
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")
TIER_ORDER = ("cheap", "default", "strong")


def goal_complexity(goal: str, multi_step: bool = False) -> float:
    words = [w.lower() for w in _WORD.findall(goal)]
    score = min(len(words) / 40.0, 1.0) * 0.35
    if multi_step:
        score += 0.3
    hard = sum(1 for w in words if w in _HARD)
    easy = sum(1 for w in words if w in _EASY)
    score += min(0.6, 0.2 * hard)
    score -= min(0.2, 0.1 * easy)
    return round(min(1.0, max(0.0, score)), 4)


@record
class TrackRecord:
    """Runs and successes of a kind of goal."""

    runs: int = 0
    successes: int = 0

    @property
    def success_rate(self) -> float:
        return self.successes / self.runs if self.runs else 0.0

    def strong(self, min_runs: int, min_success: float) -> bool:
        return self.runs >= min_runs and self.success_rate >= min_success

    def to_dict(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "successes": self.successes,
            "success_rate": round(self.success_rate, 4),
        }


def choose_tier(
    complexity: float,
    record: TrackRecord,
    params: Any,
    *,
    prefer_cheap: bool = False,
    low_confidence: bool = False,
) -> tuple[str, str]:
    """(tier, reason) — see the module docstring for the rules."""
    strong_record = record.strong(params.track_record_min_runs, params.track_record_min_success)
    if complexity < params.simple_complexity and strong_record:
        tier, why = (
            "cheap",
            (
                f"simple goal (complexity {complexity:.2f}) with a strong track record "
                f"({record.successes}/{record.runs} succeeded)"
            ),
        )
    elif complexity >= params.complex_complexity and record.runs == 0:
        tier, why = "strong", f"complex novel goal (complexity {complexity:.2f})"
    else:
        tier, why = (
            "default",
            f"complexity {complexity:.2f}, track record {record.successes}/{record.runs}",
        )
    if prefer_cheap and tier != "cheap" and complexity < params.complex_complexity:
        tier = TIER_ORDER[TIER_ORDER.index(tier) - 1]
        why += "; one tier cheaper to save energy"
    if low_confidence and tier == "cheap":
        tier = "default"
        why += "; confidence is low, so not the cheapest model"
    return tier, why


def model_for_tier(tier: str, config: LLMOSConfig, agent_model: str | None = None) -> str:
    """The model name for a tier: ``config.models.cheap``, the agent's or ``config.model``, ``config.models.strong``."""
    if tier == "cheap":
        return config.models.cheap
    if tier == "strong":
        return config.models.strong
    return agent_model or config.model


def bump_tier(tier: str, steps: int) -> str:
    i = min(len(TIER_ORDER) - 1, max(0, TIER_ORDER.index(tier) + steps))
    return TIER_ORDER[i]
