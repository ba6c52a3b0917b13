"""Memory injection: the block of L3 + L4 memory added to a LEARNER/MIXED prompt (UserPromptSubmit).

``memory_context(goal, ...)`` returns a short markdown block, or ``""`` when nothing is relevant:

* **facts** (L4): facts about the user and standing rules (``name``, ``profile``, ``rule``,
  ``preference``) are eligible for every goal; conventions and notes only when they share words
  with the goal. A fact's rank is its lexical relevance plus a prior for its kind.
* **similar successful traces** (L3): traces whose run succeeded (success rate >= 0.5), ranked by
  BM25 over their goals, needing at least ``MIN_TRACE_RELEVANCE`` of the goal's weighted words;
  each with a compact call summary (``Write calc.py; Bash `python3 calc.py```).
* **insights** (L4): volume insights sharing enough words with the goal.

The block is capped at ``max_tokens`` estimated as ``ceil(characters / 4)`` (about four characters
per token for English prose and code); whole items are kept or dropped, facts first. Before
reading facts, session logs that changed since the last extraction are read (incremental and
cheap), so a fact stated in one session reaches the next request without waiting for a cron.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable

from .search import MemoryHit, call_summary, collect, rank

CHARS_PER_TOKEN = 4
DEFAULT_MAX_TOKENS = 600
KIND_PRIOR = {
    "name": 0.6,
    "rule": 0.5,
    "preference": 0.4,
    "profile": 0.35,
    "convention": 0.0,
    "note": 0.0,
}
MIN_FACT_SCORE = 0.3
MIN_TRACE_RELEVANCE = 0.34
MIN_INSIGHT_RELEVANCE = 0.5
HEADER = (
    "[llmos memory] Relevant memory from earlier sessions and runs. Use it when it helps; "
    "the user's current request wins over it."
)


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN) if text else 0


def _fact_lines(goal: str, facts: list[MemoryHit], limit: int) -> list[str]:
    ranked = {h.id: h for h in rank(goal, list(facts), limit=0)} if facts else {}
    scored = []
    for fact in facts:
        hit = ranked.get(fact.id)
        relevance = hit.relevance if hit is not None else 0.0
        score = relevance + KIND_PRIOR.get(str(fact.meta.get("kind")), 0.0)
        if score >= MIN_FACT_SCORE:
            scored.append((score, str(fact.meta.get("updated_at") or ""), fact))
    scored.sort(key=lambda s: (s[0], s[1]), reverse=True)  # most relevant, then most recent
    return [f"- {f.text}" for _s, _u, f in scored[:limit]]


def _trace_lines(goal: str, store: Any, volumes: list[str], limit: int) -> list[str]:
    docs = [
        h
        for h in collect(None, store=store, kinds=("trace",), volumes=volumes)  # type: ignore[arg-type]
        if h.meta.get("outcome") == "success"
        and float(h.meta.get("success_rate") or 0) >= 0.5
        and not h.meta.get("needs_context")
    ]  # a chat follow-up's calls mean nothing out of its conversation
    out = []
    for hit in rank(goal, docs, limit=limit * 3, min_relevance=MIN_TRACE_RELEVANCE)[:limit]:
        try:
            # "tool calls that worked": not the calls that failed or were rejected on the way
            calls = [c for c in store.get(hit.id).calls if not c.is_error]
        except Exception:  # noqa: BLE001 - a trace that cannot be read is just left out
            continue
        rate = float(hit.meta.get("success_rate") or 0)
        out.append(
            f'- "{hit.title}" ({hit.meta.get("uses", 0)} use(s), {rate:.0%} success): {call_summary(calls)}'
        )
    return out


def _insight_lines(goal: str, workspace: Any, volumes: list[str], limit: int) -> list[str]:
    docs = collect(workspace, kinds=("insight",), volumes=volumes)
    out = []
    for hit in rank(goal, docs, limit=limit, min_relevance=MIN_INSIGHT_RELEVANCE):
        first = " ".join(hit.text.split())
        out.append(f"- {hit.title}: {first[:200]}")
    return out


def memory_context(
    goal: str,
    *,
    workspace: Any,
    store: Any,
    user: str,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    volumes: Iterable[str] | None = None,
    project: str | None = None,
    max_facts: int = 8,
    max_traces: int = 3,
    max_insights: int = 2,
    extract: bool = True,
    on_warning: Callable[[str], None] | None = None,
) -> str:
    """The memory block for ``goal`` (``""`` when nothing is relevant or nothing fits ``max_tokens``)."""
    if max_tokens <= 0 or not isinstance(goal, str) or not goal.strip():
        return ""
    warn = on_warning or (lambda _m: None)
    if extract:
        from .facts import extract_from_sessions

        try:
            extract_from_sessions(workspace, on_warning=warn)
        except Exception as exc:  # noqa: BLE001 - memory must never stop a run
            warn(f"fact extraction skipped: {type(exc).__name__}: {exc}")
    vols = list(volumes) if volumes is not None else [f"users/{user}", "system"]
    sections: list[tuple[str, list[str]]] = [
        (
            "Facts and preferences:",
            _fact_lines(
                goal,
                collect(workspace, kinds=("fact",), project=project, on_warning=warn),
                max_facts,
            ),
        ),
        (
            "Similar goals solved before (tool calls that worked):",
            _trace_lines(goal, store, vols, max_traces),
        ),
        ("Insights:", _insight_lines(goal, workspace, vols, max_insights)),
    ]
    budget = max_tokens * CHARS_PER_TOKEN
    out = [HEADER]
    used = len(HEADER) + 1
    any_item = False
    for title, lines in sections:
        if not lines or used + len(title) + 1 + len(lines[0]) + 1 > budget:
            continue  # nothing of this section fits
        out.append(title)
        used += len(title) + 1
        for line in lines:
            if used + len(line) + 1 > budget:
                break
            out.append(line)
            used += len(line) + 1
            any_item = True
    return "\n".join(out) if any_item else ""


def memory_prompt_hook(
    *,
    workspace: Any,
    store: Any,
    user: str,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    volumes: Iterable[str] | None = None,
    project: str | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> Callable[[str], str | None]:
    """A UserPromptSubmit hook for ``HookRegistry.add_prompt``: the prompt in, the memory block out."""
    vols = list(volumes) if volumes is not None else None

    def hook(prompt: str) -> str | None:
        text = memory_context(
            prompt,
            workspace=workspace,
            store=store,
            user=user,
            max_tokens=max_tokens,
            volumes=vols,
            project=project,
            on_warning=on_warning,
        )
        return text or None

    return hook
