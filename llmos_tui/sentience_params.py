"""Every constant of the sentience layer, bounded, read from ``config.sentience``.

``SentienceParams.from_config(config)`` takes each field from ``config.sentience`` when the
section has it and the default below otherwise, then validates it against its bounds
(``BOUNDS`` for numbers, per-entry checks for the tables). A bad value raises
:class:`~llmos_tui.errors.ConfigError` naming ``sentience.<key>``; ``validate_section`` does the
same for a config section and is what ``config._validate_semantics`` calls.

Trigger effects are additive deltas on the four variables, multiplied by the trigger's
current *sensitivity*; a sensitivity is multiplied by its ``trigger_adaptation`` factor after
each firing (< 1 habituates, > 1 sensitizes), is clamped to ``[sensitivity_min,
sensitivity_max]`` and drifts back to 1.0 with ``sensitivity_half_life_minutes``. A single
firing moves a variable by at most ``max_delta``. So no parameter grows without bound.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from .records import field, fields, record
from .errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from .config import LLMOSConfig

VARIABLES = ("safety", "curiosity", "energy", "confidence")
LATENT_MODES = ("AUTO_CREATIVE", "AUTO_CONTAINED", "RECOVERY", "CAUTIOUS", "BALANCED")
TRIGGERS = (
    "task_success",
    "task_failure",
    "repetition",
    "novel_task",
    "high_cost",
    "safety_violation",
    "near_miss",
    "user_positive",
    "user_negative",
    "timeout",
    "tool_discovery",
    "self_modification",
    "cheap_success",
)
TIERS = ("cheap", "default", "strong")
SELF_MODIFICATION = ("ask", "auto", "off")

DEFAULT_SETPOINTS = {"safety": 0.5, "curiosity": 0.0, "energy": 0.7, "confidence": 0.3}

# Deltas per firing at sensitivity 1.0 (each in [-0.5, 0.5]).
DEFAULT_TRIGGER_EFFECTS: dict[str, dict[str, float]] = {
    "task_success": {"confidence": 0.08, "energy": -0.02, "safety": 0.02},
    "task_failure": {"confidence": -0.12, "energy": -0.05, "safety": -0.05},
    "repetition": {"curiosity": -0.10},
    "novel_task": {"curiosity": 0.15, "confidence": -0.03},
    "high_cost": {"energy": -0.15},
    "safety_violation": {"safety": -0.25, "curiosity": -0.05},
    "near_miss": {"safety": -0.05},
    "user_positive": {"confidence": 0.05, "energy": 0.05, "safety": 0.03},
    "user_negative": {"confidence": -0.08, "safety": -0.02},
    "timeout": {"energy": -0.10, "confidence": -0.05},
    "tool_discovery": {"curiosity": 0.10, "confidence": 0.03},
    "self_modification": {"safety": -0.03, "curiosity": 0.05},
    "cheap_success": {"energy": 0.04},
}

# Sensitivity factor applied after each firing (each in [0.5, 1.5]).
DEFAULT_TRIGGER_ADAPTATION: dict[str, float] = {
    "task_success": 0.9,
    "task_failure": 1.0,
    "repetition": 1.0,
    "novel_task": 0.9,
    "high_cost": 1.1,
    "safety_violation": 1.2,
    "near_miss": 1.1,
    "user_positive": 0.9,
    "user_negative": 1.0,
    "timeout": 1.0,
    "tool_discovery": 0.8,
    "self_modification": 1.0,
    "cheap_success": 0.95,
}

# Change of learning.follower_threshold / learning.mixed_threshold per latent mode.
DEFAULT_FOLLOWER_DELTA = {
    "AUTO_CREATIVE": 0.02,
    "AUTO_CONTAINED": 0.0,
    "RECOVERY": 0.0,
    "CAUTIOUS": 0.03,
    "BALANCED": 0.0,
}
DEFAULT_MIXED_DELTA = {
    "AUTO_CREATIVE": 0.0,
    "AUTO_CONTAINED": -0.05,
    "RECOVERY": -0.10,
    "CAUTIOUS": 0.0,
    "BALANCED": 0.0,
}
_WRITE_TOOLS = ["Bash", "Write", "Edit", "MultiEdit", "NotebookEdit"]
DEFAULT_RESTRICTED_TOOLS = {"CAUTIOUS": list(_WRITE_TOOLS), "RECOVERY": list(_WRITE_TOOLS)}

# Theory of mind: how one chat message moves the user model (each in [-1, 1]).
DEFAULT_USER_EFFECTS = {
    "thanks_satisfaction": 0.15,
    "thanks_frustration": -0.10,
    "correction_frustration": 0.15,
    "correction_satisfaction": -0.10,
    "repeat_frustration": 0.10,
    "terse_frustration": 0.05,
    "terse_engagement": -0.05,
    "success_satisfaction": 0.03,
    "failure_satisfaction": -0.05,
    "failure_frustration": 0.05,
    "engagement_rate": 0.2,
    "expertise_rate": 0.2,
}

# (low, high) for every numeric field.
BOUNDS: dict[str, tuple[float, float]] = {
    "half_life_minutes": (0.1, 100_000.0),
    "sensitivity_min": (0.05, 1.0),
    "sensitivity_max": (1.0, 5.0),
    "sensitivity_half_life_minutes": (0.1, 100_000.0),
    "max_delta": (0.01, 1.0),
    "repetition_threshold": (2, 100),
    "repetition_window_minutes": (1.0, 100_000.0),
    "high_cost_usd": (0.0001, 1000.0),
    "high_cost_scale_max": (1.0, 10.0),
    "max_violations_per_run": (1, 20),
    "gate_safety": (-1.0, 1.0),
    "gate_curiosity_cap": (-1.0, 1.0),
    "gate_energy_cap": (-1.0, 1.0),
    "gate_confidence_cap": (-1.0, 1.0),
    "energy_gate": (-1.0, 1.0),
    "energy_gate_curiosity_cap": (-1.0, 1.0),
    "recovery_energy": (-1.0, 1.0),
    "recovery_safety": (-1.0, 1.0),
    "cautious_safety": (-1.0, 1.0),
    "creative_curiosity": (-1.0, 1.0),
    "creative_confidence": (-1.0, 1.0),
    "contained_curiosity": (-1.0, 1.0),
    "explore_curiosity": (-1.0, 1.0),
    "low_confidence": (-1.0, 1.0),
    "cheap_energy": (-1.0, 1.0),
    "min_mixed_threshold": (0.3, 1.0),
    "simple_complexity": (0.0, 1.0),
    "complex_complexity": (0.0, 1.0),
    "track_record_min_runs": (1, 1000),
    "track_record_min_success": (0.0, 1.0),
    "boredom_threshold": (-1.0, 1.0),
    "calibration_min_runs": (2, 1000),
    "miscalibration_threshold": (0.01, 1.0),
    "cost_trend_window": (2, 1000),
    "cost_trend_ratio": (1.01, 100.0),
    "empathy_gap_threshold": (0.05, 2.0),
    "frustration_checkin": (0.05, 1.0),
    "checkin_cooldown": (1, 1000),
    "user_model_half_life_minutes": (0.1, 100_000.0),
    "monologue_max_thoughts": (1, 20),
    "monologue_ttl_minutes": (1.0, 100_000.0),
    "monologue_llm_budget_usd": (0.0, 1.0),
    "recent_triggers_kept": (5, 1000),
    "max_setpoint_step": (0.01, 1.0),
}

# Parameters a self-modification proposal may change, with their bounds.
MODIFIABLE: dict[str, tuple[float, float]] = {
    **{f"setpoints.{v}": (-0.9, 0.9) for v in VARIABLES},
    "cautious_safety": (-0.5, 0.5),
    "repetition_threshold": (2, 20),
}


@record
class SentienceParams:
    """The sentience constants in use (``from_config``), each within its bounds."""

    enabled: bool = True
    setpoints: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_SETPOINTS))
    half_life_minutes: float = 30.0
    trigger_effects: dict[str, dict[str, float]] = field(
        default_factory=lambda: copy.deepcopy(DEFAULT_TRIGGER_EFFECTS)
    )
    trigger_adaptation: dict[str, float] = field(
        default_factory=lambda: dict(DEFAULT_TRIGGER_ADAPTATION)
    )
    sensitivity_min: float = 0.25
    sensitivity_max: float = 2.0
    sensitivity_half_life_minutes: float = 60.0
    max_delta: float = 0.5
    repetition_threshold: int = 3
    repetition_window_minutes: float = 60.0
    high_cost_usd: float = 0.25
    high_cost_scale_max: float = 3.0
    max_violations_per_run: int = 3
    # Coupled dynamics (Maslow): safety gates energy, curiosity and confidence; energy gates curiosity.
    gate_safety: float = -0.3
    gate_curiosity_cap: float = -0.2
    gate_energy_cap: float = 0.0
    gate_confidence_cap: float = 0.0
    energy_gate: float = -0.3
    energy_gate_curiosity_cap: float = 0.0
    # Latent modes.
    recovery_energy: float = -0.2
    recovery_safety: float = -0.5
    cautious_safety: float = 0.0
    creative_curiosity: float = 0.3
    creative_confidence: float = 0.3
    contained_curiosity: float = -0.3
    # Policy.
    explore_curiosity: float = 0.3
    exploration_tools: str = "Glob,Grep,WebFetch,WebSearch"
    low_confidence: float = -0.3
    cheap_energy: float = 0.0
    follower_threshold_delta: dict[str, float] = field(
        default_factory=lambda: dict(DEFAULT_FOLLOWER_DELTA)
    )
    mixed_threshold_delta: dict[str, float] = field(
        default_factory=lambda: dict(DEFAULT_MIXED_DELTA)
    )
    min_mixed_threshold: float = 0.6
    restricted_tools: dict[str, list[str]] = field(
        default_factory=lambda: copy.deepcopy(DEFAULT_RESTRICTED_TOOLS)
    )
    # Model tiers.
    simple_complexity: float = 0.35
    complex_complexity: float = 0.6
    track_record_min_runs: int = 3
    track_record_min_success: float = 0.8
    # Improvement opportunities.
    boredom_threshold: float = -0.4
    calibration_min_runs: int = 10
    miscalibration_threshold: float = 0.25
    cost_trend_window: int = 10
    cost_trend_ratio: float = 1.5
    # Theory of mind.
    user_effects: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_USER_EFFECTS))
    empathy_gap_threshold: float = 0.5
    frustration_checkin: float = 0.5
    checkin_cooldown: int = 5
    user_model_half_life_minutes: float = 60.0
    # Inner monologue and bookkeeping.
    monologue_enabled: bool = True
    monologue_max_thoughts: int = 3
    monologue_ttl_minutes: float = 120.0
    monologue_llm: bool = False
    monologue_llm_budget_usd: float = 0.01
    recent_triggers_kept: int = 50
    # Self-modification.
    self_modification: str = "ask"
    max_setpoint_step: float = 0.2

    # ---- construction ---------------------------------------------------------------------
    @classmethod
    def from_config(cls, config: LLMOSConfig | None) -> "SentienceParams":
        """Params from an ``LLMOSConfig``'s ``sentience`` section (None: the defaults)."""
        params = cls()
        if config is None:
            return params
        section = config.sentience
        for f in fields(cls):
            if hasattr(section, f.name):
                setattr(params, f.name, copy.deepcopy(getattr(section, f.name)))
        params.validate(source=config.source or "config")
        return params

    def with_overrides(self, overrides: dict[str, Any]) -> "SentienceParams":
        """A copy with applied self-modifications (``setpoints.x`` or a top-level name)."""
        out = copy.deepcopy(self)
        for key, value in overrides.items():
            if key not in MODIFIABLE:
                continue
            lo, hi = MODIFIABLE[key]
            value = min(hi, max(lo, float(value)))
            if key.startswith("setpoints."):
                out.setpoints[key.split(".", 1)[1]] = value
            elif key == "repetition_threshold":
                out.repetition_threshold = int(round(value))
            else:
                setattr(out, key, value)
        return out

    # ---- validation -----------------------------------------------------------------------
    def _check_bounds(self, source: str) -> None:
        """Every number of ``BOUNDS`` inside its range (an integer bound wants an integer)."""
        for name, (lo, hi) in BOUNDS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
                raise _bad(name, f"expected a number, got {value!r}", source)
            if not lo <= value <= hi:
                raise _bad(name, f"{value!r} is outside [{lo}, {hi}]", source)
            if isinstance(lo, int) and isinstance(hi, int) and not isinstance(value, int):
                if not float(value).is_integer():
                    raise _bad(name, f"expected an integer, got {value!r}", source)
                setattr(self, name, int(value))

    def _checked_trigger_effects(self, source: str) -> dict[str, dict[str, float]]:
        """The defaults' trigger effects with the configured ones (known triggers only)."""
        effects: dict[str, dict[str, float]] = copy.deepcopy(DEFAULT_TRIGGER_EFFECTS)
        if not isinstance(self.trigger_effects, dict):
            raise _bad(
                "trigger_effects", "expected a mapping of trigger -> {variable: delta}", source
            )
        for trig, table in self.trigger_effects.items():
            if trig not in TRIGGERS:
                raise _bad(
                    f"trigger_effects.{trig}",
                    f"unknown trigger (known: {', '.join(TRIGGERS)})",
                    source,
                )
            effects[trig] = _check_vector(
                table, {}, -0.5, 0.5, f"sentience.trigger_effects.{trig}", source
            )
        return effects

    def validate(self, source: str = "config") -> None:
        def bad(key: str, msg: str) -> ConfigError:
            return _bad(key, msg, source)

        self._check_bounds(source)
        if self.sensitivity_min > self.sensitivity_max:
            raise bad("sensitivity_min", "must not exceed sensitivity_max")
        if self.simple_complexity > self.complex_complexity:
            raise bad("simple_complexity", "must not exceed complex_complexity")
        if self.self_modification not in SELF_MODIFICATION:
            raise bad(
                "self_modification",
                f"expected one of {', '.join(SELF_MODIFICATION)}, got {self.self_modification!r}",
            )
        for name in ("enabled", "monologue_enabled", "monologue_llm"):
            if not isinstance(getattr(self, name), bool):
                raise bad(name, f"expected true or false, got {getattr(self, name)!r}")
        if not isinstance(self.exploration_tools, str):
            raise bad("exploration_tools", "expected a comma-separated list of tool names")
        self.setpoints = _check_vector(
            self.setpoints,
            DEFAULT_SETPOINTS,
            -1.0,
            1.0,
            "sentience.setpoints",
            source,
            complete=True,
        )
        self.trigger_effects = self._checked_trigger_effects(source)
        self.trigger_adaptation = _check_table(
            self.trigger_adaptation,
            DEFAULT_TRIGGER_ADAPTATION,
            TRIGGERS,
            0.5,
            1.5,
            "sentience.trigger_adaptation",
            source,
        )
        self.follower_threshold_delta = _check_table(
            self.follower_threshold_delta,
            DEFAULT_FOLLOWER_DELTA,
            LATENT_MODES,
            -0.05,
            0.05,
            "sentience.follower_threshold_delta",
            source,
        )
        self.mixed_threshold_delta = _check_table(
            self.mixed_threshold_delta,
            DEFAULT_MIXED_DELTA,
            LATENT_MODES,
            -0.2,
            0.1,
            "sentience.mixed_threshold_delta",
            source,
        )
        self.user_effects = _check_table(
            self.user_effects,
            DEFAULT_USER_EFFECTS,
            tuple(DEFAULT_USER_EFFECTS),
            -1.0,
            1.0,
            "sentience.user_effects",
            source,
        )
        if not isinstance(self.restricted_tools, dict):
            raise bad("restricted_tools", "expected a mapping of latent mode -> list of tool names")
        tools: dict[str, list[str]] = {}
        for mode, names in self.restricted_tools.items():
            if mode not in LATENT_MODES:
                raise bad(
                    f"restricted_tools.{mode}",
                    f"unknown latent mode (known: {', '.join(LATENT_MODES)})",
                )
            if isinstance(names, str):
                names = [n.strip() for n in names.split(",") if n.strip()]
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise bad(f"restricted_tools.{mode}", "expected a list of tool names")
            tools[mode] = list(names)
        self.restricted_tools = tools

    def exploration_tool_list(self) -> list[str]:
        return [t.strip() for t in self.exploration_tools.split(",") if t.strip()]


def _num(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and value == value


def _check_vector(
    table: Any,
    defaults: dict[str, float],
    lo: float,
    hi: float,
    key: str,
    source: str,
    *,
    complete: bool = False,
) -> dict[str, float]:
    if not isinstance(table, dict):
        raise ConfigError("expected a mapping of variable -> number", key=key, source=source)
    out = dict(defaults) if complete else {}
    for name, value in table.items():
        if name not in VARIABLES:
            raise ConfigError(
                f"unknown variable {name!r} (known: {', '.join(VARIABLES)})", key=key, source=source
            )
        if not _num(value) or not lo <= value <= hi:
            raise ConfigError(
                f"expected a number in [{lo}, {hi}], got {value!r}",
                key=f"{key}.{name}",
                source=source,
            )
        out[name] = float(value)
    return out


def _check_table(
    table: Any,
    defaults: dict[str, float],
    known: tuple[str, ...],
    lo: float,
    hi: float,
    key: str,
    source: str,
) -> dict[str, float]:
    if not isinstance(table, dict):
        raise ConfigError("expected a mapping", key=key, source=source)
    out = dict(defaults)
    for name, value in table.items():
        if name not in known:
            raise ConfigError(
                f"unknown entry {name!r} (known: {', '.join(known)})", key=key, source=source
            )
        if not _num(value) or not lo <= value <= hi:
            raise ConfigError(
                f"expected a number in [{lo}, {hi}], got {value!r}",
                key=f"{key}.{name}",
                source=source,
            )
        out[name] = float(value)
    return out


def _bad(key: str, msg: str, source: str) -> ConfigError:
    return ConfigError(msg, key=f"sentience.{key}", source=source)


def validate_section(section: Any, source: str = "config") -> None:
    """Validate a ``config.sentience`` section (raises ConfigError naming the key)."""
    params = SentienceParams()
    for f in fields(SentienceParams):
        if hasattr(section, f.name):
            setattr(params, f.name, copy.deepcopy(getattr(section, f.name)))
    params.validate(source=source)
