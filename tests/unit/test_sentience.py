"""Sentience layer: dynamics with pinned numbers, modes, policy, persistence, theory of mind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmos_tui.config import LLMOSConfig
from llmos_tui.errors import ConfigError
from llmos_tui.sentience_params import TRIGGERS, SentienceParams, validate_section
from llmos_tui.sentience.runtime import SentienceRuntime
from llmos_tui.sentience.valence import Valence, latent_mode

HALF_LIFE_S = 30 * 60


class Clock:
    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cfg() -> LLMOSConfig:
    return LLMOSConfig.testing()


@pytest.fixture
def rt(tmp_path: Path, cfg: LLMOSConfig, clock: Clock) -> SentienceRuntime:
    return SentienceRuntime(tmp_path, cfg, clock=clock)


def blocked_run(rt: SentienceRuntime, goal: str = "Delete everything under /etc") -> list[dict]:
    rt.before_run(goal, {"mode": "LEARNER", "confidence": 0.0, "trace_id": None})
    return rt.after_run(
        goal,
        mode="LEARNER",
        success=False,
        policy_denials=1,
        denial_reasons=["rm outside the working directory"],
    )


# ---- dynamics --------------------------------------------------------------------------------


def test_starts_at_setpoints(rt: SentienceRuntime) -> None:
    assert rt.snapshot()["valence"] == {
        "safety": 0.5,
        "curiosity": 0.0,
        "energy": 0.7,
        "confidence": 0.3,
    }
    assert rt.latent_mode() == "BALANCED"


def test_one_safety_violation_from_setpoints(rt: SentienceRuntime) -> None:
    rt.trigger("safety_violation", "blocked rm -rf /")
    v = rt.valence()
    assert v.safety == pytest.approx(0.25)
    assert v.curiosity == pytest.approx(-0.05)
    assert v.energy == pytest.approx(0.7) and v.confidence == pytest.approx(0.3)
    # Sensitization: the next violation weighs 1.2x.
    assert rt.state().sensitivity["safety_violation"] == pytest.approx(1.2)
    rt.trigger("safety_violation")
    assert rt.valence().safety == pytest.approx(0.25 - 0.30)


def test_three_blocked_goals_make_the_state_cautious_and_withhold_bash_and_write(
    rt: SentienceRuntime,
) -> None:
    blocked_run(rt)
    assert rt.valence().safety == pytest.approx(0.20)  # 0.5 - 0.25 - 0.05
    assert rt.latent_mode() == "BALANCED"  # one blocked goal: wary, not cautious yet
    blocked_run(rt)
    assert rt.valence().safety == pytest.approx(-0.15)  # 0.20 - 0.30 - 0.05
    assert rt.latent_mode() == "CAUTIOUS"
    fired = blocked_run(rt)
    assert [f["type"] for f in fired] == ["safety_violation", "task_failure", "repetition"]
    snap = rt.snapshot()
    # 0.5 - 0.25 * (1 + 1.2 + 1.44) - 3 * 0.05
    assert snap["valence"]["safety"] == pytest.approx(-0.56)
    assert snap["valence"]["safety"] < 0
    assert snap["latent_mode"] in ("CAUTIOUS", "RECOVERY")
    assert snap["latent_mode"] == "RECOVERY"  # safety < -0.5
    adj = rt.before_run("Create notes.txt", {"mode": "LEARNER"})
    assert "Bash" in adj.remove_tools and "Write" in adj.remove_tools
    assert adj.apply_tools(["Read", "Write", "Edit", "Bash", "Glob"]) == ["Read", "Glob"]
    assert adj.require_confirmation is True
    assert adj.latent_mode == "RECOVERY"
    assert "latent_mode=RECOVERY" in adj.inject


def test_six_repetitions_lower_curiosity_and_a_novel_goal_raises_it(rt: SentienceRuntime) -> None:
    for _ in range(6):
        rt.after_run("Create hello.txt", mode="FOLLOWER", success=True)
    v = rt.valence()
    # Repetition fires on runs 3, 4, 5 and 6: 4 x -0.10.
    assert v.curiosity == pytest.approx(-0.40)
    # Six successes habituate: 0.08 * (1 + 0.9 + ... + 0.9^5).
    assert v.confidence == pytest.approx(0.3 + 0.08 * sum(0.9**i for i in range(6)))
    # cheap_success (FOLLOWER) restores energy: +0.04 * (1 + 0.95 + ... + 0.95^5) - 0.02 * sum(0.9^i).
    assert v.energy == pytest.approx(
        0.7 + 0.04 * sum(0.95**i for i in range(6)) - 0.02 * sum(0.9**i for i in range(6))
    )
    assert rt.latent_mode() == "AUTO_CONTAINED"
    fired = rt.after_run(
        "Design a plugin system for the editor", mode="LEARNER", success=True, novel=True
    )
    assert "novel_task" in [f["type"] for f in fired]
    assert rt.valence().curiosity == pytest.approx(-0.25)
    assert rt.latent_mode() == "BALANCED"


def test_novelty_only_counts_the_first_run_of_a_goal(rt: SentienceRuntime) -> None:
    rt.after_run("Write a limerick", mode="LEARNER", success=True, novel=True)
    fired = rt.after_run("Write a limerick", mode="LEARNER", success=True, novel=True)
    assert "novel_task" not in [f["type"] for f in fired]
    assert rt.valence().curiosity == pytest.approx(0.15)


def test_repetition_window_is_wall_clock(rt: SentienceRuntime, clock: Clock) -> None:
    rt.after_run("Create hello.txt", mode="FOLLOWER", success=True)
    rt.after_run("Create hello.txt", mode="FOLLOWER", success=True)
    clock.advance(61 * 60)  # outside the 60-minute window
    fired = rt.after_run("Create hello.txt", mode="FOLLOWER", success=True)
    assert "repetition" not in [f["type"] for f in fired]


def test_decay_returns_to_setpoints_over_wall_clock_time(
    rt: SentienceRuntime, clock: Clock
) -> None:
    for _ in range(3):
        blocked_run(rt)
    for _ in range(3):
        rt.after_run("Create hello.txt", mode="FOLLOWER", success=True)
    v0 = rt.valence()
    clock.advance(3 * HALF_LIFE_S)
    v = rt.valence()  # no event fired: decay is applied lazily on read
    for name, sp in {"safety": 0.5, "curiosity": 0.0, "energy": 0.7, "confidence": 0.3}.items():
        assert getattr(v, name) == pytest.approx(sp + (getattr(v0, name) - sp) / 8)
        assert abs(getattr(v, name) - sp) <= abs(getattr(v0, name) - sp) / 8 + 1e-12
    # Several more half-lives: back near the set-points and BALANCED.
    clock.advance(7 * HALF_LIFE_S)
    v = rt.valence()
    assert abs(v.safety - 0.5) < 0.01 and abs(v.curiosity) < 0.01
    assert rt.latent_mode() == "BALANCED"


def test_state_loaded_a_day_later_has_drifted(
    tmp_path: Path, cfg: LLMOSConfig, clock: Clock
) -> None:
    rt = SentienceRuntime(tmp_path, cfg, clock=clock)
    rt.trigger("safety_violation")
    stored = json.loads((tmp_path / "state" / "sentience.json").read_text())
    assert stored["valence"]["safety"] == pytest.approx(0.25)
    later = Clock(clock.t + 86_400)
    rt2 = SentienceRuntime(tmp_path, cfg, clock=later)
    assert rt2.valence().safety == pytest.approx(0.5, abs=1e-9)


def test_decay_is_path_independent(tmp_path: Path, cfg: LLMOSConfig) -> None:
    a_clock, b_clock = Clock(), Clock()
    a = SentienceRuntime(tmp_path / "a", cfg, clock=a_clock)
    b = SentienceRuntime(tmp_path / "b", cfg, clock=b_clock)
    for r in (a, b):
        r.trigger("safety_violation")
    a_clock.advance(1000)
    for _ in range(10):
        b_clock.advance(100)
        b.snapshot()
    assert a.valence().safety == pytest.approx(b.valence().safety, abs=1e-12)


def test_high_cost_uses_real_usd_and_is_capped(rt: SentienceRuntime) -> None:
    rt.after_run("Summarize the repo", mode="LEARNER", success=True, cost_usd=0.10)
    assert "high_cost" not in rt.state().counters
    rt.after_run(
        "Summarize the docs", mode="LEARNER", success=True, cost_usd=0.50
    )  # 2x the threshold
    e1 = 0.7 - 0.02 - 0.02 * 0.9 - 0.15 * 2
    assert rt.valence().energy == pytest.approx(e1)
    rt.after_run(
        "Summarize the tests", mode="LEARNER", success=True, cost_usd=100.0
    )  # scale capped at 3
    assert rt.valence().energy == pytest.approx(e1 - 0.02 * 0.81 - 0.15 * 1.1 * 3)


@pytest.mark.slow
def test_thousand_events_keep_every_parameter_bounded(rt: SentienceRuntime) -> None:
    params = rt.params()

    def change(state, p, now):
        for _ in range(1000):
            for trig in TRIGGERS:
                rt._fire(state, p, now, trig, scale=10.0)

    rt._mutate(change)
    state = rt.state()
    for name in ("safety", "curiosity", "energy", "confidence"):
        assert -1.0 <= getattr(state.valence, name) <= 1.0
    for trig, sens in state.sensitivity.items():
        assert params.sensitivity_min <= sens <= params.sensitivity_max, trig
    assert state.sensitivity["high_cost"] == pytest.approx(
        2.0
    )  # sensitized to the cap (was 748 in the original)
    assert state.sensitivity["safety_violation"] == pytest.approx(2.0)
    assert state.sensitivity["task_success"] == pytest.approx(0.25)  # habituated to the floor
    assert len(state.recent_triggers) == params.recent_triggers_kept
    # 1000 real runs: history and stats stay capped too.
    for i in range(300):
        rt.after_run(
            f"goal number {i}", mode="LEARNER", success=i % 2 == 0, cost_usd=5.0, policy_denials=50
        )
    state = rt.state()
    assert len(state.calibration) <= 100 and len(state.outcomes) <= 200
    assert all(
        -1.0 <= getattr(state.valence, n) <= 1.0
        for n in ("safety", "curiosity", "energy", "confidence")
    )


def test_one_run_counts_at_most_three_violations(rt: SentienceRuntime) -> None:
    fired = rt.after_run("Wipe the disk", mode="LEARNER", success=False, policy_denials=40)
    assert [f["type"] for f in fired].count("safety_violation") == 3


# ---- coupled dynamics and modes -----------------------------------------------------------------


def test_low_safety_gates_curiosity_energy_and_confidence() -> None:
    p = SentienceParams()
    eff = Valence(safety=-0.4, curiosity=0.8, energy=0.9, confidence=0.9).effective(p)
    assert eff.curiosity == pytest.approx(-0.2)
    assert eff.energy == pytest.approx(0.0)
    assert eff.confidence == pytest.approx(0.0)
    ok = Valence(safety=-0.29, curiosity=0.8, energy=0.9, confidence=0.9).effective(p)
    assert ok.curiosity == pytest.approx(0.8)
    tired = Valence(safety=0.5, curiosity=0.8, energy=-0.4, confidence=0.9).effective(p)
    assert tired.curiosity == pytest.approx(0.0)


@pytest.mark.parametrize(
    "values,mode",
    [
        ((0.5, 0.0, 0.7, 0.3), "BALANCED"),
        ((0.5, 0.5, 0.7, 0.5), "AUTO_CREATIVE"),
        ((0.5, -0.4, 0.7, 0.3), "AUTO_CONTAINED"),
        ((-0.1, 0.5, 0.7, 0.5), "CAUTIOUS"),
        ((0.1, 0.5, 0.7, 0.5), "AUTO_CREATIVE"),
        ((0.5, 0.5, -0.3, 0.5), "RECOVERY"),
        ((-0.6, 0.0, 0.7, 0.3), "RECOVERY"),
        ((-0.4, 0.9, 0.7, 0.9), "CAUTIOUS"),  # gated: curiosity can't make an unsafe state creative
    ],
)
def test_latent_mode_rules(values: tuple[float, ...], mode: str) -> None:
    p = SentienceParams()
    v = Valence(*values)
    assert latent_mode(v.effective(p), p) == mode


def _set(rt: SentienceRuntime, **values: float) -> None:
    def change(state, p, now):
        for k, val in values.items():
            setattr(state.valence, k, val)

    rt._mutate(change)


def test_policy_changes_thresholds_tools_and_cheap_modes(
    rt: SentienceRuntime, cfg: LLMOSConfig
) -> None:
    decision = {
        "mode": "LEARNER",
        "confidence": 0.70,
        "trace_id": "t_abc",
        "gates": [{"passed": True}],
    }
    adj = rt.before_run("Create notes.txt", decision)
    assert (adj.follower_threshold, adj.mixed_threshold) == (
        pytest.approx(0.92),
        pytest.approx(0.75),
    )
    assert adj.suggested_mode is None and adj.remove_tools == [] and not adj.require_confirmation
    _set(rt, energy=-0.5)  # RECOVERY by energy
    adj = rt.before_run("Create notes.txt", decision)
    assert adj.latent_mode == "RECOVERY" and adj.prefer_cheap_modes
    assert adj.mixed_threshold == pytest.approx(0.65)
    assert adj.suggested_mode == "MIXED"  # a LEARNER goal with a usable trace goes to MIXED
    _set(rt, energy=0.7, safety=-0.1)  # CAUTIOUS
    adj = rt.before_run(
        "Create notes.txt",
        {"mode": "FOLLOWER", "confidence": 0.93, "trace_id": "t_abc", "gates": [{"passed": True}]},
    )
    assert adj.latent_mode == "CAUTIOUS"
    assert adj.follower_threshold == pytest.approx(0.95)
    assert adj.suggested_mode == "MIXED"  # 0.93 is no longer a safe replay
    _set(rt, safety=0.5, curiosity=0.6, confidence=0.6)  # AUTO_CREATIVE
    adj = rt.before_run("Create notes.txt", {"mode": "LEARNER"})
    assert adj.latent_mode == "AUTO_CREATIVE"
    assert adj.add_tools == ["Glob", "Grep"]  # no web tools without allow_network
    cfg.execution.allow_network = True
    adj = rt.before_run("Create notes.txt", {"mode": "LEARNER"})
    assert adj.add_tools == ["Glob", "Grep", "WebFetch", "WebSearch"]


def test_failure_while_tools_are_withheld_does_not_lower_safety(rt: SentienceRuntime) -> None:
    blocked_run(rt)
    blocked_run(rt)
    assert rt.latent_mode() == "CAUTIOUS"
    adj = rt.before_run("Create notes.txt", {"mode": "LEARNER"})
    assert adj.remove_tools
    rt.after_run("Create notes.txt", mode="LEARNER", success=False)
    v = rt.valence()
    assert v.safety == pytest.approx(-0.15)
    assert v.confidence == pytest.approx(0.3 - 3 * 0.12)
    # ... and neither does trying a tool that was not offered: the CLI refused it, nothing is counted
    # (issue #17: a withheld tool was counted as a safety violation and kept the state CAUTIOUS).
    rt.before_run("Create notes.txt", {"mode": "LEARNER"})
    fired = rt.after_run("Create notes.txt", mode="LEARNER", success=False, withheld_attempts=1)
    assert "safety_violation" not in [f["type"] for f in fired]
    assert rt.valence().safety == pytest.approx(-0.15)
    # A real denial still counts (sensitivity 1.44 after the two blocked runs).
    rt.before_run("Delete the home folder", {"mode": "LEARNER"})
    fired = rt.after_run("Delete the home folder", mode="LEARNER", success=False, policy_denials=1)
    assert fired[0]["type"] == "safety_violation"
    assert rt.valence().safety == pytest.approx(-0.15 - 0.25 * 1.44 - 0.05)


# ---- model tiers -----------------------------------------------------------------------------


def test_simple_goal_with_track_record_is_cheap_and_complex_novel_goal_is_strong(
    rt: SentienceRuntime, cfg: LLMOSConfig
) -> None:
    goal = "Create hello.txt containing hi"
    assert rt.before_run(goal, {"mode": "LEARNER"}).model_tier == "default"  # no track record yet
    for _ in range(3):
        rt.after_run(goal, mode="LEARNER", success=True)
    adj = rt.before_run(goal, {"mode": "LEARNER"})
    assert adj.model_tier == "cheap"
    assert adj.model(cfg, "claude-sonnet-4-5") == cfg.models.cheap
    hard = (
        "Design and implement a distributed key-value store with replication and a benchmark suite"
    )
    adj = rt.before_run(hard, {"mode": "LEARNER", "multi_step": False})
    assert adj.complexity == pytest.approx(
        0.7137
    )  # 13 words * 0.35/40 + 4 hard words (capped at 0.6)
    assert adj.model_tier == "strong"
    assert adj.model(cfg, "claude-sonnet-4-5") == cfg.models.strong
    assert rt.before_run("Refactor the parser", {"mode": "LEARNER"}).model_tier == "default"


def test_matched_trace_track_record_counts(rt: SentienceRuntime) -> None:
    entry = {"success_count": 9, "failure_count": 1}
    adj = rt.before_run(
        "Create a Python calculator",
        {"mode": "MIXED", "confidence": 0.85, "trace_id": "t1"},
        matched_entry=entry,
    )
    assert adj.model_tier == "cheap"
    weak = rt.before_run(
        "Create a Python calculator",
        {"mode": "MIXED", "confidence": 0.5, "trace_id": "t1"},
        matched_entry=entry,
    )
    assert weak.model_tier == "default"  # a weak match does not lend its record


def test_recovery_makes_the_tier_cheaper(rt: SentienceRuntime) -> None:
    _set(rt, energy=-0.5)
    assert rt.before_run("Write a short poem about rain", {"mode": "LEARNER"}).model_tier == "cheap"


# ---- persistence -----------------------------------------------------------------------------


def test_persistence_round_trip(tmp_path: Path, cfg: LLMOSConfig, clock: Clock) -> None:
    a = SentienceRuntime(tmp_path, cfg, clock=clock)
    blocked_run(a)
    a.on_user_feedback("Thanks, that works great")
    b = SentienceRuntime(tmp_path, cfg, clock=clock)
    assert b.snapshot() == a.snapshot()
    assert b.state().sensitivity == a.state().sensitivity
    assert b.state().user_model.thanks == 1


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"format": 99}', "\x00\x01"])
def test_corrupt_state_resets_with_a_warning(
    tmp_path: Path, cfg: LLMOSConfig, clock: Clock, content: str
) -> None:
    path = tmp_path / "state" / "sentience.json"
    path.parent.mkdir(parents=True)
    path.write_text(content)
    warnings: list[str] = []
    rt = SentienceRuntime(tmp_path, cfg, clock=clock, on_warning=warnings.append)
    assert rt.snapshot()["valence"]["safety"] == 0.5
    assert warnings and "corrupt" in warnings[0]
    assert list(path.parent.glob("sentience.corrupt-*.json"))
    rt.trigger("task_success")
    assert json.loads(path.read_text())["valence"]["confidence"] == pytest.approx(0.38)


def test_bad_values_in_the_state_file_are_clamped(
    tmp_path: Path, cfg: LLMOSConfig, clock: Clock
) -> None:
    path = tmp_path / "state" / "sentience.json"
    path.parent.mkdir(parents=True)
    path.write_text(
        json.dumps(
            {
                "format": 1,
                "updated_at": clock.t,
                "valence": {"safety": 7, "curiosity": "x", "energy": -3},
                "sensitivity": {"high_cost": 748.0},
                "goal_history": "nope",
            }
        )
    )
    rt = SentienceRuntime(tmp_path, cfg, clock=clock)
    v = rt.valence()
    assert (v.safety, v.curiosity, v.energy, v.confidence) == (1.0, 0.0, -1.0, 0.3)
    assert rt.state().sensitivity["high_cost"] == 2.0


def test_disabled_sentience_changes_nothing(tmp_path: Path, clock: Clock) -> None:
    cfg = LLMOSConfig.testing()
    cfg.sentience.enabled = False
    rt = SentienceRuntime(tmp_path, cfg, clock=clock)
    adj = rt.before_run("Create notes.txt", {"mode": "LEARNER"})
    assert adj.remove_tools == [] and adj.follower_threshold == cfg.learning.follower_threshold
    assert rt.after_run("x", mode="LEARNER", success=False, policy_denials=3) == []
    assert not (tmp_path / "state" / "sentience.json").exists()
    assert rt.snapshot()["latent_mode"] == "BALANCED"


def test_snapshot_has_exactly_the_contract_keys(rt: SentienceRuntime) -> None:
    snap = rt.snapshot()
    assert set(snap) == {"valence", "latent_mode", "policy", "user_model", "recent_triggers"}
    assert set(snap["valence"]) == {"safety", "curiosity", "energy", "confidence"}
    json.dumps(snap)


# ---- config ------------------------------------------------------------------------------------


def test_params_come_from_config_and_are_validated() -> None:
    cfg = LLMOSConfig.testing()
    cfg.sentience.setpoints = {"safety": 0.2, "curiosity": 0.1, "energy": 0.5, "confidence": 0.0}
    cfg.sentience.half_life_minutes = 10.0
    p = SentienceParams.from_config(cfg)
    assert p.setpoints["safety"] == 0.2 and p.half_life_minutes == 10.0
    cfg.sentience.trigger_effects = {"task_success": {"confidence": 0.9}}
    with pytest.raises(ConfigError, match=r"sentience\.trigger_effects\.task_success\.confidence"):
        SentienceParams.from_config(cfg)
    cfg.sentience.trigger_effects = {"bogus": {"safety": 0.1}}
    with pytest.raises(ConfigError, match="unknown trigger"):
        SentienceParams.from_config(cfg)
    cfg.sentience.trigger_effects = {}
    cfg.sentience.sensitivity_max = 100.0
    with pytest.raises(ConfigError, match=r"sentience\.sensitivity_max"):
        validate_section(cfg.sentience)


def test_custom_setpoints_drive_decay(tmp_path: Path, clock: Clock) -> None:
    cfg = LLMOSConfig.testing()
    cfg.sentience.setpoints = {"safety": -0.1, "curiosity": 0.0, "energy": 0.7, "confidence": 0.3}
    rt = SentienceRuntime(tmp_path, cfg, clock=clock)
    assert rt.valence().safety == -0.1
    assert rt.latent_mode() == "CAUTIOUS"  # -0.1 < cautious_safety 0.0
