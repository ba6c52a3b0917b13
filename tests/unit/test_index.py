"""The trace index and store: a TinyDB-backed cache of the markdown files that repairs itself
and loses nothing when several processes write at once."""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from pathlib import Path

import pytest

from llmos_tui.learning import index as index_mod
from llmos_tui.learning.index import IndexEntry, TraceIndex
from llmos_tui.learning.store import TraceStore
from llmos_tui.learning.traces import ToolCall, TraceNotFound, dump_trace, make_trace, parse_trace
from llmos_tui.observability.events import EventLog
from llmos_tui.workspace import Workspace, open_workspace


def new_trace(goal: str, **kw):
    calls = [
        ToolCall(
            "Write",
            {"file_path": "{{cwd}}/out.txt", "content": goal},
            {"is_error": False, "summary": "created", "files_created": ["out.txt"]},
        )
    ]
    return make_trace(goal, calls, **kw)


class Warnings(list):
    def __call__(self, message: str) -> None:
        self.append(message)


@pytest.fixture
def ws(tmp_path: Path):
    return open_workspace(tmp_path / "ws")


def make_store(ws, warnings=None) -> TraceStore:
    return TraceStore(
        ws, TraceIndex(ws, on_warning=warnings if warnings is not None else Warnings())
    )


def fresh_ids(ws, warnings=None) -> set[str]:
    return {
        e.id
        for e in TraceIndex(
            ws, on_warning=warnings if warnings is not None else Warnings()
        ).entries()
    }


# ---- basics -----------------------------------------------------------------------------------


def test_save_get_record_delete(ws):
    warnings = Warnings()
    store = make_store(ws, warnings)
    trace = new_trace(
        "Create a Python calculator",
        cost_usd=0.25,
        tokens={"input": 10, "output": 3},
        slots={"language": "python"},
    )
    path = store.save(trace, volume="users/local")
    assert path == ws.root / f"volumes/users/local/traces/{trace.id}.md"
    assert parse_trace(path.read_text()) == trace
    entry = store.index.get(trace.id)
    assert isinstance(entry, IndexEntry)
    assert (entry.goal, entry.volume, entry.path) == (
        "Create a Python calculator",
        "users/local",
        f"volumes/users/local/traces/{trace.id}.md",
    )
    assert (entry.cost_usd, entry.tokens_input, entry.tokens_output, entry.tools_used) == (
        0.25,
        10,
        3,
        ["Write"],
    )
    assert entry.slots == {"language": "python"} and entry.success_rate == 1.0
    assert store.get(trace.id) == trace

    v = store.index.version
    updated = store.record_outcome(trace.id, False, when=1_800_000_000)
    assert (updated.usage_count, updated.success_count, updated.failure_count) == (2, 1, 1)
    assert updated.last_used == "2027-01-15T08:00:00Z"
    assert store.get(trace.id) == updated
    entry = store.index.get(trace.id)
    assert (entry.usage_count, entry.success_rate, entry.last_used) == (
        2,
        0.5,
        "2027-01-15T08:00:00Z",
    )
    assert store.index.version != v

    assert store.delete(trace.id) == path
    assert not path.exists()
    assert store.index.get(trace.id) is None
    with pytest.raises(TraceNotFound):
        store.get(trace.id)
    with pytest.raises(TraceNotFound):
        store.delete(trace.id)
    assert warnings == []


def test_a_copy_in_another_volume_needs_a_new_id(ws):
    store = make_store(ws)
    trace = new_trace("Build the docs")
    store.save(trace, volume="users/local")
    with pytest.raises(Exception, match="already exists in volumes/users/local"):
        store.save(trace, volume="teams/default")
    with pytest.raises(Exception, match="invalid volume"):
        store.save(new_trace("x y"), volume="../etc")


def test_other_processes_changes_are_seen_incrementally(ws):
    writer, reader = make_store(ws), make_store(ws)
    first = new_trace("Run the tests")
    writer.save(first, volume="users/local")
    assert [e.id for e in reader.index.entries()] == [first.id]
    v = reader.index.version
    assert reader.index.version == v  # nothing changed: same version
    second = new_trace("Lint the code")
    writer.save(second, volume="users/local")
    snap_before = reader.index._snap_sig
    assert {e.id for e in reader.index.entries()} == {first.id, second.id}
    assert reader.index._snap_sig == snap_before  # read only the journal's new line
    assert reader.index.version != v
    writer.delete(first.id)
    assert {e.id for e in reader.index.entries()} == {second.id}
    assert [e.id for e in reader.index.entries(["users/bob"])] == []


def test_compaction_writes_a_tinydb_snapshot(ws, monkeypatch):
    monkeypatch.setattr(index_mod, "COMPACT_MIN", 8)
    store = make_store(ws)
    ids = set()
    for i in range(30):
        t = new_trace(f"task number {i}")
        store.save(t, volume="users/local")
        ids.add(t.id)
    journal = ws.state_dir / "index.journal.jsonl"
    assert len(journal.read_text().splitlines()) <= 9 + 1
    from tinydb import TinyDB

    db = TinyDB(ws.index_file, access_mode="r")
    try:
        docs = db.table("traces").all()
        assert all(doc["fields"] == index_mod.ROW_FIELDS for doc in docs)
        col = index_mod.ROW_FIELDS.index("id")
        in_snapshot = {row[col] for doc in docs for row in doc["rows"]}
        assert db.table("meta").all()[0]["format"] == index_mod.FORMAT
    finally:
        db.close()
    assert len(in_snapshot) >= 20 and in_snapshot <= ids
    assert fresh_ids(ws) == ids


def test_interrupted_compaction_keeps_the_snapshot(ws, monkeypatch):
    store = make_store(ws)
    keep = new_trace("keep me")
    store.save(keep, volume="users/local")
    gone = new_trace("delete me")
    store.save(gone, volume="users/local")
    journal = ws.state_dir / "index.journal.jsonl"
    old_journal = journal.read_text()
    store.delete(gone.id)
    # Crash after the new snapshot was written but before the journal was reset.
    store.index._write_snapshot(store.index._gen + 1)
    journal.write_text(old_journal)
    warnings = Warnings()
    assert fresh_ids(ws, warnings) == {keep.id}
    assert warnings == []


# ---- repair -----------------------------------------------------------------------------------


def _populate(ws, n=3):
    store = make_store(ws)
    traces = [new_trace(f"goal {i}") for i in range(n)]
    for t in traces:
        store.save(t, volume="users/local")
    return store, {t.id for t in traces}


def _events(ws, kind):
    return [e for e in EventLog(ws.events_file).read() if e.type == kind]


def test_missing_index_is_rebuilt_with_a_warning(ws):
    _store, ids = _populate(ws)
    ws.index_file.unlink()
    warnings = Warnings()
    assert fresh_ids(ws, warnings) == ids
    assert len(warnings) == 1 and "rebuilt" in warnings[0] and "missing" in warnings[0]
    assert ws.index_file.exists()
    assert _events(ws, "INDEX_REBUILT")


def test_empty_workspace_builds_its_index_silently(ws):
    warnings = Warnings()
    assert fresh_ids(ws, warnings) == set()
    assert warnings == [] and ws.index_file.exists()


@pytest.mark.parametrize(
    "damage",
    [
        lambda ws: ws.index_file.write_text("{truncated"),
        lambda ws: ws.index_file.write_bytes(b"\x00\xff garbage"),
        lambda ws: ws.index_file.write_text(
            '{"traces": {"1": {"id": 3}}, "meta": {"1": {"format": 1, "generation": 1, "dirs": {}, "skipped": {}}}}'
        ),
        lambda ws: ws.index_file.write_text(
            json.dumps(
                {
                    "traces": {
                        "1": {
                            "fields": index_mod.ROW_FIELDS,
                            "rows": [[1] * len(index_mod.ROW_FIELDS)],
                        }
                    },
                    "meta": {"1": {"format": 1, "generation": 1, "dirs": {}, "skipped": {}}},
                }
            )
        ),
        lambda ws: ws.index_file.write_text(
            json.dumps(
                {
                    "traces": {"1": {"fields": index_mod.ROW_FIELDS, "rows": [[1, 2]]}},
                    "meta": {"1": {"format": 1, "generation": 1, "dirs": {}, "skipped": {}}},
                }
            )
        ),
        lambda ws: ws.index_file.write_text("[1, 2]"),
        lambda ws: (ws.state_dir / "index.journal.jsonl").open("a").write('{"op":"put","e":{"id"'),
        lambda ws: (ws.state_dir / "index.journal.jsonl").open("a").write("not json\n"),
        lambda ws: (ws.state_dir / "index.journal.jsonl").write_text(
            '{"op":"begin","gen":999,"format":1}\n'
        ),
    ],
)
def test_corrupt_index_is_rebuilt_with_a_warning(ws, damage):
    _store, ids = _populate(ws)
    damage(ws)
    warnings = Warnings()
    assert fresh_ids(ws, warnings) == ids
    assert len(warnings) == 1 and "rebuilt" in warnings[0], warnings
    assert fresh_ids(ws) == ids  # and it stays repaired


def test_stale_index_is_brought_in_step(ws):
    store, ids = _populate(ws)
    reader = TraceIndex(ws, on_warning=(warnings := Warnings()))
    assert {e.id for e in reader.entries()} == ids
    # A file copied in by hand (or by git pull), one deleted by hand, a new user volume.
    extra = new_trace("added by hand")
    (ws.root / f"volumes/users/local/traces/{extra.id}.md").write_text(dump_trace(extra))
    removed = sorted(ids)[0]
    (ws.root / f"volumes/users/local/traces/{removed}.md").unlink()
    (ws.root / "volumes/users/carol/traces").mkdir(parents=True)
    carol = new_trace("carol's goal")
    (ws.root / f"volumes/users/carol/traces/{carol.id}.md").write_text(dump_trace(carol))
    expected = (ids - {removed}) | {extra.id, carol.id}
    assert {e.id for e in reader.entries()} == expected
    assert any("out of date" in w for w in warnings)
    assert reader.get(carol.id).volume == "users/carol"
    assert _events(ws, "INDEX_RESYNCED")
    # The repair was saved: a new process sees the same without a warning.
    later = Warnings()
    assert fresh_ids(ws, later) == expected and later == []
    # A volume that vanished takes its entries with it.
    import shutil

    shutil.rmtree(ws.root / "volumes/users/carol")
    assert {e.id for e in reader.entries()} == expected - {carol.id}


def test_edit_in_place_is_picked_up_by_get_and_resync(ws):
    store, ids = _populate(ws, 1)
    (tid,) = ids
    path = store.path_of(tid)
    trace = parse_trace(path.read_text())
    trace.goal = "goal edited by hand"
    folder_mtime = os.stat(path.parent).st_mtime_ns
    with open(path, "w") as handle:  # in place: the folder's mtime does not change
        handle.write(dump_trace(trace))
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 5_000_000))
    assert os.stat(path.parent).st_mtime_ns == folder_mtime
    other = TraceIndex(ws, on_warning=Warnings())
    assert other.get(tid).goal == "goal 0"  # cheap check cannot see it...
    assert store.get(tid).goal == "goal edited by hand"  # ...reading the file repairs the entry
    assert other.get(tid).goal == "goal edited by hand"
    trace.goal = "edited again"
    path.write_text(dump_trace(trace))
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10_000_000))
    assert other.resync() == {"added": 0, "updated": 1, "removed": 0, "skipped": 0}
    assert other.get(tid).goal == "edited again"


def test_malformed_files_are_skipped_and_reported_once(ws):
    store, ids = _populate(ws)
    folder = ws.root / "volumes/users/local/traces"
    (folder / "broken.md").write_text("---\ngoal: [oops\n---\n")
    (folder / "incomplete.md").write_text("---\nid: t_aaaaaaaaaaaa\ngoal: half a trace\n---\n")
    (folder / "binary.md").write_bytes(b"\xff\xfe\x00")
    warnings = Warnings()
    reader = TraceIndex(ws, on_warning=warnings)
    assert {e.id for e in reader.entries()} == ids
    skipped = reader.skipped()
    assert set(skipped) == {
        f"volumes/users/local/traces/{n}" for n in ("broken.md", "incomplete.md", "binary.md")
    }
    assert "missing required field(s)" in skipped["volumes/users/local/traces/incomplete.md"]
    assert len([w for w in warnings if w.startswith("skipped trace file")]) == 3
    events = _events(ws, "TRACE_SKIPPED")
    assert {e.data["path"] for e in events} == set(skipped)
    assert all(e.data["reason"] for e in events)
    # Reported once: another change in the folder does not report them again.
    store.save(new_trace("one more"), volume="users/local")
    reader.entries()
    assert len([w for w in warnings if w.startswith("skipped trace file")]) == 3
    # Fixing the file brings it in.
    fixed = new_trace("fixed now")
    (folder / "incomplete.md").write_text(dump_trace(fixed))
    assert reader.get(fixed.id) is not None
    assert "volumes/users/local/traces/incomplete.md" not in reader.skipped()
    counts = reader.rebuild()
    assert counts["traces"] == len(ids) + 2 and counts["skipped"] == 2


def test_a_file_name_that_is_not_utf8_is_skipped_not_fatal(ws):
    """Such a name cannot be stored in the index or the event log: it is reported (escaped)
    and skipped, by a rebuild and by a resync, once, and the rest is indexed."""
    store, ids = _populate(ws)
    folder = os.fsencode(ws.root / "volumes/users/local/traces")
    bad = os.path.join(folder, b"bad\xff.md")
    with open(bad, "wb") as handle:
        handle.write(dump_trace(new_trace("a trace under a bad name")).encode())
    warnings = Warnings()
    reader = TraceIndex(ws, on_warning=warnings)
    counts = reader.rebuild()
    assert counts["traces"] == len(ids) and counts["skipped"] == 1
    shown = "volumes/users/local/traces/bad\\xff.md"
    assert reader.skipped() == {shown: index_mod.BAD_NAME}
    assert [e.data["path"] for e in _events(ws, "TRACE_SKIPPED")] == [shown]
    # A fresh process reads the saved snapshot; the folder changes: a resync, no new report.
    store.save(new_trace("one more"), volume="users/local")
    again = Warnings()
    other = TraceIndex(ws, on_warning=again)
    assert len(other.entries()) == len(ids) + 1
    assert other.skipped() == {shown: index_mod.BAD_NAME}
    assert not [w for w in again if w.startswith("skipped trace file")]
    # Renamed to a UTF-8 name, it is indexed and no longer listed as skipped.
    os.rename(bad, os.path.join(folder, b"good.md"))
    assert len(other.entries()) == len(ids) + 2
    assert other.skipped() == {}
    # A new bad name appearing later is found by a resync and reported once.
    os.rename(os.path.join(folder, b"good.md"), os.path.join(folder, b"\xfe.md"))
    assert len(other.entries()) == len(ids) + 1
    assert list(other.skipped()) == ["volumes/users/local/traces/\\xfe.md"]
    assert len([w for w in again if w.startswith("skipped trace file")]) == 1


def test_duplicate_ids_keep_the_users_copy(ws):
    store, ids = _populate(ws, 1)
    (tid,) = ids
    copy = ws.root / "volumes/teams/default/traces" / f"{tid}.md"
    copy.write_text(store.path_of(tid).read_text())
    warnings = Warnings()
    reader = TraceIndex(ws, on_warning=warnings)
    assert reader.get(tid).volume == "users/local"
    assert any("duplicate trace id" in w for w in warnings)
    reader.rebuild()
    assert reader.get(tid).volume == "users/local"
    assert "duplicate trace id" in reader.skipped()[f"volumes/teams/default/traces/{tid}.md"]


def test_rebuild_counts(ws):
    store, ids = _populate(ws, 5)
    counts = store.index.rebuild()
    assert counts["traces"] == 5 and counts["skipped"] == 0 and counts["volumes"] == 3
    assert fresh_ids(ws) == ids


def test_iter_traces(ws):
    store, ids = _populate(ws, 3)
    bob = new_trace("bob's")
    store.save(bob, volume="users/bob")
    assert {t.id for t in store.iter_traces()} == ids | {bob.id}
    assert [t.id for t in store.iter_traces(["users/bob"])] == [bob.id]


# ---- a rebuild over many files: shares read by worker processes --------------------------------


def _varied_workspace(ws) -> None:
    """Good traces in three volumes, a duplicate id, and files a rebuild skips for each reason."""
    for i in range(40):
        trace = new_trace(
            f"goal number {i}",
            slots={"n": str(i), "tricky": "café ☕ \u2028 yes"} if i % 3 else {},
        )
        volume = ("users/local", "teams/default", "system")[i % 3]
        folder = ws.root / "volumes" / volume / "traces"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{trace.id}.md").write_text(dump_trace(trace))
        if i == 7:  # the same id again in a later volume: skipped as a duplicate
            (ws.root / "volumes/system/traces" / f"{trace.id}.md").write_text(dump_trace(trace))
    folder = ws.root / "volumes/users/local/traces"
    (folder / "broken.md").write_text("---\ngoal: [oops\n---\n")
    (folder / "incomplete.md").write_text("---\nid: t_aaaaaaaaaaaa\ngoal: half a trace\n---\n")
    (folder / "binary.md").write_bytes(b"\xff\xfe\x00")
    text = dump_trace(new_trace("bad call"))
    (folder / "badcall.md").write_text(text.replace('"is_error": false', '"is_error": "no"'))


def _rebuilt(ws) -> tuple[list[dict], dict[str, str], list[str], bytes]:
    for name in ("index.json", index_mod.JOURNAL_NAME):
        (Path(ws.index_file).parent / name).unlink(missing_ok=True)
    warnings = Warnings()
    index = TraceIndex(ws, on_warning=warnings)
    index.rebuild()
    snapshot = json.loads(Path(ws.index_file).read_text())
    for doc in snapshot["meta"].values():
        doc.pop("written_at")
    return (
        [e.to_dict() for e in index.entries()],
        index.skipped(),
        warnings,
        json.dumps(snapshot).encode(),
    )


@pytest.mark.slow
def test_a_rebuild_with_worker_processes_gives_the_same_index(ws, monkeypatch):
    _varied_workspace(ws)
    alone = _rebuilt(ws)
    assert len(alone[0]) == 40 and len(alone[1]) == 5
    started = []
    real_start = index_mod._Worker.start

    def start(root, files):
        worker = real_start(root, files)
        started.append(worker)
        return worker

    monkeypatch.setattr(index_mod, "_worker_count", lambda files: 2)
    monkeypatch.setattr(index_mod._Worker, "start", staticmethod(start))
    assert _rebuilt(ws) == alone
    assert len(started) == 2 and all(w is not None for w in started)
    assert all(w.proc.returncode == 0 for w in started)


@pytest.mark.slow
def test_a_worker_that_fails_has_its_share_read_by_the_rebuild(ws, monkeypatch, caplog):
    _varied_workspace(ws)
    alone = _rebuilt(ws)
    monkeypatch.setattr(index_mod, "_worker_count", lambda files: 1)
    monkeypatch.setattr(index_mod, "WORKER_MODULE", "llmos_tui.no_such_module")
    with caplog.at_level("WARNING", logger="llmos.learning.index"):
        assert _rebuilt(ws) == alone
    assert any("index worker exited with status" in r.getMessage() for r in caplog.records)


def test_the_worker_count_follows_the_files_and_the_cpus(monkeypatch):
    monkeypatch.setattr(index_mod.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    assert index_mod._worker_count(index_mod.PARALLEL_MIN_FILES - 1) == 0
    assert index_mod._worker_count(4000) == 1
    assert index_mod._worker_count(100_000) == 3
    monkeypatch.setattr(index_mod.os, "sched_getaffinity", lambda pid: {0})
    assert index_mod._worker_count(100_000) == 0


# ---- several processes -------------------------------------------------------------------------

# The children use the workspace the parent created (Workspace(root), not open_workspace):
# what is under test is the store and the index, not workspace creation.


def _writer(root: str, worker: int, count: int, barrier, compact_min: int, reports) -> None:
    index_mod.COMPACT_MIN = compact_min
    ws = Workspace(Path(root))
    warnings = Warnings()
    store = TraceStore(ws, TraceIndex(ws, on_warning=warnings))
    barrier.wait(30)
    for i in range(count):
        store.save(new_trace(f"worker {worker} goal {i}"), volume=f"users/u{worker % 2}")
        store.index.entries()  # interleave reads with the writes
    # A repair seen by a writer would mean an update went missing and was patched over.
    reports.put(list(warnings))


def _counter(root: str, trace_id: str, count: int, barrier) -> None:
    ws = Workspace(Path(root))
    store = TraceStore(ws, TraceIndex(ws, on_warning=lambda m: None))
    barrier.wait(30)
    for i in range(count):
        store.record_outcome(trace_id, success=i % 3 != 0)


@pytest.mark.parametrize("processes", [2, 4])
@pytest.mark.slow
def test_concurrent_processes_lose_no_trace(ws, processes):
    ctx = multiprocessing.get_context("fork")
    count = 25
    barrier = ctx.Barrier(processes)
    reports = ctx.Queue()
    procs = [
        ctx.Process(target=_writer, args=(str(ws.root), w, count, barrier, 16, reports))
        for w in range(processes)
    ]
    for p in procs:
        p.start()
    seen = [reports.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert seen == [[]] * processes
    files = list((ws.root / "volumes/users").glob("*/traces/*.md"))
    assert len(files) == processes * count
    goals = {parse_trace(f.read_text()).goal for f in files}
    assert goals == {f"worker {w} goal {i}" for w in range(processes) for i in range(count)}
    warnings = Warnings()
    index = TraceIndex(ws, on_warning=warnings)
    assert {e.id for e in index.entries()} == {f.stem for f in files}
    # Nothing was lost and patched over afterwards: the journal alone was complete.
    assert warnings == []
    assert index.rebuild()["traces"] == processes * count


@pytest.mark.slow
def test_concurrent_record_outcome_loses_no_update(ws):
    store = make_store(ws)
    trace = new_trace("count me")
    store.save(trace, volume="users/local")
    ctx = multiprocessing.get_context("fork")
    processes, count = 4, 15
    barrier = ctx.Barrier(processes)
    procs = [
        ctx.Process(target=_counter, args=(str(ws.root), trace.id, count, barrier))
        for _ in range(processes)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    final = store.get(trace.id)
    fails_each = len([i for i in range(count) if i % 3 == 0])
    assert final.usage_count == 1 + processes * count
    assert final.failure_count == processes * fails_each
    assert final.success_count == 1 + processes * (count - fails_each)
    entry = store.index.get(trace.id)
    assert (entry.usage_count, entry.success_count, entry.failure_count) == (
        final.usage_count,
        final.success_count,
        final.failure_count,
    )


def test_renamed_and_moved_files_keep_their_entry(ws):
    store, ids = _populate(ws, 2)
    a, b = sorted(ids)
    reader = TraceIndex(ws, on_warning=Warnings())
    assert {e.id for e in reader.entries()} == ids
    src = ws.root / f"volumes/users/local/traces/{a}.md"
    src.rename(src.with_name("renamed.md"))
    moved = ws.root / f"volumes/teams/default/traces/{b}.md"
    (ws.root / f"volumes/users/local/traces/{b}.md").rename(moved)
    entries = {e.id: e for e in reader.entries()}
    assert set(entries) == ids
    assert entries[a].path == "volumes/users/local/traces/renamed.md"
    assert (entries[b].volume, entries[b].path) == (
        "teams/default",
        f"volumes/teams/default/traces/{b}.md",
    )
    assert store.get(a).id == a and store.get(b).id == b
    assert fresh_ids(ws) == ids
    # Updates go to the file where the trace lives now.
    assert store.record_outcome(a, True).usage_count == 2
    assert (
        parse_trace((ws.root / "volumes/users/local/traces/renamed.md").read_text()).usage_count
        == 2
    )
    assert not (ws.root / f"volumes/users/local/traces/{a}.md").exists()
    assert store.record_outcome(b, False).failure_count == 1
    assert fresh_ids(ws, warnings := Warnings()) == ids and warnings == []
