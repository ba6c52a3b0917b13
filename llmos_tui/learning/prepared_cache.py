"""A disk cache of prepared goals (``state/prepared-goals.pickle``) for fast cold starts.

Preparing a goal (normalizing, finding slots, tokenizing) is a pure function of its text and of
the preprocessing code. Building the matcher prepares every stored goal, which dominates a
headless run's cold start (BENCHMARKS.md, "Measurements behind choices in the code"). The kernel loads this cache before it
builds the matcher and rewrites it when new goals appeared.

Only our own, private file is read: it lives in ``state/`` (never written by tools, never synced),
must be owned by the current user and not writable by others, and carries a stamp of the
preprocessing code; anything unexpected and the cache is ignored (and rebuilt), never an error.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path
from typing import Iterable

from ..atomic import atomic_write_bytes
from . import slots as _slots
from . import text as _text

FORMAT = 3  # 3: with the matcher's views (words, kinds, key) precomputed
NAME = "prepared-goals.pickle"


def code_stamp() -> str:
    """Changes whenever the preprocessing code changes (size and mtime of its modules)."""
    parts = []
    for module in (_text, _slots):
        st = os.stat(str(module.__file__))
        parts.append(f"{module.__name__}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _trusted(path: Path) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    return st.st_uid == os.getuid() and not (st.st_mode & 0o022)


def load(state_dir: Path) -> int:
    """Install the cached prepared goals; returns how many (0 when absent or not usable)."""
    path = Path(state_dir) / NAME
    if not _trusted(path):
        return 0
    try:
        with open(path, "rb") as handle:
            data = pickle.load(handle)
        if (
            not isinstance(data, dict)
            or data.get("format") != FORMAT
            or data.get("stamp") != code_stamp()
        ):
            return 0
        goals = data.get("goals")
        if not isinstance(goals, dict):
            return 0
        usable = {
            g: p
            for g, p in goals.items()
            if isinstance(g, str) and isinstance(p, _text.PreparedGoal)
        }
    except Exception:  # noqa: BLE001 - a broken cache is rebuilt, never an error
        return 0
    _text.seed_prepared(usable)
    return len(usable)


def save(state_dir: Path, goals: Iterable[str]) -> int:
    """Write the prepared form of *goals* (atomically, private); returns how many."""
    prepared = {}
    for goal in goals:
        try:
            p = prepared[goal] = _text.prepare(goal)
            # the views every matcher build reads, computed once here and pickled with the goal
            p.words, p.kinds, p.key  # noqa: B018
        except Exception:  # noqa: BLE001 - an unpreparable goal is simply not cached
            continue
    payload = pickle.dumps(
        {"format": FORMAT, "stamp": code_stamp(), "goals": prepared},
        protocol=pickle.HIGHEST_PROTOCOL,
    )
    atomic_write_bytes(Path(state_dir) / NAME, payload, mode=0o600)
    return len(prepared)


def missing(goals: Iterable[str]) -> bool:
    """True when some goal is not in the loaded cache (the cache should be rewritten)."""
    return any(not _text.is_seeded(goal) for goal in goals)
