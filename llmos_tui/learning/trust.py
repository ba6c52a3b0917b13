"""Trust levels: content from others never runs on trust.

Every trace is one of three **levels** here:

``own``
    its content was written by this workspace's own code (``TraceStore.save`` into a ``users/``
    volume: the kernel recording a run, a test or a script using the engine) and has not changed
    since. A promoted copy of own content (same content, another id, e.g. in the team volume)
    is own too.
``approved``
    somebody approved this exact content here (``llmos traces approve ID``, or accepting its
    ``trust.approve`` item in ``llmos inbox`` / the TUI inbox): who, when, which file.
``untrusted``
    everything else: team and system volumes (git pulls, promotions by other workspaces),
    imported bundles, files copied in by hand, and any file whose content changed since it was
    recorded or approved.

Its **origin** says where it came from: ``own``, ``shared`` (a ``teams/`` or ``system`` volume) or
``imported`` (a ``users/`` volume, but not written here: a bundle, a copied file).

Trust is decided from where content came from and what its bytes are, never from fields inside
the file. The key is :func:`content_hash`: sha256 over the canonical form of everything that
decides what a trace runs and when it matches (goal, signature, slots, summary, outcome and every
call with its input and recorded result). It leaves out the run bookkeeping that the kernel and
the git merge rewrite on every use (usage/success/failure counts, ``last_used``) and the links
(``id``, ``parent_trace``, ``crystallized_tool``); those are never trusted from a file anyway.
A crystallized tool is trusted exactly when it runs the calls and slots of a trusted trace
(``tool_problem`` in ``execution/replay/crystallized.py``): its module is checked to be what the crystallizer generates from that
data, so it runs nothing else.

What untrusted content may do: be listed, searched, shown, and guide a MIXED run as an example.
What it may not do without approval: FOLLOWER replay, CRYSTALLIZED run, crystallization (whose
verification runs the calls), being offered as a crystallized tool to a LEARNER session, or being
run by a cron. The kernel (:func:`gate_replay`) turns such a decision into MIXED (or LEARNER)
and leaves one inbox item per content hash (:func:`request_approval`) that shows exactly the
calls; crons leave the same item instead of crystallizing.

Counts: replay confidence (the matcher's track-record gate and the choice between traces of the
same goal) and crystallization use only counts recorded here. An own trace in a ``users/``
volume keeps its file counts (the kernel wrote every one of them); for every other trace the
counts are the local run ledger (``runs``: uses, successes and failures of replays run here, per
trace id and content hash), so counts inside a shared or imported file never count.

Storage, under ``state/`` (tool calls may neither read nor write it): ``trust-own.log`` lists own
content, one ``<trace id> <sha256>`` line per trace written here (appended under its lock; the
last line for an id wins; a torn last line is ignored), and ``trust.json``, written atomically
under ``trust.json.lock``::

    {"format": 1,
     "approved": {sha256: {"kind", "id", "path", "volume", "origin", "approved_by", "at"}},
     "requests": {sha256: {"event_id", "id", "path", "volume", "origin", "at", "reason"}},
     "runs": {trace_id: [sha256, uses, successes, failures]}}

A workspace created before trust levels existed has no ``trust.json``: the first load adopts the
traces then present in its ``users/`` volumes as own, once (``adopted`` says when and how many);
a new workspace starts with an empty file (``Workspace.ensure``). Losing a write (a full disk, or
an own-log line not yet on disk at an OS crash: that append is not fsynced, to keep a recorded run
cheap) is safe: the content is then simply untrusted and asks for approval.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from .. import records
from ..digest import sha256
from ..atomic import append_bytes, atomic_write_text, file_lock
from ..clock import iso_utc
from ..errors import LLMOSError, WorkspaceError
from ..runs import Mode
from ..observability.events import EventType
from ..redact import LazyRegex  # module patterns: compiled on first use

if TYPE_CHECKING:  # pragma: no cover
    from ..config import LLMOSConfig

FORMAT = 1
TRUST_FILE = "trust.json"
OWN_LOG = "trust-own.log"
OWN, APPROVED, UNTRUSTED = "own", "approved", "untrusted"
LEVELS = (OWN, APPROVED, UNTRUSTED)
PROPOSAL_KIND = "trust.approve"
# The module whose register_appliers applies PROPOSAL_KIND (it needs the trace store).
APPLIER_MODULE = "llmos_tui.learning.store"
_DOMAIN = b"llmos-trace-content-v1\n"
_TRACE_ID_RE = LazyRegex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


_CORRUPT: Any = {"corrupt": True}  # what _read_file returns for an unreadable file


def _empty() -> dict[str, Any]:
    return {"format": FORMAT, "own": {}, "approved": {}, "requests": {}, "runs": {}}


# ---- content ---------------------------------------------------------------------------------------


def content_hash(trace: Any) -> str:
    """sha256 (hex) of what a trace runs and when it matches; see the module docstring."""
    canon = {
        "goal": trace.goal,
        "signature": trace.signature,
        "slots": trace.slots,
        "summary": (trace.summary or "").strip(),
        "outcome": trace.outcome,
        "calls": [c.to_dict() for c in trace.calls],
    }
    text = json.dumps(canon, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return sha256(_DOMAIN + text.encode("utf-8", "surrogatepass")).hexdigest()


def origin_of(volume: str, level: str) -> str:
    """``own`` | ``shared`` (team/system volume) | ``imported`` (a user volume, not written here)."""
    if level == OWN:
        return OWN
    return "imported" if str(volume).startswith("users/") else "shared"


def calls_preview(trace: Any, *, volume: str = "", path: str = "", sha: str | None = None) -> str:
    """The exact calls a replay of ``trace`` would run, for an approval dialog or the inbox."""
    sha = sha or content_hash(trace)
    where = f" in {path}" if path else (f" in volumes/{volume}" if volume else "")
    lines = [f"Trace {trace.id}{where}", f"content sha256 {sha}", f"Goal: {trace.goal}", ""]
    if not trace.calls:
        lines.append("It runs no tool call.")
    else:
        lines.append(
            f"A replay runs these {len(trace.calls)} call(s), in order "
            "({{cwd}} is the run's working directory):"
        )
        for number, call in enumerate(trace.calls, start=1):
            lines.append(f"{number:>3}. {call.name}")
            body = json.dumps(call.input, ensure_ascii=False, indent=2, sort_keys=True, default=str)
            lines.extend("       " + line for line in body.splitlines())
    if trace.slots:
        lines += [
            "",
            "Values a matching goal may substitute (slots): "
            + json.dumps(trace.slots, ensure_ascii=False, sort_keys=True, default=str),
        ]
    return "\n".join(lines) + "\n"


def init_workspace_trust(workspace: Any) -> None:
    """A new workspace trusts nothing it did not write: its trust store starts empty, so nothing
    put in it later is adopted as own (``on_create`` of ``open_workspace``/``Workspace.ensure``,
    passed by the kernel, the CLI and every other caller that creates a workspace)."""
    TrustStore.init_file(Path(workspace.state_dir))


# ---- the store -------------------------------------------------------------------------------------


class TrustStore:
    """The trust state of one workspace: ``state/trust.json`` (approvals, requests, local run counts)
    and ``state/trust-own.log`` (own content: one ``<trace id> <sha256>`` line per trace written here,
    appended, so recording a new trace costs one append and not a rewrite)."""

    def __init__(self, workspace: Any) -> None:
        self.workspace = workspace
        self.path = Path(workspace.state_dir) / TRUST_FILE
        self.own_path = Path(workspace.state_dir) / OWN_LOG
        self._data: dict[str, Any] | None = None
        self._sig: tuple[int, int, int] | None = None
        self._own: dict[str, str] = {}
        self._own_hashes: set[str] = set()
        self._own_at: tuple[int, int] | None = None  # (inode, bytes read) of the own log

    # -- reading ---------------------------------------------------------------------------------
    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise WorkspaceError(f"cannot read {self.path}: {exc}") from None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def _read_file(self) -> dict[str, Any] | None:
        """The stored content; None when missing, ``_CORRUPT`` when unreadable."""
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except UnicodeDecodeError:
            return _CORRUPT
        except OSError as exc:
            raise WorkspaceError(f"cannot read {self.path}: {exc}") from None
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            return _CORRUPT
        out = _empty()
        for key in ("approved", "requests", "runs"):
            if isinstance(data.get(key), dict):
                out[key] = data[key]
        for key, value in data.items():
            out.setdefault(key, value)
        return out

    def _checked(self) -> dict[str, Any] | None:
        """``_read_file`` for a caller holding the lock: an unreadable file is set aside."""
        data = self._read_file()
        return self._set_aside() if data is _CORRUPT else data

    def _set_aside(self) -> dict[str, Any]:
        """An unreadable trust.json (edited by hand, another format), the lock held: moved aside and
        replaced by an empty store, so nothing is approved (fail closed) and nothing is adopted."""
        aside = self.path.with_name(
            f"{TRUST_FILE}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
        )
        try:
            os.replace(self.path, aside)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise WorkspaceError(
                f"{self.path} is unreadable and cannot be moved aside: {exc}"
            ) from None
        data = _empty()
        data["reset"] = {
            "at": iso_utc(),
            "why": f"unreadable; moved aside to {aside.name}; approvals must be given again",
        }
        self._write(data)
        import logging

        logging.getLogger("llmos.learning.trust").warning(
            "%s was unreadable: moved aside to %s", self.path, aside
        )
        return data

    def data(self) -> dict[str, Any]:
        """The current content, ``own`` included (re-read when a file changed; a workspace from before
        trust levels adopts its users/ traces first)."""
        sig = self._stat()
        if sig is None:
            self._adopt()
            sig = self._stat()
        if self._data is None or sig != self._sig:
            data = self._read_file()
            if data is _CORRUPT:
                with file_lock(self.path):
                    data = self._checked()
                sig = self._stat()
            self._data, self._sig = data or _empty(), sig
        self._load_own()
        self._data["own"] = self._own
        return self._data

    def _load_own(self) -> None:
        """Read what was appended to the own log since the last read (all of it after a rewrite)."""
        try:
            handle = open(self.own_path, "rb")
        except FileNotFoundError:
            self._own, self._own_hashes, self._own_at = {}, set(), None
            return
        except OSError as exc:
            raise WorkspaceError(f"cannot read {self.own_path}: {exc}") from None
        with handle:
            st = os.fstat(handle.fileno())
            start = 0
            if (
                self._own_at is not None
                and self._own_at[0] == st.st_ino
                and self._own_at[1] <= st.st_size
            ):
                start = self._own_at[1]
                if start == st.st_size:
                    return
            else:
                self._own, self._own_hashes = {}, set()
            handle.seek(start)
            chunk = handle.read(st.st_size - start)
        end = chunk.rfind(b"\n") + 1  # a torn last line is read once it is complete
        own, hashes = self._own, self._own_hashes
        for line in chunk[:end].decode("ascii", "replace").split("\n"):
            tid, _, sha = line.partition(" ")
            if len(sha) == 64 and tid:  # anything else (a torn fragment) is skipped
                own[tid] = sha
                hashes.add(sha)
        self._own_at = (st.st_ino, start + end)

    # -- writing ---------------------------------------------------------------------------------
    def _write(self, data: dict[str, Any]) -> None:
        stored = {k: v for k, v in data.items() if k != "own"}
        text = json.dumps(stored, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        try:
            atomic_write_text(self.path, text + "\n", mode=0o600)
        except OSError as exc:
            raise WorkspaceError(f"cannot write {self.path}: {exc}") from None
        self._data, self._sig = data, self._stat()

    def _mutate(self, change: Any) -> Any:
        """Read-modify-write of ``trust.json`` under its lock; ``change(data)`` edits ``data`` in place."""
        self.data()  # adopts first when needed
        with file_lock(self.path):
            data = self._checked() or _empty()
            result = change(data)
            self._write(data)
        return result

    def _append_own(self, rows: Iterable[tuple[str, str]]) -> None:
        payload = "".join(f"{tid} {sha}\n" for tid, sha in rows).encode("ascii")
        if not payload:
            return
        self.own_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with file_lock(self.own_path):
                append_bytes(
                    self.own_path, payload, fsync=False
                )  # lost on an OS crash: untrusted, never wrongly trusted
        except OSError as exc:
            raise WorkspaceError(f"cannot write {self.own_path}: {exc}") from None

    def _adopt(self) -> None:
        """A workspace from before trust levels (no trust.json): its users/ traces become own, once."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(self.path):
            if self.path.exists():
                return
            rows = self._legacy_rows()
            self._append_own(rows)
            data = _empty()
            data["adopted"] = {
                "at": iso_utc(),
                "traces": len(rows),
                "why": "present in users/ volumes when this workspace first used trust levels",
            }
            self._write(data)

    def _legacy_rows(self) -> list[tuple[str, str]]:
        from .traces import TraceFormatError, parse_trace

        rows: list[tuple[str, str]] = []
        base = Path(self.workspace.volumes_dir) / "users"
        try:
            users = sorted(p for p in base.iterdir() if p.is_dir())
        except OSError:
            users = []
        for user in users:
            try:
                files = sorted((user / "traces").glob("*.md"))
            except OSError:
                continue
            for path in files:
                try:
                    trace = parse_trace(path.read_text(encoding="utf-8"))
                except (OSError, UnicodeDecodeError, TraceFormatError):
                    continue
                if _TRACE_ID_RE.fullmatch(trace.id):
                    rows.append((trace.id, content_hash(trace)))
        return rows

    @staticmethod
    def init_file(state_dir: Path) -> None:
        """An empty store for a new workspace (nothing to adopt); never replaces an existing one."""
        path = Path(state_dir) / TRUST_FILE
        if path.exists():
            return
        with file_lock(path):
            if not path.exists():
                stored = {k: v for k, v in _empty().items() if k != "own"}
                atomic_write_text(
                    path,
                    json.dumps(stored, separators=(",", ":"), sort_keys=True) + "\n",
                    mode=0o600,
                )

    # -- levels ----------------------------------------------------------------------------------
    def level(self, trace: Any, sha: str | None = None) -> str:
        sha = sha or content_hash(trace)
        data = self.data()
        if data["own"].get(trace.id) == sha or sha in self._own_hashes:
            return OWN
        if sha in data["approved"]:
            return APPROVED
        return UNTRUSTED

    def approval(self, sha: str) -> dict[str, Any] | None:
        record = self.data()["approved"].get(sha)
        return dict(record) if isinstance(record, dict) else None

    def record_own(self, trace: Any) -> str:
        """Record ``trace``'s content as written here (``TraceStore.save`` does it for users/ volumes)."""
        sha = content_hash(trace)
        if self.data()["own"].get(trace.id) != sha:
            self._append_own([(trace.id, sha)])
        return sha

    def record_own_many(self, traces: Iterable[Any]) -> int:
        """``record_own`` for many traces in one append (seeding a workspace in bulk, e.g. a benchmark)."""
        own = self.data()["own"]
        rows = [(t.id, sha) for t in traces for sha in (content_hash(t),) if own.get(t.id) != sha]
        self._append_own(rows)
        return len(rows)

    def approve(
        self,
        trace: Any,
        *,
        by: str,
        path: str = "",
        volume: str = "",
        kind: str = "trace",
        sha: str | None = None,
        note: str | None = None,
    ) -> dict[str, Any]:
        """Record that ``by`` approved this exact content (idempotent: the first approval stays)."""
        sha = sha or content_hash(trace)
        record = {
            "kind": kind,
            "id": trace.id,
            "path": path,
            "volume": volume,
            "origin": origin_of(volume, UNTRUSTED),
            "approved_by": by,
            "at": iso_utc(),
        }
        if note:
            record["note"] = note

        def change(data: dict[str, Any]) -> dict[str, Any]:
            existing = data["approved"].get(sha)
            if isinstance(existing, dict):
                return existing
            data["approved"][sha] = record
            return record

        return self._mutate(change)

    def carry_over(self, old: Any, new: Any) -> None:
        """A local update (``TraceStore.update``) changed a trace's content: the new content keeps the
        old one's level (own stays own, approved stays approved; untrusted stays untrusted)."""
        old_sha, new_sha = content_hash(old), content_hash(new)
        if old_sha == new_sha:
            return
        level = self.level(old, old_sha)
        if level == OWN:
            self._append_own([(new.id, new_sha)])
        elif level == APPROVED:
            prior = self.approval(old_sha) or {}
            self.approve(
                new,
                by=str(prior.get("approved_by") or "user"),
                path=str(prior.get("path") or ""),
                volume=str(prior.get("volume") or ""),
                sha=new_sha,
                note=f"updated locally from approved content {old_sha[:16]}",
            )

    # -- requests --------------------------------------------------------------------------------
    def request_of(self, sha: str) -> dict[str, Any] | None:
        record = self.data()["requests"].get(sha)
        return dict(record) if isinstance(record, dict) else None

    def add_request(self, sha: str, record: dict[str, Any]) -> bool:
        """Remember one request per content hash; False when there is one already."""

        def change(data: dict[str, Any]) -> bool:
            if sha in data["requests"]:
                return False
            data["requests"][sha] = record
            return True

        return self._mutate(change)

    def pending(self) -> list[dict[str, Any]]:
        """Requests whose content is not approved yet (oldest first), each with its ``sha256``."""
        data = self.data()
        rows = [
            dict(rec, sha256=sha)
            for sha, rec in data["requests"].items()
            if isinstance(rec, dict) and sha not in data["approved"] and sha not in self._own_hashes
        ]
        return sorted(rows, key=lambda r: (str(r.get("at", "")), str(r.get("id", ""))))

    # -- counts ----------------------------------------------------------------------------------
    def file_counts_are_local(self, trace_id: str, volume: str, sha: str | None = None) -> bool:
        """An own trace in a users/ volume: every count in its file was recorded here."""
        own = self.data()["own"].get(trace_id)
        return own is not None and str(volume).startswith("users/") and (sha is None or own == sha)

    def local_counts(
        self, trace: Any, volume: str, sha: str | None = None
    ) -> tuple[int, int, int] | None:
        """(uses, successes, failures) recorded here, or None when the file's counts are local."""
        sha = sha or content_hash(trace)
        if self.file_counts_are_local(trace.id, volume, sha):
            return None
        row = self.data()["runs"].get(trace.id)
        if isinstance(row, list) and len(row) == 4 and row[0] == sha:
            return int(row[1]), int(row[2]), int(row[3])
        return 0, 0, 0

    def count_run(self, trace: Any, success: bool, volume: str) -> None:
        """A replay (or crystallized run) of ``trace`` ran here: count it in the local ledger (an own
        trace in a users/ volume counts in its file already; only trusted content is replayed)."""
        if self.file_counts_are_local(trace.id, volume):
            return
        sha = content_hash(trace)

        def change(data: dict[str, Any]) -> None:
            row = data["runs"].get(trace.id)
            if not (isinstance(row, list) and len(row) == 4 and row[0] == sha):
                row = [sha, 0, 0, 0]
            row[1] += 1
            row[2 if success else 3] += 1
            data["runs"][trace.id] = row

        self._mutate(change)

    def local_view(self, trace: Any, volume: str) -> Any:
        """``trace`` with the counts recorded here (itself when its file counts are local)."""
        counts = self.local_counts(trace, volume)
        if counts is None:
            return trace
        uses, ok, bad = counts
        return records.replace(trace, usage_count=uses, success_count=ok, failure_count=bad)

    def effective_entries(self, entries: list[Any]) -> list[Any]:
        """Index entries for the matcher, with local counts for every trace that is not own content
        in a users/ volume (by id: the content itself is checked before anything runs)."""
        data = self.data()
        own, runs = data["own"], data["runs"]
        out = list(entries)
        for i, entry in enumerate(out):
            if entry.id in own and entry.volume[:6] == "users/":
                continue
            row = runs.get(entry.id)
            uses, ok, bad = (
                (int(row[1]), int(row[2]), int(row[3]))
                if isinstance(row, list) and len(row) == 4
                else (0, 0, 0)
            )
            if (entry.usage_count, entry.success_count, entry.failure_count) != (uses, ok, bad):
                out[i] = records.replace(
                    entry,
                    usage_count=uses,
                    success_count=ok,
                    failure_count=bad,
                    success_rate=ok / (ok + bad) if ok + bad else 0.0,
                )
        return out


# ---- checks used by the kernel, the crystallizer and the crons --------------------------------------


def describe_untrusted(trace_id: str, volume: str, origin: str) -> str:
    return (
        f"{origin} trace {trace_id} (volumes/{volume}) is not approved here: llmos replays, crystallizes "
        f"and runs from crons only its own traces and approved ones. Review its calls and approve it with "
        f"`llmos traces approve {trace_id}` (or accept it in `llmos inbox`)"
    )


def replay_refusal(store: Any, trace: Any) -> str | None:
    """Why ``trace`` may not be replayed here without asking (None when it is trusted)."""
    entry = store.entry(trace.id)
    level = store.trust.level(trace)
    if level != UNTRUSTED:
        return None
    return describe_untrusted(trace.id, entry.volume, origin_of(entry.volume, level))


def gate_replay(kernel: Any, decision: Any, emit: Any) -> None:
    """The kernel's hook before a FOLLOWER replay or CRYSTALLIZED run: untrusted content does not run.

    The decision becomes MIXED (the trace is still a worked example) or LEARNER when MIXED is off;
    its reason and a warning say why and how to approve; one inbox item per content hash shows the
    calls. A trace that cannot be read is left to the replay path, which reports it.
    """
    from ..runs import Notice

    store = kernel.store
    try:
        trace = store.get(decision.trace_id)
        entry = store.entry(decision.trace_id)
    except LLMOSError:
        return
    sha = content_hash(trace)
    level = store.trust.level(trace, sha)
    if level != UNTRUSTED:
        return
    origin = origin_of(entry.volume, level)
    why = describe_untrusted(trace.id, entry.volume, origin)
    fallback = Mode.MIXED if kernel.config.execution.enable_mixed else Mode.LEARNER
    wanted = decision.mode
    decision.mode = fallback
    decision.crystallized_tool = None
    decision.reason = f"{why}; running {fallback} instead of {wanted}; {decision.reason}"
    emit(Notice("warning", f"{why}; running {fallback} instead of {wanted}"))
    kernel.events.record(
        EventType.TRUST_REQUIRED,
        trace_id=trace.id,
        sha256=sha,
        origin=origin,
        volume=entry.volume,
        wanted=wanted,
        fallback=fallback,
    )
    try:
        request_approval(
            kernel.workspace,
            kernel.config,
            store,
            trace,
            entry,
            sha=sha,
            reason=f"a goal matched it for {wanted} ({decision.goal[:120]!r})",
            source="kernel",
        )
    except (LLMOSError, OSError) as exc:  # the run goes on; the CLI can still approve it
        emit(
            Notice(
                "warning",
                f"could not leave an approval request in the inbox: {getattr(exc, 'message', exc)}",
            )
        )


def request_approval(
    workspace: Any,
    config: LLMOSConfig,
    store: Any,
    trace: Any,
    entry: Any,
    *,
    reason: str,
    source: str,
    sha: str | None = None,
) -> str | None:
    """One ``trust.approve`` inbox item per content hash, showing the exact calls; its event id, or
    None when this content has had one already (or is trusted)."""
    sha = sha or content_hash(trace)
    trust = store.trust
    if trust.level(trace, sha) != UNTRUSTED or trust.request_of(sha) is not None:
        return None
    from ..observability.hub import ObservabilityHub

    origin = origin_of(entry.volume, UNTRUSTED)
    record = {
        "event_id": None,
        "id": trace.id,
        "path": entry.path,
        "volume": entry.volume,
        "origin": origin,
        "at": iso_utc(),
        "reason": reason[:300],
    }
    if not trust.add_request(sha, record):
        return None
    hub = ObservabilityHub(
        workspace, config=config, auto_apply=()
    )  # an approval is never automatic
    try:
        event_id = _propose(hub, trace, entry, sha=sha, origin=origin, reason=reason, source=source)
    except BaseException:
        trust._mutate(  # noqa: SLF001 - same module
            lambda data: data["requests"].pop(sha, None)
        )  # so that a later run asks again
        raise

    def remember(data: dict[str, Any]) -> None:
        if isinstance(data["requests"].get(sha), dict):
            data["requests"][sha]["event_id"] = event_id

    trust._mutate(remember)  # noqa: SLF001 - same module
    return event_id


def _propose(
    hub: Any, trace: Any, entry: Any, *, sha: str, origin: str, reason: str, source: str
) -> str:
    return hub.propose(
        PROPOSAL_KIND,
        f"Approve {origin} trace {trace.id} before llmos runs it",
        f"{origin.capitalize()} trace {trace.id} ({trace.goal[:100]!r}, volumes/{entry.volume}) is untrusted here: "
        f"{reason}. Accepting approves exactly this content (sha256 {sha[:16]}…) for replay and "
        f"crystallization; a changed file needs a new approval.",
        calls_preview(trace, volume=entry.volume, path=entry.path, sha=sha),
        {
            "trace_id": trace.id,
            "sha256": sha,
            "path": entry.path,
            "volume": entry.volume,
            "kind": "trace",
        },
        source=source,
        volume=entry.volume,
        applier_module=APPLIER_MODULE,
        trace_id=trace.id,
        sha256=sha,
        origin=origin,
        path=entry.path,
    )


def approve_trace(
    store: Any, trace_id: str, *, by: str, expect_sha: str | None = None
) -> dict[str, Any]:
    """Approve the current content of a trace (refused when it is not ``expect_sha`` any more)."""
    trace = store.get(trace_id)
    entry = store.entry(trace_id)
    sha = content_hash(trace)
    if expect_sha is not None and sha != expect_sha:
        raise LLMOSError(
            f"trace {trace_id} changed since approval was asked (sha256 {expect_sha[:12]}… is now "
            f"{sha[:12]}…); nothing was approved. Review the new calls with "
            f"`llmos traces approve {trace_id}`"
        )
    level = store.trust.level(trace, sha)
    if level == OWN:
        return {"id": trace_id, "sha256": sha, "level": OWN, "already": True}
    before = store.trust.approval(sha)
    record = store.trust.approve(trace, by=by, path=entry.path, volume=entry.volume, sha=sha)
    store.events.record(
        EventType.TRUST_APPROVED,
        trace_id=trace_id,
        sha256=sha,
        approved_by=record.get("approved_by"),
        volume=entry.volume,
        path=entry.path,
        origin=record.get("origin"),
    )
    return dict(record, sha256=sha, level=APPROVED, already=before is not None)


def close_request(workspace: Any, config: LLMOSConfig, store: Any, sha: str, *, by: str) -> None:
    """After an approval made elsewhere (the CLI), mark the content's inbox item accepted."""
    request = store.trust.request_of(sha)
    if not request or not request.get("event_id"):
        return
    from ..observability.hub import ObservabilityHub

    hub = ObservabilityHub(workspace, config=config, auto_apply=())
    try:
        hub.accept(str(request["event_id"]), by=by)
    except LLMOSError:
        pass  # decided already, or gone: the approval itself is recorded


# ---- the public shortcuts -------------------------------------------------------------------------


def trust_of(store: Any, target: Any) -> str:
    """``own`` | ``approved`` | ``untrusted`` for a Trace, a trace id, or a trace file's path."""
    from .traces import Trace, parse_trace

    if isinstance(target, Trace):
        trace = target
    elif isinstance(target, (str, os.PathLike)) and (
        str(target).endswith(".md") or os.sep in str(target)
    ):
        trace = parse_trace(Path(target).read_text(encoding="utf-8"), source=str(target))
    else:
        trace = store.get(str(target))
    return store.trust.level(trace)


def pending_approvals(store: Any) -> list[dict[str, Any]]:
    """Approval requests still open (content not approved), oldest first."""
    return store.trust.pending()


def levels_of(store: Any, entries: Iterable[Any]) -> dict[str, tuple[str, str]]:
    """{trace id: (level, origin)} for index entries (each file read; unreadable ones untrusted)."""
    out: dict[str, tuple[str, str]] = {}
    trust = store.trust
    for entry in entries:
        try:
            trace = store.read_trace_file(Path(store.root) / entry.path)
            level = trust.level(trace)
        except LLMOSError:
            level = UNTRUSTED
        out[entry.id] = (level, origin_of(entry.volume, level))
    return out


__all__ = [
    "TrustStore",
    "init_workspace_trust",
    "content_hash",
    "origin_of",
    "calls_preview",
    "gate_replay",
    "replay_refusal",
    "request_approval",
    "approve_trace",
    "close_request",
    "trust_of",
    "pending_approvals",
    "levels_of",
    "LEVELS",
    "OWN",
    "APPROVED",
    "UNTRUSTED",
]
