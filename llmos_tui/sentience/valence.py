"""The valence vector, its homeostasis over wall-clock time, coupled dynamics and latent modes.

Homeostasis: between events each variable relaxes toward its set-point exponentially,
``v(t) = s + (v0 - s) * 0.5 ** (dt / half_life)``. Relaxation composes exactly
(two steps of dt/2 equal one of dt), so it is applied lazily from timestamps whenever the
state is read or changed: a state loaded tomorrow has drifted.

Coupled dynamics (Maslow: safety -> energy -> curiosity -> confidence) give the *effective*
values that modes and policy use; the stored values are not changed by gating:

* safety < ``gate_safety`` (-0.3) caps curiosity at ``gate_curiosity_cap`` (-0.2), energy at
  ``gate_energy_cap`` (0.0) and confidence at ``gate_confidence_cap`` (0.0);
* energy < ``energy_gate`` (-0.3) caps curiosity at ``energy_gate_curiosity_cap`` (0.0).

Latent mode (first rule that holds, on effective values):

1. RECOVERY        energy < ``recovery_energy`` (-0.2) or safety < ``recovery_safety`` (-0.5)
2. CAUTIOUS        safety < ``cautious_safety`` (0.0)
3. AUTO_CREATIVE   curiosity > ``creative_curiosity`` (0.3) and confidence > ``creative_confidence`` (0.3)
4. AUTO_CONTAINED  curiosity < ``contained_curiosity`` (-0.3)
5. BALANCED        otherwise
"""

from __future__ import annotations

from typing import Any

from ..records import record
from ..sentience_params import VARIABLES, SentienceParams


def clamp(value: float, lo: float = -1.0, hi: float = 1.0) -> float:
    if value != value:  # NaN never enters the state
        return 0.0
    return lo if value < lo else hi if value > hi else value


def relax(value: float, target: float, dt_seconds: float, half_life_minutes: float) -> float:
    """Exponential relaxation of *value* toward *target* over *dt_seconds*."""
    if dt_seconds <= 0:
        return value
    factor = 0.5 ** (dt_seconds / (half_life_minutes * 60.0))
    return target + (value - target) * factor


@record
class Valence:
    """The four internal variables."""

    safety: float = 0.5
    curiosity: float = 0.0
    energy: float = 0.7
    confidence: float = 0.3

    @classmethod
    def from_setpoints(cls, setpoints: dict[str, float]) -> "Valence":
        return cls(**{v: float(setpoints[v]) for v in VARIABLES})

    @classmethod
    def from_dict(cls, data: Any, defaults: dict[str, float]) -> "Valence":
        """Tolerant: a missing or non-numeric value falls back to its default; others are clamped."""
        out = cls.from_setpoints(defaults)
        if isinstance(data, dict):
            for name in VARIABLES:
                value = data.get(name)
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    setattr(out, name, clamp(float(value)))
        return out

    def to_dict(self, digits: int | None = None) -> dict[str, float]:
        return {
            v: (round(getattr(self, v), digits) if digits is not None else getattr(self, v))
            for v in VARIABLES
        }

    def decay(
        self, dt_seconds: float, setpoints: dict[str, float], half_life_minutes: float
    ) -> None:
        for name in VARIABLES:
            setattr(
                self,
                name,
                clamp(relax(getattr(self, name), setpoints[name], dt_seconds, half_life_minutes)),
            )

    def add(self, deltas: dict[str, float]) -> dict[str, float]:
        """Add deltas (clamped to [-1, 1]); returns the change really applied per variable."""
        applied = {}
        for name, delta in deltas.items():
            before = getattr(self, name)
            after = clamp(before + delta)
            setattr(self, name, after)
            applied[name] = after - before
        return applied

    def effective(self, params: SentienceParams) -> "Valence":
        """Gated values (coupled dynamics); see the module docstring."""
        out = Valence(self.safety, self.curiosity, self.energy, self.confidence)
        if out.safety < params.gate_safety:
            out.curiosity = min(out.curiosity, params.gate_curiosity_cap)
            out.energy = min(out.energy, params.gate_energy_cap)
            out.confidence = min(out.confidence, params.gate_confidence_cap)
        if out.energy < params.energy_gate:
            out.curiosity = min(out.curiosity, params.energy_gate_curiosity_cap)
        return out


def latent_mode(effective: Valence, params: SentienceParams) -> str:
    """The latent mode that emerges from *effective* values (rules in the module docstring)."""
    if effective.energy < params.recovery_energy or effective.safety < params.recovery_safety:
        return "RECOVERY"
    if effective.safety < params.cautious_safety:
        return "CAUTIOUS"
    if (
        effective.curiosity > params.creative_curiosity
        and effective.confidence > params.creative_confidence
    ):
        return "AUTO_CREATIVE"
    if effective.curiosity < params.contained_curiosity:
        return "AUTO_CONTAINED"
    return "BALANCED"


def mode_reason(effective: Valence, mode: str, params: SentienceParams) -> str:
    if mode == "RECOVERY":
        if effective.energy < params.recovery_energy:
            return f"energy {effective.energy:.2f} < {params.recovery_energy:.2f}"
        return f"safety {effective.safety:.2f} < {params.recovery_safety:.2f}"
    if mode == "CAUTIOUS":
        return f"safety {effective.safety:.2f} < {params.cautious_safety:.2f}"
    if mode == "AUTO_CREATIVE":
        return (
            f"curiosity {effective.curiosity:.2f} > {params.creative_curiosity:.2f} and confidence "
            f"{effective.confidence:.2f} > {params.creative_confidence:.2f}"
        )
    if mode == "AUTO_CONTAINED":
        return f"curiosity {effective.curiosity:.2f} < {params.contained_curiosity:.2f}"
    return "every variable near its set-point"
