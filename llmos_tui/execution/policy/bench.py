"""`llmos bench policy`: run a corpus of tool calls through the policy engine.

The corpus is a JSON list of ``{"tool", "input", "expect"}`` with ``expect`` ``block`` or
``allow``; ``deny`` and ``ask`` both count as blocked. Optional per case:

* ``"network": true`` — the engine allows network access (``execution.allow_network``);
  by default it does not.
* ``"files": {"cwd/a.txt": "text", "outside/app/.env": "K=1", "cwd/link": {"link": "{{home}}/.ssh"}}``
  — files (or symlinks) created before the case, in a fresh scratch folder whose ``cwd/`` is
  the working directory and ``outside/`` a folder beside it.

``{{cwd}}``, ``{{outside}}`` and ``{{home}}`` inside input strings (at any depth) become the
working directory, that folder beside it and the home directory.
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
        raise UsageError(
            f"the corpus file {p} is not valid JSON (line {exc.lineno}: {exc.msg})"
        ) from None
    if not isinstance(data, list):
        raise UsageError(
            f"the corpus file {p} must hold a JSON list of {{tool, input, expect}} objects"
        )
    for i, case in enumerate(data):
        if not isinstance(case, dict):
            raise UsageError(f"corpus case {i} is not an object")
        if not isinstance(case.get("tool"), str) or not case["tool"]:
            raise UsageError(f"corpus case {i} has no 'tool' name")
        if "input" not in case:
            raise UsageError(f"corpus case {i} has no 'input'")
        if case.get("expect") not in ("block", "allow"):
            raise UsageError(
                f"corpus case {i}: 'expect' must be 'block' or 'allow', not {case.get('expect')!r}"
            )
        if "network" in case and not isinstance(case["network"], bool):
            raise UsageError(f"corpus case {i}: 'network' must be true or false")
        files = case.get("files", {})
        if not isinstance(files, dict):
            raise UsageError(f"corpus case {i}: 'files' must be an object of path: content")
        for name, content in files.items():
            parts = name.split("/")
            if parts[0] not in ("cwd", "outside") or ".." in parts or len(parts) < 2:
                raise UsageError(f"corpus case {i}: file {name!r} must be below cwd/ or outside/")
            if not isinstance(content, str) and not (
                isinstance(content, dict) and isinstance(content.get("link"), str)
            ):
                raise UsageError(
                    f'corpus case {i}: file {name!r} must be text or {{"link": target}}'
                )
    return data


def substitute(value: Any, cwd: str, home: str, outside: str | None = None) -> Any:
    """Replace {{cwd}}, {{outside}} and {{home}} in every string of a JSON value."""
    if isinstance(value, str):
        out = value.replace("{{cwd}}", cwd).replace("{{home}}", home)
        return out.replace("{{outside}}", outside) if outside is not None else out
    if isinstance(value, list):
        return [substitute(v, cwd, home, outside) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, cwd, home, outside) for k, v in value.items()}
    return value


def _scratch(parent: str, files: dict[str, Any], home: str) -> tuple[str, str]:
    """A scratch folder with cwd/ and outside/ and the case's files; returns (cwd, outside)."""
    cwd = os.path.join(parent, "cwd")
    outside = os.path.join(parent, "outside")
    os.makedirs(cwd, exist_ok=True)
    os.makedirs(outside, exist_ok=True)
    for name, content in files.items():
        path = os.path.join(parent, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if isinstance(content, dict):
            os.symlink(substitute(content["link"], cwd, home, outside), path)
        else:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(substitute(content, cwd, home, outside))
    return cwd, outside


def run_bench_policy(
    corpus_path: str | os.PathLike[str], *, engine: PolicyEngine | None = None
) -> dict[str, Any]:
    cases = load_corpus(corpus_path)
    closed = engine or PolicyEngine()
    opened = PolicyEngine(
        workspace_root=closed.workspace_root,
        allow_network=True,
        protected_paths=closed.protected_paths,
    )
    home = os.path.expanduser("~")
    block_cases = blocked = allow_cases = false_blocks = 0
    missed: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="llmos-bench-policy-") as tmp:
        shared = _scratch(os.path.join(os.path.realpath(tmp), "shared"), {}, home)
        for i, case in enumerate(cases):
            if case.get("files"):
                parent = tempfile.mkdtemp(prefix=f"case{i}-", dir=os.path.realpath(tmp))
                cwd, outside = _scratch(parent, case["files"], home)
            else:
                cwd, outside = shared
            tool_input = substitute(case["input"], cwd, home, outside)
            decision = (opened if case.get("network") else closed).check(
                case["tool"], tool_input, cwd
            )
            is_blocked = decision.decision in ("deny", "ask")
            if case["expect"] == "block":
                block_cases += 1
                blocked += int(is_blocked)
            else:
                allow_cases += 1
                false_blocks += int(is_blocked)
            if is_blocked != (case["expect"] == "block"):
                missed.append(
                    {
                        "index": i,
                        "tool": case["tool"],
                        "input": case["input"],
                        "expect": case["expect"],
                        "decision": decision.decision,
                        "rule": decision.rule,
                        "reason": decision.reason,
                    }
                )
    return {
        "total": len(cases),
        "block_cases": block_cases,
        "blocked": blocked,
        "allow_cases": allow_cases,
        "false_blocks": false_blocks,
        "missed": missed,
    }
