"""The optional semantic re-ranker: config key, embedding cache, gates, and the real model.

Tests that need numpy or the packaged model skip cleanly when the ``[semantic]`` extra is not
installed; the ones that check the default install (no extra) run there.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from llmos_tui.config import LLMOSConfig, LearningConfig, load_config
from llmos_tui.errors import UsageError
from llmos_tui.learning.matcher import Matcher
from llmos_tui.learning.modes import select_mode
from llmos_tui.learning.semantic import CACHE_FILE, SemanticUnavailable, semantic_available

HAVE_EXTRA = semantic_available()
needs_extra = pytest.mark.skipif(not HAVE_EXTRA, reason="the [semantic] extra is not installed")
without_extra = pytest.mark.skipif(
    HAVE_EXTRA, reason="checks the default install (no [semantic] extra)"
)


def entries(goals: list[str]) -> list[dict]:
    return [
        {
            "id": f"t_{i:012d}",
            "goal": g,
            "success_count": 1,
            "failure_count": 0,
            "outcome": "success",
        }
        for i, g in enumerate(goals)
    ]


# ---- config --------------------------------------------------------------------------------


def test_config_key_is_off_by_default_and_documented(tmp_path: Path) -> None:
    cfg = LLMOSConfig()
    assert cfg.learning.semantic_reranker is False
    from dataclasses import fields

    meta = {f.name: f.metadata for f in fields(LearningConfig)}
    assert "embeddings" in meta["semantic_reranker"]["help"]
    (tmp_path / "config.yaml").write_text("learning:\n  semantic_reranker: true\n")
    assert load_config(tmp_path).learning.semantic_reranker is True
    env = {"LLMOS_LEARNING__SEMANTIC_RERANKER": "true"}
    assert load_config(None, environ=env).learning.semantic_reranker is True


def test_config_key_rejects_a_non_boolean(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("learning:\n  semantic_reranker: sometimes\n")
    with pytest.raises(UsageError, match="learning.semantic_reranker"):
        load_config(tmp_path)


def test_default_decision_never_loads_the_semantic_module() -> None:
    probe = (
        "import sys, json\n"
        "from llmos_tui.config import LLMOSConfig\n"
        "from llmos_tui.learning.matcher import Matcher\n"
        "from llmos_tui.learning.modes import select_mode\n"
        "m = Matcher([{'id': 't1', 'goal': 'Run the unit tests'}])\n"
        "d = select_mode('run all the unit tests', m, LLMOSConfig())\n"
        "heavy = sorted(k for k in ('torch', 'sentence_transformers', 'numpy', 'transformers',\n"
        "               'llmos_tui.learning.semantic') if k in sys.modules)\n"
        "print(json.dumps([d.mode, d.semantic, heavy]))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    mode, semantic, heavy = json.loads(out.stdout)
    assert mode == "FOLLOWER" and semantic is None and heavy == []


# ---- without the extra -----------------------------------------------------------------------


@without_extra
def test_key_on_without_the_extra_decides_lexically_and_says_why() -> None:
    cfg = LLMOSConfig()
    cfg.learning.semantic_reranker = True
    matcher = Matcher(entries(["Run the unit tests", "Show the git status"]), config=cfg.learning)
    decision = select_mode("where do you come from", matcher, cfg)
    assert decision.mode == "LEARNER"
    assert "semantic re-ranker unavailable" in decision.reason and "[semantic]" in decision.reason
    assert select_mode("run the unit tests", matcher, cfg).mode == "FOLLOWER"


@without_extra
def test_bench_semantic_without_the_extra_is_a_usage_error(dev_data: Path) -> None:
    from llmos_tui.learning.bench_match import run_bench_match

    with pytest.raises(SemanticUnavailable, match="semantic"):
        run_bench_match(dev_data / "goals-dev.json", semantic=True)


# ---- the cache and the gates, with a deterministic encoder (numpy only) ------------------------


class TableEncoder:
    """Unit vectors from a table of concepts: texts in one group share a direction."""

    def __init__(self, groups: list[list[str]], dim: int = 16) -> None:
        self.groups, self.dim, self.calls = groups, dim, 0

    def __call__(self, texts: list[str]):
        import numpy as np

        self.calls += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for g, members in enumerate(self.groups):
                if text in members:
                    out[i, g] = 1.0
                    break
            else:
                out[i, (sum(map(ord, text)) % (self.dim - len(self.groups))) + len(self.groups)] = (
                    1.0
                )
        return out


@pytest.fixture
def np():
    return pytest.importorskip("numpy")


def test_cache_round_trip_and_rebuild(np, tmp_path: Path) -> None:
    from llmos_tui.learning.semantic import SemanticIndex

    enc = TableEncoder([["a b"], ["c d"]])
    path = tmp_path / "state" / CACHE_FILE
    first = SemanticIndex(path, encoder=enc)
    m1 = first.goals(["a b", "c d", "e f"])
    assert m1.shape == (3, 16) and path.exists() and enc.calls == 3
    assert not list(path.parent.glob(".*.tmp"))  # atomic write left no temporary
    # a second process reads the cache: nothing re-encoded, same vectors
    enc2 = TableEncoder([["a b"], ["c d"]])
    second = SemanticIndex(path, encoder=enc2)
    assert np.array_equal(second.goals(["c d", "a b"]), m1[[1, 0]]) and enc2.calls == 0
    # a corrupt cache is a warning and a rebuild, never a crash
    path.write_bytes(b"not an npz file")
    warnings: list[str] = []
    third = SemanticIndex(path, encoder=TableEncoder([["a b"]]), warn=warnings.append)
    assert third.goals(["a b"]).shape == (1, 16)
    assert warnings and "rebuilt" in warnings[0]
    assert len(SemanticIndex(path, encoder=enc2)) == 1  # rewritten, readable again
    # a cache made by another model is not used
    other = SemanticIndex(
        path, encoder=TableEncoder([]), model_name="other-model", warn=warnings.append
    )
    other.goals(["a b"])
    assert "other-model" not in warnings[0] and any("all-MiniLM" in w for w in warnings[1:])


def test_query_embeddings_are_memoised(np) -> None:
    from llmos_tui.learning.semantic import SemanticIndex

    enc = TableEncoder([])
    index = SemanticIndex(None, encoder=enc, query_cache=2)
    index.query("x")
    index.query("x")
    assert enc.calls == 1
    index.query("y")
    index.query("z")  # evicts "x"
    index.query("x")
    assert enc.calls == 4


STORED = [
    "Create a Python calculator",
    "where do you trace your roots",
    "Run the unit tests",
    "Delete the build folder",
]


def sem_matcher(groups: list[list[str]], goals: list[str] = STORED) -> Matcher:
    from llmos_tui.learning.semantic import SemanticIndex

    return Matcher(entries(goals), semantic=SemanticIndex(None, encoder=TableEncoder(groups)))


def test_paraphrase_without_shared_words_replays_only_with_the_reranker(np) -> None:
    cfg = LLMOSConfig()
    goal = "where is your place of origin"
    lexical = select_mode(goal, Matcher(entries(STORED)), cfg)
    assert lexical.mode != "FOLLOWER"
    m = sem_matcher([["where do you trace your roots", goal]])
    d = select_mode(goal, m, cfg)
    assert d.mode == "FOLLOWER" and d.matched_goal == "where do you trace your roots"
    assert d.semantic == pytest.approx(1.0)
    content = next(g for g in d.gates if g.name == "content")
    assert content.passed and "meaning agrees" in content.reason


def test_meaning_never_waives_a_different_question_word(np) -> None:
    cfg = LLMOSConfig()
    stored = ["when should i change the oil in my car"]
    goal = "how do i change the oil in my car"
    d = select_mode(goal, sem_matcher([[stored[0], goal]], stored), cfg)
    assert d.semantic == pytest.approx(1.0)
    assert d.mode != "FOLLOWER" and "content" in {g.name for g in d.gates if not g.passed}


def test_meaning_never_waives_words_added_on_one_side(np) -> None:
    cfg = LLMOSConfig()
    for goal in [
        "Run the unit tests with coverage in the staging sandbox",  # the goal asks for more
        "Run the unit",
    ]:  # ... or for less
        stored = (
            ["Run the unit tests"]
            if goal.startswith("Run the unit tests")
            else ["Run the unit tests fast"]
        )
        d = select_mode(goal, sem_matcher([[stored[0].lower(), goal.lower()]], stored), cfg)
        assert d.semantic == pytest.approx(1.0)
        assert d.mode != "FOLLOWER", d.to_dict()
        assert "content" in {g.name for g in d.gates if not g.passed}


def test_every_other_gate_still_applies(np) -> None:
    cfg = LLMOSConfig()
    # the encoder claims these are the same, the verb / technology / negation gates disagree
    for goal, gate in [
        ("Delete the Python calculator", "verb"),
        ("Create a JavaScript calculator", "technology"),
        ("Do not run the unit tests", "negation"),
    ]:
        stored = {
            "verb": "Create a Python calculator",
            "technology": "Create a Python calculator",
            "negation": "Run the unit tests",
        }[gate]
        d = select_mode(goal, sem_matcher([[stored.lower(), goal.lower()]]), cfg)
        assert d.mode != "FOLLOWER", d.to_dict()
        assert gate in {g.name for g in d.gates if not g.passed}


def test_reranker_only_raises_confidence(np) -> None:
    cfg = LLMOSConfig()
    goals = ["run all the unit tests", "show the git status", "where is your place of origin"]
    plain = Matcher(entries(STORED))
    # an encoder that puts every text in its own direction: all cosines 0
    m = sem_matcher([])
    for goal in goals:
        lex, sem = plain.decide(goal), m.decide(goal)
        assert sem.confidence >= lex.confidence - 1e-9
        assert (select_mode(goal, m, cfg).mode == "FOLLOWER") >= (
            select_mode(goal, plain, cfg).mode == "FOLLOWER"
        )


def test_lexical_follower_skips_the_embedding_of_the_query(np) -> None:
    enc = TableEncoder([])
    from llmos_tui.learning.semantic import SemanticIndex

    m = Matcher(entries(STORED), semantic=SemanticIndex(None, encoder=enc))
    d = m.decide("run the unit tests")
    assert d.confidence >= 0.92 and d.semantic is None and enc.calls == 0


def test_matcher_writes_its_cache_in_state_dir(np, tmp_path: Path) -> None:
    from llmos_tui.learning.semantic import SemanticIndex

    index = SemanticIndex(tmp_path / CACHE_FILE, encoder=TableEncoder([]))
    m = Matcher(entries(STORED), semantic=index)
    assert m.prepare_semantic() == len(STORED)
    assert (tmp_path / CACHE_FILE).exists()
    m.add({"id": "t_new", "goal": "Send the weekly report"})
    m.decide("mail the weekly report to the team")
    assert len(SemanticIndex(tmp_path / CACHE_FILE, encoder=TableEncoder([]))) == len(STORED) + 1


# ---- the real packaged model ---------------------------------------------------------------------


@needs_extra
def test_real_model_embeds_paraphrases_closer_than_other_tasks() -> None:
    from llmos_tui.learning.semantic import SemanticIndex

    index = SemanticIndex(None)
    m = index.goals(
        ["where are you from", "what is your place of origin", "delete the build folder"]
    )
    assert m.shape == (3, 384)
    assert float(m[0] @ m[1]) > float(m[0] @ m[2]) + 0.2


@needs_extra
def test_goals_dev_with_the_reranker_keeps_zero_false_replays(dev_data: Path) -> None:
    from llmos_tui.learning.bench_match import run_bench_match

    plain = run_bench_match(dev_data / "goals-dev.json")
    timings: dict[str, float] = {}
    sem = run_bench_match(dev_data / "goals-dev.json", semantic=True, timings=timings)
    assert sem["false_replays"] == 0 and sem["oos_false_replays"] == 0
    assert sem["coverage"] >= plain["coverage"] >= 0.70
    assert timings["embed_s"] > 0


def test_cache_rows_of_another_width_are_re_embedded(np, tmp_path: Path) -> None:
    from llmos_tui.learning.semantic import SemanticIndex

    path = tmp_path / CACHE_FILE
    SemanticIndex(path, encoder=TableEncoder([], dim=16)).goals(["a b", "c d"])
    warnings: list[str] = []
    narrow = SemanticIndex(path, encoder=TableEncoder([], dim=8), warn=warnings.append)
    assert narrow.goals(["a b", "e f"]).shape == (2, 8)
    assert any("another dimension" in w for w in warnings)
    assert SemanticIndex(path, encoder=TableEncoder([], dim=8)).goals(["a b"]).shape == (1, 8)
