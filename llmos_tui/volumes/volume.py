"""A volume: one scope's artifacts (``volumes/system``, ``volumes/teams/<t>``, ``volumes/users/<u>``).

Layout of a volume::

    traces/<id>.md            recorded runs (ARCHITECTURE.md, "Files on disk"); written through the trace index
    tools/<name>.py           crystallized tools, with an optional manifest tools/<name>.json
    agents/<name>.md          agent definitions
    insights/<name>.md        findings of the crons
    suggestions/<name>.md     improvement ideas
    <kind>/.provenance/<name>.json   where a promoted artifact came from (who, from where, version)
    .archive/<kind>/…         artifacts removed by ``archive_artifact`` (recoverable)
    CHANGELOG.jsonl           append-only: one line per change made through this class
    members/<user>            (team volumes) membership markers, see ``acl.py``

Every write is atomic and checked against the acting identity (``acl.py``); it appends to the
changelog and records an event (``ARTIFACT_CREATED`` / ``ARTIFACT_EVOLVED`` unless the caller
names another type, e.g. ``INSIGHT_GENERATED``). Writers of one volume hold its sidecar lock
``.volume.lock``. An unreadable file (not UTF-8, a dangling symlink, a symlink leaving the
workspace, a folder where a file should be) is reported — in ``problems``, ``get_stats()`` and
an ``ARTIFACT_SKIPPED`` event — and skipped; it never stops a listing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

from ..atomic import append_line, atomic_write_bytes, atomic_write_json, file_lock
from ..clock import iso_utc
from ..errors import LLMOSError, UsageError
from ..observability.events import EventType
from ..workspace import VOLUME_KINDS, Workspace
from .acl import Identity, VolumeAccessError, parse_scope, scope_owner, scope_type, team_members

KIND_SUFFIXES: dict[str, tuple[str, ...]] = {
    "traces": (".md",),
    "tools": (".py", ".json"),
    "agents": (".md",),
    "insights": (".md",),
    "suggestions": (".md",),
}
KIND_ALIASES = {
    "trace": "traces",
    "tool": "tools",
    "agent": "agents",
    "insight": "insights",
    "suggestion": "suggestions",
}
CHANGELOG = "CHANGELOG.jsonl"
PROVENANCE_DIR = ".provenance"
ARCHIVE_DIR = ".archive"
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
# Manifest keys that count use, not content: ignored by the fingerprint.
VOLATILE_MANIFEST_KEYS = frozenset(
    {
        "usage_count",
        "success_count",
        "failure_count",
        "last_used",
        "uses",
        "successes",
        "failures",
        "success_rate",
        "updated_at",
        "provenance",
        # the crystallizer's lifecycle fields (execution/replay/crystallized.py)
        "status",
        "status_reason",
        "status_changed_at",
        "history",
        "verification",
        "trace_usage_count",
        "trace_success_rate",
    }
)
_reported: set[tuple[str, float]] = set()
_reported_mutex = threading.Lock()
_held = threading.local()


@contextlib.contextmanager
def volume_lock(root: Path) -> Iterator[None]:
    """The volume's writer lock (``.volume.lock``), reentrant within a thread."""
    key = os.path.abspath(root)
    held = getattr(_held, "paths", None)
    if held is None:
        held = _held.paths = set()
    if key in held:
        yield
        return
    Path(root).mkdir(parents=True, exist_ok=True)
    with file_lock(Path(root) / ".volume"):
        held.add(key)
        try:
            yield
        finally:
            held.discard(key)


class ArtifactNotFound(LLMOSError):
    """No such artifact in the volume (exit 1)."""


class ArtifactReadError(LLMOSError):
    """An artifact's file exists but cannot be read or parsed (exit 1)."""


def check_kind(kind: str) -> str:
    value = KIND_ALIASES.get(str(kind), str(kind))
    if value not in KIND_SUFFIXES:
        raise UsageError(f"unknown artifact kind {kind!r} (choose from {', '.join(VOLUME_KINDS)})")
    return value


def check_name(kind: str, name: str) -> str:
    if not isinstance(name, str):
        raise UsageError(f"invalid artifact name {name!r}")
    for suffix in KIND_SUFFIXES[kind]:
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    if not _NAME_RE.fullmatch(name) or ".." in name or name.endswith((".tmp", ".lock")):
        raise UsageError(
            f"invalid artifact name {name!r}: use 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def version_tuple(version: Any) -> tuple[int, ...] | None:
    if version is None or isinstance(version, bool):
        return None
    parts = re.findall(r"\d+", str(version))
    return tuple(int(p) for p in parts) if parts else None


def compare_versions(a: Any, b: Any) -> int | None:
    """-1, 0 or 1 comparing two version strings/numbers ("1.2" < "1.10"); None if either is missing."""
    ta, tb = version_tuple(a), version_tuple(b)
    if ta is None or tb is None:
        return None
    width = max(len(ta), len(tb))
    ta, tb = ta + (0,) * (width - len(ta)), tb + (0,) * (width - len(tb))
    return (ta > tb) - (ta < tb)


def frontmatter_of(text: str) -> dict[str, Any]:
    """The YAML frontmatter of a markdown text; {} when there is none or it is broken."""
    from edgekit.frontmatter import read_lenient

    return read_lenient(text)[0]


def fingerprint(kind: str, files: Mapping[str, bytes]) -> str:
    """What identifies an artifact's content (not its use counters), as sha256 hex.

    Traces: goal, signature, slots, summary and calls (their counters and timestamps change
    with every use). Tools: the source and the manifest without use counters. Others: bytes.
    """
    digest = hashlib.sha256()
    if kind == "traces" and ".md" in files:
        from ..learning.traces import TraceFormatError, parse_trace

        try:
            trace = parse_trace(files[".md"].decode("utf-8"))
        except (TraceFormatError, UnicodeDecodeError):
            digest.update(files[".md"])
            return digest.hexdigest()
        canon = {
            "goal": trace.goal,
            "signature": trace.signature,
            "slots": trace.slots,
            "summary": trace.summary.strip(),
            "calls": [c.to_dict() for c in trace.calls],
        }
        digest.update(
            json.dumps(canon, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8")
        )
        return digest.hexdigest()
    for suffix in sorted(files):
        data = files[suffix]
        if kind == "tools" and suffix == ".json":
            try:
                manifest = json.loads(data)
                if isinstance(manifest, dict):
                    manifest = {
                        k: v for k, v in manifest.items() if k not in VOLATILE_MANIFEST_KEYS
                    }
                data = json.dumps(manifest, sort_keys=True, ensure_ascii=False).encode("utf-8")
            except ValueError:
                pass
        digest.update(suffix.encode() + b"\0" + data + b"\0")
    return digest.hexdigest()


@dataclass
class ArtifactInfo:
    scope: str
    kind: str
    name: str
    files: dict[str, str] = field(default_factory=dict)  # suffix -> workspace-relative path
    size: int = 0
    mtime: float = 0.0
    version: str | None = None
    sha256: str | None = None
    problem: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)  # trace counters, manifest fields…

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class WriteResult:
    action: str  # created | updated | unchanged
    info: ArtifactInfo
    event_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "event_id": self.event_id, **self.info.to_dict()}


@dataclass
class VolumeStats:
    scope: str
    type: str
    owner: str | None
    exists: bool
    counts: dict[str, int]
    bytes: int
    last_modified: str | None
    changes: int
    members: list[str]
    problems: list[dict[str, str]]

    @property
    def trace_count(self) -> int:
        return self.counts.get("traces", 0)

    @property
    def tool_count(self) -> int:
        return self.counts.get("tools", 0)

    @property
    def agent_count(self) -> int:
        return self.counts.get("agents", 0)

    @property
    def insight_count(self) -> int:
        return self.counts.get("insights", 0)

    @property
    def suggestion_count(self) -> int:
        return self.counts.get("suggestions", 0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Volume:
    """One scope's artifacts, seen and changed by one identity (None: read-only inspection)."""

    def __init__(
        self,
        workspace: Workspace | str | os.PathLike[str],
        scope: str,
        *,
        identity: Identity | None = None,
        events: Any = None,
    ) -> None:
        self.workspace = (
            workspace if isinstance(workspace, Workspace) else Workspace(Path(workspace))
        )
        self.scope = parse_scope(scope)
        self.root = self.workspace.volumes_dir / self.scope
        self.identity = identity
        self._events = events
        self.problems: list[dict[str, str]] = []

    def __repr__(self) -> str:
        return f"Volume({self.scope!r}, identity={self.identity.label if self.identity else None})"

    @property
    def type(self) -> str:
        return scope_type(self.scope)

    @property
    def owner(self) -> str | None:
        return scope_owner(self.scope)

    @property
    def events(self) -> Any:
        if self._events is None:
            from ..observability.events import EventLog

            self._events = EventLog(self.workspace.events_file)
        return self._events

    def exists(self) -> bool:
        return self.root.is_dir()

    # ---- access -------------------------------------------------------------------------
    def _check(self, access: str, what: str, actor: Identity | None = None) -> Identity | None:
        who = actor or self.identity
        if who is None:
            if access == "write":
                message = f"writing volumes/{self.scope}/{what} needs an identity (user, user_cron, team_cron or system_cron)"
                self._record(
                    EventType.VOLUME_ACCESS_DENIED,
                    source=None,
                    access=access,
                    volume=self.scope,
                    target=what,
                    message=message,
                )
                raise VolumeAccessError(message)
            return None
        who.check(access, self.scope, self.workspace, events=self.events, what=what)
        return who

    def _record(
        self,
        type: EventType,
        *,
        source: str | None,
        notify_user: bool = False,
        title: str | None = None,
        **data: Any,
    ) -> str | None:
        try:
            event = self.events.record(
                type, notify_user=notify_user, source=source, title=title, **data
            )
            return getattr(event, "id", None)
        except Exception:  # the volume never fails because of the log
            return None

    # ---- paths --------------------------------------------------------------------------
    def kind_dir(self, kind: str) -> Path:
        return self.root / check_kind(kind)

    def path_of(self, kind: str, name: str, suffix: str | None = None) -> Path:
        kind = check_kind(kind)
        name = check_name(kind, name)
        return self.root / kind / f"{name}{suffix or KIND_SUFFIXES[kind][0]}"

    def provenance_path(self, kind: str, name: str) -> Path:
        kind = check_kind(kind)
        return self.root / kind / PROVENANCE_DIR / f"{check_name(kind, name)}.json"

    def _rel(self, path: Path) -> str:
        try:
            return path.relative_to(self.workspace.root).as_posix()
        except ValueError:
            return str(path)

    # ---- listing ------------------------------------------------------------------------
    def _scan(self, kind: str) -> tuple[dict[str, dict[str, Path]], list[dict[str, str]]]:
        """{name: {suffix: path}} of a kind's folder, and the problems found."""
        folder = self.root / kind
        found: dict[str, dict[str, Path]] = {}
        problems: list[dict[str, str]] = []
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            return found, problems
        except OSError as exc:
            problems.append(
                {
                    "path": self._rel(folder),
                    "reason": f"cannot list the folder ({exc.strerror or exc})",
                }
            )
            return found, problems
        volumes_root = os.path.realpath(self.workspace.volumes_dir)
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            suffix = next(
                (s for s in KIND_SUFFIXES[kind] if name.endswith(s) and len(name) > len(s)), None
            )
            if suffix is None:
                continue
            stem = name[: -len(suffix)]
            path = Path(entry.path)
            reason = None
            try:
                if entry.is_symlink():
                    real = os.path.realpath(entry.path)
                    if not os.path.exists(real):
                        reason = "dangling symlink"
                    elif not (real + os.sep).startswith(volumes_root + os.sep):
                        reason = "symlink leading outside the workspace volumes"
                if reason is None and not entry.is_file():
                    reason = "not a regular file"
                if reason is None and not _NAME_RE.fullmatch(stem):
                    reason = "file name is not a valid artifact name"
            except OSError as exc:
                reason = f"cannot stat the file ({exc.strerror or exc})"
            if reason is not None:
                problems.append({"path": self._rel(path), "reason": reason})
                continue
            found.setdefault(stem, {})[suffix] = path
        main = KIND_SUFFIXES[kind][0]
        for stem in [s for s, files in found.items() if main not in files]:
            del found[stem]  # a manifest without its tool: not an artifact
        return found, problems

    def list_artifacts(self, kind: str) -> list[str]:
        """Names of a kind's artifacts, sorted (unreadable entries are in ``self.problems``)."""
        kind = check_kind(kind)
        self._check("read", kind)
        found, problems = self._scan(kind)
        self.problems = problems
        return sorted(found)

    def has_artifact(self, kind: str, name: str) -> bool:
        try:
            return self.path_of(kind, name).is_file()
        except UsageError:
            return False

    def read_files_unchecked(self, kind: str, name: str) -> dict[str, bytes]:
        """The artifact's files without the ACL check (the promoter checks its own rights)."""
        kind = check_kind(kind)
        name = check_name(kind, name)
        out: dict[str, bytes] = {}
        volumes_root = os.path.realpath(self.workspace.volumes_dir)
        for suffix in KIND_SUFFIXES[kind]:
            path = self.root / kind / f"{name}{suffix}"
            rel = self._rel(path)
            if not os.path.lexists(path):
                continue
            real = os.path.realpath(path)
            if not (real + os.sep).startswith(volumes_root + os.sep):
                raise ArtifactReadError(f"{rel}: a symlink leading outside the workspace volumes")
            try:
                with open(path, "rb") as handle:
                    out[suffix] = handle.read()
            except FileNotFoundError:
                raise ArtifactReadError(f"{rel}: dangling symlink") from None
            except IsADirectoryError:
                raise ArtifactReadError(f"{rel}: not a regular file") from None
            except OSError as exc:
                raise ArtifactReadError(
                    f"{rel}: cannot read the file ({exc.strerror or exc})"
                ) from None
        if KIND_SUFFIXES[kind][0] not in out:
            raise ArtifactNotFound(f"no {kind[:-1]} named {name!r} in volumes/{self.scope}")
        return out

    def read_artifact_bytes(self, kind: str, name: str) -> dict[str, bytes]:
        """Every file of an artifact: {suffix: bytes} (``.py`` and ``.json`` for a tool)."""
        kind = check_kind(kind)
        self._check("read", f"{kind}/{name}")
        return self.read_files_unchecked(kind, name)

    def read_artifact_files(self, kind: str, name: str) -> dict[str, str]:
        files = self.read_artifact_bytes(kind, name)
        out = {}
        for suffix, data in files.items():
            try:
                out[suffix] = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ArtifactReadError(
                    f"volumes/{self.scope}/{kind}/{name}{suffix}: not UTF-8 text "
                    f"({exc.reason} at byte {exc.start})"
                ) from None
        return out

    def read_artifact(self, kind: str, name: str) -> str:
        """The artifact's main file as text (the ``.py`` of a tool, the ``.md`` of the rest)."""
        kind = check_kind(kind)
        return self.read_artifact_files(kind, name)[KIND_SUFFIXES[kind][0]]

    def read_provenance(self, kind: str, name: str) -> dict[str, Any] | None:
        """Where a promoted artifact came from (None for one created here)."""
        path = self.provenance_path(kind, name)
        self._check("read", f"{check_kind(kind)}/{name}")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def artifact_info(self, kind: str, name: str) -> ArtifactInfo:
        """Size, mtime, version and content fingerprint of one artifact (read-checked)."""
        kind = check_kind(kind)
        name = check_name(kind, name)
        self._check("read", f"{kind}/{name}")
        return self.info_from_files(kind, name, self.read_files_unchecked(kind, name))

    def info_from_files(self, kind: str, name: str, files: Mapping[str, bytes]) -> ArtifactInfo:
        """The ArtifactInfo of ``files`` (as ``read_files_unchecked`` returns them)."""
        info = ArtifactInfo(scope=self.scope, kind=kind, name=name)
        for suffix, data in files.items():
            path = self.root / kind / f"{name}{suffix}"
            info.files[suffix] = self._rel(path)
            info.size += len(data)
            try:
                info.mtime = max(info.mtime, os.stat(path).st_mtime)
            except OSError:
                pass
        info.sha256 = fingerprint(kind, files)
        try:
            if kind == "tools" and ".json" in files:
                manifest = json.loads(files[".json"])
                if isinstance(manifest, dict):
                    info.version = (
                        None if manifest.get("version") is None else str(manifest["version"])
                    )
                    info.meta = {
                        k: manifest[k]
                        for k in (
                            "usage_count",
                            "success_count",
                            "failure_count",
                            "signature",
                            "source_trace",
                            "description",
                            "goal",
                            "status",
                        )
                        if k in manifest
                    }
            elif kind == "traces":
                from ..learning.traces import parse_trace

                trace = parse_trace(files[".md"].decode("utf-8"))
                info.meta = {
                    "id": trace.id,
                    "goal": trace.goal,
                    "signature": trace.signature,
                    "usage_count": trace.usage_count,
                    "success_count": trace.success_count,
                    "failure_count": trace.failure_count,
                    "last_used": trace.last_used,
                    "outcome": trace.outcome,
                    "parent_trace": trace.parent_trace,
                }
            elif kind != "tools":
                front = frontmatter_of(files[KIND_SUFFIXES[kind][0]].decode("utf-8"))
                if front.get("version") is not None:
                    info.version = str(front["version"])
                for key in ("title", "description", "name"):
                    if isinstance(front.get(key), str):
                        info.meta[key] = front[key]
        except (ValueError, UnicodeDecodeError, LLMOSError) as exc:
            info.problem = str(getattr(exc, "message", exc))
        return info

    def iter_artifacts(
        self, kind: str, *, report: bool = True
    ) -> Iterator[tuple[ArtifactInfo, dict[str, bytes]]]:
        """(info, files) of every readable artifact of a kind; unreadable ones are reported
        (``ARTIFACT_SKIPPED``, once per file version in this process) and skipped."""
        names = self.list_artifacts(kind)
        kind = check_kind(kind)
        problems = list(self.problems)
        for name in names:
            try:
                files = self.read_files_unchecked(kind, name)
            except ArtifactNotFound:
                continue
            except ArtifactReadError as exc:
                problems.append(
                    {"path": f"volumes/{self.scope}/{kind}/{name}", "reason": exc.message}
                )
                continue
            info = self.info_from_files(kind, name, files)
            if info.problem and kind == "traces":
                problems.append({"path": info.files.get(".md", name), "reason": info.problem})
                continue
            yield info, files
        self.problems = problems
        if report:
            self.report_problems(problems)

    def report_problems(self, problems: list[dict[str, str]]) -> None:
        for problem in problems:
            full = self.workspace.root / problem["path"]
            try:
                mtime = os.lstat(full).st_mtime
            except OSError:
                mtime = 0.0
            key = (str(full), mtime)
            with _reported_mutex:
                if key in _reported:
                    continue
                _reported.add(key)
            self._record(
                EventType.ARTIFACT_SKIPPED,
                source=self.identity.label if self.identity else None,
                volume=self.scope,
                path=problem["path"],
                reason=problem["reason"],
            )

    # ---- writing ------------------------------------------------------------------------
    def _encode(self, kind: str, content: Any) -> dict[str, bytes]:
        main = KIND_SUFFIXES[kind][0]
        if isinstance(content, (str, bytes)):
            content = {main: content}
        if not isinstance(content, Mapping) or not content:
            raise UsageError(
                f"artifact content must be text, bytes or a mapping of {'/'.join(KIND_SUFFIXES[kind])} to text"
            )
        out: dict[str, bytes] = {}
        for suffix, value in content.items():
            if suffix not in KIND_SUFFIXES[kind]:
                raise UsageError(
                    f"a {kind[:-1]} has no {suffix!r} file (allowed: {', '.join(KIND_SUFFIXES[kind])})"
                )
            if isinstance(value, (dict, list)) and suffix == ".json":
                value = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
            if isinstance(value, str):
                value = value.encode("utf-8")
            if not isinstance(value, bytes):
                raise UsageError(f"the {suffix} content must be text")
            if suffix == ".json":
                try:
                    json.loads(value)
                except ValueError as exc:
                    raise UsageError(f"the manifest is not valid JSON: {exc}") from None
            out[suffix] = value
        if main not in out:
            raise UsageError(f"a {kind[:-1]} needs its {main} file")
        return out

    def write_artifact(
        self,
        kind: str,
        name: str,
        content: Any,
        *,
        actor: Identity | None = None,
        reason: str | None = None,
        event_type: EventType | None = None,
        notify_user: bool = False,
        title: str | None = None,
        provenance: Mapping[str, Any] | None = None,
        event_data: Mapping[str, Any] | None = None,
        changelog_action: str | None = None,
    ) -> WriteResult:
        """Create or replace an artifact atomically (text, bytes, or {suffix: text} for a tool
        with its manifest). Unchanged content writes nothing and records nothing."""
        kind = check_kind(kind)
        name = check_name(kind, name)
        who = self._check("write", f"{kind}/{name}", actor)
        assert who is not None
        files = self._encode(kind, content)
        trace = None
        if kind == "traces":
            from ..learning.traces import TraceFormatError, parse_trace

            try:
                trace = parse_trace(files[".md"].decode("utf-8"), source=f"{kind}/{name}.md")
            except (TraceFormatError, UnicodeDecodeError) as exc:
                raise UsageError(f"not a valid trace: {getattr(exc, 'message', exc)}") from None
            if trace.id != name:
                raise UsageError(f"a trace file is named after its id: {trace.id!r}, not {name!r}")
        try:
            with volume_lock(self.root):
                action = self._write_locked(kind, name, files, trace)
                if action != "unchanged" and provenance is not None:
                    atomic_write_json(self.provenance_path(kind, name), dict(provenance))
        except OSError as exc:
            raise LLMOSError(f"cannot write volumes/{self.scope}/{kind}/{name}: {exc}") from None
        info = self.info_from_files(kind, name, files)
        if action == "unchanged":
            return WriteResult("unchanged", info)
        self._changelog(
            changelog_action or action, kind, name, who, info, reason, **dict(event_data or {})
        )
        etype = event_type or (
            EventType.ARTIFACT_CREATED if action == "created" else EventType.ARTIFACT_EVOLVED
        )
        event_id = self._record(
            etype,
            source=who.label,
            notify_user=notify_user,
            title=title,
            kind=kind,
            name=name,
            volume=self.scope,
            volume_type=self.type,
            actor=who.label,
            action=action,
            version=info.version,
            reason=reason,
            path=info.files.get(KIND_SUFFIXES[kind][0]),
            **dict(event_data or {}),
        )
        return WriteResult(action, info, event_id)

    def _write_locked(self, kind: str, name: str, files: dict[str, bytes], trace: Any) -> str:
        paths = {s: self.root / kind / f"{name}{s}" for s in files}
        existing: dict[str, bytes] = {}
        for suffix, path in paths.items():
            try:
                existing[suffix] = path.read_bytes()
            except OSError:
                pass
        main = KIND_SUFFIXES[kind][0]
        if existing == files:
            return "unchanged"
        action = "updated" if main in existing else "created"
        if trace is None:
            for suffix in sorted(files, key=lambda s: s == main):  # the main file last
                if existing.get(suffix) != files[suffix]:
                    atomic_write_bytes(paths[suffix], files[suffix])
            return action
        from ..learning.index import TraceIndex

        index = TraceIndex(self.workspace)
        with index.transaction():
            old = index.peek(trace.id)
            if (
                old is not None
                and old.volume != self.scope
                and (self.workspace.root / old.path).exists()
            ):
                raise UsageError(
                    f"trace {trace.id} already exists in volumes/{old.volume}; a copy in "
                    "another volume needs a new id (parent_trace keeps the link)"
                )
            atomic_write_bytes(paths[main], files[main])
            index.upsert(trace, paths[main], self.scope)
        return action

    def archive_artifact(
        self, kind: str, name: str, *, actor: Identity | None = None, reason: str | None = None
    ) -> list[str]:
        """Move an artifact to ``.archive/<kind>/`` (recoverable); returns the archived paths."""
        kind = check_kind(kind)
        name = check_name(kind, name)
        who = self._check("write", f"{kind}/{name}", actor)
        assert who is not None
        stamp = iso_utc().replace(":", "").replace("-", "").replace(".", "")
        moved: list[str] = []
        with volume_lock(self.root):
            files = self.read_files_unchecked(kind, name)
            info = self.info_from_files(kind, name, files)
            target_dir = self.root / ARCHIVE_DIR / kind
            target_dir.mkdir(parents=True, exist_ok=True)
            sources = [
                (self.root / kind / f"{name}{s}", target_dir / f"{name}.{stamp}{s}") for s in files
            ]
            prov = self.provenance_path(kind, name)
            if prov.exists():
                sources.append((prov, target_dir / f"{name}.{stamp}.provenance.json"))
            if kind == "traces":
                from ..learning.index import TraceIndex

                index = TraceIndex(self.workspace)
                with index.transaction():
                    for src, dst in sources:
                        os.replace(src, dst)
                        moved.append(self._rel(dst))
                    index.remove(str(info.meta.get("id") or name))
            else:
                for src, dst in sources:
                    os.replace(src, dst)
                    moved.append(self._rel(dst))
        self._changelog("archived", kind, name, who, info, reason, archived=moved)
        self._record(
            EventType.ARTIFACT_DELETED,
            source=who.label,
            kind=kind,
            name=name,
            volume=self.scope,
            volume_type=self.type,
            actor=who.label,
            reason=reason,
            archived=moved,
        )
        return moved

    # ---- changelog ----------------------------------------------------------------------
    @property
    def changelog_path(self) -> Path:
        return self.root / CHANGELOG

    def _changelog(
        self,
        action: str,
        kind: str,
        name: str,
        who: Identity,
        info: ArtifactInfo,
        reason: str | None,
        **extra: Any,
    ) -> None:
        entry = {
            "ts": iso_utc(),
            "action": action,
            "kind": kind,
            "name": name,
            "actor": who.label,
            "version": info.version,
            "sha256": info.sha256,
            "reason": reason,
            **extra,
        }
        self.log_change(entry)

    def log_change(self, entry: Mapping[str, Any]) -> None:
        """Append one line to the volume's changelog (never raises for I/O)."""
        try:
            append_line(
                self.changelog_path, json.dumps(dict(entry), ensure_ascii=False, default=str)
            )
        except OSError:
            pass

    def get_recent_changes(self, limit: int = 20) -> list[dict[str, Any]]:
        """The newest ``limit`` changelog entries, newest first (corrupt lines skipped)."""
        out: list[dict[str, Any]] = []
        for raw in _tail_lines(self.changelog_path, max(1, int(limit))):
            try:
                entry = json.loads(raw)
            except ValueError:
                continue
            if isinstance(entry, dict):
                out.append(entry)
        out.reverse()
        return out[:limit]

    # ---- stats --------------------------------------------------------------------------
    def get_stats(self) -> VolumeStats:
        self._check("read", "")
        counts: dict[str, int] = {}
        problems: list[dict[str, str]] = []
        size = 0
        newest = 0.0
        for kind in VOLUME_KINDS:
            found, kind_problems = self._scan(kind)
            problems.extend(kind_problems)
            counts[kind] = len(found)
            for files in found.values():
                for path in files.values():
                    try:
                        st = os.stat(path)
                    except OSError as exc:
                        problems.append(
                            {
                                "path": self._rel(path),
                                "reason": f"cannot stat ({exc.strerror or exc})",
                            }
                        )
                        continue
                    size += st.st_size
                    newest = max(newest, st.st_mtime)
        changes = 0
        try:
            with open(self.changelog_path, "rb") as handle:
                changes = sum(1 for line in handle if line.strip())
        except OSError:
            pass
        last = iso_utc(newest) if newest else None
        members = team_members(self.workspace, self.owner or "") if self.type == "team" else []
        self.problems = problems
        return VolumeStats(
            scope=self.scope,
            type=self.type,
            owner=self.owner,
            exists=self.exists(),
            counts=counts,
            bytes=size,
            last_modified=last,
            changes=changes,
            members=members,
            problems=problems,
        )


def _tail_lines(path: Path, count: int, *, block: int = 65536) -> list[bytes]:
    """The last ``count`` non-empty lines of a file, oldest first, reading backwards."""
    try:
        handle = open(path, "rb")
    except OSError:
        return []
    with handle:
        handle.seek(0, os.SEEK_END)
        end = handle.tell()
        data = b""
        pos = end
        while pos > 0 and data.count(b"\n") <= count:
            step = min(block, pos)
            pos -= step
            handle.seek(pos)
            data = handle.read(step) + data
        lines = [line for line in data.split(b"\n") if line.strip()]
        if pos > 0 and lines:
            lines = lines[1:]  # the first may be cut
        return lines[-count:]


# ---- the set of volumes -------------------------------------------------------------------


def list_scopes(workspace: Workspace) -> list[str]:
    """Every volume present: ``system``, ``teams/*``, ``users/*``."""
    out = []
    base = workspace.volumes_dir
    if (base / "system").is_dir():
        out.append("system")
    for group in ("teams", "users"):
        try:
            names = sorted(os.listdir(base / group))
        except OSError:
            continue
        for name in names:
            if name.startswith(".") or not (base / group / name).is_dir():
                continue
            try:
                out.append(parse_scope(f"{group}/{name}"))
            except UsageError:
                continue
    return out


def inheritance_chain(user: str | None, team: str | None) -> list[str]:
    """Where an artifact is looked up: the user's volume, then the team's, then the system's."""
    chain = []
    if user:
        chain.append(parse_scope(f"users/{user}"))
    if team:
        chain.append(parse_scope(f"teams/{team}"))
    chain.append("system")
    return chain


@dataclass
class ResolvedArtifact:
    scope: str
    kind: str
    name: str
    path: Path
    content: str
    info: ArtifactInfo


def resolve_artifact(
    workspace: Workspace,
    kind: str,
    name: str,
    *,
    user: str | None,
    team: str | None = None,
    identity: Identity | None = None,
    events: Any = None,
) -> ResolvedArtifact | None:
    """The first readable copy of an artifact in user, then team, then system volumes (None:
    nowhere). A copy that cannot be read is reported and the next scope is tried."""
    kind = check_kind(kind)
    name = check_name(kind, name)
    who = identity or (Identity.for_user(user, team) if user else None)
    for scope in inheritance_chain(user, team):
        volume = Volume(workspace, scope, identity=who, events=events)
        if not os.path.lexists(volume.path_of(kind, name)):
            continue
        try:
            files = volume.read_artifact_files(kind, name)
        except ArtifactNotFound:
            continue
        except ArtifactReadError as exc:
            volume.report_problems(
                [
                    {
                        "path": f"volumes/{scope}/{kind}/{name}{KIND_SUFFIXES[kind][0]}",
                        "reason": exc.message,
                    }
                ]
            )
            continue
        raw = {s: t.encode("utf-8") for s, t in files.items()}
        return ResolvedArtifact(
            scope=scope,
            kind=kind,
            name=name,
            path=volume.path_of(kind, name),
            content=files[KIND_SUFFIXES[kind][0]],
            info=volume.info_from_files(kind, name, raw),
        )
    return None


def resolve_all(
    workspace: Workspace,
    kind: str,
    *,
    user: str | None,
    team: str | None = None,
    identity: Identity | None = None,
) -> dict[str, str]:
    """{name: scope} of every artifact of a kind visible through inheritance (nearest wins)."""
    kind = check_kind(kind)
    who = identity or (Identity.for_user(user, team) if user else None)
    out: dict[str, str] = {}
    for scope in inheritance_chain(user, team):
        volume = Volume(workspace, scope, identity=who)
        try:
            names = volume.list_artifacts(kind)
        except VolumeAccessError:
            continue
        for name in names:
            out.setdefault(name, scope)
    return out
