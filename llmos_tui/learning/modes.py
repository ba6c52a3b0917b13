"""Mode selection (AUTO): the cheapest mode that is safe for a goal.

Order of preference (cheapest first; ARCHITECTURE.md, "A goal, from text to trace"), each subject to its ``execution.enable_*`` toggle:

1. **CRYSTALLIZED**: the matched trace has a crystallized tool and FOLLOWER-level confidence
   (confidence >= ``learning.follower_threshold`` and every gate passed).
2. **FOLLOWER**: confidence >= ``learning.follower_threshold`` and every gate passed.
3. **MIXED**: confidence >= ``learning.mixed_threshold`` (the LLM sees the trace as an example
   and may confirm, adapt or reject it).
4. **ORCHESTRATOR**: a genuinely multi-step goal (:func:`is_multi_step`).
5. **LEARNER**: everything else.
"""

from __future__ import annotations

import re
import time
from functools import lru_cache
from typing import Callable

from ..config import LLMOSConfig
from ..errors import UsageError
from ..runs import Mode
from .matcher import MatchDecision, Matcher
from .text import PreparedGoal, prepare, require_goal

#: The modes AUTO chooses from (and ``--mode`` may force).
MODES = (Mode.CRYSTALLIZED, Mode.FOLLOWER, Mode.MIXED, Mode.LEARNER, Mode.ORCHESTRATOR)
#: Each mode's ``execution.enable_*`` toggle (LEARNER has none: it is always available).
_TOGGLES = {
    Mode.CRYSTALLIZED: "enable_crystallized",
    Mode.FOLLOWER: "enable_follower",
    Mode.MIXED: "enable_mixed",
    Mode.ORCHESTRATOR: "enable_orchestrator",
}

# Explicit sequencing: "then", "after that", "afterwards", "finally", "once done", "next,".
_SEQUENCE = (
    r"\b(?:and\s+then|then|after\s+that|afterwards|afterward|finally|subsequently|once\s+(?:that\s+is\s+|it\s+is\s+)?done|"
    r"when\s+(?:that\s+is\s+|it\s+is\s+)?(?:done|finished)|next\s*,|followed\s+by)\b",
    re.IGNORECASE,
)
# Numbered or bulleted steps: "1. ... 2. ...", "1) ... 2) ...", "step 1 ... step 2", "- a\n- b".
_NUMBERED = (r"(?:^|\s|\n)(?:\d{1,2}[.)]|step\s+\d+\s*[:.)-]?|[-*•]\s)", re.IGNORECASE)
_ORDINALS = (
    r"\bfirst(?:ly)?\b.*\b(?:then|second(?:ly)?|next|finally|after)\b",
    re.IGNORECASE | re.DOTALL,
)


@lru_cache(maxsize=None)
def _explicit_steps() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """The three patterns above, compiled when a goal is first split into steps (not on import)."""
    return re.compile(*_SEQUENCE), re.compile(*_NUMBERED), re.compile(*_ORDINALS)


def _action_clauses(prepared: PreparedGoal) -> list[tuple[frozenset[str], bool]]:
    """(verb classes, has object) of every clause that has an action verb of its own."""
    out = []
    for clause in prepared.clauses():
        verbs = frozenset(t.text for t in clause if t.kind == "verb" and t.main and not t.negated)
        if not verbs:
            continue
        has_object = any(
            t.kind in {"word", "tech", "slot", "slotword", "generic"}
            or (t.kind == "verb" and not t.main)
            for t in clause
        )
        out.append((verbs, has_object))
    return out


def is_multi_step(goal: str) -> bool:
    """True for a goal that asks for two or more actions in sequence.

    Not a substring test for "and": it needs at least two clauses, each with an action verb of
    its own (different actions), at least one of them with an object ("Research AI trends and
    write a report" is two steps; "Count the lines of code and comments" is one: the second
    clause has no verb). Numbered steps count when they hold two actions.
    """
    goal = require_goal(goal)
    prepared = prepare(goal)
    clauses = _action_clauses(prepared)
    if len(clauses) < 2:
        return False
    if not any(has_object for _verbs, has_object in clauses):
        return False
    classes = [verbs for verbs, _ in clauses]
    distinct = len({frozenset(v) for v in classes}) >= 2
    if distinct:
        return True
    # The same action twice ("copy a to b, then copy c to d") is still two steps when the goal
    # says so explicitly and each clause has its own object.
    sequence, numbered, ordinals = _explicit_steps()
    explicit = bool(
        sequence.search(goal) or len(numbered.findall(goal)) >= 2 or ordinals.search(goal)
    )
    return explicit and sum(1 for _v, obj in clauses if obj) >= 2


def _enabled(config: LLMOSConfig, mode: Mode) -> bool:
    execution = config.execution
    toggles = {
        Mode.CRYSTALLIZED: execution.enable_crystallized,
        Mode.FOLLOWER: execution.enable_follower,
        Mode.MIXED: execution.enable_mixed,
        Mode.ORCHESTRATOR: execution.enable_orchestrator,
    }
    return toggles.get(mode, True)


def select_mode(
    goal: str,
    matcher: Matcher,
    config: LLMOSConfig,
    *,
    crystallized: Callable[[str], str | None] | None = None,
    forced_mode: str = "auto",
) -> MatchDecision:
    """Decide how to run *goal*; the returned decision carries the mode and why.

    ``crystallized(trace_id)`` may return the name of a crystallized tool that is really
    available for that trace (default: the trace's ``crystallized_tool`` field).
    ``forced_mode`` ("auto" or a mode name) overrides AUTO; forcing a disabled mode or a
    mode that needs a trace when there is none is a :class:`UsageError`.
    A goal of only whitespace or punctuation is a :class:`UsageError`.
    """
    start = time.perf_counter()
    goal = require_goal(goal)
    name = (forced_mode or "auto").strip().upper()
    if name != "AUTO" and name not in MODES:
        raise UsageError(
            f"unknown mode {forced_mode!r} (choose auto or one of {', '.join(m.lower() for m in MODES)})"
        )
    forced = None if name == "AUTO" else Mode(name)
    learning = config.learning
    decision = matcher.decide(goal)
    decision.multi_step = is_multi_step(goal)
    tool = None
    if decision.trace_id is not None:
        tool = (
            crystallized(decision.trace_id)
            if crystallized is not None
            else decision.crystallized_tool
        )
    decision.crystallized_tool = tool or None
    follower_level = (
        decision.trace_id is not None
        and decision.gates_passed
        and decision.confidence >= learning.follower_threshold
    )
    match = decision.reason

    if forced is not None:
        if not _enabled(config, forced):
            raise UsageError(f"mode {forced} is disabled (execution.{_TOGGLES[forced]} is false)")
        if forced in {Mode.FOLLOWER, Mode.MIXED, Mode.CRYSTALLIZED} and decision.trace_id is None:
            raise UsageError(f"mode {forced} needs a stored trace, and none matches this goal")
        if forced == Mode.CRYSTALLIZED and not decision.crystallized_tool:
            raise UsageError(
                "mode CRYSTALLIZED needs a crystallized tool, and the matched trace has none"
            )
        decision.mode = forced
        decision.reason = f"{forced} forced by the user; {match}"
        decision.latency_ms = (time.perf_counter() - start) * 1000
        return decision

    disabled: list[Mode] = []
    mode: Mode | None = None
    if follower_level and decision.crystallized_tool:
        if _enabled(config, Mode.CRYSTALLIZED):
            mode = Mode.CRYSTALLIZED
            decision.reason = f"crystallized tool {decision.crystallized_tool!r} covers it; {match}"
        else:
            disabled.append(Mode.CRYSTALLIZED)
    if mode is None and follower_level:
        if _enabled(config, Mode.FOLLOWER):
            mode = Mode.FOLLOWER
            decision.reason = (
                f"replay: confidence {decision.confidence:.2f} >= "
                f"{learning.follower_threshold:.2f}; {match}"
            )
        else:
            disabled.append(Mode.FOLLOWER)
    if (
        mode is None
        and decision.trace_id is not None
        and decision.confidence >= learning.mixed_threshold
    ):
        if _enabled(config, Mode.MIXED):
            mode = Mode.MIXED
            decision.reason = (
                f"guided: confidence {decision.confidence:.2f} >= "
                f"{learning.mixed_threshold:.2f} but not a safe replay; {match}"
            )
        else:
            disabled.append(Mode.MIXED)
    if mode is None and decision.multi_step:
        if _enabled(config, Mode.ORCHESTRATOR):
            mode = Mode.ORCHESTRATOR
            decision.reason = f"multi-step goal: several actions in sequence; {match}"
        else:
            disabled.append(Mode.ORCHESTRATOR)
    if mode is None:
        mode = Mode.LEARNER
        decision.reason = f"novel goal; {match}"
    decision.mode = mode
    if disabled:
        decision.reason += f" ({', '.join(disabled)} disabled by config)"
    decision.latency_ms = (time.perf_counter() - start) * 1000
    return decision
