"""Atomic file writes and sidecar locks: the only way the engine writes shared files.

A write goes to a temporary file in the same folder, is fsynced, then replaces the
target with ``os.replace`` (atomic on POSIX). A crash leaves either the old file or
the new one, never a torn one. Temporaries are named ``.<name>.<pid>.<random>.tmp`` so
``clean_stale_temporaries`` (run when a workspace is opened) can tell the leftovers of a
writer that died from the file a live writer is about to rename.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path
from typing import Any, Iterator

TMP_SUFFIX = ".tmp"


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


_TMP_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def _create_temporary(folder: Path, prefix: str) -> tuple[int, str]:
    """A new file ``<prefix><random>.tmp`` in ``folder``, mode 0600, opened for writing: what
    ``tempfile.mkstemp`` does, without importing ``tempfile`` (with ``random`` and ``shutil``)
    on every start that writes a file."""
    for _ in range(100):
        name = os.path.join(folder, f"{prefix}{os.urandom(6).hex()}{TMP_SUFFIX}")
        try:
            return os.open(name, _TMP_FLAGS, 0o600), os.path.abspath(name)
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name in {folder}")


def atomic_write_bytes(
    path: str | os.PathLike[str],
    data: bytes,
    *,
    mode: int = 0o644,
    durable: bool = True,
    sync_dir: bool = True,
) -> None:
    """Replace ``path`` with ``data`` atomically. ``durable=False`` (caches only) skips the fsyncs:
    the rename is still atomic for every process, but after an OS crash the file may be empty.
    ``sync_dir=False`` keeps the file's fsync (after an OS crash the file is the old one or the
    new one, whole) but not the folder's, which only makes the rename itself survive the crash:
    for bookkeeping whose last update may be lost (the sentience state, session logs), never for
    data the user or the policy relies on."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temporary(target.parent, f".{target.name}.{os.getpid()}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable and sync_dir:
        _fsync_dir(target.parent)


def atomic_write_text(
    path: str | os.PathLike[str], text: str, *, mode: int = 0o644, sync_dir: bool = True
) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), mode=mode, sync_dir=sync_dir)


def atomic_write_json(path: str | os.PathLike[str], obj: Any, *, sync_dir: bool = True) -> None:
    atomic_write_text(
        path,
        json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
        sync_dir=sync_dir,
    )


@contextlib.contextmanager
def file_lock(path: str | os.PathLike[str], *, shared: bool = False) -> Iterator[None]:
    """Hold an advisory lock on the sidecar ``<path>.lock`` across processes."""
    lock_path = Path(str(path) + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def append_bytes(
    path: str | os.PathLike[str], data: bytes, *, fsync: bool = True
) -> os.stat_result:
    """Append ``data`` whole or not at all; the caller holds the file's lock.

    A write cut short (a full disk, a file-size limit) is undone by truncating back to the old
    size, so a torn line never stays behind to swallow the next one. A tail already torn by a
    crash (no final newline) gets a newline first: the fragment stays a line of its own, which
    readers skip, and ``data`` starts on a fresh line. Returns the file's stat after the write.
    """
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        start = os.fstat(fd).st_size
        if start and os.pread(fd, 1, start - 1) != b"\n":
            data = b"\n" + data
        try:
            written = os.write(fd, data)
            while written < len(data):
                written += os.write(fd, data[written:])
            if fsync:
                os.fsync(fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, start)
            raise
        return os.fstat(fd)
    finally:
        os.close(fd)


def append_line(path: str | os.PathLike[str], line: str) -> None:
    """Append one line with O_APPEND under the sidecar lock (used by JSONL logs)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    data = (line.rstrip("\n") + "\n").encode("utf-8")
    with file_lock(target):
        append_bytes(target, data)


def _writer_pid(name: str) -> int | None:
    """The pid in ``.<name>.<pid>.<random>.tmp`` (None for a name without one)."""
    parts = name[: -len(TMP_SUFFIX)].rsplit(".", 2)
    if len(parts) == 3 and parts[1].isdigit():
        return int(parts[1])
    return None


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: someone else's live process
        return True
    return True


def clean_stale_temporaries(folder: str | os.PathLike[str], *, max_age_s: float = 3600.0) -> int:
    """Remove temporaries left by a crash under ``folder`` (recursively): ``.<name>.<pid>.<rand>.tmp``
    whose writer is no longer running, and any ``.*.tmp`` older than ``max_age_s``. A live
    writer's temporary is never touched. Returns how many were removed; never raises."""
    import time

    removed = 0
    now = time.time()
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in filenames:
            if not (name.startswith(".") and name.endswith(TMP_SUFFIX)):
                continue
            path = os.path.join(dirpath, name)
            pid = _writer_pid(name)
            if pid is not None and _alive(pid):
                continue
            if pid is None:
                try:
                    if now - os.lstat(path).st_mtime < max_age_s:
                        continue
                except OSError:
                    continue
            with contextlib.suppress(OSError):
                os.unlink(path)
                removed += 1
    return removed
