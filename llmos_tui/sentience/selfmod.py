"""Self-modification records: proposals to change sentience parameters, approved, logged, reversible.

Proposals live in ``state/sentience_proposals.json`` (written atomically under a sidecar
lock): ``{"proposals": [...], "history": [...]}``. A proposal records the parameter (one of
``params.MODIFIABLE``, e.g. ``setpoints.confidence``), old and new value, the reason, the
performance before (runs, success rate, mean cost) and, once enough runs happened after it
was applied, the performance after. Status: ``pending`` -> ``applied`` | ``rejected``;
``applied`` -> ``reverted``. Every status change is appended to ``history``.

The applied value itself lives in the runtime state's ``overrides`` (``state/sentience.json``),
on top of the configuration, so reverting restores the configured behaviour exactly.
"""

from __future__ import annotations

import builtins
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..atomic import atomic_write_json, file_lock
from ..clock import iso_utc
from ..errors import LLMOSError, UsageError
from ..sentience_params import MODIFIABLE

STATUSES = ("pending", "applied", "rejected", "reverted")
MAX_PROPOSALS = 200
MAX_HISTORY = 1000


class ProposalNotFound(LLMOSError):
    pass


@dataclass
class Proposal:
    id: str
    parameter: str
    old_value: float
    new_value: float
    reason: str
    source: str = "manual"
    created_at: str = ""
    performance_before: dict[str, Any] = field(default_factory=dict)
    approval_required: bool = True
    status: str = "pending"
    decided_at: str | None = None
    applied_ts: float | None = None
    performance_after: dict[str, Any] | None = None
    regressed: bool | None = None
    notification_id: str | None = None  # the inbox proposal (observability hub), when posted

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Proposal":
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})


class ProposalStore:
    def __init__(
        self,
        path: Path,
        *,
        clock: Callable[[], float] = time.time,
        on_warning: Callable[[str], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self.clock = clock
        self.on_warning = on_warning or (lambda _m: None)

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"proposals": [], "history": []}
        except (OSError, ValueError) as exc:
            aside = self.path.with_name(f"{self.path.stem}.corrupt-{int(self.clock())}.json")
            try:
                os.replace(self.path, aside)
            except OSError:
                pass
            self.on_warning(
                f"{self.path} was unreadable ({exc}); moved to {aside.name} and started empty"
            )
            return {"proposals": [], "history": []}
        if not isinstance(data, dict):
            return {"proposals": [], "history": []}
        props = [p for p in data.get("proposals", []) if isinstance(p, dict) and "id" in p]
        hist = [h for h in data.get("history", []) if isinstance(h, dict)]
        return {"proposals": props, "history": hist}

    def list(self, status: str | None = None) -> list[Proposal]:
        out = []
        for raw in self._read()["proposals"]:
            try:
                p = Proposal.from_dict(raw)
            except TypeError:
                continue
            if status is None or p.status == status:
                out.append(p)
        return out

    def get(self, proposal_id: str) -> Proposal:
        for p in self.list():
            if p.id == proposal_id:
                return p
        raise ProposalNotFound(f"no self-modification proposal {proposal_id!r}")

    def create(
        self,
        parameter: str,
        old_value: float,
        new_value: float,
        reason: str,
        *,
        source: str,
        performance_before: dict[str, Any],
        approval_required: bool,
    ) -> Proposal:
        if parameter not in MODIFIABLE:
            raise UsageError(
                f"parameter {parameter!r} cannot be self-modified (allowed: {', '.join(MODIFIABLE)})"
            )
        lo, hi = MODIFIABLE[parameter]
        new_value = round(min(hi, max(lo, float(new_value))), 4)
        now = self.clock()
        with file_lock(self.path):
            data = self._read()
            for raw in data["proposals"]:
                if raw.get("parameter") == parameter and raw.get("status") == "pending":
                    return Proposal.from_dict(raw)  # one pending proposal per parameter
            prop = Proposal(
                id="sm_" + os.urandom(5).hex(),
                parameter=parameter,
                old_value=round(float(old_value), 4),
                new_value=new_value,
                reason=reason,
                source=source,
                created_at=iso_utc(now),
                performance_before=performance_before,
                approval_required=approval_required,
            )
            data["proposals"].append(prop.to_dict())
            data["proposals"] = data["proposals"][-MAX_PROPOSALS:]
            data["history"].append(
                {
                    "at": iso_utc(now),
                    "id": prop.id,
                    "action": "proposed",
                    "parameter": parameter,
                    "old": prop.old_value,
                    "new": prop.new_value,
                    "reason": reason,
                }
            )
            data["history"] = data["history"][-MAX_HISTORY:]
            atomic_write_json(self.path, data)
        return prop

    def transition(
        self,
        proposal_id: str,
        to: str,
        allowed_from: tuple[str, ...],
        update: Callable[[Proposal], None] | None = None,
    ) -> Proposal:
        now = self.clock()
        with file_lock(self.path):
            data = self._read()
            for i, raw in enumerate(data["proposals"]):
                if raw.get("id") != proposal_id:
                    continue
                prop = Proposal.from_dict(raw)
                if prop.status not in allowed_from:
                    raise UsageError(
                        f"proposal {proposal_id} is {prop.status}; it cannot become {to}"
                    )
                prop.status = to
                prop.decided_at = iso_utc(now)
                if to == "applied":
                    prop.applied_ts = now
                if update:
                    update(prop)
                data["proposals"][i] = prop.to_dict()
                data["history"].append(
                    {
                        "at": iso_utc(now),
                        "id": prop.id,
                        "action": to,
                        "parameter": prop.parameter,
                        "old": prop.old_value,
                        "new": prop.new_value,
                    }
                )
                data["history"] = data["history"][-MAX_HISTORY:]
                atomic_write_json(self.path, data)
                return prop
        raise ProposalNotFound(f"no self-modification proposal {proposal_id!r}")

    def update(self, proposal_id: str, fn: Callable[[Proposal], None]) -> None:
        with file_lock(self.path):
            data = self._read()
            for i, raw in enumerate(data["proposals"]):
                if raw.get("id") == proposal_id:
                    prop = Proposal.from_dict(raw)
                    fn(prop)
                    data["proposals"][i] = prop.to_dict()
                    atomic_write_json(self.path, data)
                    return

    def history(self) -> builtins.list[dict[str, Any]]:
        return self._read()["history"]
