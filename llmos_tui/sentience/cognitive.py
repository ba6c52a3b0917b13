"""CognitiveKernel: from internal state to behaviour, and from real data to suggestions.

``derive_policy`` (pure) turns the effective valence into a :class:`Policy`:

* ``follower_threshold`` / ``mixed_threshold``: the learning thresholds plus the latent mode's
  ``follower_threshold_delta`` / ``mixed_threshold_delta`` (CAUTIOUS replays only near-exact
  matches, +0.03; RECOVERY accepts a guided MIXED run from 0.65, -0.10). The follower threshold
  stays in [mixed, 0.99]; the mixed one in [``min_mixed_threshold``, follower].
* ``remove_tools``: ``restricted_tools[mode]`` (CAUTIOUS and RECOVERY: Bash, Write, Edit,
  MultiEdit, NotebookEdit).
* ``add_tools``: exploration tools when effective curiosity > ``explore_curiosity`` and the mode
  is neither CAUTIOUS nor RECOVERY (web tools only when the network is allowed).
* ``require_confirmation``: CAUTIOUS or RECOVERY (the kernel passes the latent mode to the
  policy engine, which turns risky-but-legal actions into ``ask``).
* ``prefer_cheap_modes``: RECOVERY, or effective energy < ``cheap_energy``.
* ``verify_steps``: effective confidence < ``low_confidence``.

``detect_improvement_opportunities`` works from the trace index, the runtime's goal history,
the calibration record (confidence before a run vs its outcome) and the economy log.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..records import asdict, field, record
from ..sentience_params import SentienceParams
from .valence import Valence, latent_mode, mode_reason

CAUTIOUS_MODES = ("CAUTIOUS", "RECOVERY")
WEB_TOOLS = ("WebFetch", "WebSearch")

GUIDANCE = {
    "AUTO_CREATIVE": "Curiosity and confidence are high: consider a better approach than the obvious one, and "
    "mention one concrete improvement if it is cheap.",
    "AUTO_CONTAINED": "Stay strictly on task: do exactly what is asked in the fewest steps; no extras.",
    "RECOVERY": "Resources are low: reuse known solutions, keep tool calls and output short, avoid exploration.",
    "CAUTIOUS": "Recent actions were blocked or failed: prefer reading and explaining over changing things, "
    "and never try to get around a blocked action.",
    "BALANCED": "",
}


@record
class Policy:
    """What the sentience state means for a run (latent mode, thresholds, tools, guidance)."""

    latent_mode: str
    mode_reason: str
    follower_threshold: float
    mixed_threshold: float
    remove_tools: list[str] = field(default_factory=list)
    add_tools: list[str] = field(default_factory=list)
    allow_exploration: bool = False
    require_confirmation: bool = False
    prefer_cheap_modes: bool = False
    verify_steps: bool = False
    guidance: list[str] = field(default_factory=list)
    effective: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["follower_threshold"] = round(self.follower_threshold, 4)
        data["mixed_threshold"] = round(self.mixed_threshold, 4)
        return data


def derive_policy(
    effective: Valence,
    params: SentienceParams,
    *,
    follower_threshold: float,
    mixed_threshold: float,
    allow_network: bool = False,
) -> Policy:
    mode = latent_mode(effective, params)
    follower = follower_threshold + params.follower_threshold_delta.get(mode, 0.0)
    mixed = mixed_threshold + params.mixed_threshold_delta.get(mode, 0.0)
    follower = min(0.99, max(follower, mixed_threshold))
    mixed = min(follower, max(params.min_mixed_threshold, mixed))
    remove = list(params.restricted_tools.get(mode, []))
    explore = effective.curiosity > params.explore_curiosity and mode not in CAUTIOUS_MODES
    add: list[str] = []
    if explore:
        add = [t for t in params.exploration_tool_list() if allow_network or t not in WEB_TOOLS]
        add = [t for t in add if t not in remove]
    policy = Policy(
        latent_mode=mode,
        mode_reason=mode_reason(effective, mode, params),
        follower_threshold=follower,
        mixed_threshold=mixed,
        remove_tools=remove,
        add_tools=add,
        allow_exploration=explore,
        require_confirmation=mode in CAUTIOUS_MODES,
        prefer_cheap_modes=mode == "RECOVERY" or effective.energy < params.cheap_energy,
        verify_steps=effective.confidence < params.low_confidence,
        effective=effective.to_dict(4),
    )
    if mode == "RECOVERY":
        if effective.safety < params.recovery_safety:
            policy.guidance.append(GUIDANCE["CAUTIOUS"])
        if effective.energy < params.recovery_energy:
            policy.guidance.append(GUIDANCE["RECOVERY"])
    elif GUIDANCE[mode]:
        policy.guidance.append(GUIDANCE[mode])
    if remove:
        policy.guidance.append(
            f"These tools are withheld in the {mode} state: {', '.join(remove)}."
        )
    if policy.verify_steps:
        policy.guidance.append(
            "Confidence is low: break the work into small steps and check each result "
            "before moving on."
        )
    if policy.prefer_cheap_modes and mode != "RECOVERY":
        policy.guidance.append("Energy is low: keep the answer and the number of tool calls small.")
    if explore and add:
        policy.guidance.append(
            f"Exploration is welcome: {', '.join(add)} are available to look around first."
        )
    return policy


# ---- improvement opportunities -------------------------------------------------------------


@record
class ImprovementSuggestion:
    """An improvement the sentience layer proposes, with its priority."""

    kind: str  # crystallize | boredom | cost_trend | miscalibration | failing_trace
    description: str
    priority: float  # 0..1
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "description": self.description,
            "priority": round(self.priority, 3),
            "data": self.data,
        }


def _get(item: Any, name: str, default: Any = None) -> Any:
    if isinstance(item, Mapping):
        return item.get(name, default)
    return getattr(item, name, default)


def read_economy_log(path: Path | None) -> list[dict[str, Any]]:
    """The spend log of ``state/economy.json`` (empty when missing or unreadable)."""
    if path is None:
        return []
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    log = data.get("log") if isinstance(data, dict) else None
    return [e for e in log if isinstance(e, dict)] if isinstance(log, list) else []


def cost_trend(log: list[dict[str, Any]], window: int) -> tuple[float, float] | None:
    """(mean cost of the previous window, mean cost of the last window) of LLM runs, or None."""
    costs = []
    for e in log:
        c = e.get("cost_usd")
        if isinstance(c, (int, float)) and not isinstance(c, bool) and c > 0:
            costs.append(float(c))
    if len(costs) < 2 * window:
        return None
    last, prev = costs[-window:], costs[-2 * window : -window]
    return sum(prev) / window, sum(last) / window


def calibration_gap(records: list[list[float]]) -> tuple[float, float, int]:
    """(mean predicted success, observed success rate, n) from ``[predicted, success]`` pairs."""
    n = len(records)
    if not n:
        return 0.0, 0.0, 0
    predicted = sum(r[0] for r in records) / n
    observed = sum(r[1] for r in records) / n
    return predicted, observed, n


def detect_improvement_opportunities(
    params: SentienceParams,
    effective: Valence,
    *,
    entries: Iterable[Any] = (),
    goal_stats: Mapping[str, Mapping[str, Any]] | None = None,
    calibration: list[list[float]] | None = None,
    economy_log: list[dict[str, Any]] | None = None,
    crystallization_min_uses: int = 5,
    crystallization_min_success: float = 0.95,
    limit: int = 10,
) -> list[ImprovementSuggestion]:
    out: list[ImprovementSuggestion] = []
    entries = list(entries)
    # Goals a crystallized tool already runs: never suggested for crystallizing again.
    crystallized = {_get(e, "signature") for e in entries if _get(e, "crystallized_tool")}
    # 1. Crystallization candidates: traces used often and reliably, not crystallized yet.
    failing: list[Any] = []
    for e in entries:
        uses = int(_get(e, "usage_count", 0) or 0)
        ok, ko = int(_get(e, "success_count", 0) or 0), int(_get(e, "failure_count", 0) or 0)
        rate = ok / (ok + ko) if ok + ko else 0.0
        if (
            uses >= crystallization_min_uses
            and rate >= crystallization_min_success
            and not _get(e, "crystallized_tool")
        ):
            out.append(
                ImprovementSuggestion(
                    "crystallize",
                    f"Crystallize '{_get(e, 'goal', '')}' into a tool ({uses} uses, {rate:.0%} success)",
                    min(1.0, 0.5 + uses / 40.0),
                    {"trace_id": _get(e, "id"), "uses": uses, "success_rate": round(rate, 4)},
                )
            )
        if ko >= 2 and rate < 0.5:
            failing.append((e, ok, ko))
    for e, ok, ko in failing:
        out.append(
            ImprovementSuggestion(
                "failing_trace",
                f"Trace for '{_get(e, 'goal', '')}' fails more than it succeeds ({ko} of {ok + ko}); "
                "repair or remove it",
                min(1.0, 0.4 + ko / 20.0),
                {"trace_id": _get(e, "id"), "failures": ko},
            )
        )
    # 2. Boredom: low curiosity, and the goals repeated most.
    repeated = sorted(
        (
            (s.get("runs", 0), s.get("goal", ""), sig)
            for sig, s in (goal_stats or {}).items()
            if s.get("runs", 0) >= params.repetition_threshold and sig not in crystallized
        ),
        reverse=True,
    )
    if effective.curiosity < params.boredom_threshold or repeated:
        top = [{"goal": g, "runs": n} for n, g, _ in repeated[:3]]
        what = "; ".join(f"'{t['goal']}' x{t['runs']}" for t in top) or "recent goals"
        prio = min(
            1.0,
            0.3 + max(0.0, params.boredom_threshold - effective.curiosity) + 0.05 * len(repeated),
        )
        if effective.curiosity < params.boredom_threshold:
            desc = f"Curiosity is low ({effective.curiosity:.2f}): automate the repetitive work ({what})"
        else:
            desc = f"Repeated goals could become a crystallized tool or a cron: {what}"
        out.append(
            ImprovementSuggestion(
                "boredom", desc, prio, {"curiosity": round(effective.curiosity, 4), "repeated": top}
            )
        )
    # 3. Cost trend from the economy log.
    trend = cost_trend(economy_log or [], params.cost_trend_window)
    if trend is not None:
        prev, last = trend
        if prev > 0 and last / prev >= params.cost_trend_ratio:
            out.append(
                ImprovementSuggestion(
                    "cost_trend",
                    f"Cost per LLM run rose from ${prev:.4f} to ${last:.4f} over the last "
                    f"{params.cost_trend_window} runs: prefer replays and the cheap model",
                    min(1.0, 0.4 + (last / prev - 1) / 4),
                    {"previous_mean_usd": round(prev, 6), "last_mean_usd": round(last, 6)},
                )
            )
    # 4. Miscalibration: confidence before runs vs their outcomes.
    predicted, observed, n = calibration_gap(calibration or [])
    if (
        n >= params.calibration_min_runs
        and abs(predicted - observed) > params.miscalibration_threshold
    ):
        over = predicted > observed
        out.append(
            ImprovementSuggestion(
                "miscalibration",
                f"{'Over' if over else 'Under'}confident: expected {predicted:.0%} success, "
                f"observed {observed:.0%} over {n} runs",
                min(1.0, 0.5 + abs(predicted - observed)),
                {
                    "predicted": round(predicted, 4),
                    "observed": round(observed, 4),
                    "runs": n,
                    "target_confidence": round(2 * observed - 1, 4),
                },
            )
        )
    out.sort(key=lambda s: s.priority, reverse=True)
    return out[:limit]


class CognitiveKernel:
    """The cognitive-layer API over a :class:`~llmos_tui.sentience.runtime.SentienceRuntime`."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime

    def derive_policy(self) -> Policy:
        return self.runtime.policy()

    def detect_improvement_opportunities(
        self, entries: Iterable[Any] = (), *, economy_path: Path | None = None
    ) -> list[ImprovementSuggestion]:
        return self.runtime.detect_improvement_opportunities(entries, economy_path=economy_path)
