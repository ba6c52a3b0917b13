"""The matcher's candidate pre-filter changes no decision: every dev-set query (and a store of
synthetic goals large enough for the pre-filter to skip most groups) is decided with and
without it, and the decisions must be identical."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from llmos_tui.config import LLMOSConfig
from llmos_tui.errors import UsageError
from llmos_tui.learning.matcher import Matcher
from llmos_tui.learning.modes import select_mode
from llmos_tui.learning.slots import extract_slots
from tests.support.devsets import dev_sample
from llmos_tui.learning.text import prepare


def _matchers(goals: list[str]) -> tuple[Matcher, Matcher, LLMOSConfig]:
    cfg = LLMOSConfig()
    entries = [
        {"id": f"t_{i:07d}", "goal": g, "slots": extract_slots(g), "success_count": 1}
        for i, g in enumerate(goals)
    ]
    fast = Matcher(entries, config=cfg.learning)
    full = Matcher(entries, config=cfg.learning)
    full.prefilter = False
    assert fast.prefilter
    return fast, full, cfg


def _decision(text: str, matcher: Matcher, cfg: LLMOSConfig) -> dict | None:
    try:
        d = select_mode(text, matcher, cfg).to_dict()
    except UsageError:
        return None
    d.pop("latency_ms")
    return d


def _compare(goals: list[str], queries: list[str]) -> int:
    fast, full, cfg = _matchers(goals)
    differ = [q for q in queries if _decision(q, fast, cfg) != _decision(q, full, cfg)]
    assert differ == []
    return len(queries)


@pytest.mark.parametrize(
    "name, per_label",
    [("goals-dev.json", 10), ("clinc150-dev.json", 10), ("nl2bash-dev.json", 1)],
)
def test_dev_set_decisions_are_the_same_with_and_without_the_prefilter(
    dev_data: Path, name: str, per_label: int
) -> None:
    goals, queries = dev_sample(dev_data / name, per_label)
    assert _compare(goals, queries) > 50


def test_a_large_store_gives_the_same_candidates_and_decisions() -> None:
    """Words of every frequency (Zipf-like): some open thousands of groups, some a handful, and
    a group that shares one heavy word only must still be found."""
    rng = random.Random(5)
    vocab = [
        "".join(rng.choice("bcdfghklmnprstvz") + rng.choice("aeiou") for _ in range(3))
        for _ in range(300)
    ]
    freq = [1 / (i + 1) for i in range(len(vocab))]

    def goal() -> str:
        return " ".join(rng.choices(vocab, freq, k=rng.randint(3, 6)))

    goals = [goal() for _ in range(6000)]
    queries = [goal() for _ in range(100)] + rng.sample(goals, 20)
    fast, full, _cfg = _matchers(goals)
    for q in queries:
        prepared = fast.weights(prepare(q))
        assert fast._retrieve(prepare(q), prepared) == full._retrieve(prepare(q), prepared)
        assert [c.trace_id for c in fast.candidates(q, 30)] == [
            c.trace_id for c in full.candidates(q, 30)
        ]
    _compare(goals, queries[:40])


def test_phrase_needles_are_the_literal_runs_of_the_phrases() -> None:
    """text.PHRASE_NEEDLES lets a goal skip the phrase alternation: each entry must be the literal
    runs at the top level of its pattern (every match contains them all)."""
    import re._constants as constants
    import re._parser as parser

    from llmos_tui.learning.text import PHRASE_NEEDLES, PHRASES

    def runs(pattern: str) -> tuple[str, ...]:
        out, cur = [], ""
        for op, arg in parser.parse(pattern):
            if op is constants.LITERAL:
                cur += chr(arg)
                continue
            if cur:
                out.append(cur)
            cur = ""
        return tuple(out + [cur] if cur else out)

    assert PHRASE_NEEDLES == tuple(runs(p) for p, _r in PHRASES)


@pytest.mark.parametrize(
    "body",
    [
        "create the greeting file hello.txt",
        "set up the project and back it up",
        "turn the csv into json",
        "make a to-do list",
        "log into the server",
        "check out the codebase",
        "turning it up",
    ],
)
def test_phrase_prefilter_changes_no_rewrite(body: str) -> None:
    from llmos_tui.learning import text

    full = text._phrases_one().sub(lambda m: text._PHRASE_REPL[m.lastgroup or ""], body)
    assert text._rewrite_phrases(body) == full
