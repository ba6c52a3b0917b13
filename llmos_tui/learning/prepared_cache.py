"""A disk cache of the matcher's terms of stored goals (``state/prepared-goals.pickle``) for
fast cold starts.

Preparing a goal (normalizing, finding slots, tokenizing) is a pure function of its text and of
the preprocessing code, and so are the terms the matcher keeps of it (``text.goal_terms``: its
group key, rapidfuzz key, tokens and slots). Building the matcher needs the terms
of every stored goal, which dominated a headless run's cold start (BENCHMARKS.md, "Measurements
behind choices in the code"). The kernel loads this cache before it builds the matcher and
rewrites it when new goals appeared. The cache is keyed by the goal's text and stamped with the
preprocessing code (``code_stamp``).

Only our own, private file is read: it lives in ``state/`` (never written by tools, never synced),
must be owned by the current user and not writable by others, and carries a stamp of the
preprocessing code; anything unexpected and the cache is ignored (and rebuilt), never an error.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Iterable, Mapping

from edgekit import words as _words

from ..atomic import atomic_write_bytes
from ..digest import sha256
from . import slots as _slots
from . import text as _text

FORMAT = 4  # 3: prepared goals with the matcher's views; 4: the matcher's goal terms
NAME = "prepared-goals.pickle"


def code_stamp() -> str:
    """Changes whenever the preprocessing code changes: a hash of its modules' source, the
    shared vocabulary and stemmer included. Content, not mtime: two installs of the same
    sources (a venv and a copy, a fresh clone) share one cache instead of rewriting it in turn."""
    digest = sha256()
    for module in (_text, _slots, _words):
        with open(str(module.__file__), "rb") as f:
            digest.update(f.read())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def trusted(path: Path) -> bool:
    """A private cache file we may read: ours, and writable by nobody else."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return st.st_uid == os.getuid() and not (st.st_mode & 0o022)


def _usable(goal: object, terms: object) -> bool:
    return (
        isinstance(goal, str)
        and type(terms) is tuple
        and len(terms) == 4
        and isinstance(terms[0], str)
        and isinstance(terms[1], str)
        and type(terms[2]) is tuple
        and (terms[3] is None or (type(terms[3]) is tuple and len(terms[3]) % 3 == 1))
    )


def load(state_dir: Path) -> int:
    """Install the cached goal terms; returns how many (0 when absent or not usable)."""
    path = Path(state_dir) / NAME
    if not trusted(path):
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
        usable = {g: t for g, t in goals.items() if _usable(g, t)}
    except Exception:  # noqa: BLE001 - a broken cache is rebuilt, never an error
        return 0
    _text.seed_terms(usable)
    return len(usable)


def save(
    state_dir: Path, goals: Iterable[str], known: Mapping[str, _text.GoalTerms] | None = None
) -> int:
    """Write the terms of *goals* (atomically, private); returns how many. *known* gives terms
    already computed (``Matcher.goal_terms()``): those goals are not prepared again."""
    terms = {}
    known = known or {}
    for goal in goals:
        try:
            terms[goal] = known.get(goal) or _text.goal_terms(goal)
        except Exception:  # noqa: BLE001 - an unpreparable goal is simply not cached
            continue
    payload = pickle.dumps(
        {"format": FORMAT, "stamp": code_stamp(), "goals": terms},
        protocol=pickle.HIGHEST_PROTOCOL,
    )
    atomic_write_bytes(Path(state_dir) / NAME, payload, mode=0o600)
    return len(terms)


def missing(goals: Iterable[str]) -> bool:
    """True when some goal is not in the loaded cache (the cache should be rewritten)."""
    return any(not _text.terms_seeded(goal) for goal in goals)
