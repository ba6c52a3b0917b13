"""`llmos demo`: a guided, clearly labelled run of the learn → follow → crystallize cycle.

No API key is needed: the demo starts the scripted model server (a real HTTP server on
127.0.0.1 that answers from a recorded script) and runs the real pipeline — the real SDK and
bundled Claude Code CLI, our policy, executors, sandbox, trace store and crystallizer — in a
temporary workspace. The model's answers are recorded, not live, and the demo says so.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .runs import REPLAY_MODES, Mode, Notice, RunEvent, RunResult

CALCULATOR = '''"""A small calculator: python3 calc.py "2 + 3 * 4"."""
import ast
import operator
import sys

OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def evaluate(node):
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in OPS:
        return OPS[type(node.op)](evaluate(node.left), evaluate(node.right))
    raise ValueError("unsupported expression")


if __name__ == "__main__":
    expression = sys.argv[1] if len(sys.argv) > 1 else "2 + 3 * 4"
    print(evaluate(ast.parse(expression, mode="eval").body))
'''

STEPS = [
    (
        "Create a Python calculator",
        "calc-1",
        "The first time, nobody knows how: a full LLM session (LEARNER) does it and the kernel records a trace.",
    ),
    (
        "Build a calculator in Python",
        "calc-2",
        "A paraphrase in a new folder: the matcher finds the trace, every gate passes, and the calls are replayed (FOLLOWER) with no LLM call.",
    ),
    (
        "Create a Python calculator",
        "calc-3",
        "Once a trace is used often enough (2 uses in this demo, 5 by default) it is crystallized into a verified Python tool; from now on that tool runs (CRYSTALLIZED).",
    ),
    (
        "Create a Python calculator",
        "calc-4",
        "The crystallized tool again: still no LLM call, still checked by the policy.",
    ),
    (
        "Delete the Python calculator",
        "calc-5",
        "A near miss: similar words, opposite action. The gates refuse the replay, so it goes to the LLM (here: a scripted refusal).",
    ),
]


@dataclass
class DemoStep:
    goal: str
    result: RunResult
    requests: int


def _script(work: Path):
    from .devtools.scripted_server import text_turn, tool_turn

    first = work / "calc-1"
    return [
        tool_turn(
            "Write",
            {"file_path": str(first / "calc.py"), "content": CALCULATOR},
            text="I'll write the calculator.",
        ),
        tool_turn("Bash", {"command": "python3 calc.py '2 + 3 * 4'"}),
        text_turn("Created calc.py, a small calculator; `python3 calc.py '2 + 3 * 4'` prints 14."),
        text_turn(
            "I won't delete anything without confirmation: there is no calculator in this folder."
        ),
    ]


def run_demo(echo: Callable[[str], None], *, keep: Path | None = None) -> int:
    from .devtools.scripted_server import ScriptedServer
    from .kernel import LLMOS, RunOptions

    root = Path(tempfile.mkdtemp(prefix="llmos-demo-"))
    work = root / "work"
    saved_env = {
        k: os.environ.get(k)
        for k in (
            "ANTHROPIC_BASE_URL",
            "ANTHROPIC_API_KEY",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC",
        )
    }
    started = time.monotonic()
    echo("llmos demo — learn once, execute free")
    echo(
        "NOTE: the model's answers in this demo are RECORDED, not live. A scripted model server on "
        "127.0.0.1 plays them back; everything else (the Claude Code CLI, policy, sandbox, replay, "
        "crystallizer) is the real pipeline, running in a temporary workspace.\n"
    )
    try:
        with ScriptedServer(_script(work)) as server:
            os.environ.update(server.env())
            kernel = LLMOS.boot(
                root / "workspace",
                overrides={"learning": {"crystallization_min_uses": 2}, "budget_usd": 5.0},
            )
            steps: list[DemoStep] = []
            for number, (goal, folder, story) in enumerate(STEPS, start=1):
                cwd = work / folder
                cwd.mkdir(parents=True, exist_ok=True)
                echo(f"[{number}/{len(STEPS)}] {goal!r}  (in {cwd.relative_to(root)})")
                echo(f"      {story}")
                before = server.main_request_count
                notes: list[str] = []

                def collect(e: RunEvent, notes: list[str] = notes) -> None:
                    if isinstance(e, Notice):
                        notes.append(e.text)

                result = kernel.execute(goal, options=RunOptions(cwd=cwd), on_event=collect)
                requests = server.main_request_count - before
                steps.append(DemoStep(goal, result, requests))
                status = "ok" if result.success else "did not run"
                echo(
                    f"      -> {result.mode}: {status}; {requests} model request(s), "
                    f"{result.input_tokens + result.output_tokens} tokens, ${result.cost_usd:.4f}, {result.duration_ms} ms"
                )
                for note in notes:
                    if "crystallized" in note:
                        echo(f"      -> {note}")
                made = sorted(p.name for p in cwd.iterdir())
                if made:
                    echo(f"      -> files here: {', '.join(made)}")
                echo("")
            check = work / "calc-4" / "calc.py"
            if check.exists():
                # The model wrote this file: it runs like every other command, in the OS sandbox.
                import shlex
                import sys

                from .execution.sandbox.core import run_sandboxed

                ran = run_sandboxed(
                    f"{shlex.quote(sys.executable)} calc.py '6 * 7'",
                    check.parent,
                    timeout_s=30,
                    backend=kernel.config.execution.sandbox,
                )
                out = ran.stdout.strip()
                echo(
                    f"The calculator the crystallized tool wrote in calc-4 works: calc.py '6 * 7' -> {out}\n"
                )
        learner = next(
            (s for s in steps if s.result.mode == Mode.LEARNER and s.result.input_tokens), None
        )
        used = sum(s.result.input_tokens + s.result.output_tokens for s in steps)
        echo("Summary")
        for s in steps:
            echo(
                f"  {s.result.mode:<13} {s.requests} request(s)  ${s.result.cost_usd:.4f}  {s.goal}"
            )
        if learner is not None:
            per_run = learner.result.input_tokens + learner.result.output_tokens
            repeat_steps = [s for s in steps if s.result.mode in REPLAY_MODES]
            echo(
                f"  Tokens used: {used}. Running the {len(repeat_steps)} repeat(s) as LEARNER would have cost about "
                f"{per_run * len(repeat_steps)} more tokens and ${learner.result.cost_usd * len(repeat_steps):.4f}; "
                f"they cost 0."
            )
        echo(
            f"  Spent ${kernel.economy.spent():.4f} of the demo budget (computed by the CLI from the recorded usage)."
        )
        echo(f"  Finished in {time.monotonic() - started:.1f} s.")
        if keep is not None:
            shutil.copytree(root, keep, dirs_exist_ok=True)
            echo(
                f"  The demo workspace was copied to {keep} (try: llmos traces list --workspace {keep / 'workspace'})."
            )
        ok = all(s.result.success for s in steps[:4]) and all(s.requests == 0 for s in steps[1:4])
        if not ok:
            echo("The demo did not go as recorded: see the steps above.")
        return 0 if ok else 1
    finally:
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(root, ignore_errors=True)
