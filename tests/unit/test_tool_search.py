"""Tool Search: the registry, its ranking, and sessions that start small and find tools on demand.

The session tests drive the real Claude Code CLI (through claude-agent-sdk) against the scripted
model server over HTTP, with our policy hooks, the way ``llm_sdk.run_session`` does.
"""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any

import pytest

from llmos_tui.config import LLMOSConfig
from llmos_tui.devtools.scripted_server import ScriptedServer, canonical_json, text_turn, tool_turn
from llmos_tui.evolution.crystallizer import Crystallizer
from llmos_tui.execution.llm.tool_search import (
    CLI_TOOL_SEARCH,
    MCP_PREFIX,
    ToolRegistry,
    ToolRegistryError,
    ToolResult,
    is_own_tool,
    session_tooling,
)
from llmos_tui.execution.policy.engine import default_engine
from llmos_tui.execution.replay.executors import ToolExecutor
from llmos_tui.execution.replay.hooks import HookRegistry, HookVerdict, ToolOutcome
from llmos_tui.learning.store import TraceStore
from llmos_tui.learning.traces import ToolCall, make_trace
from llmos_tui.workspace import open_workspace
from tests.support.sandbox_backend import BACKEND

CORE = ["Read", "Write", "Edit", "MultiEdit", "Bash", "Glob", "Grep"]  # system-agent's tools
PATH_SCHEMA = {
    "type": "object",
    "properties": {"path": {"type": "string"}},
    "required": ["path"],
    "additionalProperties": False,
}

# Plugin names and descriptions for a registry of 60 tools (11 built-ins + 49 plugins).
VERBS = [
    "archive",
    "audit",
    "benchmark",
    "bump",
    "compress",
    "deploy",
    "diff",
    "lint",
    "migrate",
    "minify",
    "monitor",
    "notify",
    "profile",
    "render",
    "rotate",
    "scan",
    "schedule",
]
NOUNS = ["logs", "images", "database", "changelog", "certificates", "docker_images", "dependencies"]


def make_registry(n_plugins: int = 49) -> ToolRegistry:
    registry = ToolRegistry()
    registry.add_builtins()

    def csv_to_json(tool_input: dict[str, Any], executor: Any) -> ToolResult:
        source = executor.execute("Read", {"file_path": tool_input["path"]})
        if source.is_error:
            return ToolResult(f"cannot read {tool_input['path']}: {source.summary}", is_error=True)
        text = source.response["file"]["content"]
        rows = [line.split("\t", 1)[1].split(",") for line in text.splitlines()]
        header, body = rows[0], rows[1:]
        out = json.dumps([dict(zip(header, row, strict=False)) for row in body])
        target = str(Path(tool_input["path"]).with_suffix(".json"))
        written = executor.execute("Write", {"file_path": target, "content": out})
        return ToolResult(f"wrote {target} ({len(body)} rows)", is_error=written.is_error)

    registry.register_plugin(
        "csv_to_json",
        "Convert a CSV file into a JSON array of objects (one per row)",
        PATH_SCHEMA,
        csv_to_json,
        keywords="spreadsheet table export",
    )
    registry.register_plugin(
        "wipe_disk",
        "Erase the whole disk to free space",
        {"type": "object", "properties": {}, "additionalProperties": False},
        lambda _i, executor: executor.execute("Bash", {"command": "rm -rf /"}).summary,
    )
    made = 2
    for verb in VERBS:
        for noun in NOUNS:
            if made >= n_plugins:
                break
            name = f"{verb}_{noun}"
            registry.register_plugin(
                name,
                f"{verb.capitalize()} the project's {noun.replace('_', ' ')} "
                f"and report what changed",
                PATH_SCHEMA,
                lambda _i, _e, name=name: f"{name}: nothing to do",
            )
            made += 1
    return registry


# ---- the registry ----------------------------------------------------------------------------


def test_registry_holds_builtins_and_plugins_and_refuses_bad_entries() -> None:
    registry = make_registry()
    assert len(registry) == 60
    assert registry.get("Bash").source == "builtin" and registry.get("Bash").runnable
    assert not registry.get("WebFetch").runnable  # only the CLI runs it: searchable, not offered
    assert registry.get("csv_to_json").mcp_name == "mcp__llmos__csv_to_json"
    with pytest.raises(ToolRegistryError, match="already registered"):
        registry.register_plugin("csv_to_json", "again", PATH_SCHEMA, lambda i, e: "")
    with pytest.raises(ToolRegistryError, match="invalid tool name"):
        registry.register_plugin("bad name!", "x", PATH_SCHEMA, lambda i, e: "")
    with pytest.raises(ToolRegistryError, match="type object"):
        registry.register_plugin("no_schema", "x", {"type": "string"}, lambda i, e: "")
    with pytest.raises(ToolRegistryError, match="reserved"):
        registry.register_plugin("search_tools", "x", PATH_SCHEMA, lambda i, e: "")
    long_a = registry.register_plugin("a" * 70 + "_one", "first long", PATH_SCHEMA, lambda i, e: "")
    long_b = registry.register_plugin(
        "a" * 70 + "_two", "second long", PATH_SCHEMA, lambda i, e: ""
    )
    assert (
        len(long_a.mcp_name) <= 64
        and len(long_b.mcp_name) <= 64
        and long_a.mcp_name != long_b.mcp_name
    )
    assert registry.by_mcp_name(long_b.mcp_name) is long_b


def test_search_ranks_by_meaning_of_the_words_and_is_deterministic() -> None:
    registry = make_registry()
    top = lambda q: [h.tool.name for h in registry.search(q, 3)]  # noqa: E731
    assert top("convert a csv spreadsheet to json")[0] == "csv_to_json"
    assert top("run a shell command")[0] == "Bash"
    assert top("jupyter notebook cell")[0] == "NotebookEdit"
    assert top("compress the images")[0] == "compress_images"  # plural/singular and verb both count
    assert top("search text in files")[0] == "Grep"
    assert top("zzzz qqqq") == []
    assert [h.tool.name for h in registry.search("select:Bash,mcp__llmos__csv_to_json,nope")] == [
        "Bash",
        "csv_to_json",
    ]
    first = [(h.tool.name, h.score) for h in registry.search("deploy", 10)]
    assert first == [(h.tool.name, h.score) for h in registry.search("deploy", 10)]
    assert all(name.startswith("deploy_") for name, _ in first[:7])
    scores = [s for _, s in first]
    assert scores == sorted(scores, reverse=True)


def crystallized_workspace(tmp_path: Path) -> tuple[Any, Any]:
    """A workspace with one real, verified crystallized tool in the user's volume."""
    ws = open_workspace(tmp_path / "ws")
    config = LLMOSConfig.testing()
    config.execution.sandbox = BACKEND
    store = TraceStore(ws)
    trace = make_trace(
        "Write greeting to notes.txt",
        [
            ToolCall(
                "Write",
                {"file_path": "{{cwd}}/notes.txt", "content": "hello\n"},
                {"is_error": False, "summary": "create", "files_created": ["notes.txt"]},
                "t1",
            )
        ],
        slots={"file": "notes.txt"},
    )
    store.save(trace, volume="users/local")
    tool = Crystallizer(ws, store, config).crystallize(trace)
    assert tool.active, tool.manifest
    return ws, tool


def test_crystallized_tools_of_the_visible_volumes_are_registered(tmp_path: Path) -> None:
    ws, tool = crystallized_workspace(tmp_path)
    registry = ToolRegistry.for_workspace(ws, ["users/local", "teams/default", "system"])
    entry = registry.get(tool.name)
    assert entry is not None and entry.source == "crystallized" and entry.volume == "users/local"
    assert entry.input_schema["properties"] == {
        "file": {"type": "string", "description": "default: 'notes.txt'"}
    }
    assert entry.examples == [{"file": "notes.txt"}]  # the values it was verified with
    assert registry.search("write a greeting to a notes file", 1)[0].tool is entry
    # Not visible to another user: their volumes do not hold it.
    assert ToolRegistry.for_workspace(ws, ["users/other", "system"]).get(tool.name) is None

    # Running it goes through our executor: the policy sees the Write, the file lands in cwd.
    work = tmp_path / "work"
    work.mkdir()
    seen: list[str] = []
    hooks = HookRegistry()
    hooks.add_pre(lambda n, i, t: HookVerdict("allow"))
    hooks.add_post(lambda n, i, t, o: seen.append(n))
    result = entry.runner({"file": "other.txt"}, ToolExecutor(work, hooks, sandbox_backend=BACKEND))
    assert not result.is_error, result.text
    assert (work / "other.txt").read_text() == "hello\n" and seen == ["Write"]


def test_session_tooling_modes() -> None:
    registry = make_registry()
    twins = [
        f"{MCP_PREFIX}{n}" for n in ("Bash", "Write", "Edit", "MultiEdit", "Read", "Glob", "Grep")
    ]
    deferred = session_tooling(registry, CORE, executor_factory=None, model="claude-sonnet-4-5")
    # The CLI gets none of the file and shell built-ins: they are llmos's twins, and disallowed by name.
    assert deferred.mode == "deferred" and deferred.tools == [CLI_TOOL_SEARCH]
    assert sorted(deferred.twins) == sorted(n[len(MCP_PREFIX) :] for n in twins)
    assert {"Bash", "Write", "Read", "BashOutput"} <= set(deferred.disallowed_tools)
    assert "llmos" in deferred.mcp_servers and deferred.post_tool_output is not None
    assert "search_tools" in deferred.system_text and "mcp__llmos__Bash" in deferred.system_text
    # Built-ins are never offered through search: only crystallized tools and plugins are extras.
    assert (
        len(deferred.offered) == 49
        and "NotebookEdit" not in deferred.offered
        and "WebFetch" not in deferred.offered
    )
    assert (
        session_tooling(
            registry, CORE, executor_factory=None, model="claude-3-5-haiku-20241022"
        ).mode
        == "dispatch"
    )
    assert session_tooling(registry, CORE, executor_factory=None, enabled=False).mode == "direct"
    small = make_registry(3)
    direct = session_tooling(small, CORE, executor_factory=None)
    assert (
        direct.mode == "direct" and direct.tools == [] and "mcp__llmos__Write" in direct.system_text
    )
    bare = ToolRegistry()
    bare.add_builtins(CORE)
    only = session_tooling(bare, CORE, executor_factory=None)
    assert only.mode == "twins" and only.tools == [] and only.offered == []
    # A withheld tool is not offered in any form.
    cautious = session_tooling(bare, ["Read", "Glob", "TodoWrite"], executor_factory=None)
    assert cautious.twins == ["Read", "Glob"] and cautious.tools == ["TodoWrite"]
    assert session_tooling(bare, ["TodoWrite"], executor_factory=None).mode == "off"
    assert (
        is_own_tool("mcp__llmos__csv_to_json")
        and not is_own_tool("Write")
        and not is_own_tool("mcp__x__y")
    )


# ---- sessions against the scripted server ------------------------------------------------------


def policy_hooks(tmp_path: Path, cwd: Path, recorded: list[tuple[str, dict]]) -> HookRegistry:
    ws = open_workspace(tmp_path / "ws")
    config = LLMOSConfig.testing()
    engine = default_engine(config, ws)
    hooks = HookRegistry()

    def pre(name: str, tool_input: dict, _tid: str) -> HookVerdict:
        d = engine.check(name, tool_input, cwd)
        return HookVerdict(d.decision, d.reason, d.rule)

    def capture(name: str, tool_input: dict, _tid: str, _outcome: Any) -> None:
        if not is_own_tool(name):  # what the kernel's capture hook must do
            recorded.append((name, tool_input))

    hooks.add_pre(pre)
    hooks.add_post(capture)
    return hooks


def run_session(
    tooling: Any,
    hooks: HookRegistry,
    cwd: Path,
    config_dir: Path,
    prompt: str = "do it",
    model: str = "claude-sonnet-4-5",
) -> None:
    """One session with the options ``llm_sdk.run_session`` builds, plus the Tool Search fields."""
    from claude_agent_sdk import ClaudeAgentOptions, ClaudeSDKClient, HookMatcher
    from claude_agent_sdk.types import PermissionResultAllow, PermissionResultDeny

    async def pre(inp: dict, tid: Any, _ctx: Any) -> dict:
        v = hooks.run_pre(inp.get("tool_name", ""), inp.get("tool_input") or {}, tid or "")
        return {
            "hookSpecificOutput": {
                "hookEventName": "PreToolUse",
                "permissionDecision": v.decision,
                "permissionDecisionReason": v.reason,
            }
        }

    async def post(inp: dict, tid: Any, _ctx: Any) -> dict:
        name, tool_input = inp.get("tool_name", ""), inp.get("tool_input") or {}
        hooks.run_post(
            name, tool_input, tid or "", ToolOutcome(False, "", inp.get("tool_response"))
        )
        if tooling.post_tool_output is not None:
            updated = tooling.post_tool_output(name, tool_input, inp.get("tool_response"))
            if updated is not None:
                return {
                    "hookSpecificOutput": {
                        "hookEventName": "PostToolUse",
                        "updatedMCPToolOutput": updated,
                    }
                }
        return {}

    async def can_use(name: str, tool_input: dict, _ctx: Any) -> Any:
        v = hooks.run_pre(name, tool_input, "")
        return (
            PermissionResultAllow()
            if v.decision == "allow"
            else PermissionResultDeny(message=v.reason)
        )

    options = ClaudeAgentOptions(
        cwd=str(cwd),
        model=model,
        tools=list(tooling.tools),
        mcp_servers=tooling.mcp_servers,
        allowed_tools=list(tooling.allowed_tools),
        disallowed_tools=list(tooling.disallowed_tools),
        setting_sources=[],
        permission_mode="default",
        can_use_tool=can_use,
        max_turns=8,
        env={"CLAUDE_CONFIG_DIR": str(config_dir)},
        system_prompt={"type": "preset", "preset": "claude_code", "append": tooling.system_text},
        hooks={
            "PreToolUse": [HookMatcher(hooks=[pre], on_failure="block")],
            "PostToolUse": [HookMatcher(hooks=[post])],
        },
    )

    async def drive() -> None:
        async with ClaudeSDKClient(options=options) as client:
            await client.query(prompt)
            async for _message in client.receive_response():
                pass

    asyncio.run(asyncio.wait_for(drive(), 60))


def tool_tokens(body: dict) -> int:
    """The scripted server's deterministic estimate applied to the ``tools`` field alone."""
    return math.ceil(len(canonical_json(body.get("tools") or [])) / 4)


@pytest.mark.llm
def test_sixty_tools_first_request_is_small_and_a_found_tool_works(
    llm_env: ScriptedServer, tmp_path: Path
) -> None:
    cwd = tmp_path / "work"
    cwd.mkdir()
    (cwd / "data.csv").write_text("name,qty\napple,3\npear,5\n")
    recorded: list[tuple[str, dict]] = []
    hooks = policy_hooks(tmp_path, cwd, recorded)
    registry = make_registry()
    assert len(registry) == 60
    registry.set_examples("csv_to_json", [{"path": "sales/q1.csv"}])
    tooling = session_tooling(
        registry,
        CORE,
        model="claude-sonnet-4-5",
        executor_factory=lambda: ToolExecutor(cwd, hooks, sandbox_backend=BACKEND),
    )
    llm_env.add_turns(
        tool_turn("mcp__llmos__search_tools", {"query": "convert csv to json"}),
        tool_turn("mcp__llmos__csv_to_json", {"path": "data.csv"}),
        text_turn("Converted."),
    )
    run_session(tooling, hooks, cwd, tmp_path / "cfg")

    first, second, third = llm_env.main_requests[:3]
    assert len(first.tools) < 15, first.tools
    assert (
        "mcp__llmos__search_tools" in first.tools and "mcp__llmos__csv_to_json" not in first.tools
    )
    # The found tool was added to the session's tools for the rest of the session.
    assert "mcp__llmos__csv_to_json" in second.tools and "mcp__llmos__csv_to_json" in third.tools
    loaded = next(t for t in second.raw["tools"] if t["name"] == "mcp__llmos__csv_to_json")
    assert loaded["input_schema"]["examples"] == [
        {"path": "sales/q1.csv"}
    ]  # Tool Examples ride along
    result_blocks = second.messages[-1]["content"][0]["content"]
    assert {"type": "tool_reference", "tool_name": "mcp__llmos__csv_to_json"} in result_blocks
    assert tooling.loaded[0] == "csv_to_json" and tooling.searches[0]["hits"][0] == "csv_to_json"
    # It really ran, through our executor and the policy; the trace sees the built-in calls.
    assert json.loads((cwd / "data.json").read_text()) == [
        {"name": "apple", "qty": "3"},
        {"name": "pear", "qty": "5"},
    ]
    assert [name for name, _ in recorded] == ["Read", "Write"]
    assert "wrote" in json.dumps(third.messages[-1])
    print(
        f"first request: {len(first.tools)} tool definitions, {tool_tokens(first.raw)} tool tokens"
    )


@pytest.mark.llm
def test_without_tool_search_every_tool_is_sent(llm_env: ScriptedServer, tmp_path: Path) -> None:
    cwd = tmp_path / "work"
    cwd.mkdir()
    hooks = policy_hooks(tmp_path, cwd, [])
    registry = make_registry()
    executor = lambda: ToolExecutor(cwd, hooks, sandbox_backend=BACKEND)  # noqa: E731
    llm_env.add_turns(text_turn("ok"), text_turn("ok"))
    run_session(
        session_tooling(registry, CORE, executor_factory=executor, enabled=False),
        hooks,
        cwd,
        tmp_path / "c1",
    )
    run_session(
        session_tooling(registry, CORE, executor_factory=executor), hooks, cwd, tmp_path / "c2"
    )
    everything, searched = llm_env.main_requests[:2]
    assert len(everything.tools) >= 55 and len(searched.tools) < 15
    # The core built-ins' own definitions (~6k tokens) are sent either way; the 50 others are not.
    assert tool_tokens(everything.raw) - tool_tokens(searched.raw) > 2000
    assert searched.input_tokens < everything.input_tokens


@pytest.mark.llm
def test_a_policy_denial_inside_our_tool_is_blocked_and_reported(
    llm_env: ScriptedServer, tmp_path: Path
) -> None:
    cwd = tmp_path / "work"
    cwd.mkdir()
    hooks = policy_hooks(tmp_path, cwd, [])
    registry = make_registry(4)  # csv_to_json, wipe_disk + 2: offered directly
    tooling = session_tooling(
        registry, CORE, executor_factory=lambda: ToolExecutor(cwd, hooks, sandbox_backend=BACKEND)
    )
    assert tooling.mode == "direct"
    llm_env.add_turns(tool_turn("mcp__llmos__wipe_disk", {}), text_turn("Could not."))
    run_session(tooling, hooks, cwd, tmp_path / "cfg")
    first, second = llm_env.main_requests[:2]
    assert "mcp__llmos__wipe_disk" in first.tools and "mcp__llmos__search_tools" not in first.tools
    assert [b["name"] for b in tooling.blocked] == ["Bash"] and tooling.blocked[0][
        "decision"
    ] == "deny"
    assert "blocked by policy" in json.dumps(second.messages[-1])


@pytest.mark.llm
def test_claude_3_models_get_search_and_call_tool_only(
    llm_env: ScriptedServer, tmp_path: Path
) -> None:
    cwd = tmp_path / "work"
    cwd.mkdir()
    (cwd / "data.csv").write_text("a,b\n1,2\n")
    recorded: list[tuple[str, dict]] = []
    hooks = policy_hooks(tmp_path, cwd, recorded)
    model = "claude-3-5-haiku-20241022"  # the CLI does not defer tools for Claude 3.x
    tooling = session_tooling(
        make_registry(),
        CORE,
        model=model,
        executor_factory=lambda: ToolExecutor(cwd, hooks, sandbox_backend=BACKEND),
    )
    assert tooling.mode == "dispatch" and CLI_TOOL_SEARCH not in tooling.tools
    llm_env.add_turns(
        tool_turn("mcp__llmos__search_tools", {"query": "csv to json"}),
        tool_turn("mcp__llmos__call_tool", {"name": "csv_to_json", "input": {"path": "data.csv"}}),
        tool_turn("mcp__llmos__call_tool", {"name": "no_such_tool", "input": {}}),
        tool_turn("mcp__llmos__call_tool", {"name": "csv_to_json", "input": {"file": "x"}}),
        text_turn("Converted."),
    )
    run_session(tooling, hooks, cwd, tmp_path / "cfg", model=model)
    first = llm_env.main_requests[0]
    own = sorted(t for t in first.tools if t.startswith(MCP_PREFIX))
    twins = [
        f"{MCP_PREFIX}{n}" for n in ("Bash", "Edit", "Glob", "Grep", "MultiEdit", "Read", "Write")
    ]
    assert (
        own == sorted(twins + ["mcp__llmos__call_tool", "mcp__llmos__search_tools"])
        and len(first.tools) < 15
    )
    assert "input_schema" in json.dumps(
        llm_env.main_requests[1].messages[-1]
    )  # the schema came with the hit
    assert json.loads((cwd / "data.json").read_text()) == [{"a": "1", "b": "2"}]
    assert "no tool named 'no_such_tool'" in json.dumps(llm_env.main_requests[3].messages[-1])
    assert "'path' is a required property" in json.dumps(llm_env.main_requests[4].messages[-1])


@pytest.mark.llm
def test_a_crystallized_tool_runs_from_the_session(llm_env: ScriptedServer, tmp_path: Path) -> None:
    ws, tool = crystallized_workspace(tmp_path)
    cwd = tmp_path / "work"
    cwd.mkdir()
    recorded: list[tuple[str, dict]] = []
    hooks = policy_hooks(tmp_path, cwd, recorded)
    registry = ToolRegistry.for_workspace(ws, ["users/local", "teams/default", "system"])
    events: list[Any] = []
    tooling = session_tooling(
        registry,
        CORE,
        on_event=events.append,
        executor_factory=lambda: ToolExecutor(cwd, hooks, sandbox_backend=BACKEND),
    )
    assert (
        tooling.mode == "direct" and tool.name in tooling.offered
    )  # 2 extra tools: offered up front
    llm_env.add_turns(
        tool_turn(MCP_PREFIX + tool.name, {"file": "greeting.txt"}), text_turn("Done.")
    )
    run_session(tooling, hooks, cwd, tmp_path / "cfg")
    assert MCP_PREFIX + tool.name in llm_env.main_requests[0].tools
    assert (cwd / "greeting.txt").read_text() == "hello\n"
    assert recorded == [("Write", {"file_path": str(cwd / "greeting.txt"), "content": "hello\n"})]
    assert [type(e).__name__ for e in events] == ["ToolCallStarted", "ToolCallFinished"]
    assert "(ok)" in json.dumps(llm_env.main_requests[1].messages[-1])
