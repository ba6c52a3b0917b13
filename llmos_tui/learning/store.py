"""TraceStore: trace files and the index, kept in step.

Every change writes the markdown file atomically and journals the index entry inside one
index transaction (see ``index.py``), so another process never sees one without the other.
Secrets are redacted first (``traces.redact_trace``): no file, index entry or cache holds one.
Read-modify-write updates of one trace (``record_outcome``) also hold a per-trace lock (one of
64 striped sidecar locks under ``state/locks/``), so two processes counting outcomes of the
same trace at once lose neither update.

Trust (``trust.py``): ``save`` into a ``users/`` volume records the content as this workspace's
own (``own=False`` for content from elsewhere, e.g. a bundle import); ``update`` keeps the level
of the content it replaces; ``record_outcome`` also counts the run in the local ledger for content
whose file counts were not all recorded here. Failing to write the trust store never fails a
save: the content then simply stays untrusted.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import zlib
from pathlib import Path
from typing import Any, Iterable, Iterator

from ..atomic import atomic_write_text, file_lock
from ..errors import LLMOSError, UsageError, WorkspaceError
from ..observability.events import EventType
from ..workspace import Workspace, safe_id
from .index import IndexEntry, TraceIndex
from .traces import (
    MAX_TRACE_BYTES,
    Trace,
    TraceFormatError,
    TraceNotFound,
    dump_trace,
    now_iso,
    parse_trace,
    redact_trace,
)

LOCK_STRIPES = 64


def check_volume(volume: str) -> str:
    """``system``, ``teams/<team>`` or ``users/<user>``; anything else is a usage error."""
    if volume == "system":
        return volume
    kind, _, name = volume.partition("/")
    if kind == "users":
        return f"users/{safe_id(name, 'user')}"
    if kind == "teams":
        return f"teams/{safe_id(name, 'team')}"
    raise WorkspaceError(
        f"invalid volume {volume!r}: use 'system', 'teams/<team>' or 'users/<user>'"
    )


class TraceStore:
    def __init__(
        self, workspace: Workspace, index: TraceIndex | None = None, events: Any = None
    ) -> None:
        self.workspace = workspace
        self.root = Path(workspace.root)
        if events is None:
            from ..observability.events import EventLog

            events = EventLog(workspace.events_file)
        self.events = events
        self.index = index if index is not None else TraceIndex(workspace, events=events)
        self._parsed: Any = None
        self._trust: Any = None

    @property
    def trust(self):
        """The workspace's trust store (``trust.py``): own content, approvals, local run counts."""
        if self._trust is None:
            from .trust import TrustStore

            self._trust = TrustStore(self.workspace)
        return self._trust

    def _trust_write(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> None:
        try:
            fn(*args, **kwargs)
        except (LLMOSError, OSError) as exc:
            self.events.record(
                EventType.TRUST_WRITE_FAILED,
                what=what,
                error=str(getattr(exc, "message", exc))[:300],
            )

    @property
    def parsed(self):
        """Parsed trace files by content (``parsed_cache``): a replay's reads skip PyYAML."""
        if self._parsed is None:
            from .parsed_cache import ParsedTraceCache

            self._parsed = ParsedTraceCache(self.workspace.state_dir)
        return self._parsed

    def flush_cache(self) -> None:
        """Write the parsed-trace cache if this store added to it (the kernel, after each run)."""
        if self._parsed is not None:
            self._parsed.flush()

    # ---- paths ---------------------------------------------------------------------------
    def trace_path(self, trace_id: str, volume: str) -> Path:
        return self.root / "volumes" / check_volume(volume) / "traces" / f"{trace_id}.md"

    def entry(self, trace_id: str) -> IndexEntry:
        entry = self.index.get(trace_id)
        if entry is None:
            raise TraceNotFound(f"no trace with id {trace_id!r} (see `llmos traces list`)")
        return entry

    def path_of(self, trace_id: str) -> Path:
        return self.root / self.entry(trace_id).path

    @contextlib.contextmanager
    def _trace_lock(self, trace_id: str) -> Iterator[None]:
        stripe = zlib.crc32(trace_id.encode("utf-8")) % LOCK_STRIPES
        lock = file_lock(self.workspace.state_dir / "locks" / f"trace-{stripe:02d}")
        try:
            lock.__enter__()
        except OSError as exc:
            raise WorkspaceError(
                f"cannot lock trace {trace_id} under {self.workspace.state_dir}: {exc}"
            ) from None
        try:
            yield
        finally:
            lock.__exit__(None, None, None)

    # ---- writing ---------------------------------------------------------------------------
    def save(self, trace: Trace, *, volume: str, own: bool | None = None) -> Path:
        """Write ``volumes/<volume>/traces/<id>.md`` atomically and index it.

        ``own`` (default: the volume is a ``users/`` one) records the content as written here;
        pass ``own=False`` for content from elsewhere (it stays untrusted until approved)."""
        mine = check_volume(volume).startswith("users/") if own is None else bool(own)
        if not mine:
            self.trust.data()  # a workspace from before trust levels adopts its own traces first
        with self._trace_lock(trace.id):
            path = self._save_locked(trace, volume)
        if mine:
            self._trust_write("own", self.trust.record_own, trace)
        return path

    def _save_locked(self, trace: Trace, volume: str, *, cache: bool = False) -> Path:
        """``cache``: remember the parsed form of the text written (only for a trace that was
        itself parsed from a file and changed in its counts, so that parsing the text gives it
        back exactly)."""
        volume = check_volume(volume)
        trace = redact_trace(
            trace
        )  # no secret is ever written (the file, the index, the parsed cache)
        text = dump_trace(trace)  # validates first: nothing is written for a bad trace
        path = self.trace_path(trace.id, volume)
        with self.index.transaction() as index:
            old = index.peek(trace.id)
            if old is not None and (self.root / old.path).exists():
                if old.volume != volume:
                    raise LLMOSError(
                        f"trace {trace.id} already exists in volumes/{old.volume}; a copy "
                        "in another volume needs a new id (parent_trace keeps the link)"
                    )
                path = self.root / old.path  # an update stays in its file, even one renamed by hand
            try:
                atomic_write_text(path, text)
            except OSError as exc:
                raise WorkspaceError(f"cannot write the trace file {path}: {exc}") from None
            try:
                index.upsert(trace, path, volume)
            except WorkspaceError:
                if (
                    old is None
                ):  # a new trace that could not be indexed was not saved: no file either
                    with contextlib.suppress(OSError):
                        path.unlink()
                raise
        if cache:
            self.parsed.put(text, trace)
        return path

    def record_outcome(
        self, trace_id: str, success: bool, *, when: _dt.datetime | float | None = None
    ) -> Trace:
        """Count one more use of a trace (a replay or a guided run) and its outcome."""
        with self._trace_lock(trace_id):
            entry = self.entry(trace_id)
            trace = self.read_trace_file(self.root / entry.path)
            trace.usage_count += 1
            if success:
                trace.success_count += 1
            else:
                trace.failure_count += 1
            trace.last_used = now_iso(when)
            self._save_locked(trace, entry.volume, cache=True)
        self._trust_write("runs", self.trust.count_run, trace, success, entry.volume)
        return trace

    def add_alias(
        self, trace_id: str, phrase: str, substitutions: dict[str, str] | None = None
    ) -> bool:
        """Record *phrase* as an approved phrasing of the trace (frontmatter ``aliases``), with
        the ``{old: new}`` values its replay put into the calls. False when it adds nothing
        (the trace's own goal, or already listed). The oldest alias goes past ``MAX_ALIASES``."""
        from .traces import MAX_ALIASES, alias_phrase, make_alias, normalize_goal

        item = make_alias(phrase, substitutions)
        key = normalize_goal(alias_phrase(item))
        if not key:
            raise LLMOSError("an alias needs words (it is empty after normalization)")
        with self._trace_lock(trace_id):
            entry = self.entry(trace_id)
            trace = self.read_trace_file(self.root / entry.path)
            if key == normalize_goal(trace.goal) or any(
                normalize_goal(p) == key for p in trace.alias_phrases()
            ):
                return False
            trace.aliases = [*trace.aliases, item][-MAX_ALIASES:]
            self._save_locked(trace, entry.volume, cache=True)
        self.events.record(EventType.ALIAS_ADDED, trace_id=trace_id, alias=alias_phrase(item)[:200])
        return True

    def remove_alias(self, trace_id: str, phrase: str) -> str:
        """Remove the alias that equals *phrase* after normalization; returns it as it was
        written. A :class:`LLMOSError` (usage) when the trace has no such alias."""
        from ..errors import UsageError
        from .traces import normalize_goal

        key = normalize_goal(phrase)
        with self._trace_lock(trace_id):
            entry = self.entry(trace_id)
            trace = self.read_trace_file(self.root / entry.path)
            phrases = trace.alias_phrases()
            hit = next((i for i, p in enumerate(phrases) if normalize_goal(p) == key), None)
            if hit is None:
                listed = "; ".join(repr(p) for p in phrases) or "none"
                raise UsageError(
                    f"trace {trace_id} has no alias {phrase!r} (its aliases: {listed})"
                )
            removed = phrases[hit]
            trace.aliases = [a for i, a in enumerate(trace.aliases) if i != hit]
            self._save_locked(trace, entry.volume, cache=True)
        self.events.record(EventType.ALIAS_REMOVED, trace_id=trace_id, alias=removed[:200])
        return removed

    def update(self, trace: Trace) -> Path:
        """Rewrite an existing trace in the volume it lives in (its content keeps its trust level)."""
        with self._trace_lock(trace.id):
            entry = self.entry(trace.id)
            try:
                old: Trace | None = self.read_trace_file(self.root / entry.path)
            except LLMOSError:
                old = None
            path = self._save_locked(trace, entry.volume)
        if old is not None:
            self._trust_write("update", self.trust.carry_over, old, trace)
        return path

    def delete(self, trace_id: str) -> Path:
        with self._trace_lock(trace_id):
            with self.index.transaction() as index:
                entry = index.peek(trace_id)
                if entry is None:
                    raise TraceNotFound(f"no trace with id {trace_id!r} (see `llmos traces list`)")
                path = self.root / entry.path
                try:
                    path.unlink()
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    raise WorkspaceError(f"cannot delete {path}: {exc}") from None
                index.remove(trace_id)
                return path

    # ---- reading ---------------------------------------------------------------------------
    def read_trace_file(self, path: Path) -> Trace:
        rel = (
            path.relative_to(self.root).as_posix() if path.is_relative_to(self.root) else str(path)
        )
        try:
            with open(path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                if size > MAX_TRACE_BYTES:
                    raise TraceFormatError(
                        f"the file is {size} bytes, over the {MAX_TRACE_BYTES}-byte limit "
                        "(refused)",
                        source=rel,
                    )
                text = handle.read().decode("utf-8")
        except FileNotFoundError:
            raise TraceNotFound(
                f"the trace file {rel} is gone (run `llmos traces reindex`)"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise TraceFormatError(f"cannot read the file ({exc})", source=rel) from None
        cached = self.parsed.get(text)
        if cached is not None:
            return cached
        trace = parse_trace(text, source=rel)
        self.parsed.put(text, trace)
        return trace

    def get(self, trace_id: str) -> Trace:
        entry = self.entry(trace_id)
        path = self.root / entry.path
        try:
            mtime = os.stat(path).st_mtime
        except FileNotFoundError:
            self.index.resync([entry.volume])
            raise TraceNotFound(
                f"no trace with id {trace_id!r} (its file {entry.path} is gone)"
            ) from None
        trace = self.read_trace_file(path)
        if mtime != entry.mtime or trace.id != entry.id:
            # Edited in place (same folder mtime): bring the index in step with the file.
            self.index.resync([entry.volume])
            if trace.id != trace_id:
                raise TraceNotFound(
                    f"no trace with id {trace_id!r} (its file now holds {trace.id})"
                )
        return trace

    def read_text(self, trace_id: str) -> str:
        path = self.path_of(trace_id)
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise TraceNotFound(
                f"no trace with id {trace_id!r} (its file {path} is gone)"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise TraceFormatError(f"cannot read the file ({exc})", source=str(path)) from None

    def iter_traces(self, volumes: Iterable[str] | None = None) -> Iterator[Trace]:
        """Every readable trace (optionally of some volumes), oldest first; broken ones reported."""
        entries = sorted(self.index.entries(volumes), key=lambda e: (e.created_at, e.id))
        for entry in entries:
            try:
                yield self.read_trace_file(self.root / entry.path)
            except TraceNotFound:
                continue
            except TraceFormatError as exc:
                self.index.report_skip(entry.path, exc.reason)


def register_appliers(hub: Any) -> None:
    """``trust.approve`` proposals (``trust.py``): accepting one approves the trace's content, if
    still the same."""
    from .trust import OWN, PROPOSAL_KIND, approve_trace

    def apply(payload: dict[str, Any]) -> str:

        trace_id, sha = payload.get("trace_id"), payload.get("sha256")
        if not isinstance(trace_id, str) or not isinstance(sha, str):
            raise UsageError("the trust.approve payload lacks trace_id or sha256")
        ws = hub.workspace
        store = TraceStore(ws, index=TraceIndex(ws, events=hub), events=hub)
        by = hub.config.user if hub.config is not None else "user"
        record = approve_trace(store, trace_id, by=by, expect_sha=sha)
        if record.get("level") == OWN:
            return f"trace {trace_id} is this workspace's own content; nothing to approve"
        if record.get("already"):
            return f"trace {trace_id} (sha256 {sha[:12]}…) was already approved by {record.get('approved_by')}"
        return (
            f"approved trace {trace_id} (sha256 {sha[:12]}…) by {by}: it may now be replayed and crystallized "
            "here; a changed file needs a new approval"
        )

    hub.register_applier(PROPOSAL_KIND, apply)
