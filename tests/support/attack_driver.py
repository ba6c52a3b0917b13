"""Run tool calls through llmos's own ToolExecutor with a permissive (allow-everything) policy.

Usage: ``python -m tests.support.attack_driver SPEC.json`` where SPEC is
``{"workspace": path, "cwd": path, "calls": [[name, input], ...]}``. The kernel is booted on the
workspace (its ``config.yaml`` chooses ``execution.sandbox`` and the limits) and builds the
executor exactly as it does for FOLLOWER, CRYSTALLIZED and the LLM's tool twins
(``LLMOS.executor``), except that the pre-hook is one that allows every call (in place of the
policy engine),
so only the OS sandbox (and the executor's own confinement) stands between the calls and the
machine. Prints one JSON line per call: ``{"name", "status", "is_error", "summary", "response"}``
(``response``: what the model would be shown, as JSON text).

It is a separate process so that it runs with the environment, user and credentials of a real
llmos process (canaries in its environment, uid 65534 when started through
``tests.support.unprivileged``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: python -m tests.support.attack_driver SPEC.json\n")
        return 2
    spec = json.loads(Path(argv[1]).read_text())
    from llmos_tui.execution.replay.hooks import HookRegistry, HookVerdict
    from llmos_tui.kernel import LLMOS, RunOptions

    kernel = LLMOS.boot(spec["workspace"])
    cwd = Path(spec["cwd"])
    hooks = HookRegistry()
    hooks.add_pre(
        lambda _name, _input, _tid: HookVerdict(
            "allow", "attack test: the policy allows everything", "test.allow_all"
        )
    )
    executor = kernel.executor(
        cwd, RunOptions(cwd=cwd, assume_yes=True), lambda _event: None, None, hooks=hooks
    )
    for n, (name, tool_input) in enumerate(spec["calls"]):
        outcome = executor.execute(name, tool_input, f"toolu_attack_{n}")
        print(
            json.dumps(
                {
                    "name": name,
                    "status": outcome.status,
                    "is_error": outcome.is_error,
                    "summary": outcome.summary[:500],
                    "response": json.dumps(outcome.response, default=str)[:100_000],
                }
            ),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
