"""MIXED: a reduced LLM session guided by a similar trace (its tools, its calls as worked
examples: ``guide.py``). A trace whose run failed is never an example: the session then runs
unguided."""

from __future__ import annotations

from typing import Any

from ..runs import RunResult
from .context import RunContext


def run_mixed(ctx: RunContext, info: dict[str, Any], confidence: float, trace_id: str) -> RunResult:
    from ..learning.matcher import replayable
    from .learner import run_learner

    store = ctx.kernel.store
    guide = store.get(trace_id)
    if not replayable(store.index.get(trace_id) or guide):
        # a failed run is never a worked example (issue 16): no guide, a plain session
        info["note"] = f"trace {trace_id} failed when it was recorded: not used as an example"
        return run_learner(ctx, decision=info, confidence=confidence, mode="MIXED")
    return run_learner(ctx, decision=info, confidence=confidence, mode="MIXED", guide=guide)
