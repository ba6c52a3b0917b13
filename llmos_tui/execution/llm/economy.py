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

from ...atomic import atomic_write_json, file_lock
from ...clock import iso_utc
from ...errors import LowBatteryError

MAX_LOG_ENTRIES = 10_000


@dataclass(frozen=True)
class Charge:
    """One charge against the budget (what ``Economy.charge`` records)."""

    ts: str
    mode: str
    cost_usd: float
    input_tokens: int
    output_tokens: int
    goal: str
    trace_id: str | None


def money(usd: Any) -> float:
    """A USD amount as written to disk: rounded to 6 decimals (no ``0.13024200000000002``)."""
    return round(float(usd), 6)


def describe_balance(budget_usd: float, spent_usd: float) -> str:
    """``$0.0123 left of the $1.0000 budget``, or, once overspent, ``$0.7656 spent of the $0.0100
    budget ($0.7556 over)`` -- never a negative balance."""
    left = budget_usd - spent_usd
    if left >= 0:
        return f"${left:.4f} left of the ${budget_usd:.4f} budget"
    return f"${spent_usd:.4f} spent of the ${budget_usd:.4f} budget (${-left:.4f} over)"


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
                f"budget exhausted: {describe_balance(self.budget_usd, self.budget_usd - balance)}, below the "
                f"per-run estimate ${estimate_usd:.4f}. Raise budget_usd in config.yaml or pass --budget USD."
            )
        return balance

    # ---- writing ---------------------------------------------------------------------
    def charge(
        self,
        *,
        mode: str,
        cost_usd: float,
        input_tokens: int = 0,
        output_tokens: int = 0,
        goal: str = "",
        trace_id: str | None = None,
    ) -> Charge:
        entry = Charge(
            ts=iso_utc(),
            mode=mode,
            cost_usd=money(cost_usd),
            input_tokens=int(input_tokens),
            output_tokens=int(output_tokens),
            goal=_redacted(goal)[:200],
            trace_id=trace_id,
        )
        with file_lock(self.path):
            data = self._load()
            data["spent_usd"] = money(float(data["spent_usd"]) + entry.cost_usd)
            per = data["by_mode"].setdefault(
                mode, {"runs": 0, "cost_usd": 0.0, "input_tokens": 0, "output_tokens": 0}
            )
            per["runs"] += 1
            per["cost_usd"] = money(per["cost_usd"] + entry.cost_usd)
            per["input_tokens"] += entry.input_tokens
            per["output_tokens"] += entry.output_tokens
            data["log"].append(entry.__dict__)
            data["log"] = data["log"][-MAX_LOG_ENTRIES:]
            atomic_write_json(self.path, data)
        return entry

    def report(self) -> dict[str, Any]:
        data = self._load()
        return {
            "budget_usd": self.budget_usd,
            "spent_usd": round(float(data["spent_usd"]), 6),
            "balance_usd": round(self.budget_usd - float(data["spent_usd"]), 6),
            "by_mode": data["by_mode"],
            "recent": data["log"][-10:],
        }


# ---- one small budgeted call (the inner monologue, fact extraction) ------------------------------


@dataclass
class BudgetedAnswer:
    """What :func:`budgeted_call` got: ``text`` (None when no answer), why not (``note``), and
    what was spent. ``charge_error`` says when the cost could not be recorded."""

    text: str | None = None
    note: str = ""
    requests: int = 0
    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    charge_error: str = ""
    failed: bool = False  # a request was made and failed (as opposed to: not made)


def budgeted_call(
    *,
    model: str,
    system: str,
    prompt: str,
    max_tokens: int,
    timeout_s: float,
    cap_usd: float,
    cap_key: str,
    economy_file: Path,
    total_budget_usd: float,
    mode: str,
    goal: str,
    what: str,
) -> BudgetedAnswer:
    """One Messages-API call that is made only when its estimated cost (the prompt's length / 4,
    ``max_tokens`` out, at ``pricing.price``) fits both its own cap (``cap_usd``, the config key
    ``cap_key``) and the economy's balance; its real cost is charged to the economy under
    ``mode``. Never raises: every reason not to answer is a ``note`` (``what`` names the call in
    it: "the monologue call cannot be made: ...")."""
    from ...errors import LLMOSError
    from .api_call import call_llm, describe_error
    from .pricing import price
    from .configured import llm_configured

    if not llm_configured():
        return BudgetedAnswer(note="no LLM is configured")
    estimate = price(model, (len(system) + len(prompt)) // 4 + 1, max_tokens)
    if estimate > cap_usd:
        return BudgetedAnswer(
            note=f"the estimated cost ${estimate:.5f} exceeds {cap_key} (${cap_usd:.5f})"
        )
    economy = Economy(economy_file, total_budget_usd)
    try:
        economy.check_budget(estimate)
    except LLMOSError as exc:
        return BudgetedAnswer(note=exc.message)
    try:
        text, usage = call_llm(model, system, prompt, max_tokens, timeout_s)
    except LLMOSError as exc:
        return BudgetedAnswer(note=f"the {what} call cannot be made: {exc.message}")
    except Exception as exc:  # noqa: BLE001 - anthropic raises many error types; all mean "no answer"
        return BudgetedAnswer(
            note=f"the {what} call failed: {describe_error(exc)}", requests=1, failed=True
        )
    answer = BudgetedAnswer(
        text=text,
        requests=1,
        cost_usd=usage.cost_usd,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
    )
    try:
        economy.charge(
            mode=mode,
            cost_usd=usage.cost_usd,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            goal=goal,
        )
    except OSError as exc:
        answer.charge_error = f"the {what} cost could not be charged: {exc}"
    return answer


def _redacted(text: str) -> str:
    from ...redact import redact_text

    return redact_text(text)
