"""Episodic emotional indexing: traces carry the valence they were formed in.

A trace's ``emotion`` field is ``{safety, curiosity, energy, confidence, outcome,
significance}`` (``make_emotion``). ``find_similar_emotional_memories`` ranks traces (or
index entries, or plain dicts, anything with an ``emotion`` mapping) by how close their
snapshot is to a given valence: similarity ``= max(0, 1 - d / 2)`` where ``d`` is the
Euclidean distance over the four variables (identical states score 1.0; one variable at the
opposite end of its range, or a distance of 2 overall, scores 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from ..sentience_params import VARIABLES

OUTCOMES = ("success", "failure", "partial")


def _get(item: Any, name: str, default: Any = None) -> Any:
    if isinstance(item, Mapping):
        return item.get(name, default)
    return getattr(item, name, default)


def make_emotion(valence: Mapping[str, float], outcome: str, significance: float) -> dict[str, Any]:
    out: dict[str, Any] = {v: round(float(valence[v]), 4) for v in VARIABLES}
    out["outcome"] = outcome if outcome in OUTCOMES else "partial"
    out["significance"] = round(min(1.0, max(0.0, float(significance))), 4)
    return out


def significance_of(
    *,
    success: bool,
    novel: bool = False,
    policy_denials: int = 0,
    timed_out: bool = False,
    cost_usd: float = 0.0,
    high_cost_usd: float = 0.25,
    deviation: float = 0.0,
) -> float:
    """How salient a run is, in [0, 1]: failures, novelty, safety events, cost and strong feelings."""
    score = 0.2 if success else 0.5
    if novel:
        score += 0.15
    if policy_denials:
        score += 0.25
    if timed_out:
        score += 0.1
    if cost_usd >= high_cost_usd:
        score += 0.1
    score += min(0.2, deviation / 2.0)
    return round(min(1.0, score), 4)


def emotion_vector(item: Any) -> tuple[float, ...] | None:
    emotion = _get(item, "emotion")
    if not isinstance(emotion, Mapping):
        return None
    values = []
    for v in VARIABLES:
        x = emotion.get(v)
        if isinstance(x, bool) or not isinstance(x, (int, float)) or x != x:
            return None
        values.append(min(1.0, max(-1.0, float(x))))
    return tuple(values)


def emotional_similarity(a: Iterable[float], b: Iterable[float]) -> float:
    d = math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b, strict=True)))
    return max(0.0, 1.0 - d / 2.0)


@dataclass
class EmotionalMemory:
    item: Any
    similarity: float
    outcome: str
    significance: float

    @property
    def goal(self) -> str:
        return str(_get(self.item, "goal", ""))

    @property
    def id(self) -> str:
        return str(_get(self.item, "id", ""))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "goal": self.goal,
            "similarity": round(self.similarity, 4),
            "outcome": self.outcome,
            "significance": self.significance,
        }


def find_similar_emotional_memories(
    items: Iterable[Any],
    valence: Mapping[str, float] | Any,
    *,
    min_similarity: float = 0.7,
    outcome_filter: str | None = None,
    limit: int = 10,
) -> list[EmotionalMemory]:
    """Memories whose emotional snapshot is within *min_similarity* of *valence*, best first.

    *items*: traces, index entries or dicts with an ``emotion`` mapping (items without one are
    skipped). *valence*: a mapping or an object with the four variables. *outcome_filter*:
    ``success``/``failure``/``partial`` or None. Ties are broken by significance.
    """
    if outcome_filter is not None and outcome_filter not in OUTCOMES:
        raise ValueError(f"outcome_filter must be one of {', '.join(OUTCOMES)} or None")
    target = tuple(float(_get(valence, v, 0.0)) for v in VARIABLES)
    found: list[EmotionalMemory] = []
    for item in items:
        vec = emotion_vector(item)
        if vec is None:
            continue
        emotion = _get(item, "emotion")
        outcome = str(emotion.get("outcome") or _get(item, "outcome", "") or "partial")
        if outcome_filter is not None and outcome != outcome_filter:
            continue
        sim = emotional_similarity(vec, target)
        if sim < min_similarity:
            continue
        sig = emotion.get("significance", 0.0)
        sig = float(sig) if isinstance(sig, (int, float)) and not isinstance(sig, bool) else 0.0
        found.append(EmotionalMemory(item, sim, outcome, sig))
    found.sort(key=lambda m: (m.similarity, m.significance), reverse=True)
    return found[:limit]
