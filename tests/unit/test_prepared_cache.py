"""The disk cache of the matcher's goal terms: used when valid, ignored (never an error)
otherwise, and stamped with the preprocessing code."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from llmos_tui.learning import prepared_cache
from llmos_tui.learning import text as T
from llmos_tui.learning.matcher import Matcher


@pytest.fixture(autouse=True)
def _no_seeded_terms():
    T._SEEDED_TERMS.clear()
    yield
    T._SEEDED_TERMS.clear()


def test_round_trip_and_rejections(tmp_path: Path) -> None:
    goals = ["Create a Python calculator", "Create a file named hello.txt"]
    assert prepared_cache.save(tmp_path, goals) == 2
    path = tmp_path / prepared_cache.NAME
    assert (path.stat().st_mode & 0o777) == 0o600
    assert prepared_cache.load(tmp_path) == 2
    # the matcher's terms come with the cache (a cold build does not prepare the goals), and are
    # what the code computes
    loaded = T._SEEDED_TERMS[goals[1]]
    assert T.goal_terms(goals[1]) is loaded
    T._SEEDED_TERMS.clear()
    assert T.goal_terms(goals[1]) == loaded and loaded[0] == "create a file named hello.txt"
    # what the matcher holds makes the prepared goal back, equal to a fresh one
    assert T.prepared_from_terms(goals[1], loaded[2], loaded[3]) == T.prepare(goals[1])
    assert loaded[1] == T.prepare(goals[1]).key and loaded[3][4:] == ("file", "hello.txt", "file")
    prepared_cache.load(tmp_path)
    assert not prepared_cache.missing(goals) and prepared_cache.missing(goals + ["Delete it"])

    T._SEEDED_TERMS.clear()
    os.chmod(path, 0o666)  # writable by others: not trusted
    assert prepared_cache.load(tmp_path) == 0
    os.chmod(path, 0o600)
    path.write_bytes(b"not a pickle")
    assert prepared_cache.load(tmp_path) == 0
    assert T.goal_terms(goals[0])[1]  # the terms are still computed without the cache


def test_a_change_to_the_preprocessing_code_or_vocabulary_is_noticed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stamp covers the source of every module the terms depend on: text, slots and the
    shared vocabulary (edgekit.words); a cache written by other code is not loaded, while the
    same sources installed elsewhere (another mtime) share it."""
    goals = ["Create a Python calculator"]
    state = tmp_path / "state"
    state.mkdir()
    prepared_cache.save(state, goals)
    assert prepared_cache.load(state) == 1
    for name in ("llmos_tui.learning.text", "llmos_tui.learning.slots", "edgekit.words"):
        module = __import__(name, fromlist=["_"])
        source = Path(str(module.__file__)).read_bytes()
        copy = tmp_path / f"{name}.py"
        copy.write_bytes(source)  # the same code installed elsewhere, with a newer mtime
        os.utime(copy, ns=(1, 10**18))
        T._SEEDED_TERMS.clear()
        monkeypatch.setattr(module, "__file__", str(copy))
        assert prepared_cache.load(state) == 1, name
        copy.write_bytes(source + b"\n# edited\n")  # the module was edited
        T._SEEDED_TERMS.clear()
        assert prepared_cache.load(state) == 0, name
        monkeypatch.undo()
    T._SEEDED_TERMS.clear()
    assert prepared_cache.load(state) == 1


def test_the_matcher_decides_the_same_with_the_cached_terms(tmp_path: Path) -> None:
    goals = ["Create the greeting file hello.txt", "Delete the file notes.txt", "Run the tests"]
    entries = [{"id": f"t{i}", "goal": g, "success_count": 1} for i, g in enumerate(goals)]
    fresh = [Matcher(entries).decide(g).to_dict() for g in ("Create the greeting file hi.txt",)]
    prepared_cache.save(tmp_path, goals)
    assert prepared_cache.load(tmp_path) == 3
    cached = [Matcher(entries).decide(g).to_dict() for g in ("Create the greeting file hi.txt",)]
    for d in fresh + cached:
        d.pop("latency_ms")
    assert cached == fresh and fresh[0]["trace_id"] == "t0"


def test_the_terms_make_every_dev_set_goal_back_exactly(dev_data: Path) -> None:
    """What the matcher holds of a stored goal (its terms) gives back the prepared goal the
    gates read, equal field by field to parsing the text, for every goal of the dev sets."""
    from llmos_tui.bench_match import load_dataset

    goals = {
        text
        for name in ("goals-dev.json", "clinc150-dev.json", "nl2bash-dev.json")
        for part in ("train", "test")
        for text, _label, _action in load_dataset(dev_data / name)[part]
    }
    checked = 0
    for goal in sorted(goals)[::3]:  # a third of them (about 4,000): the test stays quick
        try:
            fresh = T._prepare.__wrapped__(goal)
        except T.UsageError:
            continue
        _gkey, key, tokens, rest = T.goal_terms(goal)
        made = T._made_back(goal, tokens, rest)
        assert made == fresh, goal
        assert (made.key, made.words, made.kinds) == (key, fresh.words, fresh.kinds)
        checked += 1
    assert checked > 1000


def test_prepare_answers_with_a_made_back_goal_and_keeps_a_bounded_number(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(T, "_MADE_BACK", {})
    monkeypatch.setattr(T, "_MADE_BACK_MAX", 2)
    goals = ["Create the file a.txt", "Delete the file b.txt", "Run the tests now"]
    made = [T.prepared_from_terms(g, *T.goal_terms(g)[2:]) for g in goals]
    assert list(T._MADE_BACK) == goals[1:]  # the oldest went
    assert T.prepare(goals[2]) is made[2] and T.prepare(goals[2]) == T._prepare.__wrapped__(
        goals[2]
    )
    assert T.prepare(goals[0]) is not made[0] and T.prepare(goals[0]) == made[0]


def test_the_terms_a_matcher_holds_are_what_the_cache_would_compute(tmp_path: Path) -> None:
    goals = ["Create the greeting file hello.txt", "create the greeting file hello.txt", "Run it"]
    matcher = Matcher([{"id": f"t{i}", "goal": g} for i, g in enumerate(goals)])
    held = matcher.goal_terms()
    assert set(held) == {goals[0], goals[2]}  # one group per normalized goal
    assert all(held[g] == T.goal_terms(g) for g in held)
    prepared_cache.save(tmp_path, goals, known=held)
    prepared_cache.load(tmp_path)
    with_known = dict(T._SEEDED_TERMS)
    T._SEEDED_TERMS.clear()
    prepared_cache.save(tmp_path, goals)
    prepared_cache.load(tmp_path)
    assert with_known == T._SEEDED_TERMS and len(with_known) == 3
