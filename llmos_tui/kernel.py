"""LLMOS: the kernel façade. boot → execute → shutdown; wires the layers together.

The kernel decides how each goal runs (mode selection), runs it through the right backend,
charges the budget from real usage, records a trace and events. It never imports textual,
and imports the LLM libraries only when a goal really calls an LLM.

A replay the user asked for (``RunOptions.mode`` "follower" or "crystallized") that cannot run is
refused (``decision["replay_refused"]``, exit 1): it never falls back to a paid LEARNER or MIXED
run; only AUTO's own choices fall back. After a run, only real policy blocks count as safety
violations for the sentience (``hooks.NOT_SAFETY_RULES``).

Conversations (``RunOptions.conversation``, ``memory/conversation.py``): a goal that is a turn of a
chat session carries a bounded "Conversation so far" block in its system prompt and is appended to
the session afterwards. A message that is only thanks or a correction (``feedback_kind``) runs
nothing: no model request, no trace; it feeds the sentience's user-feedback trigger and is logged as
feedback (mode ``FEEDBACK``). A goal that refers back to earlier turns (``refers_back``) is never a
zero-model replay on its own words (AUTO runs it MIXED or LEARNER, with the context), and a trace
whose run leaned on the conversation (a follow-up, or calls naming a file of an earlier turn that
the goal does not name) is recorded with ``context: {conversation, depends_on, replayable: false}``:
it is never replayed, crystallized or shown as an example on its own.
"""

from __future__ import annotations

import dataclasses
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from .config import LLMOSConfig, load_config
from .errors import LLMOSError, UsageError
from .execution.replay.hooks import (
    BUDGET_RULE,
    DECLINED_RULE,
    NOT_SAFETY_RULES,
    REJECTED,
    UNCONFIRMED_RULE,
    WITHHELD_RULE,
)
from .exitcodes import ExitCode
from .observability.events import EventLog, EventType
from .runs import CancelToken, EventSink, Mode, ModeChosen, Notice, RunResult
from .workspace import Workspace, open_workspace

if TYPE_CHECKING:  # pragma: no cover
    from .adaptation.manager import DynamicAgentManager
    from .evolution.crystallizer import Crystallizer
    from .execution.policy.engine import PolicyEngine
    from .execution.replay.executors import ToolExecutor
    from .execution.replay.hooks import HookRegistry
    from .execution.replay.undo import UndoStore
    from .learning.matcher import MatchDecision, Matcher
    from .learning.store import TraceStore
    from .sentience.runtime import RunAdjustments, SentienceRuntime

# MIXED: the examples block of a guided session is capped, like any context we inject.
MIXED_EXAMPLE_CHARS = 6000
MODES = ("auto", "learner", "follower", "mixed", "orchestrator", "crystallized")
MAX_GOAL_CHARS = 20_000


def _warn_stderr(message: str) -> None:
    sys.stderr.write(f"llmos: warning: {message}\n")


def explicit_replay(opts: "RunOptions") -> bool:
    """The user asked for a replay by name (``--mode follower|crystallized``, the TUI's replay key):
    a replay that cannot run is refused, never turned into a paid LLM run."""
    return opts.mode in ("follower", "crystallized") and not opts.nested


def validate_goal(goal: str) -> str:
    if not isinstance(goal, str):
        raise UsageError("the goal must be text")
    text = goal.strip()
    if not text or not re.search(r"\w", text):
        raise UsageError(
            'the goal is empty: say what you want done, e.g. llmos --headless run "Create a Python calculator"'
        )
    if "\x00" in text:
        raise UsageError("the goal contains a NUL byte")
    if len(text) > MAX_GOAL_CHARS:
        raise UsageError(
            f"the goal is too long ({len(text)} characters; the limit is {MAX_GOAL_CHARS})"
        )
    return text


MAX_PROPOSAL_CALLS = 30  # calls listed in a replay proposal (the TUI's confirmation)


@dataclass
class RunOptions:
    mode: str = "auto"
    cwd: Path | None = None
    assume_yes: bool = False
    user: str | None = None
    team: str | None = None
    nested: bool = False  # a sub-goal of an orchestration: never orchestrates again
    agent: str | None = None  # the agent a LEARNER sub-goal uses (from the plan)
    context: str = ""  # extra system text (outputs of the sub-goals it depends on)
    project: str | None = None  # projects/<name>: default cwd is its output/, traces are tagged
    in_session: bool = False  # the caller (the TUI) logs the conversation itself
    #: replay a close trace whose differences are not all accounted for (the user said yes:
    #: ``--replay-similar``); still through policy and sandbox
    replay_similar: bool = False
    #: ``learning.verify: ask`` with someone to ask (the TUI): called from the run's thread with
    #: :meth:`LLMOS.replay_proposal` of a close trace; returns ``"replay"`` (the user's yes),
    #: ``"model"`` (run MIXED/LEARNER as decided) or ``"cancel"`` (run nothing)
    confirm_replay: Callable[[dict[str, Any]], str] | None = None
    #: the chat session (``memory/conversation.py`` id) this goal is a turn of: the request carries
    #: its earlier turns, and the turn is appended to it afterwards (created by its first turn)
    conversation: str | None = None
    #: who runs the conversation (``tui`` or ``headless``): its header and its L2 log say so
    source: str = "headless"
    #: the run's undo journal (execution/replay/undo.py), set by ``execute`` for a top-level run and
    #: shared by its sub-goals: every executor of the run records its pre-images there
    undo: Any = None


@dataclass
class _TurnContext:
    """The conversation a running goal is a turn of (kept per thread while it runs)."""

    conv: Any
    cwd: Path
    followup: bool
    earlier_files: list[str]


class LLMOS:
    """The kernel. One instance per process; safe to call ``execute`` from a worker thread."""

    def __init__(self, workspace: Workspace, config: LLMOSConfig) -> None:
        self.workspace = workspace
        self.config = config
        obs = config.observability
        self.events = EventLog(
            workspace.events_file, max_bytes=int(obs.max_file_mb * 1024 * 1024), keep=obs.keep_files
        )
        from .execution.llm.economy import Economy

        self.economy = Economy(workspace.economy_file, config.budget_usd)
        self._store: TraceStore | None = None
        self._matcher: Matcher | None = None
        self._policy: PolicyEngine | None = None
        self._matcher_version = -1
        self._sentience: SentienceRuntime | None = None
        self._agents: DynamicAgentManager | None = None
        import threading

        self._local = threading.local()
        self._matcher_lock = threading.RLock()

    # ---- boot ------------------------------------------------------------------------
    @classmethod
    def boot(
        cls,
        workspace_dir: str | Path | None = None,
        *,
        overrides: dict[str, Any] | None = None,
        user: str | None = None,
        team: str | None = None,
        preset: str | None = None,
    ) -> "LLMOS":
        workspace = open_workspace(workspace_dir)
        config = load_config(workspace.root, overrides=overrides, preset=preset)
        if user:
            config.user = user
        if team:
            config.team = team
        workspace.ensure(user=config.user, team=config.team)
        from .volumes.acl import add_member

        add_member(workspace, config.team, config.user)  # so team crons may read this user's volume
        return cls(workspace, config)

    def shutdown(self) -> None:
        pass

    # ---- shared services (lazy) ------------------------------------------------------
    @property
    def policy(self) -> PolicyEngine:
        if self._policy is None:
            from .execution.policy.engine import default_engine

            self._policy = default_engine(self.config, self.workspace)
        return self._policy

    @property
    def store(self) -> TraceStore:
        if self._store is None:
            from .learning.index import TraceIndex
            from .learning.store import TraceStore

            index = TraceIndex(
                self.workspace,
                events=self.events,
                on_warning=_warn_stderr,
            )
            self._store = TraceStore(self.workspace, index=index, events=self.events)
        return self._store

    def visible_volumes(self) -> list[str]:
        """Volumes whose traces this user may replay: own, team, system (inheritance order)."""
        return [self.config.user_volume(), f"teams/{self.config.team}", "system"]

    def matcher(self) -> Matcher:
        """One in-memory matcher per kernel, refreshed only when the index changed (thread-safe)."""
        from .learning.matcher import Matcher

        with self._matcher_lock:
            index = self.store.index
            # Counts recorded elsewhere never count here: non-own traces get the local run counts.
            entries = self.store.trust.effective_entries(index.entries(self.visible_volumes()))
            if self._matcher is None:
                from .learning import prepared_cache

                prepared_cache.load(self.workspace.state_dir)
                self._matcher = Matcher(
                    entries, config=self.config.learning, state_dir=self.workspace.state_dir
                )
                self._matcher_version = index.version
                goals = {e.goal for e in entries}
                if prepared_cache.missing(goals):
                    try:  # new goals since the cache was written: refresh it for the next process
                        prepared_cache.save(self.workspace.state_dir, goals)
                    except OSError:
                        pass
            elif self._matcher_version != index.version:
                self._matcher.refresh(entries, index.version)
                self._matcher_version = index.version
            return self._matcher

    def _decide_with(
        self, goal: str, follower_threshold: float, mixed_threshold: float
    ) -> MatchDecision:
        """AUTO's decision under thresholds adjusted by the internal state."""
        import dataclasses

        from .learning.modes import select_mode

        learning = dataclasses.replace(
            self.config.learning,
            follower_threshold=follower_threshold,
            mixed_threshold=min(mixed_threshold, follower_threshold),
        )
        return select_mode(
            goal, self.matcher(), dataclasses.replace(self.config, learning=learning)
        )

    def _maybe_create_agent(self, goal: str, emit: EventSink) -> RunResult | None:
        """ "Create a haiku poet agent": the adaptation layer writes the agent file, no LLM call."""
        if "agent" not in goal.lower():
            return None  # every agent-creation goal names an agent; skip the import otherwise
        from .adaptation.agents import create_agent_from_goal, draft_from_goal

        draft = draft_from_goal(goal)
        if draft is None:
            return None
        path = self.workspace.agents_dir / f"{draft.name}.md"
        existed = path.exists()
        if not existed:
            create_agent_from_goal(self.workspace.agents_dir, goal)
            self.events.record(
                EventType.AGENT_CREATED, agent=draft.name, goal=goal[:200], path=str(path)
            )
            if self.config.sentience.enabled:
                self.sentience.on_self_modification(f"created agent {draft.name}")
        text = (
            f"Agent {draft.name!r} already exists at {path}; nothing was changed."
            if existed
            else f"Created agent {draft.name!r} at {path} (tools: {', '.join(draft.tools)}). It is available "
            f"now: goals that fit its description are routed to it."
        )
        emit(
            ModeChosen(
                Mode.ADAPTATION,
                1.0,
                "agent-creation goal: handled by the adaptation layer, no LLM call",
            )
        )
        return RunResult(
            goal=goal,
            mode=Mode.ADAPTATION,
            success=True,
            confidence=1.0,
            output=text,
            decision={"mode": Mode.ADAPTATION, "agent": draft.name, "created": not existed},
        )

    def decide(self, goal: str, mode: str = "auto") -> MatchDecision:
        """The mode decision for a goal (no side effects)."""
        from .learning.modes import select_mode

        return select_mode(validate_goal(goal), self.matcher(), self.config, forced_mode=mode)

    @property
    def sentience(self) -> SentienceRuntime:
        if self._sentience is None:
            from .sentience.runtime import SentienceRuntime

            self._sentience = SentienceRuntime(
                self.workspace,
                self.config,
                events=self.events,
                on_warning=_warn_stderr,
            )
        return self._sentience

    @property
    def agents(self) -> DynamicAgentManager:
        if self._agents is None:
            from .adaptation.manager import DynamicAgentManager

            self._agents = DynamicAgentManager(self.workspace, self.config, events=self.events)
        return self._agents

    def agents_for(self, project: str | None) -> DynamicAgentManager:
        """The agent manager; for a project run, the project's own agents (components/) come first."""
        if not project:
            return self.agents
        from .adaptation.agents import LayeredAgentRegistry
        from .adaptation.manager import DynamicAgentManager

        components = self.workspace.projects_dir / project / "components"
        registry = LayeredAgentRegistry(components, self.workspace.agents_dir)
        return DynamicAgentManager(
            self.workspace, self.config, events=self.events, registry=registry
        )

    def _log_session(self, result: RunResult, opts: RunOptions) -> None:
        """L2 memory: a headless run is a one-goal session, a conversation's turns share its log;
        projects keep a run log."""
        try:
            if self.config.memory.session_logs and not opts.in_session and opts.conversation:
                from .memory.sessions import SessionLog

                log = SessionLog(
                    self.workspace,
                    opts.conversation,
                    source=opts.source,
                    user=self.config.user,
                    project=opts.project,
                )
                log.append("user", result.goal)
                log.append("assistant", result.output or result.error or "(no answer)")
            elif self.config.memory.session_logs and not opts.in_session:
                from .memory.sessions import record_exchange

                record_exchange(
                    self.workspace,
                    result.goal,
                    result.output or result.error or "",
                    source="headless",
                    user=self.config.user,
                    project=opts.project,
                )
            if opts.project and result.exit_code != int(ExitCode.USAGE):
                from .projects.manager import ProjectManager

                ProjectManager(self.workspace).record_run(
                    opts.project,
                    goal=result.goal,
                    mode=result.mode,
                    success=result.success,
                    cost_usd=result.cost_usd,
                    trace_id=result.trace_id,
                )
        except (OSError, LLMOSError) as exc:
            self.events.record(EventType.SESSION_LOG_FAILED, error=str(exc)[:300])

    def _adjustments(self) -> RunAdjustments | None:
        """The sentience adjustments of the run on this thread (None outside a run)."""
        return getattr(self._local, "adj", None)

    def latent_mode(self) -> str | None:
        adj = self._adjustments()
        return adj.latent_mode if adj is not None else None

    # ---- execution -------------------------------------------------------------------
    def execute(
        self,
        goal: str,
        *,
        options: RunOptions | None = None,
        on_event: EventSink | None = None,
        cancel: CancelToken | None = None,
        confirm: Callable[[str, dict[str, Any], str], bool] | None = None,
    ) -> RunResult:
        """Run one goal to completion (blocking). Errors become a failed RunResult with an exit code."""
        opts = options or RunOptions()
        started = time.monotonic()
        emit = on_event or (lambda _e: None)
        result = RunResult(goal=goal, mode=Mode.LEARNER, success=False)
        outer_decided = getattr(self._local, "decided", None)  # a sub-goal runs inside its parent
        outer_turn = getattr(self._local, "turn", None)
        self._local.decided = None
        self._local.turn = None
        turn: _TurnContext | None = None
        journal = None
        try:
            goal = validate_goal(goal)
            result.goal = goal
            if opts.mode not in MODES:
                raise UsageError(f"unknown mode {opts.mode!r} (choose from {', '.join(MODES)})")
            if opts.project:
                from .projects.manager import ProjectManager

                project = ProjectManager(self.workspace).get(opts.project)
                result.project = project.name
                if opts.cwd is None:
                    project.output_dir.mkdir(parents=True, exist_ok=True)
                    opts = dataclasses.replace(opts, cwd=project.output_dir)
            cwd = (opts.cwd or Path.cwd()).resolve()
            if not cwd.is_dir():
                raise UsageError(f"the working directory {cwd} does not exist")
            if opts.conversation and not opts.nested:
                turn = self._local.turn = self._begin_turn(goal, opts, cwd)
                block = self._conversation_block(turn)
                if block:
                    opts = dataclasses.replace(
                        opts, context=block + ("\n\n" + opts.context if opts.context else "")
                    )
            if opts.undo is None and not opts.nested:
                opts = dataclasses.replace(opts, undo=self.undo_store().begin(cwd, goal))
                journal = opts.undo
            result = self._dispatch(goal, opts, cwd, emit, cancel, confirm)
            result.project = opts.project
        except LLMOSError as exc:
            result.success = False
            result.error = exc.message
            result.exit_code = int(exc.exit_code)
            decided = self._local.decided
            if (
                decided is not None
            ):  # failed after the decision: report what was decided, not "LEARNER"
                result.mode, result.confidence, result.decision = decided
            elif (
                opts.mode in MODES and opts.mode != "auto"
            ):  # a forced mode refused before deciding
                result.mode = opts.mode.upper()
        finally:
            self._local.decided = outer_decided
            self._local.turn = outer_turn
            if journal is not None:
                self._finish_undo(journal, emit)
        result.duration_ms = int((time.monotonic() - started) * 1000)
        try:
            self._after_run(result)
            if not opts.nested:
                self._log_session(result, opts)
                if turn is not None:
                    self._end_turn(turn, result, opts)
        finally:
            self._local.adj = None
        self.events.record(
            EventType.GOAL_FINISHED,
            goal=result.goal[:500],
            mode=result.mode,
            success=result.success,
            trace_id=result.trace_id,
            cost_usd=result.cost_usd,
            exit_code=result.exit_code,
            duration_ms=result.duration_ms,
        )
        if self._store is not None:
            self._store.flush_cache()
        return result

    def undo_store(self) -> UndoStore:
        """``state/undo/``: pre-images of the files each run changed with the file tools."""
        from .execution.replay.undo import UndoStore

        execution = self.config.execution
        return UndoStore(
            self.workspace.state_dir, max_mb=execution.undo_max_mb, max_runs=execution.undo_runs
        )

    def _finish_undo(self, journal: Any, emit: EventSink) -> None:
        try:
            if journal.finish():
                self.undo_store().prune()
        except OSError as exc:  # undo is a safety net: its failure never fails the run, but is said
            emit(Notice("warning", f"the pre-images for undo could not be saved: {exc}"))

    def _dispatch(  # noqa: C901 - baseline, see README "Checks"
        self,
        goal: str,
        opts: RunOptions,
        cwd: Path,
        emit: EventSink,
        cancel: CancelToken | None,
        confirm: Callable[[str, dict[str, Any], str], bool] | None,
    ) -> RunResult:
        if opts.mode == "auto" and not opts.nested:
            from .memory.conversation import feedback_kind

            kind = feedback_kind(goal)
            if kind is not None:
                return self._feedback(goal, kind, emit)
        if opts.mode == "auto":
            created = self._maybe_create_agent(goal, emit)
            if created is not None:
                return created
        decision = self.decide(goal, opts.mode)
        adj = None
        if self.config.sentience.enabled:
            entry = self.store.index.get(decision.trace_id) if decision.trace_id else None
            adj = self.sentience.before_run(goal, decision.to_dict(), matched_entry=entry)
            learning = self.config.learning
            if opts.mode == "auto" and (
                adj.follower_threshold != learning.follower_threshold
                or adj.mixed_threshold != learning.mixed_threshold
            ):
                decision = self._decide_with(goal, adj.follower_threshold, adj.mixed_threshold)
        self._local.adj = adj
        turn = getattr(self._local, "turn", None)
        if turn is not None and turn.followup and opts.mode == "auto":
            self._no_replay_for_followup(decision, turn)
        verification = None
        if (
            decision.close
            and opts.mode == "auto"
            and decision.mode not in (Mode.FOLLOWER, Mode.CRYSTALLIZED)
            and decision.trace_id
        ):
            acc = decision.accounting or {}
            words = "; ".join(
                f"{d.get('goal') or '-'} / {d.get('trace') or '-'}"
                for d in acc.get("differences", [])
                if d.get("how") == "unaccounted"
            )
            entry = self.store.index.get(decision.trace_id)
            can_replay = (
                self.config.execution.enable_follower
                and entry is not None
                and bool(entry.tools_used)
            )
            if opts.replay_similar and can_replay:
                decision.mode = Mode.FOLLOWER
                decision.approved_by = "user"
                decision.reason = (
                    f"replay of a similar trace confirmed by the user (--replay-similar); "
                    f"unaccounted: {words}; {decision.reason}"
                )
            elif (
                self.config.learning.verify == "ask"
                and opts.confirm_replay is not None
                and can_replay
            ):
                answer = self._ask_replay(goal, decision, opts, emit)
                if answer == "replay":
                    decision.mode = Mode.FOLLOWER
                    decision.approved_by = "user"
                    decision.reason = (
                        f"replay of a similar trace confirmed by the user; unaccounted: {words}; "
                        f"{decision.reason}"
                    )
                elif answer == "cancel":
                    info = decision.to_dict()
                    emit(
                        Notice(
                            "warning",
                            f"cancelled: close trace {decision.trace_id} not replayed and no model run",
                        )
                    )
                    return RunResult(
                        goal=goal,
                        mode=decision.mode,
                        success=False,
                        trace_id=None,
                        confidence=decision.confidence,
                        error="cancelled by the user",
                        exit_code=int(ExitCode.GOAL_FAILED),
                        decision=info,
                    )
            elif self.config.learning.verify == "model" and can_replay:
                verification = self._verify(goal, decision, words, emit)
            else:
                emit(
                    Notice(
                        "warning",
                        f"close trace {decision.trace_id} ({decision.matched_goal!r}) not replayed: "
                        f"unaccounted words (goal / trace): {words}; running {decision.mode} "
                        "(replay it anyway with --replay-similar)",
                    )
                )
        if decision.mode == Mode.CRYSTALLIZED and (decision.alias or decision.approved_by):
            # an approved phrasing replays the calls with the values approved for it; a
            # crystallized tool would take its parameters from the goal's slots instead
            decision.mode = Mode.FOLLOWER
        if decision.mode in (Mode.FOLLOWER, Mode.CRYSTALLIZED) and decision.trace_id:
            from .learning.trust import gate_replay

            gate_replay(self, decision, emit)  # shared/imported content runs only once approved
        if decision.mode in (Mode.FOLLOWER, Mode.CRYSTALLIZED) and decision.trace_id:
            entry = self.store.index.get(decision.trace_id)
            if entry is not None and not entry.tools_used:
                # Nothing to replay: the recorded run made no tool call (or its only call was blocked).
                if explicit_replay(opts):
                    return self._replay_refused(
                        goal,
                        opts,
                        decision.to_dict(),
                        decision.confidence,
                        f"the matched trace {decision.trace_id} has no tool calls to replay",
                    )
                decision.mode = Mode.MIXED if self.config.execution.enable_mixed else Mode.LEARNER
                decision.reason = (
                    f"the matched trace has no tool calls to replay; {decision.reason}"
                )
        info = decision.to_dict()
        if adj is not None:
            info["sentience"] = {"latent_mode": adj.latent_mode, "reasons": list(adj.reasons)}
        result = self._run_decided(goal, opts, cwd, emit, cancel, confirm, decision, info)
        if verification is not None and verification.requests:
            # the VERIFIED call is counted in the run like every call (already charged)
            result.llm_calls += verification.requests
            result.input_tokens += verification.input_tokens
            result.output_tokens += verification.output_tokens
            result.cost_usd += verification.cost_usd
        return result

    # ---- conversations -----------------------------------------------------------------
    def _begin_turn(self, goal: str, opts: RunOptions, cwd: Path) -> _TurnContext:
        from .memory.conversation import Conversation, refers_back

        conv = Conversation.load(self.workspace, str(opts.conversation), must_exist=False)
        return _TurnContext(
            conv=conv,
            cwd=cwd,
            followup=bool(conv.turns) and refers_back(goal),
            earlier_files=conv.files_touched(),
        )

    def _conversation_block(self, turn: _TurnContext) -> str:
        from .memory.conversation import context_block

        memory = self.config.memory
        return context_block(
            turn.conv,
            max_tokens=memory.conversation_max_tokens,
            recent_turns=memory.conversation_recent_turns,
        )

    def _end_turn(self, turn: _TurnContext, result: RunResult, opts: RunOptions) -> None:
        """Append the finished goal (or the feedback) to its conversation; never fails the run."""
        if result.exit_code == int(ExitCode.USAGE) and not result.trace_id:
            return  # nothing ran (a bad goal, an unknown mode): not a turn
        from .memory.conversation import files_written

        try:
            common = dict(
                cwd=str(turn.cwd), source=opts.source, user=self.config.user, project=opts.project
            )
            if result.mode == Mode.FEEDBACK:
                turn.conv.append_feedback(
                    result.goal, str(result.decision.get("feedback", "")), **common
                )
            else:
                turn.conv.append_turn(
                    goal=result.goal,
                    mode=result.mode,
                    success=result.success,
                    output=result.output,
                    error=result.error,
                    files=files_written(result.tool_calls, turn.cwd),
                    trace_id=result.trace_id,
                    followup=turn.followup,
                    **common,
                )
        except (OSError, LLMOSError) as exc:
            self.events.record(
                EventType.CONVERSATION_LOG_FAILED, conversation=turn.conv.id, error=str(exc)[:300]
            )

    def _no_replay_for_followup(self, decision: Any, turn: _TurnContext) -> None:
        """A follow-up ("Now append a second line to it") means something else in every
        conversation: never a zero-model replay on its words; the model runs it with the context."""
        why = (
            f"a follow-up in conversation {turn.conv.id} (it refers to earlier turns): never a zero-model "
            "replay on its own words; the model runs it with the conversation"
        )
        decision.close = False
        if decision.mode in (Mode.FOLLOWER, Mode.CRYSTALLIZED, Mode.VERIFIED):
            decision.mode = (
                Mode.MIXED
                if (self.config.execution.enable_mixed and decision.trace_id)
                else Mode.LEARNER
            )
            decision.reason = f"{why}; {decision.reason}"
        else:
            decision.reason = f"{decision.reason}; {why}"

    def _feedback(self, goal: str, kind: str, emit: EventSink) -> RunResult:
        """Thanks or a correction with nothing to do: no model request, no trace; the sentience's
        user-feedback trigger hears it (user_positive / user_negative)."""
        turn = getattr(self._local, "turn", None)
        about = turn.conv.turns[-1] if turn is not None and turn.conv.turns else None
        emit(
            ModeChosen(
                Mode.FEEDBACK,
                1.0,
                "feedback on the previous answer: recorded, no model request, no trace",
            )
        )
        info: dict[str, Any] = {
            "mode": Mode.FEEDBACK,
            "feedback": kind,
            "about_trace": about.trace_id if about else None,
        }
        check_in = None
        if self.config.sentience.enabled:
            fb = self.sentience.on_user_feedback(goal)
            info["triggers"] = list(fb.triggers)
            check_in = fb.check_in
        self.events.record(
            EventType.USER_FEEDBACK,
            label=kind,
            about_trace=info["about_trace"],
            conversation=turn.conv.id if turn is not None else None,
        )
        if kind == "positive":
            text = (
                "Glad it worked. (Noted as feedback: no model call, nothing recorded as a trace.)"
            )
        else:
            text = (
                "Sorry that was not right. Noted as feedback; tell me what should change "
                '(e.g. "no, the file should be called notes.md") and I will run that.'
            )
        if check_in:
            text += "\n\n" + check_in
        return RunResult(
            goal=goal, mode=Mode.FEEDBACK, success=True, confidence=1.0, output=text, decision=info
        )

    def replay_proposal(self, goal: str, decision: Any) -> dict[str, Any]:
        """What the user is shown before a close trace is replayed: the trace's goal, every
        difference (and how it is accounted for, or not), the values that would be substituted
        (or why they cannot be) and the calls."""
        from .execution.replay.engine import Refusal, plan_substitution
        from .learning.slots import extract_slots

        trace = self.store.get(decision.trace_id)
        substitutions: dict[str, str] = {}
        refusal = None
        if decision.slot_bindings:
            planned = plan_substitution(trace.slots, extract_slots(goal), trace.calls)
            if isinstance(planned, Refusal):
                refusal = planned.reason
            else:
                substitutions = {c.old: c.new for c in planned.changes}
        acc = decision.accounting or {}
        return {
            "goal": goal,
            "trace_id": trace.id,
            "trace_goal": trace.goal,
            "confidence": round(decision.confidence, 4),
            "mode_otherwise": decision.mode,
            "differences": list(acc.get("differences", [])),
            "substitutions": substitutions,
            "substitution_refused": refusal,
            "calls": [{"name": c.name, "input": c.input} for c in trace.calls[:MAX_PROPOSAL_CALLS]],
            "calls_total": len(trace.calls),
        }

    def _ask_replay(self, goal: str, decision: Any, opts: RunOptions, emit: EventSink) -> str:
        """The user's answer about a close trace: replay, model or cancel (model on any failure)."""
        try:
            answer = opts.confirm_replay(self.replay_proposal(goal, decision))  # type: ignore[misc]
        except LLMOSError as exc:
            emit(
                Notice("warning", f"cannot show the close trace {decision.trace_id}: {exc.message}")
            )
            return "model"
        except Exception as exc:  # noqa: BLE001 - a broken dialog must not replay anything
            emit(
                Notice(
                    "warning",
                    f"the replay question failed ({type(exc).__name__}); running {decision.mode}",
                )
            )
            return "model"
        answer = answer if answer in ("replay", "model", "cancel") else "model"
        self.events.record(
            EventType.REPLAY_CONFIRMED if answer == "replay" else EventType.REPLAY_DECLINED,
            goal=goal[:200],
            trace_id=decision.trace_id,
            answer=answer,
        )
        return answer

    def _verify(self, goal: str, decision: Any, words: str, emit: EventSink) -> Any:
        """VERIFIED (``learning.verify: model``): one cheap-model call on a close trace. On a
        yes the decision becomes a VERIFIED replay with the answer's substitutions."""
        from .learning.verify import verify_replay

        trace = self.store.get(decision.trace_id)
        planned = {
            trace.slots[k]: v
            for k, v in (decision.slot_bindings or {}).items()
            if isinstance(trace.slots.get(k), str)
        }
        emit(
            Notice(
                "info",
                f"close trace {decision.trace_id} ({decision.matched_goal!r}): unaccounted words "
                f"(goal / trace): {words}; asking {self.config.models.cheap} whether it is the same task",
            )
        )
        verification = verify_replay(
            goal,
            trace,
            model=self.config.models.cheap,
            cap_usd=self.config.learning.verify_budget_usd,
            economy_file=self.workspace.economy_file,
            total_budget_usd=self.config.budget_usd,
            unaccounted=words,
            planned=planned,
        )
        self.events.record(
            EventType.REPLAY_VERIFIED,
            goal=goal[:200],
            trace_id=trace.id,
            same_task=verification.same_task,
            substitutions=verification.substitutions,
            note=verification.note,
            input_tokens=verification.input_tokens,
            output_tokens=verification.output_tokens,
            cost_usd=round(verification.cost_usd, 6),
        )
        decision.verification = verification.to_dict()
        if verification.approved:
            decision.mode = Mode.VERIFIED
            decision.approved_by = "verified"
            decision.value_substitutions = dict(verification.substitutions)
            decision.reason = (
                f"VERIFIED by {self.config.models.cheap}: the same task"
                + (f" with {verification.substitutions}" if verification.substitutions else "")
                + f"; unaccounted: {words}; {decision.reason}"
            )
        else:
            emit(
                Notice(
                    "warning",
                    f"close trace {trace.id} not replayed: verification says "
                    f"{verification.note or 'no'}; running {decision.mode}",
                )
            )
        return verification

    def _run_decided(
        self,
        goal: str,
        opts: RunOptions,
        cwd: Path,
        emit: EventSink,
        cancel: CancelToken | None,
        confirm: Callable[[str, dict[str, Any], str], bool] | None,
        decision: Any,
        info: dict[str, Any],
    ) -> RunResult:
        mode = decision.mode
        self._local.decided = (mode, decision.confidence, info)
        emit(ModeChosen(mode, decision.confidence, decision.reason, info))
        self.events.record(
            EventType.MODE_DECIDED,
            goal=goal[:200],
            mode=mode,
            confidence=round(decision.confidence, 4),
            trace_id=decision.trace_id,
        )
        if mode == Mode.CRYSTALLIZED:
            return self._run_crystallized(goal, opts, cwd, emit, cancel, confirm, decision)
        if mode in (Mode.FOLLOWER, Mode.VERIFIED):
            result = self._run_follower(goal, opts, cwd, emit, cancel, confirm, decision, mode=mode)
            self._maybe_crystallize(result, emit)
            return result
        if mode == Mode.MIXED:
            return self._run_mixed(
                goal, opts, cwd, emit, cancel, confirm, info, decision.confidence, decision.trace_id
            )
        if mode == Mode.ORCHESTRATOR:
            if not opts.nested:
                return self._run_orchestrator(
                    goal, opts, cwd, emit, cancel, confirm, info, decision.confidence
                )
            info["note"] = "a sub-goal never orchestrates again: running LEARNER"
        return self._run_learner(
            goal, opts, cwd, emit, cancel, confirm, decision=info, confidence=decision.confidence
        )

    # ---- FOLLOWER --------------------------------------------------------------------
    def _policy_hooks(self, cwd: Path) -> HookRegistry:
        from .execution.replay.hooks import HookRegistry, HookVerdict

        hooks = HookRegistry()
        latent = self.latent_mode()

        def policy_hook(name: str, tool_input: dict[str, Any], _tid: str) -> HookVerdict:
            d = self.policy.check(name, tool_input, cwd, latent_mode=latent)
            self.events.record(
                EventType.POLICY_DECISION,
                tool=name,
                decision=d.decision,
                reason=d.reason,
                rule=d.rule,
            )
            return HookVerdict(d.decision, d.reason, d.rule)

        hooks.add_pre(policy_hook, path_scoped=True)  # the policy engine's path rules
        return hooks

    def _run_follower(
        self,
        goal: str,
        opts: RunOptions,
        cwd: Path,
        emit: EventSink,
        cancel: CancelToken | None,
        confirm: Callable[[str, dict[str, Any], str], bool] | None,
        decision: Any,
        mode: str = Mode.FOLLOWER,
    ) -> RunResult:
        from .execution.replay.engine import Refusal, plan_substitution, plan_values, replay
        from .learning.slots import extract_slots

        info = decision.to_dict()
        trace = self.store.get(decision.trace_id)
        from .learning.trust import replay_refusal

        refusal = replay_refusal(
            self.store, trace
        )  # the content read now, not the one checked before
        if refusal is not None:
            return self._fall_back(
                goal,
                opts,
                cwd,
                emit,
                cancel,
                confirm,
                info,
                decision.confidence,
                refusal,
                guide_id=trace.id,
            )
        substitution = None
        alias_values = self._alias_values(trace, decision.alias) if decision.alias else {}
        if alias_values or decision.value_substitutions:
            planned = plan_values(alias_values or decision.value_substitutions, trace.calls)
            if isinstance(planned, Refusal):
                return self._fall_back(
                    goal,
                    opts,
                    cwd,
                    emit,
                    cancel,
                    confirm,
                    info,
                    decision.confidence,
                    f"the approved values cannot be substituted safely ({planned.reason})",
                    guide_id=trace.id,
                    from_mode=mode,
                )
            substitution = planned
        elif decision.slot_bindings and not decision.alias:
            planned = plan_substitution(trace.slots, extract_slots(goal), trace.calls)
            if isinstance(planned, Refusal):
                return self._fall_back(
                    goal,
                    opts,
                    cwd,
                    emit,
                    cancel,
                    confirm,
                    info,
                    decision.confidence,
                    f"the goal's new values cannot be substituted safely ({planned.reason})",
                    guide_id=trace.id,
                    from_mode=mode,
                )
            substitution = planned
        executor = self._executor(cwd, opts, emit, confirm)
        outcome = replay(
            trace.calls, cwd, executor, bindings=substitution, on_event=emit, cancel=cancel
        )
        if outcome.cancelled:
            return RunResult(
                goal=goal,
                mode=mode,
                success=False,
                trace_id=trace.id,
                confidence=decision.confidence,
                output=outcome.describe(),
                error="cancelled by the user",
                exit_code=int(ExitCode.GOAL_FAILED),
                decision=info,
                tool_calls=outcome.tool_calls(),
            )
        if outcome.success:
            self.store.record_outcome(trace.id, True)
            self.events.record(
                EventType.TRACE_REPLAYED,
                trace_id=trace.id,
                goal=goal[:200],
                success=True,
                substituted=bool(substitution),
                approved_by=decision.approved_by,
                alias=decision.alias,
                mode=mode,
            )
            if decision.approved_by:
                self._learn_alias(trace.id, goal, substitution, emit)
            return RunResult(
                goal=goal,
                mode=mode,
                success=True,
                trace_id=trace.id,
                confidence=decision.confidence,
                output=outcome.describe(),
                decision=info,
                tool_calls=outcome.tool_calls(),
            )
        self.store.record_outcome(trace.id, False)
        self.events.record(
            EventType.TRACE_REPLAYED,
            trace_id=trace.id,
            goal=goal[:200],
            success=False,
            reason=outcome.reason,
            refused=outcome.refused,
            mode=mode,
        )
        what = (
            "refused before running anything"
            if outcome.refused
            else f"stopped at step {(outcome.stopped_at or 0) + 1}"
        )
        result = self._fall_back(
            goal,
            opts,
            cwd,
            emit,
            cancel,
            confirm,
            info,
            decision.confidence,
            f"replay of {trace.id} {what}: {outcome.reason}",
            from_mode=mode,
        )
        result.tool_calls = outcome.tool_calls() + result.tool_calls
        return result

    @staticmethod
    def _alias_values(trace: Any, phrase: str) -> dict[str, str]:
        """The ``{old: new}`` values approved with the alias *phrase* of *trace*."""
        from .learning.text import normalize_text
        from .learning.traces import alias_phrase, alias_substitutions

        key = normalize_text(phrase).lower()
        for alias in trace.aliases:
            if normalize_text(alias_phrase(alias)).lower() == key:
                return alias_substitutions(alias)
        return {}

    def _learn_alias(self, trace_id: str, goal: str, substitution: Any, emit: EventSink) -> None:
        """An approved replay that succeeded: its phrasing becomes an alias of the trace (with
        the values it put into the calls), so the same phrasing is an exact match next time."""
        values = {c.old: c.new for c in substitution.changes} if substitution is not None else {}
        try:
            added = self.store.add_alias(trace_id, goal, values)
        except LLMOSError as exc:
            emit(
                Notice(
                    "warning",
                    f"the phrasing was not recorded as an alias of {trace_id}: {exc.message}",
                )
            )
            return
        if added:
            emit(
                Notice(
                    "info",
                    f"recorded {goal!r} as an alias of trace {trace_id} "
                    f"(remove it with `llmos traces alias rm {trace_id} PHRASE`)",
                )
            )

    def _executor(
        self,
        cwd: Path,
        opts: RunOptions,
        emit: EventSink,
        confirm: Callable[[str, dict[str, Any], str], bool] | None,
        *,
        hooks: Any = None,
    ) -> ToolExecutor:
        from .execution.replay.executors import ToolExecutor
        from .execution.sandbox.limits import SandboxOptions

        return ToolExecutor(
            cwd,
            hooks if hooks is not None else self._policy_hooks(cwd),
            sandbox_backend=self.config.execution.sandbox,
            sandbox_options=SandboxOptions.from_config(self.config.execution),
            allow_network=self.config.execution.allow_network,
            confirm=confirm,
            assume_yes=opts.assume_yes,
            read_only_paths=tuple(self.workspace.protected_paths()),
            hidden_paths=tuple(self.workspace.hidden_paths()),
            undo=opts.undo,
            on_notice=lambda level, text: emit(Notice(level, text)),
        )

    # ---- CRYSTALLIZED ----------------------------------------------------------------
    def crystallizer(self) -> Crystallizer:
        from .evolution.crystallizer import Crystallizer

        return Crystallizer(
            self.workspace,
            self.store,
            self.config,
            hooks_factory=self._policy_hooks,
            events=self.events,
        )

    def _maybe_crystallize(self, result: RunResult, emit: EventSink) -> None:
        if not (
            result.success
            and result.trace_id
            and self.config.learning.auto_crystallization
            and self.config.execution.enable_crystallized
        ):
            return
        tool = self.crystallizer().maybe_crystallize(result.trace_id)
        if tool is not None:
            emit(
                Notice(
                    "info",
                    f"crystallized trace {result.trace_id} into tool {tool.id}: "
                    "matching goals now run it with no LLM call",
                )
            )

    def _run_crystallized(
        self,
        goal: str,
        opts: RunOptions,
        cwd: Path,
        emit: EventSink,
        cancel: CancelToken | None,
        confirm: Callable[[str, dict[str, Any], str], bool] | None,
        decision: Any,
    ) -> RunResult:
        from .execution.replay.crystallized import ToolError, load_tool, run_tool
        from .learning.slots import extract_slots

        info = decision.to_dict()
        try:
            tool = load_tool(
                self.workspace, decision.crystallized_tool, volumes=self.visible_volumes()
            )
            if tool.source_trace != decision.trace_id:
                raise ToolError(
                    f"tool {tool.id} was made from {tool.source_trace}, not {decision.trace_id}"
                )
            from .learning.trust import replay_refusal, tool_problem

            current = self.store.get(decision.trace_id)
            refusal = replay_refusal(
                self.store, current
            )  # the trace as it is now, not as it was checked
            if refusal is not None:
                return self._fall_back(
                    goal,
                    opts,
                    cwd,
                    emit,
                    cancel,
                    confirm,
                    info,
                    decision.confidence,
                    refusal,
                    guide_id=current.id,
                )
            problem = tool_problem(
                tool, current
            )  # the tool must run exactly its trusted trace's calls
            if problem is not None:
                raise ToolError(problem)
        except ToolError as exc:
            emit(
                Notice(
                    "warning",
                    f"crystallized tool {decision.crystallized_tool} cannot run ({exc.message}); "
                    "demoting it and replaying the trace instead",
                )
            )
            try:
                self.crystallizer().demote(decision.crystallized_tool, exc.message)
            except Exception:  # noqa: BLE001 - a broken tool must never stop the goal
                pass
            result = self._run_follower(goal, opts, cwd, emit, cancel, confirm, decision)
            result.fallback_from = Mode.CRYSTALLIZED
            return result
        outcome = run_tool(
            tool,
            cwd=cwd,
            executor=self._executor(cwd, opts, emit, confirm),
            slot_values=extract_slots(goal),
            on_event=emit,
            cancel=cancel,
        )
        if outcome.cancelled:
            return RunResult(
                goal=goal,
                mode=Mode.CRYSTALLIZED,
                success=False,
                trace_id=decision.trace_id,
                confidence=decision.confidence,
                output=outcome.describe(),
                error="cancelled by the user",
                exit_code=int(ExitCode.GOAL_FAILED),
                decision=info,
                tool_calls=outcome.tool_calls(),
            )
        if outcome.success:
            self.store.record_outcome(decision.trace_id, True)
            self.events.record(
                EventType.TOOL_RUN,
                tool=tool.id,
                trace_id=decision.trace_id,
                success=True,
                volume=tool.volume,
            )
            return RunResult(
                goal=goal,
                mode=Mode.CRYSTALLIZED,
                success=True,
                trace_id=decision.trace_id,
                confidence=decision.confidence,
                output=outcome.describe(),
                decision=info,
                tool_calls=outcome.tool_calls(),
            )
        if outcome.refused:
            # A refusal (unsafe value, policy) does not mean the tool is broken: replay the trace instead.
            emit(
                Notice(
                    "warning",
                    f"crystallized tool {tool.id} refused: {outcome.reason}; replaying the trace",
                )
            )
            result = self._run_follower(goal, opts, cwd, emit, cancel, confirm, decision)
            result.fallback_from = Mode.CRYSTALLIZED
            return result
        self.store.record_outcome(decision.trace_id, False)
        self.crystallizer().demote(tool, outcome.reason)
        self.events.record(
            EventType.TOOL_RUN,
            tool=tool.id,
            trace_id=decision.trace_id,
            success=False,
            reason=outcome.reason,
            volume=tool.volume,
        )
        result = self._fall_back(
            goal,
            opts,
            cwd,
            emit,
            cancel,
            confirm,
            dict(info, demoted=tool.id),
            decision.confidence,
            f"crystallized tool {tool.id} failed: {outcome.reason}",
        )
        if "replay_refused" not in result.decision:
            result.fallback_from = Mode.CRYSTALLIZED
        result.tool_calls = outcome.tool_calls() + result.tool_calls
        return result

    def _fall_back(
        self,
        goal: str,
        opts: RunOptions,
        cwd: Path,
        emit: EventSink,
        cancel: CancelToken | None,
        confirm: Callable[[str, dict[str, Any], str], bool] | None,
        info: dict[str, Any],
        confidence: float,
        why: str,
        *,
        guide_id: str | None = None,
        from_mode: str = Mode.FOLLOWER,
    ) -> RunResult:
        info = dict(info, fallback_reason=why)
        if explicit_replay(opts):
            return self._replay_refused(goal, opts, info, confidence, why)
        if guide_id is not None and self.config.execution.enable_mixed:
            emit(Notice("warning", f"{why}; running MIXED (guided by the trace) instead"))
            result = self._run_mixed(
                goal, opts, cwd, emit, cancel, confirm, info, confidence, guide_id
            )
        else:
            emit(Notice("warning", f"{why}; falling back to LEARNER"))
            result = self._run_learner(
                goal, opts, cwd, emit, cancel, confirm, decision=info, confidence=confidence
            )
        result.fallback_from = from_mode
        return result

    def _replay_refused(
        self, goal: str, opts: RunOptions, info: dict[str, Any], confidence: float, why: str
    ) -> RunResult:
        """An explicit replay (``--mode follower|crystallized``, the TUI's replay key) that cannot run
        ends here: no paid run the user did not choose. The result says why (``decision.replay_refused``)
        so the TUI can ask whether to run the goal with the model instead; headless it exits 1."""
        mode = opts.mode.upper()
        info = dict(info, replay_refused=why)
        self.events.record(
            EventType.REPLAY_REFUSED,
            goal=goal[:200],
            mode=mode,
            reason=why[:500],
            trace_id=info.get("trace_id"),
        )
        return RunResult(
            goal=goal,
            mode=mode,
            success=False,
            confidence=confidence,
            decision=info,
            trace_id=info.get("trace_id"),
            error=f"{why}. You asked for a replay ({mode}, no LLM call), so llmos did not fall back "
            f"to a paid run; to let the model do it: llmos --headless run GOAL --mode learner",
            exit_code=int(ExitCode.GOAL_FAILED),
        )

    # ---- ORCHESTRATOR ----------------------------------------------------------------
    def _run_orchestrator(
        self,
        goal: str,
        opts: RunOptions,
        cwd: Path,
        emit: EventSink,
        cancel: CancelToken | None,
        confirm: Callable[[str, dict[str, Any], str], bool] | None,
        info: dict[str, Any],
        confidence: float,
    ) -> RunResult:
        """Plan (one call), run each sub-goal through the same mode selection, synthesize (one call)."""
        import dataclasses

        from .execution.llm.orchestrator import (
            available_agents,
            plan_goal,
            run_plan,
            summary_text,
            synthesize,
            trace_calls,
        )
        from .execution.llm.session import require_llm

        require_llm()
        self.economy.check_budget(self.config.execution.per_run_estimate_usd)
        execution = self.config.execution
        agents, _problems = available_agents(self.workspace.agents_dir)
        planned = plan_goal(
            goal, agents, model=self.config.model, max_steps=execution.orchestrator_max_steps
        )
        usage = planned.usage
        if usage.cost_usd or usage.input_tokens:
            self.economy.charge(
                mode=Mode.ORCHESTRATOR,
                cost_usd=usage.cost_usd,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                goal=f"plan: {goal}",
            )
        plan = planned.plan
        if plan is None:
            reason = planned.error.reason if planned.error is not None else "no plan"
            why = f"the plan was rejected: {reason}"
            emit(Notice("warning", f"{why}; running LEARNER instead"))
            result = self._run_learner(
                goal,
                opts,
                cwd,
                emit,
                cancel,
                confirm,
                decision=dict(info, fallback_reason=why),
                confidence=confidence,
            )
            result.fallback_from = Mode.ORCHESTRATOR
            result.llm_calls += usage.llm_calls
            result.input_tokens += usage.input_tokens
            result.output_tokens += usage.output_tokens
            result.cost_usd += usage.cost_usd
            return result
        emit(
            Notice(
                "info",
                "plan: "
                + "; ".join(
                    f"{sg.id} [{sg.agent}] {sg.goal}"
                    + (f" (after {', '.join(sg.depends_on)})" if sg.depends_on else "")
                    for sg in plan.subgoals
                ),
            )
        )

        def run_subgoal(sub: Any) -> RunResult:
            sub_opts = dataclasses.replace(
                opts, mode="auto", nested=True, agent=sub.agent, context=sub.context
            )
            return self.execute(
                sub.goal, options=sub_opts, on_event=emit, cancel=cancel, confirm=confirm
            )

        orchestration = run_plan(
            plan,
            run_subgoal,
            max_parallel=execution.orchestrator_max_parallel,
            budget_check=lambda: self.economy.balance() >= execution.per_run_estimate_usd,
            cancel=cancel,
        )
        text, synth = synthesize(goal, plan, orchestration, model=self.config.model)
        if synth.cost_usd or synth.input_tokens:
            self.economy.charge(
                mode=Mode.ORCHESTRATOR,
                cost_usd=synth.cost_usd,
                input_tokens=synth.input_tokens,
                output_tokens=synth.output_tokens,
                goal=f"synthesis: {goal}",
            )
        totals = orchestration.totals()
        record = dict(
            orchestration.to_dict(),
            plan=plan.to_dict(),
            planning=usage.to_dict(),
            synthesis=synth.to_dict(),
        )
        result = RunResult(
            goal=goal,
            mode=Mode.ORCHESTRATOR,
            success=orchestration.success,
            confidence=confidence,
            llm_calls=usage.llm_calls + synth.llm_calls + totals["llm_calls"],
            input_tokens=usage.input_tokens + synth.input_tokens + totals["input_tokens"],
            output_tokens=usage.output_tokens + synth.output_tokens + totals["output_tokens"],
            cost_usd=usage.cost_usd + synth.cost_usd + totals["cost_usd"],
            output=text or summary_text(goal, orchestration),
            decision=dict(info, orchestration=record),
            tool_calls=[
                {"name": c["name"], "input": c["input"], **c["result"]}
                for c in trace_calls(orchestration)
            ],
        )
        if not orchestration.success:
            failed = [
                o.subgoal.id for o in orchestration.outcomes.values() if o.status != "succeeded"
            ]
            result.error = f"sub-goal(s) not completed: {', '.join(failed)}" + (
                f" (stopped: {orchestration.stopped})" if orchestration.stopped else ""
            )
            result.exit_code = int(ExitCode.GOAL_FAILED)
        self.events.record(
            EventType.ORCHESTRATION_FINISHED,
            goal=goal[:200],
            success=result.success,
            subgoals=len(plan.subgoals),
            stopped=orchestration.stopped,
        )
        result.trace_id = self._record_trace(
            goal, cwd, result, trace_calls(orchestration), self.config.model, project=opts.project
        )
        return result

    # ---- MIXED -----------------------------------------------------------------------
    def _run_mixed(
        self,
        goal: str,
        opts: RunOptions,
        cwd: Path,
        emit: EventSink,
        cancel: CancelToken | None,
        confirm: Callable[[str, dict[str, Any], str], bool] | None,
        info: dict[str, Any],
        confidence: float,
        trace_id: str,
    ) -> RunResult:
        from .learning.matcher import replayable

        guide = self.store.get(trace_id)
        if not replayable(self.store.index.get(trace_id) or guide):
            # a failed run is never a worked example (issue 16): no guide, a plain session
            info["note"] = f"trace {trace_id} failed when it was recorded: not used as an example"
            return self._run_learner(
                goal,
                opts,
                cwd,
                emit,
                cancel,
                confirm,
                decision=info,
                confidence=confidence,
                mode=Mode.MIXED,
            )
        return self._run_learner(
            goal,
            opts,
            cwd,
            emit,
            cancel,
            confirm,
            decision=info,
            confidence=confidence,
            mode=Mode.MIXED,
            guide=guide,
        )

    # ---- LEARNER ---------------------------------------------------------------------
    def _run_learner(  # noqa: C901 - baseline, see README "Checks"
        self,
        goal: str,
        opts: RunOptions,
        cwd: Path,
        emit: EventSink,
        cancel: CancelToken | None,
        confirm: Callable[[str, dict[str, Any], str], bool] | None,
        *,
        decision: dict[str, Any],
        confidence: float = 0.0,
        mode: str = Mode.LEARNER,
        guide: Any = None,
    ) -> RunResult:
        """A full LLM session (LEARNER), or a reduced one guided by a similar trace (MIXED)."""
        import asyncio

        from .execution.llm.session import (
            SessionMeter,
            SessionRequest,
            budget_hook,
            require_llm,
            run_session,
        )
        from .execution.llm.tool_search import is_own_tool
        from .runs import next_call_seq

        require_llm()
        self.economy.check_budget(self.config.execution.per_run_estimate_usd)
        adj = self._adjustments()
        adapted = self.agents_for(opts.project).adapt(
            opts.agent, goal, adj, self._traces_for(decision)
        )
        hooks = self._policy_hooks(cwd)
        meter = SessionMeter()
        hooks.add_pre(budget_hook(meter, self.economy.balance))
        if self.config.memory.inject:
            from .memory.inject import memory_prompt_hook

            hooks.add_prompt(
                memory_prompt_hook(
                    workspace=self.workspace,
                    store=self.store,
                    user=self.config.user,
                    volumes=self.visible_volumes(),
                    max_tokens=self.config.memory.inject_max_tokens,
                    project=opts.project,
                )
            )
        recorded: list[dict[str, Any]] = []

        def capture_hook(name: str, tool_input: dict[str, Any], tid: str, outcome: Any) -> None:
            if is_own_tool(name):
                return  # our MCP tools' underlying calls are captured by the executor's own hooks
            response = outcome.response
            found: list[str] = list(getattr(outcome, "files_created", None) or [])
            if (
                isinstance(response, dict)
                and response.get("type") == "create"
                and response.get("filePath")
            ):
                found.append(str(response["filePath"]))
            created: list[str] = []
            for raw in found:  # each file once, relative to the working directory when inside it
                path = Path(raw)
                try:
                    rel = (
                        (path if path.is_absolute() else cwd / path)
                        .resolve()
                        .relative_to(cwd)
                        .as_posix()
                    )
                except (ValueError, OSError):
                    rel = raw
                if rel not in created:
                    created.append(rel)
            recorded.append(
                {
                    "name": name,
                    "input": tool_input,
                    "tool_use_id": tid,
                    "seq": next_call_seq(),
                    "result": {
                        "is_error": outcome.is_error,
                        "summary": outcome.summary,
                        "exit_code": outcome.exit_code,
                        "files_created": created,
                        "decision": "allow",
                    },
                }
            )

        hooks.add_post(capture_hook)
        tools, system_append = list(adapted.tools), adapted.system_append
        if opts.context:
            system_append += "\n\n" + opts.context
        examples_from: list[str] = []
        if guide is not None:
            tools = mixed_tools(guide, adapted.tools)
            system_append += "\n\n" + mixed_examples(guide, cwd)
            examples_from = [guide.id]
        else:
            examples_from = [
                c["trace_id"]
                for c in (decision.get("candidates") or [])[:3]
                if isinstance(c, dict) and c.get("trace_id")
            ]
        if self.config.execution.enable_tool_examples and examples_from:
            from .learning.tool_examples import examples_from_traces, examples_prompt

            by_tool = examples_from_traces(
                self.store,
                examples_from,
                tools,
                min_success=self.config.learning.tool_example_min_success,
                cap=self.config.learning.tool_example_cap,
                cwd=cwd,
            )
            text = examples_prompt(by_tool)
            if text:
                system_append += "\n\n" + text
        # One execution path: the agent's file and shell tools are llmos's MCP twins, run by our executor
        # (policy + OS sandbox); LEARNER also gets the crystallized tools and plugins (Tool Search).
        from .execution.llm.tool_search import ToolRegistry, session_tooling
        from .learning.trust import tool_trusted

        registry = (
            ToolRegistry.for_workspace(
                self.workspace,
                self.visible_volumes(),
                allow=lambda tool: tool_trusted(self.store, tool),
            )
            if mode == Mode.LEARNER
            else ToolRegistry()
        )
        tooling = session_tooling(
            registry,
            tools,
            model=adapted.model,
            enabled=self.config.execution.enable_tool_search,
            extras=mode == Mode.LEARNER,
            threshold=self.config.execution.tool_search_threshold,
            on_event=emit,
            executor_factory=lambda: self._executor(cwd, opts, emit, confirm, hooks=hooks),
        )
        tools = list(tooling.tools)
        if tooling.system_text:
            system_append += "\n\n" + tooling.system_text
        subagents = None
        if opts.nested:
            # An orchestrated sub-goal may delegate: the markdown agents become SDK AgentDefinitions.
            from .execution.llm.orchestrator import agent_definitions, available_agents

            subagents = (
                agent_definitions(
                    available_agents(self.workspace.agents_dir)[0], offered=tooling.twins
                )
                or None
            )
            if subagents and "Agent" not in tools:
                tools = [*tools, "Agent"]  # the CLI's delegation tool; its calls pass our hooks too
        request = SessionRequest(
            prompt=goal,
            cwd=cwd,
            model=adapted.model,
            agents=subagents,
            claude_config_dir=self.workspace.claude_config_dir,
            tools=tools,
            system_append=system_append,
            max_turns=self.config.execution.max_turns,
            timeout_s=self.config.execution.run_timeout_s,
            server_timeout_s=self.config.execution.llm_server_timeout_s,
            mcp_servers=dict(tooling.mcp_servers) if tooling else {},
            allowed_tools=list(tooling.allowed_tools) if tooling else [],
            disallowed_tools=list(tooling.disallowed_tools) if tooling else [],
            post_tool_output=tooling.post_tool_output if tooling else None,
            meter=meter,
        )
        from .claude_state import purge_transcripts

        try:
            outcome = asyncio.run(
                run_session(
                    request,
                    hooks,
                    on_event=emit,
                    cancel=cancel,
                    confirm=confirm,
                    assume_yes=opts.assume_yes,
                )
            )
        finally:
            purge_transcripts(self.workspace.claude_config_dir)  # the CLI's transcripts: never kept
        if tooling is not None:
            outcome.blocked.extend(tooling.blocked)
            outcome.rejected.extend(tooling.rejected)
        if outcome.cost_usd or outcome.input_tokens:
            from .redact import redact_text

            self.economy.charge(
                mode=mode,
                cost_usd=outcome.cost_usd,
                input_tokens=outcome.input_tokens,
                output_tokens=outcome.output_tokens,
                goal=redact_text(goal),
            )
        result = RunResult(
            goal=goal,
            mode=mode,
            success=outcome.success,
            confidence=confidence,
            llm_calls=outcome.llm_calls,
            input_tokens=outcome.input_tokens,
            output_tokens=outcome.output_tokens,
            cost_usd=outcome.cost_usd,
            output=outcome.text,
            error=outcome.error,
            decision=decision,
        )
        for blocked in outcome.blocked:
            label = {
                BUDGET_RULE: "stopped by the budget",
                DECLINED_RULE: "not run",
                WITHHELD_RULE: "refused",
            }.get(blocked["rule"], "blocked by policy")
            recorded.append(
                {
                    "name": blocked["name"],
                    "input": blocked["input"],
                    "tool_use_id": blocked["tool_use_id"],
                    "seq": blocked.get("seq", 0),
                    "result": {
                        "is_error": True,
                        "summary": f"{label}: {blocked['reason']}",
                        "exit_code": None,
                        "decision": "deny",
                        "rule": blocked["rule"],
                    },
                }
            )
        for (
            rejected
        ) in outcome.rejected:  # never ran: bad input or an unknown tool (the model was told)
            recorded.append(
                {
                    "name": rejected["name"],
                    "input": rejected["input"],
                    "tool_use_id": rejected["tool_use_id"],
                    "seq": rejected.get("seq", 0),
                    "result": {
                        "is_error": True,
                        "summary": f"rejected: {rejected['reason']}",
                        "exit_code": None,
                        "decision": REJECTED,
                        "rule": rejected["rule"],
                    },
                }
            )
        recorded.sort(key=lambda c: c.get("seq", 0))  # the order the calls happened in
        for call in recorded:
            call.pop("seq", None)
        result.tool_calls = [
            {"name": c["name"], "input": c["input"], **c["result"]} for c in recorded
        ]
        over_budget = [b for b in outcome.blocked if b["rule"] == BUDGET_RULE]
        # Refused calls fail the run (exit 3), withheld tools included; which of them count as safety
        # violations is _after_run's business (hooks.NOT_SAFETY_RULES). A user's "No" is exit 1.
        policy_blocked = [
            b for b in outcome.blocked if b["rule"] not in (BUDGET_RULE, DECLINED_RULE)
        ]
        declined = [b for b in outcome.blocked if b["rule"] == DECLINED_RULE]
        if over_budget:
            # The budget hook denied the rest of the run's tool calls (execution/llm_sdk.budget_hook).
            result.success = False
            result.error = over_budget[0]["reason"]  # "the budget ran out during this run: ..."
            result.exit_code = int(ExitCode.BUDGET_EXHAUSTED)
        elif policy_blocked:
            # The model may carry on and claim success; the goal was not done as asked.
            result.success = False
            reasons = "; ".join(sorted({b["reason"] for b in policy_blocked}))
            what = (
                "refused"
                if all(b["rule"] == WITHHELD_RULE for b in policy_blocked)
                else "blocked by policy"
            )
            result.error = f"{len(policy_blocked)} tool call(s) {what}: {reasons}"
            result.exit_code = int(ExitCode.POLICY_BLOCKED)
        elif declined:
            result.success = False
            result.error = (
                f"you declined {len(declined)} tool call(s), so the goal was not done as asked: "
                + "; ".join(sorted({d["name"] + " " + _call_target(d["input"]) for d in declined}))
            )
            result.exit_code = int(ExitCode.GOAL_FAILED)
        elif not outcome.success:
            result.exit_code = int(ExitCode.GOAL_FAILED)
        elif recorded and recorded[-1]["result"].get("is_error"):
            # The run's success takes its tool results into account: the model may say it is done,
            # but its last tool call failed (earlier failures it recovered from do not count).
            last = recorded[-1]
            result.success = False
            result.error = (
                f"the last tool call failed: {last['name']} {_call_target(last['input'])}".rstrip()
                + f": {last['result'].get('summary') or 'error'}"
            )
            result.exit_code = int(ExitCode.GOAL_FAILED)
        result.agent = adapted.name
        result.model = request.model
        result.decision = dict(
            result.decision,
            agent=adapted.name,
            model=request.model,
            model_tier=adapted.model_tier,
            tools=tools,
        )
        if outcome.llm_calls or recorded or result.success:
            result.trace_id = self._record_trace(
                goal,
                cwd,
                result,
                recorded,
                request.model,
                parent_trace=guide.id if guide is not None else None,
                agent=adapted.name,
                project=opts.project,
            )
        # else: the model server never answered; there is nothing to learn (the failure is in the events)
        refused = [
            {"tool": b["name"], "reason": b["reason"], "input": b["input"]} for b in outcome.blocked
        ]
        self.agents_for(opts.project).record_execution(
            adapted.name,
            goal,
            success=result.success,
            cost_usd=result.cost_usd,
            error=result.error,
            tools_used=[c["name"] for c in recorded],
            blocked=refused,
            timed_out=bool(outcome.error and "timed out" in outcome.error),
            mode=mode,
            model=request.model,
        )
        return result

    def _record_trace(
        self,
        goal: str,
        cwd: Path,
        result: RunResult,
        calls: list[dict[str, Any]],
        model: str,
        *,
        parent_trace: str | None = None,
        agent: str = "system-agent",
        project: str | None = None,
    ) -> str | None:
        from .learning import traces as tr
        from .learning.slots import extract_slots
        from .redact import redact_text

        if result.error and "cancelled" in result.error:
            return None
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        tool_calls = tr.relativize(
            [
                tr.ToolCall(
                    name=c["name"],
                    input=c["input"],
                    result=c["result"],
                    tool_use_id=c.get("tool_use_id", ""),
                )
                for c in calls
            ],
            cwd,
        )
        context: dict[str, Any] = {}
        turn = getattr(self._local, "turn", None)
        if turn is not None and turn.conv.turns:
            from .memory.conversation import depends_on

            files = depends_on(goal, calls, turn.earlier_files)
            if turn.followup or files:
                context = {
                    "conversation": turn.conv.id,
                    "depends_on": {
                        "files": files,
                        "goals": [redact_text(turn.conv.turns[-1].goal)[:300]]
                        if turn.followup
                        else [],
                    },
                    "replayable": False,
                }
        trace = tr.Trace(
            id=tr.new_trace_id(),
            goal=goal,
            signature=tr.goal_signature(goal),
            created_at=now,
            last_used=now,
            mode=result.mode,
            usage_count=1,
            success_count=1 if result.success else 0,
            failure_count=0 if result.success else 1,
            cost_usd=round(result.cost_usd, 6),
            tokens={"input": result.input_tokens, "output": result.output_tokens},
            tools_used=sorted(
                {c.name for c in tool_calls if (c.result or {}).get("decision") != REJECTED}
            ),
            slots=extract_slots(goal),
            agent=agent,
            model=model,
            crystallized_tool=None,
            emotion=self._emotion(result),
            outcome="success" if result.success else "failure",
            error=result.error,
            summary=redact_text(result.output or "")[:2000],  # redacted before the cut
            calls=tool_calls,
            parent_trace=parent_trace,
            project=project,
            context=context,
        )
        self.store.save(trace, volume=self.config.user_volume())
        self.events.record(
            EventType.TRACE_RECORDED, trace_id=trace.id, goal=goal[:200], success=result.success
        )
        return trace.id

    # ---- sentience helpers ----------------------------------------------------------
    def _emotion(self, result: RunResult) -> dict[str, Any]:
        if not self.config.sentience.enabled:
            return {}
        denials = sum(
            1
            for c in result.tool_calls
            if c.get("decision") == "deny" and c.get("rule") not in NOT_SAFETY_RULES
        )
        return self.sentience.emotion_snapshot(
            "success" if result.success else "failure",
            None,
            success=result.success,
            policy_denials=denials,
            cost_usd=result.cost_usd,
        )

    def _traces_for(self, decision: dict[str, Any]) -> list[Any]:
        """Stored traces of the decision's top candidates (failures included), for the agent manager."""
        out = []
        for cand in (decision.get("candidates") or [])[:3]:
            trace_id = cand.get("trace_id") if isinstance(cand, dict) else None
            if not trace_id:
                continue
            try:
                out.append(self.store.get(trace_id))
            except LLMOSError:
                continue
        return out

    def _after_run(self, result: RunResult) -> None:
        """Fire the sentience triggers of a finished run (not for usage errors, cancelled runs, or
        runs refused before any request for want of budget or an LLM)."""
        if not self.config.sentience.enabled or result.exit_code in (
            ExitCode.USAGE,
            ExitCode.NO_LLM,
        ):
            return
        if result.exit_code == ExitCode.BUDGET_EXHAUSTED and not result.cost_usd:
            return
        if result.error == "cancelled by the user" or result.mode in (
            Mode.ADAPTATION,
            Mode.FEEDBACK,
        ):
            return
        refused = [c for c in result.tool_calls if c.get("decision") == "deny"]
        # A replay the user asked for that was refused before anything ran failed nobody: not a lower safety.
        nothing_ran = bool((result.decision or {}).get("replay_refused")) and not any(
            c.get("decision") == "allow" for c in result.tool_calls
        )
        # Only real policy blocks are safety violations: not the budget, not a user's "No", not an ask
        # that could not be asked headless, not a call to a tool that was never offered (hooks.NOT_SAFETY_RULES).
        denials = [c for c in refused if c.get("rule") not in NOT_SAFETY_RULES]
        asks = sum(1 for c in result.tool_calls if str(c.get("decision", "")).startswith("ask"))
        novel = (
            result.mode == Mode.LEARNER and result.confidence < self.config.learning.mixed_threshold
        )
        self.sentience.after_run(
            result.goal,
            mode=result.mode,
            success=result.success,
            cost_usd=result.cost_usd,
            duration_ms=result.duration_ms,
            policy_denials=len(denials),
            policy_asks=asks,
            timed_out=bool(result.error and "timed out" in result.error),
            novel=novel,
            trace_id=result.trace_id,
            denial_reasons=[str(c.get("summary", "")) for c in denials],
            withheld_attempts=sum(1 for c in refused if c.get("rule") == WITHHELD_RULE),
            user_declines=sum(1 for c in refused if c.get("rule") == DECLINED_RULE),
            unconfirmed_asks=sum(1 for c in refused if c.get("rule") == UNCONFIRMED_RULE),
            refusals=int(nothing_ran),
        )


def _call_target(tool_input: dict[str, Any]) -> str:
    for key in ("file_path", "command", "path", "pattern", "url"):
        value = tool_input.get(key) if isinstance(tool_input, dict) else None
        if isinstance(value, str) and value:
            return " ".join(value.split())[:80]
    return ""


# ---- MIXED helpers (pure) ---------------------------------------------------------------


def mixed_tools(guide: Any, agent_tools: list[str]) -> list[str]:
    """The reduced tool set of a guided run: the tools the trace used, plus Read to look around."""
    used = [c.name for c in guide.calls]
    wanted = {*used, "Read"}
    reduced = [t for t in agent_tools if t in wanted]
    return reduced or list(agent_tools)


def mixed_examples(guide: Any, cwd: Path, limit: int = MIXED_EXAMPLE_CHARS) -> str:
    """The matched trace's calls as worked examples, paths re-rooted into this run's cwd."""
    import json

    from .learning.traces import reroot

    lines = [
        f"A previous run solved a similar goal ({guide.goal!r}) with the tool calls below. "
        "If they fit this goal, reuse them; adapt them where this goal differs; if they do not fit, "
        "say so and solve the goal your own way."
    ]
    for number, call in enumerate(reroot(guide.calls, cwd), start=1):
        result = call.result or {}
        status = "error" if result.get("is_error") else "ok"
        args = json.dumps(call.input, ensure_ascii=False)
        if len(args) > 1500:
            args = args[:1500] + "…"
        lines.append(f"{number}. {call.name} {args} -> {status}")
    text = "\n".join(lines)
    return text if len(text) <= limit else text[: limit - 1] + "…"
