"""Token economy: a USD budget, charged from real usage, persisted in ``state/economy.json``.

The balance is ``budget_usd`` (config, or ``--budget``) minus everything spent in this
workspace. LEARNER/MIXED call ``check_budget`` before starting and refuse (exit 4) when the
balance is below the per-run estimate. Charges are written atomically under a sidecar lock so
several processes never lose a charge.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_json, file_lock
from ..errors import LowBatteryError

MAX_LOG_ENTRIES = 10_000


@dataclass(frozen=True)
class Charge:
    ts: str
    mode: str
    cost_usd: float
    input_tokens: int
    output_tokens: int
    goal: str
    trace_id: str | None


class Economy:
    def __init__(self, path: Path, budget_usd: float) -> None:
        self.path = Path(path)
        self.budget_usd = float(budget_usd)

    # ---- reading ---------------------------------------------------------------------
    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"spent_usd": 0.0, "by_mode": {}, "log": []}
        except (OSError, ValueError):
            # A corrupt ledger must not stop the program; keep it aside for inspection.
            try:
                self.path.replace(self.path.with_suffix(f".corrupt-{int(time.time())}.json"))
            except OSError:
                pass
            return {"spent_usd": 0.0, "by_mode": {}, "log": []}
        if not isinstance(data, dict):
            return {"spent_usd": 0.0, "by_mode": {}, "log": []}
        data.setdefault("spent_usd", 0.0)
        data.setdefault("by_mode", {})
        data.setdefault("log", [])
        return data

    def spent(self) -> float:
        return float(self._load().get("spent_usd", 0.0))

    def balance(self) -> float:
        return self.budget_usd - self.spent()

    def check_budget(self, estimate_usd: float) -> float:
        balance = self.balance()
        if balance < estimate_usd or balance <= 0:
            raise LowBatteryError(
                f"budget exhausted: balance ${balance:.4f} of ${self.budget_usd:.2f} is below the "
                f"per-run estimate ${estimate_usd:.4f}. Raise budget_usd in config.yaml or pass --budget USD.")
        return balance

    # ---- writing ---------------------------------------------------------------------
    def charge(self, *, mode: str, cost_usd: float, input_tokens: int = 0, output_tokens: int = 0,
               goal: str = "", trace_id: str | None = None) -> Charge:
        entry = Charge(ts=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), mode=mode,
                       cost_usd=float(cost_usd), input_tokens=int(input_tokens),
                       output_tokens=int(output_tokens), goal=goal[:200], trace_id=trace_id)
        with file_lock(self.path):
            data = self._load()
            data["spent_usd"] = float(data["spent_usd"]) + entry.cost_usd
            per = data["by_mode"].setdefault(mode, {"runs": 0, "cost_usd": 0.0, "input_tokens": 0,
                                                    "output_tokens": 0})
            per["runs"] += 1
            per["cost_usd"] += entry.cost_usd
            per["input_tokens"] += entry.input_tokens
            per["output_tokens"] += entry.output_tokens
            data["log"].append(entry.__dict__)
            data["log"] = data["log"][-MAX_LOG_ENTRIES:]
            atomic_write_json(self.path, data)
        return entry

    def report(self) -> dict[str, Any]:
        data = self._load()
        return {"budget_usd": self.budget_usd, "spent_usd": round(float(data["spent_usd"]), 6),
                "balance_usd": round(self.budget_usd - float(data["spent_usd"]), 6),
                "by_mode": data["by_mode"], "recent": data["log"][-10:]}
