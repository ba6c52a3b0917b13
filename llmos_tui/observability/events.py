"""Append-only JSONL event log (``observability/events.jsonl``), rotated by size.

One JSON object per line::

    {"id": "e_…", "ts": "2026-11-21T10:00:00.123456Z", "type": "TRACE_RECORDED",
     "notify_user": false, "data": {...}, "source": "kernel", "title": "…"}

(``source`` and ``title`` appear only when set.)

Writing: one ``os.write`` of the whole line on an ``O_APPEND`` descriptor under the
sidecar lock ``events.jsonl.lock`` — the same lock ``atomic.append_line`` takes — so the TUI, a
headless run and several crons in separate processes never interleave, lose or duplicate lines.
When the file passes ``max_bytes`` (checked under the lock, right after an append) it is
rotated: ``events.jsonl`` becomes ``events.1.jsonl``, ``events.1`` becomes ``events.2`` … and
the oldest beyond ``keep`` rotated files is deleted. History is never rewritten in place.
Lines are not fsynced one by one (a replay records several events, and an fsync each cost more
than the replay): a line written survives the death of its process; an OS crash or power loss may
lose the last lines, and a tail torn that way is skipped by readers and never swallows the next
line (``atomic.append_bytes``). Traces, the index and state files are still written with fsync.

Reading: under a brief shared lock the reader opens every file (oldest rotated first) and notes
the current file's size; it then streams them without the lock (open descriptors survive a
rotation), so a read is consistent and memory stays bounded by what the caller keeps. A line
that is not a valid event is skipped and counted (``corrupt_lines`` of the last read).

Following: ``poll_new(cursor)`` returns the complete lines appended since a cursor (inode +
offset of ``events.jsonl``; a rotation in between is followed into ``events.1.jsonl``), so the
TUI can tail events written by other processes for a few ``stat`` calls.

Secrets in an event's data and title are redacted (``llmos_tui/redact.py``) before it is written.

Notifications (``notify_user``) are also appended to the inbox (``inbox.py``), and callbacks
registered with ``subscribe(path, fn)`` hear every event recorded by this process for that log.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from ..records import record
from ..atomic import append_bytes, file_lock
from ..redact import redact_obj, redact_text
from .records import Event, EventType, new_event_id, now_iso, parse_ts  # noqa: F401 - re-exported

if TYPE_CHECKING:
    import logging

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_KEEP = 5


def _logger() -> logging.Logger:
    """The module's logger: ``logging`` is imported by the first message, not by every start."""
    import logging

    return logging.getLogger("llmos.observability")


@record(frozen=True)
class EventCursor:
    """A position in the live log: ``events.jsonl``'s inode and a byte offset in it."""

    inode: int
    offset: int

    def to_str(self) -> str:
        return f"{self.inode}:{self.offset}"

    @classmethod
    def parse(cls, text: str) -> "EventCursor":
        inode, _, offset = str(text).partition(":")
        return cls(int(inode), int(offset))


# ---- in-process subscribers ---------------------------------------------------------------

_subscribers: dict[str, list[Callable[[Event], None]]] = {}
_sub_mutex = threading.Lock()


def _key(path: Path) -> str:
    return os.path.abspath(path)


def subscribe(
    path: str | os.PathLike[str], callback: Callable[[Event], None]
) -> Callable[[], None]:
    """Call ``callback(event)`` after every event this process records in the log at ``path``.
    Returns a function that removes the subscription."""
    key = _key(Path(path))
    with _sub_mutex:
        _subscribers.setdefault(key, []).append(callback)

    def unsubscribe() -> None:
        with _sub_mutex:
            callbacks = _subscribers.get(key, [])
            if callback in callbacks:
                callbacks.remove(callback)

    return unsubscribe


def _dispatch(path: Path, event: Event) -> None:
    with _sub_mutex:
        callbacks = list(_subscribers.get(_key(path), ()))
    for callback in callbacks:
        try:
            callback(event)
        except Exception:  # a broken subscriber must never break the writer
            _logger().exception("an event subscriber failed")


# ---- the log ----------------------------------------------------------------------------


def _undecodable_escaped(value: Any) -> Any:
    """*value* with every string's undecodable bytes (lone surrogates) written as ``\\xNN``."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        return value
    if isinstance(value, dict):
        return {_undecodable_escaped(k): _undecodable_escaped(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_undecodable_escaped(v) for v in value]
    return value


class EventLog:
    """The event log at ``path`` (``observability/events.jsonl``) and its rotated files."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        keep: int = DEFAULT_KEEP,
    ) -> None:
        self.path = Path(path)
        self.max_bytes = max(1024, int(max_bytes))
        self.keep = max(0, int(keep))
        self.corrupt_lines = 0
        self.write_errors = 0
        self.inbox_max_bytes: int | None = None  # None: the inbox's default bound

    # ---- files ------------------------------------------------------------------------
    def rotated_path(self, n: int) -> Path:
        return self.path.with_name(f"{self.path.stem}.{n}{self.path.suffix}")

    def files(self) -> list[Path]:
        """Existing log files, oldest first (``events.N`` … ``events.1``, ``events``)."""
        out = [self.rotated_path(n) for n in range(self._max_rotated(), 0, -1)]
        out.append(self.path)
        return [p for p in out if p.exists()]

    def _max_rotated(self) -> int:
        highest = 0
        prefix, suffix = f"{self.path.stem}.", self.path.suffix
        try:
            names = os.listdir(self.path.parent)
        except OSError:
            return 0
        for name in names:
            if name.startswith(prefix) and name.endswith(suffix):
                middle = name[len(prefix) : len(name) - len(suffix)]
                if middle.isdigit():
                    highest = max(highest, int(middle))
        return highest

    # ---- writing ----------------------------------------------------------------------
    def record(
        self,
        type: EventType,
        *,
        notify_user: bool = False,
        source: str | None = None,
        title: str | None = None,
        **data: Any,
    ) -> Event:
        """Append one event; never raises for an I/O problem (the caller still gets the event)."""
        event = Event(
            type=str(type), data=data, notify_user=notify_user, source=source, title=title
        )
        self.append(event)
        return event

    def append(self, event: Event) -> bool:
        # No secret in the log, the inbox or what subscribers hear (the event itself is redacted).
        event.data = redact_obj(event.data)
        if event.title:
            event.title = redact_text(event.title)
        try:
            line = (event.to_json().replace("\n", " ") + "\n").encode("utf-8")
        except UnicodeEncodeError:
            # A value made from a file name that is not UTF-8 holds lone surrogates (what
            # os.listdir gives for such bytes): logged as the name's bytes, escaped (\xff).
            event.data = _undecodable_escaped(event.data)
            if event.title:
                event.title = _undecodable_escaped(event.title)
            line = (event.to_json().replace("\n", " ") + "\n").encode("utf-8")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with file_lock(self.path):
                # Whole line or nothing: a line cut short by a full disk is undone.
                size = append_bytes(self.path, line, fsync=False).st_size
                if size >= self.max_bytes:
                    self._rotate_locked()
        except OSError as exc:
            # The event log must never take a run down.
            self.write_errors += 1
            _logger().warning("cannot append to the event log %s: %s", self.path, exc)
            return False
        if event.notify_user:
            from .inbox import Inbox  # only notifications need it: not imported by every start

            inbox = (
                Inbox(self.path.parent, events=self)
                if self.inbox_max_bytes is None
                else Inbox(self.path.parent, events=self, max_bytes=self.inbox_max_bytes)
            )
            inbox.add_notification(event)
        _dispatch(self.path, event)
        return True

    def _rotate_locked(self) -> None:
        """Shift events.k -> events.k+1, events -> events.1; delete beyond ``keep``."""
        highest = self._max_rotated()
        for n in range(highest, 0, -1):
            src = self.rotated_path(n)
            if n >= self.keep:
                with contextlib.suppress(FileNotFoundError):
                    src.unlink()
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.replace(src, self.rotated_path(n + 1))
        if self.keep == 0:
            self.path.unlink()
        else:
            os.replace(self.path, self.rotated_path(1))

    # ---- reading ----------------------------------------------------------------------
    def _open_snapshot(self) -> list[tuple[Any, int | None]]:
        """(handle, byte limit) for each file, oldest first, opened under a shared lock."""
        handles: list[tuple[Any, int | None]] = []

        def open_all() -> None:
            for path in self.files():
                try:
                    handle = open(path, "rb")
                except (FileNotFoundError, IsADirectoryError, PermissionError):
                    continue
                limit = os.fstat(handle.fileno()).st_size if path == self.path else None
                handles.append((handle, limit))

        try:
            with file_lock(self.path, shared=True):
                open_all()
        except OSError:  # no lock possible (read-only folder): read without it
            if not handles:
                open_all()
        return handles

    def iter_events(self, *, since: _dt.datetime | None = None) -> Iterator[Event]:
        """Every valid event, oldest first; ``corrupt_lines`` counts the skipped lines."""
        self.corrupt_lines = 0
        handles = self._open_snapshot()
        since_ts = since.timestamp() if since is not None else None
        try:
            for handle, limit in handles:
                if since_ts is not None and limit is None:
                    # A rotated file last written before ``since`` holds nothing newer.
                    try:
                        if os.fstat(handle.fileno()).st_mtime < since_ts - 1:
                            continue
                    except OSError:
                        pass
                read = 0
                for raw in handle:
                    if limit is not None:
                        if read >= limit:
                            break
                        read += len(raw)
                        if read > limit:  # a line being appended right now: not ours
                            break
                    event = self._parse_line(raw)
                    if event is None:
                        continue
                    if since is not None:
                        moment = event.time
                        if moment is None or moment < since:
                            continue
                    yield event
        finally:
            for handle, _ in handles:
                handle.close()

    def _parse_line(self, raw: bytes) -> Event | None:
        line = raw.strip()
        if not line:
            return None
        try:
            return Event.from_dict(json.loads(line))
        except (ValueError, KeyError, TypeError, RecursionError):
            self.corrupt_lines += 1
            return None

    def read(self, types: Iterable[str] | None = None, limit: int | None = None) -> list[Event]:
        """Events (optionally of some types), oldest first; the last ``limit`` if given."""
        from collections import deque

        wanted = {str(t) for t in types} if types else None
        out: Any = deque(maxlen=limit) if limit else []
        for event in self.iter_events():
            if wanted is None or event.type in wanted:
                out.append(event)
        return list(out)

    # ---- following --------------------------------------------------------------------
    def cursor(self) -> EventCursor:
        """The end of the live log now (what ``poll_new`` starts from)."""
        try:
            st = os.stat(self.path)
        except OSError:
            return EventCursor(0, 0)
        return EventCursor(st.st_ino, st.st_size)

    def poll_new(
        self, since: EventCursor | None = None, *, max_events: int = 10_000
    ) -> tuple[list[Event], EventCursor]:
        """Events appended after ``since`` (None: from now) and the cursor to pass next time.

        When the log rotated since the cursor (possibly several times), the rest of the cursor's
        file and every newer rotated file are read before the live one; the files are opened
        under the shared lock so a rotation cannot shift them while they are picked."""
        if since is None:
            return [], self.cursor()
        try:
            with file_lock(self.path, shared=True):
                handles = self._open_for_poll(since)
        except OSError:  # no lock possible (read-only folder): open without it
            handles = self._open_for_poll(since)
        if handles is None:
            return [], since if since.inode else EventCursor(0, 0)
        events: list[Event] = []
        cursor = since
        try:
            for handle, start in handles:
                ino = os.fstat(handle.fileno()).st_ino
                handle.seek(start)
                used = self._read_complete(handle.read(), events, max_events)
                cursor = EventCursor(ino, start + used)
                if len(events) >= max_events:
                    break
        finally:
            for handle, _ in handles:
                handle.close()
        return events, cursor

    def _open_for_poll(self, since: EventCursor) -> list[tuple[Any, int]] | None:
        """(handle, start offset) of the files to read, oldest first; None without a live log."""
        try:
            live = open(self.path, "rb")
        except OSError:
            return None
        st = os.fstat(live.fileno())
        offset = since.offset
        out: list[tuple[Any, int]] = []
        if since.inode and since.inode != st.st_ino:
            # Rotated since the cursor: finish the old file and read the newer ones. When the
            # cursor's file is no longer kept, every kept file is newer than it.
            rotated = []
            for n in range(self._max_rotated(), 0, -1):  # oldest first
                try:
                    rotated.append(open(self.rotated_path(n), "rb"))
                except OSError:
                    continue
            inodes = [os.fstat(h.fileno()).st_ino for h in rotated]
            first = inodes.index(since.inode) if since.inode in inodes else 0
            for i, handle in enumerate(rotated):
                if i < first:
                    handle.close()
                else:
                    out.append(
                        (handle, since.offset if i == first and since.inode in inodes else 0)
                    )
            offset = 0
        elif st.st_size < offset:
            offset = 0  # truncated or replaced by hand
        out.append((live, offset))
        return out

    def _read_complete(self, chunk: bytes, out: list[Event], max_events: int) -> int:
        """Parse the complete lines of ``chunk`` into ``out``; returns the bytes consumed."""
        used = 0
        while used < len(chunk) and len(out) < max_events:
            end = chunk.find(b"\n", used)
            if end == -1:
                break  # a line still being written
            event = self._parse_line(chunk[used:end])
            used = end + 1
            if event is not None:
                out.append(event)
        return used
