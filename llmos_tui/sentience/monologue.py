"""Inner monologue: priming thoughts produced between interactions from state and recent traces.

Deterministic: ``generate_thoughts`` ranks candidate thoughts built from real data (blocked
actions among the recent triggers, recent failed traces and their errors, emotionally
similar failures, repeated goals, energy, curiosity, the user model) and keeps the
``monologue_max_thoughts`` most important. The runtime stores them with a timestamp and
injects them into the next interaction for ``monologue_ttl_minutes``. LLM-generated thoughts
are not built: deterministic thoughts cost nothing and are testable.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from .emotional_memory import find_similar_emotional_memories
from .params import SentienceParams
from .user_model import UserModel
from .valence import Valence


def _get(item: Any, name: str, default: Any = None) -> Any:
    if isinstance(item, Mapping):
        return item.get(name, default)
    return getattr(item, name, default)


def _short(text: Any, n: int = 80) -> str:
    s = " ".join(str(text or "").split())
    return s if len(s) <= n else s[: n - 1] + "…"


def _failed(item: Any) -> bool:
    if _get(item, "outcome") == "failure":
        return True
    ok, ko = int(_get(item, "success_count", 0) or 0), int(_get(item, "failure_count", 0) or 0)
    return ko > ok


def generate_thoughts(params: SentienceParams, effective: Valence, mode: str, user: UserModel,
                      recent_triggers: list[dict[str, Any]], goal_stats: Mapping[str, Mapping[str, Any]],
                      recent_traces: Iterable[Any] = ()) -> list[str]:
    traces = list(recent_traces)[-50:]
    cands: list[tuple[float, str]] = []
    blocked = [t for t in recent_triggers[-10:] if t.get("type") == "safety_violation"]
    if blocked:
        why = _short(blocked[-1].get("reason"), 100)
        cands.append((0.95, f"{len(blocked)} action(s) were blocked recently ({why}); check each command "
                            "against the policy before proposing it."))
    failures = [t for t in traces if _failed(t)]
    if failures:
        last = failures[-1]
        err = _short(_get(last, "error") or "no error recorded", 120)
        cands.append((0.85, f"'{_short(_get(last, 'goal'))}' failed recently ({err}); don't repeat that approach."))
    similar = find_similar_emotional_memories(traces, effective.to_dict(), min_similarity=0.85,
                                              outcome_filter="failure", limit=1)
    if similar and (not failures or similar[0].id != str(_get(failures[-1], "id", ""))):
        cands.append((0.7, f"I felt like this when '{_short(similar[0].goal)}' failed; be careful with similar work."))
    repeated = sorted(((s.get("runs", 0), s.get("goal", "")) for s in goal_stats.values()
                       if s.get("runs", 0) >= params.repetition_threshold), reverse=True)
    if repeated:
        n, goal = repeated[0]
        cands.append((0.6, f"I've done '{_short(goal)}' {n} times; it could become a crystallized tool."))
    if user.frustration >= params.frustration_checkin * 0.6:
        cands.append((0.8, f"The user seemed frustrated ({user.frustration:.2f}); confirm what they want "
                           "before long work."))
    if mode == "RECOVERY" or effective.energy < params.cheap_energy:
        cands.append((0.75, f"Energy is low ({effective.energy:.2f}): favour replays and short answers."))
    if mode == "AUTO_CREATIVE":
        cands.append((0.5, "I'm curious: look for a cleaner approach when it is cheap to try."))
    if mode == "AUTO_CONTAINED":
        cands.append((0.5, "Little is new lately: stay on task and finish quickly."))
    if user.interaction_count >= 3:
        if user.expertise >= 0.7:
            cands.append((0.4, "The user is technical: be precise and skip the basics."))
        elif user.expertise <= 0.2:
            cands.append((0.4, "The user may not be technical: explain steps plainly."))
    wins = [t for t in traces[-5:] if not _failed(t)]
    if len(wins) >= 3 and len(wins) == len(traces[-5:]):
        cands.append((0.3, f"The last {len(wins)} runs went well; keep the same approach."))
    cands.sort(key=lambda c: c[0], reverse=True)
    seen: set[str] = set()
    out = []
    for _, text in cands:
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out[: params.monologue_max_thoughts]
