"""Inner monologue: priming thoughts produced between interactions from state and recent traces.

Deterministic: ``generate_thoughts`` ranks candidate thoughts built from real data (blocked
actions among the recent triggers, recent failed traces and their errors, emotionally
similar failures, repeated goals, energy, curiosity, the user model) and keeps the
``monologue_max_thoughts`` most important. The runtime stores them with a timestamp and
injects them into the next interaction for ``monologue_ttl_minutes``.

LLM thoughts, only when ``sentience.monologue_llm`` is on and an LLM is configured:
``llm_thoughts`` makes ONE Messages call (``models.cheap``, at most ``LLM_MAX_TOKENS`` out) with
``monologue_prompt`` (the state, the recent triggers and traces, the deterministic thoughts)
and expects a JSON list of at most ``monologue_max_thoughts`` short strings. The call is not
made when its estimated cost (prompt characters / 4 in, ``LLM_MAX_TOKENS`` out, priced by
``pricing.price``) exceeds ``monologue_llm_budget_usd`` or the economy's balance; its real
cost is charged to the economy (mode ``MONOLOGUE``). Any failure (no LLM, over budget, HTTP
error, an answer that is not a valid list) returns ``None`` and the caller keeps the
deterministic thoughts.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from .emotional_memory import find_similar_emotional_memories
from ..sentience_params import SentienceParams
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


def generate_thoughts(
    params: SentienceParams,
    effective: Valence,
    mode: str,
    user: UserModel,
    recent_triggers: list[dict[str, Any]],
    goal_stats: Mapping[str, Mapping[str, Any]],
    recent_traces: Iterable[Any] = (),
) -> list[str]:
    traces = list(recent_traces)[-50:]
    cands: list[tuple[float, str]] = []
    blocked = [t for t in recent_triggers[-10:] if t.get("type") == "safety_violation"]
    if blocked:
        why = _short(blocked[-1].get("reason"), 100)
        cands.append(
            (
                0.95,
                f"{len(blocked)} action(s) were blocked recently ({why}); check each command "
                "against the policy before proposing it.",
            )
        )
    failures = [t for t in traces if _failed(t)]
    if failures:
        last = failures[-1]
        err = _short(_get(last, "error") or "no error recorded", 120)
        cands.append(
            (
                0.85,
                f"'{_short(_get(last, 'goal'))}' failed recently ({err}); don't repeat that approach.",
            )
        )
    similar = find_similar_emotional_memories(
        traces, effective.to_dict(), min_similarity=0.85, outcome_filter="failure", limit=1
    )
    if similar and (not failures or similar[0].id != str(_get(failures[-1], "id", ""))):
        cands.append(
            (
                0.7,
                f"I felt like this when '{_short(similar[0].goal)}' failed; be careful with similar work.",
            )
        )
    # A goal a crystallized tool already runs is not a candidate any more (its trace says so).
    crystallized = {str(_get(t, "signature", "")) for t in traces if _get(t, "crystallized_tool")}
    repeated = sorted(
        (
            (s.get("runs", 0), s.get("goal", ""))
            for sig, s in goal_stats.items()
            if s.get("runs", 0) >= params.repetition_threshold and sig not in crystallized
        ),
        reverse=True,
    )
    if repeated:
        n, goal = repeated[0]
        cands.append(
            (0.6, f"I've done '{_short(goal)}' {n} times; it could become a crystallized tool.")
        )
    if user.frustration >= params.frustration_checkin * 0.6:
        cands.append(
            (
                0.8,
                f"The user seemed frustrated ({user.frustration:.2f}); confirm what they want "
                "before long work.",
            )
        )
    if mode == "RECOVERY" or effective.energy < params.cheap_energy:
        cands.append(
            (0.75, f"Energy is low ({effective.energy:.2f}): favour replays and short answers.")
        )
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


# ---- LLM thoughts (only when sentience.monologue_llm is on) -------------------------------------------

LLM_MAX_TOKENS = 400
LLM_THOUGHT_CHARS = 240
LLM_TIMEOUT_S = 30.0
LLM_MODE = "MONOLOGUE"
_SYSTEM = (
    "You are the inner monologue of llmos, a terminal assistant that runs the user's goals. Between "
    "interactions you write a few short private thoughts that will prime the next interaction: what to "
    "watch out for, what to repeat, how the user seems. Reply with a JSON list of strings only, no prose "
    "and no code fence."
)


@dataclass
class LLMThoughts:
    """The outcome of one attempt: ``thoughts`` is None when the deterministic ones stand."""

    thoughts: list[str] | None
    reason: str = ""
    requests: int = 0
    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0


def monologue_prompt(
    params: SentienceParams,
    effective: Valence,
    mode: str,
    user: UserModel,
    recent_triggers: list[dict[str, Any]],
    recent_traces: Iterable[Any],
    deterministic: list[str],
) -> str:
    """The user message of the monologue call (bounded: at most 10 triggers and 10 traces)."""
    lines = [
        "Internal state (each in [-1, 1]): "
        + ", ".join(
            f"{k} {v:+.2f}" for k, v in effective.to_dict().items() if isinstance(v, (int, float))
        ),
        f"Latent mode: {mode}",
        f"User model: frustration {user.frustration:.2f}, expertise {user.expertise:.2f}, "
        f"interactions {user.interaction_count}",
    ]
    triggers = recent_triggers[-10:]
    if triggers:
        lines.append("Recent events:")
        lines += [f"- {t.get('type')}: {_short(t.get('reason'), 100)}" for t in triggers]
    traces = list(recent_traces)[-10:]
    if traces:
        lines.append("Recent goals:")
        for t in traces:
            err = _get(t, "error")
            lines.append(
                f"- {_short(_get(t, 'goal'), 100)} -> {'failed' if _failed(t) else 'ok'}"
                + (f" ({_short(err, 100)})" if err and _failed(t) else "")
            )
    if deterministic:
        lines.append("Thoughts derived by rules (you may keep, sharpen or replace them):")
        lines += [f"- {t}" for t in deterministic]
    lines.append(
        f"Write at most {params.monologue_max_thoughts} thoughts, each one sentence under "
        f"{LLM_THOUGHT_CHARS} characters, as a JSON list of strings."
    )
    return "\n".join(lines)


def parse_thoughts(text: str, max_thoughts: int) -> list[str]:
    """The thoughts of a model answer; ValueError when it is not a non-empty JSON list of strings."""
    raw = (text or "").strip()
    fence = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", raw, re.DOTALL)
    if fence:
        raw = fence.group(1)
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the answer is not JSON ({exc.msg})") from None
    if not isinstance(data, list) or not data:
        raise ValueError("the answer is not a non-empty JSON list")
    out: list[str] = []
    for item in data:
        if not isinstance(item, str):
            raise ValueError(f"a thought is not a string: {item!r:.60}")
        item = " ".join(item.split())
        if not item:
            continue
        if len(item) > LLM_THOUGHT_CHARS:
            item = item[: LLM_THOUGHT_CHARS - 1] + "…"
        if item not in out:
            out.append(item)
    if not out:
        raise ValueError("the answer holds no thought")
    return out[:max_thoughts]


def llm_thoughts(
    prompt: str,
    *,
    model: str,
    max_thoughts: int,
    budget_usd: float,
    economy_file: Path,
    total_budget_usd: float,
    timeout_s: float = LLM_TIMEOUT_S,
) -> LLMThoughts:
    """One budgeted call for thoughts (see the module docstring). Never raises."""
    from ..execution.llm.economy import budgeted_call

    answer = budgeted_call(
        model=model,
        system=_SYSTEM,
        prompt=prompt,
        max_tokens=LLM_MAX_TOKENS,
        timeout_s=timeout_s,
        cap_usd=budget_usd,
        cap_key="sentience.monologue_llm_budget_usd",
        economy_file=economy_file,
        total_budget_usd=total_budget_usd,
        mode=LLM_MODE,
        goal="inner monologue",
        what="monologue",
    )
    if answer.text is None:
        return LLMThoughts(None, answer.note, requests=answer.requests)
    text = answer.text
    result = LLMThoughts(
        None,
        requests=1,
        cost_usd=answer.cost_usd,
        input_tokens=answer.input_tokens,
        output_tokens=answer.output_tokens,
    )
    if answer.charge_error:
        result.reason = answer.charge_error + "; "
    try:
        result.thoughts = parse_thoughts(text, max_thoughts)
        result.reason += "ok"
    except ValueError as exc:
        result.reason += f"the model's thoughts were rejected: {exc}"
    return result
