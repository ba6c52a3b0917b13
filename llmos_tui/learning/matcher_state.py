"""A disk snapshot of the built matcher (``state/matcher-state.marshal``) for fast cold starts.

Building the matcher calls ``Matcher.add`` once per trace entry (the goal's terms, its group,
document frequencies, postings, aliases): the largest phase of a cold FOLLOWER hit after the
imports (BENCHMARKS.md, issue 19). What ``add`` builds depends only on a few fields of each
entry, in order (:data:`ENTRY_FIELDS`), and on the code that builds it. So the kernel's first
matcher of a process is restored from this file when

* the file is ours (owned by the current user, not writable by others: ``state/`` is never
  written by tools, never synced), of this :data:`FORMAT`, and stamped with the current code
  (:func:`code_stamp`: the source of the matcher and of the goal preprocessing, and the
  matcher's parameters);
* the entries it was built from are the first of the current ones: the file carries their
  number and a digest of those fields. The groups are linked to the current entries by trace
  id (their counts may have changed: they are not part of the state); entries after them
  (traces recorded since) are added with ``Matcher.add`` as a fresh build would add them,
  and the file is rewritten.

``Matcher(entries)`` is ``add`` of each entry in order, so a restored matcher is the one a
fresh build makes: same groups in the same order, same postings, same decisions
(``tests/unit/test_matcher_state.py``). Anything else (missing, foreign, stale, corrupt, an
entry whose fields cannot be written) and the matcher is built as before and the file
rewritten; never an error.

The file is a header line (with a CRC of the rest: a damaged file is not read) and one
``marshal`` of plain values (str, int, bool, tuple, list,
dict, set, frozenset, None): no pickle, nothing executable is loaded from the workspace.
"""

from __future__ import annotations


import marshal
import sys
import zlib
from operator import attrgetter
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..atomic import atomic_write_bytes
from ..config import LearningConfig
from ..digest import blake2b, sha256
from . import matcher as _matcher
from . import prepared_cache
from .index import gc_paused

FORMAT = 1
NAME = "matcher-state.marshal"
MAGIC = b"llmos-matcher-state"

#: What ``Matcher.add`` reads of an entry (``replayable`` included): the state depends on these
#: (and on their order), not on the counts, dates or paths of the entries.
ENTRY_FIELDS = ("id", "goal", "outcome", "last_call_failed", "needs_context", "aliases")
_fields = attrgetter(*ENTRY_FIELDS)

_STAMPS: dict[str, str] = {}


def code_stamp(params: _matcher.MatchParams | None = None) -> str:
    """Changes whenever the code that builds the matcher state or its parameters change: the
    prepared-goal cache's stamp (preprocessing source), the source of the matcher and of this
    module, and the params."""
    params = params or _matcher.DEFAULT_PARAMS
    key = repr(params)
    stamp = _STAMPS.get(key)
    if stamp is None:
        digest = sha256()
        digest.update(f"{FORMAT}\0{prepared_cache.code_stamp()}\0".encode())
        for module in (_matcher, sys.modules[__name__]):
            with open(str(module.__file__), "rb") as f:
                digest.update(f.read())
            digest.update(b"\0")
        digest.update(b"\0" + key.encode())
        stamp = _STAMPS[key] = digest.hexdigest()[:24]
    return stamp


def records(entries: Sequence[Any]) -> list[tuple[Any, ...]]:
    """:data:`ENTRY_FIELDS` of every entry, in order (a missing field is None)."""
    try:
        return [_fields(e) for e in entries]
    except AttributeError:
        pass
    out = []
    for e in entries:
        if isinstance(e, Mapping):
            out.append(tuple(e.get(name) for name in ENTRY_FIELDS))
        else:
            out.append(tuple(getattr(e, name, None) for name in ENTRY_FIELDS))
    return out


def digest(recs: Sequence[tuple[Any, ...]]) -> str:
    """A digest of entry records. ``marshal`` version 2 writes no references and no interning
    flags: equal values give equal bytes, whatever objects hold them. Raises ``ValueError`` for
    a value marshal cannot write."""
    return blake2b(marshal.dumps(list(recs), 2), digest_size=20).hexdigest()


def _by_id(entries: Sequence[Any], recs: Sequence[tuple[Any, ...]]) -> dict[str, Any] | None:
    """Trace id (as ``Matcher.add`` makes it) -> entry; None when two entries share an id (a
    later one then decides what ``add`` keeps: build instead)."""
    out = {str(r[0] or ""): e for r, e in zip(recs, entries, strict=True)}
    return out if len(out) == len(recs) else None


def restore(
    state_dir: str | Path,
    entries: Sequence[Any],
    *,
    config: LearningConfig | None = None,
    params: _matcher.MatchParams | None = None,
    recs: Sequence[tuple[Any, ...]] | None = None,
) -> tuple[_matcher.Matcher, int] | None:
    """The matcher of *entries* restored from the file, and how many of the entries the file
    held (fewer than ``len(entries)`` when later ones were added); None when the file cannot be
    used for them."""
    path = Path(state_dir) / NAME
    if not prepared_cache.trusted(path):
        return None
    try:
        with open(path, "rb") as handle:
            data = handle.read()
        end = data.index(b"\n")
        magic, fmt, stamp, count, want, crc = data[:end].split(b" ")
        if magic != MAGIC or int(fmt) != FORMAT or stamp.decode() != code_stamp(params):
            return None
        payload = memoryview(data)[end + 1 :]
        if zlib.crc32(payload) != int(crc):  # torn or damaged
            return None
        n = int(count)
        recs = records(entries) if recs is None else recs
        if n > len(recs) or digest(recs[:n]).encode() != want:
            return None
        by_id = _by_id(entries, recs)
        if by_id is None:
            return None
        matcher = _matcher.Matcher(config=config, params=params, state_dir=state_dir)
        with gc_paused():  # thousands of containers at once: no cycles among them
            matcher.restore_state(marshal.loads(payload), by_id)
        for entry in entries[n:]:
            matcher.add(entry)
    except Exception:  # noqa: BLE001 - an unusable file is rebuilt, never an error
        return None
    return matcher, n


def save(
    state_dir: str | Path,
    matcher: _matcher.Matcher,
    entries: Sequence[Any],
    *,
    recs: Sequence[tuple[Any, ...]] | None = None,
) -> bool:
    """Write the state of *matcher*, which must be ``Matcher(entries)`` as built or restored
    (never refreshed since), atomically and private. False when it cannot be written."""
    try:
        recs = records(entries) if recs is None else recs
        if _by_id(entries, recs) is None:
            return False
        payload = marshal.dumps(matcher.export_state(), 4)
        header = b" ".join(
            (
                MAGIC,
                str(FORMAT).encode(),
                code_stamp(matcher.params).encode(),
                str(len(recs)).encode(),
                digest(recs).encode(),
                str(zlib.crc32(payload)).encode(),
            )
        )
    except ValueError:  # a value marshal cannot write (not from the index): no state
        return False
    try:
        atomic_write_bytes(Path(state_dir) / NAME, header + b"\n" + payload, mode=0o600)
    except OSError:
        return False
    return True


def cold_matcher(
    state_dir: str | Path, entries: Sequence[Any], *, config: LearningConfig | None = None
) -> _matcher.Matcher:
    """The first matcher of a process over *entries*: restored from the file when it fits
    them, else built (with the prepared-goal cache) and the file rewritten."""
    recs = records(entries)
    restored = restore(state_dir, entries, config=config, recs=recs)
    if restored is not None:
        matcher, n = restored
        if n != len(entries):  # traces recorded since: the next process restores them too
            save(state_dir, matcher, entries, recs=recs)
        return matcher
    prepared_cache.load(Path(state_dir))
    matcher = _matcher.Matcher(entries, config=config, state_dir=state_dir)
    goals = {_goal(e) for e in entries}
    goals.discard(None)
    if prepared_cache.missing(goals):
        try:  # new goals since the cache was written: refresh it for the next process
            prepared_cache.save(Path(state_dir), goals, known=matcher.goal_terms())
        except OSError:
            pass
    save(state_dir, matcher, entries, recs=recs)
    return matcher


def _goal(entry: Any) -> Any:
    return entry.get("goal") if isinstance(entry, Mapping) else getattr(entry, "goal", None)
