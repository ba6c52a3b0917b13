"""L2: session logs, one markdown file per chat (or headless) session under ``memories/sessions/``.

::

    ---
    id: 20261121-100000-3f9c1a
    started_at: '2026-11-21T10:00:00Z'
    source: tui            # tui | headless | ...
    user: local
    project: null
    title: Create a Python calculator
    ---
    ### user · 2026-11-21T10:00:00Z

    Create a Python calculator

    ### assistant · 2026-11-21T10:00:09Z

    Created calc.py ...

The file is created (atomically) with its first entry; later entries are appended with one
``O_APPEND`` write under the file's sidecar lock, so two writers never interleave. A line of
text that starts with ``### `` or with a backslash is written with one more leading backslash
(markdown shows it the same) so that an entry can never forge the header of another;
:func:`read_session` removes it again. Secrets in entries and titles are redacted
(``llmos_tui/redact.py``) before they are written.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from edgekit.frontmatter import dump_header, join as join_frontmatter

from ..records import field, record
from ..atomic import atomic_write_text, file_lock
from ..clock import iso_utc
from ..errors import UsageError
from ..redact import LazyRegex, redact_text  # LazyRegex: compiled on first use

ROLES = ("user", "assistant", "system", "tool", "note")
MAX_ENTRY_CHARS = 100_000
_HEADER_RE = LazyRegex(r"^### (user|assistant|system|tool|note) · (\S+)$")
_ID_RE = re.compile(r"\d{8}-\d{6}-[0-9a-f]{6}")


def _escape(text: str) -> str:
    lines = text.split("\n")
    return "\n".join(
        "\\" + line if line.startswith(("### ", "\\", "---")) else line for line in lines
    )


def _unescape(text: str) -> str:
    return "\n".join(line[1:] if line.startswith("\\") else line for line in text.split("\n"))


class SessionLog:
    """Appends the turns of one session to its markdown file (created on the first append)."""

    def __init__(
        self,
        workspace: Any,
        session_id: str | None = None,
        *,
        source: str = "tui",
        user: str | None = None,
        project: str | None = None,
        title: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.workspace = workspace
        self.clock = clock
        self.source = source
        self.user = user
        self.project = project
        self.title = title
        if session_id is None:
            now = clock()
            session_id = (
                time.strftime("%Y%m%d-%H%M%S", time.gmtime(now)) + "-" + os.urandom(3).hex()
            )
        if not _ID_RE.fullmatch(session_id):
            raise UsageError(f"invalid session id {session_id!r} (expected YYYYMMDD-HHMMSS-xxxxxx)")
        self.id = session_id
        self.path = Path(workspace.sessions_dir) / f"{session_id}.md"

    @classmethod
    def resume(cls, workspace: Any, session_id: str) -> "SessionLog":
        """Continue an existing session (its header is kept as written)."""
        log = cls(workspace, session_id)
        if not log.path.is_file():
            raise UsageError(f"no session {session_id!r} under {workspace.sessions_dir}")
        meta = read_session(log.path).meta
        log.source, log.user, log.project = (
            meta.get("source", ""),
            meta.get("user"),
            meta.get("project"),
        )
        return log

    def append(self, role: str, text: str) -> None:
        """Add one turn. ``role``: user, assistant, system, tool or note. Empty text is skipped."""
        self.append_many([(role, text)])

    def append_many(self, turns: list[tuple[str, str]]) -> None:
        """Add several turns with one write (one fsync): a headless run's goal and answer."""
        entries: list[tuple[str, str]] = []  # (role, redacted text)
        for role, text in turns:
            if role not in ROLES:
                raise UsageError(f"unknown session role {role!r} (choose from {', '.join(ROLES)})")
            if not isinstance(text, str):
                raise UsageError("a session entry must be text")
            text = text.replace("\r\n", "\n").replace("\x00", "").strip("\n")
            if not text.strip():
                continue
            text = redact_text(text)  # no secret in the log (the title is its first line)
            if len(text) > MAX_ENTRY_CHARS:
                text = (
                    text[:MAX_ENTRY_CHARS]
                    + f"\n… ({len(text) - MAX_ENTRY_CHARS} characters not logged)"
                )
            entries.append((role, text))
        if not entries:
            return
        now = self.clock()
        body = "".join(
            f"### {role} · {iso_utc(now)}\n\n{_escape(text)}\n\n" for role, text in entries
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(self.path):
            if not self.path.exists():
                role, text = entries[0]
                title = redact_text(
                    self.title or (text.splitlines()[0][:120] if role == "user" else "")
                )
                header = {
                    "id": self.id,
                    "started_at": iso_utc(now),
                    "source": self.source,
                    "user": self.user,
                    "project": self.project,
                    "title": title,
                }
                # whole or absent after an OS crash; the folder is not fsynced: a log whose newest
                # session may be lost to an OS crash, like the event log's last lines
                atomic_write_text(
                    self.path, join_frontmatter(dump_header(header), body), sync_dir=False
                )
                return
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
            try:
                data = body.encode("utf-8")
                written = os.write(fd, data)
                while written < len(data):
                    written += os.write(fd, data[written:])
                os.fsync(fd)
            finally:
                os.close(fd)


@record
class Entry:
    """One message of a session log."""

    role: str
    at: str
    text: str

    def to_dict(self) -> dict[str, str]:
        return {"role": self.role, "at": self.at, "text": self.text}


def _when(value: Any) -> Any:
    """A header timestamp as text: files written before the one YAML writer hold it unquoted,
    which YAML reads as a datetime."""
    return iso_utc(value) if isinstance(value, _dt.datetime) else value


@record
class Session:
    """A session log read back: its header and entries."""

    path: Path
    meta: dict[str, Any]
    entries: list[Entry] = field(default_factory=list)

    @property
    def id(self) -> str:
        return str(self.meta.get("id") or self.path.stem)

    def to_dict(self, *, entries: bool = False) -> dict[str, Any]:
        out = {
            "id": self.id,
            "path": str(self.path),
            "started_at": _when(self.meta.get("started_at")),
            "source": self.meta.get("source"),
            "user": self.meta.get("user"),
            "project": self.meta.get("project"),
            "title": self.meta.get("title"),
            "entries": len(self.entries),
        }
        if entries:
            out["turns"] = [e.to_dict() for e in self.entries]
        return out


def parse_session(text: str, path: Path) -> Session:
    """A session file's header and entries; a broken header gives empty metadata, never an error."""
    from edgekit.frontmatter import read_lenient

    meta, body = read_lenient(text)  # a hand-edited header must not hide the log
    entries: list[Entry] = []
    current: tuple[str, str] | None = None
    lines: list[str] = []

    def flush() -> None:
        if current is not None:
            entries.append(Entry(current[0], current[1], _unescape("\n".join(lines).strip("\n"))))

    for line in body.split("\n"):
        m = _HEADER_RE.match(line)
        if m:
            flush()
            current, lines = (m.group(1), m.group(2)), []
        elif current is not None:
            lines.append(line)
    flush()
    return Session(path=path, meta=meta, entries=entries)


def read_session(path: str | os.PathLike[str]) -> Session:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise UsageError(f"no session file {p}") from None
    except OSError as exc:
        raise UsageError(f"cannot read {p}: {exc}") from None
    return parse_session(text, p)


def session_files(workspace: Any) -> list[Path]:
    """Session files, oldest first (names start with their UTC start time)."""
    folder = Path(workspace.sessions_dir)
    try:
        return sorted(p for p in folder.iterdir() if p.suffix == ".md" and _ID_RE.fullmatch(p.stem))
    except OSError:
        return []


def iter_sessions(
    workspace: Any, *, newest_first: bool = False, limit: int | None = None
) -> Iterator[Session]:
    files = session_files(workspace)
    if newest_first:
        files.reverse()
    for path in files[:limit] if limit else files:
        try:
            yield read_session(path)
        except UsageError:
            continue


def record_exchange(
    workspace: Any,
    goal: str,
    answer: str,
    *,
    source: str = "headless",
    user: str | None = None,
    project: str | None = None,
) -> SessionLog:
    """Log a one-goal session (a headless run): the goal as the user's turn, the answer as the reply."""
    log = SessionLog(workspace, source=source, user=user, project=project)
    log.append_many([("user", goal), ("assistant", answer or "(no answer)")])
    return log
