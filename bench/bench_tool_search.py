"""Tool Search benchmark: tokens of tool definitions sent with and without it (a measurement).

    python bench/bench_tool_search.py [--sizes 20,60,120] [--json]

For each registry size N (11 Claude Code built-ins + N-11 tools shaped like crystallized tools:
a goal, a trace id, one or two string parameters, two input examples), one real session of the
bundled Claude Code CLI runs against the scripted model server twice:

* without Tool Search (``execution.enable_tool_search: false``): every tool goes out up front;
* with Tool Search: the agent's core tools + ``ToolSearch`` + ``search_tools``, the rest deferred.

Reported per run, for the first request: the number of tool definitions, their tokens (the
scripted server's deterministic estimate, ceil(len(canonical JSON of ``tools``) / 4)), and the
whole request's input tokens. The "with" run also makes one ``search_tools`` call and reports
what the request after it costs once the found tool is loaded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from llmos_tui.devtools.scripted_server import ScriptedServer, canonical_json, text_turn, tool_turn  # noqa: E402
from llmos_tui.execution.replay.executors import ToolExecutor  # noqa: E402
from llmos_tui.execution.replay.hooks import HookRegistry, HookVerdict, ToolOutcome  # noqa: E402
from llmos_tui.execution.llm.tool_search import ToolRegistry, session_tooling  # noqa: E402

CORE = ["Read", "Write", "Edit", "MultiEdit", "Bash", "Glob", "Grep"]
VERBS = [
    "convert",
    "summarize",
    "archive",
    "resize",
    "validate",
    "deploy",
    "backup",
    "lint",
    "render",
    "export",
    "import",
    "merge",
    "split",
    "rotate",
    "compress",
    "scan",
    "index",
    "publish",
    "migrate",
    "audit",
]
NOUNS = [
    "invoices",
    "logs",
    "photos",
    "reports",
    "changelog",
    "configs",
    "datasets",
    "notebooks",
    "videos",
    "certificates",
    "backups",
    "tickets",
    "schemas",
    "metrics",
    "playlists",
]
EXTS = ["csv", "json", "yaml", "md", "png", "log", "sql", "txt"]


def build_registry(size: int) -> ToolRegistry:
    registry = ToolRegistry()
    registry.add_builtins()
    n = 0
    while len(registry) < size:
        verb, noun, ext = (
            VERBS[n % len(VERBS)],
            NOUNS[(n // len(VERBS)) % len(NOUNS)],
            EXTS[n % len(EXTS)],
        )
        name = f"{verb}_{noun}_{n:04x}a1"
        goal = f"{verb.capitalize()} the {noun} in {noun}.{ext} and save the result"
        description = (
            f"Crystallized tool for: {goal}. Replays the verified steps of trace t_{n:012x} in the "
            f"working directory, without an LLM. Parameters: file (default '{noun}.{ext}')."
        )
        schema = {
            "type": "object",
            "properties": {
                "file": {"type": "string", "description": f"default: '{noun}.{ext}'"},
                "out": {"type": "string", "description": "default: 'out'"},
            },
            "additionalProperties": False,
        }
        registry.register_plugin(
            name, description, schema, lambda _i, _e, name=name: f"{name}: done", keywords=goal
        )
        registry.set_examples(
            name, [{"file": f"{noun}.{ext}"}, {"file": f"2025/{noun}.{ext}", "out": "build"}]
        )
        n += 1
    return registry


def tool_tokens(body: dict[str, Any]) -> int:
    return math.ceil(len(canonical_json(body.get("tools") or [])) / 4)


async def _session(tooling: Any, cwd: Path, config_dir: Path) -> None:
    from claude_agent_sdk import ClaudeAgentOptions, ClaudeSDKClient, HookMatcher

    hooks = HookRegistry()
    hooks.add_pre(lambda _n, _i, _t: HookVerdict("allow"))

    async def pre(inp: dict, _tid: Any, _ctx: Any) -> dict:
        return {
            "hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "allow"}
        }

    async def post(inp: dict, tid: Any, _ctx: Any) -> dict:
        hooks.run_post(
            inp.get("tool_name", ""),
            inp.get("tool_input") or {},
            tid or "",
            ToolOutcome(False, "", inp.get("tool_response")),
        )
        if tooling.post_tool_output is not None:
            updated = tooling.post_tool_output(
                inp.get("tool_name", ""), inp.get("tool_input") or {}, inp.get("tool_response")
            )
            if updated is not None:
                return {
                    "hookSpecificOutput": {
                        "hookEventName": "PostToolUse",
                        "updatedMCPToolOutput": updated,
                    }
                }
        return {}

    options = ClaudeAgentOptions(
        cwd=str(cwd),
        model="claude-sonnet-4-5",
        tools=tooling.tools,
        mcp_servers=tooling.mcp_servers,
        setting_sources=[],
        permission_mode="default",
        max_turns=5,
        env={"CLAUDE_CONFIG_DIR": str(config_dir)},
        system_prompt={"type": "preset", "preset": "claude_code", "append": tooling.system_text}
        if tooling.system_text
        else {"type": "preset", "preset": "claude_code"},
        hooks={
            "PreToolUse": [HookMatcher(hooks=[pre])],
            "PostToolUse": [HookMatcher(hooks=[post])],
        },
    )
    async with ClaudeSDKClient(options=options) as client:
        await client.query("Export the invoices")
        async for _message in client.receive_response():
            pass


def measure(size: int, work: Path) -> dict[str, Any]:
    registry = build_registry(size)
    cwd = work / f"cwd{size}"
    cwd.mkdir(exist_ok=True)
    hooks = HookRegistry()
    hooks.add_pre(lambda _n, _i, _t: HookVerdict("allow"))
    factory = lambda: ToolExecutor(cwd, hooks, sandbox_backend="none")  # noqa: E731
    row: dict[str, Any] = {"registered": len(registry)}
    for label, enabled in (("without", False), ("with", True)):
        tooling = session_tooling(
            registry, CORE, executor_factory=factory, enabled=enabled, model="claude-sonnet-4-5"
        )
        turns = (
            [text_turn("done")]
            if not enabled
            else [
                tool_turn("mcp__llmos__search_tools", {"query": "export invoices"}),
                text_turn("done"),
            ]
        )
        with ScriptedServer(turns) as server:
            saved = {k: os.environ.get(k) for k in server.env()}
            os.environ.update(server.env())
            try:
                asyncio.run(
                    asyncio.wait_for(_session(tooling, cwd, work / f"cfg-{size}-{label}"), 120)
                )
            finally:
                for k, v in saved.items():
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v
            first = server.main_requests[0]
            row[label] = {
                "mode": tooling.mode,
                "definitions": len(first.tools),
                "tool_tokens": tool_tokens(first.raw),
                "input_tokens": first.input_tokens,
            }
            if enabled and len(server.main_requests) > 1:
                after = server.main_requests[1]
                row[label]["after_search"] = {
                    "definitions": len(after.tools),
                    "tool_tokens": tool_tokens(after.raw),
                    "input_tokens": after.input_tokens,
                    "loaded": tooling.loaded,
                }
    w, s = row["without"], row["with"]
    row["tool_tokens_saved"] = w["tool_tokens"] - s["tool_tokens"]
    row["tool_tokens_saved_pct"] = round(100 * (1 - s["tool_tokens"] / w["tool_tokens"]), 1)
    row["input_tokens_saved_pct"] = round(100 * (1 - s["input_tokens"] / w["input_tokens"]), 1)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", default="20,60,120", help="registry sizes (comma-separated, each >= 12)"
    )
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    try:
        sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    except ValueError:
        parser.error("--sizes must be comma-separated integers")
    if not sizes or min(sizes) < 12:
        parser.error("every size must be at least 12 (11 built-ins + 1)")
    with tempfile.TemporaryDirectory(prefix="llmos-bench-ts-") as tmp:
        rows = [measure(size, Path(tmp)) for size in sizes]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(
        f"{'tools':>5} | {'without: defs':>13} {'tool tok':>8} {'input tok':>9} | {'with: mode':>10} {'defs':>4} "
        f"{'tool tok':>8} {'input tok':>9} | {'tool tok saved':>15} | after search: defs, input tok"
    )
    for r in rows:
        w, s = r["without"], r["with"]
        after = s.get("after_search", {})
        print(
            f"{r['registered']:>5} | {w['definitions']:>13} {w['tool_tokens']:>8} {w['input_tokens']:>9} | "
            f"{s['mode']:>10} {s['definitions']:>4} {s['tool_tokens']:>8} {s['input_tokens']:>9} | "
            f"{r['tool_tokens_saved']:>6} ({r['tool_tokens_saved_pct']:>5.1f}%) | "
            f"{after.get('definitions', '-')}, {after.get('input_tokens', '-')}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
