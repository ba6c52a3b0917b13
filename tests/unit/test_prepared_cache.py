"""The disk cache of the matcher's goal terms: used when valid, ignored (never an error)
otherwise, and stamped with the preprocessing code."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

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
    prepared = T.prepare(goals[1])
    pairs = list(dict.fromkeys(zip(prepared.words, (t.kind for t in prepared.tokens))))
    assert loaded[1] == prepared.key and list(zip(loaded[2][::2], loaded[2][1::2])) == pairs
    # "file" is a generic word and the hello.txt slot's placeholder: both kinds are kept
    assert ("file", "generic") in pairs and ("file", "slot") in pairs
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
    """The stamp covers every module the terms depend on: text, slots and the shared
    vocabulary (edgekit.words); a cache written by other code is not loaded."""
    goals = ["Create a Python calculator"]
    prepared_cache.save(tmp_path, goals)
    assert prepared_cache.load(tmp_path) == 1
    real_stat = os.stat
    for name in ("llmos_tui.learning.text", "llmos_tui.learning.slots", "edgekit.words"):
        T._SEEDED_TERMS.clear()
        module_file = str(__import__(name, fromlist=["_"]).__file__)

        def fake_stat(path, *args, _file=module_file, **kwargs):  # type: ignore[no-untyped-def]
            st = real_stat(path, *args, **kwargs)
            if str(path) == _file:  # the module was edited: same size, a newer mtime
                return SimpleNamespace(st_size=st.st_size, st_mtime_ns=st.st_mtime_ns + 1)
            return st

        monkeypatch.setattr(prepared_cache.os, "stat", fake_stat)
        assert prepared_cache.load(tmp_path) == 0, name
        monkeypatch.setattr(prepared_cache.os, "stat", real_stat)
    assert prepared_cache.load(tmp_path) == 1


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
