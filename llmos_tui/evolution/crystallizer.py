"""Crystallizer: turn a reliable trace into a verified, versioned Python tool (CRYSTALLIZED mode).

Eligibility (:meth:`Crystallizer.eligibility`): a trace qualifies when

* ``usage_count >= learning.crystallization_min_uses`` and ``success_rate >=
  learning.crystallization_min_success``, and its recorded outcome is ``success``;
* it has calls, every call is a tool our executors run (``executors.SUPPORTED_TOOLS``), none was
  blocked by the policy when recorded, and its slots can be parameters (identifiers, text values);
* it has no active tool yet; and, when an earlier attempt of this trace was rejected, demoted or
  left pending, the trace has been used ``crystallization_min_uses`` more times since that attempt
  (``trace_usage_count`` in its manifest). So a demoted tool's trace, back to FOLLOWER, may be
  crystallized again once it has re-qualified with new uses (its success rate, which counts the
  failure that demoted it, must also be back above the threshold); a rejected trace is not retried
  after every run, and each further rejection in a row doubles the wait (``k`` rejections in a row:
  ``crystallization_min_uses * 2**(k-1)`` more uses), so a tool that cannot be verified leaves a
  handful of rejected versions over hundreds of replays, not one every few uses.

Generation (:meth:`Crystallizer.crystallize`): the module (see ``execution/replay/crystallized.py`` for the
format) is written atomically into the ``tools/`` folder of the trace's volume as
``<name>_v<N>.py`` with a ``<name>_v<N>.json`` manifest, ``N`` one above every version of that name
there (never overwriting; the version is allocated under a lock). ``<name>`` is a slug of the goal
plus the tail of the trace id (``create_python_calculator_7e3b5d``), so one trace's versions share
a name and two traces never do.

Verification before activation: the tool is loaded through the same checked loader as in
production and run in a fresh temporary directory with the recorded slot values, through a
``ToolExecutor`` with the policy hooks and the OS sandbox, with no confirmation possible (a call the
policy would ``ask`` about is denied, so the tool is rejected). ``replay`` compares every step with
the recording (error flag, exit status, files created). Only then the manifest becomes ``active``,
earlier active versions of the trace become ``superseded``, and the trace's ``crystallized_tool``
names the new tool (through the TraceStore, so the index follows). Otherwise the files stay for
inspection with status ``rejected`` and the trace stays FOLLOWER.

Demotion (:meth:`Crystallizer.demote`): after a crystallized run fails, the manifest becomes
``demoted`` (with the reason and the trace's usage count), the trace's ``crystallized_tool`` is
cleared if it still names this tool, and ``TOOL_DEMOTED`` is recorded.

Trust (``learning/trust.py``): only trusted traces (own content, or approved) are crystallized,
since verification runs their calls. ``eligibility`` refuses an untrusted trace (and remembers it
in ``untrusted`` when it would otherwise have qualified, so a cron can leave an approval request
instead); ``crystallize`` raises for one. The thresholds use the counts recorded here
(``TrustStore.local_view``): the counts inside a shared or imported file never count.

Events: ``TOOL_CRYSTALLIZED``, ``TOOL_REJECTED``, ``TOOL_DEMOTED`` (and ``TOOL_REFUSED`` from the
loader when a module was tampered with).
"""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
import tempfile
import time
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from ..atomic import atomic_write_json, atomic_write_text, file_lock
from ..errors import LLMOSError
from ..execution.replay.crystallized import (
    MANIFEST_FORMAT,
    CrystallizedTool,
    ToolError,
    ToolFormatError,
    list_tools,
    load_module,
    load_tool,
    parse_tool_id,
    read_manifest,
    render_module,
    run_module,
    sha256_bytes,
    tool_from_manifest,
    tool_id,
    tools_dir,
)
from ..execution.replay.executors import SUPPORTED_TOOLS
from ..learning.traces import Trace, now_iso
from ..observability.events import EventType

if TYPE_CHECKING:  # pragma: no cover
    from ..config import LLMOSConfig

log = logging.getLogger(__name__)

HooksFactory = Callable[[Path], Any]
_STOP_WORDS = frozenset(
    {"a", "an", "the", "please", "to", "of", "for", "and", "in", "on", "with", "my", "me"}
)
_NAME_MAX = 48


class CrystallizationError(LLMOSError):
    """A trace cannot be made into a tool (why is in the message)."""


def tool_name_for(trace: Trace) -> str:
    """``create_python_calculator_7e3b5d``: words of the goal (ASCII, no filler) + the trace id's tail."""
    text = (
        unicodedata.normalize("NFKD", trace.goal).encode("ascii", "ignore").decode("ascii").lower()
    )
    words = [w for w in re.findall(r"[a-z0-9]+", text) if w not in _STOP_WORDS]
    slug = ""
    for word in words:
        candidate = f"{slug}_{word}" if slug else word
        if len(candidate) > _NAME_MAX:
            break
        slug = candidate
    if not slug or not slug[0].isalpha():
        slug = "tool" + (f"_{slug}" if slug else "")
    tail = re.sub(r"[^a-z0-9]", "", trace.id.lower())[-6:] or "x"
    return f"{slug[:_NAME_MAX]}_{tail}"


def structural_problem(trace: Trace) -> str | None:
    """Why the trace's calls and slots cannot become a tool at all (None when they can)."""
    if not trace.calls:
        return "the trace has no tool calls"
    for i, call in enumerate(trace.calls):
        if call.name not in SUPPORTED_TOOLS:
            return f"call {i + 1} uses {call.name!r}, which our executors do not run"
        if isinstance(call.result, dict) and call.result.get("decision") == "deny":
            return f"call {i + 1} ({call.name}) was blocked by the policy when it was recorded"
    try:
        render_module(
            name="probe",
            version=1,
            source_trace=trace.id,
            goal=trace.goal,
            slots=trace.slots,
            calls=trace.calls,
        )
    except ToolError as exc:
        return str(exc)
    return None


class Crystallizer:
    """Crystallizes eligible traces of a workspace; see the module docstring.

    ``hooks_factory(cwd)`` returns the ``HookRegistry`` for a verification run (the kernel passes
    its ``policy_hooks``); by default the workspace's policy engine is the only pre-hook.
    """

    def __init__(
        self,
        workspace: Any,
        store: Any,
        config: LLMOSConfig,
        *,
        hooks_factory: HooksFactory | None = None,
        events: Any = None,
    ) -> None:
        self.workspace = workspace
        self.store = store
        self.config = config
        self.hooks_factory = hooks_factory or self._policy_hooks
        if events is None:
            from ..observability.events import EventLog

            events = EventLog(workspace.events_file)
        self.events = events
        self.last_reason = ""  # why the last maybe_crystallize did not activate a tool
        self.untrusted: dict[
            str, Trace
        ] = {}  # untrusted traces that would otherwise have qualified

    # ---- eligibility ----------------------------------------------------------------------------------
    def attempts(self, trace_id: str) -> list[CrystallizedTool]:
        """Every tool generated from this trace (any status), oldest version first.

        Tools are written into the trace's own volume, so only that folder is listed."""
        try:
            volumes: list[str] | None = [self.store.entry(trace_id).volume]
        except LLMOSError:
            volumes = None
        return sorted(
            list_tools(self.workspace, volumes, source_trace=trace_id), key=lambda t: t.version
        )

    def _trusted_view(self, trace: Trace) -> tuple[Trace | None, str | None]:
        """(the trace with the counts recorded here, None) when it is trusted, else (None, why not)."""
        from ..learning.trust import replay_refusal

        try:
            volume = self.store.entry(trace.id).volume
            refusal = replay_refusal(self.store, trace)
        except LLMOSError as exc:
            return None, f"its trust cannot be checked: {exc.message}"
        if refusal is not None:
            return None, refusal
        return self.store.trust.local_view(trace, volume), None

    def eligibility(self, trace: Trace) -> str | None:
        """Why ``trace`` may not be crystallized now (None when it may): untrusted content never is,
        and the thresholds count only the uses recorded here."""
        view, refusal = self._trusted_view(trace)
        if view is None:
            if self._eligibility(trace) is None:
                self.untrusted[trace.id] = trace
            return refusal
        return self._eligibility(view)

    def _eligibility(self, trace: Trace) -> str | None:
        learning = self.config.learning
        if trace.usage_count < learning.crystallization_min_uses:
            return f"used {trace.usage_count} time(s); crystallization needs {learning.crystallization_min_uses}"
        if trace.success_rate < learning.crystallization_min_success:
            return (
                f"success rate {trace.success_rate:.0%} is below "
                f"{learning.crystallization_min_success:.0%}"
            )
        if trace.outcome != "success":
            return "the recorded run failed"
        if trace.calls and trace.calls[-1].is_error:
            return "the recorded run's last tool call failed"
        if trace.needs_context:
            return "recorded from a chat follow-up: it needs its conversation"
        if trace.crystallized_tool:
            with contextlib.suppress(ToolError):
                current = load_tool(self.workspace, trace.crystallized_tool)
                if current.source_trace == trace.id:
                    return f"already crystallized as {current.id}"
        problem = structural_problem(trace)
        if problem:
            return problem
        from ..learning.traces import redact_trace
        from ..redact import has_redactions

        if any(has_redactions(call.input) for call in redact_trace(trace).calls):
            return "a secret in its tool calls was redacted when the trace was stored: it cannot be replayed"
        attempts = self.attempts(trace.id)
        for tool in reversed(attempts):
            if tool.active:
                try:
                    load_module(tool)
                except ToolError:
                    continue  # an active tool that no longer loads does not count as crystallized
                return f"already crystallized as {tool.id}"
        last = attempts[-1] if attempts else None
        if last is not None:
            since = last.manifest.get("trace_usage_count")
            since = since if isinstance(since, int) and not isinstance(since, bool) else 0
            # Back off after rejections: a verification that failed k times in a row waits
            # min_uses * 2**(k-1) more uses (5, 10, 20, ... by default), so a trace whose tool
            # cannot be verified does not write a new rejected version every few replays.
            rejected = 0
            for tool in reversed(attempts):
                if tool.status != "rejected":
                    break
                rejected += 1
            needed = since + learning.crystallization_min_uses * (
                2 ** min(max(rejected - 1, 0), 16)
            )
            if trace.usage_count < needed:
                return (
                    f"{last.id} was {last.status}; the trace needs {needed - trace.usage_count} more use(s) "
                    f"before another attempt"
                )
        return None

    # ---- entry points ---------------------------------------------------------------------------------
    def maybe_crystallize(self, trace_id: str) -> CrystallizedTool | None:
        """Crystallize the trace if ``auto_crystallization`` is on and it is eligible.

        Returns the new *active* tool, else None (``last_reason`` says why: not eligible, or the
        verification rejected it). Never raises for a missing or broken trace: it is called
        after a run and must not fail that run.
        """
        self.last_reason = ""
        if not self.config.learning.auto_crystallization:
            self.last_reason = "learning.auto_crystallization is off"
            return None
        try:
            trace = self.store.get(trace_id)
            reason = self.eligibility(trace)
            if reason is not None:
                self.last_reason = reason
                return None
            tool = self.crystallize(trace)
        except (LLMOSError, OSError) as exc:
            self.last_reason = (
                f"crystallization of {trace_id} failed: {getattr(exc, 'message', exc)}"
            )
            log.warning("%s", self.last_reason)
            return None
        if not tool.active:
            self.last_reason = f"{tool.id} was rejected: {tool.manifest.get('status_reason', '')}"
            return None
        return tool

    def crystallize(self, trace: Trace) -> CrystallizedTool:
        """Generate, verify and (if verified) activate a new version of ``trace``'s tool.

        Thresholds are not checked here (see ``maybe_crystallize``); the structure is. Returns
        the tool whatever its final status (``active`` or ``rejected``). The module is generated
        from the trace with its secrets redacted (a trace stored before redaction existed may
        hold some): the tool never holds what the trace file no longer does.
        """
        view, refusal = self._trusted_view(trace)
        if view is None:
            raise CrystallizationError(f"trace {trace.id} is not crystallized: {refusal}")
        from ..learning.traces import redact_trace

        trace = redact_trace(view)
        problem = structural_problem(trace)
        if problem:
            raise CrystallizationError(f"trace {trace.id} cannot be crystallized: {problem}")
        volume = self.store.entry(trace.id).volume
        folder = tools_dir(self.workspace, volume)
        name = tool_name_for(trace)
        started = now_iso()
        with self._lock(name):
            version = self._next_version(folder, name)
            text = render_module(
                name=name,
                version=version,
                source_trace=trace.id,
                goal=trace.goal,
                slots=trace.slots,
                calls=trace.calls,
            )
            ident = tool_id(name, version)
            module_path, manifest_path = folder / f"{ident}.py", folder / f"{ident}.json"
            if (
                module_path.exists() or manifest_path.exists()
            ):  # pragma: no cover - _next_version avoids it
                raise CrystallizationError(
                    f"{module_path} already exists; versions are never overwritten"
                )
            manifest = {
                "format": MANIFEST_FORMAT,
                "name": name,
                "version": version,
                "id": ident,
                "module": module_path.name,
                "source_trace": trace.id,
                "source_volume": volume,
                "goal": trace.goal,
                "slots": dict(trace.slots),
                "tools_used": [c.name for c in trace.calls],
                "created_at": started,
                "sha256": sha256_bytes(text.encode("utf-8")),
                "status": "pending",
                "status_reason": "written, not verified yet",
                "status_changed_at": started,
                "trace_usage_count": trace.usage_count,
                "trace_success_rate": round(trace.success_rate, 4),
                "verification": {},
                "history": [{"status": "pending", "at": started}],
            }
            # The manifest first: a module never exists without one saying what it is.
            atomic_write_json(manifest_path, manifest)
            atomic_write_text(module_path, text)
        tool = tool_from_manifest(manifest_path, manifest, volume)
        report = self.verify(tool)
        if report["success"]:
            tool = self._set_status(
                tool, "active", "verified in a temporary directory", verification=report
            )
            for older in self.attempts(trace.id):
                if older.active and older.id != tool.id:
                    self._set_status(older, "superseded", f"replaced by {tool.id}")
            self._mark_trace(trace.id, tool.id)
            self.events.record(
                EventType.TOOL_CRYSTALLIZED,
                tool=tool.id,
                version=tool.version,
                trace_id=trace.id,
                goal=trace.goal[:200],
                path=str(tool.path),
                volume=volume,
                duration_ms=report.get("duration_ms"),
                notify_user=True,
            )
        else:
            tool = self._set_status(
                tool, "rejected", f"verification failed: {report['reason']}", verification=report
            )
            self.events.record(
                EventType.TOOL_REJECTED,
                tool=tool.id,
                trace_id=trace.id,
                reason=report["reason"][:500],
                path=str(tool.path),
            )
        return tool

    def verify(self, tool: CrystallizedTool) -> dict[str, Any]:
        """Run ``tool`` in a fresh temporary directory with its recorded slot values; a report."""
        from ..execution.replay.executors import ToolExecutor

        started = time.monotonic()
        report: dict[str, Any] = {
            "success": False,
            "reason": "",
            "refused": False,
            "steps": [],
            "files_created": [],
            "checked_at": now_iso(),
            "sandbox": self.config.execution.sandbox,
        }
        try:
            load_module(tool, workspace=self.workspace)
        except ToolError as exc:
            report["reason"] = str(exc)
            report["refused"] = True
            report["duration_ms"] = int((time.monotonic() - started) * 1000)
            return report
        tmp = Path(tempfile.mkdtemp(prefix="llmos-verify-")).resolve()
        try:
            try:
                from ..execution.sandbox.limits import SandboxOptions

                executor = ToolExecutor(
                    tmp,
                    self.hooks_factory(tmp),
                    sandbox_backend=self.config.execution.sandbox,
                    sandbox_options=SandboxOptions.from_config(self.config.execution),
                    allow_network=self.config.execution.allow_network,
                    timeout_s=min(120.0, float(self.config.execution.run_timeout_s)),
                    confirm=None,
                    assume_yes=False,
                    read_only_paths=tuple(self.workspace.protected_paths()),
                    hidden_paths=tuple(self.workspace.hidden_paths()),
                    on_notice=lambda level, text: log.info("verify %s: %s", tool.id, text),
                )
            except LLMOSError as exc:
                report["reason"] = f"cannot prepare the verification run: {exc.message}"
                return report
            outcome = run_module(tool, executor, {})

            def step(s: Any) -> dict[str, Any]:
                ran = s.outcome
                return {
                    "step": s.index + 1,
                    "name": s.name,
                    "matched": s.matched,
                    "reason": s.reason,
                    "is_error": None if ran is None else ran.is_error,
                    "exit_code": None if ran is None else ran.exit_code,
                    "summary": ""
                    if ran is None
                    else ran.summary.replace(str(tmp), "{{cwd}}")[:300],
                }

            report.update(
                success=outcome.success and not outcome.refused and not outcome.cancelled,
                reason=outcome.reason,
                refused=outcome.refused,
                files_created=list(outcome.files_created),
                steps=[step(s) for s in outcome.steps],
            )
            if report["reason"]:
                report["reason"] = report["reason"].replace(str(tmp), "{{cwd}}")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            report["duration_ms"] = int((time.monotonic() - started) * 1000)
        return report

    def demote(self, tool: CrystallizedTool | str, reason: str) -> CrystallizedTool:
        """A crystallized run failed: the tool stops running and its trace goes back to FOLLOWER."""
        if isinstance(tool, str):
            tool = self._find(tool)
        usage = None
        with contextlib.suppress(LLMOSError, OSError):
            source = self.store.get(tool.source_trace)
            usage = self.store.trust.local_view(
                source, self.store.entry(source.id).volume
            ).usage_count
        why = reason or "a crystallized run failed"
        try:
            demoted = self._set_status(
                tool,
                "demoted",
                why,
                extra={
                    "trace_usage_count": usage
                    if usage is not None
                    else tool.manifest.get("trace_usage_count", 0)
                },
            )
        except ToolError as exc:  # the manifest is gone or broken: the trace is still cleared
            log.warning("cannot mark %s demoted: %s", tool.id, exc)
            demoted = tool
            demoted.status = "demoted"
        cleared = False
        with contextlib.suppress(LLMOSError, OSError):
            cleared = self._mark_trace(tool.source_trace, None, only_if=tool.id)
        self.events.record(
            EventType.TOOL_DEMOTED,
            tool=tool.id,
            trace_id=tool.source_trace,
            reason=(reason or "")[:500],
            trace_cleared=cleared,
            notify_user=True,
        )
        return demoted

    # ---- helpers --------------------------------------------------------------------------------------
    def _policy_hooks(self, cwd: Path) -> Any:
        from ..execution.policy.engine import default_engine
        from ..execution.replay.hooks import HookRegistry, HookVerdict

        engine = default_engine(self.config, self.workspace)
        hooks = HookRegistry()

        def policy_hook(name: str, tool_input: dict[str, Any], _tid: str) -> HookVerdict:
            d = engine.check(name, tool_input, cwd)
            return HookVerdict(d.decision, d.reason, d.rule)

        hooks.add_pre(policy_hook, path_scoped=True)  # the policy engine's path rules
        return hooks

    @contextlib.contextmanager
    def _lock(self, name: str) -> Iterator[None]:
        with file_lock(Path(self.workspace.state_dir) / "locks" / f"tool-{name}"):
            yield

    @staticmethod
    def _next_version(folder: Path, name: str) -> int:
        highest = 0
        try:
            entries = list(folder.iterdir())
        except FileNotFoundError:
            entries = []
        for entry in entries:
            stem, dot, ext = entry.name.rpartition(".")
            if not dot or ext not in ("py", "json"):
                continue
            parsed = parse_tool_id(stem)
            if parsed is not None and parsed[0] == name:
                highest = max(highest, parsed[1])
        return highest + 1

    def _find(self, ident: str) -> CrystallizedTool:
        for tool in list_tools(self.workspace):
            if tool.id == ident:
                return tool
        raise CrystallizationError(f"no crystallized tool {ident!r}")

    def _set_status(
        self,
        tool: CrystallizedTool,
        status: str,
        reason: str,
        *,
        verification: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> CrystallizedTool:
        """Rewrite the manifest with a new status (under the tool's lock); the updated tool."""
        with self._lock(tool.name):
            data = read_manifest(tool.manifest_path)
            at = now_iso()
            data["status"] = status
            data["status_reason"] = reason[:2000]
            data["status_changed_at"] = at
            if verification is not None:
                data["verification"] = verification
            if extra:
                data.update(extra)
            history = v if isinstance(v := data.get("history"), list) else []
            history.append({"status": status, "at": at, "reason": reason[:500]})
            data["history"] = history[-50:]
            atomic_write_json(tool.manifest_path, data)
        updated = tool_from_manifest(tool.manifest_path, data, tool.volume)
        updated.module = tool.module
        return updated

    def _mark_trace(self, trace_id: str, value: str | None, *, only_if: str | None = None) -> bool:
        """Set the trace's ``crystallized_tool`` under the store's per-trace lock (index follows)."""
        lock = getattr(self.store, "_trace_lock", None)
        save = getattr(self.store, "_save_locked", None)
        if lock is None or save is None:  # another store: no lock to share
            trace = self.store.get(trace_id)
            if only_if is not None and trace.crystallized_tool != only_if:
                return False
            trace.crystallized_tool = value
            self.store.update(trace)
            return True
        with lock(trace_id):
            trace = self.store.get(trace_id)
            if only_if is not None and trace.crystallized_tool != only_if:
                return False
            if trace.crystallized_tool == value:
                return True
            trace.crystallized_tool = value
            save(trace, self.store.entry(trace_id).volume)
        return True


__all__ = [
    "Crystallizer",
    "CrystallizationError",
    "ToolFormatError",
    "structural_problem",
    "tool_name_for",
]
