"""LLM-written inner monologue (sentience.monologue_llm): one budgeted call to the cheap model,
against the scripted model server over real HTTP; deterministic thoughts on every failure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmos_tui.config import LLMOSConfig, load_config
from llmos_tui.devtools.scripted_server import ScriptedServer, error_turn, text_turn
from llmos_tui.errors import ConfigError
from llmos_tui.execution.llm.economy import Economy
from llmos_tui.sentience.monologue import LLM_MAX_TOKENS, LLM_THOUGHT_CHARS, parse_thoughts
from llmos_tui.sentience.runtime import SentienceRuntime

pytestmark = pytest.mark.llm

TRACES = [
    {
        "id": "t1",
        "goal": "Convert data.csv to JSON",
        "outcome": "failure",
        "error": "KeyError: 'name'",
        "success_count": 0,
        "failure_count": 1,
    }
]


def make_rt(
    tmp_path: Path, *, llm: bool = True, budget: float = 0.01, total: float = 10.0
) -> SentienceRuntime:
    cfg = LLMOSConfig.testing()
    cfg.budget_usd = total
    cfg.sentience.monologue_llm = llm
    cfg.sentience.monologue_llm_budget_usd = budget
    rt = SentienceRuntime(tmp_path, cfg)
    rt.after_run("Convert data.csv to JSON", mode="LEARNER", success=False)
    return rt


def deterministic(tmp_path: Path) -> list[str]:
    return make_rt(tmp_path / "det", llm=False).monologue_tick(TRACES)


def economy(tmp_path: Path) -> dict:
    return Economy(tmp_path / "state" / "economy.json", 10.0).report()


def test_thoughts_come_from_the_model_when_enabled(llm_env: ScriptedServer, tmp_path: Path) -> None:
    said = [
        "The CSV conversion failed on a missing 'name' column; inspect the header first.",
        "  Keep   answers short.  ",
        "Keep answers short.",
        "A fourth thought beyond the cap.",
    ]
    llm_env.add_turns(text_turn(json.dumps(said)))
    rt = make_rt(tmp_path)
    thoughts = rt.monologue_tick(TRACES)
    # Validated: whitespace folded, duplicates dropped, at most monologue_max_thoughts (3).
    assert thoughts == [said[0], "Keep answers short.", "A fourth thought beyond the cap."]
    assert thoughts != deterministic(tmp_path)
    assert "[INNER_MONOLOGUE]" in rt.inject_block() and said[0] in rt.inject_block()
    assert rt.details()["monologue"] == thoughts  # persisted in state/sentience.json
    (req,) = llm_env.requests
    assert (
        req.model == "claude-haiku-4-5" and req.max_tokens == LLM_MAX_TOKENS
    )  # models.cheap, small
    prompt = json.dumps(req.messages)
    assert "Convert data.csv to JSON" in prompt and "KeyError" in prompt and "Latent mode" in prompt
    report = economy(tmp_path)
    assert report["by_mode"]["MONOLOGUE"]["runs"] == 1
    assert report["spent_usd"] > 0 and rt.last_monologue_llm.cost_usd == pytest.approx(
        report["spent_usd"]
    )


def test_disabled_makes_no_request(llm_env: ScriptedServer, tmp_path: Path) -> None:
    llm_env.add_turns(text_turn(json.dumps(["should not be asked"])))
    rt = make_rt(tmp_path, llm=False)
    thoughts = rt.monologue_tick(TRACES)
    assert thoughts and any("Convert data.csv to JSON" in t for t in thoughts)
    assert llm_env.request_count == 0
    assert not (tmp_path / "state" / "economy.json").exists()


def test_the_default_config_has_it_off() -> None:
    cfg = LLMOSConfig()
    assert cfg.sentience.monologue_llm is False and cfg.sentience.monologue_llm_budget_usd == 0.01


@pytest.mark.parametrize(
    "answer",
    [
        "I think you should be careful.",
        json.dumps({"thoughts": ["x"]}),
        json.dumps(["fine", 3]),
        json.dumps([]),
        json.dumps(["   "]),
    ],
)
def test_a_malformed_answer_falls_back(
    llm_env: ScriptedServer, tmp_path: Path, answer: str
) -> None:
    llm_env.add_turns(text_turn(answer))
    rt = make_rt(tmp_path)
    warnings: list[str] = []
    rt._on_warning = warnings.append
    assert rt.monologue_tick(TRACES) == deterministic(tmp_path)
    assert llm_env.request_count == 1
    assert warnings and "rejected" in warnings[0]
    assert (
        economy(tmp_path)["by_mode"]["MONOLOGUE"]["runs"] == 1
    )  # the call was made: it is paid for


def test_an_http_error_falls_back(llm_env: ScriptedServer, tmp_path: Path) -> None:
    llm_env.add_turns(error_turn(400))
    rt = make_rt(tmp_path)
    assert rt.monologue_tick(TRACES) == deterministic(tmp_path)
    assert llm_env.request_count == 1
    assert "HTTP 400" in rt.last_monologue_llm.reason


def test_over_the_call_budget_no_request(llm_env: ScriptedServer, tmp_path: Path) -> None:
    llm_env.add_turns(text_turn(json.dumps(["should not be asked"])))
    rt = make_rt(tmp_path, budget=0.0001)  # haiku: 400 output tokens alone cost $0.002
    assert rt.monologue_tick(TRACES) == deterministic(tmp_path)
    assert llm_env.request_count == 0
    assert "monologue_llm_budget_usd" in rt.last_monologue_llm.reason


def test_an_exhausted_economy_no_request(llm_env: ScriptedServer, tmp_path: Path) -> None:
    llm_env.add_turns(text_turn(json.dumps(["should not be asked"])))
    rt = make_rt(tmp_path, total=0.001)
    Economy(tmp_path / "state" / "economy.json", 0.001).charge(mode="LEARNER", cost_usd=0.0009)
    assert rt.monologue_tick(TRACES) == deterministic(tmp_path)
    assert llm_env.request_count == 0
    assert "budget exhausted" in rt.last_monologue_llm.reason


def test_no_llm_configured_no_request(scripted_server: ScriptedServer, tmp_path: Path) -> None:
    scripted_server.add_turns(text_turn(json.dumps(["should not be asked"])))
    rt = make_rt(tmp_path)  # ANTHROPIC_* are not set (conftest clears them)
    assert rt.monologue_tick(TRACES) == deterministic(tmp_path)
    assert scripted_server.request_count == 0
    assert rt.last_monologue_llm.reason == "no LLM is configured"


def test_parse_thoughts_caps_length_and_count() -> None:
    long = "x" * 1000
    out = parse_thoughts("```json\n" + json.dumps([long, "b", "c", "d"]) + "\n```", 2)
    assert len(out) == 2 and len(out[0]) == LLM_THOUGHT_CHARS and out[1] == "b"
    for bad in ("", "null", "[1]", '{"a": 1}', "[]"):
        with pytest.raises(ValueError):
            parse_thoughts(bad, 3)


def test_the_budget_key_is_bounded(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("sentience:\n  monologue_llm_budget_usd: 5\n")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert "sentience.monologue_llm_budget_usd" in str(info.value)
    (tmp_path / "config.yaml").write_text(
        "sentience:\n  monologue_llm: true\n  monologue_llm_budget_usd: 0.05\n"
    )
    cfg = load_config(tmp_path)
    assert cfg.sentience.monologue_llm is True and cfg.sentience.monologue_llm_budget_usd == 0.05
