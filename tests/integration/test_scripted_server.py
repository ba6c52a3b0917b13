"""The scripted model server, driven over real HTTP by the anthropic SDK, raw HTTP and the real CLI."""

from __future__ import annotations

import http.client
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from llmos_tui.devtools.scripted_server import (
    ScriptedServer,
    ScriptError,
    error_turn,
    estimate_input_tokens,
    load_script,
    malformed_turn,
    text_turn,
    tool_turn,
    turn_from_json,
)

REPO = Path(__file__).resolve().parents[2]
USER = [{"role": "user", "content": "hello"}]
CLI_HEADERS = {"x-app": "cli", "user-agent": "claude-cli/2.1.329 (external, sdk-py)"}
TITLE_SCHEMA = {
    "type": "object",
    "properties": {"title": {"type": "string"}},
    "required": ["title"],
    "additionalProperties": False,
}


def _client(server: ScriptedServer, **kw: Any):
    import anthropic

    return anthropic.Anthropic(base_url=server.url, api_key="x", **kw)


def _post(
    server: ScriptedServer,
    body: Any,
    *,
    path: str = "/v1/messages",
    headers: dict | None = None,
    method: str = "POST",
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(
            method, path, body=data, headers={"content-type": "application/json", **(headers or {})}
        )
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def _sse_events(raw: bytes) -> list[tuple[str, dict]]:
    events = []
    for block in raw.decode().split("\n\n"):
        if not block.strip():
            continue
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


# ---------------------------------------------------------------------------------------------
# anthropic SDK
# ---------------------------------------------------------------------------------------------


def test_anthropic_sdk_non_streaming_text_and_usage(scripted_server: ScriptedServer) -> None:
    scripted_server.add_turns(text_turn("Hello from the script"))
    reply = _client(scripted_server).messages.create(
        model="claude-test", max_tokens=64, system="be brief", messages=USER
    )
    assert [b.text for b in reply.content] == ["Hello from the script"]
    assert reply.stop_reason == "end_turn"
    assert reply.model == "claude-test"
    assert reply.usage.input_tokens == scripted_server.total_input_tokens > 0
    assert reply.usage.output_tokens == scripted_server.total_output_tokens > 0
    assert reply.usage.cache_read_input_tokens == 0 and reply.usage.cache_creation_input_tokens == 0
    (rec,) = scripted_server.requests
    assert (rec.model, rec.stream, rec.max_tokens, rec.system, rec.auxiliary) == (
        "claude-test",
        False,
        64,
        "be brief",
        False,
    )
    assert rec.messages == USER and rec.tools == []
    expected = math.ceil(
        len(
            json.dumps(
                {"messages": USER, "system": "be brief"}, sort_keys=True, separators=(",", ":")
            )
        )
        / 4
    )
    assert rec.input_tokens == expected == estimate_input_tokens(rec.raw)


def test_anthropic_sdk_streaming_text_then_tool_use(scripted_server: ScriptedServer) -> None:
    long_text = "A streamed answer that is split into several text deltas by the server."
    scripted_server.add_turns(
        text_turn(long_text),
        tool_turn(
            [
                ("Write", {"file_path": "a.txt", "content": "x" * 100}),
                ("Bash", {"command": "ls"}, "toolu_fixed"),
            ],
            text="Working on it",
        ),
    )
    client = _client(scripted_server)
    tools = [
        {"name": n, "description": n, "input_schema": {"type": "object"}} for n in ("Write", "Bash")
    ]
    with client.messages.stream(model="m", max_tokens=64, messages=USER) as stream:
        deltas = [e.delta.text for e in stream if e.type == "content_block_delta"]
        first = stream.get_final_message()
    assert len(deltas) > 1 and "".join(deltas) == long_text
    assert first.stop_reason == "end_turn" and first.content[0].text == long_text
    with client.messages.stream(model="m", max_tokens=64, messages=USER, tools=tools) as stream:
        second = stream.get_final_message()
    assert second.stop_reason == "tool_use"
    assert second.content[0].type == "text" and second.content[0].text == "Working on it"
    calls = [(b.name, b.input, b.id) for b in second.content[1:]]
    assert calls[0][:2] == ("Write", {"file_path": "a.txt", "content": "x" * 100})
    assert calls[1] == ("Bash", {"command": "ls"}, "toolu_fixed")
    assert calls[0][2].startswith("toolu_") and calls[0][2] != calls[1][2]
    assert (
        first.usage.input_tokens + second.usage.input_tokens == scripted_server.total_input_tokens
    )
    assert (
        first.usage.output_tokens + second.usage.output_tokens
        == scripted_server.total_output_tokens
    )
    assert scripted_server.requests[1].tools == ["Write", "Bash"]
    assert [r.stream for r in scripted_server.requests] == [True, True]


def test_sse_wire_format(scripted_server: ScriptedServer) -> None:
    scripted_server.add_turns(tool_turn("Read", {"file_path": "/x"}, text="hi"))
    status, headers, raw = _post(
        scripted_server, {"model": "m", "max_tokens": 5, "stream": True, "messages": USER}
    )
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    events = _sse_events(raw)
    names = [e for e, _ in events]
    assert names[:2] == ["message_start", "ping"] and names[-2:] == [
        "message_delta",
        "message_stop",
    ]
    assert names.count("content_block_start") == names.count("content_block_stop") == 2
    assert all(name == data["type"] for name, data in events)
    start = events[0][1]["message"]
    rec = scripted_server.requests[0]
    assert start["usage"] == {
        "input_tokens": rec.input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 1,
    }
    delta = events[-2][1]
    assert delta["delta"]["stop_reason"] == "tool_use"
    assert (
        delta["usage"]["output_tokens"] == rec.output_tokens == scripted_server.total_output_tokens
    )
    partial = "".join(
        d["delta"]["partial_json"]
        for _, d in events
        if d["type"] == "content_block_delta" and d["delta"]["type"] == "input_json_delta"
    )
    assert json.loads(partial) == {"file_path": "/x"}


def test_same_request_gives_same_token_counts(scripted_server: ScriptedServer) -> None:
    scripted_server.add_turns(text_turn("same"), text_turn("same"), text_turn("longer answer here"))
    client = _client(scripted_server)
    usages = [
        client.messages.create(model="m", max_tokens=5, messages=USER).usage for _ in range(3)
    ]
    assert usages[0].input_tokens == usages[1].input_tokens == usages[2].input_tokens
    assert usages[0].output_tokens == usages[1].output_tokens < usages[2].output_tokens


def test_error_turn_is_retried_by_anthropic_sdk(scripted_server: ScriptedServer) -> None:
    import anthropic

    scripted_server.add_turns(
        error_turn(500, retry_after=0.01),
        text_turn("recovered"),
        *[error_turn(429, retry_after=0.01)] * 3,
    )
    client = _client(scripted_server)  # default max_retries=2
    reply = client.messages.create(model="m", max_tokens=5, messages=USER)
    assert reply.content[0].text == "recovered"
    with pytest.raises(anthropic.RateLimitError):
        client.messages.create(model="m", max_tokens=5, messages=USER)
    recs = scripted_server.requests
    assert [(r.outcome, r.status) for r in recs] == [("error", 500), ("text", 200)] + [
        ("error", 429)
    ] * 3
    assert [r.headers["x-stainless-retry-count"] for r in recs] == ["0", "1", "0", "1", "2"]
    assert (
        scripted_server.total_input_tokens == reply.usage.input_tokens
    )  # failed calls count nothing
    assert recs[2].input_tokens == 0


def test_error_turn_custom_body_and_headers(scripted_server: ScriptedServer) -> None:
    scripted_server.add_turns(
        error_turn(
            529,
            {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}},
            headers={"x-should-retry": "false"},
            retry_after=2,
        )
    )
    status, headers, raw = _post(scripted_server, {"model": "m", "max_tokens": 5, "messages": USER})
    assert status == 529
    assert json.loads(raw)["error"] == {"type": "overloaded_error", "message": "busy"}
    assert headers["x-should-retry"] == "false"
    assert (headers["retry-after"], headers["retry-after-ms"]) == ("2", "2000")


@pytest.mark.parametrize("stream", [True, False])
def test_malformed_turns_give_clean_client_errors(
    scripted_server: ScriptedServer, stream: bool
) -> None:
    scripted_server.add_turns(
        malformed_turn(), malformed_turn("truncated"), text_turn("fine again")
    )
    client = _client(scripted_server, max_retries=0, timeout=5)
    for _ in range(2):
        started = time.monotonic()
        with pytest.raises(Exception) as info:
            if stream:
                with client.messages.stream(model="m", max_tokens=5, messages=USER) as s:
                    s.get_final_message()
            else:
                client.messages.create(model="m", max_tokens=5, messages=USER)
        assert time.monotonic() - started < 4, "a broken answer must fail fast, not hang"
        assert (
            "json" in type(info.value).__name__.lower()
            or "connection" in str(info.value).lower()
            or "incomplete" in str(info.value).lower()
            or "expecting" in str(info.value).lower()
        )
    assert (
        client.messages.create(model="m", max_tokens=5, messages=USER).content[0].text
        == "fine again"
    )
    assert [r.outcome for r in scripted_server.requests] == ["malformed", "malformed", "text"]
    assert scripted_server.total_input_tokens == scripted_server.requests[2].input_tokens


def test_exhausted_script_answers_fallback(scripted_server: ScriptedServer) -> None:
    scripted_server.add_turns(text_turn("only one"))
    client = _client(scripted_server)
    texts = [
        client.messages.create(model="m", max_tokens=5, messages=USER).content[0].text
        for _ in range(3)
    ]
    assert texts == ["only one", "(script exhausted)", "(script exhausted)"]
    assert scripted_server.exhausted_requests == 2 and scripted_server.remaining_turns == 0
    assert [r.outcome for r in scripted_server.main_requests] == ["text", "exhausted", "exhausted"]
    with ScriptedServer(fallback_text="nothing left") as other:
        reply = _client(other).messages.create(model="m", max_tokens=5, messages=USER)
        assert (reply.content[0].text, reply.stop_reason) == ("nothing left", "end_turn")


def test_callable_turns_see_the_request(scripted_server: ScriptedServer) -> None:
    import anthropic

    def echo(request: dict) -> Any:
        return f"you said {request['messages'][-1]['content']!r} to {request['model']}"

    def broken(request: dict) -> Any:
        raise RuntimeError("boom")

    scripted_server.add_turns(
        echo, lambda req: {"tool_use": [{"name": "Bash", "input": {"command": "true"}}]}, broken
    )
    client = _client(scripted_server)
    assert (
        client.messages.create(model="mm", max_tokens=5, messages=USER).content[0].text
        == "you said 'hello' to mm"
    )
    assert client.messages.create(model="mm", max_tokens=5, messages=USER).stop_reason == "tool_use"
    with pytest.raises(anthropic.InternalServerError, match="boom"):
        client.messages.create(model="mm", max_tokens=5, messages=USER)
    last = scripted_server.requests[-1]
    assert (last.outcome, last.status) == ("turn_error", 500)
    assert len(scripted_server.requests) == 3, "x-should-retry: false stops the SDK from retrying"


def test_auxiliary_requests_do_not_consume_the_script(scripted_server: ScriptedServer) -> None:
    scripted_server.add_turns(text_turn("main answer"))
    title_body = {
        "model": "m",
        "max_tokens": 100,
        "messages": USER,
        "tools": [],
        "system": [{"type": "text", "text": "You are naming a coding session so the user can..."}],
        "output_config": {"format": {"type": "json_schema", "schema": TITLE_SCHEMA}},
    }
    status, _, raw = _post(
        scripted_server, title_body, path="/v1/messages?beta=true", headers=CLI_HEADERS
    )
    assert status == 200
    answer = json.loads(json.loads(raw)["content"][0]["text"])
    assert set(answer) == {"title"} and isinstance(answer["title"], str)
    structured = {
        **title_body,
        "system": "other",
        "output_config": {
            "format": {
                "type": "json_schema",
                "schema": {
                    "type": "object",
                    "properties": {"n": {"type": "integer"}, "ok": {"type": "boolean"}},
                },
            }
        },
    }
    _, _, raw = _post(scripted_server, structured, headers=CLI_HEADERS)
    assert json.loads(json.loads(raw)["content"][0]["text"]) == {"n": 0, "ok": False}
    assert _post(scripted_server, None, path="/api/hello", method="HEAD")[0] == 200
    status, _, raw = _post(
        scripted_server, {"model": "m", "messages": USER}, path="/v1/messages/count_tokens"
    )
    assert status == 200 and json.loads(raw)["input_tokens"] == estimate_input_tokens(
        {"messages": USER}
    )
    assert _post(scripted_server, {}, path="/v1/nothing")[0] == 404
    assert scripted_server.remaining_turns == 1 and scripted_server.total_input_tokens == 0
    # the same body without the CLI's headers is a main request (our own SDK calls may use schemas)
    _, _, raw = _post(scripted_server, title_body)
    assert json.loads(raw)["content"][0]["text"] == "main answer"
    kinds = [(r.kind, r.auxiliary) for r in scripted_server.requests]
    assert kinds == [
        ("title", True),
        ("structured", True),
        ("probe", True),
        ("count_tokens", True),
        ("unknown", True),
        ("main", False),
    ]
    aux = [r for r in scripted_server.auxiliary_requests if r.kind in ("title", "structured")]
    assert scripted_server.auxiliary_input_tokens == sum(r.input_tokens for r in aux) > 0
    assert scripted_server.auxiliary_output_tokens == sum(r.output_tokens for r in aux) > 0
    assert scripted_server.total_input_tokens == scripted_server.main_requests[0].input_tokens
    assert all(r.headers.get("x-api-key") in (None, "<redacted>") for r in scripted_server.requests)


def test_bad_request_body_is_a_400(scripted_server: ScriptedServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", scripted_server.port, timeout=5)
    conn.request(
        "POST", "/v1/messages", body=b"{not json", headers={"content-type": "application/json"}
    )
    resp = conn.getresponse()
    assert (
        resp.status == 400 and json.loads(resp.read())["error"]["type"] == "invalid_request_error"
    )
    conn.close()
    assert scripted_server.remaining_turns == 0 and scripted_server.requests[0].kind == "invalid"


def test_delay_and_concurrent_requests_take_distinct_turns(scripted_server: ScriptedServer) -> None:
    scripted_server.add_turns([text_turn(f"t{i}") for i in range(12)])
    scripted_server.add_turns(text_turn("slow", delay=0.3))
    client = _client(scripted_server)
    seen: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(3):
            text = client.messages.create(model="m", max_tokens=5, messages=USER).content[0].text
            with lock:
                seen.append(text)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(seen) == sorted(f"t{i}" for i in range(12))
    started = time.monotonic()
    assert client.messages.create(model="m", max_tokens=5, messages=USER).content[0].text == "slow"
    assert time.monotonic() - started >= 0.3
    assert scripted_server.request_count == 13
    assert scripted_server.total_input_tokens == sum(
        r.input_tokens for r in scripted_server.main_requests
    )


def test_stop_closes_server_and_idle_connections() -> None:
    server = ScriptedServer([text_turn("a")]).start()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request(
        "POST", "/v1/messages", body=json.dumps({"model": "m", "max_tokens": 1, "messages": USER})
    )
    assert conn.getresponse().read()
    port = server.port
    server.stop()
    with pytest.raises(RuntimeError):
        _ = server.url
    with pytest.raises(OSError):  # the kept-alive connection was shut down with the server
        conn.request("POST", "/v1/messages", body=b"{}")
        conn.getresponse()
    conn.close()
    with pytest.raises(OSError):
        http.client.HTTPConnection("127.0.0.1", port, timeout=1).connect()


def test_env_and_llm_env_fixture(llm_env: ScriptedServer) -> None:
    import anthropic

    assert os.environ["ANTHROPIC_BASE_URL"] == llm_env.url
    assert os.environ["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] == "1"
    assert set(llm_env.env()) == {
        "ANTHROPIC_BASE_URL",
        "ANTHROPIC_API_KEY",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC",
    }
    llm_env.add_turns("from the environment")
    reply = anthropic.Anthropic().messages.create(model="m", max_tokens=5, messages=USER)
    assert reply.content[0].text == "from the environment"


# ---------------------------------------------------------------------------------------------
# Script shapes
# ---------------------------------------------------------------------------------------------


def test_turn_from_json_shapes() -> None:
    assert turn_from_json("hi") == text_turn("hi")
    turn = turn_from_json(
        {
            "tool_use": [{"name": "Write", "input": {"a": 1}, "id": "t1"}],
            "text": "pre",
            "delay": 0.5,
        }
    )
    assert (
        turn.kind == "tool_use" and turn.delay == 0.5 and turn.resolved_stop_reason() == "tool_use"
    )
    assert turn.blocks == (
        {"type": "text", "text": "pre"},
        {"type": "tool_use", "name": "Write", "input": {"a": 1}, "id": "t1"},
    )
    assert turn_from_json({"error": 429, "retry_after": 1}).headers == (
        ("retry-after", "1"),
        ("retry-after-ms", "1000"),
    )
    assert turn_from_json({"malformed": True}).malformed == "bad_json"
    assert (
        turn_from_json({"text": "x", "stop_reason": "max_tokens"}).resolved_stop_reason()
        == "max_tokens"
    )


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"txt": "typo"}, "unknown key"),
        ({}, "needs one of"),
        ({"error": 200}, "400..599"),
        ({"error": 500, "retry_after": -1}, "delay must be"),
        ({"tool_use": []}, "non-empty list"),
        ({"tool_use": [{"input": {}}]}, "with a name"),
        ({"tool_use": [{"name": "W", "input": [1]}]}, "input must be an object"),
        ({"malformed": "weird"}, "malformed mode"),
        ({"text": 3}, "text must be a string"),
        (7, "expected an object"),
    ],
)
def test_turn_from_json_rejects_bad_shapes(bad: Any, message: str) -> None:
    with pytest.raises(ScriptError, match=message):
        turn_from_json(bad, where="turn 3")


def test_load_script_errors(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text('{"text": "not a list"}')
    with pytest.raises(ScriptError, match="list of turns"):
        load_script(path)
    path.write_text("[{")
    with pytest.raises(ScriptError, match="not valid JSON"):
        load_script(path)
    with pytest.raises(ScriptError, match="cannot read"):
        load_script(tmp_path / "missing.json")
    path.write_text('["ok", {"bogus": 1}]')
    with pytest.raises(ScriptError, match="turn 1: unknown key"):
        load_script(path)


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def test_command_line_serves_logs_and_stops_on_sigterm(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(
        json.dumps([{"text": "one"}, {"tool_use": [{"name": "Write", "input": {"x": 1}}]}])
    )
    log = tmp_path / "requests.jsonl"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llmos_tui.devtools.scripted_server",
            "--script",
            str(script),
            "--log",
            str(log),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("READY http://127.0.0.1:"), line
        host, port = line.split("//")[1].strip().split(":")
        answers = []
        for _ in range(3):
            conn = http.client.HTTPConnection(host, int(port), timeout=5)
            conn.request(
                "POST",
                "/v1/messages",
                body=json.dumps({"model": "m", "max_tokens": 5, "messages": USER}),
            )
            answers.append(json.loads(conn.getresponse().read()))
            conn.close()
        assert [a["stop_reason"] for a in answers] == ["end_turn", "tool_use", "end_turn"]
        assert answers[2]["content"][0]["text"] == "(script exhausted)"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # One line per request, written when its answer is done: in the order they finished, which
    # under load need not be the order they arrived; every request is there by the time it stops.
    entries = sorted(
        (json.loads(line) for line in log.read_text().splitlines()), key=lambda e: e["seq"]
    )
    assert [e["outcome"] for e in entries] == ["text", "tool_use", "exhausted"]
    assert entries[1]["raw"]["messages"] == USER and entries[0]["input_tokens"] > 0
    assert "3 main request(s)" in proc.stderr.read()


def test_command_line_rejects_a_bad_script(tmp_path: Path) -> None:
    script = tmp_path / "bad.json"
    script.write_text('[{"error": "500"}]')
    done = subprocess.run(
        [sys.executable, "-m", "llmos_tui.devtools.scripted_server", "--script", str(script)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=30,
    )
    assert done.returncode == 2
    assert "turn 0" in done.stderr and "400..599" in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""


# ---------------------------------------------------------------------------------------------
# The real Claude Code CLI (bundled with claude-agent-sdk). Four CLI runs in all.
# ---------------------------------------------------------------------------------------------


def _agent_options(
    server: ScriptedServer, cwd: Path, *, env: dict[str, str] | None = None, **kw: Any
):
    from claude_agent_sdk import ClaudeAgentOptions, HookMatcher

    async def allow(input_data: dict, tool_use_id: str | None, context: Any) -> dict:
        return {
            "hookSpecificOutput": {
                "hookEventName": "PreToolUse",
                "permissionDecision": "allow",
                "permissionDecisionReason": "scripted test",
            }
        }

    config = cwd.parent / f"{cwd.name}-config"
    config.mkdir(exist_ok=True)
    return ClaudeAgentOptions(
        cwd=str(cwd),
        setting_sources=[],
        env=env
        if env is not None
        else {**server.env(), "CLAUDE_CONFIG_DIR": str(config), "HOME": str(config)},
        hooks={"PreToolUse": [HookMatcher(hooks=[allow])]},  # root may not use bypassPermissions
        **kw,
    )


async def _run_cli(server: ScriptedServer, cwd: Path, prompt: str, **kw: Any) -> list[Any]:
    from claude_agent_sdk import query

    return [m async for m in query(prompt=prompt, options=_agent_options(server, cwd, **kw))]


def _result(messages: list[Any]):
    from claude_agent_sdk import ResultMessage

    results = [m for m in messages if isinstance(m, ResultMessage)]
    assert len(results) == 1, messages
    return results[0]


@pytest.mark.llm
async def test_cli_executes_scripted_write_and_reports_our_usage(
    scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    cwd = tmp_path / "work"
    cwd.mkdir()
    scripted_server.add_turns(
        tool_turn("Write", {"file_path": f"{cwd}/hello.txt", "content": "hi"}), text_turn("done")
    )
    messages = await _run_cli(scripted_server, cwd, "Create hello.txt", model="claude-sonnet-4-5")
    result = _result(messages)
    assert (cwd / "hello.txt").read_text() == "hi"
    assert (result.result, result.is_error, result.num_turns) == ("done", False, 2)
    main = scripted_server.main_requests
    assert len(main) == 2 and scripted_server.auxiliary_requests == []
    assert (
        result.usage["input_tokens"]
        == scripted_server.total_input_tokens
        == sum(r.input_tokens for r in main)
    )
    assert (
        result.usage["output_tokens"]
        == scripted_server.total_output_tokens
        == sum(r.output_tokens for r in main)
    )
    assert (
        result.usage["cache_read_input_tokens"] == result.usage["cache_creation_input_tokens"] == 0
    )
    # the CLI prices our token counts with its own table: Sonnet 4.5 is $3 / $15 per million
    expected_cost = (
        scripted_server.total_input_tokens * 3e-6 + scripted_server.total_output_tokens * 15e-6
    )
    assert result.total_cost_usd == pytest.approx(expected_cost, rel=1e-9)
    assert (
        result.model_usage["claude-sonnet-4-5"]["inputTokens"] == scripted_server.total_input_tokens
    )
    first, second = main
    assert first.model == "claude-sonnet-4-5" and first.stream is True
    assert (
        "Write" in first.tools and "Bash" in first.tools and first.path == "/v1/messages?beta=true"
    )
    assert first.headers["x-app"] == "cli" and first.headers["user-agent"].startswith("claude-cli/")
    tool_results = [
        b
        for m in second.messages
        if m["role"] == "user" and isinstance(m["content"], list)
        for b in m["content"]
        if b.get("type") == "tool_result"
    ]
    assert tool_results and tool_results[-1]["tool_use_id"] == "toolu_scripted_0001_1"
    assert first.input_tokens > 2000, "the CLI's system prompt and tools are large"


@pytest.mark.llm
async def test_cli_retries_a_500(scripted_server: ScriptedServer, tmp_path: Path) -> None:
    from claude_agent_sdk import SystemMessage

    scripted_server.add_turns(error_turn(500), text_turn("after the retry"))
    messages = await _run_cli(scripted_server, tmp_path, "hello")
    result = _result(messages)
    assert (result.result, result.is_error) == ("after the retry", False)
    retries = [
        m.data for m in messages if isinstance(m, SystemMessage) and m.subtype == "api_retry"
    ]
    assert [(r["attempt"], r["error_status"]) for r in retries] == [(1, 500)]
    assert [r.status for r in scripted_server.main_requests] == [500, 200]
    assert (
        result.usage["input_tokens"]
        == scripted_server.total_input_tokens
        == scripted_server.main_requests[1].input_tokens
    )


@pytest.mark.llm
async def test_cli_falls_back_to_plain_json_after_broken_stream(
    scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    scripted_server.add_turns(malformed_turn(), text_turn("json path works"))
    result = _result(await _run_cli(scripted_server, tmp_path, "hello"))
    assert (result.result, result.is_error) == ("json path works", False)
    main = scripted_server.main_requests
    assert [(r.outcome, r.stream) for r in main] == [("malformed", True), ("text", False)]
    assert (
        result.usage["output_tokens"]
        == scripted_server.total_output_tokens
        == main[1].output_tokens
    )


@pytest.mark.llm
async def test_cli_side_requests_are_auxiliary(
    scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    """Without CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC a streaming-input session also probes
    /api/hello and asks for a session title; neither may eat a scripted turn."""
    from claude_agent_sdk import ClaudeSDKClient, ResultMessage

    scripted_server.add_turns(
        text_turn("the real answer", delay=0.3)
    )  # the title request ends first
    config = tmp_path / "config"
    config.mkdir()
    env = {
        "ANTHROPIC_BASE_URL": scripted_server.url,
        "ANTHROPIC_API_KEY": "k",
        "CLAUDE_CONFIG_DIR": str(config),
        "HOME": str(config),
    }
    results = []
    async with ClaudeSDKClient(_agent_options(scripted_server, tmp_path, env=env)) as client:
        await client.query("python calculator")
        results = [m async for m in client.receive_response() if isinstance(m, ResultMessage)]
    assert results[0].result == "the real answer"
    kinds = {r.kind for r in scripted_server.auxiliary_requests}
    assert {"probe", "title"} <= kinds, kinds
    assert all(r.status == 200 for r in scripted_server.requests)
    assert scripted_server.exhausted_requests == 0 and len(scripted_server.main_requests) == 1
    # usage covers the main loop only; model_usage (and the cost) also include the title request
    assert results[0].usage["input_tokens"] == scripted_server.total_input_tokens
    model_usage = next(iter(results[0].model_usage.values()))
    assert (
        model_usage["inputTokens"]
        == scripted_server.total_input_tokens + scripted_server.auxiliary_input_tokens
    )
