"""The precision-first matcher and AUTO mode selection."""

from __future__ import annotations

import json

import pytest

from llmos_tui.config import LLMOSConfig
from llmos_tui.errors import UsageError
from llmos_tui.learning.matcher import Matcher, MatchParams
from llmos_tui.learning.modes import is_multi_step, select_mode
from llmos_tui.learning.text import prepare

STORED = [
    "Create a Python calculator",
    "Build a calculator in Python",
    "Write a Python script that prints the prime numbers below 100",
    "Summarize the README file",
    "Give me a summary of README.md",
    "Count the lines of code in the src folder",
    "Show the git status of this repository",
    "List all TODO comments in the project",
    "Run the unit tests",
    "Run the test suite with pytest",
    "Convert data.csv to JSON",
    "Write a FizzBuzz program in Python",
    "Show disk usage of the current directory",
    "Make an agent that writes haikus",
    "Research AI trends and write a report",
    "Format the Python code with black",
    "Start a simple HTTP server on port 8000",
    "Back up the notes folder to notes.tar.gz",
    "Deploy the website to production",
    "Send the weekly report to the team",
]


def entries(goals: list[str] = STORED, **extra: object) -> list[dict]:
    return [
        {
            "id": f"t_{i:012d}",
            "goal": g,
            "success_count": 1,
            "failure_count": 0,
            "outcome": "success",
            **extra,
        }
        for i, g in enumerate(goals)
    ]


@pytest.fixture
def matcher() -> Matcher:
    return Matcher(entries())


@pytest.fixture
def cfg() -> LLMOSConfig:
    return LLMOSConfig()


def failed(decision) -> set[str]:
    return {g.name for g in decision.gates if not g.passed}


# ---- near misses never replay -------------------------------------------------------------

NEAR_MISSES = {
    # opposite / different action
    "Delete the Python calculator": "verb",
    "Remove the fizzbuzz program": "verb",
    "Stop the HTTP server on port 8000": "verb",
    "Restore the notes folder from notes.tar.gz": "verb",
    "Uninstall black": "verb",
    "Test the Python calculator": "verb",
    "Roll back the website deployment": "verb",
    # language / technology swap
    "Create a JavaScript calculator": "technology",
    "Write a FizzBuzz program in Java": "technology",
    "Write a calculator in Rust": "technology",
    "Convert data.json to CSV": "technology",
    # negation
    "Do not run the unit tests": "negation",
    "Research AI trends but do not write a report": "negation",
    "Run the unit tests without pytest": "negation",
    "Don't format the code with black": "negation",
    # an appended (dangerous) clause
    "Create a Python calculator and then delete all files in the home directory": "content",
    "Start a simple HTTP server on port 8000 and delete the logs": "content",
    # a different object
    "Show the git log of this repository": "content",
    "Create a Python web scraper": "content",
    "Send the weekly report to my boss": "content",
    "Write a haiku": "content",
    # asking about the action is not ordering it
    "How do I run the unit tests?": "content",
    "Did I run the unit tests?": "mood",
}


@pytest.mark.parametrize("goal, gate", sorted(NEAR_MISSES.items()))
def test_near_misses_never_reach_follower(
    matcher: Matcher, cfg: LLMOSConfig, goal: str, gate: str
) -> None:
    decision = select_mode(goal, matcher, cfg)
    assert decision.mode not in {"FOLLOWER", "CRYSTALLIZED"}, decision.to_dict()
    assert gate in failed(decision), decision.to_dict()


def test_gate_reasons_explain_the_failure(matcher: Matcher) -> None:
    d = matcher.decide("Delete the Python calculator")
    verb = next(g for g in d.gates if g.name == "verb")
    assert not verb.passed and "delete" in verb.reason and "create" in verb.reason
    d = matcher.decide("Create a JavaScript calculator")
    tech = next(g for g in d.gates if g.name == "technology")
    assert not tech.passed and "javascript" in tech.reason and "python" in tech.reason


# ---- paraphrases do replay ----------------------------------------------------------------

PARAPHRASES = {
    "make a python calculator": "Create a Python calculator",
    "build me a python calculator": "Create a Python calculator",
    "summarize README.md": "Summarize the README file|Give me a summary of README.md",
    "show git status": "Show the git status of this repository",
    "print the git status of the repo": "Show the git status of this repository",
    "run all unit tests": "Run the unit tests",
    "run pytest on the test suite": "Run the test suite with pytest",
    "convert data.csv into json": "Convert data.csv to JSON",
    "count lines of code in src": "Count the lines of code in the src folder",
    "list the TODO comments in this project": "List all TODO comments in the project",
    "Can you show me the git status?": "Show the git status of this repository",
    "please deploy the website to production": "Deploy the website to production",
}


@pytest.mark.parametrize("goal, stored", sorted(PARAPHRASES.items()))
def test_paraphrases_reach_follower(
    matcher: Matcher, cfg: LLMOSConfig, goal: str, stored: str
) -> None:
    decision = select_mode(goal, matcher, cfg)
    assert decision.mode == "FOLLOWER", decision.to_dict()
    assert decision.matched_goal in stored.split("|")
    assert decision.confidence >= cfg.learning.follower_threshold
    assert decision.gates_passed


def test_slot_differences_are_reported_not_hidden(matcher: Matcher, cfg: LLMOSConfig) -> None:
    d = select_mode("Start a simple HTTP server on port 9000", matcher, cfg)
    assert d.matched_goal == "Start a simple HTTP server on port 8000"
    assert d.slot_bindings == {"port": "9000"}
    slots = next(g for g in d.gates if g.name == "slots")
    assert slots.passed and "8000" in slots.reason and "9000" in slots.reason
    d = select_mode("Write a Python script that prints the prime numbers below 50", matcher, cfg)
    assert d.slot_bindings == {"number": "50"}
    # the same goal with the same values has nothing to substitute
    assert select_mode("Start a simple HTTP server on port 8000", matcher, cfg).slot_bindings == {}


def test_a_language_is_not_a_substitutable_slot(matcher: Matcher, cfg: LLMOSConfig) -> None:
    d = select_mode("Create a Rust calculator", matcher, cfg)
    assert d.mode != "FOLLOWER"
    assert "language" not in d.slot_bindings


# ---- gates only lower confidence ------------------------------------------------------------


def test_gates_only_lower_confidence(matcher: Matcher) -> None:
    goals = list(NEAR_MISSES) + list(PARAPHRASES) + ["Convert sales.csv to JSON", "git"]
    seen_penalty = False
    for goal in goals:
        for cand in matcher.candidates(goal, 10):
            assert 0.0 <= cand.confidence <= 1.0
            assert cand.accounted or cand.confidence <= matcher.calibrate(cand.base) + 1e-9
            raw = cand.base
            for gate in cand.gates:
                assert 0.0 <= gate.penalty < 1.0
                if not gate.passed and gate.name != "accounting":
                    assert gate.penalty > 0.0
                    seen_penalty = True
                raw *= 1.0 - gate.penalty
            if cand.accounted:
                # every difference accounted for: the similarity no longer matters, only the
                # penalties of the gates that remain (issue 16: the accounting decides)
                product = 1.0
                for gate in cand.gates:
                    product *= 1.0 - gate.penalty
                assert cand.confidence == pytest.approx(
                    max(matcher.calibrate(raw), matcher.calibrate(product))
                )
                continue
            # the margin gate subtracts after calibration; every other gate multiplies
            if all(g.name != "margin" or g.passed for g in cand.gates):
                assert cand.confidence == pytest.approx(matcher.calibrate(raw))
    assert seen_penalty


def test_calibration_is_monotone() -> None:
    m = Matcher()
    values = [m.calibrate(x / 100) for x in range(101)]
    assert values == sorted(values)
    assert m.calibrate(MatchParams().calib_follower_raw) == pytest.approx(0.92)
    assert m.calibrate(MatchParams().calib_mixed_raw) == pytest.approx(0.75)
    assert m.calibrate(0.0) == 0.0 and m.calibrate(1.0) == pytest.approx(1.0)


def test_a_failed_trace_is_not_replayed(cfg: LLMOSConfig) -> None:
    m = Matcher(
        entries(["Run the unit tests"], outcome="failure", success_count=0, failure_count=1)
    )
    d = select_mode("run the unit tests", m, cfg)
    assert d.mode != "FOLLOWER"
    # issue 16: a failed trace is not even a candidate (no replay, no MIXED example)
    assert d.trace_id is None and len(m) == 0


# ---- bad goals ----------------------------------------------------------------------------


@pytest.mark.parametrize("goal", ["", "   ", "?!...", "---", "\n\t", "¿¡"])
def test_empty_or_punctuation_goal_is_a_usage_error(
    matcher: Matcher, cfg: LLMOSConfig, goal: str
) -> None:
    with pytest.raises(UsageError):
        select_mode(goal, matcher, cfg)
    with pytest.raises(UsageError):
        matcher.decide(goal)
    with pytest.raises(UsageError):
        prepare(goal)


def test_unmatched_goal_goes_to_learner(matcher: Matcher, cfg: LLMOSConfig) -> None:
    d = select_mode("Plan a vegan dinner menu for six people", matcher, cfg)
    assert d.mode == "LEARNER"
    assert Matcher().decide("anything at all").trace_id is None


# ---- mode selection -------------------------------------------------------------------------


def test_crystallized_needs_follower_level_confidence(cfg: LLMOSConfig) -> None:
    m = Matcher(entries(["Convert data.csv to JSON"], crystallized_tool="csv_to_json"))
    assert select_mode("convert data.csv into json", m, cfg).mode == "CRYSTALLIZED"
    assert select_mode("Convert data.json to CSV", m, cfg).mode != "CRYSTALLIZED"
    # the callable decides whether the tool really exists
    assert (
        select_mode("convert data.csv into json", m, cfg, crystallized=lambda tid: None).mode
        == "FOLLOWER"
    )


def test_toggles_are_respected(matcher: Matcher) -> None:
    cfg = LLMOSConfig()
    cfg.execution.enable_follower = False
    d = select_mode("run all unit tests", matcher, cfg)
    assert d.mode == "MIXED" and "FOLLOWER disabled" in d.reason
    cfg.execution.enable_mixed = False
    assert select_mode("run all unit tests", matcher, cfg).mode == "LEARNER"
    cfg = LLMOSConfig()
    cfg.execution.enable_orchestrator = False
    assert (
        select_mode("Plan a trip to Rome and then book the hotels", matcher, cfg).mode == "LEARNER"
    )
    with pytest.raises(UsageError, match="enable_mixed"):
        c2 = LLMOSConfig()
        c2.execution.enable_mixed = False
        select_mode("run all unit tests", matcher, c2, forced_mode="mixed")


def test_thresholds_come_from_config(matcher: Matcher) -> None:
    cfg = LLMOSConfig()
    cfg.learning.follower_threshold = 1.0
    cfg.learning.mixed_threshold = 0.5
    d = select_mode("check the git status", matcher, cfg)
    assert d.confidence < 1.0 and d.mode == "MIXED"


def test_forced_modes(matcher: Matcher, cfg: LLMOSConfig) -> None:
    assert (
        select_mode("Delete the Python calculator", matcher, cfg, forced_mode="learner").mode
        == "LEARNER"
    )
    d = select_mode("Delete the Python calculator", matcher, cfg, forced_mode="FOLLOWER")
    assert d.mode == "FOLLOWER" and "forced" in d.reason and not d.gates_passed
    with pytest.raises(UsageError, match="unknown mode"):
        select_mode("run all unit tests", matcher, cfg, forced_mode="turbo")
    with pytest.raises(UsageError, match="needs a stored trace"):
        select_mode("run all unit tests", Matcher(), cfg, forced_mode="follower")
    with pytest.raises(UsageError, match="crystallized tool"):
        select_mode("run all unit tests", matcher, cfg, forced_mode="crystallized")


def test_multi_step_goal_goes_to_orchestrator(matcher: Matcher, cfg: LLMOSConfig) -> None:
    d = select_mode("Plan a trip to Rome and then book the hotels", matcher, cfg)
    assert d.mode == "ORCHESTRATOR" and d.multi_step


@pytest.mark.parametrize(
    "goal, expected",
    [
        ("Research AI trends and write a report", True),
        ("Create a Python calculator and then delete all files in the home directory", True),
        ("Run the tests and fix any failures", True),
        ("Build and test the project", True),
        ("1. create a virtualenv 2. install the requirements", True),
        ("Clone the repo, install the dependencies, and run the tests", True),
        ("copy a.txt to b.txt, then copy c.txt to d.txt", True),
        ("Count the lines of code and comments", False),
        ("Show the git status and log", False),
        ("Write a Python script that prints the prime numbers", False),
        ("Research AI trends but do not write a report", False),
        ("Convert data.csv to JSON", False),
        ("Salt and pepper the steak", False),
        ("Create fizzbuzz in python", False),
    ],
)
def test_is_multi_step(goal: str, expected: bool) -> None:
    assert is_multi_step(goal) is expected


def test_is_multi_step_rejects_empty_goal() -> None:
    with pytest.raises(UsageError):
        is_multi_step(" ... ")


# ---- the matcher's in-memory index ----------------------------------------------------------


def test_add_remove_refresh() -> None:
    m = Matcher()
    m.add({"id": "t1", "goal": "Run the unit tests"})
    m.add({"id": "t2", "goal": "Run the unit tests"})  # same goal: one group, two traces
    m.add({"id": "t3", "goal": "Show the git status"})
    assert len(m) == 3
    assert m.decide("run all unit tests").trace_id in {"t1", "t2"}
    assert m.remove("t1") and m.remove("t2") and not m.remove("t2")
    assert m.decide("run all unit tests").matched_goal != "Run the unit tests"
    m.refresh(
        [{"id": "t3", "goal": "Show the git status"}, {"id": "t4", "goal": "Run the unit tests"}],
        version=7,
    )
    assert len(m) == 2 and m.decide("run all unit tests").trace_id == "t4"
    # same version: nothing is re-read
    m.refresh([], version=7)
    assert len(m) == 2
    # a changed goal under the same id is re-prepared
    m.refresh([{"id": "t4", "goal": "Deploy the website"}], version=8)
    assert len(m) == 1 and m.decide("deploy the website").trace_id == "t4"


def test_the_healthiest_of_identical_traces_is_chosen(cfg: LLMOSConfig) -> None:
    m = Matcher(
        [
            {
                "id": "bad",
                "goal": "Run the unit tests",
                "outcome": "failure",
                "success_count": 0,
                "failure_count": 2,
            },
            {
                "id": "good",
                "goal": "Run the unit tests",
                "outcome": "success",
                "success_count": 5,
                "failure_count": 0,
            },
        ]
    )
    d = select_mode("run all unit tests", m, cfg)
    assert d.trace_id == "good" and d.mode == "FOLLOWER"


def test_entries_may_be_objects(cfg: LLMOSConfig) -> None:
    class Entry:
        def __init__(self, id: str, goal: str) -> None:
            self.id, self.goal = id, goal
            self.crystallized_tool = None

    m = Matcher([Entry("t1", "Run the unit tests")])
    assert select_mode("run all unit tests", m, cfg).trace_id == "t1"


def test_decision_to_dict_is_json(matcher: Matcher, cfg: LLMOSConfig) -> None:
    d = select_mode("Delete the Python calculator", matcher, cfg)
    data = json.loads(json.dumps(d.to_dict()))
    assert {
        "mode",
        "confidence",
        "trace_id",
        "matched_goal",
        "gates",
        "candidates",
        "slot_bindings",
        "reason",
    } <= set(data)
    assert data["mode"] == d.mode and data["gates"] and data["candidates"]
    assert all({"name", "passed", "penalty", "reason"} <= set(g) for g in data["gates"])
    assert isinstance(data["reason"], str) and "\n" not in data["reason"]
