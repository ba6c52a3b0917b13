"""The persisted internal state (``state/sentience.json``): parsing, decay, saving.

Parsing is tolerant field by field (a bad value falls back to its default, numbers are
clamped to their bounds); an unreadable file (not JSON, not an object, unknown format) is
moved aside as ``sentience.corrupt-<ts>.json`` and the state restarts from the set-points
with a warning. Every list is capped, so the file stays small whatever happens.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, TypeGuard

from ..records import field, record
from ..atomic import atomic_write_text
from ..sentience_params import MODIFIABLE, TRIGGERS, SentienceParams
from .user_model import UserModel
from .valence import Valence, relax

FORMAT = 1
MAX_GOAL_HISTORY = 500
MAX_GOAL_STATS = 500
MAX_CALIBRATION = 100
MAX_OUTCOMES = 200


@record
class SentienceState:
    """The persisted sentience state: valence, sensitivities and history."""

    updated_at: float
    valence: Valence
    sensitivity: dict[str, float] = field(default_factory=lambda: {t: 1.0 for t in TRIGGERS})
    user_model: UserModel = field(default_factory=UserModel)
    recent_triggers: list[dict[str, Any]] = field(default_factory=list)
    goal_history: list[list[Any]] = field(default_factory=list)  # [signature, ts]
    goal_stats: dict[str, dict[str, Any]] = field(
        default_factory=dict
    )  # signature -> goal, runs, successes, last
    calibration: list[list[float]] = field(default_factory=list)  # [predicted success, 0|1]
    outcomes: list[list[float]] = field(default_factory=list)  # [ts, 0|1, cost_usd]
    monologue: dict[str, Any] = field(default_factory=dict)  # thoughts, at
    overrides: dict[str, float] = field(default_factory=dict)  # applied self-modifications
    counters: dict[str, int] = field(default_factory=dict)  # trigger -> times fired

    @classmethod
    def fresh(cls, params: SentienceParams, now: float) -> "SentienceState":
        return cls(updated_at=now, valence=Valence.from_setpoints(params.setpoints))

    # ---- (de)serialization -----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "updated_at": self.updated_at,
            "valence": self.valence.to_dict(),
            "sensitivity": {k: round(v, 6) for k, v in self.sensitivity.items()},
            "user_model": self.user_model.to_dict(),
            "recent_triggers": self.recent_triggers,
            "goal_history": self.goal_history,
            "goal_stats": self.goal_stats,
            "calibration": self.calibration,
            "outcomes": self.outcomes,
            "monologue": self.monologue,
            "overrides": self.overrides,
            "counters": self.counters,
        }

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], params: SentienceParams, now: float
    ) -> "SentienceState":
        ts = data.get("updated_at")
        updated = float(ts) if _num(ts) else now
        updated = min(updated, now)  # a timestamp from the future never blocks decay
        state = cls(
            updated_at=updated, valence=Valence.from_dict(data.get("valence"), params.setpoints)
        )
        sens = data.get("sensitivity")
        if isinstance(sens, dict):
            for t in TRIGGERS:
                if _num(sens.get(t)):
                    state.sensitivity[t] = min(
                        params.sensitivity_max, max(params.sensitivity_min, float(sens[t]))
                    )
        state.user_model = UserModel.from_dict(data.get("user_model"))
        trig = data.get("recent_triggers")
        if isinstance(trig, list):
            state.recent_triggers = [
                t for t in trig if isinstance(t, dict) and isinstance(t.get("type"), str)
            ][-params.recent_triggers_kept :]
        hist = data.get("goal_history")
        if isinstance(hist, list):
            state.goal_history = [
                [h[0], float(h[1])]
                for h in hist
                if isinstance(h, list) and len(h) == 2 and isinstance(h[0], str) and _num(h[1])
            ][-MAX_GOAL_HISTORY:]
        stats = data.get("goal_stats")
        if isinstance(stats, dict):
            for sig, s in stats.items():
                if (
                    isinstance(s, dict)
                    and isinstance(s.get("runs"), int)
                    and isinstance(s.get("successes"), int)
                ):
                    state.goal_stats[str(sig)] = {
                        "goal": str(s.get("goal", ""))[:300],
                        "runs": max(0, s["runs"]),
                        "successes": max(0, min(s["runs"], s["successes"])),
                        "last": float(s["last"]) if _num(s.get("last")) else 0.0,
                    }
        for name, cap, width in (
            ("calibration", MAX_CALIBRATION, 2),
            ("outcomes", MAX_OUTCOMES, 3),
        ):
            raw = data.get(name)
            if isinstance(raw, list):
                setattr(
                    state,
                    name,
                    [
                        [float(x) for x in r]
                        for r in raw
                        if isinstance(r, list) and len(r) == width and all(_num(x) for x in r)
                    ][-cap:],
                )
        mono = data.get("monologue")
        if (
            isinstance(mono, dict)
            and isinstance(mono.get("thoughts"), list)
            and _num(mono.get("at"))
        ):
            state.monologue = {
                "thoughts": [str(t)[:500] for t in mono["thoughts"]][:20],
                "at": float(mono["at"]),
            }
        over = data.get("overrides")
        if isinstance(over, dict):
            for key, value in over.items():
                if key in MODIFIABLE and _num(value):
                    lo, hi = MODIFIABLE[key]
                    state.overrides[key] = min(hi, max(lo, float(value)))
        counters = data.get("counters")
        if isinstance(counters, dict):
            state.counters = {
                k: int(v) for k, v in counters.items() if k in TRIGGERS and isinstance(v, int)
            }
        return state

    # ---- time ----------------------------------------------------------------------------
    def advance(self, now: float, params: SentienceParams) -> None:
        """Apply homeostasis from ``updated_at`` to *now* (valence, sensitivities, user model)."""
        dt = now - self.updated_at
        if dt <= 0:
            return
        self.valence.decay(dt, params.setpoints, params.half_life_minutes)
        for t, s in self.sensitivity.items():
            self.sensitivity[t] = min(
                params.sensitivity_max,
                max(
                    params.sensitivity_min, relax(s, 1.0, dt, params.sensitivity_half_life_minutes)
                ),
            )
        self.user_model.decay(dt, params.user_model_half_life_minutes)
        self.updated_at = now

    def trim(self, params: SentienceParams) -> None:
        self.recent_triggers = self.recent_triggers[-params.recent_triggers_kept :]
        self.goal_history = self.goal_history[-MAX_GOAL_HISTORY:]
        self.calibration = self.calibration[-MAX_CALIBRATION:]
        self.outcomes = self.outcomes[-MAX_OUTCOMES:]
        if len(self.goal_stats) > MAX_GOAL_STATS:
            keep = sorted(
                self.goal_stats.items(), key=lambda kv: kv[1].get("last", 0.0), reverse=True
            )[:MAX_GOAL_STATS]
            self.goal_stats = dict(keep)


def _num(value: Any) -> TypeGuard[int | float]:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and value == value
        and value not in (float("inf"), float("-inf"))
    )


def load_state(
    path: Path, params: SentienceParams, now: float, on_warning: Callable[[str], None]
) -> SentienceState:
    """The stored state (not yet advanced to *now*), or a fresh one; never raises on bad content."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return SentienceState.fresh(params, now)
    except (OSError, UnicodeDecodeError) as exc:
        on_warning(f"cannot read {path} ({exc}); using the set-points")
        return SentienceState.fresh(params, now)
    try:
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("the top level is not an object")
        if data.get("format", FORMAT) != FORMAT:
            raise ValueError(f"unknown format {data.get('format')!r}")
    except ValueError as exc:
        aside = path.with_name(f"{path.stem}.corrupt-{int(now)}.json")
        try:
            os.replace(path, aside)
            where = f"moved to {aside.name}"
        except OSError:
            where = "left in place"
        on_warning(
            f"the sentience state {path} was corrupt ({exc}); {where}; restarting from the set-points"
        )
        return SentienceState.fresh(params, now)
    return SentienceState.from_dict(data, params, now)


def save_state(path: Path, state: SentienceState) -> None:
    # whole or not at all (the file's fsync before the rename); an OS crash right after a run may
    # bring back the state before it, which the next runs move on from: no folder fsync.
    # One line: json's C encoder (indented output is encoded in Python, 5x slower for ~25 kB).
    text = json.dumps(state.to_dict(), sort_keys=True, ensure_ascii=False) + "\n"
    atomic_write_text(path, text, sync_dir=False)
