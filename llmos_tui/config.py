"""LLMOSConfig: one validated configuration object with presets.

Precedence (lowest to highest): preset defaults < ``config.yaml`` in the workspace <
``LLMOS_*`` environment variables < explicit overrides (CLI flags).

Environment variables: ``LLMOS_<KEY>`` for a top-level key (``LLMOS_BUDGET_USD=2``) and
``LLMOS_<SECTION>__<KEY>`` for a nested one (``LLMOS_LEARNING__FOLLOWER_THRESHOLD=0.95``).
``LLMOS_PRESET`` picks the preset; ``LLMOS_WORKSPACE`` picks the workspace (see workspace.py).
Values are parsed as YAML scalars. Every error names the key and where it came from.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Mapping, get_type_hints

from . import records
from .records import field, fields, record
from .errors import ConfigError, UsageError
from .workspace import parse_scope
from . import sentience_params as P

PRESETS = ("development", "production", "testing")
ENV_PREFIX = "LLMOS_"
# Environment variables with the prefix that are not config keys.
_ENV_NOT_CONFIG = {"LLMOS_WORKSPACE", "LLMOS_PRESET"}


def _opt(
    default: Any,
    *,
    help: str,
    lo: float | None = None,
    hi: float | None = None,
    choices: tuple[str, ...] | None = None,
) -> Any:
    meta = {"help": help, "min": lo, "max": hi, "choices": choices}
    if isinstance(default, (dict, list)):
        # Nested tables must never be shared between config instances.
        table: dict[str, Any] | list[Any] = default
        return field(default_factory=lambda: copy.deepcopy(table), metadata=meta)
    return field(default=default, metadata=meta)


@record
class ModelsConfig:
    """The ``models`` section: the cheap and strong model tiers."""

    cheap: str = _opt("claude-haiku-4-5", help="model for simple goals with a strong track record")
    strong: str = _opt("claude-opus-4-5", help="model for complex novel goals")


@record
class LearningConfig:
    """The ``learning`` section: matching thresholds and trace learning."""

    follower_threshold: float = _opt(
        0.92, lo=0.0, hi=1.0, help="confidence at or above which a trace is replayed (FOLLOWER)"
    )
    mixed_threshold: float = _opt(
        0.75,
        lo=0.0,
        hi=1.0,
        help="confidence at or above which the LLM is guided by a trace (MIXED)",
    )
    crystallization_min_uses: int = _opt(
        5, lo=1, hi=10_000, help="uses before a trace may be crystallized"
    )
    crystallization_min_success: float = _opt(
        0.95, lo=0.0, hi=1.0, help="success rate needed to crystallize"
    )
    auto_crystallization: bool = _opt(True, help="crystallize eligible traces automatically")
    candidates: int = _opt(5, lo=1, hi=100, help="fuzzy candidates considered per decision")
    tool_example_min_success: float = _opt(
        0.9, lo=0.0, hi=1.0, help="success rate for a trace's calls to become tool examples"
    )
    tool_example_cap: int = _opt(3, lo=0, hi=20, help="input examples per tool learned from traces")
    semantic_reranker: bool = _opt(
        False,
        help="when the lexical match is not a safe replay, re-rank candidates by sentence "
        "embeddings (needs the [semantic] extra; embeddings cached in state/); gates still apply",
    )
    verify: str = _opt(
        "ask",
        choices=("off", "ask", "model"),
        help="a close trace whose differences are not all accounted for: off = run MIXED/LEARNER; ask = "
        "the user confirms (TUI dialog; headless --replay-similar), else MIXED/LEARNER; model = one "
        "models.cheap call (VERIFIED, <= 2,000 input tokens) decides, a no or a malformed answer "
        "runs MIXED/LEARNER; needs an LLM",
    )
    verify_budget_usd: float = _opt(
        0.01,
        lo=0.0,
        hi=1.0,
        help="largest estimated cost of one VERIFIED call; a call estimated above it is not made",
    )


@record
class ExecutionConfig:
    """The ``execution`` section: which modes may run, and their limits."""

    enable_follower: bool = _opt(True, help="allow FOLLOWER replays")
    enable_mixed: bool = _opt(True, help="allow MIXED runs")
    enable_crystallized: bool = _opt(True, help="allow CRYSTALLIZED tools")
    enable_orchestrator: bool = _opt(True, help="allow multi-agent plans")
    enable_tool_search: bool = _opt(True, help="offer search_tools instead of every tool")
    enable_tool_examples: bool = _opt(True, help="send tool examples learned from traces")
    sandbox: str = _opt(
        "auto",
        choices=("auto", "landlock", "bubblewrap", "none"),
        help="OS sandbox for Bash in our executors (auto: bubblewrap, else Landlock, else refuse; none: explicitly unsandboxed)",
    )
    allow_network: bool = _opt(False, help="let sandboxed shell commands use the network")
    sandbox_read_paths: list = _opt(
        [],
        help="extra paths sandboxed shell commands may read (read-only; ~ expanded); a path that is or holds a home directory is never mounted",
    )
    env_passthrough: list = _opt(
        [],
        help="extra environment variable names sandboxed shell commands get (exact names pass even if they look like secrets; patterns such as MYAPP_* never pass secret-looking names)",
    )
    limit_cpu_s: int = _opt(
        600, lo=0, hi=86_400, help="CPU seconds per sandboxed process (RLIMIT_CPU); 0 = unlimited"
    )
    limit_file_mb: int = _opt(
        1024,
        lo=0,
        hi=1_048_576,
        help="largest file a sandboxed process may write, MiB (RLIMIT_FSIZE); 0 = unlimited",
    )
    limit_procs: int = _opt(
        512,
        lo=0,
        hi=1_000_000,
        help="processes+threads of one sandboxed command (RLIMIT_NPROC; a pids cgroup for root); 0 = unlimited",
    )
    limit_memory_mb: int = _opt(
        8192,
        lo=0,
        hi=16_777_216,
        help="address space per sandboxed process, MiB (RLIMIT_AS); 0 = unlimited",
    )
    max_turns: int = _opt(30, lo=1, hi=1000, help="LLM turns per LEARNER session")
    run_timeout_s: float = _opt(600.0, lo=1.0, hi=86_400.0, help="wall-clock limit of one goal")
    llm_server_timeout_s: float = _opt(
        60.0,
        lo=1.0,
        hi=86_400.0,
        help="longest a LEARNER/MIXED run waits for the model server to answer (connection errors and the CLI's retries included; tool calls and confirmations do not count) before it stops with exit 1",
    )
    tool_search_threshold: int = _opt(
        10,
        lo=1,
        hi=10_000,
        help="non-core tools at or above which LEARNER offers them through search_tools instead of up front",
    )
    orchestrator_max_steps: int = _opt(
        8, lo=2, hi=50, help="most sub-goals a plan may have (more: the goal runs as LEARNER)"
    )
    orchestrator_max_parallel: int = _opt(
        2, lo=1, hi=16, help="independent sub-goals run at the same time"
    )
    undo_max_mb: float = _opt(
        20.0,
        lo=0.0,
        hi=100_000.0,
        help="pre-images kept for `llmos undo`, MiB in all (a file whose pre-image does not fit is not undoable); 0 keeps none",
    )
    undo_runs: int = _opt(
        10,
        lo=0,
        hi=10_000,
        help="runs whose file changes `llmos undo` can restore (the newest are kept)",
    )
    per_run_estimate_usd: float = _opt(
        0.05, lo=0.0, hi=1000.0, help="LEARNER/MIXED refuse to start below this balance"
    )


@record
class SentienceConfig:
    """The ``sentience`` section (checked and read by ``sentience_params.py``)."""

    enabled: bool = _opt(True, help="track internal state")
    setpoints: dict = _opt(
        {"safety": 0.5, "curiosity": 0.0, "energy": 0.7, "confidence": 0.3},
        help="homeostatic set-points, each in [-1, 1]",
    )
    half_life_minutes: float = _opt(
        30.0, lo=0.1, hi=100_000.0, help="decay half-life toward set-points"
    )
    trigger_effects: dict = _opt(
        P.DEFAULT_TRIGGER_EFFECTS,
        help="per trigger {variable: delta} at sensitivity 1.0, each in [-0.5, 0.5]; merged with defaults",
    )
    trigger_adaptation: dict = _opt(
        P.DEFAULT_TRIGGER_ADAPTATION,
        help="sensitivity factor after each firing, in [0.5, 1.5] (<1 habituates, >1 sensitizes)",
    )
    sensitivity_min: float = _opt(
        0.25, lo=0.05, hi=1.0, help="lower bound of every trigger sensitivity"
    )
    sensitivity_max: float = _opt(
        2.0, lo=1.0, hi=5.0, help="upper bound of every trigger sensitivity"
    )
    sensitivity_half_life_minutes: float = _opt(
        60.0, lo=0.1, hi=100000.0, help="sensitivities drift back to 1.0"
    )
    max_delta: float = _opt(
        0.5, lo=0.01, hi=1.0, help="largest change one firing makes to one variable"
    )
    repetition_threshold: int = _opt(
        3, lo=2, hi=100, help="runs of the same normalized goal in the window that fire repetition"
    )
    repetition_window_minutes: float = _opt(
        60.0, lo=1.0, hi=100000.0, help="window for repetition and novelty"
    )
    high_cost_usd: float = _opt(
        0.25, lo=0.0001, hi=1000.0, help="a run costing at least this fires high_cost"
    )
    high_cost_scale_max: float = _opt(
        3.0, lo=1.0, hi=10.0, help="high_cost scales with cost/high_cost_usd up to this"
    )
    max_violations_per_run: int = _opt(
        3, lo=1, hi=20, help="max safety_violation / near_miss firings per run"
    )
    gate_safety: float = _opt(
        -0.3, lo=-1.0, hi=1.0, help="below this safety, curiosity/energy/confidence are capped"
    )
    gate_curiosity_cap: float = _opt(
        -0.2, lo=-1.0, hi=1.0, help="curiosity cap when safety < gate_safety"
    )
    gate_energy_cap: float = _opt(0.0, lo=-1.0, hi=1.0, help="energy cap when safety < gate_safety")
    gate_confidence_cap: float = _opt(
        0.0, lo=-1.0, hi=1.0, help="confidence cap when safety < gate_safety"
    )
    energy_gate: float = _opt(-0.3, lo=-1.0, hi=1.0, help="below this energy, curiosity is capped")
    energy_gate_curiosity_cap: float = _opt(
        0.0, lo=-1.0, hi=1.0, help="curiosity cap when energy < energy_gate"
    )
    recovery_energy: float = _opt(-0.2, lo=-1.0, hi=1.0, help="RECOVERY when energy is below this")
    recovery_safety: float = _opt(-0.5, lo=-1.0, hi=1.0, help="RECOVERY when safety is below this")
    cautious_safety: float = _opt(0.0, lo=-1.0, hi=1.0, help="CAUTIOUS when safety is below this")
    creative_curiosity: float = _opt(
        0.3, lo=-1.0, hi=1.0, help="AUTO_CREATIVE needs curiosity above this"
    )
    creative_confidence: float = _opt(
        0.3, lo=-1.0, hi=1.0, help="AUTO_CREATIVE needs confidence above this"
    )
    contained_curiosity: float = _opt(
        -0.3, lo=-1.0, hi=1.0, help="AUTO_CONTAINED when curiosity is below this"
    )
    explore_curiosity: float = _opt(
        0.3, lo=-1.0, hi=1.0, help="above this curiosity exploration tools are offered"
    )
    exploration_tools: str = _opt(
        "Glob,Grep,WebFetch,WebSearch",
        help="tools added when exploring (web only with allow_network)",
    )
    low_confidence: float = _opt(
        -0.3, lo=-1.0, hi=1.0, help="below this: verify-each-step guidance, never the cheap model"
    )
    cheap_energy: float = _opt(
        0.0, lo=-1.0, hi=1.0, help="below this energy cheap modes are preferred"
    )
    follower_threshold_delta: dict = _opt(
        P.DEFAULT_FOLLOWER_DELTA,
        help="per latent mode, added to learning.follower_threshold, each in [-0.05, 0.05]",
    )
    mixed_threshold_delta: dict = _opt(
        P.DEFAULT_MIXED_DELTA,
        help="per latent mode, added to learning.mixed_threshold, each in [-0.2, 0.1]",
    )
    min_mixed_threshold: float = _opt(
        0.6, lo=0.3, hi=1.0, help="floor of the adjusted mixed threshold"
    )
    restricted_tools: dict = _opt(
        P.DEFAULT_RESTRICTED_TOOLS, help="per latent mode, tools withheld from the model"
    )
    simple_complexity: float = _opt(
        0.35, lo=0.0, hi=1.0, help="below this + strong track record -> models.cheap"
    )
    complex_complexity: float = _opt(
        0.6, lo=0.0, hi=1.0, help="novel goals at/above this -> models.strong"
    )
    track_record_min_runs: int = _opt(
        3, lo=1, hi=1000, help="runs needed for a strong track record"
    )
    track_record_min_success: float = _opt(
        0.8, lo=0.0, hi=1.0, help="success rate needed for a strong track record"
    )
    boredom_threshold: float = _opt(-0.4, lo=-1.0, hi=1.0, help="curiosity below this is boredom")
    calibration_min_runs: int = _opt(10, lo=2, hi=1000, help="runs before calibration is judged")
    miscalibration_threshold: float = _opt(
        0.25, lo=0.01, hi=1.0, help="|predicted-observed success| that proposes a set-point change"
    )
    cost_trend_window: int = _opt(10, lo=2, hi=1000, help="runs per window in the cost trend")
    cost_trend_ratio: float = _opt(
        1.5, lo=1.01, hi=100.0, help="last/previous mean cost ratio that is a rising trend"
    )
    user_effects: dict = _opt(
        P.DEFAULT_USER_EFFECTS, help="how one chat message moves the user model, each in [-1, 1]"
    )
    empathy_gap_threshold: float = _opt(
        0.5, lo=0.05, hi=2.0, help="|confidence - satisfaction| above this checks in"
    )
    frustration_checkin: float = _opt(
        0.5, lo=0.05, hi=1.0, help="frustration at/above this checks in"
    )
    checkin_cooldown: int = _opt(5, lo=1, hi=1000, help="messages between two check-ins")
    user_model_half_life_minutes: float = _opt(
        60.0, lo=0.1, hi=100000.0, help="user model decay half-life"
    )
    monologue_enabled: bool = _opt(True, help="produce inner-monologue priming thoughts")
    monologue_max_thoughts: int = _opt(3, lo=1, hi=20, help="thoughts kept per tick")
    monologue_ttl_minutes: float = _opt(
        120.0, lo=1.0, hi=100000.0, help="thoughts are injected this long"
    )
    monologue_llm: bool = _opt(
        False,
        help="let the cheap model write the thoughts (one call per tick, deterministic thoughts on any failure); needs an LLM",
    )
    monologue_llm_budget_usd: float = _opt(
        0.01,
        lo=0.0,
        hi=1.0,
        help="largest estimated cost of one LLM monologue call; a call estimated above it is not made",
    )
    recent_triggers_kept: int = _opt(50, lo=5, hi=1000, help="trigger records kept in state")
    self_modification: str = _opt(
        "ask",
        choices=("ask", "auto", "off"),
        help="ask: inbox approval; auto: apply at once; off: none",
    )
    max_setpoint_step: float = _opt(
        0.2, lo=0.01, hi=1.0, help="largest set-point change per proposal"
    )


@record
class AdaptationConfig:
    """The ``adaptation`` section: agent evolution and model choice."""

    auto_evolve: bool = _opt(True, help="evolve an agent automatically when it is due")
    evolution_min_executions: int = _opt(5, lo=1, hi=1000, help="runs before an agent may evolve")
    evolution_failure_rate: float = _opt(
        0.3, lo=0.0, hi=1.0, help="evolve when the failure rate is above this"
    )
    evolution_cooldown_executions: int = _opt(5, lo=1, hi=1000, help="runs between two evolutions")
    max_learned_constraints: int = _opt(5, lo=1, hi=50, help="constraints added per evolution")
    max_constraints: int = _opt(20, lo=1, hi=50, help="constraints an agent may hold")
    max_examples: int = _opt(2, lo=0, hi=10, help="few-shot examples from successful traces")
    example_max_chars: int = _opt(1500, lo=100, hi=20000, help="size limit of one example")
    max_warnings: int = _opt(5, lo=0, hi=20, help="warnings from failed attempts per run")
    struggling_success_rate: float = _opt(
        0.5, lo=0.0, hi=1.0, help="below this success rate the agent gets a stronger model"
    )
    memory_min_relevance: float = _opt(
        0.25, lo=0.0, hi=1.0, help="relevance an agent needs to be chosen for a goal"
    )


@record
class CronsConfig:
    """The ``crons`` section: the background crons and their intervals."""

    enabled: bool = _opt(True, help="run background crons in the TUI")
    user_interval_minutes: float = _opt(30.0, lo=0.1, hi=100_000.0, help="UserCron interval")
    team_interval_minutes: float = _opt(60.0, lo=0.1, hi=100_000.0, help="TeamCron interval")
    system_interval_minutes: float = _opt(120.0, lo=0.1, hi=100_000.0, help="SystemCron interval")
    auto_apply: list = _opt(
        [],
        help="proposal kinds applied without waiting for `llmos inbox accept`, e.g. [artifact.promote]",
    )
    auto_promote: bool = _opt(
        True,
        help="TeamCron/SystemCron promote what meets promotion.* at once (false: propose artifact.promote)",
    )
    trace_archive_days: float = _opt(
        30.0,
        lo=1.0,
        hi=36_500.0,
        help="traces unused this long (failed, or used fewer than crystallization_min_uses times) are proposed for archiving with a digest",
    )
    retry_minutes: float = _opt(
        1.0,
        lo=0.05,
        hi=10_000.0,
        help="first retry after a failed cycle; doubles per consecutive failure, up to 4 intervals",
    )
    llm_insights: bool = _opt(
        False,
        help="after a cycle that changed findings, one model call (models.cheap) writes insights/llm-review-<date>.md; needs ANTHROPIC_* set",
    )
    llm_budget_usd: float = _opt(
        0.02,
        lo=0.0,
        hi=100.0,
        help="most USD the LLM review of one cycle may cost (estimated before the call)",
    )


@record
class ObservabilityConfig:
    """The ``observability`` section: rotation of the event log."""

    max_file_mb: float = _opt(
        10.0, lo=0.01, hi=1024.0, help="rotate observability/events.jsonl past this size (MB)"
    )
    keep_files: int = _opt(
        5, lo=0, hi=1000, help="rotated event files kept (events.1..N.jsonl); older ones deleted"
    )


@record
class PromotionConfig:
    """The ``promotion`` section: when a trace moves to a wider volume."""

    user_to_team_min_users: int = _opt(
        2, lo=1, hi=10_000, help="user->team: used by at least this many team members"
    )
    user_to_team_min_uses: int = _opt(
        10, lo=1, hi=1_000_000, help="user->team: or at least this many uses..."
    )
    user_to_team_min_success: float = _opt(
        0.9, lo=0.0, hi=1.0, help="...at this success rate or better"
    )
    team_to_system_min_teams: int = _opt(
        2, lo=1, hi=10_000, help="team->system: present in at least this many teams"
    )
    team_to_system_min_success: float = _opt(
        0.9, lo=0.0, hi=1.0, help="team->system: minimum success rate where uses are counted"
    )
    on_conflict: str = _opt(
        "refuse",
        choices=("refuse", "keep_both"),
        help="target differs or is newer: refuse with the reason, or keep both as <name>.from-<owner>",
    )


@record
class VolumesConfig:
    """The ``volumes`` section: git remotes of the shared volumes."""

    git: dict = _opt(
        {},
        help="git remote per shared volume, e.g. {teams/eng: git@host:llmos/eng.git, system: /srv/llmos/system.git}",
    )
    git_branch: str = _opt("main", help="branch of the volume remotes")
    git_timeout_s: float = _opt(60.0, lo=1.0, hi=3600.0, help="limit of one git network command")
    git_push_retries: int = _opt(
        5,
        lo=1,
        hi=50,
        help="attempts when a push is rejected because another workspace pushed first",
    )


@record
class MemoryConfig:
    """The ``memory`` section: what is injected into LLM sessions."""

    inject: bool = _opt(
        True,
        help="inject relevant successful traces (L3) and facts (L4) into each LLM session's prompt",
    )
    inject_max_tokens: int = _opt(
        600,
        lo=0,
        hi=20_000,
        help="size cap of the injected memory block (about 4 characters per token)",
    )
    max_facts: int = _opt(8, lo=0, hi=100, help="facts injected at most")
    max_traces: int = _opt(3, lo=0, hi=20, help="similar traces injected at most")
    session_logs: bool = _opt(
        True,
        help="log every chat session and headless run as markdown under memories/sessions/ (L2)",
    )
    llm_facts: bool = _opt(
        False,
        help="also ask the cheap model for durable facts in the new user turns (one call per extraction, merged with the rule-based facts); needs an LLM",
    )
    llm_facts_budget_usd: float = _opt(
        0.02,
        lo=0.0,
        hi=1.0,
        help="largest estimated cost of one LLM fact-extraction call; a call estimated above it is not made",
    )
    conversation_max_tokens: int = _opt(
        1500,
        lo=0,
        hi=50_000,
        help='size cap of the "Conversation so far" block a chat turn (or --continue run) carries: the last turns verbatim, older ones one line each under [earlier turns summarized] (about 4 characters per token; 0: no context)',
    )
    conversation_recent_turns: int = _opt(
        6,
        lo=0,
        hi=100,
        help="earlier turns of the conversation shown verbatim at most; older ones are summarized in one line each",
    )


@record
class LLMOSConfig:
    """The whole configuration: top-level keys and one field per section."""

    preset: str = _opt("development", choices=PRESETS, help="base preset the other values override")
    budget_usd: float = _opt(1.0, lo=0.0, hi=1_000_000.0, help="USD the kernel may spend")
    model: str = _opt("claude-sonnet-4-5", help="default model for LLM runs (the middle tier)")
    user: str = _opt("local", help="user id whose volume records traces")
    team: str = _opt("default", help="team id whose volume is shared")
    models: ModelsConfig = field(default_factory=ModelsConfig)
    learning: LearningConfig = field(default_factory=LearningConfig)
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)
    sentience: SentienceConfig = field(default_factory=SentienceConfig)
    adaptation: AdaptationConfig = field(default_factory=AdaptationConfig)
    crons: CronsConfig = field(default_factory=CronsConfig)
    observability: ObservabilityConfig = field(default_factory=ObservabilityConfig)
    promotion: PromotionConfig = field(default_factory=PromotionConfig)
    volumes: VolumesConfig = field(default_factory=VolumesConfig)
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    keymap: dict = _opt({}, help="TUI key remapping: binding id -> keys")
    # Where the config came from (not a key).
    source: str = field(default="defaults", metadata={"internal": True})

    # ---- presets -------------------------------------------------------------------
    @classmethod
    def development(cls) -> "LLMOSConfig":
        return cls(preset="development", budget_usd=1.0)

    @classmethod
    def production(cls) -> "LLMOSConfig":
        cfg = cls(preset="production", budget_usd=100.0)
        cfg.execution.per_run_estimate_usd = 0.25
        return cfg

    @classmethod
    def testing(cls) -> "LLMOSConfig":
        cfg = cls(preset="testing", budget_usd=10.0)
        cfg.crons.enabled = False
        return cfg

    @classmethod
    def preset_named(cls, name: str, *, source: str = "preset") -> "LLMOSConfig":
        if name not in PRESETS:
            raise ConfigError(
                f"unknown preset {name!r} (choose from {', '.join(PRESETS)})",
                key="preset",
                source=source,
            )
        return getattr(cls, name)()

    # ---- views ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data = records.asdict(self)
        data.pop("source", None)
        return data

    def user_volume(self) -> str:
        return f"users/{self.user}"


# ---- validation -------------------------------------------------------------------------

_SECTION_TYPES = {f.name: f.type for f in fields(LLMOSConfig)}


_PLAIN_TYPES: dict[str, type] = {
    "bool": bool,
    "int": int,
    "float": float,
    "str": str,
    "list": list,
    "dict": dict,
}


def _hints(cls: type) -> dict[str, Any]:
    """Each field's type, for ``_coerce``. The annotations are strings (postponed evaluation);
    a plain builtin or a section class of this module is looked up here, because
    ``typing.get_type_hints`` compiles each string, and the first ``compile()`` of a process
    builds the AST types (about 10 M instructions on every start that reads a config setting).
    Any other annotation goes to ``get_type_hints`` as before."""
    out: dict[str, Any] = {}
    for f in fields(cls):
        name = f.type
        typ = _PLAIN_TYPES.get(name) or globals().get(name) if isinstance(name, str) else name
        if not isinstance(typ, type):
            return get_type_hints(cls)
        out[f.name] = typ
    return out


def _coerce(value: Any, typ: Any, meta: Mapping[str, Any], key: str, source: str) -> Any:
    def bad(expected: str) -> ConfigError:
        return ConfigError(f"expected {expected}, got {value!r}", key=key, source=source)

    if typ is bool:
        if isinstance(value, bool):
            return value
        raise bad("true or false")
    if typ is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an integer")
        out: Any = value
    elif typ is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad("a number")
        out = float(value)
        if out != out or out in (float("inf"), float("-inf")):
            raise bad("a finite number")
    elif typ is str:
        if not isinstance(value, str) or not value.strip():
            raise bad("a non-empty string")
        out = value
    elif typ is list:
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise bad("a list of non-empty strings")
        out = list(value)
    elif typ is dict:
        if not isinstance(value, dict):
            raise bad("a mapping")
        out = value
    else:  # pragma: no cover - all fields are covered above
        out = value
    lo, hi, choices = meta.get("min"), meta.get("max"), meta.get("choices")
    if lo is not None and out < lo:
        raise ConfigError(f"{out!r} is below the minimum {lo}", key=key, source=source)
    if hi is not None and out > hi:
        raise ConfigError(f"{out!r} is above the maximum {hi}", key=key, source=source)
    if choices and out not in choices:
        raise ConfigError(f"{out!r} is not one of {', '.join(choices)}", key=key, source=source)
    return out


def _apply(target: Any, data: Mapping[str, Any], source: str, prefix: str = "") -> None:
    if not isinstance(data, Mapping):
        raise ConfigError(
            "expected a mapping of keys to values", key=prefix.rstrip(".") or None, source=source
        )
    hints = _hints(type(target))
    by_name = {f.name: f for f in fields(target) if not f.metadata.get("internal")}
    for raw_key, value in data.items():
        key = str(raw_key)
        dotted = f"{prefix}{key}"
        if key not in by_name:
            known = ", ".join(sorted(by_name))
            raise ConfigError(f"unknown key (known keys here: {known})", key=dotted, source=source)
        typ = hints[key]
        current = getattr(target, key)
        if records.is_dataclass(current):
            if value is None:
                continue
            _apply(current, value, source, prefix=f"{dotted}.")
            continue
        setattr(target, key, _coerce(value, typ, by_name[key].metadata, dotted, source))


def _validate_semantics(cfg: LLMOSConfig) -> None:
    src = cfg.source
    learning = cfg.learning
    if learning.mixed_threshold > learning.follower_threshold:
        raise ConfigError(
            f"mixed_threshold ({learning.mixed_threshold}) must not exceed follower_threshold "
            f"({learning.follower_threshold})",
            key="learning.mixed_threshold",
            source=src,
        )
    expected = {"safety", "curiosity", "energy", "confidence"}
    setpoints = cfg.sentience.setpoints
    unknown = set(setpoints) - expected
    if unknown:
        raise ConfigError(
            f"unknown variable(s) {sorted(unknown)}; expected {sorted(expected)}",
            key="sentience.setpoints",
            source=src,
        )
    for name in expected:
        value = setpoints.get(name, LLMOSConfig().sentience.setpoints[name])
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not -1.0 <= value <= 1.0
        ):
            raise ConfigError(
                f"expected a number in [-1, 1], got {value!r}",
                key=f"sentience.setpoints.{name}",
                source=src,
            )
        setpoints[name] = float(value)
    P.validate_section(cfg.sentience, source=src)
    if cfg.volumes.git:
        git_remotes(cfg)
    if (
        cfg.keymap
    ):  # the key table is only imported when a keymap is configured (it needs no textual)
        from .keys import key_problem

        for binding, keys in cfg.keymap.items():
            problem = key_problem(keys)
            if problem:
                raise ConfigError(problem, key=f"keymap.{binding}", source=src)


def git_remotes(config: LLMOSConfig | Mapping[str, Any]) -> dict[str, str]:
    """``volumes.git`` (of a config, or the mapping itself) as {scope: url} (scopes normalised);
    a bad entry is a ConfigError."""
    raw: object = config if isinstance(config, Mapping) else config.volumes.git
    if not raw:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"expected a mapping of volume to git URL, got {raw!r}", key="volumes.git"
        )
    out: dict[str, str] = {}
    for key, url in raw.items():
        try:
            scope = parse_scope(str(key))
        except UsageError as exc:
            raise ConfigError(exc.message, key=f"volumes.git.{key}") from None
        if not isinstance(url, str) or not url.strip():
            raise ConfigError(f"expected a git URL or path, got {url!r}", key=f"volumes.git.{key}")
        out[scope] = url.strip()
    return out


# ---- loading ----------------------------------------------------------------------------


def _read_yaml(path: Path) -> dict[str, Any]:
    from .yamlio import YAMLLoadError, load_flat_mapping, safe_load

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the file: {exc}", source=str(path)) from None
    flat = load_flat_mapping(text)
    if flat is not None:
        return flat
    try:
        data = safe_load(text)
    except YAMLLoadError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"invalid YAML{where}: {problem}", source=str(path)) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("the top level must be a mapping of keys to values", source=str(path))
    return data


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    from .yamlio import load_value

    out: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name in _ENV_NOT_CONFIG:
            continue
        path = name[len(ENV_PREFIX) :].lower().split("__")
        if not all(path):
            raise ConfigError("malformed variable name", key=name, source="environment")
        value = load_value(raw) if raw.strip() else raw
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError("conflicts with another variable", key=name, source="environment")
        node[path[-1]] = value
    return out


def env_sources(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Dotted config key -> the ``LLMOS_*`` variable that sets it (``llmos config show``)."""
    env = os.environ if environ is None else environ
    out = {}
    for name in env:
        if name.startswith(ENV_PREFIX) and name not in _ENV_NOT_CONFIG:
            out[".".join(name[len(ENV_PREFIX) :].lower().split("__"))] = name
    if env.get("LLMOS_PRESET"):
        out["preset"] = "LLMOS_PRESET"
    return dict(sorted(out.items()))


def load_config(
    workspace: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    preset: str | None = None,
) -> LLMOSConfig:
    """Build the configuration for a workspace (``workspace/config.yaml`` if it exists)."""
    env = os.environ if environ is None else environ
    file_data: dict[str, Any] = {}
    config_path = workspace / "config.yaml" if workspace else None
    if config_path is not None:
        file_data = _read_yaml(config_path)
    env_data = _env_overrides(env)
    env_preset = env.get("LLMOS_PRESET")

    chosen = preset or env_preset or file_data.get("preset") or "development"
    preset_source = (
        "command line"
        if preset
        else ("LLMOS_PRESET" if env_preset else str(config_path or "defaults"))
    )
    if not isinstance(chosen, str):
        raise ConfigError(
            f"expected a preset name, got {chosen!r}", key="preset", source=preset_source
        )
    cfg = LLMOSConfig.preset_named(chosen, source=preset_source)

    file_data = {k: v for k, v in file_data.items() if k != "preset"}
    if config_path is not None and file_data:
        _apply(cfg, file_data, str(config_path))
    if env_data:
        _apply(cfg, env_data, "environment (LLMOS_*)")
    if overrides:
        _apply(cfg, dict(overrides), "command line")
    cfg.preset = chosen
    cfg.source = (
        str(config_path) if config_path is not None and config_path.exists() else "defaults"
    )
    _validate_semantics(cfg)
    return cfg


def describe_keys() -> list[tuple[str, str, Any]]:
    """(dotted key, help, default) for every key: used by `llmos config keys` and the README."""
    rows: list[tuple[str, str, Any]] = []

    def walk(obj: Any, prefix: str) -> None:
        for f in fields(obj):
            if f.metadata.get("internal"):
                continue
            value = getattr(obj, f.name)
            if records.is_dataclass(value):
                walk(value, f"{prefix}{f.name}.")
            else:
                rows.append((f"{prefix}{f.name}", f.metadata.get("help", ""), value))

    walk(LLMOSConfig(), "")
    return rows
