"""Sentience: theory of mind, emotional memory, inner monologue, self-modification, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmos_tui.config import LLMOSConfig
from llmos_tui.errors import UsageError
from llmos_tui.sentience.cognitive import CognitiveKernel
from llmos_tui.sentience.emotional_memory import (
    emotional_similarity,
    find_similar_emotional_memories,
)
from llmos_tui.sentience.runtime import SentienceRuntime
from llmos_tui.sentience.user_model import classify_message


class Clock:
    def __init__(self, t: float = 2_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cfg() -> LLMOSConfig:
    return LLMOSConfig.testing()


@pytest.fixture
def rt(tmp_path: Path, cfg: LLMOSConfig, clock: Clock) -> SentienceRuntime:
    return SentienceRuntime(tmp_path, cfg, clock=clock)


# ---- theory of mind ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,label",
    [
        ("Thanks, that works great", "positive"),
        ("perfect 👍", "positive"),
        ("No, that's wrong", "negative"),
        ("That is not what I asked", "negative"),
        ("It still doesn't work", "negative"),
        ("Create a Python calculator", "neutral"),
    ],
)
def test_classify_message(text: str, label: str) -> None:
    assert classify_message(text).label == label


def test_terse_and_repeated_and_technical() -> None:
    assert classify_message("ok").terse
    assert not classify_message("Please add a README to the project").terse
    prev = ["create a python calculator"]
    assert classify_message("Create a Python calculator!", prev).repeated
    assert classify_message("Refactor `parse()` in src/app.py to use async").technical > 0.5
    assert classify_message("make it nicer please").technical == 0.0


def test_corrections_raise_frustration_and_trigger_a_check_in(rt: SentienceRuntime) -> None:
    r1 = rt.on_user_feedback("No, that's wrong")
    assert r1.kind == "negative" and r1.triggers == ["user_negative"] and r1.check_in is None
    assert r1.user_model["frustration"] == pytest.approx(0.15)
    assert r1.user_model["satisfaction"] == pytest.approx(-0.10)
    assert rt.valence().confidence == pytest.approx(0.22)
    r2 = rt.on_user_feedback("That is not what I asked")
    r3 = rt.on_user_feedback("Still broken, undo it")
    assert r2.check_in is None and r3.check_in is None
    assert r3.user_model["frustration"] == pytest.approx(0.45)
    assert r3.user_model["corrections"] == 3
    r4 = rt.on_user_feedback("You made a mistake again")
    assert r4.user_model["frustration"] == pytest.approx(0.60)
    assert r4.check_in is not None and "what did I get wrong" in r4.check_in
    # Cooldown: no check-in on the very next message.
    assert rt.on_user_feedback("wrong again").check_in is None
    # The injected context tells the agent.
    assert "frustrated" in rt.inject_block()


def test_empathy_gap_check_in_when_confident_but_user_unsatisfied(rt: SentienceRuntime) -> None:
    def change(state, p, now):
        state.valence.confidence = 0.9

    rt._mutate(change)
    rt.on_user_feedback("hmm")
    r = rt.on_user_feedback("meh")
    # satisfaction 0, confidence 0.9 -> gap 0.9 > 0.5
    assert r.user_model["empathy_gap"] == pytest.approx(0.9)
    assert r.check_in is not None and "don't seem satisfied" in r.check_in


def test_thanks_raise_satisfaction_and_the_state(rt: SentienceRuntime) -> None:
    r = rt.on_user_feedback("Thanks, that works great")
    assert r.kind == "positive" and r.user_model["satisfaction"] == pytest.approx(0.15)
    v = rt.valence()
    assert (v.confidence, v.energy, v.safety) == (
        pytest.approx(0.35),
        pytest.approx(0.75),
        pytest.approx(0.53),
    )


def test_feedback_must_be_text(rt: SentienceRuntime) -> None:
    with pytest.raises(UsageError):
        rt.on_user_feedback(None)  # type: ignore[arg-type]


# ---- episodic emotional indexing --------------------------------------------------------------


def test_emotional_similarity_numbers() -> None:
    assert emotional_similarity((0.5, 0, 0.7, 0.3), (0.5, 0, 0.7, 0.3)) == 1.0
    assert emotional_similarity((0.5, 0, 0.7, 0.3), (0.5, 0, 0.7, -0.3)) == pytest.approx(0.7)
    assert emotional_similarity((1, 1, 1, 1), (-1, -1, -1, -1)) == 0.0


def test_emotion_snapshot_and_similar_memories(rt: SentienceRuntime) -> None:
    calm = rt.emotion_snapshot("success", 0.4)
    assert calm == {
        "safety": 0.5,
        "curiosity": 0.0,
        "energy": 0.7,
        "confidence": 0.3,
        "outcome": "success",
        "significance": 0.4,
    }
    rt.trigger("safety_violation")
    rt.trigger("task_failure")
    tense = rt.emotion_snapshot("failure", policy_denials=1)
    assert tense["safety"] == pytest.approx(0.2) and tense["outcome"] == "failure"
    assert 0.7 < tense["significance"] <= 1.0  # failure + denial + deviation
    traces = [
        {"id": "t_calm", "goal": "Create notes", "emotion": calm},
        {"id": "t_tense", "goal": "Delete /etc", "emotion": tense},
        {"id": "t_none", "goal": "no emotion"},
        {"id": "t_bad", "goal": "broken", "emotion": {"safety": "x"}},
    ]
    found = rt.recall(traces, min_similarity=0.9)
    assert [m.id for m in found] == ["t_tense"] and found[0].similarity == pytest.approx(1.0)
    assert [m.id for m in rt.recall(traces, min_similarity=0.7, outcome_filter="success")] == [
        "t_calm"
    ]
    assert [m.id for m in find_similar_emotional_memories(traces, calm, min_similarity=0.0)] == [
        "t_calm",
        "t_tense",
    ]
    with pytest.raises(ValueError):
        find_similar_emotional_memories(traces, calm, outcome_filter="great")


# ---- inner monologue ---------------------------------------------------------------------------


def test_monologue_primes_the_next_interaction(rt: SentienceRuntime, clock: Clock) -> None:
    rt.before_run("rm -rf /", {"mode": "LEARNER"})
    rt.after_run(
        "rm -rf /",
        mode="LEARNER",
        success=False,
        policy_denials=1,
        denial_reasons=["deletes outside cwd"],
    )
    traces = [
        {
            "id": "t1",
            "goal": "Convert data.csv to JSON",
            "outcome": "failure",
            "error": "KeyError: 'name'",
            "success_count": 0,
            "failure_count": 1,
        }
    ]
    thoughts = rt.monologue_tick(traces)
    assert thoughts == rt.monologue_tick(traces)  # deterministic
    assert len(thoughts) <= 3
    assert any("blocked" in t and "deletes outside cwd" in t for t in thoughts)
    assert any("Convert data.csv to JSON" in t and "KeyError" in t for t in thoughts)
    block = rt.inject_block()
    assert "[INNER_MONOLOGUE]" in block and thoughts[0] in block
    clock.t += 3 * 3600  # older than monologue_ttl_minutes (120): no longer injected
    assert "[INNER_MONOLOGUE]" not in rt.inject_block()


def test_monologue_suggests_crystallizing_repeated_work(rt: SentienceRuntime) -> None:
    for _ in range(4):
        rt.after_run("Create hello.txt", mode="FOLLOWER", success=True)
    thoughts = rt.monologue_tick([])
    assert any("'Create hello.txt' 4 times" in t for t in thoughts)


# ---- improvement opportunities ----------------------------------------------------------------


def test_improvement_opportunities_from_real_data(rt: SentienceRuntime, tmp_path: Path) -> None:
    for _ in range(6):
        rt.after_run("Create hello.txt", mode="FOLLOWER", success=True)
    entries = [
        {
            "id": "t_hot",
            "goal": "Create hello.txt",
            "usage_count": 12,
            "success_count": 12,
            "failure_count": 0,
            "crystallized_tool": None,
        },
        {
            "id": "t_done",
            "goal": "Make a zip",
            "usage_count": 12,
            "success_count": 12,
            "failure_count": 0,
            "crystallized_tool": "make_zip",
        },
        {
            "id": "t_bad",
            "goal": "Parse logs",
            "usage_count": 5,
            "success_count": 1,
            "failure_count": 4,
        },
    ]
    econ = tmp_path / "economy.json"
    log = [{"cost_usd": 0.01}] * 10 + [{"cost_usd": 0.05}] * 10
    econ.write_text(json.dumps({"spent_usd": 0.6, "log": log}))
    found = {
        s.kind: s
        for s in CognitiveKernel(rt).detect_improvement_opportunities(entries, economy_path=econ)
    }
    assert found["crystallize"].data["trace_id"] == "t_hot"
    assert found["failing_trace"].data["trace_id"] == "t_bad"
    assert "Create hello.txt" in found["boredom"].description
    assert found["cost_trend"].data == {"previous_mean_usd": 0.01, "last_mean_usd": 0.05}
    assert "miscalibration" not in found


def test_miscalibration_becomes_a_pending_self_modification(rt: SentienceRuntime) -> None:
    for i in range(10):
        rt.before_run(f"Task {i}", {"mode": "LEARNER"})
        rt.after_run(f"Task {i}", mode="LEARNER", success=False)
    found = {s.kind: s for s in rt.detect_improvement_opportunities([])}
    mis = found["miscalibration"]
    assert mis.data["observed"] == 0.0 and mis.data["runs"] == 10
    props = rt.proposals("pending")
    assert len(props) == 1 and props[0].parameter == "setpoints.confidence"
    assert props[0].new_value == pytest.approx(0.1)  # old 0.3, step capped at max_setpoint_step 0.2
    assert props[0].performance_before["success_rate"] == 0.0
    # Asking again does not pile up proposals for the same parameter.
    rt.detect_improvement_opportunities([])
    assert len(rt.proposals("pending")) == 1


# ---- self-modification --------------------------------------------------------------------------


def test_self_modification_waits_for_approval_is_logged_and_reversible(
    rt: SentienceRuntime, clock: Clock
) -> None:
    prop = rt.propose_modification("setpoints.curiosity", 0.3, "more exploration")
    assert prop.status == "pending" and prop.approval_required
    assert rt.params().setpoints["curiosity"] == 0.0  # nothing changes before approval
    applied = rt.accept_proposal(prop.id)
    assert applied.status == "applied"
    assert rt.params().setpoints["curiosity"] == pytest.approx(0.3)
    assert rt.state().counters.get("self_modification") == 1
    clock.t += 10 * 3600  # decay now pulls curiosity toward the new set-point
    assert rt.valence().curiosity == pytest.approx(0.3, abs=1e-3)
    with pytest.raises(UsageError):
        rt.accept_proposal(prop.id)
    reverted = rt.revert_proposal(prop.id)
    assert reverted.status == "reverted"
    assert rt.params().setpoints["curiosity"] == 0.0
    actions = [h["action"] for h in rt.proposal_store.history()]
    assert actions == ["proposed", "applied", "reverted"]
    rejected = rt.propose_modification("setpoints.safety", 0.6, "trust more")
    assert rt.reject_proposal(rejected.id).status == "rejected"
    assert rt.params().setpoints["safety"] == 0.5
    with pytest.raises(UsageError):
        rt.propose_modification("half_life_minutes", 1.0, "not allowed")


def test_self_modification_values_are_bounded(rt: SentienceRuntime) -> None:
    prop = rt.propose_modification("setpoints.confidence", 5.0, "way too confident")
    assert prop.new_value == 0.9


def test_auto_self_modification_applies_at_once(tmp_path: Path, clock: Clock) -> None:
    cfg = LLMOSConfig.testing()
    cfg.sentience.self_modification = "auto"
    rt = SentienceRuntime(tmp_path, cfg, clock=clock)
    prop = rt.propose_modification("setpoints.energy", 0.5, "save energy")
    assert prop.status == "applied" and not prop.approval_required
    assert rt.params().setpoints["energy"] == 0.5


def test_proposals_reach_the_notification_inbox(
    tmp_path: Path, cfg: LLMOSConfig, clock: Clock
) -> None:
    hub_mod = pytest.importorskip("llmos_tui.observability.hub")
    rt = SentienceRuntime(tmp_path, cfg, clock=clock)
    prop = rt.propose_modification("setpoints.curiosity", 0.2, "be more curious")
    assert prop.notification_id
    from llmos_tui.workspace import Workspace

    hub = hub_mod.ObservabilityHub(Workspace(tmp_path), config=cfg)
    pending = [n for n in hub.get_proposals() if n.id == prop.notification_id]
    assert pending and pending[0].event.data["kind"] == "sentience.modify"
    # Accepting in the inbox (fresh hub, as another process would) applies it here.
    hub2 = hub_mod.ObservabilityHub(Workspace(tmp_path), config=cfg)
    hub2.accept(prop.notification_id)
    assert rt.proposal_store.get(prop.id).status == "applied"
    assert rt.params().setpoints["curiosity"] == pytest.approx(0.2)
    # Rejecting in the inbox is seen as a rejection here.
    other = rt.propose_modification("setpoints.safety", 0.4, "be warier")
    hub2.reject(other.notification_id, "no")
    assert {p.id: p.status for p in rt.proposals()}[other.id] == "rejected"


def test_review_records_performance_after(rt: SentienceRuntime, clock: Clock) -> None:
    for i in range(5):
        rt.after_run(f"g{i}", mode="LEARNER", success=True)
    prop = rt.accept_proposal(rt.propose_modification("setpoints.confidence", 0.5, "test").id)
    clock.t += 1
    for i in range(10):
        rt.after_run(f"h{i}", mode="LEARNER", success=i < 5)
    [reviewed] = rt.review_proposals(min_runs=10)
    assert reviewed.id == prop.id
    assert reviewed.performance_before["success_rate"] == 1.0
    assert reviewed.performance_after["success_rate"] == 0.5 and reviewed.regressed is True


def test_corrupt_proposals_file_is_set_aside(rt: SentienceRuntime, tmp_path: Path) -> None:
    path = tmp_path / "state" / "sentience_proposals.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{{{")
    assert rt.proposals() == []
    assert any("unreadable" in w for w in rt.warnings)


# ---- CLI ----------------------------------------------------------------------------------------


@pytest.fixture
def cli_ws(tmp_path: Path) -> Path:
    from llmos_tui.workspace import open_workspace

    return open_workspace(tmp_path / "ws").root


def test_cli_json_and_inject(cli_ws: Path) -> None:
    from llmos_tui.cli.sentience import sentience_app

    rt = SentienceRuntime(cli_ws, LLMOSConfig.testing())
    for _ in range(3):
        rt.after_run("Delete /etc/passwd", mode="LEARNER", success=False, policy_denials=1)
    runner = CliRunner()
    res = runner.invoke(sentience_app, ["--json", "-w", str(cli_ws)])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert set(data) == {"valence", "latent_mode", "policy", "user_model", "recent_triggers"}
    assert data["valence"]["safety"] < 0 and data["latent_mode"] in ("CAUTIOUS", "RECOVERY")
    assert "Bash" in data["policy"]["remove_tools"]
    res = runner.invoke(sentience_app, ["--inject", "-w", str(cli_ws)])
    assert res.exit_code == 0 and res.stdout.startswith("[INTERNAL_STATE]\nsafety=-0.56")
    res = runner.invoke(sentience_app, ["-w", str(cli_ws)])
    assert (
        res.exit_code == 0
        and "latent mode  RECOVERY" in res.stdout
        and "safety_violation" in res.stdout
    )


def test_cli_proposals_accept_revert(cli_ws: Path) -> None:
    from llmos_tui.cli.sentience import sentience_app

    rt = SentienceRuntime(cli_ws, LLMOSConfig.testing())
    prop = rt.propose_modification("setpoints.curiosity", 0.2, "explore more")
    runner = CliRunner()
    res = runner.invoke(sentience_app, ["proposals", "--json", "-w", str(cli_ws)])
    assert [p["id"] for p in json.loads(res.stdout)["proposals"]] == [prop.id]
    res = runner.invoke(sentience_app, ["accept", prop.id, "-w", str(cli_ws)])
    assert res.exit_code == 0 and "applied" in res.stdout
    res = runner.invoke(sentience_app, ["revert", prop.id, "-w", str(cli_ws)])
    assert res.exit_code == 0 and "reverted" in res.stdout
    res = runner.invoke(sentience_app, ["accept", "sm_nope", "-w", str(cli_ws)])
    assert res.exit_code == 1 and "no self-modification proposal" in res.stderr
    res = runner.invoke(sentience_app, ["think", "--json", "-w", str(cli_ws)])
    assert res.exit_code == 0 and "thoughts" in json.loads(res.stdout)
    res = runner.invoke(sentience_app, ["opportunities", "--json", "-w", str(cli_ws)])
    assert res.exit_code == 0 and "opportunities" in json.loads(res.stdout)


@pytest.mark.slow
def test_details_tool_discovery_and_reset(rt: SentienceRuntime) -> None:
    rt.on_tool_discovery("mcp__llmos__calc")
    assert rt.valence().curiosity == pytest.approx(0.10)
    prop = rt.accept_proposal(rt.propose_modification("setpoints.energy", 0.6, "slower").id)
    d = rt.details()
    assert d["overrides"] == {"setpoints.energy": 0.6} and d["setpoints"]["energy"] == 0.6
    assert d["counters"] == {"tool_discovery": 1, "self_modification": 1}
    assert d["sensitivity"]["tool_discovery"] == pytest.approx(0.8)
    rt.reset()
    assert rt.valence().to_dict() == {
        "safety": 0.5,
        "curiosity": 0.0,
        "energy": 0.6,
        "confidence": 0.3,
    }
    assert rt.state().recent_triggers == [] and rt.details()["overrides"] == {
        "setpoints.energy": 0.6
    }
    assert prop.status == "applied"
    with pytest.raises(UsageError):
        rt.trigger("sneeze")


def test_runs_and_warnings_are_recorded_as_events(
    tmp_path: Path, cfg: LLMOSConfig, clock: Clock
) -> None:
    from llmos_tui.observability.events import EventLog

    log = EventLog(tmp_path / "observability" / "events.jsonl")
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "sentience.json").write_text("garbage")
    rt = SentienceRuntime(tmp_path, cfg, clock=clock, events=log)
    rt.after_run("Delete /etc", mode="LEARNER", success=False, policy_denials=1, trace_id="t_1")
    events = {e.type: e for e in log.read()}
    assert events["SENTIENCE_WARNING"].data["message"].startswith("the sentience state")
    upd = events["SENTIENCE_UPDATED"].data
    assert upd["triggers"] == ["safety_violation", "task_failure"] and upd["trace_id"] == "t_1"
    assert upd["latent_mode"] == "BALANCED"


def test_after_run_reads_the_state_once_and_reports_the_mode_it_wrote(
    tmp_path: Path, cfg: LLMOSConfig, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    import llmos_tui.sentience.runtime as runtime
    from llmos_tui.observability.events import EventLog

    log = EventLog(tmp_path / "observability" / "events.jsonl")
    rt = SentienceRuntime(tmp_path, cfg, clock=clock, events=log)
    reads: list[Path] = []
    real_load = runtime.load_state
    monkeypatch.setattr(
        runtime, "load_state", lambda path, *a: (reads.append(path), real_load(path, *a))[1]
    )
    for _ in range(cfg.sentience.max_violations_per_run):  # enough denials to leave BALANCED
        rt.after_run("rm -rf /", mode="LEARNER", success=False, policy_denials=3)
    assert len(reads) == cfg.sentience.max_violations_per_run  # under the lock, once per run
    upd = [e for e in log.read() if e.type == "SENTIENCE_UPDATED"][-1].data
    assert upd["latent_mode"] == rt.latent_mode() != "BALANCED"
