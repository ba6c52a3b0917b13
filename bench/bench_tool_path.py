"""The LEARNER tool path: llmos's MCP twins versus Claude Code's own built-ins, per tool call.

    .venv/bin/python bench/bench_tool_path.py [--rounds 5] [--calls 10] [--json]

Since the sandbox became the boundary, the Claude Code CLI runs no file or shell tool itself: the
model calls ``mcp__llmos__Write`` / ``mcp__llmos__Bash``, which the SDK's in-process MCP server hands
to our ``ToolExecutor`` (policy hook, confinement, OS sandbox for every command). This measures what
that costs per call against the CLI's built-ins, on the real bundled CLI and a scripted model server
on loopback that answers instantly (so model time is ~0 and the difference is the tool path):

* ``twins``    - ``run_session`` as the kernel runs it: the agent's Write/Bash as llmos twins, the
                 policy engine's hook, Bash under the OS sandbox (``execution.sandbox: auto``);
* ``builtins`` - the same SDK and CLI with the built-in Write/Bash and an allow-all permission
                 callback (no policy, no sandbox): the reference.

Each session runs ``--calls`` tool calls, one per model turn, then a text turn; a session with no
tool call is run too, and the per-call cost is ``(t(calls) - t(0)) / calls`` (medians over rounds,
the variants interleaved so that noise hits them alike). Workloads: ``write`` (a small file) and
``bash`` (``echo hi``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from llmos_tui.devtools.scripted_server import ScriptedServer, text_turn, tool_turn  # noqa: E402
from llmos_tui.execution.llm.session import SessionRequest, run_session  # noqa: E402
from llmos_tui.execution.llm.tool_search import ToolRegistry, session_tooling  # noqa: E402
from llmos_tui.execution.policy.engine import PolicyEngine  # noqa: E402
from llmos_tui.execution.replay.executors import ToolExecutor  # noqa: E402
from llmos_tui.execution.replay.hooks import HookRegistry, HookVerdict  # noqa: E402

MODEL = "claude-sonnet-4-5"


def _call(kind: str, i: int) -> tuple[str, dict]:
    if kind == "write":
        return "Write", {"file_path": f"f{i}.txt", "content": f"line {i}\n"}
    return "Bash", {"command": "echo hi"}


def _hooks(cwd: Path) -> HookRegistry:
    engine = PolicyEngine()
    hooks = HookRegistry()

    def pre(name: str, tool_input: dict, _tid: str) -> HookVerdict:
        d = engine.check(name, tool_input, cwd=str(cwd))
        return HookVerdict(d.decision, d.reason, d.rule)

    hooks.add_pre(pre, path_scoped=True)
    return hooks


def run_twins(server: ScriptedServer, kind: str, calls: int, root: Path) -> float:
    cwd = Path(tempfile.mkdtemp(dir=root))
    hooks = _hooks(cwd)
    tooling = session_tooling(
        ToolRegistry(),
        [kind == "write" and "Write" or "Bash"],
        model=MODEL,
        executor_factory=lambda: ToolExecutor(cwd, hooks, sandbox_backend="auto"),
    )
    server.add_turns(*[tool_turn(*_call(kind, i)) for i in range(calls)], text_turn("done"))
    req = SessionRequest(
        prompt="go",
        cwd=cwd,
        model=MODEL,
        claude_config_dir=root / "cfg",
        tools=tooling.tools,
        mcp_servers=tooling.mcp_servers,
        disallowed_tools=tooling.disallowed_tools,
        system_append=tooling.system_text,
    )
    start = time.perf_counter()
    outcome = asyncio.run(run_session(req, hooks))
    took = time.perf_counter() - start
    if not outcome.success:
        raise SystemExit(f"twins session failed: {outcome.error}")
    return took


def run_builtins(server: ScriptedServer, kind: str, calls: int, root: Path) -> float:
    from claude_agent_sdk import ClaudeAgentOptions, ClaudeSDKClient, ResultMessage
    from claude_agent_sdk.types import PermissionResultAllow

    cwd = Path(tempfile.mkdtemp(dir=root))

    async def allow(_name: str, _input: dict, _ctx: object) -> PermissionResultAllow:
        return PermissionResultAllow()

    options = ClaudeAgentOptions(
        cwd=str(cwd),
        model=MODEL,
        tools=["Write" if kind == "write" else "Bash"],
        setting_sources=[],
        permission_mode="default",
        can_use_tool=allow,
        env={"CLAUDE_CONFIG_DIR": str(root / "cfg")},
        extra_args={"no-session-persistence": None},
    )
    server.add_turns(*[tool_turn(*_call(kind, i)) for i in range(calls)], text_turn("done"))

    async def drive() -> bool:
        ok = False
        async with ClaudeSDKClient(options=options) as client:
            await client.query("go")
            async for message in client.receive_response():
                if isinstance(message, ResultMessage):
                    ok = not message.is_error
        return ok

    start = time.perf_counter()
    ok = asyncio.run(drive())
    took = time.perf_counter() - start
    if not ok:
        raise SystemExit("built-in session failed")
    return took


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--calls", type=int, default=10)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    server = ScriptedServer()
    server.start()
    saved = {k: os.environ.get(k) for k in ("ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY", "HOME")}
    root = Path(tempfile.mkdtemp(prefix="llmos-bench-toolpath-"))
    os.environ.update(server.env())
    os.environ["HOME"] = str(root)
    rows = []
    try:
        for kind in ("write", "bash"):
            times: dict[tuple[str, int], list[float]] = {}
            for _ in range(args.rounds):
                for variant, fn in (("twins", run_twins), ("builtins", run_builtins)):
                    for n in (0, args.calls):
                        times.setdefault((variant, n), []).append(fn(server, kind, n, root))
            per = {}
            for variant in ("twins", "builtins"):
                base = statistics.median(times[(variant, 0)])
                full = statistics.median(times[(variant, args.calls)])
                per[variant] = (full - base) / args.calls * 1000
            rows.append(
                {
                    "workload": kind,
                    "calls": args.calls,
                    "rounds": args.rounds,
                    "twins_ms_per_call": round(per["twins"], 1),
                    "builtins_ms_per_call": round(per["builtins"], 1),
                    "difference_ms": round(per["twins"] - per["builtins"], 1),
                }
            )
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(f"{'workload':<8} {'twins ms/call':>14} {'built-ins ms/call':>18} {'difference':>11}")
        for r in rows:
            print(
                f"{r['workload']:<8} {r['twins_ms_per_call']:>14.1f} {r['builtins_ms_per_call']:>18.1f} "
                f"{r['difference_ms']:>+10.1f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
