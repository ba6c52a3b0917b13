"""The disk snapshot of the built matcher (``learning/matcher_state.py``): a restored matcher is
the one a fresh build makes (same structure, same candidates, same decisions, also after a
refresh), and a missing, stale, foreign or corrupt file is never used: the matcher is built and
the file rewritten."""

from __future__ import annotations

import marshal
import os
import zlib
from pathlib import Path
from typing import Any

import pytest

from llmos_tui.config import LLMOSConfig
from llmos_tui.errors import UsageError
from llmos_tui.learning import matcher as M
from llmos_tui.learning import matcher_state
from llmos_tui.learning import text as T
from llmos_tui.learning.matcher import Matcher, MatchParams
from llmos_tui.learning.modes import select_mode
from llmos_tui.learning.slots import extract_slots
from tests.support.devsets import dev_sample


@pytest.fixture(autouse=True)
def _no_seeded_terms():
    T._SEEDED_TERMS.clear()
    yield
    T._SEEDED_TERMS.clear()


def _entries(goals: list[str]) -> list[dict[str, Any]]:
    """Entries with what ``add`` reads varied: aliases, failed runs, chat follow-ups, and goals
    that normalize alike (groups of several traces)."""
    out = []
    for i, g in enumerate(goals):
        out.append(
            {
                "id": f"t_{i:06d}",
                "goal": g.upper() if i % 11 == 3 else g,  # same group as the lower-case one
                "slots": extract_slots(g),
                "success_count": 1 + i % 3,
                "failure_count": int(i % 5 == 0),
                "outcome": "failure" if i % 17 == 5 else "success",
                "needs_context": i % 23 == 7,
                "last_call_failed": i % 29 == 11,
                "aliases": [f"{g} please", f"do this: {g}"] if i % 13 == 2 else [],
            }
        )
    for i in range(0, len(goals), 9):  # the same goal recorded twice
        dup = dict(out[i], id=f"d_{i:06d}")
        out.append(dup)
    return out


def _structure(m: Matcher, entries: bool = True) -> Any:
    """Everything ``add`` builds, as plain values (with *entries*, the entries by identity)."""
    groups = [
        (gkey, g.goal, g.key, g.tokens, g.rest, g.members(), id(g.best()) if entries else 0)
        for gkey, g in m._groups.items()
    ]
    return (
        groups,
        list(m._by_id.items()),
        m._df,
        m._postings,
        m._aliases,
        m._alias_keys,
    )


def _decision(text: str, matcher: Matcher, cfg: LLMOSConfig) -> Any:
    try:
        d = select_mode(text, matcher, cfg).to_dict()
    except UsageError:
        return None
    d.pop("latency_ms")
    return d


def _candidates(text: str, matcher: Matcher) -> Any:
    try:
        return [c.to_dict() for c in matcher.candidates(text, 5)]
    except UsageError:
        return None


@pytest.mark.parametrize(
    "name, per_label", [("goals-dev.json", 10), ("clinc150-dev.json", 3), ("nl2bash-dev.json", 1)]
)
def test_a_restored_matcher_decides_exactly_like_a_fresh_one(
    dev_data: Path, tmp_path: Path, name: str, per_label: int
) -> None:
    goals, queries = dev_sample(dev_data / name, per_label)
    entries = _entries(goals)
    cfg = LLMOSConfig()
    fresh = Matcher(entries, config=cfg.learning)
    assert matcher_state.save(tmp_path, fresh, entries)
    restored = matcher_state.restore(tmp_path, entries, config=cfg.learning)
    assert restored is not None and restored[1] == len(entries)
    matcher = restored[0]
    assert len(matcher) == len(fresh) and len(fresh) > 20
    assert _structure(matcher) == _structure(fresh)
    sample = queries[::7]
    for q in sample:
        assert _candidates(q, matcher) == _candidates(q, fresh), q
        assert _decision(q, matcher, cfg) == _decision(q, fresh, cfg), q
    # and after the same refresh (traces removed, one goal changed, an alias added)
    changed = [e for i, e in enumerate(entries) if i % 7]
    changed[0] = dict(changed[0], goal="Delete every log file in the build folder")
    changed[1] = dict(changed[1], aliases=["an approved phrasing of it"])
    fresh.refresh(changed, version=2)
    matcher.refresh(changed, version=2)
    assert _structure(matcher) == _structure(fresh)
    for q in sample[::2] + ["an approved phrasing of it"]:
        assert _decision(q, matcher, cfg) == _decision(q, fresh, cfg), q


def test_the_groups_hold_the_current_entries_and_later_traces_are_added(tmp_path: Path) -> None:
    goals = [
        "Create the greeting file hello.txt",
        "Delete the file notes.txt",
        "Run the tests",
        "Show the disk usage of the home folder",
    ]
    entries = _entries(goals)
    matcher_state.save(tmp_path, Matcher(entries[:3]), entries[:3])
    # the counts changed since (not part of the state), and a trace was recorded
    now = [dict(e, success_count=9) for e in entries]
    restored = matcher_state.restore(tmp_path, now)
    assert restored is not None
    matcher, held = restored
    assert held == 3
    assert _structure(matcher) == _structure(Matcher(now))
    assert all(matcher._groups[k].best() is now[int(t[2:])] for t, k in matcher._by_id.items())
    # cold_matcher rewrites the file: the next process restores all of them
    matcher_state.cold_matcher(tmp_path, now)
    again = matcher_state.restore(tmp_path, now)
    assert again is not None and again[1] == len(now)


def _saved(tmp_path: Path) -> tuple[list[dict[str, Any]], Path]:
    goals = ["Create the greeting file hello.txt", "Delete the file notes.txt", "Run the tests"]
    entries = _entries(goals)
    assert matcher_state.save(tmp_path, Matcher(entries), entries)
    path = tmp_path / matcher_state.NAME
    assert (path.stat().st_mode & 0o777) == 0o600
    assert matcher_state.restore(tmp_path, entries) is not None
    return entries, path


@pytest.mark.parametrize(
    "change",
    [
        lambda es: [dict(es[0], goal="Create the greeting file bye.txt"), *es[1:]],  # a goal
        lambda es: es[1:],  # a trace removed
        lambda es: [es[1], es[0], *es[2:]],  # another order
        lambda es: [dict(es[0], outcome="failure"), *es[1:]],  # no longer replayable
        lambda es: [dict(es[0], needs_context=True), *es[1:]],
        lambda es: [dict(es[0], last_call_failed=True), *es[1:]],
        lambda es: [dict(es[0], aliases=["say hello"]), *es[1:]],  # an alias added
        lambda es: [dict(es[0], id="other"), *es[1:]],
        lambda es: [*es[:2], es[2]] + es[:1],  # a trace id twice
    ],
)
def test_a_state_built_from_other_entries_is_not_used(tmp_path: Path, change: Any) -> None:
    entries, _path = _saved(tmp_path)
    other = change(entries)
    assert matcher_state.restore(tmp_path, other) is None
    # built instead, and like a fresh build
    built = matcher_state.cold_matcher(tmp_path, other)
    assert _structure(built) == _structure(Matcher(other))


def test_a_foreign_or_corrupt_file_is_ignored_and_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entries, path = _saved(tmp_path)
    good = path.read_bytes()
    header, payload = good.split(b"\n", 1)

    os.chmod(path, 0o666)  # writable by others: not ours to trust
    assert matcher_state.restore(tmp_path, entries) is None
    os.chmod(path, 0o600)
    assert matcher_state.restore(tmp_path, entries) is not None

    def with_crc(body: bytes) -> bytes:  # a well-formed header for another payload
        return b" ".join([*header.split(b" ")[:-1], str(zlib.crc32(body)).encode()]) + b"\n" + body

    state = marshal.loads(payload)
    row = ("k", "g", "k", (0,), None, "t_000000")
    bad_files = [
        b"",
        b"not a state",
        good[: len(good) // 2],  # torn
        header + b"\n" + payload[:-5],
        header + b"\n" + payload[:-1] + bytes([payload[-1] ^ 1]),  # damaged, same length
        header.replace(b"llmos-matcher-state", b"something-else") + b"\n" + payload,
        with_crc(marshal.dumps(("not", "a", "state"))),
        with_crc(marshal.dumps((state[0], [row[:5] + (3,)], *state[2:]))),  # no trace id
        with_crc(marshal.dumps((state[0], [row[:5] + ("unknown",)], *state[2:]))),
        with_crc(marshal.dumps((state[0], [row[:3] + ((len(state[0]),),) + row[4:]], *state[2:]))),
        with_crc(marshal.dumps(([("x",)], *state[1:]))),  # a token row of another shape
        with_crc(marshal.dumps(([("a", "word", "0", False, False, "a")], *state[1:]))),
        with_crc(marshal.dumps((*state[:2], {"t_000000": "no such group"}, *state[3:]))),
    ]
    assert matcher_state.restore(tmp_path, entries) is not None  # with_crc itself is sound
    path.write_bytes(with_crc(payload))
    assert matcher_state.restore(tmp_path, entries) is not None
    for data in bad_files:
        path.write_bytes(data)
        assert matcher_state.restore(tmp_path, entries) is None, data[:60]
        built = matcher_state.cold_matcher(tmp_path, entries)  # built and the file rewritten
        assert _structure(built) == _structure(Matcher(entries))
        again = matcher_state.restore(tmp_path, entries)
        assert again is not None and _structure(again[0]) == _structure(built)

    # other parameters, or other matcher code: not used
    assert matcher_state.restore(tmp_path, entries, params=MatchParams(w_tech=1.3)) is None
    source = Path(str(M.__file__)).read_bytes()
    copy = tmp_path / "matcher.py"
    copy.write_bytes(source)
    monkeypatch.setattr(matcher_state, "_STAMPS", {})
    monkeypatch.setattr(M, "__file__", str(copy))
    assert matcher_state.restore(tmp_path, entries) is not None  # the same code elsewhere
    copy.write_bytes(source + b"\n# edited\n")
    monkeypatch.setattr(matcher_state, "_STAMPS", {})
    assert matcher_state.restore(tmp_path, entries) is None


def test_cold_matcher_restores_without_adding_a_trace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entries, path = _saved(tmp_path)
    path.unlink()
    added: list[str] = []
    real = Matcher.add

    def counted(self: Matcher, entry: Any) -> None:
        added.append(entry["id"])
        real(self, entry)

    monkeypatch.setattr(Matcher, "add", counted)
    first = matcher_state.cold_matcher(tmp_path, entries)
    assert len(added) == len(entries) and path.exists()
    added.clear()
    second = matcher_state.cold_matcher(tmp_path, entries)
    assert added == [] and _structure(second) == _structure(first)
    # an entry marshal cannot write: no state, built as before
    odd = [{"id": "x", "goal": "Run the linter", "aliases": [object()]}, *entries]
    assert not matcher_state.save(tmp_path, Matcher(odd), odd)
    added.clear()
    assert _structure(matcher_state.cold_matcher(tmp_path, odd)) == _structure(Matcher(odd))
    assert len(added) == 2 * len(odd)  # the cold matcher and the reference


def test_the_kernel_restores_its_first_matcher(tmp_path: Path) -> None:
    from llmos_tui.kernel import LLMOS
    from llmos_tui.learning.traces import ToolCall, make_trace

    def trace(goal: str):
        call = ToolCall("Bash", {"command": "true"}, {"is_error": False, "summary": ""})
        return make_trace(goal, [call], slots=extract_slots(goal))

    kernel = LLMOS.boot(tmp_path / "ws")
    for goal in ("List the files in the current folder", "Show the disk usage"):
        kernel.store.save(trace(goal), volume="users/local")
    kernel.matcher()
    state = kernel.workspace.state_dir / matcher_state.NAME
    assert state.exists()
    first = state.read_bytes()
    again = LLMOS.boot(tmp_path / "ws")
    assert _structure(again.matcher(), False) == _structure(kernel.matcher(), False)
    assert state.read_bytes() == first  # restored: nothing to rewrite
    again.store.save(trace("Print the current date"), volume="users/local")
    third = LLMOS.boot(tmp_path / "ws")
    decision = third.decide("Print the current date")
    assert decision.mode == "FOLLOWER" and decision.matched_goal == "Print the current date"
    assert state.read_bytes() != first  # the new trace was added and the file rewritten
