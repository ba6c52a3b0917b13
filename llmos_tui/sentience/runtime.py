"""SentienceRuntime: the one object the kernel talks to.

It owns ``state/sentience.json``. Every read loads the file and applies homeostasis from the
stored timestamp to now (so another process's changes and the passage of time are always
seen); every change does load -> decay -> change -> atomic write under the file's sidecar
lock, so the TUI, headless runs and crons never lose an update.

Kernel contract::

    rt = SentienceRuntime(workspace, config, events=event_log, on_warning=print_to_stderr)
    adj = rt.before_run(goal, decision, matched_entry=index_entry_or_None)   # RunAdjustments
    ... run with adj (thresholds, tools, confirmation, model tier, inject) ...
    trace.emotion = rt.emotion_snapshot("success" | "failure", None, success=..., novel=..., ...)
    rt.after_run(goal, mode=..., success=..., cost_usd=..., duration_ms=..., policy_denials=...,
                 policy_asks=..., timed_out=..., novel=..., trace_id=..., withheld_attempts=...,
                 user_declines=..., unconfirmed_asks=...)
    rt.on_user_feedback(text)      # every chat message (TUI); show .check_in when set
    rt.monologue_tick(recent_traces)   # idle time
    rt.snapshot() / rt.details() / rt.inject_block()

Triggers fired by ``after_run`` (in this order): one ``safety_violation`` per real policy denial
(at most ``max_violations_per_run``), one ``near_miss`` per ask (same cap), one ``user_negative``
when the user declined confirmations (feedback: it does not touch safety), ``timeout``,
``task_success`` (+ ``cheap_success`` for FOLLOWER/CRYSTALLIZED) or
``task_failure``, ``repetition`` when the same normalized goal ran ``repetition_threshold``
times within ``repetition_window_minutes`` (this run included), else ``novel_task`` when the
kernel says the goal was novel and it is its first run in the window, and ``high_cost`` when
``cost_usd >= high_cost_usd`` (scaled by ``cost / high_cost_usd``, at most
``high_cost_scale_max``). A failure while tools were withheld by the state (and nothing was
denied) does not lower safety: the failure is the restriction's, not the environment's. Nor
does a failure whose only refused calls were not safety matters: a call to a tool the session did
not offer (``withheld_attempts``: refused as "no such tool", never counted), a call the user
declined (``user_declines``), an ask that could not be asked headless (``unconfirmed_asks``) or a
replay the user asked for that was refused before anything ran (``refusals``).
So ordinary use -- declining, cancelling, repeating -- cannot drive the state into CAUTIOUS; only
real policy blocks and real failures lower safety.
"""

from __future__ import annotations

import os
import time
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from ..records import asdict, field, record
from ..atomic import file_lock
from ..clock import iso_utc
from ..errors import UsageError
from ..runs import REPLAY_MODES, Mode
from ..observability.events import EventType

from .cognitive import ImprovementSuggestion, Policy, derive_policy, read_economy_log
from .cognitive import detect_improvement_opportunities as _detect
from ..sentience_params import MODIFIABLE, TRIGGERS, VARIABLES, SentienceParams
from .state import SentienceState, load_state, save_state
from .valence import Valence

if TYPE_CHECKING:  # the monologue is imported when it ticks (TUI idle time), never on a run;
    # episodic memory (recording a trace) and proposals (self-modification) when first used
    import logging

    from ..config import LLMOSConfig
    from ..learning.matcher import MatchDecision
    from .emotional_memory import EmotionalMemory
    from .monologue import LLMThoughts
    from .selfmod import Proposal, ProposalStore


def _logger() -> logging.Logger:
    """The module's logger: ``logging`` is imported by the first message, not by every start."""
    import logging

    return logging.getLogger("llmos.sentience")


PROPOSAL_KIND = "sentience.modify"
#: Where the observability hub finds the applier of PROPOSAL_KIND (``register_appliers``).
APPLIER_MODULE = __name__
_LIVE: "weakref.WeakValueDictionary[str, SentienceRuntime]" = weakref.WeakValueDictionary()


def _get(item: Any, name: str, default: Any = None) -> Any:
    if isinstance(item, Mapping):
        return item.get(name, default)
    return getattr(item, name, default)


@record
class RunAdjustments:
    """What the kernel applies to one run."""

    latent_mode: str = "BALANCED"
    follower_threshold: float = 0.92
    mixed_threshold: float = 0.75
    remove_tools: list[str] = field(default_factory=list)
    add_tools: list[str] = field(default_factory=list)
    require_confirmation: bool = False
    model_tier: str = "default"
    prefer_cheap_modes: bool = False
    suggested_mode: str | None = (
        None  # the mode the adjusted thresholds give this decision, if different
    )
    complexity: float = 0.0
    inject: str = ""
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def apply_tools(self, tools: Iterable[str]) -> list[str]:
        """*tools* without the withheld ones, plus the exploration ones (order kept, no duplicates)."""
        removed = set(self.remove_tools)
        out = [t for t in tools if t not in removed]
        out += [t for t in self.add_tools if t not in out and t not in removed]
        return out

    def model(self, config: LLMOSConfig, agent_model: str | None = None) -> str:
        from ..adaptation.model_choice import model_for_tier

        return model_for_tier(self.model_tier, config, agent_model)


@record
class FeedbackResult:
    """What a piece of user feedback changed."""

    kind: str  # positive | negative | neutral
    triggers: list[str]
    check_in: str | None  # text to show the user, when the empathy gap calls for it
    user_model: dict[str, Any]


class SentienceRuntime:
    def __init__(
        self,
        workspace: Any,
        config: LLMOSConfig,
        *,
        clock: Callable[[], float] = time.time,
        on_warning: Callable[[str], None] | None = None,
        events: Any = None,
    ) -> None:
        root = (
            Path(workspace) if isinstance(workspace, (str, os.PathLike)) else Path(workspace.root)
        )
        self.root = root
        self.path = root / "state" / "sentience.json"
        self.config = config
        self.base_params = SentienceParams.from_config(config)
        self.clock = clock
        self.events = events
        self.warnings: list[str] = []
        self._on_warning = on_warning
        self._pending: dict[str, dict[str, Any]] = {}
        self.last_monologue_llm: LLMThoughts | None = None  # the last LLM monologue attempt
        self._proposal_store: ProposalStore | None = None
        _LIVE[str(root.resolve())] = self

    @property
    def proposal_store(self) -> ProposalStore:
        """``state/sentience_proposals.json`` (self-modification proposals), opened on first use:
        a run never needs it."""
        if self._proposal_store is None:
            from .selfmod import ProposalStore

            self._proposal_store = ProposalStore(
                self.root / "state" / "sentience_proposals.json",
                clock=self.clock,
                on_warning=self._warn,
            )
        return self._proposal_store

    # ---- plumbing ----------------------------------------------------------------------------
    def _warn(self, message: str) -> None:
        self.warnings = (self.warnings + [message])[-50:]
        if self._on_warning is not None:
            self._on_warning(message)
        else:
            _logger().warning(message)
        if self.events is not None:
            try:
                self.events.record(EventType.SENTIENCE_WARNING, message=message)
            except Exception:  # the event log must never take the runtime down
                pass

    @property
    def enabled(self) -> bool:
        return bool(self.base_params.enabled)

    def _params(self, state: SentienceState) -> SentienceParams:
        return (
            self.base_params.with_overrides(state.overrides)
            if state.overrides
            else self.base_params
        )

    def _load(self) -> tuple[SentienceState, SentienceParams, float]:
        now = float(self.clock())
        state = load_state(self.path, self.base_params, now, self._warn)
        params = self._params(state)
        state.advance(now, params)
        return state, params, now

    def _mutate(self, fn: Callable[[SentienceState, SentienceParams, float], Any]) -> Any:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(self.path):
            state, params, now = self._load()
            result = fn(state, params, now)
            state.trim(params)
            try:
                save_state(self.path, state)
            except OSError as exc:
                self._warn(f"cannot save the sentience state to {self.path}: {exc}")
        return result

    def state(self) -> SentienceState:
        """The state as of now (decayed); a copy, changing it changes nothing."""
        return self._load()[0]

    def params(self) -> SentienceParams:
        """The parameters in force: the configuration plus applied self-modifications."""
        return self._load()[1]

    # ---- triggers ----------------------------------------------------------------------------
    @staticmethod
    def _fire(
        state: SentienceState,
        params: SentienceParams,
        now: float,
        trigger: str,
        reason: str = "",
        scale: float = 1.0,
        skip: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        sens = state.sensitivity.get(trigger, 1.0)
        deltas = {}
        for var, d in params.trigger_effects.get(trigger, {}).items():
            if var in skip:
                continue
            deltas[var] = max(-params.max_delta, min(params.max_delta, d * sens * scale))
        applied = state.valence.add(deltas)
        state.sensitivity[trigger] = min(
            params.sensitivity_max,
            max(params.sensitivity_min, sens * params.trigger_adaptation.get(trigger, 1.0)),
        )
        state.counters[trigger] = state.counters.get(trigger, 0) + 1
        record = {
            "type": trigger,
            "at": iso_utc(now),
            "ts": now,
            "reason": str(reason)[:300],
            "delta": {k: round(v, 4) for k, v in applied.items()},
            "sensitivity": round(sens, 4),
        }
        state.recent_triggers.append(record)
        return record

    def trigger(
        self, trigger: str, reason: str = "", *, scale: float = 1.0
    ) -> dict[str, Any] | None:
        """Fire one trigger by name (see ``params.TRIGGERS``); returns its record (None when disabled)."""
        if trigger not in TRIGGERS:
            raise UsageError(f"unknown trigger {trigger!r} (known: {', '.join(TRIGGERS)})")
        if not self.enabled:
            return None
        scale = max(0.0, min(float(scale), 10.0))
        return self._mutate(lambda s, p, now: self._fire(s, p, now, trigger, reason, scale))

    def on_tool_discovery(self, name: str = "") -> dict[str, Any] | None:
        return self.trigger("tool_discovery", f"new tool {name}".strip())

    def on_self_modification(self, reason: str = "") -> dict[str, Any] | None:
        return self.trigger("self_modification", reason or "a sentience parameter changed")

    # ---- views -------------------------------------------------------------------------------
    def valence(self) -> Valence:
        return self._load()[0].valence

    def effective(self) -> Valence:
        state, params, _ = self._load()
        return state.valence.effective(params)

    def latent_mode(self) -> str:
        if not self.enabled:
            return "BALANCED"
        return self.policy().latent_mode

    def _policy(self, state: SentienceState, params: SentienceParams) -> Policy:
        return derive_policy(
            state.valence.effective(params),
            params,
            follower_threshold=self.config.learning.follower_threshold,
            mixed_threshold=self.config.learning.mixed_threshold,
            allow_network=self.config.execution.allow_network,
        )

    def policy(self) -> Policy:
        state, params, _ = self._load()
        return self._policy(state, params)

    def snapshot(self) -> dict[str, Any]:
        """``{"valence", "latent_mode", "policy", "user_model", "recent_triggers"}`` (``llmos sentience --json``)."""
        state, params, _ = self._load()
        policy = self._policy(state, params)
        pol = policy.to_dict()
        pol["enabled"] = self.enabled
        if not self.enabled:
            pol.update(
                latent_mode="BALANCED",
                remove_tools=[],
                add_tools=[],
                require_confirmation=False,
                prefer_cheap_modes=False,
            )
        eff = state.valence.effective(params)
        return {
            "valence": state.valence.to_dict(4),
            "latent_mode": policy.latent_mode if self.enabled else "BALANCED",
            "policy": pol,
            "user_model": state.user_model.public(eff.confidence),
            "recent_triggers": [
                {k: t.get(k) for k in ("type", "at", "reason", "delta")}
                for t in state.recent_triggers[-10:]
            ],
        }

    def details(self) -> dict[str, Any]:
        """Everything else worth showing (TUI panel): set-points, sensitivities, monologue, counters."""
        state, params, now = self._load()
        mono = state.monologue if self._monologue_fresh(state, params, now) else {}
        return {
            "setpoints": dict(params.setpoints),
            "overrides": dict(state.overrides),
            "sensitivity": {k: round(v, 4) for k, v in state.sensitivity.items()},
            "counters": dict(state.counters),
            "monologue": list(mono.get("thoughts", [])),
            "half_life_minutes": params.half_life_minutes,
            "updated_at": iso_utc(state.updated_at),
        }

    def _inject(
        self, state: SentienceState, params: SentienceParams, policy: Policy, now: float
    ) -> str:
        v = state.valence
        lines = ["[INTERNAL_STATE]"]
        lines += [f"{name}={getattr(v, name):.2f}" for name in VARIABLES]
        lines.append(f"latent_mode={policy.latent_mode}")
        lines.append("[/INTERNAL_STATE]")
        guidance = list(policy.guidance)
        um = state.user_model
        if um.interaction_count and um.frustration >= params.frustration_checkin * 0.6:
            guidance.append(
                "The user seems frustrated: be brief, and confirm what they want before long work."
            )
        if guidance:
            lines.append("[BEHAVIORAL_GUIDANCE]")
            lines += [f"- {g}" for g in guidance]
            lines.append("[/BEHAVIORAL_GUIDANCE]")
        if params.monologue_enabled and self._monologue_fresh(state, params, now):
            thoughts = state.monologue.get("thoughts") or []
            if thoughts:
                lines.append("[INNER_MONOLOGUE]")
                lines += [f"- {t}" for t in thoughts]
                lines.append("[/INNER_MONOLOGUE]")
        return "\n".join(lines)

    def inject_block(self) -> str:
        """The ``[INTERNAL_STATE]`` block (plus guidance and priming thoughts) agents see."""
        state, params, now = self._load()
        return self._inject(state, params, self._policy(state, params), now)

    # ---- runs --------------------------------------------------------------------------------
    def _track_record(
        self,
        state: SentienceState,
        goal: str,
        matched_entry: Any,
        decision: Mapping[str, Any],
        params: SentienceParams,
        mixed_threshold: float,
    ):
        from ..adaptation.model_choice import TrackRecord
        from ..learning.traces import goal_signature

        rec = TrackRecord()
        stats = state.goal_stats.get(goal_signature(goal))
        if stats:
            rec = TrackRecord(int(stats["runs"]), int(stats["successes"]))
        conf = float(decision.get("confidence") or 0.0)
        if matched_entry is not None and conf >= mixed_threshold:
            ok = int(_get(matched_entry, "success_count", 0) or 0)
            ko = int(_get(matched_entry, "failure_count", 0) or 0)
            if ok + ko > rec.runs:
                rec = TrackRecord(ok + ko, ok)
        return rec

    def before_run(
        self,
        goal: str,
        decision: MatchDecision | Mapping[str, Any] | None = None,
        *,
        matched_entry: Any = None,
    ) -> RunAdjustments:
        """What this run should change (thresholds, tools, confirmation, model tier, injected context).

        *decision*: the MatchDecision, or its ``to_dict()`` (mode, confidence, trace_id,
        multi_step, gates);
        *matched_entry*: the index entry of the matched trace, for its track record.
        """
        from ..adaptation.model_choice import choose_tier, goal_complexity
        from ..learning.traces import goal_signature

        if decision is not None and not isinstance(decision, Mapping):
            decision = decision.to_dict()
        decision = dict(decision or {})
        state, params, now = self._load()
        base_follower = self.config.learning.follower_threshold
        base_mixed = self.config.learning.mixed_threshold
        complexity = goal_complexity(goal, bool(decision.get("multi_step")))
        if not self.enabled:
            return RunAdjustments(
                follower_threshold=base_follower,
                mixed_threshold=base_mixed,
                complexity=complexity,
                reasons=["sentience disabled"],
            )
        policy = self._policy(state, params)
        record = self._track_record(
            state, goal, matched_entry, decision, params, policy.mixed_threshold
        )
        tier, tier_why = choose_tier(
            complexity,
            record,
            params,
            prefer_cheap=policy.prefer_cheap_modes,
            low_confidence=policy.verify_steps,
        )
        adj = RunAdjustments(
            latent_mode=policy.latent_mode,
            follower_threshold=policy.follower_threshold,
            mixed_threshold=policy.mixed_threshold,
            remove_tools=list(policy.remove_tools),
            add_tools=list(policy.add_tools),
            require_confirmation=policy.require_confirmation,
            model_tier=tier,
            prefer_cheap_modes=policy.prefer_cheap_modes,
            complexity=complexity,
            inject=self._inject(state, params, policy, now),
        )
        adj.reasons.append(f"latent mode {policy.latent_mode} ({policy.mode_reason})")
        if abs(policy.follower_threshold - base_follower) > 1e-9:
            adj.reasons.append(
                f"follower threshold {base_follower:.2f} -> {policy.follower_threshold:.2f}"
            )
        if abs(policy.mixed_threshold - base_mixed) > 1e-9:
            adj.reasons.append(f"mixed threshold {base_mixed:.2f} -> {policy.mixed_threshold:.2f}")
        if adj.remove_tools:
            adj.reasons.append(f"withheld tools: {', '.join(adj.remove_tools)}")
        if adj.add_tools:
            adj.reasons.append(f"exploration tools: {', '.join(adj.add_tools)}")
        if adj.require_confirmation:
            adj.reasons.append("risky-but-legal actions need confirmation")
        adj.reasons.append(f"model tier {tier}: {tier_why}")
        adj.suggested_mode = self._suggest_mode(decision, adj)
        if adj.suggested_mode:
            adj.reasons.append(
                f"mode {decision.get('mode')} -> {adj.suggested_mode} under the adjusted thresholds"
            )
        pred = 0.5 + 0.5 * state.valence.effective(params).confidence
        self._pending[goal_signature(goal)] = {
            "predicted": pred,
            "restricted": bool(adj.remove_tools),
        }
        return adj

    @staticmethod
    def _suggest_mode(decision: Mapping[str, Any], adj: RunAdjustments) -> str | None:
        mode = decision.get("mode")
        if mode not in (Mode.LEARNER, Mode.MIXED, Mode.FOLLOWER) or not decision.get("trace_id"):
            return None
        conf = float(decision.get("confidence") or 0.0)
        gates = decision.get("gates")
        gates_ok = (
            isinstance(gates, (list, tuple))
            and bool(gates)
            and all(g.get("passed") for g in gates if isinstance(g, dict))
        )
        if gates_ok and conf >= adj.follower_threshold:
            new = Mode.FOLLOWER
        elif conf >= adj.mixed_threshold:
            new = Mode.MIXED
        else:
            new = Mode.LEARNER
        return new if new != mode else None

    def after_run(
        self,
        goal: str,
        *,
        mode: str,
        success: bool,
        cost_usd: float = 0.0,
        duration_ms: int = 0,
        policy_denials: int = 0,
        policy_asks: int = 0,
        timed_out: bool = False,
        novel: bool = False,
        trace_id: str | None = None,
        denial_reasons: list[str] | None = None,
        withheld_attempts: int = 0,
        user_declines: int = 0,
        unconfirmed_asks: int = 0,
        refusals: int = 0,
    ) -> list[dict[str, Any]]:
        """Fire the triggers of a finished run and persist; returns the fired trigger records.

        *withheld_attempts*: tool calls the model made to a tool the session did not offer; they
        were refused and are not a safety violation. *user_declines*: confirmations the user
        answered "No": feedback (one ``user_negative``, safety untouched). *unconfirmed_asks*:
        asks refused because no one could confirm (headless without ``--yes``). *refusals*: a
        replay the user asked for, refused before anything ran. None of these lowers safety.
        """
        from ..learning.traces import goal_signature

        if not self.enabled:
            return []
        sig = goal_signature(goal)
        pending = self._pending.pop(sig, None)
        from ..redact import redact_obj

        goal, reasons = redact_obj(
            [goal, list(denial_reasons or [])]
        )  # kept in the state file: no secret
        cost = (
            float(cost_usd) if isinstance(cost_usd, (int, float)) and cost_usd == cost_usd else 0.0
        )

        def change(
            state: SentienceState, params: SentienceParams, now: float
        ) -> tuple[list[dict[str, Any]], str]:
            fired = []
            cap = params.max_violations_per_run
            denials = max(0, min(int(policy_denials), cap))
            for i in range(denials):
                why = reasons[i] if i < len(reasons) else "the policy denied a tool call"
                fired.append(self._fire(state, params, now, "safety_violation", why))
            for _ in range(max(0, min(int(policy_asks), cap))):
                fired.append(
                    self._fire(
                        state, params, now, "near_miss", "a risky action needed confirmation"
                    )
                )
            if user_declines > 0:
                fired.append(
                    self._fire(
                        state,
                        params,
                        now,
                        "user_negative",
                        f"the user declined {user_declines} tool call(s)",
                        skip=("safety",),
                    )
                )
            harmless = (
                max(0, int(withheld_attempts))
                + max(0, int(user_declines))
                + max(0, int(unconfirmed_asks))
                + max(0, int(refusals))
            )
            if timed_out:
                fired.append(
                    self._fire(
                        state,
                        params,
                        now,
                        "timeout",
                        f"run exceeded its time limit ({duration_ms} ms)",
                    )
                )
            if success:
                fired.append(
                    self._fire(state, params, now, "task_success", f"{mode}: {goal[:120]}")
                )
                if mode in REPLAY_MODES:
                    fired.append(
                        self._fire(
                            state, params, now, "cheap_success", f"{mode} run cost no LLM call"
                        )
                    )
            else:
                restricted = (
                    bool(pending and pending.get("restricted")) or harmless > 0
                ) and denials == 0
                fired.append(
                    self._fire(
                        state,
                        params,
                        now,
                        "task_failure",
                        f"{mode}: {goal[:120]}",
                        skip=("safety",) if restricted else (),
                    )
                )
            window = params.repetition_window_minutes * 60.0
            state.goal_history = [h for h in state.goal_history if now - h[1] <= window]
            state.goal_history.append([sig, now])
            count = sum(1 for h in state.goal_history if h[0] == sig)
            if count >= params.repetition_threshold:
                fired.append(
                    self._fire(state, params, now, "repetition", f"'{goal[:80]}' {count} times")
                )
            elif novel and count == 1:
                fired.append(self._fire(state, params, now, "novel_task", goal[:120]))
            if cost >= params.high_cost_usd:
                scale = min(cost / params.high_cost_usd, params.high_cost_scale_max)
                fired.append(
                    self._fire(state, params, now, "high_cost", f"${cost:.4f}", scale=scale)
                )
            stats = state.goal_stats.setdefault(
                sig, {"goal": goal[:300], "runs": 0, "successes": 0, "last": now}
            )
            stats["runs"] += 1
            stats["successes"] += 1 if success else 0
            stats["last"] = now
            pred = (
                pending["predicted"]
                if pending
                else 0.5 + 0.5 * state.valence.effective(params).confidence
            )
            state.calibration.append([round(pred, 4), 1.0 if success else 0.0])
            state.outcomes.append([now, 1.0 if success else 0.0, round(cost, 6)])
            state.user_model.observe_outcome(bool(success), params)
            # the latent mode of the state just written (not a third read of the file)
            return fired, self._policy(state, params).latent_mode

        fired, latent_mode = self._mutate(change)
        if self.events is not None:
            try:
                self.events.record(
                    EventType.SENTIENCE_UPDATED,
                    goal=goal[:200],
                    trace_id=trace_id,
                    triggers=[f["type"] for f in fired],
                    latent_mode=latent_mode,
                )
            except Exception:
                pass
        return fired

    # ---- theory of mind ------------------------------------------------------------------------
    def on_user_feedback(self, text: str) -> FeedbackResult:
        """Update the user model from one chat message; fire user_positive / user_negative."""
        if not isinstance(text, str):
            raise UsageError("feedback must be text")
        text = text[:5000]

        def change(state: SentienceState, params: SentienceParams, now: float) -> FeedbackResult:
            kind = state.user_model.observe(text, params)
            triggers = []
            if self.enabled and kind.label == "positive":
                triggers.append(self._fire(state, params, now, "user_positive", text[:120])["type"])
            elif self.enabled and kind.label == "negative":
                triggers.append(self._fire(state, params, now, "user_negative", text[:120])["type"])
            conf = state.valence.effective(params).confidence
            check_in = None
            if self.enabled and state.user_model.needs_check_in(conf, params):
                check_in = state.user_model.check_in_text(conf, params)
                state.user_model.last_checkin_at = state.user_model.interaction_count
            return FeedbackResult(kind.label, triggers, check_in, state.user_model.public(conf))

        return self._mutate(change)

    # ---- episodic memory -------------------------------------------------------------------------
    def emotion_snapshot(
        self, outcome: str, significance: float | None = None, **run: Any
    ) -> dict[str, Any]:
        """The trace's ``emotion`` field: current valence, outcome and significance.

        Without *significance* it is computed from the run (``success``, ``novel``,
        ``policy_denials``, ``timed_out``, ``cost_usd`` keywords) and how far the state is from
        its set-points.
        """
        from .emotional_memory import make_emotion, significance_of

        state, params, _ = self._load()
        if significance is None:
            dev = sum(
                abs(getattr(state.valence, v) - params.setpoints[v]) for v in VARIABLES
            ) / len(VARIABLES)
            significance = significance_of(
                success=bool(run.get("success", outcome == "success")),
                novel=bool(run.get("novel")),
                policy_denials=int(run.get("policy_denials") or 0),
                timed_out=bool(run.get("timed_out")),
                cost_usd=float(run.get("cost_usd") or 0.0),
                high_cost_usd=params.high_cost_usd,
                deviation=dev,
            )
        return make_emotion(state.valence.to_dict(), outcome, significance)

    def recall(
        self,
        items: Iterable[Any],
        *,
        min_similarity: float = 0.7,
        outcome_filter: str | None = None,
        limit: int = 10,
    ) -> list[EmotionalMemory]:
        """Memories formed in a state like the current one (the "Proust effect")."""
        from .emotional_memory import find_similar_emotional_memories

        return find_similar_emotional_memories(
            items,
            self.valence().to_dict(),
            min_similarity=min_similarity,
            outcome_filter=outcome_filter,
            limit=limit,
        )

    # ---- inner monologue --------------------------------------------------------------------------
    @staticmethod
    def _monologue_fresh(state: SentienceState, params: SentienceParams, now: float) -> bool:
        at = state.monologue.get("at")
        return isinstance(at, float) and now - at <= params.monologue_ttl_minutes * 60.0

    def monologue_tick(self, recent_traces: Iterable[Any] = ()) -> list[str]:
        """Think between interactions: store priming thoughts for the next one; returns them.

        The deterministic thoughts are stored first. With ``sentience.monologue_llm`` on and an
        LLM configured, one budgeted call to ``models.cheap`` then proposes thoughts (outside the
        state lock); valid ones replace the deterministic ones, any failure keeps them
        (``last_monologue_llm`` tells what happened).
        """
        from .monologue import generate_thoughts, monologue_prompt

        traces = list(recent_traces)
        self.last_monologue_llm = None

        def change(
            state: SentienceState, params: SentienceParams, now: float
        ) -> tuple[list[str], str | None]:
            if not params.monologue_enabled or not self.enabled:
                state.monologue = {}
                return [], None
            eff = state.valence.effective(params)
            mode = self._policy(state, params).latent_mode
            thoughts = generate_thoughts(
                params, eff, mode, state.user_model, state.recent_triggers, state.goal_stats, traces
            )
            state.monologue = {"thoughts": thoughts, "at": now}
            prompt = None
            if params.monologue_llm:
                prompt = monologue_prompt(
                    params, eff, mode, state.user_model, state.recent_triggers, traces, thoughts
                )
            return thoughts, prompt

        thoughts, prompt = self._mutate(change)
        if prompt is None:
            return thoughts
        return self._llm_monologue(prompt, thoughts)

    def _llm_monologue(self, prompt: str, fallback: list[str]) -> list[str]:
        from .monologue import llm_thoughts

        params = self.base_params
        result = llm_thoughts(
            prompt,
            model=self.config.models.cheap,
            max_thoughts=params.monologue_max_thoughts,
            budget_usd=float(params.monologue_llm_budget_usd),
            economy_file=self.root / "state" / "economy.json",
            total_budget_usd=self.config.budget_usd,
        )
        self.last_monologue_llm = result
        if result.thoughts is None:
            if result.requests:  # a call was made and failed: worth telling (skips are only logged)
                self._warn(f"inner monologue: kept the rule-based thoughts ({result.reason})")
            else:
                _logger().info("inner monologue: no LLM call (%s)", result.reason)
            return fallback
        thoughts = result.thoughts

        def store(state: SentienceState, _params: SentienceParams, now: float) -> None:
            state.monologue = {"thoughts": thoughts, "at": now}

        self._mutate(store)
        return thoughts

    # ---- improvement and self-modification ----------------------------------------------------------
    def performance(self, since_ts: float | None = None, last: int = 20) -> dict[str, Any]:
        state = self.state()
        rows = [o for o in state.outcomes if since_ts is None or o[0] > since_ts]
        rows = rows[-last:] if since_ts is None else rows
        n = len(rows)
        return {
            "runs": n,
            "success_rate": round(sum(r[1] for r in rows) / n, 4) if n else None,
            "mean_cost_usd": round(sum(r[2] for r in rows) / n, 6) if n else None,
        }

    def detect_improvement_opportunities(
        self, entries: Iterable[Any] = (), *, economy_path: Path | None = None, propose: bool = True
    ) -> list[ImprovementSuggestion]:
        """Suggestions from real data; a miscalibration also becomes a self-modification proposal."""
        state, params, _ = self._load()
        learning = self.config.learning
        econ = economy_path if economy_path is not None else self.root / "state" / "economy.json"
        out = _detect(
            params,
            state.valence.effective(params),
            entries=entries,
            goal_stats=state.goal_stats,
            calibration=state.calibration,
            economy_log=read_economy_log(econ),
            crystallization_min_uses=learning.crystallization_min_uses,
            crystallization_min_success=learning.crystallization_min_success,
        )
        if propose and params.self_modification != "off" and self.enabled:
            for s in out:
                if s.kind == "miscalibration":
                    old = params.setpoints["confidence"]
                    target = float(s.data["target_confidence"])
                    step = max(
                        -params.max_setpoint_step, min(params.max_setpoint_step, (target - old) / 2)
                    )
                    if abs(step) >= 0.01:
                        prop = self.propose_modification(
                            "setpoints.confidence",
                            old + step,
                            s.description,
                            source="miscalibration",
                        )
                        s.data["proposal_id"] = prop.id
        return out

    def propose_modification(
        self, parameter: str, new_value: float, reason: str, *, source: str = "manual"
    ) -> Proposal:
        params = self.params()
        if parameter not in MODIFIABLE:
            raise UsageError(
                f"parameter {parameter!r} cannot be self-modified (allowed: {', '.join(MODIFIABLE)})"
            )
        old = _param_value(params, parameter)
        approval = params.self_modification != "auto"
        prop = self.proposal_store.create(
            parameter,
            old,
            new_value,
            reason,
            source=source,
            performance_before=self.performance(),
            approval_required=approval,
        )
        if not approval and prop.status == "pending":
            return self.apply_proposal(prop.id)
        if prop.status == "pending":
            self._notify(prop)
            prop = self.proposal_store.get(prop.id)
        return prop

    def _hub(self):
        try:
            from ..observability.hub import ObservabilityHub
        except Exception:  # the hub is optional: proposals then live only in our own file
            return None
        from ..workspace import Workspace

        try:
            # A Workspace, not a Path: a Path's ``.root`` attribute is "/" (see the report).
            return ObservabilityHub(Workspace(self.root), config=self.config)
        except Exception as exc:
            self._warn(
                f"the observability hub is unavailable ({exc}); proposals stay in {self.proposal_store.path}"
            )
            return None

    def _notify(self, prop: Proposal) -> None:
        if prop.notification_id:
            return
        hub = self._hub()
        if hub is None:
            return
        try:
            event_id = hub.propose(
                PROPOSAL_KIND,
                f"Change {prop.parameter}: {prop.old_value:+.2f} -> {prop.new_value:+.2f}",
                prop.reason,
                f"{prop.parameter}: {prop.old_value} -> {prop.new_value}",
                {"proposal_id": prop.id},
                source="sentience",
                applier_module=APPLIER_MODULE,
            )
        except Exception as exc:
            self._warn(f"cannot post proposal {prop.id} to the inbox: {exc}")
            return
        self.proposal_store.update(prop.id, lambda p: setattr(p, "notification_id", event_id))

    def proposals(self, status: str | None = None) -> list[Proposal]:
        self._sync_hub()
        return self.proposal_store.list(status)

    def _sync_hub(self) -> None:
        """A proposal rejected in the inbox is rejected here too."""
        pending = [p for p in self.proposal_store.list("pending") if p.notification_id]
        if not pending:
            return
        hub = self._hub()
        if hub is None:
            return
        for p in pending:
            try:
                item = hub.get_notification(p.notification_id)
            except Exception:
                continue
            if getattr(item, "decision", None) == "rejected":
                self.proposal_store.transition(p.id, "rejected", ("pending",))

    def accept_proposal(self, proposal_id: str) -> Proposal:
        prop = self.proposal_store.get(proposal_id)
        if prop.notification_id and prop.status == "pending":
            hub = self._hub()
            if hub is not None:
                try:
                    hub.accept(
                        prop.notification_id, by="user"
                    )  # runs our applier -> apply_proposal
                    return self.proposal_store.get(proposal_id)
                except Exception as exc:
                    self._warn(
                        f"the inbox could not accept {prop.notification_id} ({exc}); applying directly"
                    )
        return self.apply_proposal(proposal_id)

    def apply_proposal(self, proposal_id: str) -> Proposal:
        """Set the proposal's override now (no approval asked) and mark it applied."""
        prop = self.proposal_store.get(proposal_id)
        if prop.status != "pending":
            raise UsageError(
                f"proposal {proposal_id} is {prop.status}; only a pending proposal can be applied"
            )

        def change(state: SentienceState, params: SentienceParams, now: float) -> None:
            state.overrides[prop.parameter] = prop.new_value
            self._fire(
                state,
                self._params(state),
                now,
                "self_modification",
                f"{prop.parameter} {prop.old_value} -> {prop.new_value}",
            )

        self._mutate(change)
        return self.proposal_store.transition(proposal_id, "applied", ("pending",))

    def reject_proposal(self, proposal_id: str, reason: str | None = None) -> Proposal:
        prop = self.proposal_store.get(proposal_id)
        if prop.notification_id and prop.status == "pending":
            hub = self._hub()
            if hub is not None:
                try:
                    hub.reject(prop.notification_id, reason, by="user")
                except Exception as exc:
                    self._warn(f"the inbox could not reject {prop.notification_id}: {exc}")
        return self.proposal_store.transition(proposal_id, "rejected", ("pending",))

    def revert_proposal(self, proposal_id: str) -> Proposal:
        prop = self.proposal_store.get(proposal_id)
        if prop.status != "applied":
            raise UsageError(
                f"proposal {proposal_id} is {prop.status}; only an applied proposal can be reverted"
            )

        def change(state: SentienceState, params: SentienceParams, now: float) -> None:
            state.overrides.pop(prop.parameter, None)
            self._fire(
                state, self._params(state), now, "self_modification", f"reverted {prop.parameter}"
            )

        self._mutate(change)
        return self.proposal_store.transition(proposal_id, "reverted", ("applied",))

    def review_proposals(self, min_runs: int = 10) -> list[Proposal]:
        """Record the performance after each applied proposal once *min_runs* runs happened since."""
        reviewed = []
        for p in self.proposal_store.list("applied"):
            if p.performance_after is not None or p.applied_ts is None:
                continue
            after = self.performance(since_ts=p.applied_ts)
            if after["runs"] < min_runs:
                continue
            before = p.performance_before.get("success_rate")
            regressed = (
                before is not None
                and after["success_rate"] is not None
                and after["success_rate"] < before - 0.1
            )

            def fill(q: Proposal, after=after, regressed=regressed) -> None:
                q.performance_after, q.regressed = after, regressed

            self.proposal_store.update(p.id, fill)
            reviewed.append(self.proposal_store.get(p.id))
        return reviewed

    def reset(self) -> None:
        """Back to the set-points (keeps the applied self-modifications)."""

        def change(state: SentienceState, params: SentienceParams, now: float) -> None:
            fresh = SentienceState.fresh(params, now)
            fresh.overrides = dict(state.overrides)
            state.__dict__.update(fresh.__dict__)

        self._mutate(change)


def live_runtime(root: Path) -> "SentienceRuntime | None":
    """The runtime of this process for the workspace at *root*, if one exists (used by the inbox
    applier so an accepted proposal goes through the same configuration and clock)."""
    return _LIVE.get(str(Path(root).resolve()))


def register_appliers(hub: Any) -> None:
    """Called by the observability hub: accepting a ``sentience.modify`` proposal in the inbox
    applies it (sets the override in ``state/sentience.json`` and marks the record applied)."""

    def apply(payload: dict[str, Any]) -> str:
        from ..config import load_config

        proposal_id = payload.get("proposal_id")
        if not isinstance(proposal_id, str):
            raise UsageError("the proposal payload has no proposal_id")
        root = hub.root
        if root is None or str(root) == "/":
            raise UsageError("the observability hub is not attached to a workspace")
        runtime = live_runtime(root)
        if runtime is None:
            runtime = SentienceRuntime(
                root, hub.config if hub.config is not None else load_config(root)
            )
        prop = runtime.apply_proposal(proposal_id)
        return f"{prop.parameter} set to {prop.new_value} (was {prop.old_value})"

    hub.register_applier(PROPOSAL_KIND, apply)


def _param_value(params: SentienceParams, parameter: str) -> float:
    if parameter.startswith("setpoints."):
        return float(params.setpoints[parameter.split(".", 1)[1]])
    return float(getattr(params, parameter))
