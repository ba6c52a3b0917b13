"""What a Messages-API call costs: the price table and the usage a call reports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# USD per million tokens (input, output), as the bundled CLI prices them (see
# devtools/scripted_server.py); a name not listed is priced by its tier.
PRICES: dict[str, tuple[float, float]] = {
    "claude-opus-4-5": (5.0, 25.0),
    "claude-opus-4-1": (15.0, 75.0),
    "claude-opus-4-0": (15.0, 75.0),
    "claude-sonnet-4-5": (3.0, 15.0),
    "claude-sonnet-4-6": (3.0, 15.0),
    "claude-sonnet-4-0": (3.0, 15.0),
    "claude-sonnet-5-5": (2.0, 10.0),
    "claude-opus-5-5": (4.0, 20.0),
    "claude-haiku-4-5": (1.0, 5.0),
    "claude-3-5-haiku": (0.8, 4.0),
    "claude-haiku-5-5": (0.1, 0.5),
}
TIER_PRICES: dict[str, tuple[float, float]] = {
    "opus": (5.0, 25.0),
    "sonnet": (3.0, 15.0),
    "haiku": (1.0, 5.0),
}


def price(model: str, input_tokens: int, output_tokens: int) -> float:
    """USD for a call (see PRICES)."""
    name = (model or "").lower()
    rates = next(
        (
            p
            for key, p in sorted(PRICES.items(), key=lambda kv: -len(kv[0]))
            if name.startswith(key)
        ),
        None,
    )
    if rates is None:
        rates = next((p for tier, p in TIER_PRICES.items() if tier in name), TIER_PRICES["sonnet"])
    return (input_tokens * rates[0] + output_tokens * rates[1]) / 1_000_000


@dataclass
class Usage:
    model: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    llm_calls: int = 0

    def add(self, other: "Usage") -> "Usage":
        return Usage(
            self.model or other.model,
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cost_usd + other.cost_usd,
            self.llm_calls + other.llm_calls,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": round(self.cost_usd, 6),
            "llm_calls": self.llm_calls,
        }
