"""The disk cache of prepared goals: used when valid, ignored (never an error) otherwise."""

from __future__ import annotations

import os
from pathlib import Path

from llmos_tui.learning import prepared_cache
from llmos_tui.learning import text as T


def test_round_trip_and_rejections(tmp_path: Path) -> None:
    goals = ["Create a Python calculator", "Create a file named hello.txt"]
    assert prepared_cache.save(tmp_path, goals) == 2
    path = tmp_path / prepared_cache.NAME
    assert (path.stat().st_mode & 0o777) == 0o600
    T._SEEDED.clear()
    assert prepared_cache.load(tmp_path) == 2
    assert T.prepare(goals[1]) is T._SEEDED[goals[1]] and T.prepare(goals[1]).slots == {
        "file": "hello.txt"
    }
    assert not prepared_cache.missing(goals) and prepared_cache.missing(goals + ["Delete it"])

    T._SEEDED.clear()
    os.chmod(path, 0o666)  # writable by others: not trusted
    assert prepared_cache.load(tmp_path) == 0
    os.chmod(path, 0o600)
    path.write_bytes(b"not a pickle")
    assert prepared_cache.load(tmp_path) == 0
    assert T.prepare(goals[0]).words  # preparing still works without the cache
    T._SEEDED.clear()
