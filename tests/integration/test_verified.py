"""Issue 16, item 3: VERIFIED, one cheap model call on a close trace, through the scripted server.

The server is real HTTP on loopback; the `anthropic` SDK and the bundled CLI run unchanged
against it. Phrasings are written for these tests (not taken from the benchmark data sets)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmos_tui.devtools.scripted_server import ScriptedServer, text_turn, tool_turn
from llmos_tui.learning.traces import ToolCall, parse_trace
from llmos_tui.learning.verify import MAX_INPUT_TOKENS, MAX_PROMPT_CHARS, build_prompt, parse_answer
from tests.support.headless import run, trace_file

GOAL = "Write the names of the spool files into names.txt"
CLOSE = (
    "Write the names of only the spool files into list.txt"  # 'only' unaccounted, a new file name
)
CHEAP = "claude-haiku-4-5"  # models.cheap (default)


# ---- the answer and the prompt -------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ('{"same_task": true, "substitutions": {"a.txt": "b.txt"}}', (True, {"a.txt": "b.txt"})),
        ('{"same_task": false}', (False, {})),
        ('```json\n{"same_task": true, "substitutions": {}}\n```', (True, {})),
        ('{"same_task": true, "substitutions": {"x": "x"}}', (True, {})),
    ],
)
def test_well_formed_answers(text: str, expected: tuple) -> None:
    assert parse_answer(text) == expected


@pytest.mark.parametrize(
    "text, why",
    [
        ("Yes, it is the same task.", "not JSON"),
        ('{"same_task": "yes"}', "same_task"),
        ('{"same_task": true, "substitutions": ["a", "b"]}', "substitutions"),
        ('{"same_task": true, "substitutions": {"a": 1}}', "substitutions"),
        ('{"same_task": true, "confidence": 0.9}', "unexpected keys"),
        ("[true]", "not a JSON object"),
        ('{"same_task": true} and more', "not JSON"),
        ("", "empty"),
    ],
)
def test_malformed_answers_say_why(text: str, why: str) -> None:
    result = parse_answer(text)
    assert isinstance(result, str) and why in result


def test_the_calls_listing_is_cut_to_fit_the_token_limit() -> None:
    calls = [
        ToolCall(
            "Bash", {"command": f"convert page{i}.png -resize 50% small/page{i}.png " + "x" * 300}
        )
        for i in range(200)
    ]
    system, prompt, shown, total = build_prompt(
        "shrink every page image",
        "resize the page images",
        calls,
        unaccounted="every / -",
        planned={"50%": "25%"},
    )
    assert total == 200 and 0 < shown < 200
    assert len(system) + len(prompt) <= MAX_PROMPT_CHARS
    assert f"({200 - shown} more calls not shown)" in prompt
    assert "New request: shrink every page image" in prompt and "'50%' -> '25%'" in prompt


# ---- through the kernel, over real HTTP ----------------------------------------------------------


def _learn(server: ScriptedServer, ws: Path, tmp_path: Path) -> str:
    first = tmp_path / "first"
    first.mkdir()
    server.add_turns(
        tool_turn(
            "Write", {"file_path": str(first / "names.txt"), "content": "spool-a\nspool-b\n"}
        ),
        text_turn("Wrote names.txt"),
    )
    code, learned, err = run(GOAL, first, ws)
    assert code == 0 and learned["mode"] == "LEARNER", err
    return learned["trace_id"]


@pytest.fixture
def verify_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMOS_LEARNING__VERIFY", "model")


pytestmark = pytest.mark.llm


def test_a_yes_replays_with_the_substitutions_cheaply(
    llm_env: ScriptedServer, verify_model: None, tmp_path: Path
) -> None:
    ws = tmp_path / "ws"
    trace_id = _learn(llm_env, ws, tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    n = len(llm_env.main_requests)
    llm_env.add_turns(text_turn('{"same_task": true, "substitutions": {"names.txt": "list.txt"}}'))
    code, result, err = run(CLOSE, work, ws)
    assert code == 0, err
    assert (
        result["mode"] == "VERIFIED"
        and result["success"] is True
        and result["trace_id"] == trace_id
    )
    assert (work / "list.txt").exists() and not (work / "names.txt").exists()
    assert result["llm_calls"] == 1
    assert result["decision"]["approved_by"] == "verified"
    assert result["decision"]["verification"]["same_task"] is True

    (request,) = llm_env.main_requests[n:]
    assert request.model == CHEAP and request.tools == []
    assert CLOSE in json.dumps(request.raw) and GOAL in json.dumps(request.raw)
    assert "spool-a" in json.dumps(request.raw) and "only" in json.dumps(request.raw)
    assert request.input_tokens <= MAX_INPUT_TOKENS
    assert result["input_tokens"] == request.input_tokens and result["cost_usd"] > 0
    economy = json.loads((ws / "state" / "economy.json").read_text())
    assert economy["by_mode"]["VERIFIED"]["runs"] == 1
    assert economy["by_mode"]["VERIFIED"]["input_tokens"] == request.input_tokens
    events = [
        json.loads(line)
        for line in (ws / "observability" / "events.jsonl").read_text().splitlines()
    ]
    assert any(e["type"] == "REPLAY_VERIFIED" and e["data"]["same_task"] is True for e in events)
    assert any(e["type"] == "MODE_DECIDED" and e["data"]["mode"] == "VERIFIED" for e in events)

    # the approved phrasing is now an alias: the same goal again is an exact match, zero calls
    assert parse_trace(trace_file(ws, trace_id).read_text()).aliases == [
        {"phrase": CLOSE, "substitutions": {"names.txt": "list.txt"}}
    ]
    again = tmp_path / "again"
    again.mkdir()
    before = len(llm_env.main_requests)
    code, replayed, err = run(CLOSE, again, ws)
    assert code == 0, err
    assert (
        replayed["mode"] == "FOLLOWER"
        and replayed["llm_calls"] == 0
        and replayed["decision"]["alias"] == CLOSE
    )
    assert len(llm_env.main_requests) == before and (again / "list.txt").exists()

    # the same goal as a full LEARNER run: VERIFIED's input is at most 15 % of it
    learner_dir = tmp_path / "learner"
    learner_dir.mkdir()
    llm_env.add_turns(
        tool_turn("Write", {"file_path": str(learner_dir / "list.txt"), "content": "spool-a\n"}),
        text_turn("Done"),
    )
    code, learner, err = run(CLOSE, learner_dir, ws, "--mode", "learner")
    assert code == 0 and learner["mode"] == "LEARNER", err
    ratio = result["input_tokens"] / learner["input_tokens"]
    print(
        f"VERIFIED {result['input_tokens']} input tokens vs LEARNER {learner['input_tokens']}: {ratio:.1%}"
    )
    assert ratio <= 0.15


@pytest.mark.parametrize(
    "answer",
    [
        '{"same_task": false, "substitutions": {}}',
        "Looks like the same task to me.",
        '{"same_task": "yes", "substitutions": {}}',
    ],
)
def test_a_no_or_a_malformed_answer_replays_nothing(
    llm_env: ScriptedServer, verify_model: None, tmp_path: Path, answer: str
) -> None:
    ws = tmp_path / "ws"
    trace_id = _learn(llm_env, ws, tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    n = len(llm_env.main_requests)
    llm_env.add_turns(text_turn(answer), text_turn("I would rather not guess."))
    code, result, err = run(CLOSE, work, ws)
    assert result["mode"] in ("MIXED", "LEARNER") and result["mode"] != "VERIFIED", err
    assert not (work / "list.txt").exists() and not (work / "names.txt").exists()
    assert len(llm_env.main_requests) - n == 2  # the verification, then the model session
    assert result["llm_calls"] == 2
    verification = result["decision"]["verification"]
    assert verification["same_task"] in (False, None)
    if verification["same_task"] is None:
        assert "malformed answer" in verification["note"]
    assert "not replayed: verification says" in err
    assert parse_trace(trace_file(ws, trace_id).read_text()).aliases == []


def test_ask_makes_no_call_and_an_exact_match_imports_no_llm_library(
    llm_env: ScriptedServer, tmp_path: Path
) -> None:
    from tests.support.import_probe import heavy_modules

    ws = tmp_path / "ws"
    _learn(llm_env, ws, tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    # verify: ask (the default) -> no verification call; headless goes on to MIXED/LEARNER
    llm_env.add_turns(text_turn("Done by the model."))
    n = len(llm_env.main_requests)
    code, result, err = run(CLOSE, work, ws)
    assert result["mode"] in ("MIXED", "LEARNER") and "verification" not in result["decision"], err
    assert len(llm_env.main_requests) - n == 1 and "--replay-similar" in err
    # verify: model, but every difference is accounted for: a plain replay, anthropic never imported
    mods, code = heavy_modules(
        tmp_path,
        "--headless",
        "run",
        "write the names of the spool files into names.txt",
        "--json",
        "--workspace",
        str(ws),
        "--cwd",
        str(work),
        env_extra={"LLMOS_LEARNING__VERIFY": "model"},
    )
    assert code == 0 and mods == set()
    assert len(llm_env.main_requests) - n == 1
