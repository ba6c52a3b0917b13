"""The trace index: what the matcher and the lists need, without opening every markdown file.

The markdown files under ``volumes/**/traces/*.md`` are the source of truth; this index is a
cache that can be rebuilt from them at any time (``rebuild()``, ``llmos traces reindex``).

Storage (all under ``state/``):

``index.json``
    A TinyDB database (custom atomic storage: temp file + fsync + ``os.replace``) holding the
    snapshot: table ``traces`` (documents ``{"fields": [...], "rows": [[...], ...]}``, up to
    5000 entries each: rows load about four times faster than one object per entry) and
    table ``meta`` (format, generation, the traces folders' mtimes, the skipped files).
``index.journal.jsonl``
    An append-only journal of changes made since the snapshot: a header line naming the
    snapshot generation it extends, then one JSON line per change (``put``, ``del``,
    ``dirs``, ``skip``). TinyDB rewrites its whole file on every write; appending one line
    costs almost nothing (BENCHMARKS.md, "Measurements behind choices in the code"). When the journal holds
    more than ``max(COMPACT_MIN, entries / 4)`` lines it is folded into a new snapshot.
``index.json.lock``
    The sidecar lock. Writers hold it exclusively for the whole change (the markdown write
    and the journal line), readers take it shared while reading snapshot + journal, so the
    TUI, a headless run and a cron in three processes never lose or tear an update.

Loading is incremental: a process keeps (inode, size, mtime) of both files and, when only the
journal grew, reads just the new lines; when nothing changed a refresh costs a few ``stat``
calls and no lock (two files, the traces folders). ``IndexEntry`` objects returned by
``entries()`` and ``get()`` are shared: read them, do not modify them.

Staleness is detected cheaply by the traces folders' mtimes (``st_mtime_ns``): every change
made through the index records the folder's mtime after the change, under the lock. A folder
whose mtime differs (a file added, removed or renamed by hand, by ``git pull``, or by a
process that crashed between writing a file and journaling it), a new folder or a vanished
one, is rescanned: files are listed and ``stat``-ed and only new or changed ones are parsed.
A missing index, unreadable JSON, a torn journal line or a format change triggers a full
rebuild. Each automatic repair is reported through ``on_warning`` and an event. An edit
made in place without touching the folder (same mtime) is picked up by ``resync()``, by
``TraceStore.get`` (which compares the file's mtime) or by ``llmos traces reindex``.
"""

from __future__ import annotations

import contextlib
import gc
import json
import operator
import os
import threading
import time
from sys import intern
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from ..atomic import append_bytes, atomic_write_bytes, atomic_write_text, file_lock
from ..errors import WorkspaceError
from ..records import field, fields, record
from ..workspace import Workspace
from .traces import MAX_TRACE_BYTES, Trace, TraceFormatError, parse_trace, shell_slots

if TYPE_CHECKING:  # pragma: no cover
    from ..observability.events import EventType

FORMAT = 5  # 2: entries carry last_call_failed; 3: and aliases; 4: and needs_context;
# 5: and shell_slots
TRACES_TABLE = "traces"
META_TABLE = "meta"
COMPACT_MIN = 256
JOURNAL_NAME = "index.journal.jsonl"

CHUNK_ROWS = 5000


def _log_warning(message: str) -> None:
    import logging

    logging.getLogger("llmos.learning.index").warning(message)


@record(slots=True, fast_init=True)
class IndexEntry:
    """One trace as the index holds it (its header fields and where it is stored)."""

    id: str
    goal: str
    signature: str
    usage_count: int
    success_count: int
    failure_count: int
    success_rate: float
    cost_usd: float
    tokens_input: int
    tokens_output: int
    tools_used: list[str]
    slots: dict[str, Any]
    volume: str
    path: str
    mtime: float
    mode: str
    created_at: str
    last_used: str | None
    crystallized_tool: str | None
    project: str | None
    outcome: str
    last_call_failed: bool = False  # the recorded run's last tool call failed: never replayed
    aliases: list[str] = field(default_factory=list)  # approved phrasings (exact matches)
    needs_context: bool = False  # recorded from a chat follow-up: never replayed on its own words
    # slots whose value sits in a recorded shell command, not yet confirmed (accounting.shell_slots)
    shell_slots: list[str] = field(default_factory=list)

    @classmethod
    def from_trace(cls, trace: Trace, *, path: str, volume: str, mtime: float) -> "IndexEntry":
        return cls(
            id=trace.id,
            goal=trace.goal,
            signature=trace.signature,
            usage_count=trace.usage_count,
            success_count=trace.success_count,
            failure_count=trace.failure_count,
            success_rate=trace.success_rate,
            cost_usd=float(trace.cost_usd),
            tokens_input=int(trace.tokens.get("input", 0)),
            tokens_output=int(trace.tokens.get("output", 0)),
            tools_used=list(trace.tools_used),
            slots=dict(trace.slots),
            volume=volume,
            path=path,
            mtime=mtime,
            mode=trace.mode,
            created_at=trace.created_at,
            last_used=trace.last_used,
            crystallized_tool=trace.crystallized_tool,
            project=trace.project,
            outcome=trace.outcome,
            last_call_failed=bool(trace.calls) and trace.calls[-1].is_error,
            aliases=trace.alias_phrases(),
            needs_context=trace.needs_context,
            shell_slots=shell_slots(trace.slots, trace.calls, trace.aliases),
        )

    def to_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in _NAMES}
        out["tools_used"] = list(self.tools_used)
        out["slots"] = dict(self.slots)
        out["aliases"] = list(self.aliases)
        out["shell_slots"] = list(self.shell_slots)
        return out


_NAMES = tuple(f.name for f in fields(IndexEntry))
# The snapshot stores entries as rows in this column order (a third of the bytes of one
# JSON object per entry, and about four times faster to load).
ROW_FIELDS = [f.name for f in fields(IndexEntry)]
_PATH_COL = ROW_FIELDS.index("path")
_row_values = operator.attrgetter(*ROW_FIELDS)  # one C call instead of a getattr per field


def _default_path(volume: str, trace_id: str) -> str:
    return f"volumes/{volume}/traces/{trace_id}.md"


def _row(entry: IndexEntry) -> list[Any]:
    row = list(_row_values(entry))
    if entry.path == _default_path(entry.volume, entry.id):
        row[_PATH_COL] = None  # the usual place: derived on load
    return row


def _entries_from_rows(rows: Any) -> Iterator[IndexEntry]:
    width = len(ROW_FIELDS)
    for row in rows:
        if type(row) is not list or len(row) != width:
            raise _CorruptIndex("an index row does not have the expected fields")
        entry = IndexEntry(*row)
        if (
            type(entry.id) is not str
            or type(entry.goal) is not str
            or type(entry.volume) is not str
            or type(entry.aliases) is not list
        ):
            raise _CorruptIndex("an index row has values of the wrong type")
        if entry.path is None:
            entry.path = _default_path(entry.volume, entry.id)
        # A handful of distinct values repeated in every entry: share one string each.
        entry.volume, entry.mode, entry.outcome = (
            intern(entry.volume),
            intern(entry.mode),
            intern(entry.outcome),
        )
        yield entry


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Creating tens of thousands of objects at once triggers the cyclic GC again and again
    (a 100k-entry load took twice as long); nothing built here forms cycles."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _CorruptIndex(Exception):
    """The stored index cannot be used as it is (the reason is in the message)."""


# ---- TinyDB storage ----------------------------------------------------------------------


def _storage_classes() -> tuple[Any, Any, Any]:
    """TinyDB, its caching middleware and our atomic storage (imported on first use)."""
    from tinydb import TinyDB
    from tinydb.middlewares import CachingMiddleware
    from tinydb.storages import Storage

    class AtomicJSONStorage(Storage):
        """TinyDB storage that never leaves a torn file: temp file, fsync, ``os.replace``."""

        def __init__(self, path: str | os.PathLike[str], **_: Any) -> None:
            self.path = Path(path)

        def read(self) -> dict[str, Any] | None:
            try:
                raw = self.path.read_bytes()
            except FileNotFoundError:
                return None
            if not raw.strip():
                return None
            data = json.loads(raw)
            if not isinstance(data, dict):
                raise ValueError("the index file is not a JSON object")
            return data

        def write(self, data: dict[str, Any]) -> None:
            atomic_write_bytes(
                self.path,
                json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8"),
            )

        def close(self) -> None:
            pass

    return TinyDB, CachingMiddleware, AtomicJSONStorage


def _stat_sig(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


# ---- the index ---------------------------------------------------------------------------


@record
class _Problem:
    """Why the index must be rebuilt (missing, corrupt or stale), and for which volumes."""

    kind: str  # "missing" | "corrupt" | "stale"
    detail: str
    volumes: set[str] = field(default_factory=set)


class TraceIndex:
    """In-memory view of the index, kept in step with the files on disk (see module doc)."""

    def __init__(
        self,
        workspace: Workspace,
        *,
        on_warning: Callable[[str], None] | None = None,
        events: Any = None,
    ) -> None:
        self.workspace = workspace
        self.root = Path(workspace.root)
        self.snapshot_path = Path(workspace.index_file)
        self.journal_path = self.snapshot_path.with_name(JOURNAL_NAME)
        self._on_warning = on_warning
        self._events = events
        self._mutex = threading.RLock()
        self._depth = 0
        self._lock_stack: contextlib.ExitStack | None = None
        self._loaded = False
        self._entries: dict[str, IndexEntry] = {}
        self._dirs: dict[str, int] = {}
        self._skipped: dict[str, list[Any]] = {}
        self._gen = 0
        self._snap_sig: tuple[int, int, int] | None = None
        self._journal_sig: tuple[int, int, int] | None = None
        self._journal_offset = 0
        self._journal_lines = 0
        self._journal_stale = False
        self._version = 0
        self.last_load_ms = 0.0

    # ---- public reading API --------------------------------------------------------------
    @property
    def version(self) -> int:
        """Changes whenever the entries change (refreshes from disk first: a few ``stat``)."""
        self.refresh()
        return self._version

    def entries(self, volumes: Iterable[str] | None = None) -> list[IndexEntry]:
        self.refresh()
        with self._mutex:
            if volumes is None:
                return list(self._entries.values())
            wanted = set(volumes)
            return [e for e in self._entries.values() if e.volume in wanted]

    def get(self, trace_id: str) -> IndexEntry | None:
        self.refresh()
        with self._mutex:
            return self._entries.get(trace_id)

    def peek(self, trace_id: str) -> IndexEntry | None:
        """The entry as this process knows it, without looking at the disk (for use inside
        a ``transaction()``, where the view is already in step)."""
        with self._mutex:
            return self._entries.get(trace_id)

    def __len__(self) -> int:
        self.refresh()
        return len(self._entries)

    def skipped(self) -> dict[str, str]:
        """Malformed trace files left out of the index: workspace-relative path -> reason."""
        self.refresh()
        with self._mutex:
            return {path: str(info[1]) for path, info in self._skipped.items()}

    def volumes(self) -> list[str]:
        self.refresh()
        with self._mutex:
            return sorted(self._dirs)

    def refresh(self) -> bool:
        """Bring the in-memory view up to date; True when the entries changed."""
        with self._mutex:
            if self._depth:
                # This process holds the lock: nobody else can have changed the index, and
                # our own markdown write (not journaled yet) must not look like staleness.
                return False
            before = self._version
            if self._loaded and self._unchanged():
                return False
            try:
                with file_lock(self.snapshot_path, shared=True):
                    problem = self._sync(fix=False)
            except OSError:  # no lock file possible (read-only state dir): read without it
                problem = self._sync(fix=False)
            if problem is not None:
                try:
                    with self._exclusive(sync=False):
                        self._sync(fix=True)
                except WorkspaceError as exc:  # cannot lock: repair in memory only
                    self._warn(f"{exc}; the trace index is repaired in memory only")
                    self._sync(fix=True)
            return self._version != before

    # ---- public writing API --------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator["TraceIndex"]:
        """Hold the index lock (reentrant in this process) after syncing with the disk.

        ``TraceStore`` writes the markdown file and the journal line inside one transaction, so
        no other process sees the file without its index entry or records a wrong folder mtime.
        """
        with self._exclusive(sync=True):
            yield self

    def upsert(self, trace: Trace, path: str | os.PathLike[str], volume: str) -> IndexEntry:
        full = self._abs(path)
        with self._exclusive(sync=True):
            try:
                mtime = os.stat(full).st_mtime
            except FileNotFoundError:
                raise WorkspaceError(f"cannot index {full}: the file does not exist") from None
            entry = IndexEntry.from_trace(trace, path=self._rel(full), volume=volume, mtime=mtime)
            ops: list[dict[str, Any]] = []
            old = self._entries.get(entry.id)
            if old is not None and old.volume != volume:
                ops.append(self._dir_op(old.volume))
            ops.append({"op": "put", "r": _row(entry), "dir": self._dir_state(volume)})
            if entry.path in self._skipped:
                ops.append({"op": "skip", "path": entry.path, "info": None})
            self._commit(ops)
            return entry

    def remove(self, trace_id: str) -> bool:
        with self._exclusive(sync=True):
            entry = self._entries.get(trace_id)
            if entry is None:
                return False
            self._commit([{"op": "del", "id": trace_id, "dir": self._dir_state(entry.volume)}])
            return True

    def rebuild(self, *, reason: str | None = None) -> dict[str, Any]:
        """Re-read every trace file and write a fresh index; returns counts."""
        with self._exclusive(sync=False):
            return self._rebuild_locked(reason=reason, explicit=reason is None)

    def resync(self, volumes: Iterable[str] | None = None) -> dict[str, int]:
        """Rescan folders (all by default): ``stat`` every file, parse new or changed ones."""
        with self._exclusive(sync=True):
            wanted = set(self._scan_dirs()) | set(self._dirs) if volumes is None else set(volumes)
            return self._resync_locked(wanted, announce=False)

    # ---- locking ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def _exclusive(self, *, sync: bool) -> Iterator[None]:
        with self._mutex:
            if self._depth == 0:
                stack = contextlib.ExitStack()
                try:
                    stack.enter_context(file_lock(self.snapshot_path))
                except OSError as exc:
                    stack.close()
                    raise WorkspaceError(
                        f"cannot lock the trace index {self.snapshot_path}: {exc}"
                    ) from None
                self._lock_stack = stack
            self._depth += 1
            try:
                if sync and self._depth == 1:
                    self._sync(fix=True)
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._lock_stack is not None:
                    stack, self._lock_stack = self._lock_stack, None
                    stack.close()

    # ---- loading ---------------------------------------------------------------------------
    def _unchanged(self) -> bool:
        if _stat_sig(self.snapshot_path) != self._snap_sig:
            return False
        if _stat_sig(self.journal_path) != self._journal_sig:
            return False
        return self._scan_dirs() == self._dirs and not self._changed_skipped()

    def _changed_skipped(self) -> set[str]:
        """Volumes holding a skipped (malformed) file that changed since: maybe fixed in place."""
        out = set()
        for rel, info in self._skipped.items():
            try:
                mtime = os.stat(self.root / rel).st_mtime
            except OSError:
                mtime = 0.0
            if mtime != info[0]:
                parts = rel.split("/")
                out.add("/".join(parts[1:-2]))
        return out

    def _sync(self, *, fix: bool) -> _Problem | None:
        """Read what changed on disk. With ``fix`` (exclusive lock held) repair problems."""
        started = time.perf_counter()
        try:
            problem = self._load_changes()
        except _CorruptIndex as exc:
            # Forget what was half read: the next look starts from scratch.
            self._loaded = False
            self._snap_sig = self._journal_sig = None
            problem = _Problem("corrupt", str(exc))
        if problem is None:
            current = self._scan_dirs()
            stale = {
                v for v in set(current) | set(self._dirs) if current.get(v) != self._dirs.get(v)
            }
            stale |= self._changed_skipped()
            if stale:
                problem = _Problem("stale", "traces folders changed", stale)
        self.last_load_ms = (time.perf_counter() - started) * 1000
        if problem is None or not fix:
            return problem
        if problem.kind == "stale":
            self._resync_locked(problem.volumes, announce=True)
        else:
            self._rebuild_locked(
                reason=problem.detail, explicit=False, missing=problem.kind == "missing"
            )
        return None

    def _load_changes(self) -> _Problem | None:
        snap_sig = _stat_sig(self.snapshot_path)
        if snap_sig is None:
            return _Problem("missing", "the index file is missing")
        journal_sig = _stat_sig(self.journal_path)
        if self._loaded and snap_sig == self._snap_sig:
            if journal_sig == self._journal_sig:
                return None
            if (
                journal_sig is not None
                and self._journal_sig is not None
                and journal_sig[0] == self._journal_sig[0]
                and journal_sig[1] >= self._journal_offset
            ):
                self._read_journal(from_offset=self._journal_offset)
                return None
        self._read_snapshot()
        self._read_journal(from_offset=0)
        return None

    def _read_snapshot(self) -> None:
        TinyDB, CachingMiddleware, AtomicJSONStorage = _storage_classes()
        sig = _stat_sig(self.snapshot_path)
        try:
            db = TinyDB(self.snapshot_path, storage=CachingMiddleware(AtomicJSONStorage))
            with gc_paused():
                docs = db.table(TRACES_TABLE).all()
            meta_docs = db.table(META_TABLE).all()
        except (ValueError, UnicodeDecodeError) as exc:
            raise _CorruptIndex(f"the index file is not valid JSON ({exc})") from None
        except OSError as exc:
            raise _CorruptIndex(f"the index file cannot be read ({exc})") from None
        except Exception as exc:  # TinyDB on an unexpected shape
            raise _CorruptIndex(
                f"the index file has an unexpected shape ({type(exc).__name__}: {exc})"
            ) from None
        if len(meta_docs) != 1:
            raise _CorruptIndex("the index file has no metadata")
        meta = meta_docs[0]
        if meta.get("format") != FORMAT:
            raise _CorruptIndex(f"the index format changed ({meta.get('format')!r} -> {FORMAT})")
        gen, dirs, skipped = meta.get("generation"), meta.get("dirs"), meta.get("skipped")
        if not isinstance(gen, int) or not isinstance(dirs, dict) or not isinstance(skipped, dict):
            raise _CorruptIndex("the index metadata is incomplete")
        try:
            entries = {}
            with gc_paused():
                for doc in docs:
                    if doc.get("fields") != ROW_FIELDS:
                        raise _CorruptIndex("the index columns changed")
                    for entry in _entries_from_rows(doc.get("rows")):
                        entries[entry.id] = entry
        except TypeError as exc:
            raise _CorruptIndex(f"an index entry is malformed ({exc})") from None
        if entries != self._entries or not self._loaded:
            self._version += 1
        self._entries = entries
        self._dirs = {str(k): int(v) for k, v in dirs.items()}
        self._skipped = dict(skipped)
        self._gen = gen
        self._snap_sig = sig
        self._journal_sig = None
        self._journal_offset = 0
        self._journal_lines = 0
        self._loaded = True

    def _read_journal(self, *, from_offset: int) -> None:
        try:
            with open(self.journal_path, "rb") as handle:
                sig = os.fstat(handle.fileno())
                handle.seek(from_offset)
                data = handle.read()
        except FileNotFoundError:
            self._journal_sig = None
            self._journal_offset = 0
            self._journal_lines = 0
            return
        self._journal_sig = (sig.st_ino, sig.st_size, sig.st_mtime_ns)
        if not data:
            self._journal_offset = from_offset
            return
        if not data.endswith(b"\n"):
            raise _CorruptIndex("the index journal ends with a torn line")
        lines = data.split(b"\n")[:-1]
        start = 0
        if from_offset == 0:
            try:
                header = json.loads(lines[0])
            except (ValueError, IndexError):
                raise _CorruptIndex("the index journal has no valid header") from None
            if (
                not isinstance(header, dict)
                or header.get("op") != "begin"
                or not isinstance(header.get("gen"), int)
            ):
                raise _CorruptIndex("the index journal has no valid header")
            if header["gen"] < self._gen:
                # Left over from a compaction interrupted after the snapshot was written:
                # its changes are in the snapshot already. The next writer resets it.
                self._journal_offset = len(data)
                self._journal_lines = len(lines)
                self._journal_stale = True
                return
            if header["gen"] != self._gen:
                raise _CorruptIndex("the index journal belongs to another snapshot")
            start = 1
        self._journal_stale = False
        changed = False
        with gc_paused():
            for number, raw in enumerate(lines[start:], start=1):
                try:
                    op = json.loads(raw)
                    changed |= self._apply(op)
                except _CorruptIndex:
                    raise
                except (ValueError, KeyError, TypeError) as exc:
                    raise _CorruptIndex(
                        f"line {number} of the index journal is corrupt ({exc})"
                    ) from None
        if changed:
            self._version += 1
        self._journal_offset = from_offset + len(data)
        self._journal_lines += len(lines)

    def _apply(self, op: dict[str, Any]) -> bool:
        kind = op["op"]
        changed = False
        if kind == "put":
            (entry,) = _entries_from_rows([op["r"]])
            changed = self._entries.get(entry.id) != entry
            self._entries[entry.id] = entry
        elif kind == "del":
            changed = self._entries.pop(op["id"], None) is not None
        elif kind == "skip":
            if op["info"] is None:
                self._skipped.pop(op["path"], None)
            else:
                self._skipped[str(op["path"])] = list(op["info"])
        elif kind != "dirs":
            raise _CorruptIndex(f"unknown journal operation {kind!r}")
        dirs = op.get("dir")
        if dirs is not None:
            self._set_dir(dirs[0], dirs[1])
        for volume, mtime in (op.get("dirs") or {}).items():
            self._set_dir(volume, mtime)
        return changed

    def _set_dir(self, volume: str, mtime: int | None) -> None:
        if mtime is None:
            self._dirs.pop(volume, None)
        else:
            self._dirs[volume] = int(mtime)

    # ---- writing ---------------------------------------------------------------------------
    def _commit(self, ops: list[dict[str, Any]]) -> None:
        """Append ops to the journal (exclusive lock held), apply them, compact if due."""
        if not ops:
            return
        payload = "".join(
            json.dumps(op, ensure_ascii=False, separators=(",", ":")) + "\n" for op in ops
        ).encode("utf-8")
        try:
            if self._journal_stale or self._journal_sig is None or self._journal_offset == 0:
                self._reset_journal()
            # Whole lines or nothing: lines cut short by a full disk are undone, so the journal
            # never ends torn (which would force a full rebuild on the next load).
            st = append_bytes(self.journal_path, payload)
        except OSError as exc:
            raise WorkspaceError(
                f"cannot write the trace index journal {self.journal_path}: {exc}"
            ) from None
        changed = False
        for op in ops:
            changed |= self._apply(op)
        if changed:
            self._version += 1
        self._journal_offset = st.st_size
        self._journal_sig = (st.st_ino, st.st_size, st.st_mtime_ns)
        self._journal_lines += len(ops)
        if self._journal_lines > max(COMPACT_MIN, len(self._entries) // 4):
            try:
                self._write_snapshot(self._gen + 1)
            except (
                WorkspaceError,
                OSError,
            ) as exc:  # the change is journaled: only compaction waits
                self._warn(f"the trace index could not be compacted ({exc}); will retry")

    def _reset_journal(self) -> None:
        header = json.dumps({"op": "begin", "gen": self._gen, "format": FORMAT}) + "\n"
        atomic_write_text(self.journal_path, header)
        st = os.stat(self.journal_path)
        self._journal_sig = (st.st_ino, st.st_size, st.st_mtime_ns)
        self._journal_offset = st.st_size
        self._journal_lines = 1
        self._journal_stale = False

    def _write_snapshot(self, gen: int) -> None:
        """Fold everything into a new TinyDB snapshot, then start an empty journal."""
        TinyDB, CachingMiddleware, AtomicJSONStorage = _storage_classes()
        meta = {
            "format": FORMAT,
            "generation": gen,
            "dirs": dict(self._dirs),
            "skipped": dict(self._skipped),
            "written_at": time.time(),
        }
        try:
            with gc_paused():
                db = TinyDB(self.snapshot_path, storage=CachingMiddleware(AtomicJSONStorage))
                db.drop_tables()
                rows = [_row(e) for e in self._entries.values()]
                db.table(TRACES_TABLE).insert_multiple(
                    {"fields": ROW_FIELDS, "rows": rows[i : i + CHUNK_ROWS]}
                    for i in range(0, len(rows), CHUNK_ROWS)
                )
                db.table(META_TABLE).insert(meta)
                db.close()  # CachingMiddleware flushes: one atomic write
        except OSError as exc:
            raise WorkspaceError(
                f"cannot write the trace index {self.snapshot_path}: {exc}"
            ) from None
        self._gen = gen
        self._snap_sig = _stat_sig(self.snapshot_path)
        self._loaded = True
        self._reset_journal()

    # ---- repair ----------------------------------------------------------------------------
    def _warn(self, message: str) -> None:
        if self._on_warning is not None:
            try:
                self._on_warning(message)
            except Exception:  # a broken callback must not break the index
                _log_warning(message)
        else:
            _log_warning(message)

    def _event(self, kind: EventType, **data: Any) -> None:
        if self._events is None:
            from ..observability.events import EventLog

            self._events = EventLog(self.workspace.events_file)
        self._events.record(kind, **data)

    def report_skip(self, rel: str, reason: str) -> None:
        from ..observability.events import EventType

        self._warn(f"skipped trace file {rel}: {reason}")
        self._event(EventType.TRACE_SKIPPED, path=rel, reason=reason)

    def _rebuild_locked(
        self, *, reason: str | None, explicit: bool, missing: bool = False
    ) -> dict[str, Any]:
        with gc_paused():
            return self._rebuild_body(reason=reason, explicit=explicit, missing=missing)

    def _rebuild_body(self, *, reason: str | None, explicit: bool, missing: bool) -> dict[str, Any]:
        started = time.perf_counter()
        old_gen = max(self._gen, self._journal_gen())
        entries: dict[str, IndexEntry] = {}
        skipped: dict[str, list[Any]] = {}
        dirs = self._scan_dirs()
        bad: list[tuple[str, list[str]]] = []
        files: list[tuple[str, str]] = []
        for volume in sorted(dirs, key=_volume_order):
            names: list[str] = []
            files.extend(
                (volume, name)
                for name in _md_files(self.root / "volumes" / volume / "traces", names)
            )
            if names:
                bad.append((volume, names))
        for volume, names in bad:
            for name in names:
                rel = f"volumes/{volume}/traces/{name}"
                skipped[rel] = [0.0, BAD_NAME]
                self.report_skip(rel, BAD_NAME)
        for (volume, name), (entry, mtime, problem) in zip(
            files, _read_all(str(self.root), files), strict=True
        ):
            rel = f"volumes/{volume}/traces/{name}"
            if entry is not None and entry.id in entries:
                problem = (
                    f"duplicate trace id {entry.id} (already indexed from {entries[entry.id].path})"
                )
            if problem is not None or entry is None:
                skipped[rel] = [mtime, problem]
                self.report_skip(rel, str(problem))
                continue
            entries[entry.id] = entry
        changed = entries != self._entries or not self._loaded
        self._entries, self._dirs, self._skipped = entries, dirs, skipped
        if changed:
            self._version += 1
        saved = True
        try:
            self._write_snapshot(old_gen + 1)
        except (WorkspaceError, OSError) as exc:
            saved = False
            self._warn(f"the trace index could not be saved ({exc}); using it in memory")
            self._loaded = True
        seconds = time.perf_counter() - started
        counts = {
            "traces": len(entries),
            "skipped": len(skipped),
            "volumes": len(dirs),
            "seconds": round(seconds, 3),
            "saved": saved,
        }
        if not explicit and (not missing or entries or skipped):
            self._warn(
                f"the trace index was rebuilt from the markdown files ({reason}): "
                f"{len(entries)} traces, {len(skipped)} skipped"
            )
        if explicit or not missing or entries or skipped:
            from ..observability.events import EventType

            self._event(
                EventType.INDEX_REBUILT,
                reason=reason or "requested",
                traces=len(entries),
                skipped=len(skipped),
            )
        return counts

    def _journal_gen(self) -> int:
        try:
            with open(self.journal_path, "rb") as handle:
                header = json.loads(handle.readline())
            return int(header.get("gen", 0))
        except (OSError, ValueError, TypeError, AttributeError):
            return 0

    def _resync_locked(self, volumes: set[str], *, announce: bool) -> dict[str, int]:
        current = self._scan_dirs()
        counts = {"added": 0, "updated": 0, "removed": 0, "skipped": 0}
        dels: set[str] = set()  # ids whose file is gone (or holds another id now)
        puts: dict[str, dict[str, Any]] = {}  # id -> put op
        other: list[dict[str, Any]] = []  # skip and dirs ops
        by_volume: dict[str, dict[str, IndexEntry]] = {}
        for indexed in self._entries.values():
            if indexed.volume in volumes:
                by_volume.setdefault(indexed.volume, {})[indexed.path] = indexed
        claimed = {e.id: e.path for e in self._entries.values()}
        for volume in sorted(volumes, key=_volume_order):
            known = by_volume.get(volume, {})
            prefix = f"volumes/{volume}/traces/"
            if volume not in current:
                dels.update(entry.id for entry in known.values())
                other.extend(
                    {"op": "skip", "path": rel, "info": None}
                    for rel in self._skipped
                    if rel.startswith(prefix)
                )
                other.append({"op": "dirs", "dirs": {volume: None}})
                continue
            folder = self.root / "volumes" / volume / "traces"
            present = set()
            bad: list[str] = []
            for name in _md_files(folder, bad):
                rel = prefix + name
                present.add(rel)
                try:
                    mtime = os.stat(folder / name).st_mtime
                except FileNotFoundError:
                    continue
                entry = known.get(rel)
                if entry is not None and entry.mtime == mtime:
                    continue
                prior = self._skipped.get(rel)
                if entry is None and prior is not None and prior[0] == mtime:
                    continue  # still the same broken file: reported already
                trace, mtime, problem = _read_trace(folder / name)
                if (
                    trace is not None
                    and trace.id in claimed
                    and claimed[trace.id] != rel
                    and (trace.id in puts or (self.root / claimed[trace.id]).exists())
                ):
                    problem = (
                        f"duplicate trace id {trace.id} (already indexed from {claimed[trace.id]})"
                    )
                if problem is not None or trace is None:
                    if entry is not None:
                        dels.add(entry.id)
                    other.append({"op": "skip", "path": rel, "info": [mtime, problem]})
                    counts["skipped"] += 1
                    self.report_skip(rel, str(problem))
                    continue
                if entry is not None and entry.id != trace.id:
                    dels.add(entry.id)
                new = IndexEntry.from_trace(trace, path=rel, volume=volume, mtime=mtime)
                puts[trace.id] = {"op": "put", "r": _row(new)}
                claimed[trace.id] = rel
                if prior is not None:
                    other.append({"op": "skip", "path": rel, "info": None})
                counts["updated" if trace.id in self._entries else "added"] += 1
            for name in bad:
                rel = prefix + name
                present.add(rel)
                if rel not in self._skipped:  # reported once, like any broken file
                    other.append({"op": "skip", "path": rel, "info": [0.0, BAD_NAME]})
                    counts["skipped"] += 1
                    self.report_skip(rel, BAD_NAME)
            dels.update(entry.id for rel, entry in known.items() if rel not in present)
            other.extend(
                {"op": "skip", "path": rel, "info": None}
                for rel in self._skipped
                if rel.startswith(prefix) and rel not in present
            )
            other.append({"op": "dirs", "dirs": {volume: current[volume]}})
        dels = {tid for tid in dels if tid not in puts and tid in self._entries}
        counts["removed"] = len(dels)
        # Removals first: a put of the same id (a file renamed or moved) must win.
        ops = [{"op": "del", "id": tid} for tid in sorted(dels)] + list(puts.values()) + other
        try:
            self._commit(ops)
        except WorkspaceError as exc:
            for op in ops:
                self._apply(op)
            self._version += 1
            self._warn(f"the trace index could not be saved ({exc}); using it in memory")
        if announce and (counts["added"] or counts["updated"] or counts["removed"]):
            where = ", ".join(f"volumes/{v}" for v in sorted(volumes))
            self._warn(
                f"the trace index was out of date with {where} ({counts['added']} added, "
                f"{counts['updated']} changed, {counts['removed']} removed); updated it"
            )
            from ..observability.events import EventType

            self._event(EventType.INDEX_RESYNCED, volumes=sorted(volumes), **counts)
        return counts

    # ---- folders ---------------------------------------------------------------------------
    def _scan_dirs(self) -> dict[str, int]:
        """{volume: st_mtime_ns of its traces folder} for volumes/<v>/traces and volumes/<a>/<b>/traces."""
        out: dict[str, int] = {}
        base = self.root / "volumes"
        try:
            tops = list(os.scandir(base))
        except (FileNotFoundError, NotADirectoryError):
            return out
        for top in tops:
            # A folder name that is not UTF-8 cannot name a volume: its files are not indexed.
            if not top.is_dir() or top.name.startswith(".") or not _utf8(top.name):
                continue
            try:
                out[top.name] = os.stat(os.path.join(top.path, "traces")).st_mtime_ns
                continue
            except (FileNotFoundError, NotADirectoryError):
                pass
            try:
                subs = list(os.scandir(top.path))
            except OSError:
                continue
            for sub in subs:
                if sub.name.startswith(".") or not _utf8(sub.name) or not sub.is_dir():
                    continue
                try:
                    out[f"{top.name}/{sub.name}"] = os.stat(
                        os.path.join(sub.path, "traces")
                    ).st_mtime_ns
                except (FileNotFoundError, NotADirectoryError):
                    pass
        return out

    def _dir_state(self, volume: str) -> list[Any]:
        try:
            return [volume, os.stat(self.root / "volumes" / volume / "traces").st_mtime_ns]
        except FileNotFoundError:
            return [volume, None]

    def _dir_op(self, volume: str) -> dict[str, Any]:
        state = self._dir_state(volume)
        return {"op": "dirs", "dirs": {state[0]: state[1]}}

    def _abs(self, path: str | os.PathLike[str]) -> Path:
        p = Path(path)
        return p if p.is_absolute() else self.root / p

    def _rel(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            raise WorkspaceError(f"{path} is not inside the workspace {self.root}") from None


# ---- reading trace files ---------------------------------------------------------------

_Read = tuple[IndexEntry | None, float, str | None]  # (entry, the file's mtime, why skipped)

#: A rebuild over at least this many files hands shares of them to worker processes
#: (``index_worker``), one fewer than the CPUs this process may run on: the process itself
#: parses a share meanwhile. A worker costs a Python start-up (about 0.15 s of CPU), so
#: fewer files are read in this process alone.
PARALLEL_MIN_FILES = 4000
#: What a worker is given at least: a smaller share is not worth its start-up.
WORKER_MIN_FILES = 2000
WORKER_MODULE = "llmos_tui.learning.index_worker"
#: The process's own share, against a worker's 1: it also merges the shares and writes the
#: snapshot afterwards (about a fifth of its time at 100k files).
OWN_SHARE = 0.75


def _read_trace(full: str | os.PathLike[str]) -> tuple[Trace | None, float, str | None]:
    """(the parsed trace or None, the file's mtime, why it cannot be indexed or None)."""
    try:
        # os.open/os.read: half the system calls of open() + read() (no isatty, no seeks).
        fd = os.open(full, os.O_RDONLY | os.O_CLOEXEC)
        try:
            st = os.fstat(fd)
            mtime = st.st_mtime
            if st.st_size > MAX_TRACE_BYTES:
                return (
                    None,
                    mtime,
                    (
                        f"the file is {st.st_size} bytes, over the {MAX_TRACE_BYTES}-byte "
                        "limit (refused)"
                    ),
                )
            raw = os.read(fd, st.st_size + 1)
            while chunk := os.read(fd, 1 << 20):  # to the end, as read() does
                raw += chunk
        finally:
            os.close(fd)
    except OSError as exc:
        try:
            mtime = os.stat(full).st_mtime
        except OSError:
            mtime = 0.0
        return None, mtime, f"cannot read the file ({exc.strerror or exc})"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, mtime, f"not UTF-8 text ({exc.reason} at byte {exc.start})"
    try:
        return parse_trace(text, source=""), mtime, None
    except TraceFormatError as exc:
        return None, mtime, exc.reason
    except (RecursionError, MemoryError, ValueError) as exc:  # absurdly nested or huge input
        return None, mtime, f"unreadable trace ({type(exc).__name__})"


def read_entries(root: str, files: list[tuple[str, str]]) -> list[_Read]:
    """The index entry of each ``volumes/<volume>/traces/<name>`` file under *root* (or why
    it has none), in the order given: what a rebuild does with every file, and all of it."""
    out: list[_Read] = []
    for volume, name in files:
        rel = f"volumes/{volume}/traces/{name}"
        trace, mtime, problem = _read_trace(os.path.join(root, rel))
        entry = (
            None
            if trace is None
            else IndexEntry.from_trace(trace, path=rel, volume=volume, mtime=mtime)
        )
        out.append((entry, mtime, problem))
    return out


def _worker_count(files: int) -> int:
    """How many worker processes read a share of *files* files (0: this process alone)."""
    if files < PARALLEL_MIN_FILES:
        return 0
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cpus = os.cpu_count() or 1
    return max(0, min(cpus - 1, files // WORKER_MIN_FILES - 1))


def _read_all(root: str, files: list[tuple[str, str]]) -> list[_Read]:
    """``read_entries(root, files)``, with shares read by worker processes when there are
    many files (``_worker_count``). The result is the same, in the same order: each share is
    read by ``read_entries`` and the shares are put back in order; a worker that fails to
    start or to answer has its share read here instead (and a warning logged)."""
    workers = _worker_count(len(files))
    if not workers:
        return read_entries(root, files)
    rest = len(files) - round(len(files) * OWN_SHARE / (workers + OWN_SHARE))
    size = -(-rest // workers)
    shares = [files[i : min(i + size, rest)] for i in range(0, rest, size)]
    started = [_Worker.start(root, share) for share in shares]
    try:
        own = read_entries(root, files[rest:])
        out: list[_Read] = []
        for worker, share in zip(started, shares, strict=True):
            got = worker.result() if worker is not None else None
            out.extend(got if got is not None else read_entries(root, share))
    finally:
        for worker in started:
            if worker is not None:
                worker.stop()
    out.extend(own)
    return out


class _Worker:
    """One ``index_worker`` process reading a share of the files (see ``_read_all``)."""

    def __init__(self, proc: Any, feeder: threading.Thread, files: int) -> None:
        self.proc = proc
        self.feeder = feeder
        self.files = files

    @classmethod
    def start(cls, root: str, files: list[tuple[str, str]]) -> "_Worker | None":
        import marshal
        import subprocess
        import sys

        package_dir = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (package_dir, env.get("PYTHONPATH", "")) if p
        )
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", WORKER_MODULE],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
                close_fds=True,
            )
        except (OSError, ValueError) as exc:
            _log_warning(f"cannot start an index worker ({exc}); reading its files here")
            return None
        payload = marshal.dumps((root, files))
        # Written from a thread: the pipe holds 64 KiB, and this process has its own share
        # to read meanwhile.
        feeder = threading.Thread(target=_feed, args=(proc.stdin, payload), daemon=True)
        feeder.start()
        return cls(proc, feeder, len(files))

    def result(self) -> list[_Read] | None:
        """The worker's answer, or None (logged) when it has none to give."""
        import marshal

        try:
            raw = self.proc.stdout.read()
            code = self.proc.wait()
        except OSError as exc:
            _log_warning(f"an index worker could not be read ({exc}); reading its files here")
            return None
        if code != 0:
            _log_warning(f"an index worker exited with status {code}; reading its files here")
            return None
        try:
            rows = marshal.loads(raw)
            return _reads_from_rows(rows, self.files)
        except (ValueError, EOFError, TypeError) as exc:
            _log_warning(f"an index worker answered badly ({exc}); reading its files here")
            return None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.feeder.join()
        for stream in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                stream.close()


def _feed(stream: Any, payload: bytes) -> None:
    with contextlib.suppress(OSError):  # the worker died: its result says so
        stream.write(payload)
        stream.close()


def reads_to_rows(reads: list[_Read]) -> list[tuple[Any, float, str | None]]:
    """What a worker sends back for ``read_entries``' result: each entry as its row of
    ``ROW_FIELDS`` (marshal writes plain values only)."""
    return [
        (None if entry is None else list(_row_values(entry)), mtime, problem)
        for entry, mtime, problem in reads
    ]


def _reads_from_rows(rows: Any, count: int) -> list[_Read]:
    if type(rows) is not list or len(rows) != count:
        raise ValueError(f"expected {count} results")
    width = len(ROW_FIELDS)
    out: list[_Read] = []
    for item in rows:
        row, mtime, problem = item
        if row is None:
            out.append((None, mtime, problem))
            continue
        if type(row) is not list or len(row) != width:
            raise ValueError("a row does not have the expected fields")
        entry = IndexEntry(*row)
        entry.volume, entry.mode, entry.outcome = (
            intern(entry.volume),
            intern(entry.mode),
            intern(entry.outcome),
        )
        out.append((entry, mtime, problem))
    return out


#: Why a trace file whose name is not valid UTF-8 is skipped (its path could not be stored).
BAD_NAME = "the file name is not valid UTF-8; rename it to index it"


def _utf8(name: str) -> bool:
    """False for a name decoded with lone surrogates (bytes that are not UTF-8)."""
    if name.isascii():
        return True
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _shown(name: str) -> str:
    """A name that is not valid UTF-8 as it can be stored and shown (``bad\\xff.md``)."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def _md_files(folder: Path, bad: list[str] | None = None) -> list[str]:
    """The trace files of *folder*, sorted. Names that are not valid UTF-8 are left out and,
    with *bad*, added to it as :func:`_shown` names."""
    try:
        names = sorted(
            e.name
            for e in os.scandir(folder)
            if e.name.endswith(".md") and not e.name.startswith(".") and e.is_file()
        )
    except (FileNotFoundError, NotADirectoryError):
        return []
    if all(map(_utf8, names)):
        return names
    if bad is not None:
        bad.extend(_shown(n) for n in names if not _utf8(n))
    return [n for n in names if _utf8(n)]


def _volume_order(volume: str) -> tuple[int, str]:
    """Users first, then teams, then system: a duplicate id keeps the most personal copy."""
    rank = 0 if volume.startswith("users/") else 1 if volume.startswith("teams/") else 2
    return rank, volume
