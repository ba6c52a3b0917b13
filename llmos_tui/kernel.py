"""LLMOS: the kernel façade. boot → execute → shutdown; wires the layers together.

The kernel decides how each goal runs (mode selection), runs it through the right backend,
charges the budget from real usage, records a trace and events. It never imports textual,
and imports the LLM libraries only when a goal really calls an LLM.

The kernel keeps the public API (``LLMOS``, ``RunOptions``) and the decision; each mode's runner is
a module of ``llmos_tui/modes/``. A run's state (goal, options, cwd, event sink, cancel token,
confirmation, conversation turn, the sentience's adjustments, what was decided) travels in one
``RunContext`` made by ``execute`` for that run: runs on several threads (an orchestration's
sub-goals) share nothing.

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

import re
import sys
import time
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from . import records
from .records import record
from .config import LLMOSConfig, load_config
from .errors import LLMOSError, UsageError
from .execution.replay.hooks import (
    DECLINED_RULE,
    NOT_SAFETY_RULES,
    UNCONFIRMED_RULE,
    WITHHELD_RULE,
)
from .exitcodes import ExitCode
from .learning.trust import init_workspace_trust
from .modes.context import RunContext, TurnContext
from .modes.fallback import explicit_replay
from .observability.events import EventLog, EventType
from .runs import CancelToken, EventSink, Mode, ModeChosen, Notice, RunResult
from .workspace import Workspace, open_workspace

if TYPE_CHECKING:  # pragma: no cover
    from .adaptation.manager import DynamicAgentManager
    from .execution.llm.economy import Economy
    from .execution.policy.engine import PolicyEngine
    from .execution.replay.undo import UndoStore
    from .learning.matcher import MatchDecision, Matcher
    from .learning.store import TraceStore
    from .sentience.runtime import SentienceRuntime


def _warn_stderr(message: str) -> None:
    sys.stderr.write(f"llmos: warning: {message}\n")


MODES = ("auto", "learner", "follower", "mixed", "orchestrator", "crystallized")
MAX_GOAL_CHARS = 20_000


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


@record
class RunOptions:
    """How one goal is run (mode, working directory, identity, project, callbacks)."""

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


class LLMOS:
    """The kernel. One instance per process; safe to call ``execute`` from a worker thread."""

    def __init__(self, workspace: Workspace, config: LLMOSConfig) -> None:
        self.workspace = workspace
        self.config = config
        obs = config.observability
        self.events = EventLog(
            workspace.events_file, max_bytes=int(obs.max_file_mb * 1024 * 1024), keep=obs.keep_files
        )
        self._store: TraceStore | None = None
        self._matcher: Matcher | None = None
        self._policy: PolicyEngine | None = None
        self._matcher_version = -1
        self._sentience: SentienceRuntime | None = None
        self._agents: DynamicAgentManager | None = None
        import threading

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
        workspace = open_workspace(workspace_dir, on_create=init_workspace_trust)
        config = load_config(workspace.root, overrides=overrides, preset=preset)
        if user:
            config.user = user
        if team:
            config.team = team
        if (config.user, config.team) != ("local", "default"):  # open_workspace made those
            workspace.ensure(user=config.user, team=config.team, on_create=init_workspace_trust)
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
        with self._matcher_lock:
            index = self.store.index
            if self._matcher is not None and self._matcher_version == index.version:
                return self._matcher  # unchanged: no need to list (and re-count) every entry
            # Counts recorded elsewhere never count here: non-own traces get the local run counts.
            entries = self.store.trust.effective_entries(index.entries(self.visible_volumes()))
            if self._matcher is None:
                from .learning import matcher_state

                # restored from state/matcher-state.marshal when it was built from these entries,
                # else built (prepared-goal cache) and the file rewritten for the next process
                self._matcher = matcher_state.cold_matcher(
                    self.workspace.state_dir, entries, config=self.config.learning
                )
                self._matcher_version = index.version
            elif self._matcher_version != index.version:
                self._matcher.refresh(entries, index.version)
                self._matcher_version = index.version
            return self._matcher

    def _decide_with(
        self, goal: str, follower_threshold: float, mixed_threshold: float
    ) -> MatchDecision:
        """AUTO's decision under thresholds adjusted by the internal state."""
        from .learning.modes import select_mode

        learning = records.replace(
            self.config.learning,
            follower_threshold=follower_threshold,
            mixed_threshold=min(mixed_threshold, follower_threshold),
        )
        return select_mode(goal, self.matcher(), records.replace(self.config, learning=learning))

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
                log.append_many(
                    [
                        ("user", result.goal),
                        ("assistant", result.output or result.error or "(no answer)"),
                    ]
                )
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
        result = RunResult(goal=goal, mode="LEARNER", success=False)
        ctx: RunContext | None = None  # each run (a sub-goal too) has its own
        turn: TurnContext | None = None
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
                    opts = records.replace(opts, cwd=project.output_dir)
            cwd = (opts.cwd or Path.cwd()).resolve()
            if not cwd.is_dir():
                raise UsageError(f"the working directory {cwd} does not exist")
            if opts.conversation and not opts.nested:
                turn = self._begin_turn(goal, opts, cwd)
                block = self._conversation_block(turn)
                if block:
                    opts = records.replace(
                        opts, context=block + ("\n\n" + opts.context if opts.context else "")
                    )
            if opts.undo is None and not opts.nested:
                opts = records.replace(opts, undo=self.undo_store().begin(cwd, goal))
                journal = opts.undo
            ctx = RunContext(self, goal, opts, cwd, emit, cancel, confirm, turn=turn)
            result = self._dispatch(ctx)
            result.project = opts.project
        except LLMOSError as exc:
            result.success = False
            result.error = exc.message
            result.exit_code = int(exc.exit_code)
            decided = ctx.decided if ctx is not None else None
            if (
                decided is not None
            ):  # failed after the decision: report what was decided, not "LEARNER"
                result.mode, result.confidence, result.decision = decided
            elif (
                opts.mode in MODES and opts.mode != "auto"
            ):  # a forced mode refused before deciding
                result.mode = opts.mode.upper()
        finally:
            if journal is not None:
                self._finish_undo(journal, emit)
        result.duration_ms = int((time.monotonic() - started) * 1000)
        self._after_run(result)
        if not opts.nested:
            self._log_session(result, opts)
            if turn is not None:
                self._end_turn(turn, result, opts)
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

    @cached_property
    def economy(self) -> Economy:
        """The budget ledger (``state/economy.json``): made on first use, a replay spends nothing."""
        from .execution.llm.economy import Economy

        return Economy(self.workspace.economy_file, self.config.budget_usd)

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

    def _dispatch(self, ctx: RunContext) -> RunResult:
        goal, opts = ctx.goal, ctx.opts
        if opts.mode == "auto" and not opts.nested:
            from .memory.conversation import feedback_kind

            kind = feedback_kind(goal)
            if kind is not None:
                from .modes.feedback import run_feedback

                return run_feedback(ctx, kind)
        if opts.mode == "auto":
            created = self._maybe_create_agent(goal, ctx.emit)
            if created is not None:
                return created
        decision = self._decide_for_run(ctx)
        if ctx.turn is not None and ctx.turn.followup and opts.mode == "auto":
            self._no_replay_for_followup(decision, ctx.turn)
        verification = None
        if (
            decision.close
            and opts.mode == "auto"
            and decision.mode not in (Mode.FOLLOWER, Mode.CRYSTALLIZED)
            and decision.trace_id
        ):
            cancelled, verification = self._settle_close_trace(ctx, decision)
            if cancelled is not None:
                return cancelled
        if decision.mode == "CRYSTALLIZED" and (decision.alias or decision.approved_by):
            # an approved phrasing replays the calls with the values approved for it; a
            # crystallized tool would take its parameters from the goal's slots instead
            decision.mode = Mode.FOLLOWER
        if decision.mode in (Mode.FOLLOWER, Mode.CRYSTALLIZED) and decision.trace_id:
            from .learning.trust import gate_replay

            gate_replay(self, decision, ctx.emit)  # shared/imported content runs only once approved
        if decision.mode in ("FOLLOWER", "CRYSTALLIZED") and decision.trace_id:
            refused = self._nothing_to_replay(ctx, decision)
            if refused is not None:
                return refused
        info = decision.to_dict()
        if ctx.adj is not None:
            info["sentience"] = {
                "latent_mode": ctx.adj.latent_mode,
                "reasons": list(ctx.adj.reasons),
            }
        result = self._run_decided(ctx, decision, info)
        if verification is not None and verification.requests:
            # the VERIFIED call is counted in the run like every call (already charged)
            result.llm_calls += verification.requests
            result.input_tokens += verification.input_tokens
            result.output_tokens += verification.output_tokens
            result.cost_usd += verification.cost_usd
        return result

    def _decide_for_run(self, ctx: RunContext) -> Any:
        """The mode decision, under the thresholds the sentience adjusted for this run (its
        adjustments are kept in ``ctx.adj``)."""
        decision = self.decide(ctx.goal, ctx.opts.mode)
        if not self.config.sentience.enabled:
            return decision
        entry = self.store.index.get(decision.trace_id) if decision.trace_id else None
        adj = ctx.adj = self.sentience.before_run(ctx.goal, decision.to_dict(), matched_entry=entry)
        learning = self.config.learning
        if ctx.opts.mode == "auto" and (
            adj.follower_threshold != learning.follower_threshold
            or adj.mixed_threshold != learning.mixed_threshold
        ):
            decision = self._decide_with(ctx.goal, adj.follower_threshold, adj.mixed_threshold)
        return decision

    def _settle_close_trace(self, ctx: RunContext, decision: Any) -> tuple[RunResult | None, Any]:
        """A close trace whose differences are not all accounted for: replay it when the user
        said so (``--replay-similar``, the TUI's question) or the cheap model verified it, else
        say why not. Returns ``(result, verification)``: a result when the user cancelled."""
        goal, opts, emit = ctx.goal, ctx.opts, ctx.emit
        acc = decision.accounting or {}
        words = "; ".join(
            f"{d.get('goal') or '-'} / {d.get('trace') or '-'}"
            for d in acc.get("differences", [])
            if d.get("how") == "unaccounted"
        )
        entry = self.store.index.get(decision.trace_id)
        can_replay = (
            self.config.execution.enable_follower and entry is not None and bool(entry.tools_used)
        )
        verify = self.config.learning.verify
        if opts.replay_similar and can_replay:
            self._replay_confirmed(decision, " (--replay-similar)", words)
        elif verify == "ask" and opts.confirm_replay is not None and can_replay:
            answer = self._ask_replay(goal, decision, opts, emit)
            if answer == "replay":
                self._replay_confirmed(decision, "", words)
            elif answer == "cancel":
                return self._cancelled_close_trace(ctx, decision), None
        elif verify == "model" and can_replay:
            return None, self._verify(goal, decision, words, emit)
        else:
            emit(
                Notice(
                    "warning",
                    f"close trace {decision.trace_id} ({decision.matched_goal!r}) not replayed: "
                    f"unaccounted words (goal / trace): {words}; running {decision.mode} "
                    "(replay it anyway with --replay-similar)",
                )
            )
        return None, None

    @staticmethod
    def _replay_confirmed(decision: Any, how: str, words: str) -> None:
        """The user said yes to replaying a close trace (*how*: by a flag, or "")."""
        decision.mode = "FOLLOWER"
        decision.approved_by = "user"
        decision.reason = (
            f"replay of a similar trace confirmed by the user{how}; unaccounted: {words}; "
            f"{decision.reason}"
        )

    @staticmethod
    def _cancelled_close_trace(ctx: RunContext, decision: Any) -> RunResult:
        info = decision.to_dict()
        ctx.emit(
            Notice(
                "warning",
                f"cancelled: close trace {decision.trace_id} not replayed and no model run",
            )
        )
        return RunResult(
            goal=ctx.goal,
            mode=decision.mode,
            success=False,
            trace_id=None,
            confidence=decision.confidence,
            error="cancelled by the user",
            exit_code=int(ExitCode.GOAL_FAILED),
            decision=info,
        )

    def _nothing_to_replay(self, ctx: RunContext, decision: Any) -> RunResult | None:
        """The matched trace made no tool call (or its only call was blocked): an explicit
        replay is refused; AUTO runs MIXED or LEARNER instead (the decision is changed)."""
        entry = self.store.index.get(decision.trace_id)
        if entry is None or entry.tools_used:
            return None
        why = f"the matched trace {decision.trace_id} has no tool calls to replay"
        if explicit_replay(ctx.opts):
            from .modes.fallback import replay_refused

            return replay_refused(ctx, decision.to_dict(), decision.confidence, why)
        decision.mode = "MIXED" if self.config.execution.enable_mixed else "LEARNER"
        decision.reason = f"the matched trace has no tool calls to replay; {decision.reason}"
        return None

    # ---- conversations -----------------------------------------------------------------
    def _begin_turn(self, goal: str, opts: RunOptions, cwd: Path) -> TurnContext:
        from .memory.conversation import Conversation, refers_back

        conv = Conversation.load(self.workspace, str(opts.conversation), must_exist=False)
        return TurnContext(
            conv=conv,
            cwd=cwd,
            followup=bool(conv.turns) and refers_back(goal),
            earlier_files=conv.files_touched(),
        )

    def _conversation_block(self, turn: TurnContext) -> str:
        from .memory.conversation import context_block

        memory = self.config.memory
        return context_block(
            turn.conv,
            max_tokens=memory.conversation_max_tokens,
            recent_turns=memory.conversation_recent_turns,
        )

    def _end_turn(self, turn: TurnContext, result: RunResult, opts: RunOptions) -> None:
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

    def _no_replay_for_followup(self, decision: Any, turn: TurnContext) -> None:
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
        from .execution.llm.verify import verify_replay

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

    def _run_decided(self, ctx: RunContext, decision: Any, info: dict[str, Any]) -> RunResult:
        """Hand the run to its mode's runner (``llmos_tui/modes/``)."""
        mode = decision.mode
        ctx.decided = (mode, decision.confidence, info)
        ctx.emit(ModeChosen(mode, decision.confidence, decision.reason, info))
        self.events.record(
            EventType.MODE_DECIDED,
            goal=ctx.goal[:200],
            mode=mode,
            confidence=round(decision.confidence, 4),
            trace_id=decision.trace_id,
        )
        if mode == "CRYSTALLIZED":
            from .modes.crystallized import run_crystallized

            return run_crystallized(ctx, decision)
        if mode in ("FOLLOWER", "VERIFIED"):
            from .modes.crystallized import maybe_crystallize
            from .modes.follower import run_follower

            result = run_follower(ctx, decision, mode=mode)
            maybe_crystallize(ctx, result)
            return result
        if mode == "MIXED":
            from .modes.mixed import run_mixed

            return run_mixed(ctx, info, decision.confidence, decision.trace_id)
        if mode == "ORCHESTRATOR":
            if not ctx.opts.nested:
                from .modes.orchestrated import run_orchestrator

                return run_orchestrator(ctx, info, decision.confidence)
            info["note"] = "a sub-goal never orchestrates again: running LEARNER"
        from .modes.learner import run_learner

        return run_learner(ctx, decision=info, confidence=decision.confidence)

    # ---- what the mode runners (llmos_tui/modes/) share --------------------------------
    def policy_hooks(self, cwd: Path, latent_mode: str | None = None) -> Any:
        """The pre-tool hooks of a run: the policy engine (under the sentience's latent mode of
        the run, if any), each decision recorded as a ``POLICY_DECISION`` event."""
        from .execution.replay.hooks import HookRegistry, HookVerdict

        hooks = HookRegistry()

        def policy_hook(name: str, tool_input: dict[str, Any], _tid: str) -> HookVerdict:
            d = self.policy.check(name, tool_input, cwd, latent_mode=latent_mode)
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

    def executor(
        self,
        cwd: Path,
        opts: RunOptions,
        emit: EventSink,
        confirm: Callable[[str, dict[str, Any], str], bool] | None,
        *,
        hooks: Any = None,
        latent_mode: str | None = None,
    ) -> Any:
        """A tool executor of a run: the policy hooks (unless *hooks*), the OS sandbox, the
        workspace's protected and hidden paths, the run's undo journal."""
        from .execution.replay.executors import ToolExecutor

        execution = self.config.execution

        def sandbox_options() -> Any:  # on the first command: a Write hit never loads limits.py
            from .execution.sandbox.limits import SandboxOptions

            return SandboxOptions.from_config(execution)

        return ToolExecutor(
            cwd,
            hooks if hooks is not None else self.policy_hooks(cwd, latent_mode),
            sandbox_backend=self.config.execution.sandbox,
            sandbox_options=sandbox_options,
            allow_network=self.config.execution.allow_network,
            confirm=confirm,
            assume_yes=opts.assume_yes,
            read_only_paths=tuple(self.workspace.protected_paths()),
            hidden_paths=tuple(self.workspace.hidden_paths()),
            undo=opts.undo,
            on_notice=lambda level, text: emit(Notice(level, text)),
        )

    def crystallizer(self, latent_mode: str | None = None) -> Any:
        """The crystallizer; its policy hooks run under *latent_mode* (a run's, inside a run)."""
        from .evolution.crystallizer import Crystallizer

        return Crystallizer(
            self.workspace,
            self.store,
            self.config,
            hooks_factory=lambda cwd: self.policy_hooks(cwd, latent_mode),
            events=self.events,
        )

    # ---- sentience helpers ----------------------------------------------------------
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
