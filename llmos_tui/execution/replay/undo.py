"""Diffs and undo for the file tools (issue #17, deliverable 6).

Contract:

* :func:`compact_diff` renders a file tool's change (Write, Edit, MultiEdit, NotebookEdit) as a
  unified diff capped at ``max_lines`` lines plus ``… N more lines``; the executor attaches it to
  the call's outcome (``ExecOutcome.diff``) and it reaches the chat and headless stderr through
  ``ToolCallFinished.diff``.
* :class:`UndoJournal` keeps, for one run, the **pre-image** of every file the executor is about to
  write (the content and mode before the run's first write to it, or "absent" for a file the run
  creates). Only the first write of a run to a path is kept. Pre-images are stored in
  ``state/undo/<run_id>/`` of the workspace (never inside the working directory), written
  atomically; :meth:`UndoJournal.finish` records each file's sha256 after the run, so an undo can
  tell whether a file changed since. A run that wrote nothing leaves nothing behind.
* Bounds: a run keeps pre-images up to ``max_bytes`` in all (``execution.undo_max_mb``); a file
  whose pre-image does not fit is marked ``kept: false`` (an undo refuses it unless ``--force``,
  which then leaves it alone). :meth:`UndoStore.prune` keeps the newest ``max_runs`` runs
  (``execution.undo_runs``) and drops the oldest until all of them fit ``max_bytes``.
* :meth:`UndoStore.undo` restores the files the newest run recorded for a working directory:
  rewrites changed files with their pre-image (mode kept) and deletes the files that run created,
  through the race-free ``edgekit/fs.py`` primitives beneath the working directory. It refuses
  (nothing is touched) when a file changed since that run, unless ``force``. A successful undo
  removes that run's journal, so the next undo goes one run further back.
* Covers the file tools only: files a Bash command created or changed are not pre-imaged (a shell
  command's effects cannot be known before it runs without snapshotting the whole folder).
"""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from pathlib import Path
from typing import Any

from edgekit import fs

from ...records import field, record
from ... import digest as hashlib  # sha256 without loading OpenSSL (digest.py)
from ...atomic import atomic_write_bytes
from ...clock import iso_utc

MANIFEST = "manifest.json"
DIFF_MAX_LINES = 20
MAX_DIFF_INPUT = 512 * 1024  # larger files: no line diff, a one-line size note


def compact_diff(
    label: str, before: bytes | None, after: bytes, max_lines: int = DIFF_MAX_LINES
) -> str:
    """A unified diff of one file's change, at most ``max_lines`` lines (+ "… N more lines")."""
    if before == after:
        return ""
    if len(after) > MAX_DIFF_INPUT or (before is not None and len(before) > MAX_DIFF_INPUT):
        return f"{label}: {0 if before is None else len(before)} -> {len(after)} bytes (too large to diff)"
    try:
        old = [] if before is None else before.decode("utf-8").splitlines()
        new = after.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        return f"{label}: binary content changed ({0 if before is None else len(before)} -> {len(after)} bytes)"
    import difflib  # only when a diff is shown

    lines = list(
        difflib.unified_diff(
            old,
            new,
            fromfile="/dev/null" if before is None else f"a/{label}",
            tofile=f"b/{label}",
            lineterm="",
            n=1,
        )
    )
    if len(lines) > max_lines:
        rest = len(lines) - max_lines
        lines = lines[:max_lines] + [f"… {rest} more line{'s' if rest != 1 else ''}"]
    return "\n".join(lines)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _atomic_write(path: Path, data: bytes) -> None:
    """A pre-image or the manifest, owner-only (pre-images are copies of the user's files). The
    temporary is removed when the write fails (a full disk leaves nothing behind); the folder is
    not synced: a run's journal is complete once its manifest is, and is read only after that."""
    atomic_write_bytes(path, data, mode=0o600, sync_dir=False)


@record
class UndoFile:
    """One file a run changed: its pre-image (``blob``) and its state after the run."""

    rel: str  # beneath the working directory
    existed: bool
    mode: int | None
    blob: str | None  # file name under blobs/ (None: not kept or absent)
    size: int
    kept: bool = True
    after_sha256: str | None = None  # set by finish(); None: the file is absent after the run


class UndoJournal:
    """The pre-images of one run's file writes (thread-safe; see the module docstring)."""

    def __init__(self, root: Path, cwd: Path, goal: str, max_bytes: int) -> None:
        self.run_id = f"{time.time_ns():020d}-{os.urandom(4).hex()}"  # sorts oldest first
        self.dir = root / self.run_id
        self.cwd = Path(os.path.realpath(cwd))
        self.goal = goal
        self.max_bytes = int(max_bytes)
        self.used = 0
        self.entries: dict[str, UndoFile] = {}
        self._lock = threading.Lock()

    def capture(
        self, path: Path, before: bytes | None, mode: int | None, *, too_large: bool = False
    ) -> None:
        """Called by the executor just before it writes ``path`` (``before`` None: it does not exist)."""
        try:
            rel = Path(os.path.realpath(path)).relative_to(self.cwd).as_posix()
        except ValueError:
            return  # outside the working directory (another write root): not ours to undo
        with self._lock:
            if rel in self.entries:
                return  # the run's first pre-image is the one to restore
            if too_large or (before is not None and self.used + len(before) > self.max_bytes):
                self.entries[rel] = UndoFile(rel, True, mode, None, len(before or b""), kept=False)
                return
            blob = None
            if before is not None:
                blob = f"{len(self.entries):05d}"
                _atomic_write(self.dir / "blobs" / blob, before)
                self.used += len(before)
            self.entries[rel] = UndoFile(rel, before is not None, mode, blob, len(before or b""))

    def finish(self) -> bool:
        """Record each file's state after the run and write the manifest; False when nothing was written."""
        with self._lock:
            if not self.entries:
                import shutil

                shutil.rmtree(self.dir, ignore_errors=True)
                return False
            for entry in self.entries.values():
                entry.after_sha256 = _current_sha(self.cwd, entry.rel)
            manifest = {
                "run_id": self.run_id,
                "cwd": str(self.cwd),
                "goal": self.goal[:500],
                "created_at": iso_utc(),
                "bytes": self.used,
                "files": [vars(e) for e in self.entries.values()],
            }
            _atomic_write(self.dir / MANIFEST, json.dumps(manifest, indent=1).encode("utf-8"))
            return True


def _current_sha(cwd: Path, rel: str) -> str | None:
    try:
        with fs.RootDir(cwd) as root:
            return _sha(fs.read_file_beneath(root, rel, 1 << 40))
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError:
        return "unreadable"


@record
class UndoRun:
    """One recorded run: its manifest (``state/undo/<run_id>/manifest.json``), read."""

    run_id: str
    cwd: str
    goal: str
    created_at: str
    bytes: int
    files: list[UndoFile]
    dir: Path  # the run's folder (manifest and blobs)

    @classmethod
    def read(cls, folder: Path) -> UndoRun:
        """The run recorded in ``folder`` (OSError, ValueError, TypeError or KeyError: unreadable)."""
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        return cls(
            run_id=str(data["run_id"]),
            cwd=str(data["cwd"]),
            goal=str(data.get("goal", "")),
            created_at=str(data.get("created_at", "")),
            bytes=int(data.get("bytes", 0)),
            files=[UndoFile(**f) for f in data.get("files", [])],
            dir=folder,
        )


@record
class UndoReport:
    """What undoing a run restored, deleted or left alone."""

    ok: bool
    run_id: str | None = None
    goal: str = ""
    restored: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    changed_since: list[str] = field(default_factory=list)
    not_kept: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(vars(self))


def _remove_run(folder: Path) -> None:
    """Remove one run's folder (ignoring errors). A run's folder holds only files: they are
    removed beneath the folder's descriptor, without importing ``shutil`` (and with it bz2 and
    lzma) in every run that prunes; anything else inside goes to ``shutil.rmtree``."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return
    try:
        with os.scandir(fd) as entries:
            names = [e.name for e in entries]
        for name in names:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            if not stat.S_ISREG(st.st_mode):
                break
            os.unlink(name, dir_fd=fd)
        else:
            os.rmdir(folder)
            return
    except OSError:
        pass
    finally:
        os.close(fd)
    import shutil

    shutil.rmtree(folder, ignore_errors=True)


class UndoStore:
    """``state/undo/``: one folder per run that changed files with the file tools."""

    def __init__(self, state_dir: Path, *, max_mb: float, max_runs: int) -> None:
        self.root = Path(state_dir) / "undo"
        self.max_bytes = int(max_mb * 1024 * 1024)
        self.max_runs = int(max_runs)

    def begin(self, cwd: Path, goal: str) -> UndoJournal:
        return UndoJournal(self.root, cwd, goal, self.max_bytes)

    def runs(self) -> list[UndoRun]:
        """Every recorded run, oldest first (manifests that cannot be read are skipped)."""
        out: list[UndoRun] = []
        if not self.root.is_dir():
            return out
        for child in sorted(self.root.iterdir()):
            try:
                out.append(UndoRun.read(child))
            except (OSError, ValueError, TypeError, KeyError):
                continue
        return out

    def prune(self) -> None:
        runs = self.runs()
        while runs and (len(runs) > self.max_runs or sum(r.bytes for r in runs) > self.max_bytes):
            _remove_run(runs.pop(0).dir)

    def last(self, cwd: Path) -> UndoRun | None:
        where = str(Path(os.path.realpath(cwd)))
        matching = [r for r in self.runs() if r.cwd == where]
        return matching[-1] if matching else None

    def undo(self, cwd: Path, *, force: bool = False) -> UndoReport:
        run = self.last(cwd)
        if run is None:
            return UndoReport(
                False,
                error=f"nothing to undo in {os.path.realpath(cwd)}: no run recorded a change "
                f"made with the file tools there (Bash commands are not covered)",
            )
        report = UndoReport(True, run_id=run.run_id, goal=run.goal)
        base = Path(run.cwd)
        for entry in run.files:
            if not entry.kept:
                report.not_kept.append(entry.rel)
            elif _current_sha(base, entry.rel) != entry.after_sha256:
                report.changed_since.append(entry.rel)
        if (report.changed_since or report.not_kept) and not force:
            report.ok = False
            parts = []
            if report.changed_since:
                parts.append(f"changed since that run: {', '.join(report.changed_since)}")
            if report.not_kept:
                parts.append(
                    f"pre-image not kept (over execution.undo_max_mb): {', '.join(report.not_kept)}"
                )
            report.error = (
                "undo refused, nothing was touched: "
                + "; ".join(parts)
                + " (--force restores the others and overwrites the changed files)"
            )
            return report
        with fs.RootDir(base) as root:
            for entry in run.files:
                if not entry.kept:
                    report.skipped.append(entry.rel)
                    continue
                if entry.existed:
                    data = (run.dir / "blobs" / str(entry.blob)).read_bytes()
                    fs.write_file_beneath(root, entry.rel, data, entry.mode)
                    report.restored.append(entry.rel)
                elif _delete_beneath(root, entry.rel):
                    report.deleted.append(entry.rel)
        import shutil

        shutil.rmtree(run.dir, ignore_errors=True)
        return report


def _delete_beneath(root: fs.RootDir, rel: str) -> bool:
    parent, name = os.path.split(rel)
    fd = fs.open_beneath(root, parent or ".", os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.unlink(name, dir_fd=fd)
        return True
    except FileNotFoundError:
        return False
    finally:
        os.close(fd)
