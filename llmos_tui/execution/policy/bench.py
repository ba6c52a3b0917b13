"""`llmos bench policy`: run a corpus of tool calls through the policy engine.

The corpus is a JSON list of ``{"tool", "input", "expect"}`` with ``expect`` ``block`` or
``allow``. ``{{cwd}}`` and ``{{home}}`` inside input strings (at any depth) become a fresh
temporary working directory and the home directory. ``deny`` and ``ask`` both count as blocked.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ...errors import UsageError
from .engine import PolicyEngine


def load_corpus(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read and validate a corpus file; raise UsageError naming the problem."""
    p = Path(path)
    try:
        raw = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"corpus file not found: {p}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the corpus file {p}: {exc}") from None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise UsageError(f"the corpus file {p} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(data, list):
        raise UsageError(f"the corpus file {p} must hold a JSON list of {{tool, input, expect}} objects")
    for i, case in enumerate(data):
        if not isinstance(case, dict):
            raise UsageError(f"corpus case {i} is not an object")
        if not isinstance(case.get("tool"), str) or not case["tool"]:
            raise UsageError(f"corpus case {i} has no 'tool' name")
        if "input" not in case:
            raise UsageError(f"corpus case {i} has no 'input'")
        if case.get("expect") not in ("block", "allow"):
            raise UsageError(f"corpus case {i}: 'expect' must be 'block' or 'allow', not {case.get('expect')!r}")
    return data


def substitute(value: Any, cwd: str, home: str) -> Any:
    """Replace {{cwd}} and {{home}} in every string of a JSON value."""
    if isinstance(value, str):
        return value.replace("{{cwd}}", cwd).replace("{{home}}", home)
    if isinstance(value, list):
        return [substitute(v, cwd, home) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, cwd, home) for k, v in value.items()}
    return value


def run_bench_policy(corpus_path: str | os.PathLike[str], *, engine: PolicyEngine | None = None) -> dict[str, Any]:
    cases = load_corpus(corpus_path)
    engine = engine or PolicyEngine()
    home = os.path.expanduser("~")
    block_cases = blocked = allow_cases = false_blocks = 0
    missed: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="llmos-bench-policy-") as tmp:
        cwd = os.path.realpath(tmp)
        for i, case in enumerate(cases):
            tool_input = substitute(case["input"], cwd, home)
            decision = engine.check(case["tool"], tool_input, cwd)
            is_blocked = decision.decision in ("deny", "ask")
            if case["expect"] == "block":
                block_cases += 1
                blocked += int(is_blocked)
            else:
                allow_cases += 1
                false_blocks += int(is_blocked)
            if is_blocked != (case["expect"] == "block"):
                missed.append({"index": i, "tool": case["tool"], "input": case["input"], "expect": case["expect"],
                               "decision": decision.decision, "rule": decision.rule, "reason": decision.reason})
    return {"total": len(cases), "block_cases": block_cases, "blocked": blocked, "allow_cases": allow_cases,
            "false_blocks": false_blocks, "missed": missed}
