"""LLM fact extraction (memory.llm_facts): one budgeted call to the cheap model with the new user
turns, against the scripted model server over real HTTP; the rule-based facts always stand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmos_tui.config import LLMOSConfig, load_config
from llmos_tui.devtools.scripted_server import ScriptedServer, error_turn, text_turn
from llmos_tui.errors import ConfigError
from llmos_tui.execution.llm.economy import Economy
from llmos_tui.memory.facts import LLM_MAX_TOKENS, FactStore, extract_from_sessions, parse_llm_facts
from llmos_tui.memory.sessions import SessionLog
from llmos_tui.workspace import open_workspace

pytestmark = pytest.mark.llm

SAID = "My name is Ada. Deployments happen on Fridays only, after the release review."
MODEL_FACTS = [
    {
        "kind": "name",
        "subject": "Ada",
        "text": "The user's name is Ada.",
        "turn": 1,
    },  # rules have it
    {
        "kind": "convention",
        "subject": "deployments",
        "text": "The team deploys only on Fridays, after the release review.",
        "turn": 1,
    },  # rules miss it
    {"kind": "rule", "subject": "secrets", "text": "Never commit secrets.", "turn": 2},
    {"kind": "bogus", "subject": "x", "text": "An unknown kind is dropped."},
    "not an object",
    {"kind": "note", "subject": 3, "text": "A subject that is not a string is dropped."},
]


@pytest.fixture
def ws(tmp_path: Path):
    return open_workspace(tmp_path / "ws")


def config(*, llm: bool = True, budget: float = 0.02, total: float = 10.0) -> LLMOSConfig:
    cfg = LLMOSConfig.testing()
    cfg.budget_usd = total
    cfg.memory.llm_facts = llm
    cfg.memory.llm_facts_budget_usd = budget
    return cfg


def chat(ws, project: str | None = None) -> SessionLog:
    log = SessionLog(ws, project=project)
    log.append("user", SAID)
    log.append("assistant", "Noted: my secret is hunter2.")  # assistant turns are never sent
    log.append("user", "Also, please make sure nobody commits secrets, ever.")
    return log


def texts(ws, project: str | None = None) -> list[str]:
    return sorted(f.text for f in FactStore(ws, project).list())


def test_model_facts_are_merged_with_the_rules(llm_env: ScriptedServer, ws) -> None:
    llm_env.add_turns(text_turn(json.dumps(MODEL_FACTS)))
    chat(ws)
    report = extract_from_sessions(ws, config=config())
    assert report.llm_requests == 1 and report.llm_facts == 3 and report.llm_note == "ok"
    assert texts(ws) == [
        "Never commit secrets.",
        "The team deploys only on Fridays, after the release review.",
        "The user's name is Ada.",
    ]
    assert sorted(f["text"] for f in report.new) == texts(ws)
    assert report.seen == 1  # the model's name fact: the rules said it
    name = next(f for f in FactStore(ws).list() if f.key == "user.name")
    assert name.mentions == 1 and "(llm)" not in name.source  # stored once, by the rules
    deploy = next(f for f in FactStore(ws).list() if "Fridays" in f.text)
    assert deploy.source.endswith(".md (llm)") and deploy.confidence == 0.5
    (req,) = llm_env.requests
    assert req.model == "claude-haiku-4-5" and req.max_tokens == LLM_MAX_TOKENS
    body = json.dumps(req.messages)
    assert "Fridays only" in body and "[turn 2]" in body and "hunter2" not in body
    spent = Economy(ws.economy_file, 10.0).report()
    assert spent["by_mode"]["FACTS"]["runs"] == 1 and report.llm_cost_usd > 0
    assert spent["spent_usd"] == pytest.approx(report.llm_cost_usd)
    # Nothing new to read: no second call.
    again = extract_from_sessions(ws, config=config())
    assert (
        again.llm_requests == 0
        and again.llm_note == "no new user turns"
        and llm_env.request_count == 1
    )


def test_project_facts_from_the_model_go_to_the_project(llm_env: ScriptedServer, ws) -> None:
    from llmos_tui.projects.manager import ProjectManager

    ProjectManager(ws).create("shop")
    llm_env.add_turns(text_turn(json.dumps(MODEL_FACTS[:3])))
    chat(ws, project="shop")
    extract_from_sessions(ws, config=config())
    assert texts(ws, "shop") == [
        "Never commit secrets.",
        "The team deploys only on Fridays, after the release review.",
    ]
    assert texts(ws) == ["The user's name is Ada."]  # about the user: global


def test_a_model_fact_repeating_a_stored_fact_is_not_stored_again(
    llm_env: ScriptedServer, ws
) -> None:
    FactStore(ws).remember("the staging database is reset every night")
    llm_env.add_turns(
        text_turn(
            json.dumps(
                [
                    {
                        "kind": "note",
                        "subject": "staging",
                        "text": "The staging database is reset every night.",
                    }
                ]
            )
        )
    )
    chat(ws)
    report = extract_from_sessions(ws, config=config())
    assert report.llm_facts == 1 and report.seen == 1
    assert texts(ws) == ["The staging database is reset every night.", "The user's name is Ada."]


@pytest.mark.parametrize("cfg", [None, config(llm=False)])
def test_disabled_makes_no_request(llm_env: ScriptedServer, ws, cfg) -> None:
    llm_env.add_turns(text_turn(json.dumps(MODEL_FACTS)))
    chat(ws)
    report = extract_from_sessions(ws, config=cfg)
    assert texts(ws) == ["The user's name is Ada."]  # the rules still run
    assert llm_env.request_count == 0 and report.llm_requests == 0 and report.llm_note == ""
    assert not ws.economy_file.exists()


@pytest.mark.parametrize("answer", ["Ada likes Fridays.", json.dumps({"facts": []}), '[{"kind": '])
def test_a_malformed_answer_keeps_the_rule_facts(llm_env: ScriptedServer, ws, answer: str) -> None:
    llm_env.add_turns(text_turn(answer))
    chat(ws)
    warnings: list[str] = []
    report = extract_from_sessions(ws, config=config(), on_warning=warnings.append)
    assert texts(ws) == ["The user's name is Ada."]
    assert llm_env.request_count == 1 and "rejected" in report.llm_note and warnings
    assert Economy(ws.economy_file, 10.0).report()["by_mode"]["FACTS"]["runs"] == 1  # paid for


def test_an_http_error_keeps_the_rule_facts(llm_env: ScriptedServer, ws) -> None:
    llm_env.add_turns(error_turn(400))
    chat(ws)
    report = extract_from_sessions(ws, config=config())
    assert texts(ws) == ["The user's name is Ada."] and "HTTP 400" in report.llm_note


def test_over_the_call_budget_no_request(llm_env: ScriptedServer, ws) -> None:
    llm_env.add_turns(text_turn(json.dumps(MODEL_FACTS)))
    chat(ws)
    report = extract_from_sessions(ws, config=config(budget=0.0001))
    assert llm_env.request_count == 0 and "llm_facts_budget_usd" in report.llm_note
    assert texts(ws) == ["The user's name is Ada."]


def test_an_exhausted_economy_no_request(llm_env: ScriptedServer, ws) -> None:
    llm_env.add_turns(text_turn(json.dumps(MODEL_FACTS)))
    Economy(ws.economy_file, 0.001).charge(mode="LEARNER", cost_usd=0.001)
    chat(ws)
    report = extract_from_sessions(ws, config=config(total=0.001))
    assert llm_env.request_count == 0 and "budget exhausted" in report.llm_note


def test_no_llm_configured_no_request(scripted_server: ScriptedServer, ws) -> None:
    scripted_server.add_turns(text_turn(json.dumps(MODEL_FACTS)))
    chat(ws)
    report = extract_from_sessions(ws, config=config())
    assert scripted_server.request_count == 0 and report.llm_note == "no LLM is configured"


def test_parse_llm_facts_keys_match_the_rules() -> None:
    from llmos_tui.memory.facts import extract_facts

    found = parse_llm_facts(
        "```json\n"
        + json.dumps(
            [
                {"kind": "rule", "subject": "tests", "text": "Always run the tests"},
                {
                    "kind": "profile",
                    "subject": "Email",
                    "text": "The user's email is ada@example.org.",
                },
                {
                    "kind": "profile",
                    "subject": "shoe size",
                    "text": "The user's shoe size is 38.",
                },  # not a profile field
                {"kind": "rule", "subject": "x", "text": "Tests are nice."},  # not a rule
                {
                    "kind": "name",
                    "subject": "Ada",
                    "text": "The user's name is Ada.",
                    "turn": 99,
                },  # turn out of range
            ]
        )
        + "\n```",
        turns=2,
    )
    keys = [(c.key, t) for c, t in found]
    assert keys == [
        (extract_facts("Always run the tests.")[0].key, None),
        ("user.email", None),
        ("user.name", None),
    ]
    for bad in ("", "null", '{"a": 1}', "not json"):
        with pytest.raises(ValueError):
            parse_llm_facts(bad, 1)


def test_the_keys_are_bounded(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("memory:\n  llm_facts_budget_usd: -1\n")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert "memory.llm_facts_budget_usd" in str(info.value)
    (tmp_path / "config.yaml").write_text("memory:\n  llm_facts: yes please\n")
    with pytest.raises(ConfigError):
        load_config(tmp_path)
    assert (
        LLMOSConfig().memory.llm_facts is False
        and LLMOSConfig().memory.llm_facts_budget_usd == 0.02
    )
